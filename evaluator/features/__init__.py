"""Feature backbones: one registry, pinned weights, streamed extraction, cached reference features.

Modules: :mod:`.registry` (BackboneSpec, Backbone, load_backbone),
:mod:`.resize` (clean / legacy_tensorflow resizing), :mod:`.weights` (pins,
seeded weights, download, ``--archive``), :mod:`.reference` (streamed
extraction, reference-feature cache), :mod:`.backends` (one file per backbone)
and :mod:`.commands` (``easel weights fetch | list``; the only module here
that imports the CLI, and it is not imported by this package).

Backbones (:data:`BACKBONES`): ``inception_fid`` (the original FID graph),
``keras_inception_v3_imagenet`` (Keras' ImageNet InceptionV3, for comparison),
``inception_v3_random_seed0`` (the offline stand-in used when the FID weights
are absent) and ``convnet_random_seed0`` (a small net for tests and quick dev
runs). Every :class:`Backbone` records the id actually used, its weights
sha256 and whether it is an offline stand-in, so results from different
backbones are never ranked together. Images enter as uint8 RGB and are
resized inside (``clean``: PIL bicubic per channel in float, no
re-quantization, as clean-fid; ``legacy_tensorflow``: the original graph's
bilinear resize, align_corners=False and no half-pixel centres, no antialiasing).
"""

from __future__ import annotations

from ..cache import cache_root
from ..vocab import RESIZE_MODES
from .backends import BUILTIN
from .backends.convnet import CONVNET_LAYERS, CONVNET_RANDOM_SEED0_SHA256
from .backends.inception_fid import (INCEPTION_FID_BYTES, INCEPTION_FID_MD5, INCEPTION_FID_MEMBER,
                                     INCEPTION_FID_SHA256, INCEPTION_FID_SHA256_ENV, INCEPTION_FID_URL,
                                     verify_inception_fid)
from .backends.keras_imagenet import KERAS_INCEPTION_MD5, KERAS_INCEPTION_URL
from .backends.keras_inception import keras_inception as _keras_inception
from .backends.random_inception import INCEPTION_V3_RANDOM_SEED0_SHA256
from .reference import REFERENCE_KEY_FIELDS, extract_features, reference_features
from .registry import BACKBONES, Backbone, BackboneSpec, Features, LoadRequest, load_backbone, register_backbone
from .resize import resize_images
from .weights import fetch_weights, pinned_sha256, seeded_weights, weights_sha256

for _spec in BUILTIN:
    register_backbone(_spec)

__all__ = [
    "BACKBONES", "Backbone", "BackboneSpec", "CONVNET_LAYERS", "CONVNET_RANDOM_SEED0_SHA256", "Features",
    "INCEPTION_FID_BYTES", "INCEPTION_FID_MD5", "INCEPTION_FID_MEMBER", "INCEPTION_FID_SHA256",
    "INCEPTION_FID_SHA256_ENV", "INCEPTION_FID_URL", "INCEPTION_V3_RANDOM_SEED0_SHA256", "KERAS_INCEPTION_MD5",
    "KERAS_INCEPTION_URL", "LoadRequest", "REFERENCE_KEY_FIELDS", "RESIZE_MODES", "cache_root", "extract_features",
    "fetch_weights", "load_backbone", "pinned_sha256", "reference_features", "register_backbone", "resize_images",
    "seeded_weights", "verify_inception_fid", "weights_sha256", "_keras_inception",
]
