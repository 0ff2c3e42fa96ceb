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
                     "content_sha256": hex64 | null},
      "track": {"id": id, "kind": str, "ranking": {"metric": str, "order": "asc" | "desc"}} | null,
      "split": "public" | "private" | "all",
      "dataset": {"id": id, "manifest_sha256": hex64, "n_inputs": int} | null,
      "backbone": {"id": str, "weights_sha256": hex64, "resize": str, "offline_standin": bool} | null,
      "metrics": {name: {"value": float, "ci95": [lo, hi] | null, "order": "asc" | "desc", "n": int}},
      "extra": {name: value}          # e.g. memorization flag and distance
      "efficiency": {"images_per_s": float, "best_batch_size": int, "latency_ms_batch1": float,
                     "parameters": int, "model_bytes": int,
                     "device": {"kind": "gpu" | "cpu", "name": str, "cores": int | null,   # optional
                                "tensorflow": str, "cuda": str | null, "cudnn": str | null}} | null,
      "evaluator": {"version": str, "seconds": float},
      "created": ISO-8601 UTC time,
    }
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path
from typing import Any

from . import __version__
from .errors import EaselError
from .vocab import DEVICE_KINDS, DEVICE_NAME_RE, VERSION_RE

SCHEMA_VERSION = 1
STATUSES = ("ok", "invalid", "error")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_CODE = re.compile(r"^E_[A-Z0-9_]{1,40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_METRIC = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_BACKBONE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MAX_RESULT_BYTES = 1 << 20


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


def _fail(path: str, expected: str) -> None:
    raise EaselError("E_RESULT_SCHEMA", f"result.json: {path}: expected {expected}", detail=path)


def _check(cond: bool, path: str, expected: str) -> None:
    if not cond:
        _fail(path, expected)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_keys(obj: Any, path: str, keys: set[str], optional: set[str] = frozenset()) -> None:
    _check(isinstance(obj, dict), path, "an object")
    missing = keys - set(obj)
    extra = set(obj) - keys - optional
    _check(not missing, path, f"keys {sorted(keys)} (missing {sorted(missing)})")
    _check(not extra, path, f"only keys {sorted(keys | optional)}")


def _check_device(dev: Any) -> None:
    """efficiency.device: the hardware and library versions the efficiency figures were measured on."""
    _check_keys(dev, "efficiency.device", {"kind", "name", "cores", "tensorflow", "cuda", "cudnn"})
    _check(dev["kind"] in DEVICE_KINDS, "efficiency.device.kind", "gpu or cpu")
    _check(isinstance(dev["name"], str) and bool(DEVICE_NAME_RE.match(dev["name"])), "efficiency.device.name",
           "a short device name")
    _check(dev["cores"] is None or (isinstance(dev["cores"], int) and not isinstance(dev["cores"], bool)
                                    and 0 < dev["cores"] < 1 << 16), "efficiency.device.cores",
           "null or a positive integer")
    _check(isinstance(dev["tensorflow"], str) and bool(VERSION_RE.match(dev["tensorflow"])),
           "efficiency.device.tensorflow", "a version string")
    for key in ("cuda", "cudnn"):
        _check(dev[key] is None or (isinstance(dev[key], str) and bool(VERSION_RE.match(dev[key]))),
               f"efficiency.device.{key}", "null or a version string")


def validate_result(obj: Any) -> dict:
    """Check an untrusted result object; return it unchanged or raise E_RESULT_SCHEMA."""
    _check_keys(obj, "(top)", {"schema", "status", "errors", "submission", "track", "split", "dataset",
                               "backbone", "metrics", "extra", "efficiency", "evaluator", "created"})
    _check(obj["schema"] == SCHEMA_VERSION, "schema", f"{SCHEMA_VERSION}")
    _check(obj["status"] in STATUSES, "status", f"one of {STATUSES}")
    _check(obj["split"] in ("public", "private", "all"), "split", "public, private or all")

    _check(isinstance(obj["errors"], list) and len(obj["errors"]) <= 100, "errors", "a list")
    for i, err in enumerate(obj["errors"]):
        _check_keys(err, f"errors[{i}]", {"code", "message", "hint", "detail"})
        _check(isinstance(err["code"], str) and bool(_CODE.match(err["code"])), f"errors[{i}].code", "an E_ code")
        for key in ("message", "hint"):
            _check(isinstance(err[key], str) and len(err[key]) <= 500, f"errors[{i}].{key}", "a short string")
        _check(err["detail"] is None or (isinstance(err["detail"], str) and len(err["detail"]) <= 120),
               f"errors[{i}].detail", "null or a short string")
    if obj["status"] != "ok":
        _check(len(obj["errors"]) > 0, "errors", "at least one error when status is not ok")

    sub = obj["submission"]
    if sub is not None:
        _check_keys(sub, "submission", {"team", "model", "track", "baseline", "format", "content_sha256"})
        for key in ("team", "model", "track"):
            _check(isinstance(sub[key], str) and bool(_ID.match(sub[key])), f"submission.{key}", "a safe id")
        _check(isinstance(sub["baseline"], bool), "submission.baseline", "a boolean")
        _check(sub["format"] in (None, "saved_model", "keras", "onnx"), "submission.format", "a model format")
        _check(sub["content_sha256"] is None or bool(_HEX64.match(str(sub["content_sha256"]))),
               "submission.content_sha256", "a sha256 hex digest")

    track = obj["track"]
    if track is not None:
        _check_keys(track, "track", {"id", "kind", "ranking"})
        _check(isinstance(track["id"], str) and bool(_ID.match(track["id"])), "track.id", "a safe id")
        _check(track["kind"] in ("unpaired", "paired", "example"), "track.kind", "a track kind")
        _check_keys(track["ranking"], "track.ranking", {"metric", "order"})
        _check(isinstance(track["ranking"]["metric"], str) and bool(_METRIC.match(track["ranking"]["metric"])),
               "track.ranking.metric", "a metric name")
        _check(track["ranking"]["order"] in ("asc", "desc"), "track.ranking.order", "asc or desc")

    data = obj["dataset"]
    if data is not None:
        _check_keys(data, "dataset", {"id", "manifest_sha256", "n_inputs"})
        _check(isinstance(data["id"], str) and bool(_ID.match(data["id"])), "dataset.id", "a safe id")
        _check(bool(_HEX64.match(str(data["manifest_sha256"]))), "dataset.manifest_sha256", "a sha256")
        _check(isinstance(data["n_inputs"], int) and data["n_inputs"] >= 0, "dataset.n_inputs", "an integer")

    bb = obj["backbone"]
    if bb is not None:
        _check_keys(bb, "backbone", {"id", "weights_sha256", "resize", "offline_standin"})
        _check(isinstance(bb["id"], str) and bool(_BACKBONE.match(bb["id"])), "backbone.id", "a backbone id")
        _check(bool(_HEX64.match(str(bb["weights_sha256"]))), "backbone.weights_sha256", "a sha256")
        _check(bb["resize"] in ("clean", "legacy_tensorflow"), "backbone.resize", "a resize mode")
        _check(isinstance(bb["offline_standin"], bool), "backbone.offline_standin", "a boolean")

    _check(isinstance(obj["metrics"], dict) and len(obj["metrics"]) <= 50, "metrics", "an object")
    for name, m in obj["metrics"].items():
        path = f"metrics.{name}" if _METRIC.match(str(name)) else "metrics"
        _check(bool(_METRIC.match(str(name))), path, "metric names of lowercase letters, digits and '_'")
        _check_keys(m, path, {"value", "ci95", "order", "n"})
        _check(_is_number(m["value"]), f"{path}.value", "a finite number")
        _check(m["ci95"] is None or (isinstance(m["ci95"], list) and len(m["ci95"]) == 2
                                      and all(_is_number(v) for v in m["ci95"])),
               f"{path}.ci95", "null or [lo, hi]")
        _check(m["order"] in ("asc", "desc"), f"{path}.order", "asc or desc")
        _check(isinstance(m["n"], int) and m["n"] >= 0, f"{path}.n", "an integer")
    if obj["status"] == "ok" and track is not None:
        _check(track["ranking"]["metric"] in obj["metrics"], "metrics", "the track's ranking metric")

    _check(isinstance(obj["extra"], dict) and len(obj["extra"]) <= 20, "extra", "an object")
    for name, value in obj["extra"].items():
        _check(bool(_METRIC.match(str(name))), "extra", "names of lowercase letters, digits and '_'")
        _check(value is None or isinstance(value, bool) or _is_number(value), f"extra.{name}",
               "a number, a boolean or null")

    eff = obj["efficiency"]
    if eff is not None:
        _check_keys(eff, "efficiency", {"images_per_s", "best_batch_size", "latency_ms_batch1",
                                        "parameters", "model_bytes"}, optional={"device"})
        for key in set(eff) - {"device"}:
            _check(eff[key] is None or _is_number(eff[key]), f"efficiency.{key}", "a number or null")
        if "device" in eff:
            _check_device(eff["device"])

    _check_keys(obj["evaluator"], "evaluator", {"version", "seconds"})
    _check(isinstance(obj["evaluator"]["version"], str) and len(obj["evaluator"]["version"]) <= 40,
           "evaluator.version", "a version string")
    _check(_is_number(obj["evaluator"]["seconds"]), "evaluator.seconds", "a number")
    try:
        dt.datetime.fromisoformat(str(obj["created"]))
    except ValueError:
        _fail("created", "an ISO 8601 time")
    return obj


def load_result(path: str | Path) -> dict:
    """Read and validate a result.json written by anyone (it is untrusted)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_RESULT_BYTES:
            _fail("(file)", f"at most {MAX_RESULT_BYTES} bytes")
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EaselError("E_RESULT_SCHEMA", f"{path}: file not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        _fail("(file)", "valid UTF-8 JSON")
    return validate_result(obj)
