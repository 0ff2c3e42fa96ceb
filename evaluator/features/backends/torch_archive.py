"""Reading the tensors of a PyTorch checkpoint (.pth / .pt zip archive) without running pickled code.

A PyTorch checkpoint is a zip archive: ``<root>/data.pkl`` (a pickle naming
the tensors) and ``<root>/data/<key>`` (each storage's raw little-endian
bytes). Unpickling it with :mod:`pickle` would let the file call any Python
function; here the unpickler resolves only the few names a tensor needs
(``torch._utils._rebuild_tensor_v2`` and the storage types), each mapped to a
function of ours that builds a numpy array, and ``collections.OrderedDict``.
A TorchScript archive (OpenAI's CLIP ``.pt``) pickles its modules as
``__torch__.*`` classes: those become plain attribute holders, so their
parameters can be read by their dotted names. Anything else is refused
(E_BACKBONE).
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

from ...errors import EaselError

# storage type name -> numpy little-endian dtype
_STORAGES = {"FloatStorage": "<f4", "HalfStorage": "<f2", "DoubleStorage": "<f8", "BFloat16Storage": "bfloat16",
             "LongStorage": "<i8", "IntStorage": "<i4", "ByteStorage": "|u1", "BoolStorage": "|b1"}
MAX_ARCHIVE_BYTES = 4 << 30


class _Storage:
    def __init__(self, dtype: str):
        self.dtype = dtype


class _Module:
    """A TorchScript module or other ``__torch__`` object: its pickled state as attributes."""

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.__dict__.update(state)
        elif isinstance(state, tuple) and state and isinstance(state[0], dict):
            self.__dict__.update(state[0])
        else:
            self.__dict__["_state"] = state


def _module_class(name: str):
    return type(name.replace(".", "_"), (_Module,), {})


def _rebuild_tensor(storage, offset, size, stride, *_ignored):
    """numpy view of (storage, element offset, size, stride) as torch._utils._rebuild_tensor_v2 would build."""
    data = storage
    if not size:
        return data[offset:offset + 1].reshape(()).copy()
    itemsize = data.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(data[offset:], shape=tuple(size),
                                           strides=tuple(s * itemsize for s in stride), writeable=False)
    return np.ascontiguousarray(view)


def _ordered_dict(*args):
    return collections.OrderedDict(*args)


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, root: str, source: str):
        super().__init__(io.BytesIO(data))
        self._archive, self._root, self._source = archive, root, source
        self._storages: dict[str, np.ndarray] = {}

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGES:
            return _Storage(_STORAGES[name])
        if module == "collections" and name == "OrderedDict":
            return _ordered_dict
        if module.startswith("__torch__"):
            return _module_class(f"{module}.{name}")
        if module == "torch.jit._pickle" and name in ("build_intlist", "build_tensorlist", "build_doublelist"):
            return list
        raise EaselError("E_BACKBONE", f"{self._source}: the checkpoint names {module}.{name}, which a weights "
                         "file does not need; refused without running it", detail="checkpoint")

    def persistent_load(self, pid):
        # ('storage', storage type, key, location, numel)
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise EaselError("E_BACKBONE", f"{self._source}: unexpected persistent id", detail="checkpoint")
        kind, key = pid[1], str(pid[2])
        dtype = kind.dtype if isinstance(kind, _Storage) else _STORAGES.get(str(kind))
        if dtype is None or dtype == "bfloat16":
            raise EaselError("E_BACKBONE", f"{self._source}: unsupported storage {kind!r}", detail="checkpoint")
        if key not in self._storages:
            raw = self._archive.read(f"{self._root}/data/{key}")
            self._storages[key] = np.frombuffer(raw, dtype=dtype)
        return self._storages[key]


def read_torch_archive(path: str | Path) -> object:
    """The unpickled object of a PyTorch zip checkpoint: dicts of numpy arrays, modules as attributes."""
    path = Path(path)
    source = path.name
    try:
        if path.stat().st_size > MAX_ARCHIVE_BYTES:
            raise EaselError("E_BACKBONE", f"{source}: larger than {MAX_ARCHIVE_BYTES} bytes", detail="checkpoint")
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
            if len(pickles) != 1:
                raise EaselError("E_BACKBONE", f"{source}: not a PyTorch zip checkpoint (no single data.pkl)",
                                 detail="checkpoint")
            root = pickles[0].split("/")[0]
            return _Unpickler(archive.read(pickles[0]), archive, root, source).load()
    except (zipfile.BadZipFile, OSError, pickle.UnpicklingError, EOFError, KeyError) as exc:
        raise EaselError("E_BACKBONE", f"{source}: not a readable PyTorch checkpoint ({type(exc).__name__})",
                         detail="checkpoint") from None


def flat_parameters(obj: object, prefix: str = "") -> dict[str, np.ndarray]:
    """name -> array for every array reachable from ``obj`` (a state dict, or a TorchScript module's
    attributes), names dotted as in ``state_dict()`` (``visual.conv1.weight``)."""
    out: dict[str, np.ndarray] = {}
    if isinstance(obj, np.ndarray):
        out[prefix.rstrip(".")] = obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if isinstance(key, str):
                out.update(flat_parameters(value, f"{prefix}{key}."))
    elif isinstance(obj, _Module):
        for key, value in vars(obj).items():
            if not key.startswith("_") or key == "_modules":
                out.update(flat_parameters(value, prefix if key == "_modules" else f"{prefix}{key}."))
    return out
