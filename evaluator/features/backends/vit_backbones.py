"""``dinov2_vitl14`` (FD-DINOv2) and ``clip_vitl14_336`` (CMMD), and their offline stand-ins.

Both read the reference checkpoints themselves, as zip archives of raw tensors
(:mod:`evaluator.features.torch_checkpoint`; no pickled code runs), into the TensorFlow ViT of
:mod:`.vit`:

* ``dinov2_vitl14``: ``dinov2_vitl14_pretrain.pth`` from Meta's server, the
  file ``torch.hub.load('facebookresearch/dinov2', 'dinov2_vitl14')`` (and so
  dgm-eval) loads. No sha256 of it has been published; its size has
  (1,217,586,395 bytes). ``easel weights fetch --backbone dinov2_vitl14``
  checks the size, or the organizer's pin ``EASEL_DINOV2_SHA256`` where set,
  prints the file's sha256 and records it beside the file
  (``.sha256``): pinned on first fetch, so a file changed later is refused.
* ``clip_vitl14_336``: OpenAI's ``ViT-L-14-336px.pt``, pinned by the sha256
  OpenAI publishes in its own download URL (``clip.py`` checks the same).

Both resize as their references do, whatever ``evaluation.resize`` says:
PIL bicubic on the uint8 image (``pil_uint8``), as torchvision's ``Resize`` on
a PIL image in dgm-eval's DINOv2 transform and cmmd's
``_center_crop_and_resize`` (checked against both in tests/test_vit_parity.py).

Where the weights are absent, the seeded stand-ins ``dinov2_vit_random_seed0``
and ``clip_vit_random_seed0`` are used with a loud warning and every result
says so. They are the same code with a small configuration (2 blocks of
width 192 instead of 24 of 1024) at the same input size and preprocessing,
because a full ViT-L/14 forward takes about 4 s per image on a 2-core CPU and
random weights mean nothing at any size; the full-size layouts are checked
against the reference parameter counts in the tests.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from ...errors import EaselError
from ...vocab import HEX64_RE
from ..registry import Backbone, BackboneSpec, LoadRequest
from ..resize import PIL_UINT8
from ..weights import check_generated, load_offline_standin, pinned_sha256, weights_sha256
from ..torch_checkpoint import flat_parameters, read_torch_checkpoint
from .vit import LAYOUTS, ViTConfig, build_forward, check_weights, seeded_vit_weights, shapes

DINOV2_URL = "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth"
DINOV2_BYTES = 1_217_586_395
DINOV2_SHA256_ENV = "EASEL_DINOV2_SHA256"
CLIP_SHA256 = "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02"
CLIP_URL = f"https://openaipublic.azureedge.net/clip/models/{CLIP_SHA256}/ViT-L-14-336px.pt"

STANDIN_CONFIGS = {
    "dinov2_vit_random_seed0": ViTConfig("dinov2", 224, 14, 192, 2, 3, 768, 37, 192),
    "clip_vit_random_seed0": ViTConfig("clip", 336, 14, 192, 2, 3, 768, 24, 128),
}
STANDIN_SHA256 = {
    "dinov2_vit_random_seed0": "37ba88a35f5375c29bbe4f9ba4cb3e45ac4793f7002bf7fdcadf7b7cf76f1a19",
    "clip_vit_random_seed0": "56ea60918899c3e564d873fc67b706c22f71e1326ab3806a6b82390b9adcf080",
}
STANDIN_OF = {"dinov2_vitl14": "dinov2_vit_random_seed0", "clip_vitl14_336": "clip_vit_random_seed0"}
_CHUNK = 1 << 24


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _recorded_pin(path: Path) -> str | None:
    """The sha256 `easel weights fetch` recorded beside the file on first fetch (None: none)."""
    record = path.with_name(path.name + ".sha256")
    if not record.is_file():
        return None
    text = record.read_text(encoding="utf-8").strip().lower()
    return text if HEX64_RE.match(text) else None


def verify_file(spec: BackboneSpec, path: Path, expected: str | None) -> str:
    """The sha256 of a checkpoint once it passes its pin: ``expected`` (a test's or the recorded
    first-fetch pin), else the spec's / organizer's pin, else (DINOv2) the published size."""
    digest = file_sha256(path)
    pin = expected or pinned_sha256(spec.id)
    if pin is not None:
        if digest != pin:
            raise EaselError("E_WEIGHTS_HASH", f"{spec.id}: {path.name} has sha256 {digest}, expected the pinned "
                             f"{pin}", detail=spec.id)
        return digest
    size = path.stat().st_size
    if spec.id == "dinov2_vitl14" and size != DINOV2_BYTES:
        raise EaselError("E_WEIGHTS_HASH", f"{spec.id}: {path.name} is {size} bytes; the published file is "
                         f"{DINOV2_BYTES} bytes. If another trusted source vouches for this file, pin its sha256 "
                         f"with {DINOV2_SHA256_ENV}={digest}", detail=spec.id)
    return digest


def load_checkpoint(cfg: ViTConfig, path: Path, source: str):
    """The forward function of a reference checkpoint (every weight present, with its reference shape)."""
    return build_forward(cfg, check_weights(cfg, flat_parameters(read_torch_checkpoint(path)), source))


def load_reference(spec: BackboneSpec, request: LoadRequest) -> Backbone:
    path = request.root / spec.weights_file
    if not path.is_file():
        return load_offline_standin(
            spec, request, path, STANDIN_OF[spec.id], "a small random-init network of the same family",
            "Its scores are NOT comparable with published numbers.",
            f"Run `easel weights fetch --backbone {spec.id}` where there is a network.")
    digest = verify_file(spec, path, request.expected_sha256 or _recorded_pin(path))
    fn = load_checkpoint(LAYOUTS[spec.id], path, f"{spec.id}: {path.name}")
    return Backbone(spec, request.resize, digest, fn)


def fetch_reference(spec: BackboneSpec, downloaded: Path) -> bytes:
    """The checkpoint's bytes once its pin (or DINOv2's published size) accepts it; its sha256 is
    printed and recorded beside the cached file (the pin for every later load)."""
    digest = verify_file(spec, downloaded, None)
    check_weights(LAYOUTS[spec.id], flat_parameters(read_torch_checkpoint(downloaded)), f"{spec.id}: {downloaded.name}")
    print(f"{spec.id}: {downloaded.name} sha256 {digest}", file=sys.stderr)
    return downloaded.read_bytes()


def load_standin(spec: BackboneSpec, request: LoadRequest) -> Backbone:
    cfg = STANDIN_CONFIGS[spec.id]
    weights = seeded_vit_weights(cfg, seed=0)
    ordered = [weights[name] for name, _ in shapes(cfg)]
    digest = weights_sha256(ordered)
    check_generated(spec, digest)
    return Backbone(spec, request.resize, digest, build_forward(cfg, ordered))


DINOV2_SPEC = BackboneSpec(
    id="dinov2_vitl14", input_size=224, pool_dim=1024, offline_standin=False, load=load_reference,
    fetch=fetch_reference, sha256_env=DINOV2_SHA256_ENV, weights_file="dinov2_vitl14/dinov2_vitl14_pretrain.pth",
    url=DINOV2_URL, resize=PIL_UINT8,
    description="DINOv2 ViT-L/14 (Meta's checkpoint), normed CLS token 1024-d at 224 px: FD-DINOv2 as dgm-eval.")
CLIP_SPEC = BackboneSpec(
    id="clip_vitl14_336", input_size=336, pool_dim=768, offline_standin=False, load=load_reference,
    fetch=fetch_reference, weights_sha256=CLIP_SHA256, weights_file="clip_vitl14_336/ViT-L-14-336px.pt",
    url=CLIP_URL, resize=PIL_UINT8,
    description="OpenAI CLIP ViT-L/14@336px image embedding, 768-d: CMMD as google-research cmmd.")
STANDIN_SPECS = tuple(
    BackboneSpec(id=bid, input_size=cfg.image, pool_dim=cfg.out, offline_standin=True, load=load_standin,
                 weights_sha256=STANDIN_SHA256.get(bid), resize=PIL_UINT8,
                 description=f"OFFLINE STAND-IN for {'dinov2_vitl14' if cfg.flavour == 'dinov2' else 'clip_vitl14_336'}: "
                             f"a {cfg.depth}-block width-{cfg.width} ViT/{cfg.patch} from numpy seed 0; "
                             "not comparable with published numbers.")
    for bid, cfg in STANDIN_CONFIGS.items())

__all__ = ["CLIP_SHA256", "CLIP_SPEC", "DINOV2_BYTES", "DINOV2_SHA256_ENV", "DINOV2_SPEC", "STANDIN_SPECS",
           "file_sha256", "load_checkpoint", "verify_file"]
