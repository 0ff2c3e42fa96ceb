"""The image disturbances of the FID paper (Heusel et al. 2017, appendix), in numpy and scipy, and mode collapse.

Each disturbance maps a set of uint8 images [n, H, W, 3], a strength in
[0, 1] (0 leaves the images unchanged, 1 is the strongest level the paper
shows) and a numpy Generator to a disturbed uint8 set of the same shape.
Strengths scale with the image size, so 64 px and 256 px images get the same
disturbance relative to their size. Used by benchmarks/validity.py and
tests/test_validity.py.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import ndimage

Disturbance = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


def _finish(images: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)


def gaussian_noise(images: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """(1 - a)·x + a·N, N a per-pixel Gaussian image of the set's mean and spread, a = strength.

    The paper's form: a convex mix of the image and Gaussian noise, so a = 1
    leaves no image at all.
    """
    x = images.astype(np.float64)
    noise = rng.normal(x.mean(), x.std(), size=x.shape)
    return _finish((1.0 - strength) * x + strength * noise)


def gaussian_blur(images: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur of each channel with σ = strength · side / 16 px (σ = 4 px at 64 px)."""
    sigma = strength * images.shape[1] / 16.0
    if sigma == 0:
        return images.copy()
    return _finish(ndimage.gaussian_filter(images.astype(np.float64), sigma=(0, sigma, sigma, 0), mode="reflect"))


def black_rectangles(images: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """round(5·strength) black rectangles per image, each side 1/8 to 1/3 of the image, anywhere in it."""
    out = images.copy()
    count = int(round(5 * strength))
    n, h, w, _ = images.shape
    for i in range(n):
        for _ in range(count):
            rh, rw = (int(rng.integers(max(1, s // 8), max(2, s // 3) + 1)) for s in (h, w))
            top, left = int(rng.integers(0, h - rh + 1)), int(rng.integers(0, w - rw + 1))
            out[i, top:top + rh, left:left + rw] = 0
    return out


def swirl(images: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """skimage's swirl about the centre: a pixel at radius r turns by 5·strength·exp(-r / (R ln2 / 5)).

    R is half the image side. Written with scipy.ndimage.map_coordinates
    (bilinear, mirrored edges); the angle is 5 rad at the centre at strength 1.
    """
    if strength == 0:
        return images.copy()
    n, h, w, _ = images.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    rho = np.hypot(yy - cy, xx - cx)
    radius = min(h, w) / 2.0 * np.log(2) / 5.0
    theta = 5.0 * strength * np.exp(-rho / radius) + np.arctan2(yy - cy, xx - cx)
    src_y, src_x = cy + rho * np.sin(theta), cx + rho * np.cos(theta)
    out = np.empty_like(images)
    for i in range(n):
        for c in range(3):
            out[i, :, :, c] = _finish(ndimage.map_coordinates(images[i, :, :, c].astype(np.float64),
                                                              [src_y, src_x], order=1, mode="mirror"))
    return out


def salt_and_pepper(images: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """A fraction 0.3·strength of the pixels set to black or white (half each), the same in all channels."""
    out = images.copy()
    hit = rng.uniform(size=images.shape[:3]) < 0.3 * strength
    white = rng.uniform(size=images.shape[:3]) < 0.5
    out[hit & white] = 255
    out[hit & ~white] = 0
    return out


def mixer(others: np.ndarray) -> Disturbance:
    """Replace a fraction 0.75·strength of the images by images from ``others`` [k, H, W, 3].

    The paper's contamination of CelebA with ImageNet images; here the other
    images come from outside the target style (other dev datasets' photos).
    """
    others = np.asarray(others, np.uint8)

    def mix(images: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
        out = images.copy()
        k = int(round(0.75 * strength * len(images)))
        where = rng.choice(len(images), size=k, replace=False)
        out[where] = others[rng.choice(len(others), size=k, replace=len(others) < k)]
        return out

    return mix


def distinct_after_collapse(n: int, strength: float) -> int:
    """How many distinct images a set of n keeps under mode collapse: round(n^(1 - strength)), at least 1."""
    return max(1, int(round(n ** (1.0 - strength))))


def mode_collapse(images: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Every image replaced by one of a few of the set's own images, repeated: a collapsed generator.

    The set keeps :func:`distinct_after_collapse` distinct images (all n at
    strength 0, one at strength 1: 60 -> 22, 8, 3, 1 over five levels), drawn
    at random and repeated in turn. Each image stays sharp and in style, so a
    metric of fidelity alone cannot see it; recall and coverage must fall.
    """
    keep = distinct_after_collapse(len(images), strength)
    if keep == len(images):
        return images.copy()
    chosen = rng.choice(len(images), size=keep, replace=False)
    return images[chosen[np.arange(len(images)) % keep]].copy()


def disturbances(others: np.ndarray) -> dict[str, Disturbance]:
    """Every disturbance by name, the image mixer drawing from ``others``."""
    return {"gaussian_noise": gaussian_noise, "gaussian_blur": gaussian_blur,
            "black_rectangles": black_rectangles, "swirl": swirl, "salt_and_pepper": salt_and_pepper,
            "mixed_images": mixer(others), "mode_collapse": mode_collapse}
