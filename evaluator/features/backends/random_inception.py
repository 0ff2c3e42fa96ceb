"""``inception_v3_random_seed0``: the offline stand-in used when the FID weights are absent.

Keras InceptionV3 with every weight regenerated from numpy seed 0, so it is
the same on every machine for one TF version. Its scores mean nothing outside
this platform; results say which backbone was used.
"""

from __future__ import annotations

from ..registry import Backbone, BackboneSpec, LoadRequest
from ..weights import check_generated, seeded_weights, weights_sha256
from .keras_inception import MAP_NAMES, keras_fn, keras_inception

# sha256 of the generated weights (float32 bytes, concatenated in layer order);
# a different value on load means the architecture or generator changed.
INCEPTION_V3_RANDOM_SEED0_SHA256 = "d174283f72b8bddd342fb99117674b2270819945c8cb464f0e124c97154da926"


def load(spec: BackboneSpec, request: LoadRequest) -> Backbone:
    model = keras_inception(None, spec)
    weights = seeded_weights([(w.path, tuple(w.shape)) for w in model.weights], seed=0)
    model.set_weights(weights)
    digest = weights_sha256(weights)
    check_generated(spec, digest)
    return Backbone(spec, request.resize, digest, keras_fn(model, spec.input_size))


SPEC = BackboneSpec(
    id="inception_v3_random_seed0", input_size=299, pool_dim=2048, offline_standin=True, load=load,
    weights_sha256=INCEPTION_V3_RANDOM_SEED0_SHA256, map_names=MAP_NAMES,
    description="OFFLINE STAND-IN: InceptionV3 with weights regenerated from numpy seed 0; "
                "not comparable with published FIDs.")
