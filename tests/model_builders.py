"""Tiny models built by the tests (never downloaded): valid ones and hostile ones.

Every hostile model here passes the static checks (built-in Keras layers,
standard ONNX ops); what makes it hostile only shows when it runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _save(path: Path, inputs, outputs, setup=None) -> Path:
    import keras

    model = keras.Model(inputs, outputs)
    if setup:
        setup()
    model.save(path)
    return path


def nan_model(path: Path) -> Path:
    """All-NaN kernel: NaN on every input."""
    import keras

    inp = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(3, 1)
    out = conv(inp)
    return _save(path, inp, out, lambda: conv.set_weights(
        [np.full((1, 1, 3, 3), np.nan, np.float32), np.zeros(3, np.float32)]))


def never_returns_model(path: Path) -> Path:
    """Upsample 32x, then six 9x9 convolutions at 1024 px: about a teraflop per image."""
    import keras

    inp = keras.Input((None, None, 3))
    x = keras.layers.UpSampling2D(32)(inp)
    for _ in range(6):
        x = keras.layers.Conv2D(32, 9, padding="same")(x)
    x = keras.layers.AveragePooling2D(32)(x)
    return _save(path, inp, keras.layers.Conv2D(3, 1, activation="tanh")(x))


def huge_memory_model(path: Path) -> Path:
    """Tiles each image to 2048x2048x24 floats (400 MB), then pools back: fine at
    batch 1, gigabytes at batch 8."""
    import keras
    from keras import ops

    inp = keras.Input((None, None, 3))
    big = ops.tile(inp, (1, 64, 64, 8))
    x = keras.layers.AveragePooling2D(64)(big)
    return _save(path, inp, keras.layers.Conv2D(3, 1, activation="tanh")(x))


def batch_truncating_model(path: Path) -> Path:
    """ONNX ``Slice(x, 0:4, axis 0)``: right shape up to batch 4, four images at any larger batch."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    spec = ["N", "H", "W", 3]
    consts = [numpy_helper.from_array(np.array([v], np.int64), name)
              for name, v in (("starts", 0), ("ends", 4), ("axes", 0))]
    graph = helper.make_graph(
        [helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["first"]),
         helper.make_node("Tanh", ["first"], ["out"])],
        "truncate", [helper.make_tensor_value_info("x", TensorProto.FLOAT, spec)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, spec)], consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def valid_model(path: Path) -> Path:
    import keras

    inp = keras.Input((None, None, 3))
    return _save(path, inp, keras.layers.Conv2D(3, 3, padding="same", activation="tanh")(inp))


def identity_model(path: Path) -> Path:
    """A 1×1 convolution with the identity kernel: the output is the input, exactly."""
    import keras

    inp = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(3, 1, use_bias=False)
    out = conv(inp)
    conv.set_weights([np.eye(3, dtype=np.float32).reshape(1, 1, 3, 3)])
    return _save(path, inp, out)


def two_input_model(path: Path) -> Path:
    """Example-track contract: (content, style) -> image, mixing both inputs."""
    import keras

    content, style = keras.Input((None, None, 3), name="content"), keras.Input((None, None, 3), name="style")
    x = keras.layers.Concatenate()([content, style])
    return _save(path, [content, style], keras.layers.Conv2D(3, 3, padding="same", activation="tanh")(x))


def out_of_range_model(path: Path) -> Path:
    """No final tanh and a kernel of 4s: outputs far outside [-1, 1]."""
    import keras

    inp = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(3, 1)
    out = conv(inp)
    return _save(path, inp, out, lambda: conv.set_weights(
        [np.full((1, 1, 3, 3), 4.0, np.float32), np.zeros(3, np.float32)]))


def shrinking_model(path: Path) -> Path:
    """A stride-2 convolution: the output is half the input's size."""
    import keras

    inp = keras.Input((None, None, 3))
    return _save(path, inp, keras.layers.Conv2D(3, 3, strides=2, padding="same", activation="tanh")(inp))


def fixed_size_model(path: Path, size: int) -> Path:
    """Accepts only ``size`` x ``size`` images (wrong input shape for other tracks)."""
    import keras

    inp = keras.Input((size, size, 3))
    return _save(path, inp, keras.layers.Conv2D(3, 3, padding="same", activation="tanh")(inp))
