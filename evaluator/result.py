"""result.json: the evaluator's output, versioned, and its schema check.

A result travels from the GPU runner to the comment job and the publish job
as untrusted data, so every reader calls :func:`validate_result` first.

Schema 1::

    {
      "schema": 1,
      "status": "ok" | "invalid" | "error",
      "errors": [{"code": "E_...", "message": str, "hint": str, "detail": str | null}],
      "submission": {"team": id, "model": id, "track": id, "baseline": bool,
                     "format": "saved_model" | "keras" | "onnx" | null,
                     "content_sha256": hex64 | null,
                     "pr": int | null, "commit": hex40 | null},   # pr, commit optional
      "track": {"id": id, "kind": str, "ranking": {"metric": str, "order": "asc" | "desc"}} | null,
      "split": "public" | "private" | "all",
      "dataset": {"id": id, "manifest_sha256": hex64, "n_inputs": int} | null,
      "backbone": {"id": str, "weights_sha256": hex64, "resize": str, "offline_standin": bool} | null,
      "metrics": {name: {"value": float, "ci95": [lo, hi] | null, "order": "asc" | "desc", "n": int}},
      "extra": {name: value}          # e.g. memorization flag and distance
      "notes": [code]                 # optional: allowlisted hints about the run (NOTE_CODES)
      "efficiency": {"images_per_s": float, "best_batch_size": int, "latency_ms_batch1": float,
                     "parameters": int, "model_bytes": int,
                     "device": {"kind": "gpu" | "cpu", "name": str, "cores": int | null,   # optional
                                "tensorflow": str, "cuda": str | null, "cudnn": str | null}} | null,
      "evaluator": {"version": str, "seconds": float},
      "created": ISO-8601 UTC time,
    }

Keys added after schema 1 first shipped are optional, so older files still validate.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from . import __version__
from .errors import EaselError
from .schema import Checker, is_number
from .vocab import (BACKBONE_RE, DEVICE_KINDS, DEVICE_NAME_RE, EASEL_VERSION_RE, ERROR_CODE_RE, HEX40_RE, HEX64_RE,
                    ID_RE, METRIC_RE, MODEL_FORMATS, ORDERS, RESIZE_MODES, TRACK_KINDS, VERSION_RE)

SCHEMA_VERSION = 1
STATUSES = ("ok", "invalid", "error")
SPLITS = ("public", "private", "all")
MAX_RESULT_BYTES = 1 << 20
SOURCE = "result.json"
# Hints about a run, by code; the comment renders its own sentence for each (evaluator/report.py).
NOTE_CODES = ("output_range_0_1",)
_TOP = ("schema", "status", "errors", "submission", "track", "split", "dataset", "backbone", "metrics", "extra",
        "efficiency", "evaluator", "created")
_EFFICIENCY = ("images_per_s", "best_batch_size", "latency_ms_batch1", "parameters", "model_bytes")
_SHORT = 500  # error message and hint
# How far a result's `created` may lie ahead of the reader's clock: the GPU runner and the hosted jobs
# reading its result keep NTP time, so minutes cover any honest drift. A later time is refused: the
# leaderboard keeps the newest evaluation of a submission, so a far-future one would freeze its entry.
CLOCK_SKEW = dt.timedelta(minutes=5)


def new_result(status: str = "ok") -> dict:
    """An empty result skeleton that :func:`validate_result` accepts once filled."""
    return {
        "schema": SCHEMA_VERSION,
        "status": status,
        "errors": [],
        "submission": None,
        "track": None,
        "split": "public",
        "dataset": None,
        "backbone": None,
        "metrics": {},
        "extra": {},
        "efficiency": None,
        "evaluator": {"version": __version__, "seconds": 0.0},
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
    }


def _text_or_null(c: Checker, value: Any, path: str, most: int) -> None:
    if value is not None:
        c.text(value, path, most, least=0)


def _check_errors(c: Checker, errors: Any, status: str) -> None:
    c.sequence(errors, "errors", most=100)
    for i, err in enumerate(errors):
        path = f"errors[{i}]"
        c.mapping(err, path, ("code", "message", "hint", "detail"))
        c.match(err["code"], f"{path}.code", ERROR_CODE_RE, "an E_ code")
        c.text(err["message"], f"{path}.message", _SHORT, least=0)
        c.text(err["hint"], f"{path}.hint", _SHORT, least=0)
        _text_or_null(c, err["detail"], f"{path}.detail", 120)
    if status != "ok" and not errors:
        c.fail("errors", "at least one error when status is not ok", errors)


def _check_submission(c: Checker, sub: Any) -> None:
    c.mapping(sub, "submission", ("team", "model", "track", "baseline", "format", "content_sha256"),
              ("pr", "commit"))
    for key in ("team", "model", "track"):
        c.match(sub[key], f"submission.{key}", ID_RE, "a safe id")
    c.boolean(sub["baseline"], "submission.baseline")
    c.choice(sub["format"], "submission.format", (None,) + MODEL_FORMATS)
    if sub["content_sha256"] is not None:
        c.match(sub["content_sha256"], "submission.content_sha256", HEX64_RE, "a sha256 hex digest")
    c.count(sub.get("pr"), "submission.pr", least=1, allow_null=True)
    if sub.get("commit") is not None:
        c.match(sub["commit"], "submission.commit", HEX40_RE, "a 40-hex commit")


def _check_track(c: Checker, track: Any) -> None:
    c.mapping(track, "track", ("id", "kind", "ranking"))
    c.match(track["id"], "track.id", ID_RE, "a safe id")
    c.choice(track["kind"], "track.kind", TRACK_KINDS)
    c.mapping(track["ranking"], "track.ranking", ("metric", "order"))
    c.match(track["ranking"]["metric"], "track.ranking.metric", METRIC_RE, "a metric name")
    c.choice(track["ranking"]["order"], "track.ranking.order", ORDERS)


def _check_dataset(c: Checker, data: Any) -> None:
    c.mapping(data, "dataset", ("id", "manifest_sha256", "n_inputs"))
    c.match(data["id"], "dataset.id", ID_RE, "a safe id")
    c.match(data["manifest_sha256"], "dataset.manifest_sha256", HEX64_RE, "a sha256 hex digest")
    c.count(data["n_inputs"], "dataset.n_inputs")


def _check_backbone(c: Checker, bb: Any) -> None:
    c.mapping(bb, "backbone", ("id", "weights_sha256", "resize", "offline_standin"))
    c.match(bb["id"], "backbone.id", BACKBONE_RE, "a backbone id")
    c.match(bb["weights_sha256"], "backbone.weights_sha256", HEX64_RE, "a sha256 hex digest")
    c.choice(bb["resize"], "backbone.resize", RESIZE_MODES)
    c.boolean(bb["offline_standin"], "backbone.offline_standin")


def _check_metrics(c: Checker, metrics: Any) -> None:
    if not isinstance(metrics, dict) or len(metrics) > 50:
        c.fail("metrics", "a mapping of at most 50 metrics", metrics)
    for name, m in metrics.items():
        path = f"metrics.{name}" if isinstance(name, str) and METRIC_RE.match(name) else "metrics"
        c.match(name, path, METRIC_RE, "metric names of lowercase letters, digits and '_'")
        c.mapping(m, path, ("value", "ci95", "order", "n"))
        c.number(m["value"], f"{path}.value")
        ci = m["ci95"]
        if ci is not None and not (isinstance(ci, list) and len(ci) == 2 and all(is_number(v) for v in ci)):
            c.fail(f"{path}.ci95", "null or [lo, hi] (two finite numbers)", ci)
        c.choice(m["order"], f"{path}.order", ORDERS)
        c.count(m["n"], f"{path}.n")


def _check_extra(c: Checker, extra: Any) -> None:
    if not isinstance(extra, dict) or len(extra) > 20:
        c.fail("extra", "a mapping of at most 20 values", extra)
    for name, value in extra.items():
        c.match(name, "extra", METRIC_RE, "names of lowercase letters, digits and '_'")
        if not (value is None or isinstance(value, bool) or is_number(value)):
            c.fail(f"extra.{name}", "a number, a boolean or null", value)


def _check_efficiency(c: Checker, eff: Any) -> None:
    c.mapping(eff, "efficiency", _EFFICIENCY, ("device",))
    for key in _EFFICIENCY:
        if eff[key] is not None:
            c.number(eff[key], f"efficiency.{key}")
    device = eff.get("device")
    if device is not None:
        path = "efficiency.device"
        c.mapping(device, path, ("kind", "name", "cores", "tensorflow", "cuda", "cudnn"))
        c.choice(device["kind"], f"{path}.kind", DEVICE_KINDS)
        c.match(device["name"], f"{path}.name", DEVICE_NAME_RE, "a short device name")
        c.count(device["cores"], f"{path}.cores", least=1, most=(1 << 16) - 1, allow_null=True)
        c.match(device["tensorflow"], f"{path}.tensorflow", VERSION_RE, "a version string")
        for key in ("cuda", "cudnn"):
            if device[key] is not None:
                c.match(device[key], f"{path}.{key}", VERSION_RE, "null or a version string")



def _check_created(c: Checker, value: Any, now: dt.datetime | None) -> None:
    created = c.time(value, "created")
    latest = (now or dt.datetime.now(dt.timezone.utc)) + CLOCK_SKEW
    if created > latest:
        c.fail("created", f"a time no later than {latest.replace(microsecond=0).isoformat()} (the time of reading "
                          f"plus {int(CLOCK_SKEW.total_seconds()) // 60} minutes of clock skew)", value,
               code="E_RESULT_TIME")


def validate_result(obj: Any, now: dt.datetime | None = None) -> dict:
    """Check an untrusted result object; return it unchanged or raise E_RESULT_SCHEMA.

    The message names the key path and what was expected, e.g.
    ``result.json: metrics.fid.ci95: expected null or [lo, hi] (two finite numbers), got [0.1]``.
    ``created`` later than ``now`` (the time of reading, default: the clock) plus :data:`CLOCK_SKEW`
    is E_RESULT_TIME.
    """
    c = Checker(SOURCE, "E_RESULT_SCHEMA")
    c.mapping(obj, "", _TOP, ("notes",))
    c.choice(obj["schema"], "schema", (SCHEMA_VERSION,))
    c.choice(obj["status"], "status", STATUSES)
    c.choice(obj["split"], "split", SPLITS)
    _check_errors(c, obj["errors"], obj["status"])
    for key, check in (("submission", _check_submission), ("track", _check_track), ("dataset", _check_dataset),
                       ("backbone", _check_backbone), ("efficiency", _check_efficiency)):
        if obj[key] is not None:
            check(c, obj[key])
    _check_metrics(c, obj["metrics"])
    track = obj["track"]
    if obj["status"] == "ok" and track is not None and track["ranking"]["metric"] not in obj["metrics"]:
        c.fail("metrics", f"the track's ranking metric {track['ranking']['metric']!r}", sorted(obj["metrics"]))
    _check_extra(c, obj["extra"])
    if "notes" in obj:
        c.sequence(obj["notes"], "notes", most=len(NOTE_CODES))
        for i, note in enumerate(obj["notes"]):
            c.choice(note, f"notes[{i}]", NOTE_CODES)
    c.mapping(obj["evaluator"], "evaluator", ("version", "seconds"))
    c.match(obj["evaluator"]["version"], "evaluator.version", EASEL_VERSION_RE, "an Easel version such as 0.1.0")
    c.number(obj["evaluator"]["seconds"], "evaluator.seconds", low=0)
    _check_created(c, obj["created"], now)
    return obj


def device_label(device: dict | None) -> str | None:
    """One line naming the hardware behind the efficiency figures, from a validated
    ``efficiency.device``: e.g. "GPU NVIDIA H200; TensorFlow 2.21.0, CUDA 12.5, cuDNN 9"
    or "CPU Intel(R) Xeon(R) Processor, 2 cores; TensorFlow 2.21.0". None without a device."""
    if not device:
        return None
    name = f"{device['kind'].upper()} {device['name']}"
    if device.get("cores"):
        name += f", {device['cores']} cores"
    libs = [f"TensorFlow {device['tensorflow']}"] + [f"{label} {device[key]}" for key, label in
                                                     (("cuda", "CUDA"), ("cudnn", "cuDNN")) if device.get(key)]
    return f"{name}; {', '.join(libs)}"


def load_result(path: str | Path, now: dt.datetime | None = None) -> dict:
    """Read and validate a result.json written by anyone (it is untrusted); ``now``: the time of reading."""
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
    return validate_result(obj, now)
