"""Model formats as data: a registry of static checks and loaders.

Each format has two halves with different trust:

* ``check(path) -> ModelFacts`` runs in the TRUSTED parent. It reads the model
  files as data (zip central directory, JSON, protobuf) and never executes or
  deserializes anything the model could control; it refuses with a stable
  :class:`~evaluator.errors.EaselError` code.
* ``load(path) -> LoadedModel`` runs ONLY inside the sandboxed child
  (evaluator/sandbox.py), after ``check`` has passed there too.

The model contract: float32 NHWC images in [-1, 1] in, the same shape and
range out. ``example`` tracks take two inputs, content then style. The batch
dimension must be dynamic (None) so the evaluator can batch; height and width
may be dynamic or fixed at the track's ``image_size``.

Nothing here imports TensorFlow, Keras, ONNX or onnxruntime at module level, so
``easel --help`` stays fast; each format imports its library inside functions.
"""

from __future__ import annotations

import abc

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..error_text import is_name
from ..errors import EaselError
from ..fsutil import walk_tree

ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


@dataclass(frozen=True)
class ModelFacts:
    """What a static check learned about a model without running it.

    ``bytes``: total size on disk in bytes (a directory's files summed).
    ``ops_or_layers``: sorted allowlisted identifiers seen (TF ops, ONNX ops or
    Keras classes), safe to show in a report.
    ``input_names``: the model's input names in contract order (content, style),
    when the format states them statically; empty otherwise.
    """

    format: str
    bytes: int
    ops_or_layers: tuple[str, ...]
    input_names: tuple[str, ...] = field(default=())


class LoadedModel(abc.ABC):
    """A loaded model, callable on image batches (lives in the sandbox child only).

    ``n_inputs``: 1, or 2 for example tracks (content, style).
    ``input_shapes``: one tuple per input, None where a dimension is dynamic,
    e.g. ``[(None, None, None, 3)]``.
    ``parameters``: number of scalar weights.
    """

    n_inputs: int
    input_shapes: list[tuple[int | None, ...]]
    parameters: int

    @abc.abstractmethod
    def __call__(self, inputs: list[np.ndarray]) -> np.ndarray:
        """inputs: ``n_inputs`` arrays float32 [b, H, W, 3] in [-1, 1].

        Returns what the model gives (float32 [b, H, W, 3] expected); the
        sandbox validates shape, dtype, finiteness and range.
        """


@dataclass(frozen=True)
class ModelFormat:
    """One model format: everything the rest of Easel needs to know about it, in one place.

    ``module`` implements it: ``check(path) -> ModelFacts`` (trusted parent, files read as
    data), ``load(path) -> LoadedModel`` (sandboxed child only) and, optionally,
    ``companions(path) -> tuple[str, ...]`` (files next to the model that belong to it).
    ``directory``: the model is a folder (found by its ``marker`` file) rather than one file
    ending in ``suffix``; ``magics``: leading bytes that identify its files; ``url``: may be
    fetched by URL (single files only); ``tensorflow``: runs on TensorFlow (framework settings,
    GPU placement); ``preload``: modules the sandbox child imports before dropping privileges;
    ``archive_checked``: its own check walks the file as an archive (no generic nested-archive test).
    """

    name: str
    module: str
    directory: bool = False
    suffix: str | None = None
    marker: str | None = None
    magics: tuple[bytes, ...] = ()
    url: bool = True
    tensorflow: bool = False
    preload: tuple[str, ...] = ()
    archive_checked: bool = False

    def _implementation(self):
        import importlib

        return importlib.import_module(self.module)

    def check(self, path: Path) -> ModelFacts:
        return self._implementation().check(path)

    def load(self, path: Path) -> LoadedModel:
        return self._implementation().load(path)

    def companions(self, path: Path) -> tuple[str, ...]:
        companions = getattr(self._implementation(), "companions", None)
        return tuple(companions(path)) if companions is not None else ()


# The registry: adding a format is its module (check, load) and one line here.
FORMATS: dict[str, ModelFormat] = {f.name: f for f in (
    ModelFormat("saved_model", "evaluator.models.saved_model_format", directory=True, marker="saved_model.pb",
                url=False, tensorflow=True,
                preload=("tensorflow.python.saved_model.load", "tensorflow.core.protobuf.saved_model_pb2",
                         "tensorflow.core.protobuf.meta_graph_pb2", "tensorflow.core.framework.graph_pb2")),
    ModelFormat("keras", "evaluator.models.keras_format", suffix=".keras", magics=ZIP_MAGICS, tensorflow=True,
                archive_checked=True,
                preload=("keras", "keras.src.saving.saving_lib", "keras.src.saving.serialization_lib",
                         "keras.src.legacy.saving.legacy_h5_format", "h5py")),
    ModelFormat("onnx", "evaluator.models.onnx_format", suffix=".onnx",
                preload=("onnx", "onnx.checker", "onnx.shape_inference", "onnx.numpy_helper", "onnxruntime")),
)}
MODEL_FORMATS = tuple(FORMATS)  # the names submission.yaml and result.json accept
TENSORFLOW_FORMATS = tuple(name for name, f in FORMATS.items() if f.tensorflow)
URL_SUFFIXES = {name: f.suffix for name, f in FORMATS.items() if f.url and not f.directory and f.suffix}
FILE_FORMATS = tuple(name for name, f in FORMATS.items() if not f.directory)
DIR_FORMATS = tuple(name for name, f in FORMATS.items() if f.directory)


def _format(fmt: str) -> ModelFormat:
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise EaselError("E_FORMAT", "model.format must be one of: " + ", ".join(sorted(FORMATS)),
                         detail=fmt if isinstance(fmt, str) else None)
    return FORMATS[fmt]


def tree_size(path: Path) -> int:
    """Bytes of a file, or of every regular file under a directory (bounded walk, links not followed)."""
    if path.is_file():
        return path.stat().st_size
    return sum(entry.info.st_size for entry in walk_tree(path) if entry.is_file)


def sniff_format(path: Path) -> str | None:
    """The format a model file or folder looks like, from names and magic bytes only; None if unclear."""
    path = Path(path)
    if path.is_dir():
        return next((f.name for f in FORMATS.values() if f.directory and (path / f.marker).is_file()), None)
    if not path.is_file() or path.stat().st_size == 0:  # an empty file looks like nothing
        return None
    with open(path, "rb") as handle:
        head = handle.read(4)
    for matches in (lambda f: f.suffix is not None and path.suffix == f.suffix,  # the name decides first,
                    lambda f: head in f.magics,                                   # then the content,
                    lambda f: f.directory and path.name == f.marker):             # then a folder's marker
        found = next((f.name for f in FORMATS.values() if matches(f)), None)
        if found is not None:
            return found
    return None


def _mismatch(fmt: str, path: Path) -> EaselError | None:
    """E_FORMAT_MISMATCH naming the likely format when model.format and the file disagree."""
    found = sniff_format(path)
    if found is None or found == fmt:
        return None
    hint = " (model.path should name the folder holding saved_model.pb)" if path.name == "saved_model.pb" else ""
    return EaselError("E_FORMAT_MISMATCH", f"model.format is {fmt} but {path.name} looks like a {found} "
                      f"model: set `format: {found}`{hint}", detail=f"format:{found}")


def check_path(fmt: str, path: Path) -> int:
    """Generic checks every format shares; returns the model's size in bytes.

    Refuses a missing path (E_MODEL_MISSING), a symlink (E_SYMLINK), a file
    where a directory is expected or the reverse (E_MODEL_MISSING), anything
    that is not a regular file (E_SPECIAL_FILE), and an empty model (E_MODEL_EMPTY).
    """
    path = Path(path)
    if path.is_symlink():
        raise EaselError("E_SYMLINK", f"{path.name} is a symbolic link", detail=path.name)
    if not path.exists():
        raise EaselError("E_MODEL_MISSING", f"{path.name} does not exist", detail=path.name)
    mismatch = _mismatch(fmt, path)
    if mismatch is not None:
        raise mismatch
    if fmt in DIR_FORMATS:
        if not path.is_dir():
            raise EaselError("E_MODEL_MISSING", f"{fmt} models are directories; {path.name} is not one",
                             detail=path.name)
        for entry in walk_tree(path):
            if entry.is_symlink:
                raise EaselError("E_SYMLINK", f"{entry.rel} is a symbolic link", detail=entry.rel)
            if not (entry.is_dir or entry.is_file):
                raise EaselError("E_SPECIAL_FILE", f"{entry.rel} is not a regular file", detail=entry.rel)
    else:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise EaselError("E_MODEL_MISSING", f"{fmt} models are single files; {path.name} is a directory",
                             detail=path.name)
        if not stat.S_ISREG(mode):
            raise EaselError("E_SPECIAL_FILE", f"{path.name} is not a regular file", detail=path.name)
    size = tree_size(path)
    if size == 0:
        raise EaselError("E_MODEL_EMPTY", f"{path.name} is empty", detail=path.name)
    return size


def refuse_nested_archive(path: Path) -> None:
    """A model file that is a zip holding another archive is a bomb for every format."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head not in ZIP_MAGICS:
        return
    from .keras_format import inspect_zip  # the same zip walker .keras files get
    try:
        inspect_zip(path, expected_members=None)
    except EaselError as exc:
        if exc.code == "E_ZIP_BOMB":
            raise
        # Otherwise malformed as a zip: the format's own parser refuses it with its code.


def check_model(fmt: str, path: Path) -> ModelFacts:
    """Static check of a model in the trusted parent; never executes it.

    Raises EaselError: E_FORMAT, E_MODEL_MISSING, E_MODEL_EMPTY, E_SYMLINK,
    E_ZIP_BOMB, E_KERAS_*, E_SAVEDMODEL_*, E_ONNX_*, E_SIGNATURE.
    """
    model_format = _format(fmt)
    path = Path(path)
    check_path(fmt, path)
    if path.is_file() and not model_format.archive_checked:  # keras walks its zip itself, after the HDF5 test
        refuse_nested_archive(path)
    return model_format.check(path)


def load_model(fmt: str, path: Path) -> LoadedModel:
    """Check, then load a model. Call ONLY inside the sandboxed child process.

    The check runs again here so a loader never sees files that skipped it.
    """
    check_model(fmt, path)
    return _format(fmt).load(Path(path))


def _check_shape(i: int, shape: Sequence[int | None], image_size: int | None) -> None:
    """One input's shape against the contract (None = dynamic): NHWC, 3 channels, dynamic batch,
    H and W dynamic or ``image_size``. Raises E_SIGNATURE, E_SIGNATURE_LAYOUT or E_SIGNATURE_BATCH."""
    if len(shape) != 4:
        raise EaselError("E_SIGNATURE", f"input {i} has rank {len(shape)}, expected 4 (NHWC)",
                         detail=f"input_{i}", facts={"dimension": "rank", "input": i, "expected": 4,
                                                      "got": len(shape)})
    batch, height, width, channels = shape
    if height == 3 and channels != 3:
        raise EaselError("E_SIGNATURE_LAYOUT", f"input {i} is channels-first {list(shape)}; "
                         "the contract is NHWC [batch, height, width, 3]", detail=f"input_{i}",
                         facts={"input": i, "got": list(shape)})
    if channels not in (None, 3):
        raise EaselError("E_SIGNATURE", f"input {i} takes {channels} channels, expected 3 (RGB)",
                         detail=f"input_{i}", facts={"dimension": "channels", "input": i, "expected": 3,
                                                      "got": channels})
    if batch is not None:
        raise EaselError("E_SIGNATURE_BATCH", f"input {i} has a fixed batch size of {batch}; export it as "
                         "dynamic (None)", detail=f"input_{i}", facts={"input": i, "got": batch})
    for dim in (height, width):
        if image_size is not None and dim is not None and dim != image_size:
            raise EaselError("E_SIGNATURE", f"input {i} has a fixed size of {dim} px; the track uses "
                             f"{image_size} px (export H and W as None)", detail=f"input_{i}",
                             facts={"dimension": "size", "input": i, "expected": image_size, "got": dim})


def check_declared_inputs(inputs: Sequence[tuple[str, tuple[int | None, ...] | None]]) -> None:
    """Refuse, before anything runs, input declarations outside the contract.

    ``inputs``: per input, (dtype name such as "float32", shape with None for
    dynamic dimensions, or None when the rank is unknown). Raises E_SIGNATURE
    (not float32, not rank 4, not 3 channels), E_SIGNATURE_LAYOUT (channels
    first) or E_SIGNATURE_BATCH (a fixed batch size), naming the input.
    """
    for i, (dtype, shape) in enumerate(inputs):
        if dtype != "float32":
            raise EaselError("E_SIGNATURE", f"input {i} is {dtype}, the contract is float32 "
                             "(export float32 inputs; cast inside the model)", detail=f"input_{i}",
                             facts={"dimension": "dtype", "input": i, "expected": "float32",
                                    "got": dtype if is_name(dtype) else "unknown"})
        if shape is not None:
            _check_shape(i, shape, None)


def check_input_shapes(input_shapes: Sequence[Sequence[int | None]], n_inputs: int, image_size: int) -> None:
    """Refuse input shapes (one per input, None = dynamic) that cannot take this track's batches.

    ``n_inputs``: 1 for unpaired/paired tracks, 2 for example tracks; ``image_size`` in pixels.
    """
    if len(input_shapes) != n_inputs:
        raise EaselError("E_SIGNATURE", f"the model has {len(input_shapes)} inputs; this track needs {n_inputs}",
                         detail="inputs", facts={"dimension": "inputs", "expected": n_inputs,
                                                 "got": len(input_shapes)})
    for i, shape in enumerate(input_shapes):
        _check_shape(i, shape, image_size)


def check_inputs(model: LoadedModel, n_inputs: int, image_size: int) -> None:
    """:func:`check_input_shapes` on a loaded model's declared inputs."""
    check_input_shapes(model.input_shapes, n_inputs, image_size)


def model_bytes(path: Path) -> int:
    """Size of the model on disk in bytes (file, or a directory's files)."""
    return tree_size(Path(path))


def _as_shape(dims: Sequence[object]) -> tuple[int | None, ...]:
    return tuple(int(d) if isinstance(d, (int, np.integer)) and int(d) >= 0 else None for d in dims)


CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>" or "max <period>"


def cpu_allowance(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU quota (rounded up)."""
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = cpu_max.read_text(encoding="ascii").split()[:2]
        if quota != "max":
            allowed = min(allowed, -(-int(quota) // max(1, int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota here
    return max(1, allowed)


def threads() -> int:
    """Intra-op threads for inference: every CPU the process may use (:func:`cpu_allowance`).

    One count per machine: a result repeats on the same runner (TensorFlow's op
    determinism and onnxruntime's deterministic compute hold for a fixed count).
    """
    return cpu_allowance()


CUDA_PROVIDER, CPU_PROVIDER = "CUDAExecutionProvider", "CPUExecutionProvider"


def onnx_providers(available: Sequence[str], gpu_visible: bool) -> list:
    """The onnxruntime execution providers to ask for, best first.

    ``available``: ``onnxruntime.get_available_providers()``; ``gpu_visible``: an
    NVIDIA device node exists here. CUDA (with cuDNN's deterministic default
    convolution search, not its timing-based exhaustive one) when both hold,
    always with the CPU provider behind it for ops CUDA lacks.
    """
    if gpu_visible and CUDA_PROVIDER in available:
        return [(CUDA_PROVIDER, {"device_id": 0, "cudnn_conv_algo_search": "DEFAULT"}), CPU_PROVIDER]
    return [CPU_PROVIDER]


def gpu_visible() -> bool:
    """An NVIDIA GPU's device node is present (the sandbox binds it where the runner has one)."""
    return os.path.exists("/dev/nvidiactl")


def model_companions(fmt: str, path: Path) -> tuple[str, ...]:
    """Files next to a checked model file that belong to it, relative to its folder.

    An ONNX model's external-data files (confined to its folder by the check); whatever the
    format's module lists (``companions``), nothing for most. The sandbox copies these with the model.
    """
    return _format(fmt).companions(Path(path)) if fmt in FORMATS else ()


__all__ = ["FORMATS", "MODEL_FORMATS", "TENSORFLOW_FORMATS", "URL_SUFFIXES", "ModelFacts", "ModelFormat", "LoadedModel", "check_model", "load_model",
           "check_inputs", "check_input_shapes", "check_declared_inputs", "check_path", "model_bytes", "model_companions",
           "sniff_format", "threads", "cpu_allowance", "onnx_providers"]
