"""Open data next to the pages: ``leaderboard.json`` (the whole board as ranked) and one CSV per track.

Both hold exactly what the pages show: the ranking split's scores, with
private scores only once revealed. ``leaderboard.json`` carries
``schema_version``; a reader checks it before anything else. CSV cells hold
ids, numbers and fixed words only (no participant free text), so a
spreadsheet never sees a formula.
"""

from __future__ import annotations

import csv
import io
import json

from ..leaderboard import RankedEntry, Revealed, metric_order, row_notes
from ..result import metrics_json

OPEN_DATA_SCHEMA = 1
JSON_NAME = "leaderboard.json"
CSV_NAME = "leaderboard.csv"  # in tracks/<track>/
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_path(track_id: str) -> str:
    """Site-relative path of a track's CSV."""
    return f"tracks/{track_id}/{CSV_NAME}"


def _row_json(r: RankedEntry, revealed: bool) -> dict:
    e = r.entry
    return {
        "position": r.position, "rank": r.rank, "team": e.team, "model": e.model,
        "baseline": e.baseline, "oracle": e.oracle, "final": e.final, "local": e.local,
        "leader": r.leader, "tied": r.tied, "selected": r.selected, "needs_rescoring": r.needs_rescoring,
        "plausible": r.plausible, "notes": row_notes(r),
        "pr": e.pr, "commit": e.commit, "added": e.added, "content_sha256": e.content_sha256,
        "scored_by": {"evaluator": r.scored_by["evaluator"], "backbone": e.backbone.to_json(),
                      "dataset": e.dataset.to_json()},
        "public": {"metrics": metrics_json(e.public.metrics), "extra": dict(e.public.extra),
                   "evaluated": e.public.evaluated, "evaluator": e.public.evaluator},
        "private": e.private.to_json(public=False) if revealed and e.private is not None else None,
        "efficiency": e.public.efficiency_json(),
        "meta": e.meta.to_json(),
    }


def leaderboard_json(competition, views: list, phase: dict, built: str, revealed: Revealed | None) -> str:
    """The site's ``leaderboard.json`` text: every track's rows in display order (see the module notes)."""
    tracks = []
    for view in views:
        t = view.track
        tracks.append({
            "id": t.id, "title": t.title, "kind": t.kind, "dataset": t.dataset, "metrics": list(t.metrics),
            "ranking": {"metric": t.ranking.metric, "order": t.ranking.order, "split": view.split},
            "final_entries": competition.limits.final_entries, "csv": csv_path(t.id),
            "entries": [_row_json(r, phase["revealed"]) for r in view.rows],
        })
    doc = {
        "schema_version": OPEN_DATA_SCHEMA, "competition": competition.name, "built": built,
        "phase": phase["current"].name if phase["current"] else None,
        "revealed": revealed.to_json() if revealed is not None and phase["revealed"] else None,
        "tracks": tracks,
    }
    return json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def _cell(text: object) -> str:
    text = "" if text is None else str(text)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _number(value: object) -> str:
    return "" if value is None else repr(value)


def track_csv(view) -> str:
    """One track's rows as CSV: rank and flags, who scored them, then value, interval and n of every metric."""
    t = view.track
    names = metric_order({name for r in view.rows for name in r.metrics}, t.ranking.metric, t.metrics)
    header = ["position", "rank", "team", "model", "notes", "split", "evaluator", "backbone",
              "backbone_weights_sha256", "added", "pr", "commit"]
    for name in names:
        header += [name, f"{name}_ci95_low", f"{name}_ci95_high", f"{name}_n"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for r in view.rows:
        e = r.entry
        row = [r.position, _number(r.rank), e.team, e.model, "; ".join(row_notes(r)), r.split,
               _cell(r.scored_by["evaluator"]), e.backbone.id, e.backbone.weights_sha256, e.added,
               _number(e.pr), e.commit or ""]
        for name in names:
            m = r.metrics.get(name)
            ci = (m.ci95 if m else None) or (None, None)
            row += [_number(m.value) if m else "", _number(ci[0]), _number(ci[1]), _number(m.n) if m else ""]
        writer.writerow(row)
    return out.getvalue()
