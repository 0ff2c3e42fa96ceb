"""Hostile model files: each must be refused by the static check, with its own code.

Every model is built here. Nothing hostile is ever loaded: these tests only
call check_model, which parses files as data.
"""

import io
import json
import zipfile

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from evaluator.errors import EaselError
from evaluator.models import check_model


def refusal(fmt, path):
    with pytest.raises(EaselError) as info:
        check_model(fmt, path)
    return info.value.code, info.value.detail


# --- SavedModel ---------------------------------------------------------------

@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    import tensorflow as tf

    root = tmp_path_factory.mktemp("hostile_sm")
    spec = tf.TensorSpec([None, None, None, 3], tf.float32)

    def save(name, fn, **extra):
        module = tf.Module()
        module.serve = tf.function(fn, input_signature=[spec])
        for key, value in extra.items():
            setattr(module, key, value)
        tf.saved_model.save(module, str(root / name), signatures=module.serve)

    def reads(x):
        secret = tf.strings.length(tf.io.read_file("/etc/passwd"))
        return tf.tanh(x) + tf.cast(secret, tf.float32) * 0.0

    def writes(x):
        tf.io.write_file("/tmp/easel-pwned", tf.strings.as_string(tf.reduce_sum(x)))
        return tf.tanh(x)

    def calls_python(x):
        return tf.py_function(lambda t: np.tanh(t.numpy()), [x], tf.float32)

    def reads_in_branch(x):
        return tf.cond(tf.reduce_sum(x) > 0, lambda: reads(x), lambda: tf.tanh(x))

    save("read_file", reads)
    save("write_file", writes)
    save("py_function", calls_python)
    save("read_in_cond", reads_in_branch)
    # The signature is clean; a second restored function reads a file.
    side = tf.function(reads, input_signature=[spec])
    save("read_off_signature", lambda x: tf.tanh(x), side=side)
    save("clean", lambda x: tf.tanh(x))
    return root


@pytest.mark.parametrize("name, op", [
    ("read_file", "ReadFile"),
    ("write_file", "WriteFile"),
    ("py_function", "EagerPyFunc"),
    ("read_in_cond", "ReadFile"),           # found through the If/While body functions
    ("read_off_signature", "ReadFile"),     # every function the loader restores is checked
])
def test_savedmodel_io_and_python_ops_are_refused(saved_models, name, op):
    assert refusal("saved_model", saved_models / name) == ("E_SAVEDMODEL_OP", op)


def test_savedmodel_refusal_message_names_the_function(saved_models):
    with pytest.raises(EaselError) as info:
        check_model("saved_model", saved_models / "read_file")
    assert "ReadFile" in info.value.message and "__inference" in info.value.message


def test_savedmodel_without_serving_default(saved_models, tmp_path):
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((saved_models / "clean" / "saved_model.pb").read_bytes())
    signatures = proto.meta_graphs[0].signature_def
    signatures["renamed"].CopyFrom(signatures["serving_default"])
    del signatures["serving_default"]
    target = tmp_path / "sm"
    target.mkdir()
    (target / "saved_model.pb").write_bytes(proto.SerializeToString())
    assert refusal("saved_model", target) == ("E_SAVEDMODEL_SIGNATURE", "serving_default")


def test_savedmodel_signature_pointing_at_a_read_file_node(saved_models, tmp_path):
    """A hand-edited top-level graph: the signature output is a ReadFile node."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((saved_models / "clean" / "saved_model.pb").read_bytes())
    meta = proto.meta_graphs[0]
    node = meta.graph_def.node.add(name="steal", op="ReadFile")
    node.input.append("serving_default_x")
    meta.signature_def["serving_default"].outputs["output_0"].name = "steal:0"
    target = tmp_path / "sm"
    target.mkdir()
    (target / "saved_model.pb").write_bytes(proto.SerializeToString())
    assert refusal("saved_model", target) == ("E_SAVEDMODEL_OP", "ReadFile")


def test_savedmodel_pbtxt_sibling_and_garbage(saved_models, tmp_path):
    import shutil

    target = tmp_path / "sm"
    shutil.copytree(saved_models / "clean", target)
    assert check_model("saved_model", target).ops_or_layers  # the clean one passes
    (target / "saved_model.pbtxt").write_text("meta_graphs {}")
    assert refusal("saved_model", target) == ("E_MODEL_MALFORMED", "saved_model.pbtxt")
    (target / "saved_model.pbtxt").unlink()
    (target / "saved_model.pb").write_bytes(b"\xff\xff\xff\xff not a protobuf")
    assert refusal("saved_model", target) == ("E_MODEL_MALFORMED", "saved_model.pb")


# --- Keras ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    import keras
    from keras import layers

    root = tmp_path_factory.mktemp("hostile_keras")
    inp = keras.Input((None, None, 3))
    out = layers.Conv2D(3, 3, padding="same", activation="tanh")(inp)
    keras.Model(inp, out).save(root / "clean.keras")
    lam = layers.Lambda(lambda t: t * 2.0)(inp)
    keras.Model(inp, lam).save(root / "lambda.keras")
    keras.Model(inp, out).save(root / "legacy.h5")
    return root


def rewrite(src, dst, members=None, config_edit=None, extra=()):
    """Copy a .keras archive, optionally editing config.json and adding members."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "config.json" and config_edit:
                config = json.loads(data)
                config_edit(config)
                data = json.dumps(config).encode()
            if members is None or info.filename in members:
                zout.writestr(info.filename, data)
        for name, data, *method in extra:
            zout.writestr(name, data, compress_type=method[0] if method else zipfile.ZIP_STORED)
    return dst


def conv_layer(config):
    return next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Conv2D")


def test_clean_keras_passes(keras_file):
    assert "Conv2D" in check_model("keras", keras_file / "clean.keras").ops_or_layers


def test_lambda_layer(keras_file):
    assert refusal("keras", keras_file / "lambda.keras") == ("E_KERAS_LAYER", "Lambda")


def test_unknown_custom_class(keras_file, tmp_path):
    def edit(config):
        conv_layer(config).update(module="evil.layers", class_name="EvilLayer", registered_name="evil>EvilLayer")

    path = rewrite(keras_file / "clean.keras", tmp_path / "m.keras", config_edit=edit)
    assert refusal("keras", path) == ("E_KERAS_LAYER", "EvilLayer")


def test_path_like_argument(keras_file, tmp_path):
    def edit(config):
        conv_layer(config)["config"]["kernel_initializer"]["config"]["seed"] = "/etc/passwd"

    path = rewrite(keras_file / "clean.keras", tmp_path / "m.keras", config_edit=edit)
    assert refusal("keras", path) == ("E_KERAS_PATH_ARG", "path_argument")


def test_h5_renamed_to_keras(keras_file, tmp_path):
    renamed = tmp_path / "model.keras"
    renamed.write_bytes((keras_file / "legacy.h5").read_bytes())
    assert refusal("keras", renamed) == ("E_KERAS_H5", "model.keras")


def test_zip_with_hdf5_superblock_at_512(tmp_path):
    """A zip/HDF5 polyglot: h5py finds the superblock at offset 512."""
    polyglot = tmp_path / "model.keras"
    polyglot.write_bytes(b"PK\x03\x04".ljust(512, b"\0") + b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    assert refusal("keras", polyglot)[0] == "E_KERAS_H5"


def test_empty_model(tmp_path):
    empty = tmp_path / "model.keras"
    empty.touch()
    assert refusal("keras", empty) == ("E_MODEL_EMPTY", "model.keras")


def _inner_zip():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as inner:
        inner.writestr("a.bin", b"\0" * 1000)
    return buffer.getvalue()


def test_zip_of_zips(keras_file, tmp_path):
    # the weights member is itself an archive
    path = rewrite(keras_file / "clean.keras", tmp_path / "m.keras", members={"config.json", "metadata.json"},
                   extra=[("model.weights.h5", _inner_zip())])
    assert refusal("keras", path) == ("E_ZIP_BOMB", "model.weights.h5")
    # a zip-of-zips handed in under another format is refused before parsing
    onnx_path = tmp_path / "model.onnx"
    with zipfile.ZipFile(onnx_path, "w") as outer:
        outer.writestr("inner.bin", _inner_zip())
    assert refusal("onnx", onnx_path) == ("E_ZIP_BOMB", "inner.bin")


def test_compression_ratio_bomb(keras_file, tmp_path):
    path = rewrite(keras_file / "clean.keras", tmp_path / "m.keras",
                   extra=[("assets/zeros.bin", b"\0" * (8 << 20), zipfile.ZIP_DEFLATED)])
    assert refusal("keras", path) == ("E_ZIP_BOMB", "assets/zeros.bin")


def test_traversal_member_name(keras_file, tmp_path):
    path = rewrite(keras_file / "clean.keras", tmp_path / "m.keras", extra=[("assets/../../evil.py", b"x")])
    assert refusal("keras", path) == ("E_KERAS_ARCHIVE", "member_name")


# --- ONNX ----------------------------------------------------------------------

def onnx_model(op="Tanh", domain="", opset_domain=None, external=None):
    spec = ["N", "H", "W", 3]
    weight = numpy_helper.from_array(np.ones((3,), np.float32), "w")
    if external is not None:
        weight.ClearField("float_data")
        weight.ClearField("raw_data")
        weight.data_location = TensorProto.EXTERNAL
        entry = weight.external_data.add()
        entry.key, entry.value = "location", external
    nodes = [helper.make_node("Mul", ["x", "w"], ["m"]), helper.make_node(op, ["m"], ["y"], domain=domain)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, spec)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, spec)], [weight])
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(opset_domain, 1)] if opset_domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    return model


@pytest.mark.parametrize("kwargs, expected", [
    ({}, None),
    ({"op": "EvilOp", "domain": "com.evil", "opset_domain": "com.evil"}, ("E_ONNX_DOMAIN", "com.evil")),
    ({"op": "Gelu", "domain": "com.microsoft"}, ("E_ONNX_DOMAIN", "com.microsoft")),
    ({"op": "RandomNormalLike"}, ("E_ONNX_OP", "RandomNormalLike")),
    ({"external": "../../etc/passwd"}, ("E_ONNX_EXTERNAL_DATA", "location")),
    ({"external": "/etc/passwd"}, ("E_ONNX_EXTERNAL_DATA", "location")),
    ({"external": "C:\\Windows\\win.ini"}, ("E_ONNX_EXTERNAL_DATA", "location")),
])
def test_onnx_models(tmp_path, kwargs, expected):
    path = tmp_path / "model.onnx"
    onnx.save(onnx_model(**kwargs), path)
    if expected is None:
        assert check_model("onnx", path).ops_or_layers == ("Mul", "Tanh")
    else:
        assert refusal("onnx", path) == expected


def test_onnx_local_function(tmp_path):
    model = onnx_model()
    fn = helper.make_function("com.evil", "Helper", ["a"], ["b"], [helper.make_node("Tanh", ["a"], ["b"])],
                              [helper.make_opsetid("", 17)])
    model.functions.append(fn)
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    assert refusal("onnx", path) == ("E_ONNX_DOMAIN", "com.evil")


def test_onnx_op_hidden_in_a_subgraph(tmp_path):
    spec = ["N", "H", "W", 3]
    body = helper.make_graph([helper.make_node("RandomUniformLike", ["x"], ["r"])], "then", [],
                             [helper.make_tensor_value_info("r", TensorProto.FLOAT, spec)])
    cond = numpy_helper.from_array(np.array(True), "c")
    graph = helper.make_graph([helper.make_node("If", ["c"], ["y"], then_branch=body, else_branch=body)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, spec)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, spec)], [cond])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    # "If" itself is not allowed either; both are caught, the walk reaches the body
    assert refusal("onnx", path)[0] == "E_ONNX_OP"
