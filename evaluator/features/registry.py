"""The backbone registry: what a backbone is (:class:`BackboneSpec`), the loaded object, and loading.

A backbone is one :class:`BackboneSpec` holding its facts (input size,
feature size, weights file, pins) and its behaviour: ``load`` builds the
network and ``fetch`` turns a downloaded file into verified weight bytes.
:func:`load_backbone` and :func:`~evaluator.features.weights.fetch_weights`
only look the spec up and call it, as :data:`evaluator.models.FORMATS` does
for model formats; no function here names a backbone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..cache import cache_root
from ..errors import EaselError
from ..vocab import BACKBONE_RESIZES
from .resize import resize_images


@dataclass(frozen=True)
class LoadRequest:
    """What a backbone's ``load`` is asked for.

    root: the cache directory; resize: the evaluation's resize mode (one of RESIZE_MODES; a
    spec's own ``resize`` overrides it); expected_sha256:
    a pin that replaces the spec's own (tests use it for synthetic files);
    allow_offline_standin: whether a missing download may fall back to a stand-in.
    """

    root: Path
    resize: str
    expected_sha256: str | None = None
    allow_offline_standin: bool = True


@dataclass(frozen=True)
class BackboneSpec:
    """One registered backbone: its facts and its two behaviours.

    input_size: the square side (px) images are resized to, 0 for images entering at their own size
      (LPIPS); pool_dim: feature size d.
    offline_standin: True for seeded random networks whose numbers mean nothing elsewhere.
    load(spec, request) -> Backbone: builds the network (see :class:`LoadRequest`).
    fetch(spec, file) -> bytes: the verified weight bytes from a downloaded or
      given file (a .tgz, an .h5, ...), raising E_BACKBONE/E_WEIGHTS_HASH; None
      for weights generated from a seed (nothing to fetch).
    weights_sha256: the pinned sha256 of its weights (generated backbones: of the
      generated float32 weights), or None where pinned otherwise or by the organizer.
    sha256_env: the environment variable an organizer may set to pin the sha256.
    weights_file: where ``fetch`` puts the weights, relative to the cache directory.
    map_names: the intermediate maps returned next to the pool (perceptual distance).
    for_ranking: False for backbones meant for tests and quick dev runs only.
    min_image_size: the smallest image side (px) a backbone with input_size 0 accepts (LPIPS' AlexNet:
      31); competition.yaml validation refuses a track with smaller images that reads it. 0: any.
    resize: the resize this backbone's reference applies, whatever evaluation.resize says (DINOv2 and
      CLIP: ``pil_uint8``, as dgm-eval and cmmd); None: the evaluation's resize mode.
    """

    id: str
    input_size: int
    pool_dim: int
    description: str
    offline_standin: bool
    load: Callable[["BackboneSpec", LoadRequest], "Backbone"]
    fetch: Callable[["BackboneSpec", Path], bytes] | None = None
    weights_sha256: str | None = None
    sha256_env: str | None = None
    map_names: tuple[str, ...] = ()
    weights_file: str | None = None
    url: str | None = None
    for_ranking: bool = True
    min_image_size: int = 0
    resize: str | None = None


BACKBONES: dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    """Add a backbone to :data:`BACKBONES`; config, evaluate, `weights fetch|list` and results follow."""
    if spec.id in BACKBONES:
        raise ValueError(f"backbone {spec.id!r} registered twice")
    if (spec.fetch is None) != (spec.weights_file is None):
        raise ValueError(f"backbone {spec.id!r}: fetch and weights_file go together")
    if spec.resize is not None and spec.resize not in BACKBONE_RESIZES:
        raise ValueError(f"backbone {spec.id!r}: resize must be one of {BACKBONE_RESIZES}, got {spec.resize!r}")
    BACKBONES[spec.id] = spec
    return spec


@dataclass
class Features:
    """pool: float32 [b, d]; maps: list of float32 [b, h, w, c] intermediate maps (perceptual distance)."""

    pool: np.ndarray
    maps: list[np.ndarray] = field(default_factory=list)


class Backbone:
    """A loaded feature network. ``id``/``weights_sha256``/``offline_standin`` describe what actually ran."""

    def __init__(self, spec: BackboneSpec, resize: str, weights_sha256: str,
                 fn: Callable, requested_id: str | None = None):
        resize = spec.resize or resize  # a reference's own resize wins: it is part of that metric
        if resize not in BACKBONE_RESIZES:
            raise ValueError(f"resize mode must be one of {BACKBONE_RESIZES}, got {resize!r}")
        self.spec = spec
        self.id = spec.id
        self.requested_id = requested_id or spec.id
        self.weights_sha256 = weights_sha256
        self.offline_standin = spec.offline_standin
        self.resize = resize
        self.input_size = spec.input_size
        self.dim = spec.pool_dim
        self._fn = fn  # float32 [b, S, S, 3] in 0..255 -> (pool [b, d], map, map, ...)

    def __repr__(self) -> str:
        return (f"Backbone(id={self.id!r}, weights_sha256={self.weights_sha256[:12]}..., resize={self.resize!r}, "
                f"offline_standin={self.offline_standin})")

    def describe(self) -> dict:
        """The record every result carries: id, weights sha256, resize mode, stand-in flag."""
        return {"id": self.id, "weights_sha256": self.weights_sha256, "resize": self.resize,
                "offline_standin": self.offline_standin}

    def features(self, images: np.ndarray | Sequence[np.ndarray], maps: bool = True) -> Features:
        """Features of uint8 RGB images [b, H, W, 3] (or a list of [H, W, 3]).

        Returns pool float32 [b, d] and, when ``maps``, the intermediate maps
        float32 [b, h, w, c] (one per layer in spec.map_names). Results do not
        depend on the batch size (checked in the tests to 1e-5).
        """
        if len(images) == 0:
            return Features(np.zeros((0, self.dim), np.float32), [])
        if self.input_size:
            x = resize_images(images, self.input_size, self.resize)
        else:  # the network takes the images at their own size (LPIPS)
            x = np.stack([np.asarray(img) for img in images]).astype(np.float32)
        outs = self._fn(x)
        pool = np.asarray(outs[0], np.float32).reshape(len(x), -1)
        return Features(pool, [np.asarray(m, np.float32) for m in outs[1:]] if maps else [])


_LOADED: dict[tuple, Backbone] = {}


def _disable_tf32() -> None:
    import tensorflow as tf

    # TF32 matmuls/convs on Ampere+ GPUs keep 10 mantissa bits: features would change with the GPU.
    tf.config.experimental.enable_tensor_float_32_execution(False)


def spec_of(backbone_id: str) -> BackboneSpec:
    """The registered spec, or E_BACKBONE naming the known ids."""
    if backbone_id not in BACKBONES:
        raise EaselError("E_BACKBONE", f"unknown backbone {backbone_id!r}; known: {', '.join(BACKBONES)}",
                         detail=backbone_id)
    return BACKBONES[backbone_id]


def load_backbone(backbone_id: str = "inception_fid", resize: str = "clean",
                  cache_dir: str | os.PathLike | None = None, allow_offline_standin: bool = True,
                  expected_sha256: str | None = None) -> Backbone:
    """Load a registered backbone through its spec's ``load``.

    ``inception_fid`` weights are read from the cache and refused
    (E_WEIGHTS_HASH) unless they match their pin; when the file is absent, the
    offline stand-in ``inception_v3_random_seed0`` is returned with a loud
    warning (or E_BACKBONE if ``allow_offline_standin`` is False).
    ``expected_sha256`` replaces the pin (tests use it for a synthetic graph).
    Loaded backbones are memoized per (id, resize, cache, pin).
    """
    spec = spec_of(backbone_id)
    if resize not in BACKBONE_RESIZES:
        raise EaselError("E_CONFIG", f"unknown resize mode {resize!r}", detail=resize)
    root = cache_root(cache_dir)
    memo = (backbone_id, resize, str(root.resolve()), expected_sha256, allow_offline_standin)
    if memo not in _LOADED:
        _disable_tf32()
        _LOADED[memo] = spec.load(spec, LoadRequest(root, resize, expected_sha256, allow_offline_standin))
    return _LOADED[memo]
