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
from ..result import Metric, Result, SubmissionRef
from ..vocab import HEX40_RE
from .schema import ORACLE_MODEL, ORACLE_TEAM, Meta, entry_key

def clean_meta(meta: dict | None) -> dict:
    """Participant metadata (from submission.yaml) cut to the stored shape and lengths (:meth:`Meta.clean`)."""
    return Meta.clean(meta).to_json()


def result_identity(result: Result) -> SubmissionRef:
    """Check that an ok result carries everything an entry needs; refuse otherwise."""
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


def check_commit(commit: str | None) -> str | None:
    """A full 40-hex commit SHA (lowercased) or None; anything else is E_SHA_FORMAT."""
    if commit is None:
        return None
    text = str(commit).strip().lower()
    if not HEX40_RE.match(text):
        raise EaselError("E_SHA_FORMAT", "the commit must be 40 hexadecimal characters", detail="commit")
    return text


def check_submission_binding(result: Result, submission_dir: str | Path) -> None:
    """Refuse (E_RESULT_BINDING) when the merged submission's files hash differently than the result says."""
    root = Path(submission_dir)
    if not root.is_dir():
        raise EaselError("E_RESULT_BINDING", f"submission directory not found: {root}", detail="submission")
    actual = tree_sha256(root)
    expected = result.submission.content_sha256
    if actual != expected:
        raise EaselError("E_RESULT_BINDING",
                         f"the files in {root} hash to {actual[:12]}..., the result was computed for "
                         f"{str(expected)[:12]}...", detail="submission.content_sha256")


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


def check_data_binding(result: Result, data_root: str | Path) -> None:
    """Refuse (E_RESULT_BINDING) when ROOT/<dataset>/manifest.json is not the dataset the result used."""
    dataset = result.dataset
    actual = manifest_sha256(Path(data_root) / dataset.id / "manifest.json")
    if actual != dataset.manifest_sha256:
        raise EaselError("E_RESULT_BINDING",
                         f"dataset {dataset.id}: the manifest hashes to {actual[:12]}..., the result was computed "
                         f"on {dataset.manifest_sha256[:12]}...", detail="dataset.manifest_sha256")


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
