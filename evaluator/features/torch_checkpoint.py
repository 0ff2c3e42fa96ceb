"""Read the tensors of a PyTorch checkpoint (.pth) into numpy without PyTorch and without running pickled code.

A .pth is a pickle whose tensors are ``torch._utils._rebuild_tensor_v2``
records pointing at raw storages. Two containers exist:

* the **zip** format (torch >= 1.6): ``<name>/data.pkl`` plus one raw file
  ``<name>/data/<key>`` per storage;
* the **legacy** format (older files, e.g. the ``lpips`` package's weights and
  torchvision's 2017-era ImageNet files): a magic-number pickle, the protocol
  version, a system-info dict, the object pickle, a pickle listing the storage
  keys, then for each key an int64 element count and the raw bytes.

The object pickle is read by :class:`_TensorsOnlyUnpickler`, whose
``find_class`` resolves only an allowlist: ``collections.OrderedDict``, the
two tensor-rebuild functions and the ``torch.*Storage`` type markers, each
mapped to a local stand-in that records numbers and never calls into torch.
Any other global (the way a hostile pickle runs code) raises E_BACKBONE, so
no arbitrary class or function is ever looked up, let alone called.
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
MAX_CHECKPOINT_BYTES = 1 << 30

# torch storage type name -> little-endian numpy dtype
STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "LongStorage": "<i8",
    "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}


@dataclass(frozen=True)
class _StorageType:
    dtype: str


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


def _refuse(source: str, what: str) -> EaselError:
    return EaselError("E_BACKBONE", f"{source}: {what}"[:300], detail="torch_checkpoint")


def _ints(values, source: str, what: str) -> tuple:
    if not isinstance(values, tuple) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                                for v in values):
        raise _refuse(source, f"tensor {what} is not a tuple of non-negative ints")
    return values


class _TensorsOnlyUnpickler(pickle.Unpickler):
    """An unpickler that knows tensors, storages and OrderedDict, and refuses every other global."""

    def __init__(self, file, source: str):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return self._rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        raise _refuse(self.source, f"refuses to load {module}.{name}: only tensors are read from weight files")

    def _rebuild_tensor(self, storage, offset, size, stride, *rest):
        if not isinstance(storage, _StorageRef):
            raise _refuse(self.source, "a tensor record without a storage")
        if not isinstance(offset, int) or offset < 0:
            raise _refuse(self.source, "a tensor record with a bad storage offset")
        return _TensorRef(storage, offset, _ints(size, self.source, "size"), _ints(stride, self.source, "stride"))

    def persistent_load(self, pid):
        if (not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage"
                or not isinstance(pid[1], _StorageType) or not isinstance(pid[4], int)):
            raise _refuse(self.source, "an unknown persistent record (only tensor storages are read)")
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
                                           strides=tuple(st * item for st in ref.stride))
    return np.array(view)  # a copy: contiguous, owning its memory


def _resolve(obj, storages: dict[str, np.ndarray], source: str):
    if isinstance(obj, _TensorRef):
        return _tensor(obj, storages, source)
    if isinstance(obj, dict):
        return {k: _resolve(v, storages, source) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v, storages, source) for v in obj)
    return obj


def _storage_refs(obj, found: dict[str, _StorageRef]) -> dict[str, _StorageRef]:
    if isinstance(obj, _TensorRef):
        found.setdefault(obj.storage.key, obj.storage)
    elif isinstance(obj, dict):
        for v in obj.values():
            _storage_refs(v, found)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _storage_refs(v, found)
    return found


def _read_zip(data: bytes, source: str):
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise _refuse(source, "a zip checkpoint without exactly one <name>/data.pkl")
        prefix = pickles[0][: -len("data.pkl")]
        if f"{prefix}byteorder" in names and archive.read(f"{prefix}byteorder").strip() not in (b"little",):
            raise _refuse(source, "a big-endian checkpoint (not supported)")
        obj = _unpickle(archive.read(pickles[0]), source)
        storages = {}
        for key, ref in _storage_refs(obj, {}).items():
            member = f"{prefix}data/{key}"
            info = archive.getinfo(member) if member in names else None
            expected = ref.numel * np.dtype(ref.dtype).itemsize
            if info is None or info.file_size != expected:
                raise _refuse(source, f"storage {key!r} is missing or not {expected} bytes")
            storages[key] = np.frombuffer(archive.read(member), ref.dtype)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
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


def read_torch_checkpoint(data: bytes, source: str = "checkpoint") -> dict:
    """The object saved in a .pth (``data``: its bytes), every tensor as a numpy array.

    A state dict comes back as {name: ndarray} (dtype as saved, little-endian,
    C-contiguous copies). ``source`` names the file in errors. Raises
    E_BACKBONE for anything but tensors, storages and (ordered) dicts, lists
    and tuples of them, and for truncated or inconsistent files.
    """
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise _refuse(source, f"larger than {MAX_CHECKPOINT_BYTES >> 20} MiB")
    obj, storages = _read_zip(data, source) if data[:4] == b"PK\x03\x04" else _read_legacy(data, source)
    return _resolve(obj, storages, source)


def read_state_dict(path: str | Path, expected: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """The float32 tensors named in ``expected`` (name -> shape) from the checkpoint at ``path``.

    Loud where PyTorch's ``load_state_dict(strict=False)`` is silent: a missing
    name or a wrong shape raises E_BACKBONE naming it; other entries are ignored.
    """
    path = Path(path)
    state = read_torch_checkpoint(path.read_bytes(), path.name)
    if not isinstance(state, dict):
        raise _refuse(path.name, "does not hold a state dict")
    out = {}
    for name, shape in expected.items():
        value = state.get(name)
        if not isinstance(value, np.ndarray):
            raise _refuse(path.name, f"weight {name!r} is missing (found: {', '.join(map(str, state))[:120]})")
        if tuple(value.shape) != tuple(shape):
            raise _refuse(path.name, f"weight {name!r} has shape {tuple(value.shape)}, expected {tuple(shape)}")
        out[name] = value.astype(np.float32)
    return out
