"""Easel's own checks come first (issue 14.2, 14.3, 14.5): bounded walks over hostile trees and
YAML, functions hidden in nested function attributes, ONNX training graphs, HDF5 links inside
Keras weights, and non-float32 / channels-first / fixed-batch signatures, each refused statically
with its own code. Nothing hostile is loaded: only check_model and validate --no-probe run."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml
from onnx import TensorProto, helper

from evaluator.cli import main as easel
from evaluator.errors import EaselError
from evaluator.fsutil import load_yaml_text, tree_sha256, walk_tree
from evaluator.models import check_model
from harness import remove_tree

REPO = Path(__file__).resolve().parents[2]


def refusal(fmt, path):
    with pytest.raises(EaselError) as info:
        check_model(fmt, path)
    return info.value.code, info.value.detail


def deep_tree(root: Path, depth: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    folder = root
    for _ in range(depth):
        folder = folder / "d"
        folder.mkdir()
    (folder / "leaf.bin").write_bytes(b"x")
    return root


# --- bounded walks ----------------------------------------------------------------

def test_1100_deep_tree_is_a_participant_error_everywhere(tmp_path, capsys, request):
    sub = tmp_path / "submissions" / "acme" / "inkgan"
    sub.mkdir(parents=True)
    (sub / "submission.yaml").write_text(yaml.safe_dump({
        "team": "acme", "name": "inkgan", "track": "photo2ink", "authors": ["Ada"], "description": "x",
        "license": "MIT", "model": {"format": "keras", "path": "model.keras"}}))
    deep_tree(sub / "deep", 1100)
    request.addfinalizer(lambda: remove_tree(sub / "deep"))
    with pytest.raises(EaselError) as info:
        tree_sha256(sub)
    assert info.value.code == "E_TREE_DEPTH"
    with pytest.raises(EaselError) as info:
        list(walk_tree(sub))
    assert info.value.code == "E_TREE_DEPTH"
    code = easel(["validate", str(sub), "--no-probe", "--competition", str(REPO / "competition.yaml")])
    out = capsys.readouterr().out
    assert code == 2 and "E_TREE_DEPTH" in out and "E_INTERNAL" not in out


def test_deep_saved_model_folder_is_refused_by_the_model_check(tmp_path, request):
    deep_tree(tmp_path / "sm", 1100)
    request.addfinalizer(lambda: remove_tree(tmp_path / "sm"))
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"\x00")
    assert refusal("saved_model", tmp_path / "sm")[0] == "E_TREE_DEPTH"


def test_walk_tree_is_sorted_relative_and_does_not_follow_links(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x").write_bytes(b"1")
    (tmp_path / "a").write_bytes(b"2")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_bytes(b"3")
    root = tmp_path / "b"
    os.symlink(tmp_path / "outside", root / "link")
    assert [(e.rel, e.is_symlink) for e in walk_tree(root)] == [("link", True), ("x", False)]
    assert [e.rel for e in walk_tree(tmp_path)][:3] == ["a", "b", "b/link"]


def test_30000_nested_brackets_are_a_participant_error(tmp_path, capsys):
    with pytest.raises(EaselError) as info:
        load_yaml_text("team: " + "[" * 30000, "submission.yaml")
    assert info.value.code == "E_YAML_DEPTH" and info.value.exit_code == 2
    sub = tmp_path / "submissions" / "acme" / "inkgan"
    sub.mkdir(parents=True)
    (sub / "submission.yaml").write_text("team: " + "[" * 30000 + "\n")
    code = easel(["validate", str(sub), "--no-probe", "--competition", str(REPO / "competition.yaml")])
    assert code == 2 and "E_YAML_DEPTH" in capsys.readouterr().out


def test_ordinary_nesting_still_loads():
    assert load_yaml_text("a: {b: [[1, 2], {c: [3]}]}") == {"a": {"b": [[1, 2], {"c": [3]}]}}


# --- SavedModel: functions reached through nested function attributes -------------------

@pytest.fixture(scope="module")
def clean_saved_model(tmp_path_factory):
    import tensorflow as tf

    root = tmp_path_factory.mktemp("sm_nested")
    spec = tf.TensorSpec([None, None, None, 3], tf.float32)
    module = tf.Module()
    inner = tf.function(lambda x: tf.tanh(x))
    module.serve = tf.function(lambda x: inner(x) * 1.0, input_signature=[spec])
    tf.saved_model.save(module, str(root / "clean"), signatures=module.serve)
    return root / "clean"


def _read_file_function(name: str):
    from tensorflow.core.framework import function_pb2

    fdef = function_pb2.FunctionDef()
    fdef.signature.name = name
    out = fdef.signature.output_arg.add()
    out.name, out.type = "contents", 7  # DT_STRING
    const = fdef.node_def.add()
    const.name, const.op = "path", "Const"
    read = fdef.node_def.add()
    read.name, read.op = "read", "ReadFile"
    read.input.append("path:output:0")
    fdef.ret["contents"] = "read:contents:0"
    return fdef


def _with_hidden_function(src: Path, dst: Path, where: str) -> Path:
    """Copy a SavedModel and hide a ReadFile function behind a nested function-valued attribute."""
    import shutil

    from tensorflow.core.protobuf import saved_model_pb2

    shutil.copytree(src, dst)
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((dst / "saved_model.pb").read_bytes())
    library = proto.meta_graphs[0].graph_def.library
    library.function.append(_read_file_function("evil_fn"))
    calls = [(f, n) for f in library.function for n in f.node_def
             if n.op in ("PartitionedCall", "StatefulPartitionedCall")]
    assert calls, "the fixture model must call an inner function"
    fdef, call = calls[0]
    if where == "nested_func":        # f = inner[hidden = evil_fn]
        call.attr["f"].func.attr["hidden"].func.name = "evil_fn"
    elif where == "nested_list":      # f = inner[branches = [evil_fn]]
        call.attr["f"].func.attr["branches"].list.func.add().name = "evil_fn"
    elif where == "function_attr":    # an attribute of the calling function itself
        fdef.attr["_hook"].func.name = "evil_fn"
    (dst / "saved_model.pb").write_bytes(proto.SerializeToString())
    return dst


@pytest.mark.parametrize("where", ["nested_func", "nested_list", "function_attr"])
def test_savedmodel_function_hidden_in_a_nested_attribute(clean_saved_model, tmp_path, where):
    assert check_model("saved_model", clean_saved_model).format == "saved_model"
    path = _with_hidden_function(clean_saved_model, tmp_path / where, where)
    assert refusal("saved_model", path) == ("E_SAVEDMODEL_OP", "ReadFile")


def _with_input(src: Path, dst: Path, dtype: int | None = None, dims: list[int] | None = None) -> Path:
    import shutil

    from tensorflow.core.protobuf import saved_model_pb2

    shutil.copytree(src, dst)
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((dst / "saved_model.pb").read_bytes())
    (tensor,) = proto.meta_graphs[0].signature_def["serving_default"].inputs.values()
    if dtype is not None:
        tensor.dtype = dtype
    if dims is not None:
        for dim, size in zip(tensor.tensor_shape.dim, dims):
            dim.size = size
    (dst / "saved_model.pb").write_bytes(proto.SerializeToString())
    return dst


@pytest.mark.parametrize("dtype, dims, code", [
    (19, None, "E_SIGNATURE"),                           # DT_HALF
    (None, [-1, 3, -1, -1], "E_SIGNATURE_LAYOUT"),
    (None, [4, -1, -1, 3], "E_SIGNATURE_BATCH"),
])
def test_savedmodel_signature_outside_the_contract(clean_saved_model, tmp_path, dtype, dims, code):
    assert refusal("saved_model", _with_input(clean_saved_model, tmp_path / "sm", dtype, dims))[0] == code


def test_format_keras_on_a_saved_model_folder_suggests_saved_model(clean_saved_model):
    assert refusal("keras", clean_saved_model) == ("E_FORMAT_MISMATCH", "format:saved_model")


# --- ONNX ---------------------------------------------------------------------------------

def _onnx(path: Path, elem=TensorProto.FLOAT, shape=("N", "H", "W", 3), training_op: str | None = None,
          where: str = "algorithm") -> Path:
    x = helper.make_tensor_value_info("x", elem, list(shape))
    y = helper.make_tensor_value_info("y", elem, list(shape))
    graph = helper.make_graph([helper.make_node("Tanh", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if training_op:
        hidden = helper.make_graph([helper.make_node(training_op, ["x"], ["r"])], "t", [x],
                                   [helper.make_tensor_value_info("r", elem, list(shape))])
        info = model.training_info.add()
        getattr(info, where).CopyFrom(hidden)
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("where", ["algorithm", "initialization"])
def test_onnx_training_info_graphs_are_walked(tmp_path, where):
    assert check_model("onnx", _onnx(tmp_path / "ok.onnx")).ops_or_layers == ("Tanh",)
    assert refusal("onnx", _onnx(tmp_path / "m.onnx", training_op="RandomUniformLike", where=where)) == (
        "E_ONNX_OP", "RandomUniformLike")


@pytest.mark.parametrize("elem, shape, code, facts", [
    (TensorProto.FLOAT16, ("N", "H", "W", 3), "E_SIGNATURE",
     {"dimension": "dtype", "input": 0, "expected": "float32", "got": "float16"}),
    (TensorProto.DOUBLE, ("N", "H", "W", 3), "E_SIGNATURE",
     {"dimension": "dtype", "input": 0, "expected": "float32", "got": "double"}),
    (TensorProto.FLOAT, ("N", 3, "H", "W"), "E_SIGNATURE_LAYOUT", {"input": 0, "got": [None, 3, None, None]}),
    (TensorProto.FLOAT, (1, "H", "W", 3), "E_SIGNATURE_BATCH", {"input": 0, "got": 1}),
    (TensorProto.FLOAT, ("N", "H", "W", 1), "E_SIGNATURE", {"dimension": "channels", "input": 0, "expected": 3,
                                                          "got": 1}),
])
def test_onnx_signature_outside_the_contract(tmp_path, elem, shape, code, facts):
    with pytest.raises(EaselError) as info:
        check_model("onnx", _onnx(tmp_path / "m.onnx", elem, shape))
    assert (info.value.code, info.value.facts) == (code, facts)


def test_format_onnx_on_a_keras_file_suggests_keras(keras_files):
    assert refusal("onnx", keras_files / "clean.keras") == ("E_FORMAT_MISMATCH", "format:keras")


# --- Keras: HDF5 features that read outside the archive -------------------------------------

@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
    import keras
    from keras import layers

    root = tmp_path_factory.mktemp("keras_h5")
    inp = keras.Input((None, None, 3))
    keras.Model(inp, layers.Conv2D(3, 3, padding="same", activation="tanh")(inp)).save(root / "clean.keras")
    half = keras.Input((None, None, 3), dtype="float16")
    keras.Model(half, layers.Activation("tanh")(half)).save(root / "float16.keras")
    fixed = keras.Input((None, None, 3), batch_size=4)
    keras.Model(fixed, layers.Activation("tanh")(fixed)).save(root / "batch4.keras")
    return root


def _with_weights_edit(src: Path, dst: Path, edit) -> Path:
    """Copy a .keras archive with model.weights.h5 edited in h5py."""
    import h5py

    with zipfile.ZipFile(src) as zin:
        weights = io.BytesIO(zin.read("model.weights.h5"))
        with h5py.File(weights, "a") as handle:
            edit(handle, dst.parent)
        with zipfile.ZipFile(dst, "w") as zout:
            for info in zin.infolist():
                data = weights.getvalue() if info.filename == "model.weights.h5" else zin.read(info)
                zout.writestr(info.filename, data)
    return dst


def _external_link(handle, folder):
    handle["layers/leak"] = __import__("h5py").ExternalLink("/etc/passwd", "/")


def _soft_link(handle, folder):
    handle["layers/alias"] = __import__("h5py").SoftLink("/layers")


def _external_storage(handle, folder):
    handle.create_dataset("layers/ext", shape=(4,), dtype="f4", external=[("/etc/hostname", 0, 16)])


def _virtual(handle, folder):
    import h5py

    layout = h5py.VirtualLayout(shape=(4,), dtype="f4")
    layout[:] = h5py.VirtualSource("/etc/other.h5", "data", shape=(4,))
    handle.create_virtual_dataset("layers/virt", layout)


@pytest.mark.parametrize("edit, detail", [
    (_external_link, "external_link"), (_soft_link, "soft_link"),
    (_external_storage, "external_storage"), (_virtual, "virtual_dataset"),
])
def test_keras_weights_with_hdf5_links_are_refused_before_keras(keras_files, tmp_path, edit, detail):
    path = _with_weights_edit(keras_files / "clean.keras", tmp_path / "model.keras", edit)
    assert refusal("keras", path) == ("E_KERAS_H5_LINK", detail)


def test_keras_weights_not_hdf5(keras_files, tmp_path):
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(keras_files / "clean.keras") as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, b"\0" * 64 if info.filename == "model.weights.h5" else zin.read(info))
    assert refusal("keras", path)[0] == "E_KERAS_ARCHIVE"


@pytest.mark.parametrize("name, code, facts", [
    ("float16.keras", "E_SIGNATURE", {"dimension": "dtype", "input": 0, "expected": "float32", "got": "float16"}),
    ("batch4.keras", "E_SIGNATURE_BATCH", {"input": 0, "got": 4}),
])
def test_keras_signature_outside_the_contract(keras_files, name, code, facts):
    with pytest.raises(EaselError) as info:
        check_model("keras", keras_files / name)
    assert (info.value.code, info.value.facts) == (code, facts)


# --- ONNX external data travels with the model -----------------------------------------------

def test_onnx_external_data_is_listed_for_the_sandbox_copy(tmp_path):
    from onnx import numpy_helper

    from evaluator.models import model_companions

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "H", "W", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "H", "W", 3])
    weight = numpy_helper.from_array(np.ones((3,), np.float32), "w")
    graph = helper.make_graph([helper.make_node("Mul", ["x", "w"], ["y"])], "g", [x], [y], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "model.onnx", save_as_external_data=True, location="weights.bin",
              size_threshold=0)
    assert check_model("onnx", tmp_path / "model.onnx").format == "onnx"
    assert model_companions("onnx", tmp_path / "model.onnx") == ("weights.bin",)
    assert model_companions("keras", tmp_path / "model.onnx") == ()
