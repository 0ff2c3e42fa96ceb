"""Vision transformers for FD-DINOv2 and CMMD, in TensorFlow, from the reference checkpoints' own names.

Two flavours of one ViT, each written against its reference layout:

``dinov2``: Meta's DINOv2 (``facebookresearch/dinov2``, the ``torch.hub`` model
dgm-eval loads). Patch conv with bias, a CLS token, learned position embeddings
for 37×37 patches (518 px) interpolated to the input's grid as the reference
does (bicubic, A = -0.75, ``scale_factor = (grid + 0.1) / 37``, no antialias),
pre-norm blocks (LayerNorm eps 1e-6, fused qkv, LayerScale ``ls1``/``ls2``,
exact GELU), a final norm; the feature is the normed CLS token
(``x_norm_clstoken``, 1024-d for ViT-L/14). Input: RGB in [0, 1] normalised
with the ImageNet mean/std.

``clip``: OpenAI CLIP's image tower (``visual.*`` of ``ViT-L-14-336px.pt``,
what google-research ``cmmd`` embeds with). Patch conv without bias, class
embedding, 577 position embeddings (336 px, no interpolation), ``ln_pre``,
blocks with ``in_proj``/``out_proj`` attention and QuickGELU
(x·σ(1.702x)), LayerNorm eps 1e-5, ``ln_post`` on the class token and the
projection ``proj`` (1024 → 768). Input normalised with CLIP's mean/std.

:data:`LAYOUTS` holds each reference architecture's size; :func:`shapes`
lists every weight's name and shape, which the tests check against the
published parameter counts. The offline stand-ins are the same code with a
small :class:`ViTConfig` (a full ViT-L forward takes seconds per image on a
CPU) and weights from a seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class ViTConfig:
    """flavour: "dinov2" | "clip"; image: input side (px); patch; width (token dim); depth (blocks);
    heads; mlp (hidden size of each block's MLP); pos_grid: the grid the position embeddings were
    learned on (DINOv2: 37 for 518 px); out: the feature size (CLIP: the projection's)."""

    flavour: str
    image: int
    patch: int
    width: int
    depth: int
    heads: int
    mlp: int
    pos_grid: int
    out: int

    @property
    def grid(self) -> int:
        return self.image // self.patch


LAYOUTS = {
    "dinov2_vitl14": ViTConfig("dinov2", 224, 14, 1024, 24, 16, 4096, 37, 1024),
    "clip_vitl14_336": ViTConfig("clip", 336, 14, 1024, 24, 16, 4096, 24, 768),
}


def shapes(cfg: ViTConfig) -> list[tuple[str, tuple[int, ...]]]:
    """(reference name, shape) of every weight the forward pass reads, in a fixed order."""
    w, p, m = cfg.width, cfg.patch, cfg.mlp
    if cfg.flavour == "dinov2":
        out = [("cls_token", (1, 1, w)), ("pos_embed", (1, 1 + cfg.pos_grid ** 2, w)),
               ("patch_embed.proj.weight", (w, 3, p, p)), ("patch_embed.proj.bias", (w,))]
        for i in range(cfg.depth):
            b = f"blocks.{i}."
            out += [(b + "norm1.weight", (w,)), (b + "norm1.bias", (w,)),
                    (b + "attn.qkv.weight", (3 * w, w)), (b + "attn.qkv.bias", (3 * w,)),
                    (b + "attn.proj.weight", (w, w)), (b + "attn.proj.bias", (w,)), (b + "ls1.gamma", (w,)),
                    (b + "norm2.weight", (w,)), (b + "norm2.bias", (w,)),
                    (b + "mlp.fc1.weight", (m, w)), (b + "mlp.fc1.bias", (m,)),
                    (b + "mlp.fc2.weight", (w, m)), (b + "mlp.fc2.bias", (w,)), (b + "ls2.gamma", (w,))]
        return out + [("norm.weight", (w,)), ("norm.bias", (w,))]
    v = "visual."
    out = [(v + "class_embedding", (w,)), (v + "positional_embedding", (1 + cfg.pos_grid ** 2, w)),
           (v + "conv1.weight", (w, 3, p, p)), (v + "ln_pre.weight", (w,)), (v + "ln_pre.bias", (w,))]
    for i in range(cfg.depth):
        b = f"{v}transformer.resblocks.{i}."
        out += [(b + "ln_1.weight", (w,)), (b + "ln_1.bias", (w,)),
                (b + "attn.in_proj_weight", (3 * w, w)), (b + "attn.in_proj_bias", (3 * w,)),
                (b + "attn.out_proj.weight", (w, w)), (b + "attn.out_proj.bias", (w,)),
                (b + "ln_2.weight", (w,)), (b + "ln_2.bias", (w,)),
                (b + "mlp.c_fc.weight", (m, w)), (b + "mlp.c_fc.bias", (m,)),
                (b + "mlp.c_proj.weight", (w, m)), (b + "mlp.c_proj.bias", (w,))]
    return out + [(v + "ln_post.weight", (w,)), (v + "ln_post.bias", (w,)), (v + "proj", (w, cfg.out))]


def seeded_vit_weights(cfg: ViTConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic float32 weights for every name of :func:`shapes`: matrices and embeddings
    N(0, 0.02²) (ViT's initialisation scale) from numpy's PCG64; norm weights and LayerScale 1,
    biases 0. Depends only on numpy, so every machine gets the same bytes."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in shapes(cfg):
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "gamma" or (leaf == "weight" and len(shape) == 1):
            out[name] = np.ones(shape, np.float32)
        elif leaf in ("bias", "in_proj_bias"):
            out[name] = np.zeros(shape, np.float32)
        else:
            out[name] = (rng.standard_normal(shape) * 0.02).astype(np.float32)
    return out


def check_weights(cfg: ViTConfig, weights: dict[str, np.ndarray], source: str) -> list[np.ndarray]:
    """The weights in :func:`shapes` order as float32, or E_BACKBONE naming the first missing or
    misshapen one (never a silent partial load: every weight the network reads must be there)."""
    from ...errors import EaselError

    ordered = []
    for name, shape in shapes(cfg):
        if name not in weights:
            raise EaselError("E_BACKBONE", f"{source}: weight {name} missing from the checkpoint", detail=name[:120])
        array = np.asarray(weights[name])
        if tuple(array.shape) != shape:
            raise EaselError("E_BACKBONE", f"{source}: weight {name} has shape {tuple(array.shape)}, "
                             f"expected {shape}", detail=name[:120])
        ordered.append(array.astype(np.float32))
    return ordered


# --- position embeddings: the reference's bicubic interpolation ------------------------

def _cubic(t: np.ndarray, a: float = -0.75) -> np.ndarray:
    t = np.abs(t)
    return np.where(t <= 1, ((a + 2) * t - (a + 3)) * t * t + 1,
                    np.where(t < 2, ((a * t - 5 * a) * t + 8 * a) * t - 4 * a, 0.0))


def _bicubic_matrix(size_in: int, size_out: int, scale: float) -> np.ndarray:
    """[size_out, size_in]: torch's bicubic (A = -0.75, align_corners False, edge-clamped taps) with
    a given scale factor: source coordinate (dst + 0.5) / scale - 0.5."""
    matrix = np.zeros((size_out, size_in))
    for dst in range(size_out):
        src = (dst + 0.5) / scale - 0.5
        base = math.floor(src)
        frac = src - base
        for k in range(-1, 3):
            matrix[dst, min(max(base + k, 0), size_in - 1)] += _cubic(np.array(k - frac))
    return matrix


def interpolate_pos_embed(pos: np.ndarray, grid_in: int, grid_out: int, offset: float = 0.1) -> np.ndarray:
    """DINOv2's position embeddings [1, 1 + g_in², d] -> [1, 1 + g_out², d] in float64, as the
    reference's ``interpolate_pos_encoding`` (scale factor (g_out + offset) / g_in, bicubic, no antialias)."""
    if grid_in == grid_out:
        return pos.astype(np.float64)
    cls, patches = pos[:, :1].astype(np.float64), pos[0, 1:].astype(np.float64)
    grid = patches.reshape(grid_in, grid_in, -1)
    rows = _bicubic_matrix(grid_in, grid_out, (grid_out + offset) / grid_in)
    resized = np.einsum("ai,ijd,bj->abd", rows, grid, rows)
    return np.concatenate([cls, resized.reshape(1, grid_out * grid_out, -1)], axis=1)


# --- the forward pass -------------------------------------------------------------------

def build_forward(cfg: ViTConfig, ordered: list[np.ndarray]):
    """A function float32 [b, S, S, 3] in 0..255 -> (features float32 [b, cfg.out],) for S = cfg.image."""
    import tensorflow as tf

    weights = dict(zip([name for name, _ in shapes(cfg)], ordered))
    dinov2 = cfg.flavour == "dinov2"
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if dinov2 else (CLIP_MEAN, CLIP_STD)
    eps = 1e-6 if dinov2 else 1e-5
    head = cfg.width // cfg.heads
    c = {name: tf.constant(value) for name, value in weights.items()}
    conv = "patch_embed.proj.weight" if dinov2 else "visual.conv1.weight"
    kernel = tf.constant(np.transpose(weights[conv], (2, 3, 1, 0)))  # OIHW -> HWIO
    if dinov2:
        pos = tf.constant(interpolate_pos_embed(weights["pos_embed"], cfg.pos_grid, cfg.grid).astype(np.float32))
        cls = c["cls_token"]
    else:
        pos = c["visual.positional_embedding"][None]
        cls = c["visual.class_embedding"][None, None]

    def norm(x, name):
        mu, var = tf.nn.moments(x, axes=[-1], keepdims=True)
        return (x - mu) * tf.math.rsqrt(var + eps) * c[name + ".weight"] + c[name + ".bias"]

    def linear(x, weight, bias):
        return tf.matmul(x, c[weight], transpose_b=True) + c[bias]

    def attention(x, prefix):
        b, t = tf.shape(x)[0], tf.shape(x)[1]
        qkv = linear(x, prefix + ("qkv.weight" if dinov2 else "in_proj_weight"),
                     prefix + ("qkv.bias" if dinov2 else "in_proj_bias"))
        qkv = tf.transpose(tf.reshape(qkv, (b, t, 3, cfg.heads, head)), (2, 0, 3, 1, 4))
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) / math.sqrt(head), axis=-1)
        mixed = tf.reshape(tf.transpose(tf.matmul(att, v), (0, 2, 1, 3)), (b, t, cfg.width))
        return linear(mixed, prefix + ("proj.weight" if dinov2 else "out_proj.weight"),
                      prefix + ("proj.bias" if dinov2 else "out_proj.bias"))

    @tf.function(input_signature=[tf.TensorSpec([None, cfg.image, cfg.image, 3], tf.float32)])
    def run(x):
        x = (x / 255.0 - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)
        x = tf.nn.conv2d(x, kernel, cfg.patch, "VALID")
        if dinov2:
            x = x + c["patch_embed.proj.bias"]
        b = tf.shape(x)[0]
        x = tf.reshape(x, (b, cfg.grid * cfg.grid, cfg.width))
        x = tf.concat([tf.tile(cls, (b, 1, 1)), x], axis=1) + pos
        if not dinov2:
            x = norm(x, "visual.ln_pre")
        for i in range(cfg.depth):
            if dinov2:
                p = f"blocks.{i}."
                x = x + c[p + "ls1.gamma"] * attention(norm(x, p + "norm1"), p + "attn.")
                hidden = tf.nn.gelu(linear(norm(x, p + "norm2"), p + "mlp.fc1.weight", p + "mlp.fc1.bias"),
                                    approximate=False)
                x = x + c[p + "ls2.gamma"] * linear(hidden, p + "mlp.fc2.weight", p + "mlp.fc2.bias")
            else:
                p = f"visual.transformer.resblocks.{i}."
                x = x + attention(norm(x, p + "ln_1"), p + "attn.")
                hidden = linear(norm(x, p + "ln_2"), p + "mlp.c_fc.weight", p + "mlp.c_fc.bias")
                hidden = hidden * tf.sigmoid(1.702 * hidden)
                x = x + linear(hidden, p + "mlp.c_proj.weight", p + "mlp.c_proj.bias")
        if dinov2:
            return (norm(x, "norm")[:, 0],)
        return (tf.matmul(norm(x[:, 0], "visual.ln_post"), c["visual.proj"]),)

    return lambda images: run(tf.constant(images))
