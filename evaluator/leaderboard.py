"""leaderboard.yaml: every scored, merged entry; adding, revealing and ranking.

The file is written only by the publish workflow (``easel leaderboard add``)
and read by the site, the PR comment and ``easel leaderboard show``. Schema 1::

    schema: 1
    entries:
    - team, model, track: ids;  baseline: bool;  pr: int | null;  commit: 40-hex | null
      added: ISO UTC (when the entry, or this version of it, entered the board)
      content_sha256: hex64                      # tree_sha256 of the submission directory
      dataset: {id, manifest_sha256}
      backbone: {id, weights_sha256, resize, offline_standin}
      meta: {authors: [str], description: str, license: str, links: {name: url}}  # untrusted text
      public: {metrics: {name: {value, ci95, order, n}}, extra: {...}, efficiency: {...} | null,
               evaluated: ISO UTC}
      private: {metrics, extra, evaluated} | null # filled only by `reveal`, after the deadline

Rules:

- One entry per (team, model, track). Adding the same submission with the same
  numbers changes nothing (the file's bytes stay the same); a newer evaluation
  or a new version of the submission replaces the entry.
- Every entry of a track shares one backbone (id, weights, resize) and one
  dataset manifest: scores from different feature networks or data are not
  comparable, so a mismatching result is refused (E_RESULT_BACKBONE).
- Before the final phase ends only public-split scores are shown and rank.
  ``reveal`` merges private-split results after the deadline; ranking then
  uses them.
- Baselines are listed in the order of their score but get no rank number:
  a participant's rank counts participants only. Ties with the leader come
  from :func:`evaluator.scoring.mark_ties` (interval rule), among participants.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .cli import command_group
from .config import Competition, default_competition_path, load_competition
from .errors import EaselError
from .fsutil import atomic_write_text, canonical_json, sha256_bytes, tree_sha256
from .result import load_result, validate_result

SCHEMA_VERSION = 1
MAX_BOARD_BYTES = 512 << 20  # 10,000 entries take ~15 MB; this only stops absurd files
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_METRIC = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_BACKBONE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
RESIZE_MODES = ("clean", "legacy_tensorflow")
EFFICIENCY_KEYS = ("images_per_s", "best_batch_size", "latency_ms_batch1", "parameters", "model_bytes")

# Untrusted metadata is stored length-limited; the site escapes it on render.
MAX_TEXT = 2000
MAX_SHORT = 200
MAX_ITEMS = 20


# --- time helpers --------------------------------------------------------------

def _utc(when: dt.datetime | None = None) -> dt.datetime:
    when = when or dt.datetime.now(dt.timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc)


def iso_utc(when: dt.datetime | None = None) -> str:
    """``when`` (now by default) as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return _utc(when).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> dt.datetime:
    """An ISO 8601 string or datetime as an aware UTC datetime; ValueError otherwise."""
    if isinstance(value, dt.datetime):
        return _utc(value)
    if isinstance(value, str):
        return _utc(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
    raise ValueError(f"not a time: {value!r}")


def empty_board() -> dict:
    """A leaderboard with no entries (what a fresh competition repository holds)."""
    return {"schema": SCHEMA_VERSION, "entries": []}


# --- schema check on load ----------------------------------------------------------

class _Check:
    """Walks a parsed leaderboard.yaml; the first problem raises E_LEADERBOARD naming index and key."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, path: str, expected: str, got: Any = None, missing: bool = False) -> None:
        shown = "missing" if missing else f"got {_short_repr(got)}"
        raise EaselError("E_LEADERBOARD", f"{self.source}: {path}: expected {expected}, {shown}",
                         detail=path)

    def mapping(self, value: Any, path: str, keys: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
        if not isinstance(value, dict):
            self.fail(path, "a mapping", value)
        for key in keys:
            if key not in value:
                self.fail(f"{path}.{key}", "a value", missing=True)
        unknown = sorted(str(k) for k in value if k not in keys and k not in optional)
        if unknown:
            self.fail(f"{path}.{unknown[0]}", f"only the keys {list(keys + optional)}", "an unknown key")
        return value

    def match(self, value: Any, path: str, pattern: re.Pattern, expected: str) -> str:
        if not isinstance(value, str) or not pattern.match(value):
            self.fail(path, expected, value)
        return value

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            self.fail(path, "true or false", value)
        return value

    def number(self, value: Any, path: str) -> float:
        if not _is_number(value):
            self.fail(path, "a finite number", value)
        return value

    def count(self, value: Any, path: str, allow_null: bool = False) -> int | None:
        if value is None and allow_null:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            self.fail(path, "a non-negative integer" + (" or null" if allow_null else ""), value)
        return value

    def text(self, value: Any, path: str, limit: int) -> str:
        if not isinstance(value, str) or len(value) > limit:
            self.fail(path, f"a string of at most {limit} characters", value)
        return value

    def time(self, value: Any, path: str) -> str:
        try:
            return iso_utc(parse_time(value))
        except (ValueError, TypeError):
            self.fail(path, "an ISO 8601 UTC time such as 2027-03-01T00:00:00Z", value)

    def metrics(self, value: Any, path: str) -> dict:
        if not isinstance(value, dict) or len(value) > 50:
            self.fail(path, "a mapping of at most 50 metrics", value)
        out = {}
        for name, m in value.items():
            p = f"{path}.{name}" if isinstance(name, str) and _METRIC.match(name) else path
            self.match(name, p, _METRIC, "metric names of lowercase letters, digits and '_'")
            self.mapping(m, p, ("value", "ci95", "order", "n"))
            ci = m["ci95"]
            if ci is not None and not (isinstance(ci, list) and len(ci) == 2 and all(map(_is_number, ci))):
                self.fail(f"{p}.ci95", "null or [lo, hi]", ci)
            if m["order"] not in ("asc", "desc"):
                self.fail(f"{p}.order", "'asc' or 'desc'", m["order"])
            out[name] = {"value": self.number(m["value"], f"{p}.value"),
                         "ci95": None if ci is None else [ci[0], ci[1]],
                         "order": m["order"], "n": self.count(m["n"], f"{p}.n")}
        return out

    def extra(self, value: Any, path: str) -> dict:
        if not isinstance(value, dict) or len(value) > MAX_ITEMS:
            self.fail(path, f"a mapping of at most {MAX_ITEMS} values", value)
        for name, v in value.items():
            self.match(name, path, _METRIC, "names of lowercase letters, digits and '_'")
            if not (v is None or isinstance(v, bool) or _is_number(v)):
                self.fail(f"{path}.{name}", "a number, a boolean or null", v)
        return dict(value)

    def efficiency(self, value: Any, path: str) -> dict | None:
        if value is None:
            return None
        self.mapping(value, path, (), EFFICIENCY_KEYS)
        for key, v in value.items():
            if v is not None and not _is_number(v):
                self.fail(f"{path}.{key}", "a number or null", v)
        return {key: value[key] for key in EFFICIENCY_KEYS if key in value}

    def meta(self, value: Any, path: str) -> dict:
        self.mapping(value, path, ("authors", "description", "license", "links"))
        authors = value["authors"]
        if not isinstance(authors, list) or len(authors) > MAX_ITEMS:
            self.fail(f"{path}.authors", f"a list of at most {MAX_ITEMS} names", authors)
        for i, name in enumerate(authors):
            self.text(name, f"{path}.authors[{i}]", MAX_SHORT)
        links = value["links"]
        if not isinstance(links, dict) or len(links) > MAX_ITEMS:
            self.fail(f"{path}.links", f"a mapping of at most {MAX_ITEMS} links", links)
        for name, url in links.items():
            self.text(name, f"{path}.links", MAX_SHORT)
            self.text(url, f"{path}.links", MAX_SHORT * 5)
        return {"authors": list(authors), "description": self.text(value["description"], f"{path}.description",
                                                                      MAX_TEXT),
                "license": self.text(value["license"], f"{path}.license", MAX_SHORT), "links": dict(links)}

    def entry(self, raw: Any, p: str) -> dict:
        self.mapping(raw, p, ENTRY_KEYS)
        dataset = self.mapping(raw["dataset"], f"{p}.dataset", ("id", "manifest_sha256"))
        backbone = self.mapping(raw["backbone"], f"{p}.backbone", ("id", "weights_sha256", "resize",
                                                                  "offline_standin"))
        public = self.mapping(raw["public"], f"{p}.public", ("metrics", "extra", "efficiency", "evaluated"))
        pr = raw["pr"]
        if pr is not None and (not isinstance(pr, int) or isinstance(pr, bool) or pr <= 0):
            self.fail(f"{p}.pr", "a positive pull request number or null", pr)
        if raw["commit"] is not None:
            self.match(raw["commit"], f"{p}.commit", _HEX40, "a 40-hex commit SHA or null")
        if backbone["resize"] not in RESIZE_MODES:
            self.fail(f"{p}.backbone.resize", f"one of {list(RESIZE_MODES)}", backbone["resize"])
        private = raw["private"]
        if private is not None:
            self.mapping(private, f"{p}.private", ("metrics", "extra", "evaluated"))
            private = {"metrics": self.metrics(private["metrics"], f"{p}.private.metrics"),
                       "extra": self.extra(private["extra"], f"{p}.private.extra"),
                       "evaluated": self.time(private["evaluated"], f"{p}.private.evaluated")}
        return _entry(
            team=self.match(raw["team"], f"{p}.team", _ID, "a safe id (lowercase letters, digits, '-', '_')"),
            model=self.match(raw["model"], f"{p}.model", _ID, "a safe id (lowercase letters, digits, '-', '_')"),
            track=self.match(raw["track"], f"{p}.track", _ID, "a track id (lowercase letters, digits, '-', '_')"),
            baseline=self.boolean(raw["baseline"], f"{p}.baseline"), pr=pr, commit=raw["commit"],
            added=self.time(raw["added"], f"{p}.added"),
            content_sha256=self.match(raw["content_sha256"], f"{p}.content_sha256", _HEX64, "a sha256 hex digest"),
            dataset={"id": self.match(dataset["id"], f"{p}.dataset.id", _ID, "a dataset id"),
                     "manifest_sha256": self.match(dataset["manifest_sha256"], f"{p}.dataset.manifest_sha256",
                                                   _HEX64, "a sha256 hex digest")},
            backbone={"id": self.match(backbone["id"], f"{p}.backbone.id", _BACKBONE, "a backbone id"),
                      "weights_sha256": self.match(backbone["weights_sha256"], f"{p}.backbone.weights_sha256",
                                                   _HEX64, "a sha256 hex digest"),
                      "resize": backbone["resize"],
                      "offline_standin": self.boolean(backbone["offline_standin"], f"{p}.backbone.offline_standin")},
            meta=self.meta(raw["meta"], f"{p}.meta"),
            public={"metrics": self.metrics(public["metrics"], f"{p}.public.metrics"),
                    "extra": self.extra(public["extra"], f"{p}.public.extra"),
                    "efficiency": self.efficiency(public["efficiency"], f"{p}.public.efficiency"),
                    "evaluated": self.time(public["evaluated"], f"{p}.public.evaluated")},
            private=private,
        )


ENTRY_KEYS = ("team", "model", "track", "baseline", "pr", "commit", "added", "content_sha256", "dataset",
              "backbone", "meta", "public", "private")


def _entry(**fields: Any) -> dict:
    """An entry dict in the file's fixed key order."""
    return {key: fields[key] for key in ENTRY_KEYS}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_board(raw: Any, source: str = "leaderboard.yaml") -> dict:
    """Schema-check a parsed leaderboard and return it normalized (fixed key order, UTC times).

    Raises EaselError("E_LEADERBOARD", "leaderboard.yaml: entries[3].track: expected ...").
    """
    check = _Check(source)
    top = check.mapping(raw, "(top level)", ("schema", "entries"))
    if top["schema"] != SCHEMA_VERSION:
        check.fail("schema", str(SCHEMA_VERSION), top["schema"])
    if not isinstance(top["entries"], list):
        check.fail("entries", "a list", top["entries"])
    entries, seen = [], {}
    for i, raw_entry in enumerate(top["entries"]):
        entry = check.entry(raw_entry, f"entries[{i}]")
        key = entry_key(entry)
        if key in seen:
            check.fail(f"entries[{i}]", f"one entry per team/model/track (entries[{seen[key]}] has the same)",
                       "/".join(key))
        seen[key] = i
        entries.append(entry)
    return {"schema": SCHEMA_VERSION, "entries": entries}


def _loader():
    # libyaml's parser when present (the wheel ships it); the pure-Python one gives the same events.
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _dumper():
    return getattr(yaml, "CSafeDumper", yaml.SafeDumper)


_TAG = "tag:yaml.org,2002:"
_SIMPLE_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_SIMPLE_FLOAT = re.compile(r"^[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?$")


class _Scalars(yaml.SafeLoader):
    """Only borrows PyYAML's YAML 1.1 implicit resolvers and safe scalar constructors."""

    def __init__(self):  # no stream: nothing is read through this object
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)


def _scalar(event, helper: _Scalars, memo: dict, name: str) -> Any:
    """The value SafeLoader would construct for one scalar event (YAML 1.1 rules)."""
    value, tag = event.value, event.tag
    if tag is None or tag == "!":
        if not event.implicit[0]:
            return value  # quoted or block scalar without a tag: always a string
        if value in memo:
            return memo[value]
        tag = helper.resolve(yaml.ScalarNode, value, (True, False))
        plain = True
    else:
        plain = False
    if tag == _TAG + "str":
        out = value
    elif tag == _TAG + "float" and _SIMPLE_FLOAT.match(value):
        out = float(value)  # the common case, without building a node
    elif tag == _TAG + "int" and _SIMPLE_INT.match(value):
        out = int(value)
    elif tag in (_TAG + "int", _TAG + "float", _TAG + "bool", _TAG + "null", _TAG + "timestamp"):
        out = helper.yaml_constructors[tag](helper, yaml.ScalarNode(tag, value))
    else:
        raise EaselError("E_LEADERBOARD", f"{name}: line {event.start_mark.line + 1}: "
                         f"the YAML tag {tag!r} is not allowed", detail="tag")
    if plain and not tag.endswith(("float", "int")):
        memo[value] = out  # keys and words repeat in every entry; numbers rarely do
    return out


def _parse_yaml(text: str, name: str) -> Any:
    """Parse YAML from the event stream straight into Python objects, as yaml.safe_load would.

    Why not yaml.load: on a 10,000-entry board PyYAML's node composer and
    constructor cost ~5x more than libyaml's parser, and the site build must
    stay fast as the board grows. Scalars resolve with PyYAML's own YAML 1.1
    rules (tests compare with yaml.safe_load). Anchors, aliases (the 'billion
    laughs' bomb), non-standard tags and several documents are refused.
    """
    helper, memo = _Scalars(), {}
    stack: list[tuple[Any, Any]] = []  # (container, pending mapping key or _NO_KEY)
    root, documents = None, 0
    try:
        for event in yaml.parse(text, Loader=_loader()):
            kind = type(event)
            if kind is yaml.ScalarEvent or kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                if event.anchor is not None:
                    raise EaselError("E_LEADERBOARD", f"{name}: YAML anchors and aliases are not allowed "
                                     f"(line {event.start_mark.line + 1})", detail="anchor")
                if kind is yaml.ScalarEvent:
                    value = _scalar(event, helper, memo, name)
                else:
                    std = _TAG + ("map" if kind is yaml.MappingStartEvent else "seq")
                    if event.tag not in (None, "!", std):
                        raise EaselError("E_LEADERBOARD", f"{name}: line {event.start_mark.line + 1}: the YAML "
                                         f"tag {event.tag!r} is not allowed", detail="tag")
                    value = {} if kind is yaml.MappingStartEvent else []
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                value, _ = stack.pop()
                if stack:
                    _attach(stack, value, name, event)
                else:
                    root = value
                continue
            elif kind is yaml.AliasEvent:
                raise EaselError("E_LEADERBOARD", f"{name}: YAML anchors and aliases are not allowed "
                                 f"(line {event.start_mark.line + 1})", detail="alias")
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise EaselError("E_LEADERBOARD", f"{name}: expected one YAML document, found several")
                continue
            else:
                continue  # stream and document ends
            if kind is yaml.ScalarEvent:
                if stack:
                    _attach(stack, value, name, event)
                else:
                    root = value
            else:
                stack.append((value, _NO_KEY))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise EaselError("E_LEADERBOARD", f"{name}: invalid YAML{where}") from None
    return root


_NO_KEY = object()


def _attach(stack: list, value: Any, name: str, event) -> None:
    container, key = stack[-1]
    if isinstance(container, list):
        container.append(value)
    elif key is _NO_KEY:
        if isinstance(value, (dict, list)):
            raise EaselError("E_LEADERBOARD", f"{name}: line {event.start_mark.line + 1}: "
                             "a mapping key must be a plain value", detail="key")
        stack[-1] = (container, value)
    else:
        container[key] = value
        stack[-1] = (container, _NO_KEY)


def load_leaderboard(path: str | Path, missing_ok: bool = False) -> dict:
    """Read and schema-check leaderboard.yaml.

    ``missing_ok`` returns an empty board when the file does not exist (the
    first ``add`` of a competition). Every problem raises E_LEADERBOARD with
    the entry index and key, e.g. ``leaderboard.yaml: entries[3].track: ...``.
    """
    path = Path(path)
    if not path.is_file():
        if missing_ok:
            return empty_board()
        raise EaselError("E_LEADERBOARD", f"{path.name}: file not found at {path}")
    if path.stat().st_size > MAX_BOARD_BYTES:
        raise EaselError("E_LEADERBOARD", f"{path.name}: larger than {MAX_BOARD_BYTES} bytes")
    text = path.read_text(encoding="utf-8", errors="replace")
    return validate_board(_parse_yaml(text, path.name), path.name)


def dump_leaderboard(board: dict) -> str:
    """The file text: stable key order, one entry per block, leaf lists inline (``ci95: [lo, hi]``)."""
    board = {"schema": SCHEMA_VERSION, "entries": [_entry(**e) for e in board["entries"]]}
    return yaml.dump(board, Dumper=_dumper(), sort_keys=False, default_flow_style=None, allow_unicode=True,
                     width=1 << 16)


def save_leaderboard(path: str | Path, board: dict) -> Path:
    """Write the board atomically (a reader sees the old file or the new one)."""
    return atomic_write_text(path, dump_leaderboard(board))


# --- adding results -------------------------------------------------------------

def entry_key(entry: dict) -> tuple[str, str, str]:
    return entry["team"], entry["model"], entry["track"]


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


def _metrics_copy(metrics: dict) -> dict:
    return {name: {"value": m["value"], "ci95": None if m["ci95"] is None else list(m["ci95"]),
                   "order": m["order"], "n": m["n"]} for name, m in metrics.items()}


def _result_identity(result: dict) -> dict:
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
    if not _HEX40.match(text):
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


def _check_track(result: dict, competition: Competition) -> None:
    track = competition.track(result["track"]["id"])
    if result["dataset"]["id"] != track.dataset:
        raise EaselError("E_RESULT_BINDING", f"track {track.id} uses dataset {track.dataset}, the result used "
                         f"{result['dataset']['id']}", detail="dataset.id")
    if track.ranking.metric not in result["metrics"]:
        raise EaselError("E_RESULT_SCHEMA", f"result.json: metrics: expected the track's ranking metric "
                         f"{track.ranking.metric}", detail=f"metrics.{track.ranking.metric}")


def _same_scoring(entry: dict, result: dict) -> str | None:
    """The first field where ``result`` was scored differently than ``entry`` (None when comparable)."""
    bb, data = result["backbone"], result["dataset"]
    for key in ("id", "weights_sha256", "resize"):
        if entry["backbone"][key] != bb[key]:
            return f"backbone.{key}"
    for key in ("id", "manifest_sha256"):
        if entry["dataset"][key] != data[key]:
            return f"dataset.{key}"
    return None


def add_result(board: dict, result: dict, pr: int | None, commit: str | None, meta: dict | None = None,
               now: dt.datetime | None = None, competition: Competition | None = None,
               submission_dir: str | Path | None = None, data_root: str | Path | None = None) -> tuple[dict, bool]:
    """Add or update the entry of a public-split result; return ``(board, changed)``.

    - key = (team, model, track). Same key, same content hash and same
      metrics: nothing changes (``changed`` False; the caller then leaves the
      file untouched, so its bytes stay the same).
    - Same key and a newer evaluation (or a new version of the submission):
      the entry is replaced. An older evaluation of the same files than the
      stored one is ignored (a re-run of a stale job).
    - Refused: status != ok (E_RESULT_STATUS); a non-public split
      (E_RESULT_BINDING: private scores enter only through :func:`reveal`);
      a backbone, resize mode or dataset manifest that differs from the
      track's other entries (E_RESULT_BACKBONE); a bad commit (E_SHA_FORMAT).
    - ``competition``: the track must exist and use the result's dataset.
    - ``submission_dir``: its tree_sha256 must equal the result's content hash;
      ``data_root``: ROOT/<dataset>/manifest.json must be the result's manifest
      (both E_RESULT_BINDING).

    ``board`` is not modified; a new dict is returned.
    """
    sub = _result_identity(result)
    if result["split"] != "public":
        raise EaselError("E_RESULT_BINDING", f"only public-split results are added; this one is split "
                         f"{result['split']!r} (private results enter through `easel leaderboard reveal`)",
                         detail="split")
    commit = check_commit(commit)
    if pr is not None and (not isinstance(pr, int) or isinstance(pr, bool) or pr <= 0):
        raise EaselError("E_RESULT_BINDING", f"pull request number must be a positive integer, got {pr!r}",
                         detail="pr")
    if competition is not None:
        _check_track(result, competition)
    if submission_dir is not None:
        check_submission_binding(result, submission_dir)
    if data_root is not None:
        check_data_binding(result, data_root)

    key = (sub["team"], sub["model"], sub["track"])
    entries = list(board["entries"])
    index = next((i for i, e in enumerate(entries) if entry_key(e) == key), None)
    for other in entries:
        if other["track"] == sub["track"] and entry_key(other) != key:
            field = _same_scoring(other, result)
            if field:
                raise EaselError("E_RESULT_BACKBONE",
                                 f"track {sub['track']}: the result's {field} differs from the track's entries "
                                 f"(e.g. {other['team']}/{other['model']}); results from different backbones or "
                                 "data are never ranked together", detail=field)

    evaluated = iso_utc(parse_time(result["created"]))
    public = {"metrics": _metrics_copy(result["metrics"]), "extra": dict(result["extra"]),
              "efficiency": None if result["efficiency"] is None else
              {k: result["efficiency"].get(k) for k in EFFICIENCY_KEYS},
              "evaluated": evaluated}
    old = entries[index] if index is not None else None
    if old is not None:
        same_content = old["content_sha256"] == sub["content_sha256"]
        if same_content and old["public"]["metrics"] == public["metrics"]:
            return board, False  # the same numbers again: idempotent
        if same_content and parse_time(evaluated) < parse_time(old["public"]["evaluated"]):
            return board, False  # a stale re-run must not overwrite a newer evaluation of the same files
    same_content = old is not None and old["content_sha256"] == sub["content_sha256"]
    # A private score stays attached only to the exact content and data it was computed on.
    keep_private = same_content and old["private"] is not None and _same_scoring(old, result) is None
    new = _entry(
        team=sub["team"], model=sub["model"], track=sub["track"], baseline=sub["baseline"],
        pr=pr if pr is not None or not same_content else old["pr"],
        commit=commit if commit is not None or not same_content else old["commit"],
        added=old["added"] if same_content else iso_utc(now),
        content_sha256=sub["content_sha256"],
        dataset={"id": result["dataset"]["id"], "manifest_sha256": result["dataset"]["manifest_sha256"]},
        backbone={k: result["backbone"][k] for k in ("id", "weights_sha256", "resize", "offline_standin")},
        meta=clean_meta(meta) if meta is not None or not same_content else old["meta"],
        public=public,
        private=old["private"] if keep_private else None,
    )
    if index is None:
        entries.append(new)
    else:
        entries[index] = new
    return {"schema": SCHEMA_VERSION, "entries": entries}, True


# --- reveal -----------------------------------------------------------------------

def reveal(board: dict, private_results_dir: str | Path, competition: Competition,
           now: dt.datetime | None = None) -> tuple[dict, int]:
    """Merge private-split result.json files (searched recursively) after the final phase ended.

    A private result joins the entry with the same team/model/track whose
    content hash, dataset manifest and backbone match it; for several such
    results the newest evaluation wins. Results for unknown entries, other
    content or status != ok are skipped and reported on stderr. Returns
    ``(board, number of entries whose private scores changed)``.
    Refused before the deadline with E_REVEAL_EARLY.
    """
    now = _utc(now)
    if not competition.private_revealed(now):
        final = competition.final_phase
        raise EaselError("E_REVEAL_EARLY", f"the final phase '{final.name}' ends {iso_utc(final.ends)}; "
                         f"it is now {iso_utc(now)}", detail=final.name if _ID.match(final.name) else None)
    root = Path(private_results_dir)
    if not root.is_dir():
        raise EaselError("E_RESULT_SCHEMA", f"private results folder not found: {root}", detail="private-results")
    index = {entry_key(e): i for i, e in enumerate(board["entries"])}
    best: dict[int, tuple[dt.datetime, dict]] = {}
    for path in sorted(root.rglob("*.json")):
        result = load_result(path)
        name = path.relative_to(root).as_posix()
        sub = result["submission"]
        if result["split"] != "private" or result["status"] != "ok" or sub is None or result["backbone"] is None \
                or result["dataset"] is None:
            print(f"reveal: skipped {name} (not an ok private-split result)", file=sys.stderr)
            continue
        i = index.get((sub["team"], sub["model"], sub["track"]))
        if i is None:
            print(f"reveal: skipped {name} (no leaderboard entry for it)", file=sys.stderr)
            continue
        entry = board["entries"][i]
        field = "content_sha256" if entry["content_sha256"] != sub["content_sha256"] else _same_scoring(entry, result)
        if field:
            print(f"reveal: skipped {name} ({field} differs from the leaderboard entry)", file=sys.stderr)
            continue
        when = parse_time(result["created"])
        if i not in best or when > best[i][0]:
            best[i] = (when, result)
    entries, changed = list(board["entries"]), 0
    for i, (when, result) in sorted(best.items()):
        private = {"metrics": _metrics_copy(result["metrics"]), "extra": dict(result["extra"]),
                   "evaluated": iso_utc(when)}
        if entries[i]["private"] != private:
            entries[i] = {**entries[i], "private": private}
            changed += 1
    return {"schema": SCHEMA_VERSION, "entries": entries}, changed


# --- ranking ------------------------------------------------------------------------

@dataclass
class RankedEntry:
    """One row of a track's table.

    ``rank``: 1-based among participants (equal values share a rank); None
    for baselines and for entries without a score on the ranking split.
    ``position``: 0-based row order (score order, baselines included).
    ``metrics``/``extra``: the split that ranks (``split``). ``tied``: its
    interval overlaps the leader's (leader excluded). ``team_best``: best row
    of its team; ``team_entries``: how many rows the team has in the track.
    """

    entry: dict
    position: int
    rank: int | None
    split: str
    metrics: dict
    extra: dict
    value: float | None
    ci95: list | None
    leader: bool = False
    tied: bool = False
    team_best: bool = False
    team_entries: int = 1

    @property
    def baseline(self) -> bool:
        return bool(self.entry["baseline"])

    @property
    def scored(self) -> bool:
        return self.value is not None


def ranking_split(board: dict, competition: Competition, track_id: str, now: dt.datetime | None = None) -> str:
    """'private' once the final phase has ended and private scores were revealed for this track, else 'public'."""
    if not competition.private_revealed(_utc(now)):
        return "public"
    revealed = any(e["track"] == track_id and e["private"] is not None for e in board["entries"])
    return "private" if revealed else "public"


def track_entries(board: dict, track_id: str) -> list[dict]:
    return [e for e in board["entries"] if e["track"] == track_id]


def rank_track(board: dict, competition: Competition, track_id: str, now: dt.datetime | None = None,
               entries: list[dict] | None = None) -> list[RankedEntry]:
    """A track's rows in display order, ranked by its ranking metric and order.

    Public-split scores rank until the final phase ends; after that, once
    :func:`reveal` has filled private scores, the private split ranks and
    entries without one are listed last, unranked. Baselines are placed by
    score but get no rank number. Exact ties in value keep the earlier entry
    first. ``entries`` may pass the track's entries pre-filtered (speed).
    """
    from .scoring import mark_ties

    track = competition.track(track_id)
    metric, order = track.ranking.metric, track.ranking.order
    split = ranking_split(board, competition, track_id, now)
    rows = []
    for entry in entries if entries is not None else track_entries(board, track_id):
        scores = entry[split] if split == "private" else entry["public"]
        m = (scores or {}).get("metrics", {}).get(metric) if scores else None
        rows.append(RankedEntry(entry=entry, position=0, rank=None, split=split,
                                metrics=(scores or {}).get("metrics", {}), extra=(scores or {}).get("extra", {}),
                                value=None if m is None else float(m["value"]),
                                ci95=None if m is None or m["ci95"] is None else list(m["ci95"])))
    sign = 1.0 if order == "asc" else -1.0
    rows.sort(key=lambda r: (r.value is None, sign * r.value if r.value is not None else 0.0,
                             r.entry["added"], r.entry["team"], r.entry["model"]))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.entry["team"]] = counts.get(r.entry["team"], 0) + 1
    seen_teams: set[str] = set()
    rank, last_value, participants = 0, None, []
    for position, r in enumerate(rows):
        r.position = position
        r.team_entries = counts[r.entry["team"]]
        if r.scored and r.entry["team"] not in seen_teams:
            r.team_best = True
            seen_teams.add(r.entry["team"])
        if r.scored and not r.baseline:
            participants.append(r)
            rank = len(participants) if r.value != last_value else rank
            r.rank, last_value = rank, r.value
    if participants:
        participants[0].leader = True
        flags = mark_ties([{"value": r.value, "ci95": r.ci95} for r in participants], order)
        for r, flag in zip(participants, flags):
            r.tied = bool(flag) and not r.leader
    return rows


def format_value(value: float | None) -> str:
    """A metric value with 4 significant digits ('-' for none); scientific outside [1e-3, 1e4)."""
    if value is None:
        return "-"
    if value != 0 and not 1e-3 <= abs(value) < 1e4:
        return f"{value:.3e}"
    return f"{value:.4g}"


def format_interval(ci95: list | None) -> str:
    return "" if not ci95 else f"[{format_value(ci95[0])}, {format_value(ci95[1])}]"


def show_table(board: dict, competition: Competition, track_id: str | None = None,
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
            notes = [n for n, on in (("baseline", r.baseline), ("leader", r.leader), ("tied", r.tied),
                                     ("team best", r.team_best and r.team_entries > 1),
                                     ("no score", not r.scored)) if on]
            rank = str(r.rank) if r.rank is not None else "-"
            name = f"{r.entry['team']}/{r.entry['model']}"
            lines.append(f"{rank:>5}  {name:<40} {format_value(r.value):>12}  {format_interval(r.ci95):<26} "
                         f"{', '.join(notes)}".rstrip())
        if not rows:
            lines.append("  (no entries yet)")
        lines.append("")
    return "\n".join(lines)


# --- CLI -------------------------------------------------------------------------------

def _competition(args) -> Competition:
    return load_competition(args.competition or default_competition_path())


def _cmd_add(args) -> int:
    competition = _competition(args)
    result = load_result(args.result_json)
    meta = None
    _result_identity(result)
    if args.data:
        check_data_binding(result, args.data)
    if args.submission:
        from .submission import read_meta

        # Binding first: metadata is read only from the exact files that were scored.
        check_submission_binding(result, args.submission)
        parsed, problems = read_meta(Path(args.submission))
        if parsed is None:
            raise problems[0]
        meta = parsed.public_meta()
    board = load_leaderboard(args.leaderboard, missing_ok=True)
    board, changed = add_result(board, result, args.pr, args.commit, meta=meta, competition=competition,
                                submission_dir=args.submission, data_root=args.data)
    sub = result["submission"]
    name = f"{sub['team']}/{sub['model']} ({sub['track']})"
    if changed:
        save_leaderboard(args.leaderboard, board)
        print(f"leaderboard: recorded {name} in {args.leaderboard}")
    else:
        print(f"leaderboard: {name} unchanged (same or older evaluation already recorded)")
    return 0


def _cmd_reveal(args) -> int:
    competition = _competition(args)
    board = load_leaderboard(args.leaderboard)
    board, changed = reveal(board, args.private_results, competition)
    if changed:
        save_leaderboard(args.leaderboard, board)
    print(f"leaderboard: private scores merged for {changed} entr{'y' if changed == 1 else 'ies'}")
    return 0


def _cmd_show(args) -> int:
    competition = _competition(args)
    board = load_leaderboard(args.leaderboard)
    if args.track:
        competition.track(args.track)
    print(show_table(board, competition, args.track), end="")
    return 0


def register(subparsers) -> None:
    """`easel leaderboard add | reveal | show`."""
    sub = command_group(subparsers, "leaderboard", "add results to leaderboard.yaml, reveal private scores, show it")

    def common(q):
        q.add_argument("--leaderboard", type=Path, default=Path("leaderboard.yaml"), help="leaderboard file")
        q.add_argument("--competition", type=Path, default=None, help="competition.yaml (default: ./ or the repo's)")

    add = sub.add_parser("add", help="record a public-split result.json (idempotent)")
    add.add_argument("result_json", type=Path, metavar="RESULT_JSON")
    add.add_argument("--pr", type=int, required=True, help="pull request number")
    add.add_argument("--commit", required=True, help="merged commit SHA (40 hex)")
    add.add_argument("--submission", type=Path, default=None,
                     help="merged submission directory: its hash must match the result; metadata comes from it")
    add.add_argument("--data", type=Path, default=None,
                     help="dataset root: ROOT/<dataset>/manifest.json must match the result's manifest")
    common(add)
    add.set_defaults(func=_cmd_add)

    rev = sub.add_parser("reveal", help="merge private-split results after the final phase ended")
    rev.add_argument("--private-results", type=Path, required=True, metavar="DIR")
    common(rev)
    rev.set_defaults(func=_cmd_reveal)

    show = sub.add_parser("show", help="print the ranked tables")
    show.add_argument("--track", default=None, help="only this track id")
    common(show)
    show.set_defaults(func=_cmd_show)
