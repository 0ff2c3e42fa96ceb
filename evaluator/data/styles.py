"""Fixed style transformations that make the dev target domains.

Each style maps uint8 [H, W, 3] and a numpy Generator to uint8 [H, W, 3].
The generator only drives texture (paper grain, hatching phase, dot
jitter, brush noise), so the same image and the same seed always give the
same bytes. They are deliberately far from the identity, so a model that
copies its input scores badly, and cheap (a few ms at 64 px) so the dev
datasets synthesize in seconds.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

StyleFn = Callable[[np.ndarray, np.random.Generator], np.ndarray]

# Ukiyo-e-like woodblock palette: paper, indigo shades, vermilion, ochre, pine.
_INK_PALETTE = np.array([
    (236, 226, 200), (196, 206, 210), (120, 150, 175), (48, 72, 110),
    (196, 78, 52), (214, 168, 80), (70, 110, 72), (30, 28, 34),
], dtype=np.float32)
_INK_DARK = np.array((24, 22, 28), dtype=np.float32)
_PAPER = np.array((242, 234, 214), dtype=np.float32)


def _luma(image: np.ndarray) -> np.ndarray:
    """float32 [H, W] Rec. 601 luminance in [0, 255]."""
    img = image.astype(np.float32)
    return img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114


def _finish(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _edges(gray: np.ndarray) -> np.ndarray:
    """float32 [H, W] Sobel gradient magnitude."""
    return np.hypot(ndimage.sobel(gray, axis=0), ndimage.sobel(gray, axis=1))


def ink(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Woodblock ink: flat colours from a fixed palette plus dark edge outlines."""
    img = image.astype(np.float32)
    smooth = ndimage.median_filter(img, size=(3, 3, 1))
    # Nearest palette colour, weighting luminance differences up so shading
    # survives as distinct flat bands.
    diff = smooth[:, :, None, :] - _INK_PALETTE[None, None, :, :]
    dist = (diff ** 2).sum(axis=-1) + 2.0 * (_luma(smooth)[..., None] - _luma(_INK_PALETTE[None])[0][None, None]) ** 2
    labels = np.argmin(dist, axis=-1)
    # Clean up single-pixel speckles so regions read as carved, flat areas.
    labels = ndimage.median_filter(labels, size=3)
    flat = _INK_PALETTE[labels]
    # Outlines follow region boundaries and strong luminance edges.
    boundary = np.zeros(labels.shape, dtype=bool)
    boundary[:-1, :] |= labels[:-1, :] != labels[1:, :]
    boundary[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    gray = _luma(smooth)
    magnitude = _edges(ndimage.gaussian_filter(gray, 1.0))
    outline = boundary | (magnitude > max(float(np.percentile(magnitude, 92)), 60.0))
    out = np.where(outline[..., None], _INK_DARK, flat)
    # Faint paper fibre: visible only on the light, flat areas.
    grain = rng.normal(0.0, 4.0, size=gray.shape).astype(np.float32)
    out = out + grain[..., None] * (out.mean(axis=-1, keepdims=True) / 255.0)
    return _finish(out)


def sketch(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pencil sketch: colour-dodge of the inverted blur, plus diagonal hatching in the shadows."""
    gray = _luma(image)
    height, width = gray.shape
    sigma = max(1.0, min(height, width) / 40.0)
    blur = ndimage.gaussian_filter(255.0 - gray, sigma)
    dodge = np.clip(gray * 255.0 / np.maximum(255.0 - blur, 1.0), 0, 255)
    # Darken the dodge (it is nearly white on flat areas) and mix in the tone.
    tone = 255.0 - 0.55 * (255.0 - gray)
    drawing = np.minimum(dodge, tone)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    period = max(3.0, min(height, width) / 16.0)
    # Hatching is ruled across the sheet (fixed to page coordinates), as a draughtsman's
    # strokes are: a paired model can learn where it falls, instead of guessing a random phase.
    hatch1 = (np.mod(xx + yy, period) < 1.0)
    hatch2 = (np.mod(xx - yy, period) < 1.0)
    darkness = 1.0 - gray / 255.0
    strokes = hatch1 * (darkness > 0.55) * 55.0 + hatch2 * (darkness > 0.72) * 50.0
    pencil = drawing - strokes
    pencil = pencil + rng.normal(0.0, 3.0, size=gray.shape)
    # Warm paper tint so the result is not pure grayscale.
    out = pencil[..., None] * np.array((1.0, 0.985, 0.95), dtype=np.float32)
    return _finish(out)


def pointillism(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pointillism: jittered dots of saturated local colour on a paper background."""
    height, width = image.shape[:2]
    up = 2  # draw at 2x, then reduce with antialiasing
    local = ndimage.uniform_filter(image.astype(np.float32), size=(3, 3, 1))
    mean = local.mean(axis=-1, keepdims=True)
    vivid = np.clip(mean + 1.6 * (local - mean), 0, 255)
    paper = _PAPER + rng.normal(0.0, 3.0, size=(height * up, width * up, 1)).astype(np.float32)
    canvas = Image.fromarray(_finish(paper))
    draw = ImageDraw.Draw(canvas)
    spacing = max(2.0, min(height, width) / 28.0)
    radius = spacing * 0.62 * up
    ys, xs = np.mgrid[0:height:spacing, 0:width:spacing]
    centers = np.stack([ys.ravel(), xs.ravel()], axis=1) + rng.uniform(-0.5, 0.5, (ys.size, 2)) * spacing
    centers = np.clip(centers, 0, [height - 1, width - 1])
    order = rng.permutation(len(centers))
    jitter = rng.normal(0.0, 14.0, size=(len(centers), 3))
    for index in order:
        cy, cx = centers[index]
        colour = vivid[int(cy), int(cx)] + jitter[index]
        fill = tuple(int(v) for v in np.clip(np.rint(colour), 0, 255))
        py, px = cy * up + up / 2, cx * up + up / 2
        draw.ellipse([px - radius, py - radius, px + radius, py + radius], fill=fill)
    return np.array(canvas.resize((width, height), Image.Resampling.BOX), dtype=np.uint8)


def _kuwahara(image: np.ndarray, radius: int) -> np.ndarray:
    """Kuwahara filter: each pixel takes the mean of its least-varied quadrant."""
    size = radius + 1
    img = image.astype(np.float32)
    mean = ndimage.uniform_filter(img, size=(size, size, 1), mode="reflect")
    sq = ndimage.uniform_filter(img * img, size=(size, size, 1), mode="reflect")
    var = (sq - mean * mean).sum(axis=-1)
    # The four quadrant windows are the same box filter shifted by radius/2.
    half = radius // 2 + (radius % 2)
    shifts = [(-half, -half), (-half, half), (half, -half), (half, half)]
    height, width = var.shape
    # Shift by slicing an edge-padded copy (np.roll would wrap the bottom row to the top).
    pad_mean = np.pad(mean, ((half, half), (half, half), (0, 0)), mode="edge")
    pad_var = np.pad(var, ((half, half), (half, half)), mode="edge")
    means = np.stack([pad_mean[half - dy:half - dy + height, half - dx:half - dx + width] for dy, dx in shifts])
    variances = np.stack([pad_var[half - dy:half - dy + height, half - dx:half - dx + width]
                          for dy, dx in shifts])
    best = np.argmin(variances, axis=0)
    return np.take_along_axis(means, best[None, ..., None].repeat(3, axis=-1), axis=0)[0]


def oil(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Oil paint: Kuwahara smoothing, boosted saturation, directional brush texture and impasto shading."""
    height, width = image.shape[:2]
    radius = max(2, min(height, width) // 21)
    smooth = _kuwahara(image, radius)
    mean = smooth.mean(axis=-1, keepdims=True)
    vivid = mean + 1.5 * (smooth - mean)
    vivid = 255.0 * (vivid / 255.0).clip(0, 1) ** 0.9  # slightly richer mid-tones
    # Brush strokes: noise smeared along one random direction per image.
    noise = rng.normal(0.0, 1.0, size=(height, width)).astype(np.float32)
    angle = float(rng.uniform(0, np.pi))
    long_sigma = max(1.5, min(height, width) / 16.0)
    sig = (0.6 + abs(np.sin(angle)) * long_sigma, 0.6 + abs(np.cos(angle)) * long_sigma)
    strokes = ndimage.gaussian_filter(noise, sig)
    strokes /= max(float(strokes.std()), 1e-6)
    # Impasto: emboss-like light from the top left on the paint's luminance.
    relief = ndimage.sobel(_luma(vivid), axis=0) + ndimage.sobel(_luma(vivid), axis=1)
    out = vivid + strokes[..., None] * 10.0 - relief[..., None] * 0.04
    return _finish(out)


STYLES: dict[str, StyleFn] = {
    "ink": ink,
    "sketch": sketch,
    "pointillism": pointillism,
    "oil": oil,
}


def apply_style(name: str, image: np.ndarray, seed: int | np.random.Generator) -> np.ndarray:
    """Apply style ``name`` to uint8 [H, W, 3]; ``seed`` (int or Generator) fixes the texture."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return STYLES[name](np.asarray(image, dtype=np.uint8), rng)
