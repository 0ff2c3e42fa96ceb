"""Keras InceptionV3 as a feature network: shared by the ImageNet backbone and the seeded stand-in."""

from __future__ import annotations

from typing import Callable

from ..registry import BackboneSpec

MAP_NAMES = ("mixed0", "mixed4", "mixed8")


def keras_inception(weights, spec: BackboneSpec):
    """Keras InceptionV3 (no top, average pool) returning (pool [b, 2048], *maps named in spec.map_names).

    ``weights``: a path to Keras' .h5, or None for uninitialized weights.
    """
    import keras

    base = keras.applications.InceptionV3(include_top=False, weights=weights, pooling="avg",
                                          input_shape=(spec.input_size, spec.input_size, 3))
    return keras.Model(base.inputs, [base.output, *[base.get_layer(n).output for n in spec.map_names]])


def keras_fn(model, size: int) -> Callable:
    """float32 [b, size, size, 3] in 0..255 -> the model's outputs, through one compiled function."""
    import tensorflow as tf

    # Static spatial dims let the CPU/GPU kernels pick their layouts once; only the batch varies.
    @tf.function(input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)])
    def run(x):
        return model(x / 127.5 - 1.0, training=False)  # Keras InceptionV3 takes [-1, 1]

    return lambda x: run(tf.constant(x))
