"""Keras 3 ``.keras`` archives: a static check of the zip and its config, and the loader.

The check reads the archive with :mod:`zipfile` (the same parser Keras uses,
so both see the same members) without extracting anything, then walks
config.json as plain JSON: every object with a ``class_name`` must come from
an allowlisted Keras module (:mod:`evaluator.models.allowlists`), and no
string anywhere may look like a path or URL. Safe mode alone has been
bypassed repeatedly, so it is the second layer, not the first.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np

from ..error_text import is_name
from ..errors import EaselError
from . import LoadedModel, ModelFacts, _as_shape, check_declared_inputs, threads
from .allowlists import (KERAS_ACTIVATIONS, KERAS_CLASSES, KERAS_COMPILE_MODULES,
                         KERAS_FUNCTION_MODULES, KERAS_MEMBERS, KERAS_VALUE_CLASSES)

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_LOCAL_MAGIC = b"PK\x03\x04"

MAX_MEMBERS = 1000
MAX_TOTAL_UNCOMPRESSED = 4 << 30        # bytes, whole archive once unpacked
MAX_RATIO = 100                         # uncompressed / compressed, per member over RATIO_FLOOR
RATIO_FLOOR = 1 << 20                   # small members may compress well (JSON)
MAX_CONFIG_BYTES = 32 << 20
MAX_DEPTH = 200                         # JSON nesting (a deep config is a parser bomb), HDF5 group nesting
MAX_H5_OBJECTS = 200_000                # links in the weights file

# Leading bytes of archive/compression formats: such a member makes a nested archive.
_ARCHIVE_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00",
                   b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07", b"\x28\xb5\x2f\xfd", b"\x04\x22\x4d\x18")
_ARCHIVE_SUFFIXES = (".zip", ".keras", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".tar", ".zst", ".lz4",
                     ".whl", ".jar", ".npz")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,80}$")


def _ident(text: object) -> str | None:
    return text if isinstance(text, str) and _IDENT.match(text) else None


def _hdf5_at_superblock(path: Path) -> bool:
    """HDF5 files start with the signature at offset 0, 512, 1024, 2048, ..."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        offset = 0
        while offset + len(HDF5_MAGIC) <= size:
            handle.seek(offset)
            if handle.read(len(HDF5_MAGIC)) == HDF5_MAGIC:
                return True
            offset = 512 if offset == 0 else offset * 2
    return False


def _safe_member_name(name: str) -> bool:
    if not name or "\\" in name or "\x00" in name or name.startswith("/") or ":" in name:
        return False
    parts = PurePosixPath(name).parts
    return all(part not in ("", ".", "..") for part in parts)


def inspect_zip(path: Path, expected_members: frozenset[str] | None) -> dict[str, zipfile.ZipInfo]:
    """Check a zip archive as data; returns its members by name.

    Refuses (E_ZIP_BOMB) too many members, duplicate names, a declared
    unpacked size over MAX_TOTAL_UNCOMPRESSED bytes, a compression ratio over
    MAX_RATIO, and any member that is itself an archive. Refuses
    (E_KERAS_ARCHIVE) unsafe member names, encrypted members, unknown
    compression and, when ``expected_members`` is given, members other than
    those or files under assets/.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise EaselError("E_KERAS_ARCHIVE", f"not a readable zip archive ({type(exc).__name__})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise EaselError("E_ZIP_BOMB", f"{len(infos)} members, limit {MAX_MEMBERS}", detail="members",
                             facts={"members": len(infos), "limit": MAX_MEMBERS})
        members: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            name = info.filename
            if not _safe_member_name(name):
                raise EaselError("E_KERAS_ARCHIVE", "a member name is absolute, has '..' or a backslash",
                                 detail="member_name")
            if name in members:
                raise EaselError("E_KERAS_ARCHIVE", f"duplicate member {name}", detail=name)
            members[name] = info
            if info.flag_bits & 0x1:
                raise EaselError("E_KERAS_ARCHIVE", f"member {name} is encrypted", detail=name)
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise EaselError("E_KERAS_ARCHIVE", f"member {name} uses an unsupported compression", detail=name)
            if name.lower().endswith(_ARCHIVE_SUFFIXES) and name not in KERAS_MEMBERS:
                raise EaselError("E_ZIP_BOMB", f"member {name} is an archive inside the archive", detail=name)
            if expected_members is not None and not info.is_dir():
                if name not in expected_members and not name.startswith("assets/"):
                    raise EaselError("E_KERAS_ARCHIVE", f"unexpected member {name}", detail=name)
            total += info.file_size
            if total > MAX_TOTAL_UNCOMPRESSED:
                raise EaselError("E_ZIP_BOMB", "the archive unpacks to more than "
                                 f"{MAX_TOTAL_UNCOMPRESSED >> 30} GiB", detail="uncompressed_size")
            if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise EaselError("E_ZIP_BOMB", f"member {name} compresses {info.file_size // max(info.compress_size, 1)}x",
                                 detail=name)
        # A member that starts like an archive is a nested archive, whatever its name.
        for name, info in members.items():
            if info.is_dir() or info.file_size == 0:
                continue
            try:
                with archive.open(info) as handle:
                    head = handle.read(8)
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError):
                raise EaselError("E_KERAS_ARCHIVE", f"member {name} cannot be read", detail=name) from None
            if head.startswith(_ARCHIVE_MAGICS):
                raise EaselError("E_ZIP_BOMB", f"member {name} is itself an archive", detail=name)
        return members


def _read_json_member(path: Path, name: str, info: zipfile.ZipInfo) -> object:
    if info.file_size > MAX_CONFIG_BYTES:
        raise EaselError("E_ZIP_BOMB", f"{name} declares {info.file_size} bytes", detail=name)
    with zipfile.ZipFile(path) as archive:
        try:
            # zipfile stops at the declared size, so the read is bounded.
            raw = archive.read(info)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            raise EaselError("E_KERAS_ARCHIVE", f"{name} cannot be read", detail=name) from None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise EaselError("E_KERAS_ARCHIVE", f"{name} is not valid JSON", detail=name) from None


def _looks_like_path(text: str) -> bool:
    return any(mark in text for mark in ("/", "\\", "://", "~", ".."))


# Where an object sits in a layer's config says what it is (for the refusal's facts and hint).
_ROLE_SUFFIXES = (("_initializer", "initializer"), ("_regularizer", "regularizer"), ("_constraint", "constraint"))


def _role(key: str | None) -> str:
    """What an object under ``key`` is: a layer (an item of a ``layers`` list), an initializer, ..."""
    if key == "layers":
        return "layer"
    if key in ("activation", "recurrent_activation"):
        return "activation"
    for suffix, role in _ROLE_SUFFIXES:
        if isinstance(key, str) and key.endswith(suffix):
            return role
    return "object"


def _origin(module: object, registered: object) -> str:
    """Where a refused class comes from, as its config says: keras, tensorflow, custom or unknown."""
    if isinstance(registered, str) and ">" in registered:
        return "custom"
    if not isinstance(module, str):
        return "unknown"
    top = module.split(".", 1)[0]
    return {"keras": "keras", "tensorflow": "tensorflow", "tf_keras": "tensorflow"}.get(top, "custom")


class _Where:
    """The layer an object sits in (the first one at fault is named), and what the object is there."""

    def __init__(self, layer: str | None = None, layer_class: str | None = None, role: str = "object"):
        self.layer, self.layer_class, self.role = layer, layer_class, role

    def inside(self, obj: dict, key: str | None) -> "_Where":
        """The context for the children of ``obj`` (itself a layer when it is an item of ``layers``)."""
        if _role(key) == "layer":
            config = obj.get("config") if isinstance(obj.get("config"), dict) else {}
            name = config.get("name", obj.get("name"))
            return _Where(name if is_name(name) else None, _ident(obj.get("class_name")))
        return self

    def refuse(self, obj: dict, message: str) -> EaselError:
        class_name = obj.get("class_name")
        shown = _ident(class_name) or "class_name"
        facts = {"found": self.role, "object_class": shown, "origin": _origin(obj.get("module"),
                                                                              obj.get("registered_name"))}
        if self.role == "layer":
            facts["layer"] = self.layer or shown
        elif self.layer:
            facts["layer"] = self.layer
            if self.layer_class:
                facts["layer_class"] = self.layer_class
        return EaselError("E_KERAS_LAYER", message, detail=shown, facts=facts)


def _check_object(obj: dict, in_compile: bool, seen: set[str], where: _Where) -> None:
    class_name = obj.get("class_name")
    module = obj.get("module")
    registered = obj.get("registered_name")
    if not isinstance(class_name, str):
        raise EaselError("E_KERAS_LAYER", "a class_name is not a string", detail="class_name",
                         facts={"found": where.role, "object_class": "class_name", "origin": "unknown"})
    if class_name in KERAS_VALUE_CLASSES and module is None:
        return
    if registered is not None and registered != class_name:
        # Custom objects are saved as registered_name "package>Class".
        raise where.refuse(obj, f"custom registered object in place of {class_name}")
    if class_name == "function":
        config = obj.get("config")
        if module in KERAS_FUNCTION_MODULES and config in KERAS_ACTIVATIONS:
            seen.add(f"function:{config}")
            return
        raise EaselError("E_KERAS_LAYER", "a serialized function outside keras.activations",
                         detail=_ident(config) or "function",
                         facts={"found": "activation", "object_class": _ident(config) or "function",
                                "origin": _origin(module, registered),
                                **({"layer": where.layer} if where.layer else {})})
    if in_compile and isinstance(module, str) and module in KERAS_COMPILE_MODULES and registered is None:
        # Never deserialized: the loader passes compile=False.
        if _ident(class_name) is None:
            raise EaselError("E_KERAS_LAYER", "an optimizer/loss class name is not an identifier",
                             detail="class_name", facts={"found": "object", "object_class": "class_name",
                                                         "origin": "unknown"})
        return
    allowed = KERAS_CLASSES.get(module) if isinstance(module, str) else None
    if allowed is None or class_name not in allowed:
        origin = module if isinstance(module, str) and _IDENT.match(module.replace(".", "_")) else "unknown module"
        raise where.refuse(obj, f"class {class_name!r} from {origin} is not allowed")
    seen.add(class_name)


def check_config(config: object) -> tuple[str, ...]:
    """Walk a parsed config.json; returns the sorted allowlisted class names seen.

    Refuses E_KERAS_LAYER (a class outside the allowlist, a custom
    registered object, a non-Keras module) and E_KERAS_PATH_ARG (a string key
    or value containing '/', '\\\\', '://', '~' or '..'). The walk goes in
    document order, so the refusal names the first layer at fault; its facts
    say what was found there (a layer class, an initializer, ...) and where.
    """
    seen: set[str] = set()
    # Iterative walk: a hostile config may nest deeper than Python's recursion limit.
    # Items: (node, in_compile, depth, the key it sits under, the layer it sits in).
    stack: list[tuple[object, bool, int, str | None, _Where]] = [(config, False, 0, None, _Where())]
    while stack:
        node, in_compile, depth, key, where = stack.pop()
        if depth > MAX_DEPTH:
            raise EaselError("E_KERAS_ARCHIVE", "config.json nests too deeply", detail="config.json")
        if isinstance(node, dict):
            inner = where.inside(node, key)
            if "class_name" in node:
                _check_object(node, in_compile, seen, _Where(where.layer, where.layer_class, _role(key))
                              if _role(key) != "layer" else _Where(inner.layer, inner.layer_class, "layer"))
            children = []
            for child_key, value in node.items():
                if _looks_like_path(child_key):
                    raise EaselError("E_KERAS_PATH_ARG", "a config key looks like a path", detail="config_key")
                children.append((value, in_compile or child_key == "compile_config", depth + 1, child_key, inner))
            stack.extend(reversed(children))  # popped in document order
        elif isinstance(node, list):
            stack.extend(reversed([(item, in_compile, depth + 1, key, where) for item in node]))
        elif isinstance(node, str):
            if _looks_like_path(node):
                raise EaselError("E_KERAS_PATH_ARG", "a layer argument looks like a file path or URL",
                                 detail="path_argument")
        elif node is not None and not isinstance(node, (int, float, bool)):
            raise EaselError("E_KERAS_ARCHIVE", "config.json holds an unexpected value type", detail="config.json")
    return tuple(sorted(seen))


def check_weights_h5(path: Path, member: str = "model.weights.h5") -> None:
    """Refuse HDF5 features that make Keras read outside the archive, before Keras opens it.

    Opens the weights member with h5py straight from the zip (read-only, no
    extraction) and walks every group iteratively, looking at each link
    without following it: external links and soft links are refused, and so
    are datasets with external storage or virtual (mapped) layouts. Raises
    E_KERAS_H5_LINK for those, E_KERAS_ARCHIVE when the member is not HDF5 or
    nests deeper than MAX_DEPTH or holds more than MAX_H5_OBJECTS objects.
    """
    import h5py

    with zipfile.ZipFile(path) as archive, archive.open(member) as handle:
        try:
            weights = h5py.File(handle, "r")
        except (OSError, ValueError):
            raise EaselError("E_KERAS_ARCHIVE", f"{member} is not an HDF5 file", detail=member) from None
        with weights:
            stack, seen = [(weights, 0)], 0
            while stack:
                group, depth = stack.pop()
                for name in group:
                    seen += 1
                    if seen > MAX_H5_OBJECTS or depth >= MAX_DEPTH:
                        raise EaselError("E_KERAS_ARCHIVE", f"{member} is too large or too deep", detail=member)
                    link = group.get(name, getlink=True)
                    if isinstance(link, h5py.ExternalLink):
                        raise EaselError("E_KERAS_H5_LINK", f"{member} holds an external link", detail="external_link")
                    if isinstance(link, h5py.SoftLink):
                        raise EaselError("E_KERAS_H5_LINK", f"{member} holds a soft link", detail="soft_link")
                    item = group.get(name)
                    if isinstance(item, h5py.Dataset):
                        if item.is_virtual:
                            raise EaselError("E_KERAS_H5_LINK", f"{member} holds a virtual dataset",
                                             detail="virtual_dataset")
                        if item.external:
                            raise EaselError("E_KERAS_H5_LINK", f"{member} holds a dataset stored in external "
                                             "files", detail="external_storage")
                    elif isinstance(item, h5py.Group):
                        stack.append((item, depth + 1))


def declared_inputs(config: dict) -> list[tuple[str, tuple[int | None, ...] | None]]:
    """(dtype, batch_shape) of each top-level InputLayer in a model's config.json, in order."""
    found = []
    layers = config.get("config", {}).get("layers", []) if isinstance(config.get("config"), dict) else []
    for layer in layers if isinstance(layers, list) else []:
        if not (isinstance(layer, dict) and layer.get("class_name") == "InputLayer"
                and isinstance(layer.get("config"), dict)):
            continue
        settings = layer["config"]
        dtype = settings.get("dtype", "float32")
        if isinstance(dtype, dict):  # a DTypePolicy object
            dtype = dtype.get("config", {}).get("name") if isinstance(dtype.get("config"), dict) else None
        shape = settings.get("batch_shape")
        shape = tuple(d if isinstance(d, int) and not isinstance(d, bool) and d > 0 else None for d in shape) \
            if isinstance(shape, list) else None
        found.append((dtype if isinstance(dtype, str) and _IDENT.match(dtype) else "unknown", shape))
    return found


def check(path: Path) -> ModelFacts:
    """Static check of a ``.keras`` file (the generic path checks already ran)."""
    path = Path(path)
    if _hdf5_at_superblock(path):
        raise EaselError("E_KERAS_H5", f"{path.name} is a legacy HDF5 file", detail=path.name)
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head != ZIP_LOCAL_MAGIC:
        raise EaselError("E_KERAS_ARCHIVE", f"{path.name} is not a zip archive", detail=path.name)
    if path.suffix != ".keras":
        raise EaselError("E_KERAS_ARCHIVE", "a Keras model file must be named *.keras", detail=path.name)
    members = inspect_zip(path, KERAS_MEMBERS)
    for required in ("config.json", "metadata.json"):
        if required not in members:
            raise EaselError("E_KERAS_ARCHIVE", f"the archive has no {required}", detail=required)
    if "model.weights.h5" not in members:
        raise EaselError("E_KERAS_ARCHIVE", "the archive has no weights file", detail="model.weights.h5")
    metadata = _read_json_member(path, "metadata.json", members["metadata.json"])
    if not isinstance(metadata, dict) or not isinstance(metadata.get("keras_version"), str):
        raise EaselError("E_KERAS_ARCHIVE", "metadata.json has no keras_version", detail="metadata.json")
    config = _read_json_member(path, "config.json", members["config.json"])
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise EaselError("E_KERAS_ARCHIVE", "config.json does not describe a model", detail="config.json")
    seen = check_config(config)
    if config["class_name"] not in ("Functional", "Sequential", "Model"):
        raise EaselError("E_KERAS_LAYER", "the top-level object is not a Keras model",
                         detail=_ident(config["class_name"]) or "class_name",
                         facts={"found": "object", "object_class": _ident(config["class_name"]) or "class_name",
                                "origin": _origin(config.get("module"), config.get("registered_name"))})
    check_declared_inputs(declared_inputs(config))
    check_weights_h5(path)
    return ModelFacts(format="keras", bytes=path.stat().st_size, ops_or_layers=seen)


class KerasModel(LoadedModel):
    """A Keras model behind one compiled, deterministic inference call."""

    def __init__(self, model):
        import tensorflow as tf

        self._model = model
        self.n_inputs = len(model.inputs)
        self.input_shapes = [_as_shape(tuple(t.shape)) for t in model.inputs]
        self.parameters = int(model.count_params())
        # reduce_retracing: one trace serves every batch size and image size.
        self._fn = tf.function(lambda xs: model(xs, training=False), reduce_retracing=True)

    def __call__(self, inputs: list[np.ndarray]) -> np.ndarray:
        import tensorflow as tf

        if len(inputs) != self.n_inputs:
            raise EaselError("E_SIGNATURE", f"{len(inputs)} inputs given, the model takes {self.n_inputs}",
                             detail="inputs", facts={"dimension": "inputs", "expected": len(inputs),
                                                     "got": self.n_inputs})
        tensors = [tf.convert_to_tensor(np.asarray(x, dtype=np.float32)) for x in inputs]
        out = self._fn(tensors if self.n_inputs > 1 else tensors[0])
        if isinstance(out, (list, tuple)):
            if len(out) != 1:
                raise EaselError("E_SIGNATURE", f"the model returns {len(out)} outputs, expected 1",
                                 detail="outputs", facts={"dimension": "outputs", "expected": 1, "got": len(out)})
            out = out[0]
        return np.asarray(out)


def configure_tensorflow() -> None:
    """Deterministic, small-thread TensorFlow (call once, before building ops)."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads())
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # already initialized in this process: keep its settings


def load(path: Path) -> KerasModel:
    """Load a checked ``.keras`` file with safe mode on and without compiling (sandbox only)."""
    configure_tensorflow()
    import keras

    try:
        model = keras.saving.load_model(str(path), safe_mode=True, compile=False)
    except EaselError:
        raise
    except Exception as exc:  # noqa: BLE001 - any loader failure is the model's
        raise EaselError("E_MODEL_LOAD", f"keras could not load the model ({type(exc).__name__})") from None
    return KerasModel(model)
