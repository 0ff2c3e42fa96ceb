"""leaderboard.yaml's schema: its keys, their checks and the normalized form every reader gets.

Schema 1 (keys marked * were added later; files without them still load, with the default shown)::

    schema: 1
    entries:
    - team, model, track: ids;  baseline: bool;  pr: int | null;  commit: 40-hex | null
      oracle*: bool (false)     # the ideal output of a synthesized dev track: shown, never ranked
      final*: bool (false)      # submission.yaml `final: true`: counts for the private ranking
      local*: bool (false)      # added without PR and commit (a local trial)
      added: ISO UTC (when the entry, or this version of it, entered the board)
      content_sha256: hex64                      # tree_sha256 of the submission directory
      dataset: {id, manifest_sha256}
      backbone: {id, weights_sha256, resize, offline_standin}
      meta: {authors: [str], description: str, license: str, links: {name: url}}  # untrusted text
      public: {metrics: {name: {value, ci95, order, n}}, extra: {...}, efficiency: {...} | null,
               evaluated: ISO UTC, evaluator*: version | null}
      private: {metrics, extra, evaluated, evaluator*} | null   # filled only by `reveal`
      history*: [{evaluated, evaluator, backbone, dataset, metrics}]  # earlier public results, newest first
    revealed*: {at: ISO UTC, evaluator: version}                 # set by the first `reveal` that merged scores
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..schema import Checker, is_number, parse_time
from ..vocab import (BACKBONE_RE, DEVICE_LABEL_RE, EASEL_VERSION_RE, HEX40_RE, HEX64_RE, ID_RE, METRIC_RE, ORDERS,
                     RESIZE_MODES)

SCHEMA_VERSION = 1
MAX_BOARD_BYTES = 512 << 20  # 10,000 entries take ~15 MB; this only stops absurd files
EFFICIENCY_KEYS = ("images_per_s", "best_batch_size", "latency_ms_batch1", "parameters", "model_bytes")
ENTRY_KEYS = ("team", "model", "track", "baseline", "oracle", "final", "local", "pr", "commit", "added",
              "content_sha256", "dataset", "backbone", "meta", "public", "private", "history")
OPTIONAL_ENTRY_KEYS = {"oracle": False, "final": False, "local": False, "history": []}
ORACLE_TEAM, ORACLE_MODEL = "oracle", "ideal"  # CONTRACTS.md: the reserved identity of oracle rows

# Untrusted metadata is stored length-limited; the site escapes it on render.
MAX_TEXT = 2000
MAX_SHORT = 200
MAX_ITEMS = 20
MAX_HISTORY = 20    # earlier results kept per entry (re-scorings are rare; this bounds the file)
_SAFE_ID = "a safe id (lowercase letters, digits, '-', '_')"
_HEX = "a sha256 hex digest"


# --- time ----------------------------------------------------------------------

def utc(when: dt.datetime | None = None) -> dt.datetime:
    """``when`` (now by default) as an aware UTC datetime (naive means UTC)."""
    when = when or dt.datetime.now(dt.timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc)


def iso_utc(when: dt.datetime | None = None) -> str:
    """``when`` (now by default) as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return utc(when).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def empty_board() -> dict:
    """A leaderboard with no entries (what a fresh competition repository holds)."""
    return {"schema": SCHEMA_VERSION, "entries": [], "revealed": None}


def make_entry(**fields: Any) -> dict:
    """An entry dict in the file's fixed key order (optional keys take their defaults)."""
    return {key: fields[key] if key in fields else _default(key) for key in ENTRY_KEYS}


def _default(key: str) -> Any:
    value = OPTIONAL_ENTRY_KEYS[key]
    return list(value) if isinstance(value, list) else value


def entry_key(entry: dict) -> tuple[str, str, str]:
    """(team, model, track): one entry per key."""
    return entry["team"], entry["model"], entry["track"]


# --- check on load -----------------------------------------------------------------

class BoardChecker(Checker):
    """The shared schema kit plus the leaderboard's composite shapes; failures are E_LEADERBOARD."""

    def __init__(self, source: str):
        super().__init__(source, "E_LEADERBOARD")

    def when(self, value: Any, path: str) -> str:
        return iso_utc(self.time(value, path))

    def sha(self, value: Any, path: str) -> str:
        return self.match(value, path, HEX64_RE, _HEX)

    def version(self, value: Any, path: str) -> str | None:
        if value is None:
            return None
        return self.match(value, path, EASEL_VERSION_RE, "an Easel version such as 0.1.0")

    def metrics(self, value: Any, path: str) -> dict:
        if not isinstance(value, dict) or len(value) > 50:
            self.fail(path, "a mapping of at most 50 metrics", value)
        out = {}
        for name, m in value.items():
            p = f"{path}.{name}" if isinstance(name, str) and METRIC_RE.match(name) else path
            self.match(name, p, METRIC_RE, "metric names of lowercase letters, digits and '_'")
            self.mapping(m, p, ("value", "ci95", "order", "n"))
            ci = m["ci95"]
            if ci is not None and not (isinstance(ci, list) and len(ci) == 2 and all(map(is_number, ci))):
                self.fail(f"{p}.ci95", "null or [lo, hi]", ci)
            out[name] = {"value": self.number(m["value"], f"{p}.value"),
                         "ci95": None if ci is None else [ci[0], ci[1]],
                         "order": self.choice(m["order"], f"{p}.order", ORDERS), "n": self.count(m["n"], f"{p}.n")}
        return out

    def extra(self, value: Any, path: str) -> dict:
        if not isinstance(value, dict) or len(value) > MAX_ITEMS:
            self.fail(path, f"a mapping of at most {MAX_ITEMS} values", value)
        for name, v in value.items():
            self.match(name, path, METRIC_RE, "names of lowercase letters, digits and '_'")
            if not (v is None or isinstance(v, bool) or is_number(v)):
                self.fail(f"{path}.{name}", "a number, a boolean or null", v)
        return dict(value)

    def efficiency(self, value: Any, path: str) -> dict | None:
        if value is None:
            return None
        self.mapping(value, path, (), EFFICIENCY_KEYS + ("device",))
        for key, v in value.items():
            if key == "device":
                if v is not None:
                    self.match(v, f"{path}.device", DEVICE_LABEL_RE, "a short device description")
            elif v is not None and not is_number(v):
                self.fail(f"{path}.{key}", "a number or null", v)
        return {key: value[key] for key in EFFICIENCY_KEYS + ("device",) if key in value}

    def meta(self, value: Any, path: str) -> dict:
        self.mapping(value, path, ("authors", "description", "license", "links"))
        authors = self.sequence(value["authors"], f"{path}.authors", MAX_ITEMS)
        for i, name in enumerate(authors):
            self.text(name, f"{path}.authors[{i}]", MAX_SHORT, least=0)
        links = value["links"]
        if not isinstance(links, dict) or len(links) > MAX_ITEMS:
            self.fail(f"{path}.links", f"a mapping of at most {MAX_ITEMS} links", links)
        for name, url in links.items():
            self.text(name, f"{path}.links", MAX_SHORT, least=0)
            self.text(url, f"{path}.links", MAX_SHORT * 5, least=0)
        return {"authors": list(authors),
                "description": self.text(value["description"], f"{path}.description", MAX_TEXT, least=0),
                "license": self.text(value["license"], f"{path}.license", MAX_SHORT, least=0),
                "links": dict(links)}

    def dataset(self, value: Any, path: str) -> dict:
        self.mapping(value, path, ("id", "manifest_sha256"))
        return {"id": self.match(value["id"], f"{path}.id", ID_RE, "a dataset id"),
                "manifest_sha256": self.sha(value["manifest_sha256"], f"{path}.manifest_sha256")}

    def backbone(self, value: Any, path: str) -> dict:
        self.mapping(value, path, ("id", "weights_sha256", "resize", "offline_standin"))
        return {"id": self.match(value["id"], f"{path}.id", BACKBONE_RE, "a backbone id"),
                "weights_sha256": self.sha(value["weights_sha256"], f"{path}.weights_sha256"),
                "resize": self.choice(value["resize"], f"{path}.resize", RESIZE_MODES),
                "offline_standin": self.boolean(value["offline_standin"], f"{path}.offline_standin")}

    def public(self, value: Any, path: str) -> dict:
        self.mapping(value, path, ("metrics", "extra", "efficiency", "evaluated"), ("evaluator",))
        return {"metrics": self.metrics(value["metrics"], f"{path}.metrics"),
                "extra": self.extra(value["extra"], f"{path}.extra"),
                "efficiency": self.efficiency(value["efficiency"], f"{path}.efficiency"),
                "evaluated": self.when(value["evaluated"], f"{path}.evaluated"),
                "evaluator": self.version(value.get("evaluator"), f"{path}.evaluator")}

    def private(self, value: Any, path: str) -> dict | None:
        if value is None:
            return None
        self.mapping(value, path, ("metrics", "extra", "evaluated"), ("evaluator",))
        return {"metrics": self.metrics(value["metrics"], f"{path}.metrics"),
                "extra": self.extra(value["extra"], f"{path}.extra"),
                "evaluated": self.when(value["evaluated"], f"{path}.evaluated"),
                "evaluator": self.version(value.get("evaluator"), f"{path}.evaluator")}

    def history(self, value: Any, path: str) -> list[dict]:
        out = []
        for i, item in enumerate(self.sequence(value, path, MAX_HISTORY)):
            p = f"{path}[{i}]"
            self.mapping(item, p, ("evaluated", "evaluator", "backbone", "dataset", "metrics"))
            out.append({"evaluated": self.when(item["evaluated"], f"{p}.evaluated"),
                        "evaluator": self.version(item["evaluator"], f"{p}.evaluator"),
                        "backbone": self.backbone(item["backbone"], f"{p}.backbone"),
                        "dataset": self.dataset(item["dataset"], f"{p}.dataset"),
                        "metrics": self.metrics(item["metrics"], f"{p}.metrics")})
        return out

    def entry(self, raw: Any, p: str) -> dict:
        required = tuple(k for k in ENTRY_KEYS if k not in OPTIONAL_ENTRY_KEYS)
        self.mapping(raw, p, required, tuple(OPTIONAL_ENTRY_KEYS))
        pr = self.count(raw["pr"], f"{p}.pr", least=1, allow_null=True)
        if raw["commit"] is not None:
            self.match(raw["commit"], f"{p}.commit", HEX40_RE, "a 40-hex commit SHA or null")
        flags = {key: self.boolean(raw.get(key, False), f"{p}.{key}") for key in ("oracle", "final", "local")}
        entry = make_entry(
            team=self.match(raw["team"], f"{p}.team", ID_RE, _SAFE_ID),
            model=self.match(raw["model"], f"{p}.model", ID_RE, _SAFE_ID),
            track=self.match(raw["track"], f"{p}.track", ID_RE, "a track id (lowercase letters, digits, '-', '_')"),
            baseline=self.boolean(raw["baseline"], f"{p}.baseline"), **flags, pr=pr, commit=raw["commit"],
            added=self.when(raw["added"], f"{p}.added"),
            content_sha256=self.sha(raw["content_sha256"], f"{p}.content_sha256"),
            dataset=self.dataset(raw["dataset"], f"{p}.dataset"),
            backbone=self.backbone(raw["backbone"], f"{p}.backbone"),
            meta=self.meta(raw["meta"], f"{p}.meta"),
            public=self.public(raw["public"], f"{p}.public"),
            private=self.private(raw["private"], f"{p}.private"),
            history=self.history(raw.get("history", []), f"{p}.history"),
        )
        if entry["oracle"] and (entry["team"], entry["model"], entry["baseline"]) != (ORACLE_TEAM, ORACLE_MODEL, True):
            self.fail(f"{p}.oracle", f"true only for the baseline {ORACLE_TEAM}/{ORACLE_MODEL}", True)
        return entry


def validate_board(raw: Any, source: str = "leaderboard.yaml") -> dict:
    """Schema-check a parsed leaderboard and return it normalized (fixed key order, UTC times, defaults).

    Raises EaselError("E_LEADERBOARD", "leaderboard.yaml: entries[3].track: expected ...").
    """
    check = BoardChecker(source)
    top = check.mapping(raw, "", ("schema", "entries"), ("revealed",))
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
    revealed = top.get("revealed")
    if revealed is not None:
        check.mapping(revealed, "revealed", ("at", "evaluator"))
        revealed = {"at": check.when(revealed["at"], "revealed.at"),
                    "evaluator": check.match(revealed["evaluator"], "revealed.evaluator", EASEL_VERSION_RE,
                                             "an Easel version such as 0.1.0")}
    return {"schema": SCHEMA_VERSION, "entries": entries, "revealed": revealed}


__all__ = ["SCHEMA_VERSION", "EFFICIENCY_KEYS", "ENTRY_KEYS", "empty_board", "entry_key", "iso_utc", "make_entry",
           "parse_time", "utc", "validate_board"]
