"""The one ranking, number format and metric order that the PR comment, the site, the open data
files and `easel leaderboard show` all use.

A track's rows are ranked by its ranking metric on the ranking split:

- Only rows of the track's current scoring (:func:`~.identity.current_scoring`)
  with plausible values rank; others are listed after them as "needs
  re-scoring" or "implausible value".
- On the private split, only each team's final entries rank
  (:func:`~.rules.final_selection`); the others are listed as not selected.
- Baselines are placed by score but get no rank number; oracle rows (the
  ideal output) likewise, and they are never leader, tied or a best baseline.
  A participant's rank counts participants only; equal values share a rank;
  ties with the leader come from :func:`evaluator.scoring.mark_ties`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Mapping

from ..config import Competition
from ..result import Metric, Result, as_result
from .rules import final_selection, is_plausible
from .identity import ScoringIdentity, current_scoring
from .schema import Board, Entry, utc

NO_VALUE = "–"


@dataclass
class RankedEntry:
    """One row of a track's table.

    ``rank``: 1-based among participants (equal values share a rank); None
    for baselines, oracle rows and rows that do not rank. ``position``: 0-based
    row order. ``metrics``/``extra``: the scores of the split that ranks (``split``).
    ``tied``: its interval overlaps the leader's (leader excluded).
    ``team_best``: best ranked row of its team; ``team_entries``: how many rows
    the team has in the track. ``needs_rescoring``: scored by another
    evaluator, backbone or dataset than the track's current entries.
    ``selected``: counts for the private ranking (always True on the public
    split). ``plausible``: every value lies in its metric's range.
    """

    entry: Entry
    position: int
    rank: int | None
    split: str
    metrics: Mapping[str, Metric]
    extra: Mapping[str, Any]
    value: float | None
    ci95: list | None
    leader: bool = False
    tied: bool = False
    team_best: bool = False
    team_entries: int = 1
    needs_rescoring: bool = False
    selected: bool = True
    plausible: bool = True

    @property
    def baseline(self) -> bool:
        return self.entry.baseline

    @property
    def oracle(self) -> bool:
        return self.entry.oracle

    @property
    def scored(self) -> bool:
        return self.value is not None

    @property
    def eligible(self) -> bool:
        """Placed in the ranked part of the table (by score, with or without a rank number)."""
        return self.scored and self.plausible and not self.needs_rescoring and self.selected

    @property
    def scored_by(self) -> dict:
        """{evaluator, backbone id} that produced the shown scores (evaluator None when not recorded)."""
        scores = self.entry.scores(self.split)
        return {"evaluator": scores and scores.evaluator, "backbone": self.entry.backbone.id}


def _better(a: float, b: float, order: str) -> bool:
    return a < b if order == "asc" else a > b


def rank_rows(entries: list[Entry], metric: str, order: str, split: str = "public",
              final_limit: int | None = None) -> list[RankedEntry]:
    """Rows of one track's ``entries`` in display order (see the module rules).

    ``final_limit``: on the private split, entries per team that count
    (limits.final_entries); None counts every entry.
    """
    from ..scoring import mark_ties

    split_scores = [e.scores(split) for e in entries]
    plausible = [is_plausible(s.metrics if s is not None else {}) for s in split_scores]
    current = current_scoring([e for e, ok in zip(entries, plausible) if ok], split)
    selected = final_selection(entries, final_limit) if split == "private" and final_limit else None
    rows = []
    for entry, scores, ok in zip(entries, split_scores, plausible):
        metrics = scores.metrics if scores is not None else {}
        m = metrics.get(metric)
        rows.append(RankedEntry(
            entry=entry, position=0, rank=None, split=split, metrics=metrics,
            extra=scores.extra if scores is not None else {}, value=None if m is None else float(m.value),
            ci95=None if m is None or m.ci95 is None else list(m.ci95),
            needs_rescoring=m is not None and ScoringIdentity.of_entry(entry, split) != current,
            selected=selected is None or not entry.participant or entry.key in selected,
            plausible=ok))
    sign = 1.0 if order == "asc" else -1.0
    rows.sort(key=lambda r: (0 if r.eligible else 1 if r.scored else 2, sign * r.value if r.scored else 0.0,
                             r.entry.added, r.entry.team, r.entry.model))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.entry.team] = counts.get(r.entry.team, 0) + 1
    seen_teams: set[str] = set()
    rank, last_value, participants = 0, None, []
    for position, r in enumerate(rows):
        r.position = position
        r.team_entries = counts[r.entry.team]
        if not r.eligible or r.oracle:
            continue
        if r.entry.team not in seen_teams:
            r.team_best = True
            seen_teams.add(r.entry.team)
        if not r.baseline:
            participants.append(r)
            rank = len(participants) if r.value != last_value else rank
            r.rank, last_value = rank, r.value
    if participants:
        participants[0].leader = True
        flags = mark_ties([{"value": r.value, "ci95": r.ci95} for r in participants], order)
        for r, flag in zip(participants, flags):
            r.tied = bool(flag) and not r.leader
    return rows


def ranking_split(board: Board, competition: Competition, track_id: str, now: dt.datetime | None = None) -> str:
    """'private' once the final phase has ended and private scores were revealed for this track, else 'public'."""
    if not competition.private_revealed(utc(now)):
        return "public"
    revealed = any(e.track == track_id and e.private is not None for e in board.entries)
    return "private" if revealed else "public"


def track_entries(board: Board, track_id: str) -> list[Entry]:
    """The entries of one track, in board order."""
    return board.track(track_id)


def rank_track(board: Board, competition: Competition, track_id: str, now: dt.datetime | None = None,
               entries: list[Entry] | None = None) -> list[RankedEntry]:
    """A track's rows in display order, ranked by its ranking metric and order (see :func:`rank_rows`).

    Public-split scores rank until the final phase ends; after that, once
    ``reveal`` has filled private scores, the private split ranks, each team
    by its final entries. ``entries`` may pass the track's entries pre-filtered (speed).
    """
    track = competition.track(track_id)
    split = ranking_split(board, competition, track_id, now)
    return rank_rows(entries if entries is not None else track_entries(board, track_id), track.ranking.metric,
                     track.ranking.order, split, competition.limits.final_entries)


def standing(result: Result | dict, board: Board | None) -> dict | None:
    """Where an ok result would rank among its track's ranked public entries (its own earlier entry left out).

    Returns {rank, of, leader: value|None, best_baseline: value|None} (rank None
    for a baseline) or None when there is no board or the result is not ok.
    """
    result = as_result(result)
    if result.status != "ok" or board is None:
        return None
    track = result.track
    metric, order = track.metric, track.order
    value = result.metrics[metric].value
    me = (result.submission.team, result.submission.model)
    entries = [e for e in board.entries if e.track == track.id and (e.team, e.model) != me]
    rows = rank_rows(entries, metric, order, "public")
    ranked = [r for r in rows if r.rank is not None]
    baseline = next((r.value for r in rows if r.eligible and r.baseline and not r.oracle), None)
    leader = ranked[0].value if ranked else None
    if result.submission.baseline:
        return {"rank": None, "of": len(ranked), "leader": leader, "best_baseline": baseline}
    rank = 1 + sum(1 for r in ranked if _better(r.value, value, order))
    return {"rank": rank, "of": len(ranked) + 1, "leader": leader, "best_baseline": baseline}


# --- presentation shared by every renderer --------------------------------------------

def format_value(value: float | None, digits: int = 4) -> str:
    """A metric value with ``digits`` significant digits, the same in the PR comment, the site and `show`.

    Plain below 10,000 ('0.1234', '42.5'); grouped digits from 10,000 up
    ('99,999'); scientific below 0.001 and from 1e15 up ('1.000e-04'); '–' for none.
    """
    if value is None:
        return NO_VALUE
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    size = abs(value)
    if value != 0 and (size < 1e-3 or size >= 1e15):
        return f"{value:.{digits - 1}e}"
    text = f"{value:.{digits}g}"
    if "e" in text:  # rounding carried past 10^digits (9999.7 -> '1e+04'): show the integer instead
        return f"{value:,.0f}"
    return text


def format_interval(ci95: list | None) -> str:
    """'[lo, hi]' with :func:`format_value`; '' for none."""
    return "" if not ci95 else f"[{format_value(ci95[0])}, {format_value(ci95[1])}]"


def metric_order(names, ranking: str, declared: tuple[str, ...] = ()) -> list[str]:
    """Metric names in display order: the ranking metric, then the track's declared order, then the rest by name."""
    names = list(names)
    head = [ranking] + [m for m in declared if m != ranking]
    return [m for m in head if m in names] + sorted(m for m in names if m not in head)


def show_table(board: Board, competition: Competition, track_id: str | None = None,
               now: dt.datetime | None = None) -> str:
    """Plain-text tables (one per track) for `easel leaderboard show`."""
    lines = []
    for track in competition.tracks:
        if track_id and track.id != track_id:
            continue
        rows = rank_track(board, competition, track.id, now)
        metric = track.ranking.metric
        arrow = "lower is better" if track.ranking.order == "asc" else "higher is better"
        split = rows[0].split if rows else "public"
        lines.append(f"{track.id}: ranked by {metric} ({arrow}), {split} split, 95% intervals")
        header = f"{'rank':>5}  {'team/model':<40} {metric:>12}  {'95% interval':<26} notes"
        lines += [header, "-" * len(header)]
        for r in rows:
            lines.append(f"{str(r.rank) if r.rank is not None else '-':>5}  "
                         f"{r.entry.team + '/' + r.entry.model:<40} {format_value(r.value):>12}  "
                         f"{format_interval(r.ci95):<26} {', '.join(row_notes(r))}".rstrip())
        if not rows:
            lines.append("  (no entries yet)")
        lines.append("")
    return "\n".join(lines)


def row_notes(r: RankedEntry) -> list[str]:
    """Short plain-text labels of a row, in a fixed order (the text table and the CSV use them)."""
    flags = (("oracle", r.oracle), ("baseline", r.baseline and not r.oracle), ("leader", r.leader),
             ("tied", r.tied), ("team best", r.team_best and r.team_entries > 1),
             ("final", r.entry.final), ("local", r.entry.local),
             ("not selected", not r.selected), ("needs re-scoring", r.needs_rescoring),
             ("implausible value", not r.plausible), ("no score", not r.scored))
    return [name for name, on in flags if on]
