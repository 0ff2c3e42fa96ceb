"""Reinhard et al. (2001) colour transfer in lαβ space, as a TensorFlow graph of plain numeric ops.

Each image is moved to lαβ (RGB → LMS cone space → log10 → decorrelating
rotation), its per-channel mean and standard deviation are replaced by the
target's, and it is moved back. The target statistics are either baked in as
constants (a training domain's, from fit.py) or, for example tracks, taken
from the style image given with each content image.

Ops: Conv2D (1x1, the 3x3 colour matrices), Maximum, Minimum, Log, Exp, Mean,
Sub, Mul, AddV2, RealDiv, Sqrt, Square: all on Easel's SavedModel allowlist.
"""

from __future__ import annotations

import math

import numpy as np

# Reinhard et al. 2001, eq. 1 (RGB → LMS) and eq. 4-6 (log LMS → lαβ).
RGB_TO_LMS = np.array([[0.3811, 0.5783, 0.0402],
                       [0.1967, 0.7244, 0.0782],
                       [0.0241, 0.1288, 0.8444]], dtype=np.float64)
LMS_TO_LAB = (np.diag([1 / math.sqrt(3), 1 / math.sqrt(6), 1 / math.sqrt(2)])
              @ np.array([[1, 1, 1], [1, 1, -2], [1, -1, 0]], dtype=np.float64))
# Exact inverses (the paper prints rounded ones) so a round trip returns the input.
LMS_TO_RGB = np.linalg.inv(RGB_TO_LMS)
LAB_TO_LMS = np.linalg.inv(LMS_TO_LAB)
# LMS floor before the log: black pixels would give log(0). 1/255 is one 8-bit step.
LMS_FLOOR = 1.0 / 255.0
STD_FLOOR = 1e-4  # a flat channel (e.g. a grey image's α, β) must not divide by zero


def _mix(images, matrix: np.ndarray):
    """Per-pixel 3x3 matrix product as a 1x1 Conv2D: out[..., i] = sum_j matrix[i, j] * images[..., j]."""
    import tensorflow as tf

    kernel = tf.constant(matrix.T.reshape(1, 1, 3, 3), dtype=tf.float32)
    return tf.nn.conv2d(images, kernel, strides=1, padding="VALID")


def to_lab(images):
    """float32 [N, H, W, 3] in [-1, 1] (sRGB values) → float32 [N, H, W, 3] lαβ."""
    import tensorflow as tf

    rgb = (images + 1.0) * 0.5
    lms = tf.maximum(_mix(rgb, RGB_TO_LMS), LMS_FLOOR)
    return _mix(tf.math.log(lms) / math.log(10.0), LMS_TO_LAB)


def from_lab(lab):
    """float32 [N, H, W, 3] lαβ → float32 [N, H, W, 3] in [-1, 1], clipped to the RGB cube."""
    import tensorflow as tf

    lms = tf.exp(_mix(lab, LAB_TO_LMS) * math.log(10.0))
    rgb = tf.minimum(tf.maximum(_mix(lms, LMS_TO_RGB), 0.0), 1.0)
    return rgb * 2.0 - 1.0


def lab_moments(lab):
    """Per-image, per-channel mean and standard deviation over H, W: two float32 [N, 1, 1, 3]."""
    import tensorflow as tf

    mean = tf.reduce_mean(lab, axis=[1, 2], keepdims=True)
    std = tf.sqrt(tf.reduce_mean(tf.square(lab - mean), axis=[1, 2], keepdims=True))
    return mean, tf.maximum(std, STD_FLOOR)


def transfer(images, target_mean, target_std):
    """Give each image the target lαβ mean/std (broadcastable to [N, 1, 1, 3]); [-1, 1] in and out."""
    lab = to_lab(images)
    mean, std = lab_moments(lab)
    return from_lab((lab - mean) / std * target_std + target_mean)


def domain_module(mean: list[float], std: list[float]):
    """A tf.Module whose serving function maps images toward fixed lαβ statistics.

    mean, std: 3 floats each (the target domain's pooled lαβ moments), baked
    into the graph as constants. Signature: images float32 [None, None, None, 3].
    """
    import tensorflow as tf

    target_mean = np.asarray(mean, np.float32).reshape(1, 1, 1, 3)
    target_std = np.asarray(std, np.float32).reshape(1, 1, 1, 3)

    class ColorTransfer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="images")])
        def serve(self, images):
            return {"output": transfer(images, tf.constant(target_mean), tf.constant(target_std))}

    return ColorTransfer()


def example_module():
    """A tf.Module for example tracks: content takes each paired style image's lαβ statistics.

    Signature: content, style float32 [None, None, None, 3] (same batch size).
    """
    import tensorflow as tf

    spec = [tf.TensorSpec([None, None, None, 3], tf.float32, name="content"),
            tf.TensorSpec([None, None, None, 3], tf.float32, name="style")]

    class StyleColorTransfer(tf.Module):
        @tf.function(input_signature=spec)
        def serve(self, content, style):
            mean, std = lab_moments(to_lab(style))
            return {"output": transfer(content, mean, std)}

    return StyleColorTransfer()


def save(module, path) -> None:
    """Write ``module.serve`` as the SavedModel's serving_default signature."""
    import tensorflow as tf

    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
