"""result.json: the evaluator's output, as one typed record, and its one schema check.

A result travels from the GPU runner to the comment job and the publish job as
untrusted data. :meth:`Result.from_json` is the one place it is checked: every
reader goes through it (``Result.load(path)`` for a file), once, where the file
is read; inside the process the checked :class:`Result` object travels, and
:meth:`Result.to_json` gives the document back (the writers' bytes depend on it).

Schema 1::

    {
      "schema": 1,
      "status": "ok" | "invalid" | "error",
      "errors": [{"code": "E_...", "message": str, "hint": str, "detail": str | null,
                  "facts": {name: int | float | bool | id | shape}}],   # facts optional (error_text.py)
      "submission": {"team": id, "model": id, "track": id, "baseline": bool,
                     "format": "saved_model" | "keras" | "onnx" | null,
                     "content_sha256": hex64 | null,
                     "pr": int | null, "commit": hex40 | null},   # pr, commit optional
      "track": {"id": id, "kind": str, "ranking": {"metric": str, "order": "asc" | "desc"}} | null,
      "split": "public" | "private" | "all",
      "dataset": {"id": id, "manifest_sha256": hex64, "n_inputs": int} | null,
      "backbone": {"id": str, "weights_sha256": hex64, "resize": str, "offline_standin": bool} | null,
                                      # the primary backbone: the ranking metric's (else the first used)
      "backbones": [{"id", "weights_sha256", "resize", "offline_standin"}]   # optional: every backbone used
      "metrics": {name: {"value": float, "ci95": [lo, hi] | null, "order": "asc" | "desc", "n": int,
                         "backbones": [backbone id]}},   # optional: the backbones the value comes from
      "extra": {name: value}          # e.g. memorization flag and distance
      "notes": [code]                 # optional: allowlisted hints about the run (NOTE_CODES)
      "efficiency": {"images_per_s": float, "best_batch_size": int, "latency_ms_batch1": float,
                     "parameters": int, "model_bytes": int,
                     "device": {"kind": "gpu" | "cpu", "name": str, "cores": int | null,   # optional
                                "tensorflow": str, "cuda": str | null, "cudnn": str | null}} | null,
      "evaluator": {"version": Easel version (vocab.EASEL_VERSION_RE), "seconds": float >= 0},
      "created": ISO-8601 UTC time, at most CLOCK_SKEW after the time of reading,
    }

Keys added after schema 1 first shipped are optional, so older files still validate.
The sub-records :class:`Metric`, :class:`Efficiency`, :class:`DatasetRef` and
:class:`BackboneRef` are also the leaderboard entry's (evaluator/leaderboard/schema.py):
one schema for each, wherever it is stored.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping

from . import __version__
from .binding import Binding
from .error_text import fact_problem
from .errors import EaselError
from .schema import Checker, is_number
from .models import MODEL_FORMATS
from .vocab import (BACKBONE_RE, BACKBONE_RESIZES, DEVICE_KINDS, DEVICE_NAME_RE, EASEL_VERSION_RE, ERROR_CODE_RE,
                    HEX64_RE, ID_RE, METRIC_RE, ONNX_PROVIDER_RE, ORDERS, TRACK_KINDS, VERSION_RE)

SCHEMA_VERSION = 1
STATUSES = ("ok", "invalid", "error")
SPLITS = ("public", "private", "all")
MAX_RESULT_BYTES = 1 << 20
SOURCE = "result.json"
# Hints about a run, by code; the comment renders its own sentence for each (evaluator/report.py).
NOTE_CODES = ("output_range_0_1",)
_TOP = ("schema", "status", "errors", "submission", "track", "split", "dataset", "backbone", "metrics", "extra",
        "efficiency", "evaluator", "created")
EFFICIENCY_FIELDS = ("images_per_s", "best_batch_size", "latency_ms_batch1", "parameters", "model_bytes")
MAX_METRICS = 50
MAX_BACKBONES = 8  # backbones one result may name (a track's metrics rarely need more than three)
MAX_EXTRA = 20
_SHORT = 500  # error message and hint
# How far a result's `created` may lie ahead of the reader's clock: the GPU runner and the hosted jobs
# reading its result keep NTP time, so minutes cover any honest drift. A later time is refused: the
# leaderboard keeps the newest evaluation of a submission, so a far-future one would freeze its entry.
CLOCK_SKEW = dt.timedelta(minutes=5)
_HEX = "a sha256 hex digest"


# --- sub-records (shared with the leaderboard entry) ------------------------------

def check_backbone_ids(c: Checker, raw: Any, path: str) -> tuple[str, ...]:
    """A metric's ``backbones``: at most MAX_BACKBONES backbone ids."""
    c.sequence(raw, path, most=MAX_BACKBONES)
    return tuple(c.match(b, f"{path}[{i}]", BACKBONE_RE, "a backbone id") for i, b in enumerate(raw))


@dataclass(frozen=True)
class Metric:
    """One metric's score: ``value``, its 95% bootstrap interval ``ci95`` (lo, hi) or None,
    the metric's ``order`` (asc: lower is better) and ``n``, the images it was computed on.

    A field added later (say a per-metric backbone identity) is optional: give it a
    default of None and put its check in :attr:`OPTIONAL` (``name: check(checker, value,
    path) -> value``, e.g. ``BackboneRef.check``); it is read and checked with the others,
    written only when set (through its ``to_json`` if it has one), so files without it keep
    their bytes. The leaderboard entry stores metrics through this record too.
    """

    value: float
    ci95: tuple[float, float] | None
    order: str
    n: int
    # The ids of the backbones the value was computed on ([] for pixel metrics such as PSNR);
    # None: not recorded (results from before metrics had their own backbones).
    backbones: tuple[str, ...] | None = None
    KEYS: ClassVar[tuple[str, ...]] = ("value", "ci95", "order", "n")
    OPTIONAL: ClassVar[dict[str, Callable[[Checker, Any, str], Any]]] = {
        "backbones": lambda c, raw, path: check_backbone_ids(c, raw, path)}

    @classmethod
    def check(cls, c: Checker, raw: Any, path: str) -> "Metric":
        c.mapping(raw, path, cls.KEYS, tuple(cls.OPTIONAL))
        value = c.number(raw["value"], f"{path}.value")
        ci = raw["ci95"]
        if ci is not None and not (isinstance(ci, list) and len(ci) == 2 and all(is_number(v) for v in ci)):
            c.fail(f"{path}.ci95", "null or [lo, hi] (two finite numbers)", ci)
        later = {key: check(c, raw[key], f"{path}.{key}") for key, check in cls.OPTIONAL.items()
                 if raw.get(key) is not None}
        return cls(value=value, ci95=None if ci is None else (ci[0], ci[1]),
                   order=c.choice(raw["order"], f"{path}.order", ORDERS), n=c.count(raw["n"], f"{path}.n"),
                   **later)

    def to_json(self) -> dict:
        out = {"value": self.value, "ci95": None if self.ci95 is None else list(self.ci95), "order": self.order,
               "n": self.n}
        for key in self.OPTIONAL:
            if getattr(self, key) is not None:
                value = getattr(self, key)
                out[key] = value.to_json() if hasattr(value, "to_json") else \
                    list(value) if isinstance(value, tuple) else value
        return out


def check_metrics(c: Checker, raw: Any, path: str = "metrics") -> dict[str, Metric]:
    """``{name: Metric}`` from a mapping of at most MAX_METRICS metrics."""
    if not isinstance(raw, dict) or len(raw) > MAX_METRICS:
        c.fail(path, f"a mapping of at most {MAX_METRICS} metrics", raw)
    out = {}
    for name, m in raw.items():
        where = f"{path}.{name}" if isinstance(name, str) and METRIC_RE.match(name) else path
        c.match(name, where, METRIC_RE, "metric names of lowercase letters, digits and '_'")
        out[name] = Metric.check(c, m, where)
    return out


def metrics_json(metrics: Mapping[str, Metric]) -> dict:
    return {name: m.to_json() for name, m in metrics.items()}


def check_extra(c: Checker, raw: Any, path: str = "extra") -> dict:
    """Run facts beside the metrics (a memorization flag, a distance): ``{name: number | bool | None}``."""
    if not isinstance(raw, dict) or len(raw) > MAX_EXTRA:
        c.fail(path, f"a mapping of at most {MAX_EXTRA} values", raw)
    for name, value in raw.items():
        c.match(name, path, METRIC_RE, "names of lowercase letters, digits and '_'")
        if not (value is None or isinstance(value, bool) or is_number(value)):
            c.fail(f"{path}.{name}", "a number, a boolean or null", value)
    return dict(raw)


@dataclass(frozen=True)
class Device:
    """The hardware the efficiency figures were measured on (reported by the sandboxed child)."""

    kind: str
    name: str
    cores: int | None
    tensorflow: str
    cuda: str | None
    cudnn: str | None
    provider: str | None = None  # onnxruntime's execution provider actually used (ONNX models only)
    KEYS: ClassVar[tuple[str, ...]] = ("kind", "name", "cores", "tensorflow", "cuda", "cudnn")

    @classmethod
    def check(cls, c: Checker, raw: Any, path: str) -> "Device":
        c.mapping(raw, path, cls.KEYS, ("provider",))
        if raw.get("provider") is not None:
            c.match(raw["provider"], f"{path}.provider", ONNX_PROVIDER_RE, "an onnxruntime execution provider")
        c.choice(raw["kind"], f"{path}.kind", DEVICE_KINDS)
        c.match(raw["name"], f"{path}.name", DEVICE_NAME_RE, "a short device name")
        c.count(raw["cores"], f"{path}.cores", least=1, most=(1 << 16) - 1, allow_null=True)
        c.match(raw["tensorflow"], f"{path}.tensorflow", VERSION_RE, "a version string")
        for key in ("cuda", "cudnn"):
            if raw[key] is not None:
                c.match(raw[key], f"{path}.{key}", VERSION_RE, "null or a version string")
        return cls(**{key: raw[key] for key in cls.KEYS}, provider=raw.get("provider"))

    def to_json(self) -> dict:
        out = {key: getattr(self, key) for key in self.KEYS}
        return {**out, "provider": self.provider} if self.provider else out

    @property
    def label(self) -> str:
        """One line, e.g. "GPU NVIDIA H200; TensorFlow 2.21.0, CUDA 12.5, cuDNN 9"."""
        name = f"{self.kind.upper()} {self.name}"
        if self.cores:
            name += f", {self.cores} cores"
        libs = [f"onnxruntime {self.provider.removesuffix('ExecutionProvider')}" if self.provider
                else f"TensorFlow {self.tensorflow}"]
        libs += [f"{label} {value}" for value, label in ((self.cuda, "CUDA"), (self.cudnn, "cuDNN")) if value]
        return f"{name}; {', '.join(libs)}"


@dataclass(frozen=True)
class Efficiency:
    """Speed and size: images/s at the best batch size, ms per single image, parameters, model bytes
    (each None where it could not be measured), and the ``device`` it ran on (None: not recorded).

    A new figure is one field here and its name in EFFICIENCY_FIELDS: result.json, the
    leaderboard entry, the comment and the site read it from this record.
    """

    images_per_s: float | None = None
    best_batch_size: int | None = None
    latency_ms_batch1: float | None = None
    parameters: int | None = None
    model_bytes: int | None = None
    device: Device | None = None

    @classmethod
    def check_figures(cls, c: Checker, raw: Any, path: str) -> dict:
        """The figures of a mapping already checked for its keys: each a finite number or None."""
        for key in EFFICIENCY_FIELDS:
            if raw.get(key) is not None:
                c.number(raw[key], f"{path}.{key}")
        return {key: raw.get(key) for key in EFFICIENCY_FIELDS}

    @classmethod
    def check(cls, c: Checker, raw: Any, path: str = "efficiency") -> "Efficiency":
        c.mapping(raw, path, EFFICIENCY_FIELDS, ("device",))
        figures = cls.check_figures(c, raw, path)
        device = raw.get("device")
        return cls(**figures, device=None if device is None else Device.check(c, device, f"{path}.device"))

    def figures_json(self) -> dict:
        return {key: getattr(self, key) for key in EFFICIENCY_FIELDS}

    def to_json(self) -> dict:
        out = self.figures_json()
        if self.device is not None:
            out["device"] = self.device.to_json()
        return out


@dataclass(frozen=True)
class DatasetRef:
    """The dataset scored: its id, its manifest's sha256 and (in a result) the inputs scored."""

    id: str
    manifest_sha256: str
    n_inputs: int | None = None  # None in a leaderboard entry, which does not store it

    @classmethod
    def check(cls, c: Checker, raw: Any, path: str, with_n_inputs: bool = True) -> "DatasetRef":
        c.mapping(raw, path, ("id", "manifest_sha256") + (("n_inputs",) if with_n_inputs else ()))
        return cls(id=c.match(raw["id"], f"{path}.id", ID_RE, "a safe id" if with_n_inputs else "a dataset id"),
                   manifest_sha256=c.match(raw["manifest_sha256"], f"{path}.manifest_sha256", HEX64_RE, _HEX),
                   n_inputs=c.count(raw["n_inputs"], f"{path}.n_inputs") if with_n_inputs else None)

    def to_json(self) -> dict:
        out = {"id": self.id, "manifest_sha256": self.manifest_sha256}
        if self.n_inputs is not None:
            out["n_inputs"] = self.n_inputs
        return out

    def without_count(self) -> "DatasetRef":
        return dataclasses.replace(self, n_inputs=None)


@dataclass(frozen=True)
class BackboneRef:
    """The feature network: its registry id, its weights' sha256, the resize mode, and whether it is
    the offline stand-in (random init) that must be named on every page."""

    id: str
    weights_sha256: str
    resize: str
    offline_standin: bool
    KEYS: ClassVar[tuple[str, ...]] = ("id", "weights_sha256", "resize", "offline_standin")

    @classmethod
    def check(cls, c: Checker, raw: Any, path: str = "backbone") -> "BackboneRef":
        c.mapping(raw, path, cls.KEYS)
        return cls(id=c.match(raw["id"], f"{path}.id", BACKBONE_RE, "a backbone id"),
                   weights_sha256=c.match(raw["weights_sha256"], f"{path}.weights_sha256", HEX64_RE, _HEX),
                   resize=c.choice(raw["resize"], f"{path}.resize", BACKBONE_RESIZES),
                   offline_standin=c.boolean(raw["offline_standin"], f"{path}.offline_standin"))

    def to_json(self) -> dict:
        return {key: getattr(self, key) for key in self.KEYS}


def check_backbones(c: Checker, raw: Any, path: str = "backbones") -> tuple[BackboneRef, ...]:
    """A list of at most MAX_BACKBONES backbone records with distinct ids."""
    c.sequence(raw, path, most=MAX_BACKBONES)
    records = tuple(BackboneRef.check(c, item, f"{path}[{i}]") for i, item in enumerate(raw))
    ids = [r.id for r in records]
    if len(set(ids)) != len(ids):
        c.fail(path, "distinct backbone ids", ids)
    return records


def check_metric_backbones(c: Checker, metrics: Mapping[str, Metric], primary: BackboneRef | None,
                           records: tuple[BackboneRef, ...] | None, path: str = "backbones") -> None:
    """Every backbone a metric names has its record (so each metric's weights sha256 is known), and
    the primary ``backbone`` is one of the records."""
    known = [r.id for r in records] if records is not None else [primary.id] if primary else []
    if records is not None and primary is not None and primary not in records:
        c.fail(path, "the primary backbone's record among them", known)
    for name, m in metrics.items():
        unknown = [b for b in m.backbones or () if b not in known]
        if unknown:
            if records is None:
                c.fail(path, "a record of every backbone the metrics name", unknown[0])
            c.fail(f"metrics.{name}.backbones", f"ids recorded in backbones ({', '.join(known) or 'none'})",
                   unknown[0])


# --- the result's own parts -----------------------------------------------------------

@dataclass(frozen=True)
class ResultError:
    """One coded refusal as result.json carries it (EaselError.as_dict())."""

    code: str
    message: str
    hint: str
    detail: str | None
    facts: Mapping[str, Any] = field(default_factory=dict)  # typed, as its code declares (error_text.py)

    @classmethod
    def check(cls, c: Checker, raw: Any, path: str) -> "ResultError":
        c.mapping(raw, path, ("code", "message", "hint", "detail"), ("facts",))
        c.match(raw["code"], f"{path}.code", ERROR_CODE_RE, "an E_ code")
        c.text(raw["message"], f"{path}.message", _SHORT, least=0)
        c.text(raw["hint"], f"{path}.hint", _SHORT, least=0)
        if raw["detail"] is not None:
            c.text(raw["detail"], f"{path}.detail", 120, least=0)
        facts = raw.get("facts", {})
        if not isinstance(raw["code"], str) or fact_problem(raw["code"], facts) is not None:
            c.fail(f"{path}.facts", "the typed facts its code declares (evaluator/error_text.py)", facts)
        return cls(raw["code"], raw["message"], raw["hint"], raw["detail"], facts)

    @classmethod
    def of(cls, error: EaselError) -> "ResultError":
        raw = error.as_dict()
        return cls(raw["code"], raw["message"], raw["hint"], raw["detail"], raw["facts"])

    def to_json(self) -> dict:
        out = {"code": self.code, "message": self.message, "hint": self.hint, "detail": self.detail}
        return {**out, "facts": dict(self.facts)} if self.facts else out


@dataclass(frozen=True)
class SubmissionRef:
    """Who and what was scored; ``pr`` and ``commit`` are set by the binding step
    (evaluator/binding.py) and written only once set."""

    team: str
    model: str
    track: str
    baseline: bool
    format: str | None
    content_sha256: str | None
    pr: int | None = None
    commit: str | None = None

    @classmethod
    def check(cls, c: Checker, raw: Any, path: str = "submission") -> "SubmissionRef":
        c.mapping(raw, path, ("team", "model", "track", "baseline", "format", "content_sha256"), Binding.KEYS)
        for key in ("team", "model", "track"):
            c.match(raw[key], f"{path}.{key}", ID_RE, "a safe id")
        c.boolean(raw["baseline"], f"{path}.baseline")
        c.choice(raw["format"], f"{path}.format", (None,) + MODEL_FORMATS)
        if raw["content_sha256"] is not None:
            c.match(raw["content_sha256"], f"{path}.content_sha256", HEX64_RE, _HEX)
        pr, commit = Binding.check_keys(c, raw, path)  # the binding's one schema (evaluator/binding.py)
        return cls(raw["team"], raw["model"], raw["track"], raw["baseline"], raw["format"], raw["content_sha256"],
                   pr, commit)

    @property
    def bound(self) -> bool:
        return self.pr is not None or self.commit is not None

    def to_json(self) -> dict:
        out = {"team": self.team, "model": self.model, "track": self.track, "baseline": self.baseline,
               "format": self.format, "content_sha256": self.content_sha256}
        if self.bound:
            out.update(pr=self.pr, commit=self.commit)
        return out


@dataclass(frozen=True)
class TrackRef:
    """The track scored: id, kind and its ranking metric with its order."""

    id: str
    kind: str
    metric: str
    order: str

    @classmethod
    def check(cls, c: Checker, raw: Any, path: str = "track") -> "TrackRef":
        c.mapping(raw, path, ("id", "kind", "ranking"))
        c.match(raw["id"], f"{path}.id", ID_RE, "a safe id")
        c.choice(raw["kind"], f"{path}.kind", TRACK_KINDS)
        c.mapping(raw["ranking"], f"{path}.ranking", ("metric", "order"))
        c.match(raw["ranking"]["metric"], f"{path}.ranking.metric", METRIC_RE, "a metric name")
        c.choice(raw["ranking"]["order"], f"{path}.ranking.order", ORDERS)
        return cls(raw["id"], raw["kind"], raw["ranking"]["metric"], raw["ranking"]["order"])

    @classmethod
    def of(cls, track) -> "TrackRef":
        """From a competition :class:`~evaluator.config.Track`."""
        return cls(track.id, track.kind, track.ranking.metric, track.ranking.order)

    def to_json(self) -> dict:
        return {"id": self.id, "kind": self.kind, "ranking": {"metric": self.metric, "order": self.order}}


@dataclass(frozen=True)
class EvaluatorRun:
    """The Easel version that scored, and the wall seconds it took."""

    version: str = __version__
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"version": self.version, "seconds": self.seconds}


def _check_created(c: Checker, value: Any, now: dt.datetime | None) -> None:
    created = c.time(value, "created")
    latest = (now or dt.datetime.now(dt.timezone.utc)) + CLOCK_SKEW
    if created > latest:
        c.fail("created", f"a time no later than {latest.replace(microsecond=0).isoformat()} (the time of reading "
                          f"plus {int(CLOCK_SKEW.total_seconds()) // 60} minutes of clock skew)", value,
               code="E_RESULT_TIME")


def _now_text() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class Result:
    """One result.json, checked. ``created`` keeps the file's own text (an ISO 8601 UTC time)."""

    status: str = "ok"
    errors: tuple[ResultError, ...] = ()
    submission: SubmissionRef | None = None
    track: TrackRef | None = None
    split: str = "public"
    dataset: DatasetRef | None = None
    backbone: BackboneRef | None = None
    backbones: tuple[BackboneRef, ...] | None = None  # every backbone used; None: the key is absent
    metrics: dict[str, Metric] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    notes: tuple[str, ...] | None = None  # None: the key is absent (files from before notes)
    efficiency: Efficiency | None = None
    evaluator: EvaluatorRun = field(default_factory=EvaluatorRun)
    created: str = field(default_factory=_now_text)

    # -- reading --------------------------------------------------------------------
    @classmethod
    def from_json(cls, obj: Any, source: str = SOURCE, now: dt.datetime | None = None) -> "Result":
        """Check an untrusted result document; the record, or E_RESULT_SCHEMA naming the key path, e.g.
        ``result.json: metrics.fid.ci95: expected null or [lo, hi] (two finite numbers), got [0.1]``.
        ``created`` later than ``now`` (the time of reading, default: the clock) plus :data:`CLOCK_SKEW`
        is E_RESULT_TIME.

        This is the one check of result.json: every reader of the file comes through here.
        """
        c = Checker(source, "E_RESULT_SCHEMA")
        c.mapping(obj, "", _TOP, ("notes", "backbones"))
        c.choice(obj["schema"], "schema", (SCHEMA_VERSION,))
        status = c.choice(obj["status"], "status", STATUSES)
        split = c.choice(obj["split"], "split", SPLITS)
        errors = obj["errors"]
        c.sequence(errors, "errors", most=100)
        errors = tuple(ResultError.check(c, err, f"errors[{i}]") for i, err in enumerate(errors))
        if status != "ok" and not errors:
            c.fail("errors", "at least one error when status is not ok", [])
        parts = {}
        for key, record in (("submission", SubmissionRef), ("track", TrackRef), ("dataset", DatasetRef),
                            ("backbone", BackboneRef), ("efficiency", Efficiency)):
            parts[key] = None if obj[key] is None else record.check(c, obj[key], key)
        metrics = check_metrics(c, obj["metrics"])
        track = parts["track"]
        if status == "ok" and track is not None and track.metric not in metrics:
            c.fail("metrics", f"the track's ranking metric {track.metric!r}", sorted(metrics))
        backbones = None if obj.get("backbones") is None else check_backbones(c, obj["backbones"])
        check_metric_backbones(c, metrics, parts["backbone"], backbones)
        extra = check_extra(c, obj["extra"])
        notes = None
        if "notes" in obj:
            c.sequence(obj["notes"], "notes", most=len(NOTE_CODES))
            notes = tuple(c.choice(note, f"notes[{i}]", NOTE_CODES) for i, note in enumerate(obj["notes"]))
        run = obj["evaluator"]
        c.mapping(run, "evaluator", ("version", "seconds"))
        c.match(run["version"], "evaluator.version", EASEL_VERSION_RE, "an Easel version such as 0.1.0")
        c.number(run["seconds"], "evaluator.seconds", low=0)
        _check_created(c, obj["created"], now)
        return cls(status=status, errors=errors, split=split, metrics=metrics, extra=extra, notes=notes,
                   backbones=backbones,
                   evaluator=EvaluatorRun(run["version"], run["seconds"]), created=obj["created"], **parts)

    @classmethod
    def load(cls, path: str | Path, now: dt.datetime | None = None) -> "Result":
        """Read and check a result.json written by anyone (it is untrusted); ``now``: the time of reading."""
        path = Path(path)
        c = Checker(str(path), "E_RESULT_SCHEMA")
        try:
            if path.stat().st_size > MAX_RESULT_BYTES:
                c.fail("(file)", f"at most {MAX_RESULT_BYTES} bytes", path.stat().st_size)
            obj = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise EaselError("E_RESULT_SCHEMA", f"{path}: file not found") from None
        except (UnicodeDecodeError, json.JSONDecodeError):
            c.fail("(file)", "valid UTF-8 JSON", "undecodable bytes")
        return cls.from_json(obj, now=now)

    # -- writing --------------------------------------------------------------------
    def to_json(self) -> dict:
        """The result.json document (written with sorted keys, so field order is free)."""
        out = {
            "schema": SCHEMA_VERSION, "status": self.status, "errors": [e.to_json() for e in self.errors],
            "submission": None if self.submission is None else self.submission.to_json(),
            "track": None if self.track is None else self.track.to_json(),
            "split": self.split,
            "dataset": None if self.dataset is None else self.dataset.to_json(),
            "backbone": None if self.backbone is None else self.backbone.to_json(),
            "metrics": metrics_json(self.metrics), "extra": dict(self.extra),
            "efficiency": None if self.efficiency is None else self.efficiency.to_json(),
            "evaluator": self.evaluator.to_json(), "created": self.created,
        }
        if self.notes is not None:
            out["notes"] = list(self.notes)
        if self.backbones is not None:
            out["backbones"] = [b.to_json() for b in self.backbones]
        return out

    @property
    def all_backbones(self) -> tuple[BackboneRef, ...]:
        """Every backbone record: ``backbones`` when recorded, else the one ``backbone`` (or none)."""
        if self.backbones:
            return self.backbones
        return (self.backbone,) if self.backbone is not None else ()

    def refused(self, error: EaselError, status: str) -> "Result":
        """This result turned into a refusal: ``status`` with ``error``, no scores."""
        return dataclasses.replace(self, status=status, errors=(ResultError.of(error),), metrics={}, extra={})

    @property
    def error_codes(self) -> list[str]:
        return [e.code for e in self.errors]


def new_result(status: str = "ok") -> dict:
    """An empty result.json document (a dict) that :meth:`Result.from_json` accepts once filled (tests,
    hand-written results)."""
    return Result(status=status).to_json()


def validate_result(obj: Any, now: dt.datetime | None = None) -> dict:
    """Check a result document (see :meth:`Result.from_json`); return it unchanged or raise E_RESULT_SCHEMA."""
    Result.from_json(obj, now=now)
    return obj


def as_result(result: "Result | dict") -> Result:
    """A :class:`Result`; a document (dict) is checked on the way in."""
    return result if isinstance(result, Result) else Result.from_json(result)


def device_label(device: "Device | dict | None") -> str | None:
    """One line naming the hardware behind the efficiency figures: e.g.
    "GPU NVIDIA H200; TensorFlow 2.21.0, CUDA 12.5, cuDNN 9" or
    "CPU Intel(R) Xeon(R) Processor, 2 cores; TensorFlow 2.21.0". None without a device."""
    if not device:
        return None
    if isinstance(device, dict):
        device = Device(**{key: device.get(key) for key in Device.KEYS}, provider=device.get("provider"))
    return device.label


def load_result(path: str | Path, now: dt.datetime | None = None) -> Result:
    """Read and check a result.json written by anyone (it is untrusted): :meth:`Result.load`."""
    return Result.load(path, now)
