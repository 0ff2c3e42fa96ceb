""".keras files: a real generator passes the static check, loads, and runs like Keras itself.

The hostile files live in tests/adversarial/test_model_files.py.
"""

import json
import zipfile

import numpy as np
import pytest

from evaluator.errors import EaselError
from evaluator.models import LoadedModel, check_inputs, check_model, load_model
from evaluator.models.allowlists import KERAS_CLASSES
from evaluator.models.keras_format import check_config

SIZE = 32


def _unet_adain():
    """Two-input generator: U-Net-ish with Conv2DTranspose, instance norm and AdaIN from keras.ops."""
    import keras
    from keras import layers, ops

    keras.utils.set_random_seed(0)
    content = keras.Input((None, None, 3), name="content")
    style = keras.Input((None, None, 3), name="style")
    c1 = layers.Conv2D(8, 3, padding="same")(content)
    c1 = layers.GroupNormalization(groups=-1)(c1)          # instance norm
    c1 = layers.LeakyReLU(0.2)(c1)
    down = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(c1)
    s = layers.Conv2D(16, 3, strides=2, padding="same")(style)
    mean = ops.mean(s, axis=(1, 2), keepdims=True)
    std = ops.sqrt(ops.var(s, axis=(1, 2), keepdims=True) + 1e-5)
    ada = layers.Add()([layers.Multiply()([down, std]), mean])  # AdaIN-style modulation
    up = layers.Conv2DTranspose(8, 3, strides=2, padding="same")(ada)
    up = layers.BatchNormalization()(up)
    merged = layers.Concatenate()([up, c1])
    out = layers.Conv2D(3, 3, padding="same", activation="tanh")(merged)
    return keras.Model([content, style], out)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = _unet_adain()
    model.compile(optimizer="adam", loss="mse")  # compile_config must not trip the check
    path = tmp_path_factory.mktemp("keras") / "model.keras"
    model.save(path)
    return model, path


def test_generator_passes_check(saved):
    _, path = saved
    facts = check_model("keras", path)
    assert facts.format == "keras" and facts.bytes == path.stat().st_size
    assert {"Conv2D", "Conv2DTranspose", "GroupNormalization", "Mean", "Var", "Functional"} <= set(facts.ops_or_layers)
    allowed = set().union(*KERAS_CLASSES.values()) | {"Functional"}
    assert set(facts.ops_or_layers) <= allowed


def test_generator_loads_and_matches_keras(saved):
    model, path = saved
    loaded = load_model("keras", path)
    assert isinstance(loaded, LoadedModel)
    assert loaded.n_inputs == 2 and loaded.input_shapes == [(None, None, None, 3)] * 2
    assert loaded.parameters == model.count_params()
    check_inputs(loaded, 2, SIZE)
    rng = np.random.default_rng(0)
    content = rng.uniform(-1, 1, (3, SIZE, SIZE, 3)).astype(np.float32)
    style = rng.uniform(-1, 1, (3, SIZE, SIZE, 3)).astype(np.float32)
    out = loaded([content, style])
    expected = np.asarray(model([content, style], training=False))
    assert out.shape == (3, SIZE, SIZE, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-5)
    # content first, style second: swapping them must change the result
    assert np.abs(loaded([style, content]) - out).max() > 1e-3
    # a smaller batch gives the same rows (batching does not change results)
    np.testing.assert_allclose(loaded([content[:1], style[:1]]), out[:1], atol=1e-5)
    np.testing.assert_array_equal(loaded([content, style]), out)  # deterministic


def _layer(class_name="Conv2D", module="keras.layers", registered=None, **config):
    return {"module": module, "class_name": class_name, "registered_name": registered,
            "config": {"name": "conv2d_1", "dtype": {"module": "keras", "class_name": "DTypePolicy",
                                                     "config": {"name": "mixed_float16"}, "registered_name": None},
                       "padding": "same", **config}}


def _model(*layer_dicts, **extra):
    return {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
            "config": {"name": "gen.v2", "layers": list(layer_dicts)}, **extra}


def test_config_walk_accepts_names_dtypes_and_compile_config():
    compile_config = {"optimizer": {"module": "keras.optimizers", "class_name": "Adam", "config": {},
                                    "registered_name": None}, "loss": "mse"}
    seen = check_config(_model(_layer(), _layer("Var", "keras.src.ops.numpy", "Var"),
                               compile_config=compile_config))
    assert seen == ("Conv2D", "DTypePolicy", "Functional", "Var")


@pytest.mark.parametrize("layer, code, detail", [
    (_layer("Lambda"), "E_KERAS_LAYER", "Lambda"),
    (_layer("TFSMLayer"), "E_KERAS_LAYER", "TFSMLayer"),
    (_layer("Conv2D", module="mypackage.layers"), "E_KERAS_LAYER", "Conv2D"),
    (_layer("Conv2D", registered="mypackage>Conv2D"), "E_KERAS_LAYER", "Conv2D"),
    (_layer("Conv2D", module="builtins"), "E_KERAS_LAYER", "Conv2D"),
    (_layer("Add", module="keras.src.ops.core"), "E_KERAS_LAYER", "Add"),
    (_layer(activation={"module": "os", "class_name": "function", "config": "system",
                        "registered_name": None}), "E_KERAS_LAYER", "system"),
    (_layer(filepath="https://example.org/weights"), "E_KERAS_PATH_ARG", "path_argument"),
    (_layer(vocabulary="~/.ssh/id_rsa"), "E_KERAS_PATH_ARG", "path_argument"),
    (_layer(name="..\\evil"), "E_KERAS_PATH_ARG", "path_argument"),
])
def test_config_walk_refuses(layer, code, detail):
    with pytest.raises(EaselError) as info:
        check_config(_model(layer))
    assert (info.value.code, info.value.detail) == (code, detail)


def test_optimizer_class_outside_compile_config_is_refused():
    with pytest.raises(EaselError) as info:
        check_config(_model(_layer("Adam", "keras.optimizers")))
    assert info.value.code == "E_KERAS_LAYER"


def test_check_inputs_contract():
    class Fake(LoadedModel):
        def __init__(self, shapes):
            self.n_inputs, self.input_shapes, self.parameters = len(shapes), shapes, 0

        def __call__(self, inputs):  # never called: check_inputs reads only the signature
            raise AssertionError("check_inputs must not run the model")

    check_inputs(Fake([(None, SIZE, SIZE, 3)]), 1, SIZE)
    # A fixed batch and channels-first have their own codes and fixes (issue 16.3).
    # Each refusal carries typed facts: which input, which dimension, expected, got (issue 23.4).
    for shapes, n, code, facts in [
            ([(None, None, None, 3)], 2, "E_SIGNATURE", {"dimension": "inputs", "expected": 2, "got": 1}),
            ([(8, None, None, 3)], 1, "E_SIGNATURE_BATCH", {"input": 0, "got": 8}),
            ([(None, 3, None, None)], 1, "E_SIGNATURE_LAYOUT", {"input": 0, "got": [None, 3, None, None]}),
            ([(None, 48, 48, 3)], 1, "E_SIGNATURE", {"dimension": "size", "input": 0, "expected": SIZE, "got": 48}),
            ([(None, None, None, 1)], 1, "E_SIGNATURE", {"dimension": "channels", "input": 0, "expected": 3,
                                                         "got": 1}),
            ([(None, None, 3)], 1, "E_SIGNATURE", {"dimension": "rank", "input": 0, "expected": 4, "got": 3})]:
        with pytest.raises(EaselError) as info:
            check_inputs(Fake(shapes), n, SIZE)
        assert (info.value.code, info.value.facts) == (code, facts)


def test_members_outside_the_keras_layout_are_refused(saved, tmp_path):
    _, path = saved
    bad = tmp_path / "model.keras"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr("notes.txt", "hello")
    with pytest.raises(EaselError) as info:
        check_model("keras", bad)
    assert (info.value.code, info.value.detail) == ("E_KERAS_ARCHIVE", "notes.txt")
    renamed = tmp_path / "model.zip"
    renamed.write_bytes(path.read_bytes())
    with pytest.raises(EaselError) as info:
        check_model("keras", renamed)
    assert info.value.code == "E_KERAS_ARCHIVE"
    assert json.loads(zipfile.ZipFile(path).read("metadata.json"))["keras_version"]


# --- the TensorFlow pix2pix / CycleGAN tutorial generators (issue 23.1) --------------------

def _tutorial_unet(norm: str = "batchnorm", width: int = 4):
    """The TensorFlow pix2pix tutorial's U-Net generator, as the tutorial writes it (Sequential
    down/up blocks, tf.random_normal_initializer(0., 0.02), skip connections), at a tiny width and
    depth; ``norm="instancenorm"`` swaps in the CycleGAN tutorial's custom InstanceNormalization layer
    (tensorflow_examples.models.pix2pix)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)

    class InstanceNormalization(keras.layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(name="scale", shape=input_shape[-1:],
                                         initializer=tf.random_normal_initializer(1., 0.02))
            self.offset = self.add_weight(name="offset", shape=input_shape[-1:], initializer="zeros")

        def call(self, x):
            mean, variance = tf.nn.moments(x, axes=[1, 2], keepdims=True)
            return self.scale * (x - mean) * tf.math.rsqrt(variance + 1e-5) + self.offset

    def norm_layer():
        return keras.layers.BatchNormalization() if norm == "batchnorm" else InstanceNormalization()

    def downsample(filters, apply_norm=True):
        init = tf.random_normal_initializer(0., 0.02)
        block = keras.Sequential([keras.layers.Conv2D(filters, 4, strides=2, padding="same",
                                                      kernel_initializer=init, use_bias=False)])
        if apply_norm:
            block.add(norm_layer())
        block.add(keras.layers.LeakyReLU())
        return block

    def upsample(filters, apply_dropout=False):
        init = tf.random_normal_initializer(0., 0.02)
        block = keras.Sequential([keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same",
                                                               kernel_initializer=init, use_bias=False),
                                  norm_layer()])
        if apply_dropout:
            block.add(keras.layers.Dropout(0.5))
        block.add(keras.layers.ReLU())
        return block

    inputs = keras.layers.Input(shape=[SIZE, SIZE, 3])
    down_stack = [downsample(width, apply_norm=False), downsample(2 * width), downsample(4 * width)]
    up_stack = [upsample(2 * width, apply_dropout=True), upsample(width)]
    last = keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same", activation="tanh",
                                        kernel_initializer=tf.random_normal_initializer(0., 0.02))
    x, skips = inputs, []
    for down in down_stack:
        x = down(x)
        skips.append(x)
    for up, skip in zip(up_stack, reversed(skips[:-1])):
        x = keras.layers.Concatenate()([up(x), skip])
    return keras.Model(inputs=inputs, outputs=last(x))


def test_tensorflow_tutorial_generator_with_tf_initializers_is_accepted(tmp_path):
    model = _tutorial_unet()
    path = tmp_path / "generator.keras"
    model.save(path)
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    assert "tensorflow.python.ops.init_ops_v2" in json.dumps(config)  # serialized as the issue saw it
    assert {"Conv2D", "Conv2DTranspose", "RandomNormal"} <= set(check_model("keras", path).ops_or_layers)
    loaded = load_model("keras", path)
    x = np.random.default_rng(0).uniform(-1, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded([x]), np.asarray(model(x, training=False)), atol=1e-6)


def test_tutorial_generator_with_a_custom_layer_names_that_layer(tmp_path):
    path = tmp_path / "generator.keras"
    _tutorial_unet("instancenorm").save(path)
    with pytest.raises(EaselError) as info:
        check_model("keras", path)
    err = info.value
    assert err.code == "E_KERAS_LAYER" and err.detail == "InstanceNormalization"
    assert err.facts["found"] == "layer" and err.facts["object_class"] == "InstanceNormalization"
    assert err.facts["origin"] == "custom" and err.facts["layer"].startswith("instance_normalization")
    assert "SavedModel" in err.hint and "RandomNormal" not in err.hint


def test_a_custom_initializer_is_still_refused_with_its_layer_named():
    config = {"module": "keras", "class_name": "Functional", "registered_name": None, "config": {"layers": [
        {"module": "keras.layers", "class_name": "Conv2D", "registered_name": None,
         "config": {"name": "conv_a", "kernel_initializer": {"module": "keras.initializers",
                                                             "class_name": "RandomNormal", "registered_name": None,
                                                             "config": {}}}},
        {"module": "keras.layers", "class_name": "Conv2D", "registered_name": None,
         "config": {"name": "conv_b", "kernel_initializer": {"module": "mypackage", "class_name": "MyInit",
                                                             "registered_name": "mypackage>MyInit",
                                                             "config": {}}}}]}}
    with pytest.raises(EaselError) as info:
        check_config(config)
    assert info.value.facts == {"found": "initializer", "object_class": "MyInit", "origin": "custom",
                                "layer": "conv_b", "layer_class": "Conv2D"}
    assert "keras.initializers" in info.value.hint
