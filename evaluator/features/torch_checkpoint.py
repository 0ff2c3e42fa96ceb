"""Read the tensors of a PyTorch checkpoint (.pth / .pt) into numpy without PyTorch and without running pickled code.

The one reader of reference weight files (DINOv2, CLIP, torchvision's AlexNet,
the ``lpips`` package's linear weights). A checkpoint is a pickle whose
tensors are ``torch._utils._rebuild_tensor_v2`` records pointing at raw
storages. Two containers exist:

* the **zip** format (torch >= 1.6, and TorchScript archives such as OpenAI's
  CLIP ``.pt``): ``<root>/data.pkl`` plus one raw little-endian file
  ``<root>/data/<key>`` per storage;
* the **legacy** format (older files, e.g. the ``lpips`` package's weights and
  torchvision's 2017-era ImageNet files): a magic-number pickle, the protocol
  version, a system-info dict, the object pickle, a pickle listing the storage
  keys, then for each key an int64 element count and the raw bytes.

The object pickle is read by :class:`_TensorsOnlyUnpickler`, whose
``find_class`` resolves only an allowlist, each name mapped to a local
stand-in that records numbers and never calls into torch:
``collections.OrderedDict``, the two tensor-rebuild functions, the
``torch.*Storage`` type markers, TorchScript's ``torch.jit._pickle`` list
builders, and ``__torch__.*`` classes (a TorchScript module's pickled state
becomes plain attributes, so its parameters are read by their dotted names).
Any other global (the way a hostile pickle runs code) raises E_BACKBONE, so
no arbitrary class or function is ever looked up, let alone called. Every
tensor record is checked against its storage (size, stride, bounds) before it
is read.

API: :func:`read_torch_checkpoint` (the saved object, tensors as arrays),
:func:`flat_parameters` (name -> array, dotted as ``state_dict()``) and
:func:`read_state_dict` (the named float32 tensors, each required with its shape).
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EaselError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
MAX_CHECKPOINT_BYTES = 4 << 30  # DINOv2 ViT-L/14 is 1.2 GB; nothing Easel reads comes near 4 GiB
ZIP_MAGIC = b"PK\x03\x04"

# torch storage type name -> little-endian numpy dtype (None: known, but not readable as numpy)
STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "LongStorage": "<i8",
    "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
    "BFloat16Storage": None,
}
# TorchScript pickles lists of ints, tensors and floats through these builders; a plain list is the same.
_JIT_LIST_BUILDERS = ("build_intlist", "build_tensorlist", "build_doublelist", "build_boollist")


@dataclass(frozen=True)
class _StorageType:
    name: str
    dtype: str | None


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: str
    numel: int


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    size: tuple
    stride: tuple


class TorchModule:
    """A TorchScript module or other ``__torch__`` object of a checkpoint: its pickled state as attributes.

    Never runs anything: ``__setstate__`` only stores what the pickle gave.
    """

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.__dict__.update(state)
        elif isinstance(state, tuple) and state and isinstance(state[0], dict):
            self.__dict__.update(state[0])
        else:
            self.__dict__["_state"] = state


def _module_class(name: str) -> type:
    return type(name.replace(".", "_"), (TorchModule,), {})


def _refuse(source: str, what: str) -> EaselError:
    return EaselError("E_BACKBONE", f"{source}: {what}"[:300], detail="torch_checkpoint")


def _ints(values, source: str, what: str) -> tuple:
    if not isinstance(values, tuple) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                                for v in values):
        raise _refuse(source, f"tensor {what} is not a tuple of non-negative ints")
    return values


class _TensorsOnlyUnpickler(pickle.Unpickler):
    """An unpickler that knows tensors, storages, OrderedDict and TorchScript objects, and refuses every
    other global."""

    def __init__(self, file, source: str):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return self._rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name, STORAGE_DTYPES[name])
        if module == "torch.jit._pickle" and name in _JIT_LIST_BUILDERS:
            return list
        if module.startswith("__torch__"):
            return _module_class(f"{module}.{name}")
        raise _refuse(self.source, f"refuses to load {module}.{name}, which a weights file does not need; "
                                   "refused without running it (only tensors are read from weight files)")

    def _rebuild_tensor(self, storage, offset, size, stride, *rest):
        if not isinstance(storage, _StorageRef):
            raise _refuse(self.source, "a tensor record without a storage")
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise _refuse(self.source, "a tensor record with a bad storage offset")
        return _TensorRef(storage, offset, _ints(size, self.source, "size"), _ints(stride, self.source, "stride"))

    def persistent_load(self, pid):
        # ('storage', storage type, key, location, numel[, view metadata of legacy files])
        if (not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage"
                or not isinstance(pid[1], _StorageType) or not isinstance(pid[4], int) or pid[4] < 0):
            raise _refuse(self.source, "an unknown persistent record (only tensor storages are read)")
        if pid[1].dtype is None:
            raise _refuse(self.source, f"unsupported storage {pid[1].name} (save the weights as float32 or float16)")
        if len(pid) > 5 and pid[5] is not None:
            raise _refuse(self.source, "a legacy storage view (not supported)")
        return _StorageRef(str(pid[2]), pid[1].dtype, pid[4])


def _unpickle(data: bytes | io.BytesIO, source: str):
    stream = data if isinstance(data, io.BytesIO) else io.BytesIO(data)
    try:
        return _TensorsOnlyUnpickler(stream, source).load()
    except EaselError:
        raise
    except Exception as exc:  # noqa: BLE001 - a malformed pickle: any decoding error means the same
        raise _refuse(source, f"not a readable checkpoint pickle ({type(exc).__name__})") from None


def _tensor(ref: _TensorRef, storages: dict[str, np.ndarray], source: str) -> np.ndarray:
    storage = storages.get(ref.storage.key)
    if storage is None:
        raise _refuse(source, f"storage {ref.storage.key!r} is missing")
    if len(ref.size) != len(ref.stride):
        raise _refuse(source, "a tensor's size and stride differ in length")
    numel = int(np.prod(ref.size, dtype=np.int64)) if ref.size else 1
    if numel:
        last = ref.offset + sum((s - 1) * st for s, st in zip(ref.size, ref.stride))
        if last >= len(storage):
            raise _refuse(source, "a tensor reaches past the end of its storage")
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(storage[ref.offset:], shape=ref.size,
                                           strides=tuple(st * item for st in ref.stride), writeable=False)
    return np.array(view)  # a copy: contiguous, owning its memory


def _children(obj):
    """The containers' values the walkers descend into (dict values, sequence items, module attributes)."""
    if isinstance(obj, dict):
        return obj.values()
    if isinstance(obj, (list, tuple)):
        return obj
    if isinstance(obj, TorchModule):
        return vars(obj).values()
    return ()


def _resolve(obj, storages: dict[str, np.ndarray], source: str):
    """``obj`` with every tensor record replaced by its array (modules updated in place)."""
    if isinstance(obj, _TensorRef):
        return _tensor(obj, storages, source)
    if isinstance(obj, dict):
        return {k: _resolve(v, storages, source) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v, storages, source) for v in obj)
    if isinstance(obj, TorchModule):
        for key, value in list(vars(obj).items()):
            obj.__dict__[key] = _resolve(value, storages, source)
    return obj


def _storage_refs(obj, found: dict[str, _StorageRef]) -> dict[str, _StorageRef]:
    stack, seen = [obj], set()
    while stack:
        item = stack.pop()
        if isinstance(item, _TensorRef):
            found.setdefault(item.storage.key, item.storage)
        elif id(item) not in seen and isinstance(item, (dict, list, tuple, TorchModule)):
            seen.add(id(item))
            stack.extend(_children(item))
    return found


def _read_zip(file: Path | io.BytesIO, source: str):
    try:
        with zipfile.ZipFile(file) as archive:
            names = set(archive.namelist())
            pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
            if len(pickles) != 1:
                raise _refuse(source, "not a PyTorch zip checkpoint (no single <root>/data.pkl)")
            prefix = pickles[0][: -len("data.pkl")]
            if f"{prefix}byteorder" in names and archive.read(f"{prefix}byteorder").strip() != b"little":
                raise _refuse(source, "a big-endian checkpoint (not supported)")
            obj = _unpickle(archive.read(pickles[0]), source)
            storages = {}
            for key, ref in _storage_refs(obj, {}).items():
                member = f"{prefix}data/{key}"
                expected = ref.numel * np.dtype(ref.dtype).itemsize
                if member not in names or archive.getinfo(member).file_size != expected:
                    raise _refuse(source, f"storage {key!r} is missing or not {expected} bytes")
                storages[key] = np.frombuffer(archive.read(member), ref.dtype)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError) as exc:
        raise _refuse(source, f"not a readable zip checkpoint ({type(exc).__name__})") from None
    return obj, storages


def _read_legacy(data: bytes, source: str):
    stream = io.BytesIO(data)
    try:
        magic = _unpickle(stream, source) if data[:2] == b"\x80\x02" else None
    except EaselError:
        magic = None
    if magic != LEGACY_MAGIC:
        raise _refuse(source, "neither a zip nor a legacy PyTorch checkpoint")
    # The two header pickles hold only ints and a dict of ints/bools: the restricted unpickler reads them.
    protocol = _unpickle(stream, source)
    info = _unpickle(stream, source)
    if protocol != LEGACY_PROTOCOL or not isinstance(info, dict) or info.get("little_endian") is not True:
        raise _refuse(source, "an unsupported legacy checkpoint (protocol or byte order)")
    obj = _unpickle(stream, source)
    keys = _unpickle(stream, source)
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise _refuse(source, "a legacy checkpoint whose storage key list is malformed")
    refs = _storage_refs(obj, {})
    storages = {}
    for key in keys:
        header = stream.read(8)
        if len(header) != 8 or key not in refs:
            raise _refuse(source, f"storage {key!r} is missing or not referenced")
        (numel,) = struct.unpack("<q", header)
        ref = refs[key]
        nbytes = numel * np.dtype(ref.dtype).itemsize
        if numel != ref.numel or nbytes > len(data) - stream.tell():
            raise _refuse(source, f"storage {key!r} is truncated or does not match its record")
        storages[key] = np.frombuffer(stream.read(nbytes), ref.dtype)
    return obj, storages


def read_torch_checkpoint(file: bytes | str | Path, source: str | None = None) -> object:
    """The object saved in a .pth / .pt, every tensor as a numpy array.

    ``file``: the checkpoint's path (a zip archive is then read member by
    member, never whole) or its bytes. A state dict comes back as
    {name: ndarray} (dtype as saved, C-contiguous copies); a TorchScript
    archive as :class:`TorchModule` objects whose attributes hold the arrays
    (:func:`flat_parameters` names them). ``source`` names the file in errors
    (default: the path's name, or "checkpoint"). Raises E_BACKBONE for anything
    but tensors, storages, (ordered) dicts, lists, tuples and TorchScript
    objects, for files over 4 GiB, and for truncated or inconsistent files.
    """
    if isinstance(file, (str, Path)):
        path = Path(file)
        source = source or path.name
        try:
            size = path.stat().st_size
            with open(path, "rb") as handle:
                head = handle.read(4)
        except OSError as exc:
            raise _refuse(source, f"cannot be read ({type(exc).__name__})") from None
        if size > MAX_CHECKPOINT_BYTES:
            raise _refuse(source, f"larger than {MAX_CHECKPOINT_BYTES >> 20} MiB")
        if head == ZIP_MAGIC:
            obj, storages = _read_zip(path, source)
        else:
            obj, storages = _read_legacy(path.read_bytes(), source)
    else:
        data, source = bytes(file), source or "checkpoint"
        if len(data) > MAX_CHECKPOINT_BYTES:
            raise _refuse(source, f"larger than {MAX_CHECKPOINT_BYTES >> 20} MiB")
        obj, storages = _read_zip(io.BytesIO(data), source) if data[:4] == ZIP_MAGIC else _read_legacy(data, source)
    try:
        return _resolve(obj, storages, source)
    except RecursionError:  # a hostile pickle can nest containers deeper than any weight file does
        raise _refuse(source, "containers nested too deeply for a weights file") from None


def flat_parameters(obj: object, prefix: str = "") -> dict[str, np.ndarray]:
    """name -> array for every array reachable from ``obj`` (a state dict, nested dicts, or a TorchScript
    module's attributes), names dotted as in ``state_dict()`` (``visual.conv1.weight``); a module's
    ``_modules`` holder adds no name part, and its other private attributes are skipped."""
    out: dict[str, np.ndarray] = {}
    if isinstance(obj, np.ndarray):
        out[prefix.rstrip(".")] = obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if isinstance(key, str):
                out.update(flat_parameters(value, f"{prefix}{key}."))
    elif isinstance(obj, TorchModule):
        for key, value in vars(obj).items():
            if not key.startswith("_") or key == "_modules":
                out.update(flat_parameters(value, prefix if key == "_modules" else f"{prefix}{key}."))
    return out


def read_state_dict(path: str | Path, expected: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """The float32 tensors named in ``expected`` (name -> shape) from the checkpoint at ``path``.

    Loud where PyTorch's ``load_state_dict(strict=False)`` is silent: a missing
    name or a wrong shape raises E_BACKBONE naming it; other entries are ignored.
    """
    path = Path(path)
    state = read_torch_checkpoint(path)
    if not isinstance(state, dict):
        raise _refuse(path.name, "does not hold a state dict")
    try:
        params = flat_parameters(state)
    except RecursionError:
        raise _refuse(path.name, "containers nested too deeply for a weights file") from None
    out = {}
    for name, shape in expected.items():
        value = params.get(name)
        if not isinstance(value, np.ndarray):
            raise _refuse(path.name, f"weight {name!r} is missing (found: {', '.join(map(str, params))[:120]})")
        if tuple(value.shape) != tuple(shape):
            raise _refuse(path.name, f"weight {name!r} has shape {tuple(value.shape)}, expected {tuple(shape)}")
        out[name] = value.astype(np.float32)
    return out


__all__ = ["MAX_CHECKPOINT_BYTES", "TorchModule", "flat_parameters", "read_state_dict", "read_torch_checkpoint"]
