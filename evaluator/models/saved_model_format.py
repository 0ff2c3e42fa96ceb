"""TensorFlow SavedModel directories: an op allowlist over the parsed graph, and the loader.

The check parses ``saved_model.pb`` with the protobuf classes only (no
``tf.saved_model.load``, no graph import, no op registration) and collects
every op that loading and calling the model can execute:

* the top-level graph nodes reachable from the ``serving_default``
  signature's outputs (and from ``__saved_model_init_op``), following data
  and control inputs;
* every function in the object graph (``object_graph_def.concrete_functions``:
  the functions ``tf.saved_model.load`` restores and may call, including the
  signature functions it really calls, resource initializers and saveable
  restore functions);
* recursively, every function those call: any attribute holding a function
  or a list of functions (``f`` of (Stateful)PartitionedCall, While/If/Case
  bodies, ...), the attributes nested inside those function references, and
  function-valued attributes of the functions themselves. A node calling a
  function by op name is refused outright.

Every op seen must be on :data:`~evaluator.models.allowlists.TF_OPS`. The
checkpoint save/restore functions (SaveV2, RestoreV2) hang off the saver
nodes of the top-level graph, which TF2 loading never runs (it restores
variables with its own ops), so they are not reachable and not refused.
"""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path

import numpy as np

from ..errors import EaselError
from . import LoadedModel, ModelFacts, _as_shape, check_declared_inputs, tree_size
from .allowlists import TF_FORBIDDEN, TF_OPS

SIGNATURE = "serving_default"
INIT_OP = "__saved_model_init_op"
MAX_PB_BYTES = 1 << 30
DT_FLOAT = 1  # tensorflow.core.framework.types_pb2.DT_FLOAT
_SAFE = re.compile(r"[^A-Za-z0-9_.:/-]")


def _printable(name: str) -> str:
    """A function/op name for the operator's log: safe characters, bounded length."""
    return _SAFE.sub("?", name)[:120]


def _node_name(tensor: str) -> str:
    """'^ctrl' / 'name:0' / 'name:out:0' -> node name."""
    return tensor.lstrip("^").split(":", 1)[0]


def _functions_in_attrs(attrs) -> list[str]:
    """Every function named anywhere in an attr map: ``func`` and ``list.func`` values, and,
    recursively, the attrs those function references carry (a call's function-valued
    attribute may itself hold functions, e.g. a While body passed to a PartitionedCall).

    A node whose op field names a library function directly is not followed:
    its op is not on the allowlist, so it is refused like any unknown op.
    """
    called = []
    pending = list(attrs.values())
    while pending:
        value = pending.pop()
        kind = value.WhichOneof("value")
        if kind == "func":
            refs = [value.func]
        elif kind == "list":
            refs = list(value.list.func)
        else:
            continue
        for ref in refs:
            called.append(ref.name)
            pending.extend(ref.attr.values())
    return called


def _called_functions(node) -> list[str]:
    """Every function a node can call through its attributes (see :func:`_functions_in_attrs`)."""
    return _functions_in_attrs(node.attr)


def read_saved_model(path: Path):
    """Parse ``path/saved_model.pb`` as data; returns the SavedModel proto.

    Raises E_MODEL_MALFORMED when the file is missing, too large or not a
    SavedModel, or when a text/chunked variant sits next to it (the loader
    might read that one instead of the file we checked).
    """
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    pb = Path(path) / "saved_model.pb"
    for other in ("saved_model.pbtxt", "saved_model.cpb"):
        if (Path(path) / other).exists():
            raise EaselError("E_MODEL_MALFORMED", f"{other} next to saved_model.pb is not accepted", detail=other)
    if not pb.is_file():
        raise EaselError("E_MODEL_MALFORMED", "the SavedModel directory has no saved_model.pb", detail="saved_model.pb")
    size = pb.stat().st_size
    if size > MAX_PB_BYTES:
        raise EaselError("E_MODEL_MALFORMED", f"saved_model.pb is {size} bytes", detail="saved_model.pb")
    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString(pb.read_bytes())
    except (DecodeError, RuntimeError, ValueError):
        raise EaselError("E_MODEL_MALFORMED", "saved_model.pb is not a SavedModel protobuf",
                         detail="saved_model.pb") from None
    if len(proto.meta_graphs) != 1:
        raise EaselError("E_MODEL_MALFORMED", f"{len(proto.meta_graphs)} meta graphs, expected exactly 1",
                         detail="meta_graphs")
    return proto


def reachable_ops(meta_graph) -> tuple[set[str], dict[str, str]]:
    """All ops loading + serving can run: returns (op names, op -> first function it sits in).

    Raises E_SAVEDMODEL_SIGNATURE when ``serving_default`` is absent,
    E_MODEL_MALFORMED when a signature names a missing node or a call names a
    function the library lacks, E_SAVEDMODEL_OP for a TF1-style model
    (no object graph), which loads through a path that runs graph ops directly.
    """
    signatures = meta_graph.signature_def
    if SIGNATURE not in signatures:
        raise EaselError("E_SAVEDMODEL_SIGNATURE", "no 'serving_default' signature", detail=SIGNATURE)
    if not meta_graph.HasField("object_graph_def") or not meta_graph.object_graph_def.nodes:
        raise EaselError("E_MODEL_MALFORMED", "no object graph: TF1-style SavedModels are not accepted",
                         detail="object_graph_def")
    graph = meta_graph.graph_def
    functions = {f.signature.name: f for f in graph.library.function}
    nodes = {n.name: n for n in graph.node}
    ops: set[str] = set()
    where: dict[str, str] = {}
    pending_functions: deque[str] = deque()

    # 1. top-level graph nodes reachable from the signature outputs and the init op.
    roots = [t.name for t in signatures[SIGNATURE].outputs.values()]
    if INIT_OP in signatures:
        roots += [t.name for t in signatures[INIT_OP].outputs.values()]
    seen_nodes: set[str] = set()
    queue = deque(_node_name(r) for r in roots)
    while queue:
        name = queue.popleft()
        if name in seen_nodes:
            continue
        seen_nodes.add(name)
        node = nodes.get(name)
        if node is None:
            raise EaselError("E_MODEL_MALFORMED", f"signature names a missing node {_printable(name)}",
                             detail="signature_def")
        ops.add(node.op)
        where.setdefault(node.op, "<graph>")
        queue.extend(_node_name(i) for i in node.input)
        pending_functions.extend(_called_functions(node))

    # 2. every function the object graph restores (the loader may call any of them).
    object_graph = meta_graph.object_graph_def
    pending_functions.extend(object_graph.concrete_functions.keys())
    for obj in object_graph.nodes:
        kind = obj.WhichOneof("kind")
        if kind == "function":
            pending_functions.extend(obj.function.concrete_functions)
        elif kind == "bare_concrete_function":
            pending_functions.append(obj.bare_concrete_function.concrete_function_name)

    # 3. the call graph, through function bodies.
    seen_functions: set[str] = set()
    while pending_functions:
        fname = pending_functions.popleft()
        if fname in seen_functions:
            continue
        seen_functions.add(fname)
        fdef = functions.get(fname)
        if fdef is None:
            raise EaselError("E_MODEL_MALFORMED", f"call to a function missing from the library: {_printable(fname)}",
                             detail="function_library")
        pending_functions.extend(_functions_in_attrs(fdef.attr))
        for arg_attrs in fdef.arg_attr.values():
            pending_functions.extend(_functions_in_attrs(arg_attrs.attr))
        for node in fdef.node_def:
            ops.add(node.op)
            where.setdefault(node.op, fname)
            pending_functions.extend(_called_functions(node))
    return ops, where


def _signature_inputs(meta_graph) -> tuple[str, ...]:
    """Input names in contract order; refuses (E_SIGNATURE) what the evaluator can't feed."""
    signature = meta_graph.signature_def[SIGNATURE]
    names = sorted(signature.inputs)
    if len(signature.outputs) != 1:
        raise EaselError("E_SIGNATURE", f"serving_default has {len(signature.outputs)} outputs, expected 1",
                         detail="outputs", facts={"dimension": "outputs", "expected": 1,
                                                  "got": len(signature.outputs)})
    if len(names) == 2:
        # A signature's inputs are a map: only names can say which is content.
        if set(names) != {"content", "style"}:
            raise EaselError("E_SIGNATURE", "two-input SavedModels must name their inputs 'content' and 'style'",
                             detail="input_names", facts={"dimension": "input_names"})
        names = ["content", "style"]
    elif len(names) != 1:
        raise EaselError("E_SIGNATURE", f"serving_default has {len(names)} inputs, expected 1 or 2",
                         detail="inputs", facts={"dimension": "inputs", "got": len(names)})
    declared = []
    for i, name in enumerate(names):
        info = signature.inputs[name]
        if info.dtype != DT_FLOAT:
            from tensorflow.core.framework import types_pb2

            dtype = types_pb2.DataType.Name(info.dtype).removeprefix("DT_").lower() \
                if info.dtype in types_pb2.DataType.values() else "unknown"
            raise EaselError("E_SIGNATURE", f"input {name} is {dtype}, the contract is float32 "
                             "(export float32 inputs; cast inside the model)", detail=f"input_{i}",
                             facts={"dimension": "dtype", "input": i, "expected": "float32", "got": dtype})
        if not info.tensor_shape.unknown_rank and len(info.tensor_shape.dim) != 4:
            raise EaselError("E_SIGNATURE", "inputs must be rank 4 (NHWC)", detail=f"input_{i}",
                             facts={"dimension": "rank", "input": i, "expected": 4,
                                    "got": len(info.tensor_shape.dim)})
        shape = None if info.tensor_shape.unknown_rank else tuple(
            d.size if d.size > 0 else None for d in info.tensor_shape.dim)
        declared.append(("float32", shape))
    check_declared_inputs(declared)
    return tuple(names)


def check(path: Path) -> ModelFacts:
    """Static check of a SavedModel directory (the generic path checks already ran)."""
    path = Path(path)
    proto = read_saved_model(path)
    meta_graph = proto.meta_graphs[0]
    ops, where = reachable_ops(meta_graph)
    # Known-dangerous ops are named first: the most useful thing to tell a reviewer.
    for op in sorted(ops, key=lambda name: (name not in TF_FORBIDDEN, name)):
        if op in TF_FORBIDDEN or op not in TF_OPS:
            raise EaselError("E_SAVEDMODEL_OP",
                             f"op {_printable(op)} in function {_printable(where.get(op, '?'))} is not allowed",
                             detail=op)
    input_names = _signature_inputs(meta_graph)
    return ModelFacts(format="saved_model", bytes=tree_size(path), ops_or_layers=tuple(sorted(ops)),
                      input_names=input_names)


class SavedModelModel(LoadedModel):
    """The ``serving_default`` function of a loaded SavedModel."""

    def __init__(self, loaded, input_names: tuple[str, ...]):
        self._loaded = loaded  # keeps the variables alive
        self._fn = loaded.signatures[SIGNATURE]
        specs = self._fn.structured_input_signature[1]
        self._names = list(input_names)
        self.n_inputs = len(self._names)
        self.input_shapes = [_as_shape(specs[n].shape.as_list()) if specs[n].shape.rank is not None
                             else (None, None, None, None) for n in self._names]
        self.parameters = int(sum(int(np.prod(v.shape)) for v in self._fn.variables))

    def __call__(self, inputs: list[np.ndarray]) -> np.ndarray:
        import tensorflow as tf

        if len(inputs) != self.n_inputs:
            raise EaselError("E_SIGNATURE", f"{len(inputs)} inputs given, the model takes {self.n_inputs}",
                             detail="inputs", facts={"dimension": "inputs", "expected": len(inputs),
                                                     "got": self.n_inputs})
        feed = {name: tf.convert_to_tensor(np.asarray(x, dtype=np.float32)) for name, x in zip(self._names, inputs)}
        out = self._fn(**feed)
        (value,) = out.values()  # the check allowed exactly one output
        return np.asarray(value)


def load(path: Path) -> SavedModelModel:
    """Load a checked SavedModel and pick its serving signature (sandbox only)."""
    from .keras_format import configure_tensorflow

    facts = check(path)
    configure_tensorflow()
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
        if SIGNATURE not in loaded.signatures:
            raise EaselError("E_SAVEDMODEL_SIGNATURE", "no 'serving_default' signature after loading",
                             detail=SIGNATURE)
        return SavedModelModel(loaded, facts.input_names)
    except EaselError:
        raise
    except Exception as exc:  # noqa: BLE001 - any loader failure is the model's
        raise EaselError("E_MODEL_LOAD", f"TensorFlow could not load the SavedModel ({type(exc).__name__})") from None
