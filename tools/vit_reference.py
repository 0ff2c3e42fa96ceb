"""Reference outputs for FD-DINOv2's and CMMD's backbones, from the reference models' own code (run by hand).

Runs in a PyTorch virtualenv, never Easel's (PyTorch is not an Easel dependency):
``pip install torch torchvision pillow numpy clean-fid jax flax`` there, and check out the
reference repositories, whose code this script imports and runs as it is
(nothing of theirs is copied into Easel):

* ``facebookresearch/dinov2``: the code ``torch.hub.load('facebookresearch/dinov2',
  'dinov2_vitl14')`` downloads and runs, which is how dgm-eval loads FD-DINOv2's
  backbone (``dgm_eval/models/dinov2.py``); its output there is ``model(x)``,
  the final-normed CLS token ``x_norm_clstoken``.
* ``openai/CLIP``: ``clip/model.py``, the CLIP model OpenAI's ``ViT-L-14-336px.pt``
  is; google-research ``cmmd`` embeds with scenic's Flax port of the same model
  and the same file (``encode_image``: ``ln_post`` on the class token, ``@ proj``,
  then L2-normalised; LayerNorm eps 1e-5, QuickGELU), which ``--scenic-src`` runs
  too (:func:`scenic_clip_features`).

Commands::

    git clone https://github.com/facebookresearch/dinov2 /tmp/dinov2
    git clone https://github.com/openai/CLIP /tmp/clip
    # google-research/google-research's cmmd/ folder (a sparse checkout), for CMMD's distance.py
    python tools/vit_reference.py fixtures --dinov2-src /tmp/dinov2 --clip-src /tmp/clip --cmmd-src /tmp/cmmd \
        --scenic-src /tmp/scenic     # google-research/scenic: the Flax CLIP cmmd embeds with (pip install flax)
    python tools/vit_reference.py full --dinov2-src /tmp/dinov2 --clip-src /tmp/clip --out /tmp/vitl
    python tools/vit_reference.py real --dinov2-src /tmp/dinov2 --clip-src /tmp/clip --out /tmp/real \\
        --dinov2-weights ~/.cache/easel/dinov2_vitl14/dinov2_vitl14_pretrain.pth \\
        --clip-weights ~/.cache/easel/clip_vitl14_336/ViT-L-14-336px.pt

then, in Easel's virtualenv, ``python tools/vit_parity_check.py /tmp/vitl`` (or
``/tmp/real``) loads the checkpoints through Easel's own loader and prints the
largest feature difference from the reference.

``fixtures`` writes into tests/fixtures (read by tests/test_vit_parity.py):

* ``dinov2_parity.pth``: a ``torch.save`` state dict of the hub's
  ``DinoVisionTransformer`` built as ``dinov2_vitl14`` builds it (patch 14,
  518 px so 37×37 learned positions, ``init_values`` for LayerScale,
  MLP FFN, no registers, ``interpolate_offset`` 0.1, no antialias) but 2 blocks of
  width 16, with seeded random weights everywhere (LayerNorm scales and biases
  and LayerScale gammas included, so each of them matters; see :func:`randomise`),
  mask_token included as in Meta's file.
* ``clip_parity.pt``: a TorchScript archive of ``clip.model.VisionTransformer``
  as the full model's ``visual`` (2 blocks of width 16, 2 heads, at 224 px; the
  text tower, which Easel never reads, left out), float16 where OpenAI's file is
  (``clip.model.convert_weights``), written by ``torch.jit.trace``/``torch.jit.save``.
* ``vit_parity.npz``: each model's reference features of two uint8 224×224
  images of hash noise (:func:`parity_images`; the test rebuilds them), with
  the inputs normalised by torchvision's ``ToTensor`` + ``Normalize``
  (ImageNet / CLIP mean and std). DINOv2: ``model(x)``; CLIP: ``visual(x)``,
  which ``encode_image`` is, before the L2 normalisation CMMD applies. Also
  the preprocessing goldens (see :func:`preprocessing_goldens`); the
  Fréchet-distance goldens from clean-fid (see :func:`fd_goldens`); and CMMD's
  from google-research's own ``mmd`` (see :func:`cmmd_goldens`).

``full`` does the same with the full ViT-L/14 configurations (random weights,
the hub's own ``dinov2_vitl14(pretrained=False)``; CLIP's tower as ``build_model``
makes it for ViT-L/14@336px) into ``--out`` (1.2 GB + 0.6 GB; never committed).
Measured on 2026-12-02 (torch 2.14.1 CPU, TensorFlow CPU, three hash-noise images
each, ``tools/vit_parity_check.py``; scenic's CLIP through ``real --scenic-src`` on
the same files)::

    dinov2_vitl14:   max |Easel - reference| = 3.28e-06 (features max |x| = 3.99), min cosine = 0.999999881
    clip_vitl14_336: max |Easel - reference| = 4.41e-06 (features max |x| = 3.25), min cosine = 0.999999940
    clip_vitl14_336: max |Easel - scenic (cmmd)| = 3.93e-06 (features max |x| = 3.25), min cosine = 1.000000000

``real`` takes the organizer's real checkpoints instead of random ones (same
check, meaningful weights; DINOv2 through ``load_state_dict(strict=True)`` of the
hub model, CLIP as ``clip.load(jit=False)`` builds it): run it on the runner after
``easel weights fetch``. The real weights could not be downloaded where this was
written; ``real`` was run there on the ``full`` files instead (same numbers).

On the published alternatives (read in transformers 5.24 and timm 1.0.31):
Hugging Face's ``Dinov2Model`` interpolates the position embeddings with ``size=``
(scale 37/16) where the hub code uses ``scale_factor=(16 + 0.1)/37``, and timm
resamples with ``size=`` and ``antialias=True``; run with those settings, the hub
model's features above move by 0.08 and 0.20, so neither reproduces it at 224 px
and the reference here is the hub code itself.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from functools import partial
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"

# vit.py is plain numpy at import: loaded by path, so this venv needs no Easel dependencies.
_spec = importlib.util.spec_from_file_location("vit", ROOT / "evaluator" / "features" / "backends" / "vit.py")
vit = importlib.util.module_from_spec(_spec)
sys.modules["vit"] = vit
_spec.loader.exec_module(vit)

DINO_SMALL = vit.ViTConfig("dinov2", 224, 14, 16, 2, 2, 64, 37, 16)
CLIP_SMALL = vit.ViTConfig("clip", 224, 14, 16, 2, 2, 64, 16, 8)
IMAGENET = (vit.IMAGENET_MEAN, vit.IMAGENET_STD)
CLIPNORM = (vit.CLIP_MEAN, vit.CLIP_STD)


# --- the reference models -------------------------------------------------------------

def dinov2_model(src: Path, cfg: vit.ViTConfig):
    """The hub's DinoVisionTransformer with the keyword arguments hub ``dinov2_vitl14`` passes."""
    sys.path.insert(0, str(src))
    from dinov2.hub.backbones import dinov2_vitl14
    from dinov2.layers import MemEffAttention, NestedTensorBlock
    from dinov2.models.vision_transformer import DinoVisionTransformer

    if cfg == vit.LAYOUTS["dinov2_vitl14"]:
        return dinov2_vitl14(pretrained=False).eval()
    return DinoVisionTransformer(
        img_size=cfg.pos_grid * cfg.patch, patch_size=cfg.patch, embed_dim=cfg.width, depth=cfg.depth,
        num_heads=cfg.heads, mlp_ratio=cfg.mlp / cfg.width,
        block_fn=partial(NestedTensorBlock, attn_class=MemEffAttention),
        init_values=1.0, ffn_layer="mlp", block_chunks=0, num_register_tokens=0, interpolate_antialias=False,
        interpolate_offset=0.1).eval()


def clip_module(src: Path):
    """openai/CLIP's clip/model.py, imported by path (its package __init__ needs the tokenizer's deps)."""
    spec = importlib.util.spec_from_file_location("openai_clip_model", src / "clip" / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def clip_model(src: Path, cfg: vit.ViTConfig):
    """CLIP's image tower, ``clip.model.VisionTransformer``, under the name ``visual`` as in the full model
    (``build_model`` makes ViT-L/14@336px's with heads = width / 64 = 16, as :data:`vit.LAYOUTS` has it)."""
    tower = clip_module(src).VisionTransformer(cfg.image, cfg.patch, cfg.width, cfg.depth, cfg.heads, cfg.out)
    return _ImageTower(tower).eval()


def randomise(model: torch.nn.Module, seed: int) -> None:
    """Seeded random values in every parameter: matrices N(0, 1/fan_in), LayerNorm scales 1 + N(0, 0.1²),
    biases N(0, 0.1²), LayerScale gammas U(0.5, 1.5); nothing is left at its init value (a constant 1 or 0 would
    hide a missing bias or a skipped LayerScale). The tokens entering the first block (patch projection,
    CLS and position embeddings) are kept small, std ~0.005, so the first LayerNorm sees a variance near its eps
    and a wrong eps (1e-5 for DINOv2's 1e-6, or the reverse for CLIP) moves the features well beyond the test's
    tolerance; later blocks work at O(1)."""
    gen = torch.Generator().manual_seed(seed)
    small = 0.004
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            normal = torch.randn(p.shape, generator=gen)
            if name.endswith("mask_token"):
                p.zero_()
            elif leaf == "gamma":
                p.copy_(0.5 + torch.rand(p.shape, generator=gen))
            elif any(k in name for k in ("cls_token", "pos_embed", "class_embedding", "positional_embedding")):
                p.copy_(small * normal)
            elif name.endswith(("patch_embed.proj.weight", "conv1.weight")):
                p.copy_(small * normal / p[0].numel() ** 0.5)
            elif name.endswith("patch_embed.proj.bias"):
                p.copy_(small * normal)
            elif name.endswith("visual.proj"):
                p.copy_(normal / p.shape[0] ** 0.5)
            elif p.ndim >= 2:
                p.copy_(normal / p[0].numel() ** 0.5)
            elif leaf == "weight":  # LayerNorm scale
                p.copy_(1.0 + 0.1 * normal)
            else:
                p.copy_(0.1 * normal)


def to_input(images: np.ndarray, mean_std) -> torch.Tensor:
    """uint8 [b, S, S, 3] -> NCHW float32 as torchvision's ToTensor + Normalize make it."""
    import torchvision.transforms.functional as TF

    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0  # ToTensor's division
    return TF.normalize(x, list(mean_std[0]), list(mean_std[1]))


def dinov2_reference(model, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = model(to_input(images, IMAGENET))  # head is Identity: x_norm_clstoken
        check = model.forward_features(to_input(images, IMAGENET))["x_norm_clstoken"]
    assert torch.equal(out, check)
    return out.numpy()


def clip_reference(model, images: np.ndarray) -> np.ndarray:
    """``CLIP.encode_image`` is ``self.visual(image)``: the tower's output, before CMMD's L2 normalisation."""
    with torch.no_grad():
        return model.float()(to_input(images, CLIPNORM)).numpy()


class _ImageTower(torch.nn.Module):
    """CLIP's ``visual`` under its own name; the text tower is left out (Easel reads only ``visual.*``)."""

    def __init__(self, visual):
        super().__init__()
        self.visual = visual

    def forward(self, image):
        return self.visual(image)


def load_clip_tower(clip_src: Path, path: Path, heads: int | None = None):
    """CLIP's image tower from a TorchScript checkpoint as ``clip.load(jit=False)`` builds it on a CPU
    (``build_model`` on the archive's state dict, then float32). An archive holding ``visual`` alone (what
    ``full`` writes) is built from its shapes as ``build_model`` sizes the tower: heads = width / 64 unless
    given (the small fixture has 2 heads of 8)."""
    model_py = clip_module(clip_src)
    state = torch.jit.load(str(path), map_location="cpu").state_dict()
    if "token_embedding.weight" in state:
        return _ImageTower(model_py.build_model(state).visual).float().eval()
    width, _, patch, _ = state["visual.conv1.weight"].shape
    grid = round((state["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    layers = len({k.split(".")[3] for k in state if k.startswith("visual.transformer.resblocks.")})
    tower = _ImageTower(model_py.VisionTransformer(grid * patch, patch, width, layers, heads or width // 64,
                                                   state["visual.proj"].shape[1]))
    tower.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return tower.float().eval()


def save_clip(model, path: Path, image_size: int, clip_src: Path) -> None:
    """A TorchScript archive as OpenAI's file: ``clip.model.convert_weights`` (conv, linear, attention and
    projection weights in float16; LayerNorms and embeddings float32), traced, saved by torch.jit.save."""
    clip_module(clip_src).convert_weights(model)
    image = torch.zeros(1, 3, image_size, image_size, dtype=torch.float16)
    torch.jit.save(torch.jit.trace(model, (image,), check_trace=False), str(path))
    model.float()


def parity_images(n: int, size: int, salt: int = 0) -> np.ndarray:
    """uint8 [n, size, size, 3] of hash noise (every patch differs: catches position or patch order), from integer
    arithmetic alone so the test rebuilds the same bytes without storing them (tests/test_vit_parity.py has the
    same three lines)."""
    x = np.arange(n * size * size * 3, dtype=np.uint64).reshape(n, size, size, 3) + np.uint64(salt * 7919)
    x = (x * np.uint64(0x9E3779B97F4A7C15)) & np.uint64(0xFFFFFFFF)
    return ((x ^ (x >> np.uint64(15))) * np.uint64(0x2C1B3C6D) >> np.uint64(24) & np.uint64(0xFF)).astype(np.uint8)


# --- preprocessing: dgm-eval's DINOv2 transform and cmmd's CLIP input ------------------

def smooth_image(h: int, w: int, seed: int) -> np.ndarray:
    """A photo-like uint8 image: smooth colour waves and a sharp-edged disc (where bicubic overshoots)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.zeros((h, w, 3))
    for c in range(3):
        a, b, f = rng.uniform(-1, 1, 3)
        img[..., c] = 128 + 120 * np.sin(9 * f * xx + 6 * a * yy + 3 * b)
    img[(xx - 0.5) ** 2 + (yy - 0.4) ** 2 < 0.05] = rng.uniform(0, 255, 3)
    img[:, : w // 7] = (0, 255, 0)  # a saturated band: the clip at 0 and 255 matters
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


PREPROCESS_SOURCES = ((53, 41), (256, 256), (231, 250))  # (h, w): odd upsample, the usual track size, odd down
SAMPLES = 8192


def _samples(size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, size, SAMPLES), rng.integers(0, size, SAMPLES),
                     rng.integers(0, 3, SAMPLES)]).astype(np.int16)


def preprocessing_goldens() -> dict[str, np.ndarray]:
    """What each reference feeds its network, before the mean/std normalisation, in 0..255:

    * ``dgm_eval``: dgm-eval's DINOv2 transform as run by default (no ``--clean_resize``): torchvision
      ``Resize((224, 224), BICUBIC)`` on the PIL image, then ``ToTensor``: PIL's uint8 bicubic with antialiasing,
      rounded to uint8.
    * ``dgm_eval_clean``: its ``--clean_resize`` path (``resizer.pil_resize``: PIL bicubic on each channel as a
      float 'F' image, clipped to 0..255, not rounded).
    * ``cmmd``: cmmd's ``io_util._center_crop_and_resize`` to 336 (centre square crop, PIL bicubic on uint8) for
      the square sources. cmmd then calls ``jax.image.resize`` to the same 336 px, which samples the pixel
      centres exactly: the identity (:func:`cmmd_goldens` asserts it).

    Each is stored at the same 8192 seeded (y, x, channel) samples per output size, plus its per-channel mean
    over the whole image (float64), to keep the fixture small."""
    import torchvision.transforms as T
    from PIL import Image

    out = {"pre/where_224": _samples(224, 200), "pre/where_336": _samples(336, 201)}
    for i, (h, w) in enumerate(PREPROCESS_SOURCES):
        src = smooth_image(h, w, seed=100 + i)
        out[f"pre/{i}/source"] = src
        pil = Image.fromarray(src)
        tensor = T.Compose([T.Resize((224, 224), T.InterpolationMode.BICUBIC), T.ToTensor()])(pil)
        outputs = {"dgm_eval": np.rint(tensor.permute(1, 2, 0).numpy().astype(np.float64) * 255.0)}
        outputs["dgm_eval_clean"] = np.stack(
            [np.asarray(Image.fromarray(src[..., c].astype(np.float32), mode="F")
                        .resize((224, 224), resample=Image.BICUBIC)).clip(0, 255) for c in range(3)], axis=-1)
        if h == w:
            side = min(h, w)
            top, left = (h - side) // 2, (w - side) // 2
            crop = pil.crop((left, top, left + side, top + side))
            outputs["cmmd"] = np.asarray(crop.resize((336, 336), resample=Image.BICUBIC)).astype(np.float64)
        for name, image in outputs.items():
            where = out[f"pre/where_{image.shape[0]}"]
            out[f"pre/{i}/{name}"] = image[where[0], where[1], where[2]].astype(np.float32)
            out[f"pre/{i}/{name}_mean"] = image.reshape(-1, 3).mean(axis=0)
    return out


# --- Fréchet distance: clean-fid --------------------------------------------------------

def fd_goldens() -> dict[str, np.ndarray]:
    """Feature pairs and ``cleanfid.fid.frechet_distance`` of their (mean, ddof-1 covariance), clean-fid's own
    ``get_batch_features`` statistics: a full-rank pair (n > d) and a rank-deficient one (n < d, as FD-DINOv2 with
    1024-d features on a small test split), float32 features as backbones give them."""
    from cleanfid.fid import frechet_distance

    rng = np.random.default_rng(11)
    out = {}
    cases = {"full": (300, 240, 24), "deficient": (40, 30, 64)}
    for name, (n1, n2, d) in cases.items():
        mix = rng.standard_normal((d, d)) / np.sqrt(d)
        a = (rng.standard_normal((n1, d)) @ mix + 0.3).astype(np.float32)
        b = (rng.standard_normal((n2, d)) @ (mix + 0.2 * np.eye(d)) * 1.3).astype(np.float32)
        stats = [(np.mean(x, axis=0), np.cov(x, rowvar=False)) for x in (a.astype(np.float64), b.astype(np.float64))]
        out[f"fd/{name}/a"], out[f"fd/{name}/b"] = a, b
        out[f"fd/{name}/cleanfid"] = np.float64(frechet_distance(stats[0][0], stats[0][1], stats[1][0], stats[1][1]))
    return out


# --- CMMD's own CLIP code: scenic's Flax port ------------------------------------------

def scenic_clip_features(scenic_src: Path, clip_file: Path, cfg: vit.ViTConfig, images: np.ndarray) -> np.ndarray:
    """CLIP image embeddings (before L2 normalisation) as cmmd computes them: scenic's
    ``projects/baselines/clip`` (``model._convert_vars`` on the checkpoint's state dict, then
    ``layers.VisionTransformer``; inputs /255 and ``model.normalize_image``), in JAX float32. scenic's model.py
    imports ``tensorflow.io.gfile`` for its downloads only: a stand-in module is put in its place (never called)."""
    import types

    import jax.numpy as jnp

    if "tensorflow" not in sys.modules:
        stand_in = types.ModuleType("tensorflow")
        stand_in.io = types.SimpleNamespace(gfile=None)
        sys.modules["tensorflow"], sys.modules["tensorflow.io"] = stand_in, stand_in.io
    sys.path.insert(0, str(scenic_src))
    from scenic.projects.baselines.clip import layers, model

    state = {k: v.numpy() for k, v in torch.jit.load(str(clip_file), map_location="cpu").state_dict().items()}
    params = model._convert_vars(state, dim_head=cfg.width // cfg.heads)["params"]["visual"]
    tower = layers.VisionTransformer(patch_size=cfg.patch, features=cfg.width, num_layers=cfg.depth,
                                     num_heads=cfg.heads, out_features=cfg.out)
    out, _ = tower.apply({"params": params}, model.normalize_image(jnp.asarray(images.astype(np.float32) / 255.0)))
    return np.asarray(out)


# --- CMMD: google-research's own mmd() ------------------------------------------------

def cmmd_goldens(cmmd_src: Path) -> dict[str, np.ndarray]:
    """google-research ``cmmd/distance.py``'s ``mmd`` (JAX) on embeddings L2-normalised as cmmd's embedding model
    returns them (float32): in JAX's default float32, what cmmd computes, and with x64 enabled (float64), so the
    test can tell the formula (tight) from float32 round-off (loose). Two pairs: clearly different sets, and two
    samples of one distribution (CMMD near 0, where float32's cancellation is worst)."""
    import jax

    # cmmd's _clip_preprocess resizes the 336 px images it read to 336 px with jax.image.resize: the identity.
    images = np.random.default_rng(12).uniform(0, 1, (2, 336, 336, 3)).astype(np.float32)
    assert np.array_equal(np.asarray(jax.image.resize(images, images.shape, method="bicubic")), images)
    spec = importlib.util.spec_from_file_location("cmmd_distance", cmmd_src / "distance.py")
    distance = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(distance)
    rng = np.random.default_rng(13)
    out = {}
    base = rng.standard_normal((1, 32))
    cases = {"apart": (rng.standard_normal((40, 32)) + base, rng.standard_normal((30, 32)) * 1.5 - base),
             "close": (rng.standard_normal((40, 32)) + base, rng.standard_normal((30, 32)) + base)}
    for name, (x, y) in cases.items():
        x, y = x.astype(np.float32), y.astype(np.float32)
        out[f"cmmd/{name}/x"], out[f"cmmd/{name}/y"] = x, y
        xn = x / np.linalg.norm(x, axis=-1, keepdims=True)
        yn = y / np.linalg.norm(y, axis=-1, keepdims=True)
        out[f"cmmd/{name}/google_f32"] = np.float64(distance.mmd(xn, yn))
        jax.config.update("jax_enable_x64", True)
        out[f"cmmd/{name}/google_f64"] = np.float64(distance.mmd(xn.astype(np.float64), yn.astype(np.float64)))
        jax.config.update("jax_enable_x64", False)
    return out


# --- commands ---------------------------------------------------------------------------

def write_pair(dino_cfg, clip_cfg, dinov2_src: Path, clip_src: Path, out: Path, images_by_size,
               dino_file: str, clip_file: str, weights: tuple[Path | None, Path | None] = (None, None)) -> dict:
    arrays = {}
    dino = dinov2_model(dinov2_src, dino_cfg)
    if weights[0] is None:
        randomise(dino, seed=1)
        torch.save(dino.state_dict(), out / dino_file)
    else:
        dino.load_state_dict(torch.load(weights[0], map_location="cpu", weights_only=True), strict=True)
    arrays["dino/features"] = dinov2_reference(dino, images_by_size[dino_cfg.image])
    del dino
    if weights[1] is None:
        clip = clip_model(clip_src, clip_cfg)
        randomise(clip, seed=2)
        save_clip(clip, out / clip_file, clip_cfg.image, clip_src)
        # the values the file holds (save_clip rounded them), computed in float32 as clip.load does on a CPU
    else:
        clip = load_clip_tower(clip_src, weights[1])
    arrays["clip/features"] = clip_reference(clip, images_by_size[clip_cfg.image])
    return arrays


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("fixtures", "full", "real"))
    parser.add_argument("--dinov2-src", type=Path, required=True, help="a checkout of facebookresearch/dinov2")
    parser.add_argument("--clip-src", type=Path, required=True, help="a checkout of openai/CLIP")
    parser.add_argument("--cmmd-src", type=Path, help="fixtures: the cmmd/ folder of google-research/google-research")
    parser.add_argument("--scenic-src", type=Path, help="a checkout of google-research/scenic (CLIP as cmmd runs it)")
    parser.add_argument("--out", type=Path, help="output folder (full, real)")
    parser.add_argument("--dinov2-weights", type=Path, help="real: dinov2_vitl14_pretrain.pth")
    parser.add_argument("--clip-weights", type=Path, help="real: ViT-L-14-336px.pt")
    parser.add_argument("--images", type=int, default=3, help="full, real: images per backbone")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    if args.command == "fixtures":
        images = {224: parity_images(2, 224)}
        arrays = write_pair(DINO_SMALL, CLIP_SMALL, args.dinov2_src, args.clip_src, FIXTURES, images,
                            "dinov2_parity.pth", "clip_parity.pt")
        arrays.update(preprocessing_goldens())
        arrays.update(fd_goldens())
        if args.cmmd_src is None:
            parser.error("fixtures needs --cmmd-src (google-research's cmmd/ folder; pip install jax)")
        arrays.update(cmmd_goldens(args.cmmd_src))
        if args.scenic_src is not None:
            arrays["clip/features_scenic"] = scenic_clip_features(args.scenic_src, FIXTURES / "clip_parity.pt",
                                                                  CLIP_SMALL, images[224])
        np.savez_compressed(FIXTURES / "vit_parity.npz", **arrays)
        print(f"wrote {FIXTURES}/dinov2_parity.pth, clip_parity.pt, vit_parity.npz (torch {torch.__version__})")
        return
    if args.out is None:
        parser.error("--out is required")
    args.out.mkdir(parents=True, exist_ok=True)
    images = {224: parity_images(args.images, 224, salt=1), 336: parity_images(args.images, 336, salt=2)}
    weights = (None, None)
    if args.command == "real":
        if not (args.dinov2_weights and args.clip_weights):
            parser.error("real needs --dinov2-weights and --clip-weights")
        weights = (args.dinov2_weights, args.clip_weights)
    arrays = write_pair(vit.LAYOUTS["dinov2_vitl14"], vit.LAYOUTS["clip_vitl14_336"], args.dinov2_src,
                        args.clip_src, args.out, images, "dinov2_vitl14_pretrain.pth", "ViT-L-14-336px.pt",
                        weights)
    if args.command == "real":
        arrays["dino/weights"] = np.array(str(args.dinov2_weights.resolve()))
        arrays["clip/weights"] = np.array(str(args.clip_weights.resolve()))
    arrays.update({f"images_{size}": value for size, value in images.items()})
    if args.scenic_src is not None:
        clip_file = args.clip_weights if args.command == "real" else args.out / "ViT-L-14-336px.pt"
        arrays["clip/features_scenic"] = scenic_clip_features(args.scenic_src, clip_file,
                                                              vit.LAYOUTS["clip_vitl14_336"], images[336])
    np.savez(args.out / "reference.npz", **arrays)
    print(f"wrote {args.out}/reference.npz (torch {torch.__version__}); now, in Easel's venv: "
          f"python tools/vit_parity_check.py {args.out}")


if __name__ == "__main__":
    main()
