"""``convnet_random_seed0``: a small seeded random conv net (64 px, 256-d) for tests and quick dev runs."""

from __future__ import annotations

from ..registry import Backbone, BackboneSpec, LoadRequest
from ..weights import check_generated, seeded_weights, weights_sha256

CONVNET_RANDOM_SEED0_SHA256 = "770e2bf7d1fad09461ce52c576469f9f7cc8420a585fb2547e38be675f1d2e25"
CONVNET_LAYERS = ((3, 32, 2), (32, 64, 2), (64, 128, 2), (128, 256, 1))  # (in, out, stride), 3x3 kernels


def load(spec: BackboneSpec, request: LoadRequest) -> Backbone:
    import tensorflow as tf

    shapes = []
    for i, (cin, cout, _) in enumerate(CONVNET_LAYERS, 1):
        shapes += [(f"conv{i}/kernel", (3, 3, cin, cout)), (f"conv{i}/bias", (cout,))]
    weights = seeded_weights(shapes, seed=0)
    digest = weights_sha256(weights)
    check_generated(spec, digest)
    consts = [tf.constant(w) for w in weights]

    @tf.function(input_signature=[tf.TensorSpec([None, spec.input_size, spec.input_size, 3], tf.float32)])
    def run(x):
        h = x / 127.5 - 1.0
        maps = []
        for i, (_, _, stride) in enumerate(CONVNET_LAYERS):
            h = tf.nn.relu(tf.nn.conv2d(h, consts[2 * i], stride, "SAME") + consts[2 * i + 1])
            maps.append(h)
        return (tf.reduce_mean(maps[-1], axis=[1, 2]), *maps[:3])

    return Backbone(spec, request.resize, digest, lambda x: run(tf.constant(x)))


SPEC = BackboneSpec(
    id="convnet_random_seed0", input_size=64, pool_dim=256, offline_standin=True, load=load,
    weights_sha256=CONVNET_RANDOM_SEED0_SHA256, map_names=("conv1", "conv2", "conv3"), for_ranking=False,
    description="Small seeded random conv net (64 px, 256-d) for tests and quick dev runs; never for a real ranking.")
