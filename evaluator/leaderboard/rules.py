"""What a result must carry to enter the board, and who counts: the result's identity, its track,
plausible values, the reserved oracle row, participants and the final selection.

Binding a result to its files, data, commit and PR is :mod:`evaluator.binding`; which results
rank together is :mod:`.identity`."""

from __future__ import annotations

import math
from typing import Iterable

from ..config import Competition
from ..errors import EaselError
from ..result import Metric, Result, SubmissionRef
from .schema import ORACLE_MODEL, ORACLE_TEAM, Entry, Meta


def clean_meta(meta: dict | None) -> dict:
    """Participant metadata (from submission.yaml) cut to the stored shape and lengths (:meth:`Meta.clean`)."""
    return Meta.clean(meta).to_json()


def entry_submission(result: Result) -> SubmissionRef:
    """The submission an ok result enters the board as, once it is checked to carry everything an entry
    needs; refused otherwise."""
    if result.status != "ok":
        raise EaselError("E_RESULT_STATUS", f"result status is {result.status!r}, not 'ok'",
                         detail=result.status)
    for key in ("submission", "track", "dataset", "backbone"):
        if getattr(result, key) is None:
            raise EaselError("E_RESULT_SCHEMA", f"result.json: {key}: expected an object for an ok result",
                             detail=key)
    sub = result.submission
    if sub.content_sha256 is None:
        raise EaselError("E_RESULT_SCHEMA", "result.json: submission.content_sha256: expected a sha256",
                         detail="submission.content_sha256")
    if sub.track != result.track.id:
        raise EaselError("E_RESULT_SCHEMA", "result.json: submission.track differs from track.id",
                         detail="track.id")
    return sub


def check_track(result: Result, competition: Competition) -> None:
    track = competition.track(result.track.id)
    if result.dataset.id != track.dataset:
        raise EaselError("E_RESULT_BINDING", f"track {track.id} uses dataset {track.dataset}, the result used "
                         f"{result.dataset.id}", detail="dataset.id")
    if track.ranking.metric not in result.metrics:
        raise EaselError("E_RESULT_SCHEMA", f"result.json: metrics: expected the track's ranking metric "
                         f"{track.ranking.metric}", detail=f"metrics.{track.ranking.metric}")


def check_plausible(metrics: dict) -> None:
    """Refuse (E_RESULT_RANGE) a value or interval bound outside its metric's registered range.

    ``metrics``: {name: Metric} (or the stored form, {name: {value, ci95, ...}}); names the
    registry does not know are not checked.
    """
    from ..metrics import METRICS

    for name, m in metrics.items():
        spec = METRICS.get(name)
        if spec is None:
            continue
        low, high = spec.value_range
        value, ci95 = (m.value, m.ci95) if isinstance(m, Metric) else (m["value"], m["ci95"])
        for label, value in (("value", value), *(("ci95", v) for v in (ci95 or ()))):
            if not (math.isfinite(value) and low <= value <= high):
                raise EaselError("E_RESULT_RANGE", f"result.json: metrics.{name}.{label}: {value!r} is outside "
                                 f"{name}'s plausible range [{low:g}, {high:g}]", detail=f"metrics.{name}")


def is_plausible(metrics: dict) -> bool:
    """True when every registered metric value and interval bound lies in its range (see check_plausible)."""
    try:
        check_plausible(metrics)
    except EaselError:
        return False
    return True


def check_oracle_identity(sub: SubmissionRef) -> bool:
    """True for the oracle row; the team id ``oracle`` is refused for anything else."""
    if sub.team != ORACLE_TEAM:
        return False
    if sub.model != ORACLE_MODEL or not sub.baseline:
        raise EaselError("E_RESULT_BINDING", f"the team id '{ORACLE_TEAM}' is reserved for the "
                         f"{ORACLE_TEAM}/{ORACLE_MODEL} baseline row", detail="submission.team")
    return True


# --- final selection ---------------------------------------------------------------

def participant(entry: Entry) -> bool:
    """Neither a baseline nor the oracle row (:attr:`Entry.participant`)."""
    return entry.participant


def final_selection(entries: Iterable[Entry], limit: int) -> set[tuple[str, str, str]]:
    """Keys of the participant entries that count for the private ranking.

    Per team and track: the entries marked ``final``; a team that marks none
    gets its latest ``limit`` entries (by when they were added). Where a team
    marks more than ``limit`` (see :func:`final_overflow`), its latest marked ones count.
    """
    by_team: dict[tuple[str, str], list[Entry]] = {}
    for entry in entries:
        if entry.participant:
            by_team.setdefault((entry.team, entry.track), []).append(entry)
    chosen = set()
    for group in by_team.values():
        marked = [e for e in group if e.final] or group
        latest = sorted(marked, key=lambda e: (e.added, e.model), reverse=True)[:limit]
        chosen.update(e.key for e in latest)
    return chosen


def final_overflow(entries: Iterable[Entry], limit: int) -> list[tuple[str, str, int]]:
    """(team, track, marked) for every team that marks more than ``limit`` entries of a track final."""
    counts: dict[tuple[str, str], int] = {}
    for entry in entries:
        if entry.participant and entry.final:
            counts[(entry.team, entry.track)] = counts.get((entry.team, entry.track), 0) + 1
    return [(team, track, n) for (team, track), n in sorted(counts.items()) if n > limit]


def final_limit_error(team: str, track: str, marked: int, limit: int) -> EaselError:
    return EaselError("E_FINAL_LIMIT", f"team {team} marks {marked} entries of track {track} with `final: true`; "
                      f"at most {limit} may count (limits.final_entries)", detail=f"{team}/{track}")
