"""Feature backbones: one registry, pinned weights, streamed extraction, cached reference features.

Backbones (:data:`BACKBONES`):

* ``inception_fid`` — the original FID network: the 2015-12-05 Inception
  frozen GraphDef (``classify_image_graph_def.pb`` from
  ``inception-2015-12-05.tgz``) that TTUR, TF-GAN, pytorch-fid and clean-fid
  reproduce; ``pool_3`` gives 2048-d features. Read from the cache directory
  (``$EASEL_CACHE``, default ``~/.cache/easel``) and checked against its
  public record (size + md5) or an organizer's sha256 pin before TensorFlow
  parses it; ``easel weights fetch`` downloads and verifies it.
* ``keras_inception_v3_imagenet`` — Keras' own ImageNet InceptionV3: a
  *different* network that gives different FIDs; only for comparison.
* ``inception_v3_random_seed0`` — the offline stand-in used when the FID
  weights are absent: Keras InceptionV3 with every weight regenerated from
  numpy seed 0, so it is the same on every machine for one TF version. Its
  scores mean nothing outside this platform; results say which was used.
* ``convnet_random_seed0`` — a small seeded random conv net (64 px, 256-d)
  for tests and quick development runs; never for a real competition.

Every :class:`Backbone` records the id actually used, its weights sha256 and
whether it is an offline stand-in, so results from different backbones are
never ranked together. Images enter as uint8 RGB and are resized inside
(``clean``: PIL bicubic per channel in float, no re-quantization, as
clean-fid; ``legacy_tensorflow``: the original graph's bilinear resize,
align_corners=False and no half-pixel centres, no antialiasing).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import io
import logging
import os
import re
import sys
import tarfile
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from .cli import command_group
from .errors import EaselError
from .fsutil import atomic_write_bytes, canonical_json, sha256_bytes

log = logging.getLogger(__name__)

RESIZE_MODES = ("clean", "legacy_tensorflow")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

INCEPTION_FID_URL = "http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz"
INCEPTION_FID_MEMBER = "classify_image_graph_def.pb"
# No sha256 of the graph has been published. Its public record is its size
# (95,673,916 bytes, the same in two independent records) and
# its md5, the way Keras pins its own weights: an md5 second preimage of a file
# made in 2015 is out of reach, so size + md5 identify it. An organizer may add
# a sha256 pin on top (EASEL_INCEPTION_FID_SHA256, or this constant), which then
# replaces the record check; every result records the file's sha256 either way.
INCEPTION_FID_BYTES = 95_673_916
INCEPTION_FID_MD5 = "e6bb154e85f5d4331c22abcddb5dcf31"
INCEPTION_FID_SHA256: str | None = None
INCEPTION_FID_SHA256_ENV = "EASEL_INCEPTION_FID_SHA256"

# Keras' own pin (md5, from keras.applications.inception_v3) for its notop weights.
KERAS_INCEPTION_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
                       "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5")
KERAS_INCEPTION_MD5 = "bcbd6486424b2319ff4ef7d526e38f63"

# sha256 of the generated weights (float32 bytes, concatenated in layer order);
# a different value on load means the architecture or generator changed.
INCEPTION_V3_RANDOM_SEED0_SHA256 = "d174283f72b8bddd342fb99117674b2270819945c8cb464f0e124c97154da926"
CONVNET_RANDOM_SEED0_SHA256 = "770e2bf7d1fad09461ce52c576469f9f7cc8420a585fb2547e38be675f1d2e25"


@dataclass(frozen=True)
class BackboneSpec:
    """One registered backbone.

    weights_sha256: the pinned sha256 of its weights (for generated backbones:
    of the generated float32 weights), or None where it is pinned otherwise
    (Keras' md5) or supplied by the organizer (inception_fid, see above).
    input_size: the square side (px) images are resized to; pool_dim: feature size d.
    offline_standin: True for seeded random networks whose numbers mean nothing elsewhere.
    """

    id: str
    weights_sha256: str | None
    input_size: int
    description: str
    offline_standin: bool
    pool_dim: int
    map_names: tuple[str, ...] = ()
    weights_file: str | None = None  # relative to the cache directory
    url: str | None = None
    for_ranking: bool = True


BACKBONES: dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    """Add a backbone to :data:`BACKBONES` (adding one, e.g. DINOv2, touches this module only)."""
    if spec.id in BACKBONES:
        raise ValueError(f"backbone {spec.id!r} registered twice")
    BACKBONES[spec.id] = spec
    return spec


register_backbone(BackboneSpec(
    id="inception_fid", weights_sha256=INCEPTION_FID_SHA256, input_size=299, pool_dim=2048,
    description="Original FID Inception (2015-12-05 frozen graph), pool_3 2048-d: the standard for FID/KID.",
    offline_standin=False, map_names=("mixed/join:0", "mixed_4/join:0", "mixed_8/join:0"),
    weights_file=f"inception_fid/{INCEPTION_FID_MEMBER}", url=INCEPTION_FID_URL))
register_backbone(BackboneSpec(
    id="keras_inception_v3_imagenet", weights_sha256=None, input_size=299, pool_dim=2048,
    description="Keras InceptionV3 ImageNet weights: a different network from FID's; FIDs differ.",
    offline_standin=False, map_names=("mixed0", "mixed4", "mixed8"),
    weights_file="keras/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", url=KERAS_INCEPTION_URL))
register_backbone(BackboneSpec(
    id="inception_v3_random_seed0", weights_sha256=INCEPTION_V3_RANDOM_SEED0_SHA256, input_size=299,
    pool_dim=2048, offline_standin=True, map_names=("mixed0", "mixed4", "mixed8"),
    description="OFFLINE STAND-IN: InceptionV3 with weights regenerated from numpy seed 0; not comparable with published FIDs."))
register_backbone(BackboneSpec(
    id="convnet_random_seed0", weights_sha256=CONVNET_RANDOM_SEED0_SHA256, input_size=64, pool_dim=256,
    offline_standin=True, map_names=("conv1", "conv2", "conv3"), for_ranking=False,
    description="Small seeded random conv net (64 px, 256-d) for tests and quick dev runs; never for a real ranking."))


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache directory: ``cache_dir``, else ``$EASEL_CACHE``, else ``~/.cache/easel``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("EASEL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "easel"


def pinned_sha256(backbone_id: str) -> str | None:
    """The sha256 a backbone's weights must have (inception_fid: constant, else $EASEL_INCEPTION_FID_SHA256)."""
    spec = BACKBONES[backbone_id]
    pin = spec.weights_sha256
    if backbone_id == "inception_fid" and pin is None:
        pin = os.environ.get(INCEPTION_FID_SHA256_ENV, "").strip().lower() or None
    if pin is not None and not _HEX64.match(pin):
        raise EaselError("E_WEIGHTS_HASH", f"{backbone_id}: the pinned sha256 is not 64 hex digits",
                         detail=backbone_id)
    return pin


def verify_inception_fid(data: bytes, sha256_pin: str | None) -> str:
    """The sha256 of ``data`` once it is known to be the 2015-12-05 FID graph, else E_WEIGHTS_HASH.

    With a sha256 pin the file must match it; without one it must match the
    public record (:data:`INCEPTION_FID_BYTES` bytes, md5 :data:`INCEPTION_FID_MD5`).
    """
    digest = sha256_bytes(data)
    if sha256_pin is not None:
        if digest != sha256_pin:
            raise EaselError("E_WEIGHTS_HASH", f"inception_fid: {INCEPTION_FID_MEMBER} has sha256 {digest}, "
                             f"expected the pinned {sha256_pin}", detail="inception_fid")
        return digest
    md5 = hashlib.md5(data).hexdigest()  # noqa: S324 - the published record is md5 (+ size)
    if len(data) != INCEPTION_FID_BYTES or md5 != INCEPTION_FID_MD5:
        raise EaselError("E_WEIGHTS_HASH", f"inception_fid: {INCEPTION_FID_MEMBER} is {len(data)} bytes with md5 "
                         f"{md5}; the published 2015-12-05 graph is {INCEPTION_FID_BYTES} bytes with md5 "
                         f"{INCEPTION_FID_MD5}. If another trusted source vouches for this file, pin its sha256 "
                         f"with {INCEPTION_FID_SHA256_ENV}={digest}", detail="inception_fid")
    return digest


# --- resizing -------------------------------------------------------------------------

def resize_images(images: np.ndarray | Sequence[np.ndarray], size: int, mode: str = "clean") -> np.ndarray:
    """uint8 [b, H, W, 3] (or a list of [H, W, 3]) -> float32 [b, size, size, 3] in 0..255.

    clean: PIL bicubic on each channel as a float ('F') image, clipped to
    0..255 and never rounded (clean-fid). legacy_tensorflow: bilinear with
    align_corners=False and no half-pixel centres, as the 2015 graph's own
    ResizeBilinear op (no antialiasing). An image already ``size`` px is passed through.
    """
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode must be one of {RESIZE_MODES}, got {mode!r}")
    out = np.empty((len(images), size, size, 3), np.float32)
    for i, img in enumerate(images):
        img = np.asarray(img)
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"images must be uint8 [H, W, 3], got {img.dtype} {img.shape}")
        if img.shape[:2] == (size, size):
            out[i] = img
        elif mode == "clean":
            from PIL import Image

            for c in range(3):
                channel = Image.fromarray(img[:, :, c].astype(np.float32))  # mode 'F'
                out[i, :, :, c] = np.asarray(channel.resize((size, size), resample=Image.BICUBIC))
            np.clip(out[i], 0.0, 255.0, out=out[i])
        else:
            import tensorflow as tf

            out[i] = tf.raw_ops.ResizeBilinear(images=img[None].astype(np.float32), size=[size, size],
                                               align_corners=False, half_pixel_centers=False)[0].numpy()
    return out


# --- the backbone object ----------------------------------------------------------

@dataclass
class Features:
    """pool: float32 [b, d]; maps: list of float32 [b, h, w, c] intermediate maps (perceptual distance)."""

    pool: np.ndarray
    maps: list[np.ndarray] = field(default_factory=list)


class Backbone:
    """A loaded feature network. ``id``/``weights_sha256``/``offline_standin`` describe what actually ran."""

    def __init__(self, spec: BackboneSpec, resize: str, weights_sha256: str,
                 fn: Callable, requested_id: str | None = None):
        if resize not in RESIZE_MODES:
            raise ValueError(f"resize mode must be one of {RESIZE_MODES}, got {resize!r}")
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
        x = resize_images(images, self.input_size, self.resize)
        outs = self._fn(x)
        pool = np.asarray(outs[0], np.float32).reshape(len(x), -1)
        return Features(pool, [np.asarray(m, np.float32) for m in outs[1:]] if maps else [])


_LOADED: dict[tuple, Backbone] = {}


def _disable_tf32() -> None:
    import tensorflow as tf

    # TF32 matmuls/convs on Ampere+ GPUs keep 10 mantissa bits: features would change with the GPU.
    tf.config.experimental.enable_tensor_float_32_execution(False)


def load_backbone(backbone_id: str = "inception_fid", resize: str = "clean",
                  cache_dir: str | os.PathLike | None = None, allow_offline_standin: bool = True,
                  expected_sha256: str | None = None) -> Backbone:
    """Load a registered backbone.

    ``inception_fid`` weights are read from the cache and refused
    (E_WEIGHTS_HASH) unless their sha256 equals the pin; when the file is
    absent, the offline stand-in ``inception_v3_random_seed0`` is returned with
    a loud warning (or E_BACKBONE if ``allow_offline_standin`` is False).
    ``expected_sha256`` replaces the pin (tests use it for a synthetic graph).
    Loaded backbones are memoized per (id, resize, cache, pin).
    """
    if backbone_id not in BACKBONES:
        raise EaselError("E_BACKBONE", f"unknown backbone {backbone_id!r}", detail=backbone_id)
    if resize not in RESIZE_MODES:
        raise EaselError("E_CONFIG", f"unknown resize mode {resize!r}", detail=resize)
    root = cache_root(cache_dir)
    memo = (backbone_id, resize, str(root.resolve()), expected_sha256)
    if memo in _LOADED:
        return _LOADED[memo]
    _disable_tf32()
    spec = BACKBONES[backbone_id]
    if backbone_id == "inception_fid":
        path = root / spec.weights_file
        if not path.is_file():
            if not allow_offline_standin:
                raise EaselError("E_BACKBONE", f"inception_fid weights not found at {path}", detail=backbone_id)
            message = (f"inception_fid weights not found at {path}: using the OFFLINE STAND-IN "
                       "inception_v3_random_seed0 (random weights). Its FID/KID are NOT comparable with "
                       "published numbers. Run `easel weights fetch` where there is a network.")
            log.warning(message)
            warnings.warn(message, RuntimeWarning, stacklevel=2)
            backbone = copy.copy(load_backbone("inception_v3_random_seed0", resize, cache_dir))
            backbone.requested_id = backbone_id  # a copy: the memoized stand-in keeps its own record
            _LOADED[memo] = backbone
            return backbone
        backbone = _load_graphdef(spec, path, resize, expected_sha256 or pinned_sha256(backbone_id))
    elif backbone_id == "keras_inception_v3_imagenet":
        backbone = _load_keras_imagenet(spec, root / spec.weights_file, resize)
    elif backbone_id == "inception_v3_random_seed0":
        backbone = _load_random_inception(spec, resize)
    elif backbone_id == "convnet_random_seed0":
        backbone = _load_random_convnet(spec, resize)
    else:  # a registered id without a loader is a bug in this module
        raise EaselError("E_BACKBONE", f"no loader for {backbone_id!r}", detail=backbone_id)
    _LOADED[memo] = backbone
    return backbone


def _upgrade_deprecated_ops(graph_def):
    """A copy of ``graph_def`` with each BatchNormWithGlobalNormalization node rewritten as current ops.

    The 2015 graph (GraphDef producer < 9) uses that op, which TensorFlow
    still runs in the graph's own version but refuses to re-create in a
    current graph, as pruning a wrapped function does. The rewrite keeps the
    node's name and the kernel's arithmetic: (t - m) * (rsqrt(v + eps) [* gamma]) + beta.
    """
    import tensorflow as tf

    upgraded = tf.compat.v1.GraphDef()
    upgraded.CopyFrom(graph_def)
    del upgraded.node[:]
    for node in graph_def.node:
        if node.op != "BatchNormWithGlobalNormalization":
            upgraded.node.add().CopyFrom(node)
            continue
        t, mean, var, beta, gamma = node.input
        dtype = node.attr["T"]

        def add(suffix, op, inputs):
            new = upgraded.node.add(name=node.name + suffix, op=op, input=inputs, device=node.device)
            new.attr["T"].CopyFrom(dtype)
            return new.name

        eps = upgraded.node.add(name=node.name + "/_eps", op="Const", device=node.device)
        eps.attr["dtype"].type = dtype.type
        eps.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(node.attr["variance_epsilon"].f,
                                                               tf.as_dtype(dtype.type)))
        scale = add("/_rsqrt", "Rsqrt", [add("/_var_eps", "AddV2", [var, eps.name])])
        if node.attr["scale_after_normalization"].b:
            scale = add("/_scale", "Mul", [scale, gamma])
        scaled = add("/_scaled", "Mul", [add("/_centred", "Sub", [t, mean]), scale])
        add("", "AddV2", [scaled, beta])
    return upgraded


def _load_graphdef(spec: BackboneSpec, path: Path, resize: str, pin: str | None) -> Backbone:
    """The frozen FID graph, its input ``ExpandDims:0`` mapped to a [None, S, S, 3] float input in 0..255."""
    data = path.read_bytes()
    digest = verify_inception_fid(data, pin)
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(data)
    except Exception as exc:  # noqa: BLE001 - a protobuf decode error of a verified file
        raise EaselError("E_BACKBONE", f"{spec.id}: not a GraphDef ({type(exc).__name__})", detail=spec.id) from None
    graph_def = _upgrade_deprecated_ops(graph_def)
    fetch = ["pool_3:0", *spec.map_names]

    def imported(x):
        return tf.compat.v1.import_graph_def(graph_def, input_map={"ExpandDims:0": x}, return_elements=fetch,
                                             name="fid")

    try:
        wrapped = tf.compat.v1.wrap_function(imported, [tf.TensorSpec([None, spec.input_size, spec.input_size, 3],
                                                                       tf.float32)])
        # Prune to the fetched tensors: the graph's own head reshapes to batch 1.
        fn = wrapped.prune(wrapped.inputs[0], [wrapped.graph.get_tensor_by_name(f"fid/{t}") for t in fetch])
    except (ValueError, KeyError, tf.errors.OpError) as exc:
        raise EaselError("E_BACKBONE", f"{spec.id}: graph lacks the expected tensors ({exc})"[:300],
                         detail=spec.id) from None
    return Backbone(spec, resize, digest, lambda x: fn(tf.constant(x)))


def _keras_inception(weights, spec: BackboneSpec):
    import keras

    base = keras.applications.InceptionV3(include_top=False, weights=weights, pooling="avg",
                                          input_shape=(spec.input_size, spec.input_size, 3))
    return keras.Model(base.inputs, [base.output, *[base.get_layer(n).output for n in spec.map_names]])


def _keras_fn(model, size: int) -> Callable:
    import tensorflow as tf

    # Static spatial dims let the CPU/GPU kernels pick their layouts once; only the batch varies.
    @tf.function(input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)])
    def run(x):
        return model(x / 127.5 - 1.0, training=False)  # Keras InceptionV3 takes [-1, 1]

    return lambda x: run(tf.constant(x))


def _load_keras_imagenet(spec: BackboneSpec, path: Path, resize: str) -> Backbone:
    if not path.is_file():
        raise EaselError("E_BACKBONE", f"{spec.id}: weights not found at {path}; run "
                         f"`easel weights fetch --backbone {spec.id}`", detail=spec.id)
    data = path.read_bytes()
    _check_keras_md5(data, spec)
    try:
        model = _keras_inception(str(path), spec)
    except (OSError, ValueError, ImportError) as exc:
        raise EaselError("E_BACKBONE", f"{spec.id}: cannot load {path} ({type(exc).__name__})",
                         detail=spec.id) from None
    return Backbone(spec, resize, sha256_bytes(data), _keras_fn(model, spec.input_size))


def _check_keras_md5(data: bytes, spec: BackboneSpec) -> None:
    if hashlib.md5(data).hexdigest() != KERAS_INCEPTION_MD5:  # noqa: S324 - Keras' own pin is md5
        raise EaselError("E_WEIGHTS_HASH", f"{spec.id}: md5 does not match Keras' pin {KERAS_INCEPTION_MD5}",
                         detail=spec.id)


def seeded_weights(shapes: Sequence[tuple[str, tuple[int, ...]]], seed: int = 0) -> list[np.ndarray]:
    """Deterministic weights for (name, shape) pairs in order: float32 arrays.

    Kernels: He-normal (std √(2/fan_in)) from numpy's PCG64 in float64, cast to
    float32; BN moving variance and gamma 1; moving mean, beta and biases 0.
    Depends only on numpy's generator, so every machine gets the same bytes.
    """
    rng = np.random.default_rng(seed)
    out = []
    for name, shape in shapes:
        leaf = name.rsplit("/", 1)[-1]
        if leaf in ("moving_variance", "gamma"):
            out.append(np.ones(shape, np.float32))
        elif leaf in ("moving_mean", "beta", "bias"):
            out.append(np.zeros(shape, np.float32))
        else:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            out.append((rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32))
    return out


def weights_sha256(weights: Sequence[np.ndarray]) -> str:
    """sha256 of float32 little-endian weight bytes concatenated in order."""
    digest = hashlib.sha256()
    for w in weights:
        digest.update(np.ascontiguousarray(w, dtype="<f4").tobytes())
    return digest.hexdigest()


def _check_generated(spec: BackboneSpec, digest: str) -> None:
    if spec.weights_sha256 and digest != spec.weights_sha256:
        message = (f"{spec.id}: generated weights hash {digest[:16]}... differs from the pinned "
                   f"{spec.weights_sha256[:16]}... (TF/Keras changed the architecture); results record the new hash")
        log.warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def _load_random_inception(spec: BackboneSpec, resize: str) -> Backbone:
    model = _keras_inception(None, spec)
    weights = seeded_weights([(w.path, tuple(w.shape)) for w in model.weights], seed=0)
    model.set_weights(weights)
    digest = weights_sha256(weights)
    _check_generated(spec, digest)
    return Backbone(spec, resize, digest, _keras_fn(model, spec.input_size))


CONVNET_LAYERS = ((3, 32, 2), (32, 64, 2), (64, 128, 2), (128, 256, 1))  # (in, out, stride), 3x3 kernels


def _load_random_convnet(spec: BackboneSpec, resize: str) -> Backbone:
    import tensorflow as tf

    shapes = []
    for i, (cin, cout, _) in enumerate(CONVNET_LAYERS, 1):
        shapes += [(f"conv{i}/kernel", (3, 3, cin, cout)), (f"conv{i}/bias", (cout,))]
    weights = seeded_weights(shapes, seed=0)
    digest = weights_sha256(weights)
    _check_generated(spec, digest)
    consts = [tf.constant(w) for w in weights]

    @tf.function(input_signature=[tf.TensorSpec([None, spec.input_size, spec.input_size, 3], tf.float32)])
    def run(x):
        h = x / 127.5 - 1.0
        maps = []
        for i, (_, _, stride) in enumerate(CONVNET_LAYERS):
            h = tf.nn.relu(tf.nn.conv2d(h, consts[2 * i], stride, "SAME") + consts[2 * i + 1])
            maps.append(h)
        return (tf.reduce_mean(maps[-1], axis=[1, 2]), *maps[:3])

    return Backbone(spec, resize, digest, lambda x: run(tf.constant(x)))


# --- extraction ---------------------------------------------------------------------

def extract_features(backbone: Backbone, batches: Iterable[np.ndarray], n: int | None = None,
                     desc: str = "features") -> np.ndarray:
    """Pool features of a stream of uint8 batches [b, H, W, 3] -> float32 [n, d].

    Batches are consumed one at a time and dropped, so memory holds one batch
    of images plus the features. With ``n`` the output is preallocated and the
    progress bar knows its total; a different image count is an error.
    """
    from tqdm import tqdm

    chunks: list[np.ndarray] = []
    out = np.empty((n, backbone.dim), np.float32) if n is not None else None
    done = 0
    with tqdm(total=n, desc=desc, unit="img", file=sys.stderr, leave=False, disable=None) as bar:
        for batch in batches:
            pool = backbone.features(batch, maps=False).pool
            if out is not None:
                if done + len(pool) > n:
                    raise ValueError(f"more than the announced {n} images")
                out[done:done + len(pool)] = pool
            else:
                chunks.append(pool)
            done += len(pool)
            bar.update(len(pool))
    if out is not None:
        if done != n:
            raise ValueError(f"expected {n} images, got {done}")
        return out
    return np.concatenate(chunks) if chunks else np.zeros((0, backbone.dim), np.float32)


def load_image_uint8(path: Path) -> np.ndarray:
    """An image file as uint8 RGB [H, W, 3]; unreadable -> E_DATA_IMAGE."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"), np.uint8)
    except Exception:  # noqa: BLE001 - PIL raises many types for broken files
        raise EaselError("E_DATA_IMAGE", f"cannot read {path}", detail=Path(path).name) from None


def _warn_jpeg(paths: Sequence[Path]) -> None:
    jpegs = [p for p in paths if Path(p).suffix.lower() in (".jpg", ".jpeg")]
    if jpegs:
        message = (f"{len(jpegs)} JPEG reference image(s) (e.g. {Path(jpegs[0]).name}): JPEG compression "
                   "changes FID; use PNG for reference data")
        log.warning(message)
        warnings.warn(message, UserWarning, stacklevel=3)


REFERENCE_KEY_FIELDS = ("manifest_sha256", "folder", "split", "image_size")


def reference_features(backbone: Backbone, image_paths: Sequence[Path], key: dict,
                       cache_dir: str | os.PathLike | None = None, batch_size: int = 16) -> np.ndarray:
    """Pool features float32 [n, d] of a dataset split's images, cached on disk.

    The cache file is ``<cache>/features/ref-<sha256>.npz`` where the hash is
    of canonical_json(key + backbone id, weights sha256, resize mode and n).
    ``key`` must name manifest_sha256, folder, split and image_size; if it
    names a backbone, weights or resize they must match ``backbone``. A cached
    file whose stored key differs is ignored and rewritten (atomic write).
    """
    missing = [k for k in REFERENCE_KEY_FIELDS if k not in key]
    if missing:
        raise ValueError(f"reference key lacks {missing}")
    full = dict(key)
    for name, value in (("backbone", backbone.id), ("weights_sha256", backbone.weights_sha256),
                        ("resize", backbone.resize)):
        if full.setdefault(name, value) != value:
            raise ValueError(f"reference key {name}={full[name]!r} does not match the backbone's {value!r}")
    full["n"] = len(image_paths)
    text = canonical_json(full)
    path = cache_root(cache_dir) / "features" / f"ref-{sha256_bytes(text.encode())}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as cached:
                if str(cached["key"]) == text and cached["features"].shape == (len(image_paths), backbone.dim):
                    log.info("reference features reused from %s", path)
                    return cached["features"].astype(np.float32)
        except (OSError, ValueError, KeyError):
            log.warning("ignoring unreadable reference cache %s", path)
    _warn_jpeg(image_paths)

    def batches():
        for start in range(0, len(image_paths), batch_size):
            yield [load_image_uint8(Path(p)) for p in image_paths[start:start + batch_size]]

    feats = extract_features(backbone, batches(), n=len(image_paths), desc=f"reference {key['folder']}")
    buf = io.BytesIO()
    np.savez(buf, features=feats, key=np.array(text))
    atomic_write_bytes(path, buf.getvalue())
    return feats


# --- easel weights fetch | list ------------------------------------------------------

def _download(url: str, dest: Path) -> None:
    import urllib.request

    from tqdm import tqdm

    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as handle:  # noqa: S310 - pinned URL
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, file=sys.stderr) as bar:
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    handle.write(chunk)
                    bar.update(len(chunk))
    except OSError as exc:
        raise EaselError("E_BACKBONE", f"download of {url} failed: {exc}") from None


def fetch_weights(backbone_id: str = "inception_fid", cache_dir: str | os.PathLike | None = None,
                  archive: str | os.PathLike | None = None) -> Path | None:
    """Download (or take ``archive``, a file already here) and verify a backbone's weights into the cache.

    Returns the cached file, or None for generated weights. inception_fid:
    only ``classify_image_graph_def.pb`` is read from the tgz (a regular
    member under 200 MB) and written only if :func:`verify_inception_fid`
    accepts it. keras_inception_v3_imagenet: Keras' file, checked against
    Keras' md5.
    """
    if backbone_id not in BACKBONES:
        raise EaselError("E_BACKBONE", f"unknown backbone {backbone_id!r}", detail=backbone_id)
    spec = BACKBONES[backbone_id]
    if spec.weights_file is None:
        return None
    dest = cache_root(cache_dir) / spec.weights_file
    with tempfile.TemporaryDirectory() as tmp:
        download = Path(tmp) / Path(spec.url).name
        if archive is None:
            _download(spec.url, download)
        elif not Path(archive).is_file():
            raise EaselError("E_BACKBONE", f"{archive}: no such file", detail=spec.id)
        else:
            download = Path(archive)
        if backbone_id == "inception_fid":
            try:
                with tarfile.open(download, "r:gz") as tar:
                    member = next((m for m in tar.getmembers() if Path(m.name).name == INCEPTION_FID_MEMBER), None)
                    if member is None or not member.isfile() or member.size > 200 << 20:
                        raise EaselError("E_BACKBONE", f"{INCEPTION_FID_MEMBER} missing from the archive",
                                         detail=spec.id)
                    data = tar.extractfile(member).read()
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise EaselError("E_BACKBONE", f"{download.name}: not a readable tgz ({exc})", detail=spec.id) from None
            digest = verify_inception_fid(data, pinned_sha256(backbone_id))
            print(f"{spec.id}: {INCEPTION_FID_MEMBER} sha256 {digest}", file=sys.stderr)
        else:
            data = download.read_bytes()
            _check_keras_md5(data, spec)
        atomic_write_bytes(dest, data)
    return dest


def _cmd_fetch(args: argparse.Namespace) -> int:
    path = fetch_weights(args.backbone, args.cache, args.archive)
    if path is None:
        print(f"{args.backbone}: weights are generated from a seed; nothing to fetch")
    else:
        print(f"{args.backbone}: verified weights at {path}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    root = cache_root(args.cache)
    for spec in BACKBONES.values():
        if spec.weights_file is None:
            state = "generated"
        else:
            state = "present" if (root / spec.weights_file).is_file() else "absent"
        flags = " [offline stand-in]" if spec.offline_standin else ""
        print(f"{spec.id:28s} {spec.input_size:4d}px d={spec.pool_dim:<5d} {state:9s}{flags}  {spec.description}")
    print(f"cache: {root}")
    return 0


def register(subparsers) -> None:
    """`easel weights fetch [--backbone ID] [--cache DIR]` and `easel weights list [--cache DIR]`."""
    sub = command_group(subparsers, "weights", "fetch and list feature-backbone weights")
    fetch = sub.add_parser("fetch", help="download and verify a backbone's weights (needs network)")
    fetch.add_argument("--backbone", default="inception_fid", choices=sorted(BACKBONES),
                       help="the backbone whose weights to fetch (`easel weights list` shows them)")
    fetch.add_argument("--cache", default=None, help="cache directory (default $EASEL_CACHE or ~/.cache/easel)")
    fetch.add_argument("--archive", default=None, metavar="FILE",
                       help="verify and install a file already downloaded (for runners without internet; "
                            "default: download)")
    fetch.set_defaults(func=_cmd_fetch)
    listing = sub.add_parser("list", help="list registered backbones and whether their weights are present")
    listing.add_argument("--cache", default=None, help="cache directory (default $EASEL_CACHE or ~/.cache/easel)")
    listing.set_defaults(func=_cmd_list)
