"""leaderboard.yaml's schema: its keys, their checks and the typed records every reader gets.

:meth:`Board.from_json` is the one check of the file (``yamlio.load_leaderboard`` calls it where the
file is read); inside the process a frozen :class:`Board` of frozen :class:`Entry` values travels
(updates build new ones with ``dataclasses.replace``), and :meth:`Board.to_json` gives the document
back: the writer dumps it, so the file's bytes depend on it.

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
      backbone: {id, weights_sha256, resize, offline_standin}   # the primary (ranking metric's) backbone
      backbones*: [{id, weights_sha256, resize, offline_standin}]  # every backbone, written when more than one
      meta: {authors: [str], description: str, license: str, links: {name: url}}  # untrusted text
      public: {metrics: {name: {value, ci95, order, n, backbones*: [id]}}, extra: {...}, efficiency: {...} | null,
               evaluated: ISO UTC, evaluator*: version | null}
      private: {metrics, extra, evaluated, evaluator*} | null   # filled only by `reveal`
      history*: [{evaluated, evaluator, backbone, dataset, metrics}]  # earlier public results, newest first
    revealed*: {at: ISO UTC, evaluator: version}                 # set by the first `reveal` that merged scores
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Mapping

from ..result import (EFFICIENCY_FIELDS, BackboneRef, DatasetRef, Efficiency, Metric, Result, check_backbones,
                      check_extra, check_metric_backbones, check_metrics, device_label, metrics_json)
from ..schema import Checker, is_number, parse_time
from ..vocab import DEVICE_LABEL_RE, EASEL_VERSION_RE, HEX40_RE, HEX64_RE, ID_RE

SCHEMA_VERSION = 1
MAX_BOARD_BYTES = 512 << 20  # 10,000 entries take ~15 MB; this only stops absurd files
EFFICIENCY_KEYS = EFFICIENCY_FIELDS  # the result's own figures (evaluator/result.py)
ENTRY_KEYS = ("team", "model", "track", "baseline", "oracle", "final", "local", "pr", "commit", "added",
              "content_sha256", "dataset", "backbone", "backbones", "meta", "public", "private", "history")
OPTIONAL_ENTRY_KEYS = {"oracle": False, "final": False, "local": False, "backbones": [], "history": []}
ORACLE_TEAM, ORACLE_MODEL = "oracle", "ideal"  # docs/contracts.md: the reserved identity of oracle rows

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


# --- the entry record -----------------------------------------------------------------

@dataclass(frozen=True)
class Meta:
    """Participant metadata from submission.yaml: untrusted text, stored length-limited, escaped on render."""

    authors: tuple[str, ...] = ()
    description: str = ""
    license: str = ""
    links: tuple[tuple[str, str], ...] = ()

    @classmethod
    def check(cls, c: Checker, raw: Any, path: str) -> "Meta":
        c.mapping(raw, path, ("authors", "description", "license", "links"))
        authors = c.sequence(raw["authors"], f"{path}.authors", MAX_ITEMS)
        for i, name in enumerate(authors):
            c.text(name, f"{path}.authors[{i}]", MAX_SHORT, least=0)
        links = raw["links"]
        if not isinstance(links, dict) or len(links) > MAX_ITEMS:
            c.fail(f"{path}.links", f"a mapping of at most {MAX_ITEMS} links", links)
        for name, url in links.items():
            c.text(name, f"{path}.links", MAX_SHORT, least=0)
            c.text(url, f"{path}.links", MAX_SHORT * 5, least=0)
        return cls(authors=tuple(authors),
                   description=c.text(raw["description"], f"{path}.description", MAX_TEXT, least=0),
                   license=c.text(raw["license"], f"{path}.license", MAX_SHORT, least=0),
                   links=tuple(links.items()))

    @classmethod
    def clean(cls, meta: dict | None) -> "Meta":
        """Participant metadata (submission.yaml's public part) cut to the stored shape and lengths.

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
        return cls(authors=tuple(str(a)[:MAX_SHORT] for a in list(authors)[:MAX_ITEMS]),
                   description=str(meta.get("description") or "")[:MAX_TEXT],
                   license=str(meta.get("license") or "")[:MAX_SHORT],
                   links=tuple((str(k)[:MAX_SHORT], str(v)[:MAX_SHORT * 5])
                               for k, v in list(links.items())[:MAX_ITEMS]))

    def to_json(self) -> dict:
        return {"authors": list(self.authors), "description": self.description, "license": self.license,
                "links": dict(self.links)}


@dataclass(frozen=True)
class Scores:
    """An entry's scores on one split: the result's metrics and extra (the same records as in
    result.json), its efficiency (public split only) with the device as one line, when it was
    evaluated and by which Easel version (None: not recorded)."""

    metrics: Mapping[str, Metric]
    extra: Mapping[str, Any]
    evaluated: str
    evaluator: str | None
    efficiency: Efficiency | None = None
    device: str | None = None  # Device.label of the efficiency figures

    @classmethod
    def check(cls, c: Checker, raw: Any, path: str, public: bool) -> "Scores":
        keys = ("metrics", "extra", "efficiency", "evaluated") if public else ("metrics", "extra", "evaluated")
        c.mapping(raw, path, keys, ("evaluator",))
        metrics = check_metrics(c, raw["metrics"], f"{path}.metrics")
        extra = check_extra(c, raw["extra"], f"{path}.extra")
        efficiency = device = None
        if public and raw["efficiency"] is not None:
            where = f"{path}.efficiency"
            eff = raw["efficiency"]
            c.mapping(eff, where, (), EFFICIENCY_FIELDS + ("device",))
            for key, value in eff.items():
                if key != "device" and value is not None and not is_number(value):
                    c.fail(f"{where}.{key}", "a number or null", value)
            device = eff.get("device")
            if device is not None:
                c.match(device, f"{where}.device", DEVICE_LABEL_RE, "a short device description")
            efficiency = Efficiency(**Efficiency.check_figures(c, eff, where))
        return cls(metrics=metrics, extra=extra, efficiency=efficiency, device=device,
                   evaluated=_when(c, raw["evaluated"], f"{path}.evaluated"),
                   evaluator=_version(c, raw.get("evaluator"), f"{path}.evaluator"))

    @classmethod
    def of_result(cls, result: Result, public: bool) -> "Scores":
        """The scores a checked result puts on the board (``evaluated`` = the result's ``created``)."""
        eff = result.efficiency if public else None
        return cls(metrics=dict(result.metrics), extra=dict(result.extra),
                   evaluated=iso_utc(parse_time(result.created)), evaluator=result.evaluator.version, efficiency=eff and Efficiency(**eff.figures_json()),
                   device=eff and device_label(eff.device))

    def efficiency_json(self) -> dict | None:
        """The stored ``efficiency``: the figures and the device line, or None when not measured."""
        return None if self.efficiency is None else {**self.efficiency.figures_json(), "device": self.device}

    def to_json(self, public: bool) -> dict:
        out = {"metrics": metrics_json(self.metrics), "extra": dict(self.extra)}
        if public:
            out["efficiency"] = self.efficiency_json()
        out.update(evaluated=self.evaluated, evaluator=self.evaluator)
        return out


@dataclass(frozen=True)
class EarlierScores:
    """One earlier public result of the same files, kept in an entry's ``history`` (newest first)."""

    evaluated: str
    evaluator: str | None
    backbone: BackboneRef
    dataset: DatasetRef
    metrics: Mapping[str, Metric]

    @classmethod
    def check(cls, c: Checker, raw: Any, path: str) -> "EarlierScores":
        c.mapping(raw, path, ("evaluated", "evaluator", "backbone", "dataset", "metrics"))
        return cls(evaluated=_when(c, raw["evaluated"], f"{path}.evaluated"),
                   evaluator=_version(c, raw["evaluator"], f"{path}.evaluator"),
                   backbone=BackboneRef.check(c, raw["backbone"], f"{path}.backbone"),
                   dataset=DatasetRef.check(c, raw["dataset"], f"{path}.dataset", with_n_inputs=False),
                   metrics=check_metrics(c, raw["metrics"], f"{path}.metrics"))

    def to_json(self) -> dict:
        return {"evaluated": self.evaluated, "evaluator": self.evaluator, "backbone": self.backbone.to_json(),
                "dataset": self.dataset.to_json(), "metrics": metrics_json(self.metrics)}


@dataclass(frozen=True)
class Entry:
    """One leaderboard entry: who, what was merged (PR, commit, content hash), how it was scored
    (dataset, backbone) and its scores; see the module docstring for the file's shape."""

    team: str
    model: str
    track: str
    baseline: bool
    pr: int | None
    commit: str | None
    added: str
    content_sha256: str
    dataset: DatasetRef
    backbone: BackboneRef
    meta: Meta
    public: Scores
    private: Scores | None = None
    history: tuple[EarlierScores, ...] = ()
    backbones: tuple[BackboneRef, ...] = ()  # every backbone when the metrics used more than ``backbone``
    oracle: bool = False
    final: bool = False
    local: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        """(team, model, track): one entry per key."""
        return self.team, self.model, self.track

    @property
    def participant(self) -> bool:
        """A participant's entry: neither a baseline nor the oracle row."""
        return not self.baseline and not self.oracle

    def scores(self, split: str) -> Scores | None:
        """The scores on ``split`` ('public' or 'private'; None: no private scores yet)."""
        return self.public if split == "public" else self.private if split == "private" else None

    @property
    def all_backbones(self) -> tuple[BackboneRef, ...]:
        """Every backbone record, the primary first (just ``backbone`` for an entry of one backbone)."""
        return tuple(sorted(self.backbones, key=lambda b: b != self.backbone)) if self.backbones else \
            (self.backbone,)

    @classmethod
    def check(cls, c: Checker, raw: Any, p: str) -> "Entry":
        required = tuple(k for k in ENTRY_KEYS if k not in OPTIONAL_ENTRY_KEYS)
        c.mapping(raw, p, required, tuple(OPTIONAL_ENTRY_KEYS))
        pr = c.count(raw["pr"], f"{p}.pr", least=1, allow_null=True)
        if raw["commit"] is not None:
            c.match(raw["commit"], f"{p}.commit", HEX40_RE, "a 40-hex commit SHA or null")
        flags = {key: c.boolean(raw.get(key, False), f"{p}.{key}") for key in ("oracle", "final", "local")}
        history = c.sequence(raw.get("history", []), f"{p}.history", MAX_HISTORY)
        entry = cls(
            team=c.match(raw["team"], f"{p}.team", ID_RE, _SAFE_ID),
            model=c.match(raw["model"], f"{p}.model", ID_RE, _SAFE_ID),
            track=c.match(raw["track"], f"{p}.track", ID_RE, "a track id (lowercase letters, digits, '-', '_')"),
            baseline=c.boolean(raw["baseline"], f"{p}.baseline"), **flags, pr=pr, commit=raw["commit"],
            added=_when(c, raw["added"], f"{p}.added"),
            content_sha256=c.match(raw["content_sha256"], f"{p}.content_sha256", HEX64_RE, _HEX),
            dataset=DatasetRef.check(c, raw["dataset"], f"{p}.dataset", with_n_inputs=False),
            backbone=BackboneRef.check(c, raw["backbone"], f"{p}.backbone"),
            meta=Meta.check(c, raw["meta"], f"{p}.meta"),
            public=Scores.check(c, raw["public"], f"{p}.public", public=True),
            private=None if raw["private"] is None else Scores.check(c, raw["private"], f"{p}.private",
                                                                     public=False),
            history=tuple(EarlierScores.check(c, item, f"{p}.history[{i}]") for i, item in enumerate(history)),
            backbones=check_backbones(c, raw.get("backbones", []), f"{p}.backbones"),
        )
        for scores in (entry.public, entry.private):
            if scores is not None:
                check_metric_backbones(c, scores.metrics, entry.backbone, entry.backbones or None, f"{p}.backbones")
        if entry.oracle and (entry.team, entry.model, entry.baseline) != (ORACLE_TEAM, ORACLE_MODEL, True):
            c.fail(f"{p}.oracle", f"true only for the baseline {ORACLE_TEAM}/{ORACLE_MODEL}", True)
        return entry

    @classmethod
    def from_json(cls, raw: Any, source: str = "leaderboard.yaml", path: str = "entry") -> "Entry":
        return cls.check(Checker(source, "E_LEADERBOARD"), raw, path)

    def to_json(self) -> dict:
        """The entry as stored, in the file's fixed key order."""
        return {"team": self.team, "model": self.model, "track": self.track, "baseline": self.baseline,
                "oracle": self.oracle, "final": self.final, "local": self.local, "pr": self.pr,
                "commit": self.commit, "added": self.added, "content_sha256": self.content_sha256,
                "dataset": self.dataset.to_json(), "backbone": self.backbone.to_json(),
                **({"backbones": [b.to_json() for b in self.backbones]} if self.backbones else {}),
                "meta": self.meta.to_json(), "public": self.public.to_json(public=True),
                "private": None if self.private is None else self.private.to_json(public=False),
                "history": [h.to_json() for h in self.history]}


def _when(c: Checker, value: Any, path: str) -> str:
    return iso_utc(c.time(value, path))


def _version(c: Checker, value: Any, path: str) -> str | None:
    return None if value is None else c.match(value, path, EASEL_VERSION_RE, "an Easel version such as 0.1.0")


@dataclass(frozen=True)
class Revealed:
    """When the first ``reveal`` that merged private scores ran, and which Easel version ran it."""

    at: str
    evaluator: str

    @classmethod
    def check(cls, c: Checker, raw: Any, path: str = "revealed") -> "Revealed":
        c.mapping(raw, path, ("at", "evaluator"))
        return cls(at=_when(c, raw["at"], f"{path}.at"),
                   evaluator=c.match(raw["evaluator"], f"{path}.evaluator", EASEL_VERSION_RE,
                                     "an Easel version such as 0.1.0"))

    def to_json(self) -> dict:
        return {"at": self.at, "evaluator": self.evaluator}


@dataclass(frozen=True)
class Board:
    """leaderboard.yaml, checked: its entries in file order (one per team/model/track) and the reveal
    record (None until the first reveal). Frozen: updates build a new board (``dataclasses.replace``)."""

    entries: tuple[Entry, ...] = ()
    revealed: Revealed | None = None
    schema: int = SCHEMA_VERSION

    @classmethod
    def from_json(cls, raw: Any, source: str = "leaderboard.yaml") -> "Board":
        """Check a parsed leaderboard (untrusted: anyone may edit the file in a pull request) and return the
        record; times become UTC ``...Z`` text and absent optional keys their defaults.

        Raises EaselError("E_LEADERBOARD", "leaderboard.yaml: entries[3].track: expected ...").
        """
        check = Checker(source, "E_LEADERBOARD")
        top = check.mapping(raw, "", ("schema", "entries"), ("revealed",))
        if top["schema"] != SCHEMA_VERSION:
            check.fail("schema", str(SCHEMA_VERSION), top["schema"])
        if not isinstance(top["entries"], list):
            check.fail("entries", "a list", top["entries"])
        entries, seen = [], {}
        for i, raw_entry in enumerate(top["entries"]):
            entry = Entry.check(check, raw_entry, f"entries[{i}]")
            if entry.key in seen:
                check.fail(f"entries[{i}]", f"one entry per team/model/track (entries[{seen[entry.key]}] has the "
                           "same)", "/".join(entry.key))
            seen[entry.key] = i
            entries.append(entry)
        revealed = top.get("revealed")
        return cls(entries=tuple(entries), revealed=None if revealed is None else Revealed.check(check, revealed))

    def to_json(self) -> dict:
        """The file's document: ``schema``, ``entries`` in the file's key order, ``revealed`` once set."""
        out = {"schema": self.schema, "entries": [e.to_json() for e in self.entries]}
        if self.revealed is not None:
            out["revealed"] = self.revealed.to_json()  # absent until the first reveal
        return out

    def index(self, key: tuple[str, str, str]) -> int | None:
        """Position of the entry with ``key`` (team, model, track), None when there is none."""
        return next((i for i, e in enumerate(self.entries) if e.key == key), None)

    def track(self, track_id: str) -> list[Entry]:
        """The entries of one track, in board order."""
        return [e for e in self.entries if e.track == track_id]


def empty_board() -> Board:
    """A leaderboard with no entries (what a fresh competition repository holds)."""
    return Board()


def validate_board(raw: Any, source: str = "leaderboard.yaml") -> Board:
    """Schema-check a parsed leaderboard: :meth:`Board.from_json`."""
    return Board.from_json(raw, source)


__all__ = ["SCHEMA_VERSION", "EFFICIENCY_KEYS", "ENTRY_KEYS", "Board", "EarlierScores", "Entry", "Meta", "Revealed",
           "Scores", "empty_board", "iso_utc", "parse_time", "utc", "validate_board"]
