"""What ties a result to an entry: identity, commit, merged files, dataset, plausible values,
the scoring that produced it (evaluator version, backbone, dataset) and the final selection."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable

from ..config import Competition
from ..errors import EaselError
from ..fsutil import canonical_json, sha256_bytes, tree_sha256
from ..result import validate_result
from ..vocab import HEX40_RE
from .schema import MAX_ITEMS, MAX_SHORT, MAX_TEXT, ORACLE_MODEL, ORACLE_TEAM, entry_key

# The fields that make two results comparable, in the order a mismatch is reported.
# "backbones": every backbone behind any metric (id, weights, resize), so no metric's column ever
# ranks values computed with different weights (a result from before per-metric backbones has one).
SCORING_FIELDS = ("evaluator", "backbone.id", "backbone.weights_sha256", "backbone.resize", "dataset.id",
                  "dataset.manifest_sha256", "backbones")


def clean_meta(meta: dict | None) -> dict:
    """Participant metadata (from submission.yaml) cut to the stored shape and lengths.

    The text stays untrusted: every renderer escapes it, and links are shown
    as links only when they are http(s).
    """
    meta = meta or {}
    authors = meta.get("authors") or []
    if isinstance(authors, str):
        authors = [authors]
    links = meta.get("links") or {}
    if not isinstance(links, dict):
        links = {}
    return {
        "authors": [str(a)[:MAX_SHORT] for a in list(authors)[:MAX_ITEMS]],
        "description": str(meta.get("description") or "")[:MAX_TEXT],
        "license": str(meta.get("license") or "")[:MAX_SHORT],
        "links": {str(k)[:MAX_SHORT]: str(v)[:MAX_SHORT * 5] for k, v in list(links.items())[:MAX_ITEMS]},
    }


def metrics_copy(metrics: dict) -> dict:
    """The stored form of result metrics: value, ci95, order, n and (when recorded) the backbone ids."""
    out = {}
    for name, m in metrics.items():
        out[name] = {"value": m["value"], "ci95": None if m["ci95"] is None else list(m["ci95"]),
                     "order": m["order"], "n": m["n"]}
        if "backbones" in m:
            out[name]["backbones"] = list(m["backbones"])
    return out


def backbone_records(backbone: dict | None, backbones: list | None) -> list[dict]:
    """Every backbone record of a result or entry: ``backbones`` when recorded, else [``backbone``]."""
    if backbones:
        return [dict(b) for b in backbones]
    return [dict(backbone)] if backbone else []


def result_identity(result: dict) -> dict:
    """Check that an ok result carries everything an entry needs; refuse otherwise."""
    validate_result(result)
    if result["status"] != "ok":
        raise EaselError("E_RESULT_STATUS", f"result status is {result['status']!r}, not 'ok'",
                         detail=result["status"])
    for key in ("submission", "track", "dataset", "backbone"):
        if result[key] is None:
            raise EaselError("E_RESULT_SCHEMA", f"result.json: {key}: expected an object for an ok result",
                             detail=key)
    sub = result["submission"]
    if sub["content_sha256"] is None:
        raise EaselError("E_RESULT_SCHEMA", "result.json: submission.content_sha256: expected a sha256",
                         detail="submission.content_sha256")
    if sub["track"] != result["track"]["id"]:
        raise EaselError("E_RESULT_SCHEMA", "result.json: submission.track differs from track.id",
                         detail="track.id")
    return sub


def check_commit(commit: str | None) -> str | None:
    """A full 40-hex commit SHA (lowercased) or None; anything else is E_SHA_FORMAT."""
    if commit is None:
        return None
    text = str(commit).strip().lower()
    if not HEX40_RE.match(text):
        raise EaselError("E_SHA_FORMAT", "the commit must be 40 hexadecimal characters", detail="commit")
    return text


def check_submission_binding(result: dict, submission_dir: str | Path) -> None:
    """Refuse (E_RESULT_BINDING) when the merged submission's files hash differently than the result says."""
    root = Path(submission_dir)
    if not root.is_dir():
        raise EaselError("E_RESULT_BINDING", f"submission directory not found: {root}", detail="submission")
    actual = tree_sha256(root)
    if actual != result["submission"]["content_sha256"]:
        raise EaselError("E_RESULT_BINDING",
                         f"the files in {root} hash to {actual[:12]}..., the result was computed for "
                         f"{str(result['submission']['content_sha256'])[:12]}...",
                         detail="submission.content_sha256")


def locate_submissions(roots: Iterable[str | Path]) -> dict[str, str]:
    """content sha256 -> folder of every submission at ROOT/<a>/<b>/submission.yaml (for re-scoring).

    Folders starting with '_' (the template) and symbolic links are skipped;
    paths are returned as ROOT/<a>/<b> in POSIX form.
    """
    found: dict[str, str] = {}
    for root in map(Path, roots):
        for meta in sorted(root.glob("*/*/submission.yaml")):
            folder = meta.parent
            if folder.parent.name.startswith("_") or folder.is_symlink() or folder.parent.is_symlink():
                continue
            found.setdefault(tree_sha256(folder), folder.as_posix())
    return found


def manifest_sha256(manifest_path: str | Path) -> str:
    """The dataset hash a manifest declares, after checking it against the manifest's own files table.

    manifest.json holds ``"sha256": sha256(canonical_json(files))``; a
    manifest edited by hand without updating it is refused (E_DATA_MANIFEST).
    """
    path = Path(manifest_path)
    if not path.is_file():
        raise EaselError("E_DATA_MISSING", f"manifest not found: {path}", detail="manifest.json")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        declared, files = raw["sha256"], raw["files"]
    except (ValueError, KeyError, TypeError):
        raise EaselError("E_DATA_MANIFEST", f"{path}: not a dataset manifest", detail="manifest.json") from None
    if sha256_bytes(canonical_json(files).encode("utf-8")) != declared:
        raise EaselError("E_DATA_MANIFEST", f"{path}: its sha256 does not match its files table",
                         detail="manifest.json")
    return declared


def check_data_binding(result: dict, data_root: str | Path) -> None:
    """Refuse (E_RESULT_BINDING) when ROOT/<dataset>/manifest.json is not the dataset the result used."""
    dataset = result["dataset"]["id"]
    actual = manifest_sha256(Path(data_root) / dataset / "manifest.json")
    if actual != result["dataset"]["manifest_sha256"]:
        raise EaselError("E_RESULT_BINDING",
                         f"dataset {dataset}: the manifest hashes to {actual[:12]}..., the result was computed "
                         f"on {result['dataset']['manifest_sha256'][:12]}...", detail="dataset.manifest_sha256")


def check_track(result: dict, competition: Competition) -> None:
    track = competition.track(result["track"]["id"])
    if result["dataset"]["id"] != track.dataset:
        raise EaselError("E_RESULT_BINDING", f"track {track.id} uses dataset {track.dataset}, the result used "
                         f"{result['dataset']['id']}", detail="dataset.id")
    if track.ranking.metric not in result["metrics"]:
        raise EaselError("E_RESULT_SCHEMA", f"result.json: metrics: expected the track's ranking metric "
                         f"{track.ranking.metric}", detail=f"metrics.{track.ranking.metric}")


def check_plausible(metrics: dict) -> None:
    """Refuse (E_RESULT_RANGE) a value or interval bound outside its metric's registered range.

    ``metrics``: {name: {value, ci95, ...}}; names the registry does not know are not checked.
    """
    from ..metrics import METRICS

    for name, m in metrics.items():
        spec = METRICS.get(name)
        if spec is None:
            continue
        low, high = spec.value_range
        for label, value in (("value", m["value"]), *(("ci95", v) for v in (m["ci95"] or ()))):
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


def check_oracle_identity(sub: dict) -> bool:
    """True for the oracle row (CONTRACTS.md); the team id ``oracle`` is refused for anything else."""
    if sub["team"] != ORACLE_TEAM:
        return False
    if sub["model"] != ORACLE_MODEL or not sub["baseline"]:
        raise EaselError("E_RESULT_BINDING", f"the team id '{ORACLE_TEAM}' is reserved for the "
                         f"{ORACLE_TEAM}/{ORACLE_MODEL} baseline row", detail="submission.team")
    return True


# --- scoring identity ----------------------------------------------------------

def version_key(version: str | None) -> tuple:
    """An orderable key for an Easel version string ('0.10.0' > '0.9.1'); () for unknown."""
    if not version:
        return ()
    parts = []
    for piece in version.replace("-", ".").replace("+", ".").split("."):
        parts.append((0, int(piece), "") if piece.isdigit() else (-1, 0, piece))
    return tuple(parts)


def scoring_key(evaluator: str | None, backbone: dict | None, dataset: dict | None,
                backbones: list | None = None) -> tuple:
    """(evaluator, backbone id, weights sha256, resize, dataset id, manifest sha256, every backbone's
    (id, weights sha256, resize) sorted), as in SCORING_FIELDS."""
    every = tuple(sorted((b["id"], b["weights_sha256"], b["resize"]) for b in backbone_records(backbone, backbones)))
    backbone, dataset = backbone or {}, dataset or {}
    return (evaluator, backbone.get("id"), backbone.get("weights_sha256"), backbone.get("resize"),
            dataset.get("id"), dataset.get("manifest_sha256"), every)


def entry_scoring(entry: dict, split: str = "public") -> tuple:
    """The scoring key of an entry's ``split`` scores (its private scores share its backbone and data)."""
    scores = entry.get(split) or {}
    return scoring_key(scores.get("evaluator"), entry.get("backbone"), entry.get("dataset"), entry.get("backbones"))


def result_scoring(result: dict) -> tuple:
    return scoring_key(result["evaluator"]["version"], result["backbone"], result["dataset"],
                       result.get("backbones"))


def differing_field(a: tuple, b: tuple) -> str | None:
    """The first field of SCORING_FIELDS where two scoring keys differ (None when equal)."""
    return next((name for name, x, y in zip(SCORING_FIELDS, a, b) if x != y), None)


def current_scoring(entries: Iterable[dict], split: str = "public") -> tuple | None:
    """The scoring that ranks a track: that of the newest evaluator version, then the newest evaluation.

    Entries scored otherwise "need re-scoring": they are shown but never ranked with these.
    None when no entry has scores on ``split``.
    """
    best, best_key = None, None
    for entry in entries:
        scores = entry.get(split)
        if not scores or not scores.get("metrics"):
            continue
        order = (version_key(scores.get("evaluator")), str(scores.get("evaluated") or ""))
        if best_key is None or order > best_key:
            best, best_key = entry_scoring(entry, split), order
    return best


# --- final selection ---------------------------------------------------------------

def participant(entry: dict) -> bool:
    return not entry.get("baseline") and not entry.get("oracle")


def final_selection(entries: Iterable[dict], limit: int) -> set[tuple[str, str, str]]:
    """Keys of the participant entries that count for the private ranking.

    Per team and track: the entries marked ``final``; a team that marks none
    gets its latest ``limit`` entries (by when they were added). Where a team
    marks more than ``limit`` (see :func:`final_overflow`), its latest marked ones count.
    """
    by_team: dict[tuple[str, str], list[dict]] = {}
    for entry in entries:
        if participant(entry):
            by_team.setdefault((entry["team"], entry["track"]), []).append(entry)
    chosen = set()
    for group in by_team.values():
        marked = [e for e in group if e.get("final")] or group
        latest = sorted(marked, key=lambda e: (str(e.get("added") or ""), e["model"]), reverse=True)[:limit]
        chosen.update(entry_key(e) for e in latest)
    return chosen


def final_overflow(entries: Iterable[dict], limit: int) -> list[tuple[str, str, int]]:
    """(team, track, marked) for every team that marks more than ``limit`` entries of a track final."""
    counts: dict[tuple[str, str], int] = {}
    for entry in entries:
        if participant(entry) and entry.get("final"):
            counts[(entry["team"], entry["track"])] = counts.get((entry["team"], entry["track"]), 0) + 1
    return [(team, track, n) for (team, track), n in sorted(counts.items()) if n > limit]


def final_limit_error(team: str, track: str, marked: int, limit: int) -> EaselError:
    return EaselError("E_FINAL_LIMIT", f"team {team} marks {marked} entries of track {track} with `final: true`; "
                      f"at most {limit} may count (limits.final_entries)", detail=f"{team}/{track}")
