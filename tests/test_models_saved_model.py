"""SavedModels of real generator shapes pass the op allowlist, load and run.

Exports a ResNet (CycleGAN) generator with reflect padding and instance norm,
a U-Net with Conv2DTranspose, a two-input AdaIN model and a plain tf.Module,
and asserts every op they reach is on the allowlist: that is how
allowlists.TF_OPS was built. Hostile SavedModels: tests/adversarial/.
"""

import numpy as np
import pytest

from evaluator.errors import EaselError
from evaluator.models import check_model, load_model
from evaluator.models.allowlists import TF_OPS
from evaluator.models.saved_model_format import read_saved_model, reachable_ops

SIZE = 32


def _resnet_generator():
    import keras
    from keras import layers, ops

    def reflect(x, p):
        return ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def block(x):
        y = layers.Conv2D(16, 3)(reflect(x, 1))
        y = layers.ReLU()(layers.GroupNormalization(groups=-1)(y))
        y = layers.Conv2D(16, 3)(reflect(y, 1))
        return layers.Add()([x, layers.GroupNormalization(groups=-1)(y)])

    inp = keras.Input((None, None, 3), name="image")
    x = layers.ReLU()(layers.GroupNormalization(groups=-1)(layers.Conv2D(8, 7)(reflect(inp, 3))))
    x = layers.ReLU()(layers.Conv2D(16, 3, strides=2, padding="same")(x))
    x = block(block(x))
    x = layers.LeakyReLU(0.2)(layers.Conv2DTranspose(8, 3, strides=2, padding="same")(x))
    out = layers.Activation("tanh")(layers.Conv2D(3, 7)(reflect(x, 3)))
    return keras.Model(inp, out)


def _unet():
    import keras
    from keras import layers

    inp = keras.Input((SIZE, SIZE, 3))  # fixed spatial size: bilinear upsampling needs it
    d1 = layers.LeakyReLU(0.2)(layers.Conv2D(8, 4, strides=2, padding="same")(inp))
    d2 = layers.BatchNormalization()(layers.Conv2D(16, 4, strides=2, padding="same")(d1))
    u1 = layers.Dropout(0.5)(layers.Conv2DTranspose(8, 4, strides=2, padding="same")(layers.ReLU()(d2)))
    u1 = layers.Concatenate()([u1, d1])
    up = layers.UpSampling2D(interpolation="bilinear")(u1)
    return keras.Model(inp, layers.Conv2D(3, 3, padding="same", activation="tanh")(up))


def _adain():
    import keras
    from keras import layers, ops

    content = keras.Input((None, None, 3), name="content")
    style = keras.Input((None, None, 3), name="style")
    c = layers.Conv2D(8, 3, padding="same", activation="relu")(content)
    s = layers.Conv2D(8, 3, padding="same", activation="relu")(style)
    c_mean = ops.mean(c, axis=(1, 2), keepdims=True)
    c_std = ops.sqrt(ops.var(c, axis=(1, 2), keepdims=True) + 1e-5)
    s_mean = ops.mean(s, axis=(1, 2), keepdims=True)
    s_std = ops.sqrt(ops.var(s, axis=(1, 2), keepdims=True) + 1e-5)
    t = (c - c_mean) / c_std * s_std + s_mean
    return keras.Model([content, style], layers.Conv2D(3, 3, padding="same", activation="tanh")(t))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(1)
    root = tmp_path_factory.mktemp("sm")
    models = {"resnet": _resnet_generator(), "unet": _unet(), "adain": _adain()}
    for name, model in models.items():
        model.export(root / name, verbose=False)

    class Module(tf.Module):
        def __init__(self):
            self.w = tf.Variable(tf.random.stateless_normal([3, 3, 3, 3], seed=[1, 2]) * 0.2)

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        def __call__(self, x):
            return tf.tanh(tf.nn.conv2d(x, self.w, 1, "SAME"))

    module = Module()
    tf.saved_model.save(module, str(root / "module"), signatures=module.__call__)
    tf.saved_model.save(models["unet"], str(root / "unet_saved"))
    return root, models, module


@pytest.mark.parametrize("name", ["resnet", "unet", "adain", "module", "unet_saved"])
def test_normal_generators_reach_only_allowlisted_ops(exported, name):
    root = exported[0]
    facts = check_model("saved_model", root / name)
    ops = set(facts.ops_or_layers)
    assert ops <= TF_OPS and {"Conv2D", "StatefulPartitionedCall", "ReadVariableOp"} <= ops
    if name == "resnet":
        assert {"MirrorPad", "Conv2DBackpropInput", "Tanh", "Rsqrt"} <= ops
    if name == "adain":
        assert facts.input_names == ("content", "style")


def test_checkpoint_ops_exist_but_are_not_reachable(exported):
    meta = read_saved_model(exported[0] / "module").meta_graphs[0]
    library_ops = {n.op for f in meta.graph_def.library.function for n in f.node_def}
    assert {"SaveV2", "RestoreV2", "MergeV2Checkpoints"} <= library_ops
    ops, where = reachable_ops(meta)
    assert not ops & {"SaveV2", "RestoreV2", "MergeV2Checkpoints", "AssignVariableOp"}
    assert where["Conv2D"].startswith("__inference")


def test_module_loads_and_matches_tensorflow(exported):
    import tensorflow as tf

    root, _, module = exported
    loaded = load_model("saved_model", root / "module")
    assert (loaded.n_inputs, loaded.input_shapes, loaded.parameters) == (1, [(None, None, None, 3)], 81)
    x = np.random.default_rng(0).uniform(-1, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
    expected = tf.tanh(tf.nn.conv2d(x, module.w.numpy(), 1, "SAME")).numpy()
    np.testing.assert_allclose(loaded([x]), expected, atol=1e-5)


def test_two_input_export_feeds_content_then_style(exported):
    root, models, _ = exported
    loaded = load_model("saved_model", root / "adain")
    assert loaded.n_inputs == 2 and loaded.parameters == models["adain"].count_params()
    rng = np.random.default_rng(1)
    content, style = (rng.uniform(-1, 1, (2, SIZE, SIZE, 3)).astype(np.float32) for _ in range(2))
    expected = np.asarray(models["adain"]([content, style], training=False))
    out = loaded([content, style])
    assert out.shape == (2, SIZE, SIZE, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-4)


def test_two_inputs_must_be_named_content_and_style(tmp_path):
    import tensorflow as tf

    class Two(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)] * 2)
        def __call__(self, a, b):
            return tf.tanh(a + b)

    module = Two()
    tf.saved_model.save(module, str(tmp_path / "two"), signatures=module.__call__)
    with pytest.raises(EaselError) as info:
        check_model("saved_model", tmp_path / "two")
    assert (info.value.code, info.value.detail) == ("E_SIGNATURE", "input_names")
