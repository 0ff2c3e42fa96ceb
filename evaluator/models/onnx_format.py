"""ONNX models: domain, op and external-data checks on the parsed protobuf, and the loader.

The check parses the file with ``onnx.load(..., load_external_data=False)``
(protobuf only; no external file is opened) and walks the main graph, the
``training_info`` graphs (initialization and algorithm: runtimes may run
them), every subgraph held in a node attribute (``g`` and ``graphs``), and
every model-local function. Operators
must come from the standard domains and be on
:data:`~evaluator.models.allowlists.ONNX_OPS`; each external-data ``location``
must be a relative path that resolves inside the model's own directory.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from ..errors import EaselError
from . import LoadedModel, ModelFacts, check_declared_inputs, gpu_visible, onnx_providers, threads
from .allowlists import ONNX_DOMAINS, ONNX_OPS

MAX_ONNX_BYTES = 2 << 30  # protobuf's own ceiling; bigger models use external data


def _graphs_and_tensors(model):
    """Yield every (kind, object) to check: ('node', NodeProto) and ('tensor', TensorProto)."""
    from onnx import AttributeProto

    graphs = [model.graph]
    for training in model.training_info:
        graphs.extend([training.initialization, training.algorithm])
    nodes: list = []
    for function in model.functions:
        nodes.extend(function.node)
    while graphs or nodes:
        if graphs:
            graph = graphs.pop()
            for tensor in graph.initializer:
                yield "tensor", tensor
            for sparse in graph.sparse_initializer:
                yield "tensor", sparse.values
                yield "tensor", sparse.indices
            nodes.extend(graph.node)
            continue
        node = nodes.pop()
        yield "node", node
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                graphs.append(attr.g)
            elif attr.type == AttributeProto.GRAPHS:
                graphs.extend(attr.graphs)
            elif attr.type == AttributeProto.TENSOR:
                yield "tensor", attr.t
            elif attr.type == AttributeProto.TENSORS:
                for tensor in attr.tensors:
                    yield "tensor", tensor
            elif attr.type == AttributeProto.SPARSE_TENSOR:
                yield "tensor", attr.sparse_tensor.values
                yield "tensor", attr.sparse_tensor.indices


def _check_location(location: str, root: Path) -> None:
    bad = (not location or "\x00" in location or "\\" in location
           or PurePosixPath(location).is_absolute() or PureWindowsPath(location).is_absolute()
           or PureWindowsPath(location).drive or ".." in PurePosixPath(location).parts)
    if not bad:
        target = (root / location).resolve()
        bad = not target.is_relative_to(root.resolve())
    if bad:
        raise EaselError("E_ONNX_EXTERNAL_DATA", "an external-data location leaves the model's directory",
                         detail="location")


def check(path: Path) -> ModelFacts:
    """Static check of an ``.onnx`` file (the generic path checks already ran)."""
    import onnx
    from google.protobuf.message import DecodeError

    path = Path(path)
    size = path.stat().st_size
    if size > MAX_ONNX_BYTES:
        raise EaselError("E_MODEL_MALFORMED", f"{path.name} is {size} bytes; use external data", detail=path.name)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, RuntimeError, ValueError, OSError):
        raise EaselError("E_MODEL_MALFORMED", f"{path.name} is not an ONNX model", detail=path.name) from None
    if not model.HasField("graph") or not model.opset_import:
        raise EaselError("E_MODEL_MALFORMED", f"{path.name} has no graph or no opset", detail=path.name)
    for opset in model.opset_import:
        if opset.domain not in ONNX_DOMAINS:
            raise EaselError("E_ONNX_DOMAIN", "a custom operator set is imported", detail=opset.domain or "domain")
    for function in model.functions:
        # Model-local functions live in their own (custom) domain by construction.
        raise EaselError("E_ONNX_DOMAIN", "model-local functions are not accepted",
                         detail=function.domain or "functions")
    seen: set[str] = set()
    locations: set[str] = set()
    root = path.parent
    for kind, item in _graphs_and_tensors(model):
        if kind == "node":
            if item.domain not in ONNX_DOMAINS:
                raise EaselError("E_ONNX_DOMAIN", "a node uses a custom operator domain",
                                 detail=item.domain or "domain")
            if item.op_type not in ONNX_OPS or item.domain == "ai.onnx.ml":
                raise EaselError("E_ONNX_OP", "an operator is not on the allowlist", detail=item.op_type)
            seen.add(item.op_type)
        elif item.data_location == onnx.TensorProto.EXTERNAL or item.external_data:
            entries = {entry.key: entry.value for entry in item.external_data}
            location = entries.get("location", "")
            _check_location(location, root)
            locations.add(location)
    check_declared_inputs([_declared(i) for i in _real_inputs(model)])
    external = 0
    for location in sorted(locations):
        target = root / location
        if not target.is_file() or target.is_symlink():
            raise EaselError("E_MODEL_MALFORMED", "an external-data file is missing", detail="location")
        external += target.stat().st_size
    return ModelFacts(format="onnx", bytes=size + external, ops_or_layers=tuple(sorted(seen)),
                      input_names=tuple(i.name for i in _real_inputs(model)))


def _declared(value_info) -> tuple[str, tuple[int | None, ...] | None]:
    """(dtype name, shape with None for symbolic or absent dims, None if the rank is unknown) of an input."""
    from onnx import TensorProto

    kind = value_info.type.WhichOneof("value")
    if kind != "tensor_type":
        return (kind or "unknown"), None
    tensor = value_info.type.tensor_type
    try:
        dtype = "float32" if tensor.elem_type == TensorProto.FLOAT else \
            TensorProto.DataType.Name(tensor.elem_type).lower()
    except ValueError:
        dtype = "unknown"
    if not tensor.HasField("shape"):
        return dtype, None
    return dtype, tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                        for d in tensor.shape.dim)


def external_locations(path: Path) -> tuple[str, ...]:
    """Relative external-data file names a checked ONNX model uses (sorted, confined to its folder)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    found = set()
    for kind, item in _graphs_and_tensors(model):
        if kind == "tensor" and (item.data_location == onnx.TensorProto.EXTERNAL or item.external_data):
            location = {entry.key: entry.value for entry in item.external_data}.get("location", "")
            _check_location(location, Path(path).parent)
            found.add(location)
    return tuple(sorted(found))


companions = external_locations  # the files the sandbox copies with the model (ModelFormat.companions)


def _real_inputs(model):
    """Graph inputs that are not initializers (old exporters list weights as inputs too)."""
    weights = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in weights]


class OnnxModel(LoadedModel):
    """An onnxruntime session with deterministic settings; ``provider``: the execution provider
    it really runs on (onnxruntime falls back to the CPU when CUDA cannot start)."""

    def __init__(self, session, parameters: int):
        self._session = session
        self.provider = str(session.get_providers()[0])
        self._inputs = [i.name for i in session.get_inputs()]
        self._output = session.get_outputs()[0].name
        if len(session.get_outputs()) != 1:
            raise EaselError("E_SIGNATURE", f"the model has {len(session.get_outputs())} outputs, expected 1",
                             detail="outputs", facts={"dimension": "outputs", "expected": 1,
                                                      "got": len(session.get_outputs())})
        self.n_inputs = len(self._inputs)
        self.input_shapes = [tuple(d if isinstance(d, int) and d >= 0 else None for d in i.shape)
                             for i in session.get_inputs()]
        self.parameters = parameters

    def __call__(self, inputs: list[np.ndarray]) -> np.ndarray:
        if len(inputs) != self.n_inputs:
            raise EaselError("E_SIGNATURE", f"{len(inputs)} inputs given, the model takes {self.n_inputs}",
                             detail="inputs", facts={"dimension": "inputs", "expected": len(inputs),
                                                     "got": self.n_inputs})
        feed = {name: np.ascontiguousarray(x, dtype=np.float32) for name, x in zip(self._inputs, inputs)}
        return np.asarray(self._session.run([self._output], feed)[0])


def load(path: Path) -> OnnxModel:
    """Open a checked model in onnxruntime (sandbox only): on the GPU through the CUDA provider where
    onnxruntime-gpu and an NVIDIA device are present, else on the CPU (:func:`onnx_providers`)."""
    import onnx
    import onnxruntime as ort

    path = Path(path)
    check(path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.use_deterministic_compute = True
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), sess_options=options,
                                       providers=onnx_providers(ort.get_available_providers(), gpu_visible()))
        model = onnx.load(str(path), load_external_data=False)
        parameters = 0
        for tensor in model.graph.initializer:
            if tensor.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16,
                                    onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16):
                parameters += int(np.prod(tensor.dims)) if tensor.dims else 1
    except EaselError:
        raise
    except Exception as exc:  # noqa: BLE001 - any loader failure is the model's
        raise EaselError("E_MODEL_LOAD", f"onnxruntime could not load the model ({type(exc).__name__})") from None
    return OnnxModel(session, parameters)
