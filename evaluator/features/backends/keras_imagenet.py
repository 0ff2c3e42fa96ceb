"""``keras_inception_v3_imagenet``: Keras' own ImageNet InceptionV3, only for comparison.

A *different* network from the FID graph: it gives different FIDs. Its file
is checked against Keras' own md5 pin at every load and every fetch.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import EaselError
from ...fsutil import sha256_bytes
from ..registry import Backbone, BackboneSpec, LoadRequest
from ..weights import archive_hint, md5_hex
from .keras_inception import MAP_NAMES, keras_fn, keras_inception

# Keras' own pin (md5, from keras.applications.inception_v3) for its notop weights.
KERAS_INCEPTION_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
                       "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5")
KERAS_INCEPTION_MD5 = "bcbd6486424b2319ff4ef7d526e38f63"


def check_keras_md5(data: bytes, spec: BackboneSpec) -> None:
    """E_WEIGHTS_HASH unless ``data`` has Keras' published md5."""
    if md5_hex(data) != KERAS_INCEPTION_MD5:
        raise EaselError("E_WEIGHTS_HASH", f"{spec.id}: md5 does not match Keras' pin {KERAS_INCEPTION_MD5}",
                         detail=spec.id)


def load(spec: BackboneSpec, request: LoadRequest) -> Backbone:
    path = request.root / spec.weights_file
    if not path.is_file():
        raise EaselError("E_BACKBONE", f"{spec.id}: weights not found at {path}; run "
                         f"`easel weights fetch --backbone {spec.id}`, or {archive_hint(spec)}", detail=spec.id)
    data = path.read_bytes()
    check_keras_md5(data, spec)
    try:
        model = keras_inception(str(path), spec)
    except (OSError, ValueError, ImportError) as exc:
        raise EaselError("E_BACKBONE", f"{spec.id}: cannot load {path} ({type(exc).__name__})",
                         detail=spec.id) from None
    return Backbone(spec, request.resize, sha256_bytes(data), keras_fn(model, spec.input_size))


def fetch(spec: BackboneSpec, file: Path) -> bytes:
    """Keras' .h5 as downloaded, once its md5 matches."""
    data = file.read_bytes()
    check_keras_md5(data, spec)
    return data


SPEC = BackboneSpec(
    id="keras_inception_v3_imagenet", input_size=299, pool_dim=2048, offline_standin=False, load=load, fetch=fetch,
    description="Keras InceptionV3 ImageNet weights: a different network from FID's; FIDs differ.",
    map_names=MAP_NAMES, weights_file="keras/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    url=KERAS_INCEPTION_URL)
