"""``lpips_alex``: the network half of LPIPS v0.1 AlexNet-lin, in TensorFlow, on torchvision's ImageNet AlexNet.

Images in [-1, 1] (uint8 / 127.5 − 1) pass LPIPS' ScalingLayer,
(x − shift) / scale with shift (−.030, −.088, −.188) and scale (.458, .448, .450),
then torchvision's ``alexnet().features`` up to relu5; the maps returned are
relu1..relu5 (64, 192, 384, 256, 256 channels), as ``lpips.pretrained_networks.alexnet``
slices them. The distance on the maps (unit-normalised channels, learned 1x1
weights, spatial mean, layer sum) is :func:`evaluator.metrics.lpips.lpips_distance`.
Images enter at their own size (LPIPS compares at the resolution it is given;
AlexNet needs at least 31 px); the pool is the spatial mean of relu5.

Weights: torchvision's ``alexnet-owt-7be5be79.pth`` (its name carries the
first 8 hex digits of its sha256; the full digest, 244,408,911 bytes, is
pinned here), fetched on the runner by ``easel weights fetch --backbone lpips_alex``
and read without running pickled code (:mod:`..torch_checkpoint`). Every one of
the ten conv tensors must be there with its shape (no ``strict=False``).
Offline, ``alexnet_random_seed0`` stands in: the same network with weights from
numpy's seeded generator (:func:`random_alexnet_state_dict`), so content and
perceptual distances are then the LPIPS formula on an untrained network, and
every result says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import EaselError
from ...fsutil import sha256_bytes
from ..registry import Backbone, BackboneSpec, LoadRequest
from ..weights import check_generated, load_offline_standin, weights_sha256

ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
ALEXNET_SHA256 = "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02"
ALEXNET_BYTES = 244_408_911
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
# torchvision alexnet().features convs: (state-dict index, in, out, kernel, stride, padding, max-pool before)
ALEXNET_CONVS = ((0, 3, 64, 11, 4, 2, False), (3, 64, 192, 5, 1, 2, True), (6, 192, 384, 3, 1, 1, True),
                 (8, 384, 256, 3, 1, 1, False), (10, 256, 256, 3, 1, 1, False))
ALEXNET_MIN_SIZE = 31  # smallest side whose second max-pool still has a 3x3 window
STANDIN_ID = "alexnet_random_seed0"
ALEXNET_RANDOM_SEED0_SHA256 = "c723bf368c6f5cd1a399531ff2c68f777f688e4129e15ca704677110bc4e1894"


def alexnet_shapes() -> dict[str, tuple[int, ...]]:
    """The ten tensors LPIPS uses, by torchvision state-dict name: weight [out, in, k, k], bias [out]."""
    shapes = {}
    for index, cin, cout, k, _, _, _ in ALEXNET_CONVS:
        shapes[f"features.{index}.weight"] = (cout, cin, k, k)
        shapes[f"features.{index}.bias"] = (cout,)
    return shapes


def random_alexnet_state_dict(seed: int = 0, bias_std: float = 0.1) -> dict[str, np.ndarray]:
    """A seeded random AlexNet in torchvision's layout: float32 arrays by state-dict name.

    Kernels He-normal (std √(2 / fan_in)), biases N(0, bias_std²), drawn in
    :func:`alexnet_shapes` order from numpy's PCG64, so every machine (and the
    golden-value tool, which loads these into the ``lpips`` package) gets the same bytes.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in alexnet_shapes().items():
        if name.endswith("weight"):
            std = np.sqrt(2.0 / int(np.prod(shape[1:])))
        else:
            std = bias_std
        out[name] = (rng.standard_normal(shape) * std).astype(np.float32)
    return out


def alexnet_fn(state: dict[str, np.ndarray]):
    """float32 [b, H, W, 3] in 0..255 -> (pool [b, 256], relu1, ..., relu5) NHWC, one compiled function."""
    import tensorflow as tf

    layers = []
    for index, _, _, _, stride, pad, pool_before in ALEXNET_CONVS:
        kernel = np.transpose(state[f"features.{index}.weight"], (2, 3, 1, 0))  # [out,in,kh,kw] -> [kh,kw,in,out]
        layers.append((tf.constant(kernel), tf.constant(state[f"features.{index}.bias"]), stride, pad, pool_before))
    shift = tf.constant(np.array(LPIPS_SHIFT, np.float32))
    scale = tf.constant(np.array(LPIPS_SCALE, np.float32))

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def run(x):
        h = ((x / 127.5 - 1.0) - shift) / scale
        maps = []
        for kernel, bias, stride, pad, pool_before in layers:
            if pool_before:
                h = tf.nn.max_pool2d(h, 3, 2, "VALID")  # torch MaxPool2d(3, 2): no padding, floor
            h = tf.nn.relu(tf.nn.conv2d(h, kernel, stride, [[0, 0], [pad, pad], [pad, pad], [0, 0]]) + bias)
            maps.append(h)
        return (tf.reduce_mean(maps[-1], axis=[1, 2]), *maps)

    def call(x):
        if min(x.shape[1:3]) < ALEXNET_MIN_SIZE:
            # `easel check` refuses such a track first (BackboneSpec.min_image_size); this guards direct callers.
            raise EaselError("E_CONFIG", f"LPIPS' AlexNet needs images of at least {ALEXNET_MIN_SIZE} px, "
                             f"got {x.shape[1]}x{x.shape[2]}", detail="lpips_alex")
        return run(tf.constant(x))

    return call


def verify_alexnet(data: bytes, pin: str) -> str:
    """The sha256 of ``data`` if it equals ``pin``, else E_WEIGHTS_HASH."""
    digest = sha256_bytes(data)
    if digest != pin:
        raise EaselError("E_WEIGHTS_HASH", f"lpips_alex: the AlexNet file has sha256 {digest}, expected the pinned "
                         f"{pin} (torchvision's alexnet-owt-7be5be79.pth)", detail="lpips_alex")
    return digest


def load_from_state(spec: BackboneSpec, resize: str, state: dict[str, np.ndarray], digest: str) -> Backbone:
    """A Backbone running ``state`` (torchvision names; every tensor of :func:`alexnet_shapes` required)."""
    missing = [name for name, shape in alexnet_shapes().items()
               if name not in state or tuple(np.shape(state[name])) != shape]
    if missing:
        raise EaselError("E_BACKBONE", f"{spec.id}: weight {missing[0]} is missing or misshapen", detail=spec.id)
    return Backbone(spec, resize, digest, alexnet_fn(state))


def load(spec: BackboneSpec, request: LoadRequest) -> Backbone:
    from ..torch_checkpoint import read_state_dict

    path = request.root / spec.weights_file
    if not path.is_file():
        return load_offline_standin(
            spec, request, path, STANDIN_ID, "random AlexNet",
            "content_distance / perceptual_distance are then the LPIPS formula on an untrained network, NOT "
            "comparable with LPIPS numbers.", f"Run `easel weights fetch --backbone {spec.id}`.")
    digest = verify_alexnet(path.read_bytes(), request.expected_sha256 or ALEXNET_SHA256)
    return load_from_state(spec, request.resize, read_state_dict(path, alexnet_shapes()), digest)


def fetch(spec: BackboneSpec, file: Path) -> bytes:
    """torchvision's AlexNet file as downloaded, once its sha256 matches the pin and its tensors are all there."""
    from ..torch_checkpoint import read_state_dict

    data = file.read_bytes()
    verify_alexnet(data, ALEXNET_SHA256)
    read_state_dict(file, alexnet_shapes())
    return data


def load_random(spec: BackboneSpec, request: LoadRequest) -> Backbone:
    state = random_alexnet_state_dict(seed=0)
    digest = weights_sha256([state[name] for name in alexnet_shapes()])
    check_generated(spec, digest)
    return load_from_state(spec, request.resize, state, digest)


SPEC = BackboneSpec(
    id="lpips_alex", input_size=0, pool_dim=256, offline_standin=False, load=load, fetch=fetch,
    weights_sha256=ALEXNET_SHA256, map_names=("relu1", "relu2", "relu3", "relu4", "relu5"),
    weights_file="lpips_alex/alexnet-owt-7be5be79.pth", url=ALEXNET_URL, min_image_size=ALEXNET_MIN_SIZE,
    description="LPIPS v0.1 network: ScalingLayer + torchvision ImageNet AlexNet relu1-5, images at their own size.")

STANDIN_SPEC = BackboneSpec(
    id=STANDIN_ID, input_size=0, pool_dim=256, offline_standin=True, load=load_random,
    weights_sha256=ALEXNET_RANDOM_SEED0_SHA256, map_names=SPEC.map_names, min_image_size=ALEXNET_MIN_SIZE,
    description="OFFLINE STAND-IN for lpips_alex: AlexNet with weights from numpy seed 0 (untrained).")
