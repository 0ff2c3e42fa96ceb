"""The device behind the efficiency figures (result.json ``efficiency.device``).

:func:`detect` runs in the sandboxed child, where the model runs, before the
model is loaded; :func:`sanitize` is the parent's check of that untrusted
report. :func:`require_gpu` is the parent's own check for ``easel evaluate
--require-gpu``. The record::

    {"kind": "gpu" | "cpu", "name": str, "cores": int | null,
     "tensorflow": str, "cuda": str | null, "cudnn": str | null}

``name`` is the GPU model (TensorFlow's device details) or the CPU model
(``/proc/cpuinfo``); ``cores`` the CPUs the child may run on (null on a GPU);
CUDA and cuDNN are TensorFlow's build versions, null unless a GPU is used.
ONNX models run in onnxruntime: once loaded, :func:`for_onnx` makes the record
say the execution provider the session really uses (``provider``), and the GPU
when that is CUDA.
"""

from __future__ import annotations

import os
import re
import sys

from ..errors import EaselError
from ..models import TENSORFLOW_FORMATS
from ..vocab import DEVICE_KINDS, DEVICE_NAME_RE, ONNX_PROVIDER_RE, VERSION_RE

_UNSAFE = re.compile(r"[^A-Za-z0-9 ._()@+,:/-]")  # the complement of DEVICE_NAME_RE's characters


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model", "uarch"):
                    return value.strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "unknown"


def _tensorflow_version() -> str:
    module = sys.modules.get("tensorflow")
    if module is not None:
        return str(getattr(module, "__version__", "unknown"))
    from importlib import metadata

    for dist in ("tensorflow", "tensorflow-cpu", "tf-nightly"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "none"


def detect(fmt: str | None) -> dict:
    """The device a model of format ``fmt`` runs on here (call it where the model runs).

    TensorFlow is asked only for the TensorFlow formats (it is already imported
    there); an ONNX model runs on the CPU whatever the host has.
    """
    record = {"kind": "cpu", "name": _cpu_name(), "cores": len(os.sched_getaffinity(0)),
              "tensorflow": _tensorflow_version(), "cuda": None, "cudnn": None}
    if fmt in TENSORFLOW_FORMATS:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            build = tf.sysconfig.get_build_info()
            record.update(kind="gpu", name=str(details.get("device_name") or "GPU"), cores=None,
                          cuda=build.get("cuda_version"), cudnn=build.get("cudnn_version"))
    return record


def _nvidia_name() -> str:
    """The first NVIDIA GPU's model from the driver's /proc entry ("NVIDIA GPU" if unreadable)."""
    try:
        for info in sorted(os.listdir("/proc/driver/nvidia/gpus")):
            with open(f"/proc/driver/nvidia/gpus/{info}/information", encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith("Model:"):
                        return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "NVIDIA GPU"


def for_onnx(record: dict, provider: str) -> dict:
    """``record`` (from :func:`detect`) for an ONNX model whose session runs on ``provider``."""
    record = {**record, "provider": provider}
    if provider == "CUDAExecutionProvider":
        record.update(kind="gpu", name=_nvidia_name(), cores=None)
    return record


def _text(value) -> str:
    text = " ".join(_UNSAFE.sub(" ", str(value)[:1000]).split())[:64].strip()
    return text if DEVICE_NAME_RE.match(text) else "unknown"


def _version(value) -> str | None:
    return str(value) if value is not None and VERSION_RE.match(str(value)) else None


def sanitize(claim) -> dict:
    """The child's untrusted device report, reduced to the record's fixed shape and safe characters."""
    claim = claim if isinstance(claim, dict) else {}
    kind = claim.get("kind") if claim.get("kind") in DEVICE_KINDS else "cpu"
    cores = claim.get("cores")
    cores = cores if isinstance(cores, int) and not isinstance(cores, bool) and 0 < cores < 1 << 16 else None
    return {"kind": kind, "name": _text(claim.get("name", "unknown")), "cores": None if kind == "gpu" else cores,
            "tensorflow": _version(claim.get("tensorflow")) or "unknown",
            "cuda": _version(claim.get("cuda")) if kind == "gpu" else None,
            "cudnn": _version(claim.get("cudnn")) if kind == "gpu" else None,
            **({"provider": claim["provider"]} if isinstance(claim.get("provider"), str)
               and ONNX_PROVIDER_RE.match(claim["provider"]) else {})}


def require_gpu(fmt: str | None = None, device: dict | None = None) -> None:
    """Raise E_NO_GPU unless TensorFlow sees a GPU here and, given the child's ``device``
    record for a TensorFlow-format model, the model runs on it too."""
    if device is None:
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            raise EaselError("E_NO_GPU", "TensorFlow sees no GPU on this runner", detail="parent")
    elif fmt in TENSORFLOW_FORMATS and device.get("kind") != "gpu":
        raise EaselError("E_NO_GPU", "TensorFlow sees no GPU in the sandboxed child", detail="sandbox")
