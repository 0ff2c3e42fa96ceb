"""Image-quality metrics: one registry, pure numpy/scipy functions, float64 statistics.

Every metric a track may list in competition.yaml is registered once in
:data:`METRICS` with its direction (``asc``: lower is better) and the track
kinds it applies to. The functions below take plain arrays (features are
float32 ``[n, d]`` from :mod:`evaluator.features`, images uint8
``[n, H, W, 3]``) and return float64 values.

Notes people ask about:

* FID is biased upward at small n (Chong & Forsyth 2020); KID's estimator is
  unbiased, so tracks with small test sets should rank by KID. Every result
  records n next to each value.
* The Fréchet distance never takes ``sqrtm`` of the non-symmetric product
  S1·S2 (the source of complex parts and "eps" hacks in older code). It uses
  one of two exact identities, whichever is cheaper (see
  :func:`frechet_distance`). Eigenvalues of positive semi-definite matrices
  below the round-off bound n·eps·λmax (including slightly negative ones)
  are set to 0; nothing else is clipped or offset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import ndimage

# --- registry -----------------------------------------------------------------

ALL_KINDS = ("unpaired", "paired", "example")
STYLE_KINDS = ("unpaired", "example")


@dataclass(frozen=True)
class MetricSpec:
    """A metric's name, direction and the track kinds it applies to.

    ``per_image``: the metric is a mean over one value per output image (its
    bootstrap resamples those values); otherwise it compares distributions.
    ``value_range``: (low, high) that a correct evaluation can produce; the
    leaderboard refuses values (and interval bounds) outside it.
    """

    name: str
    order: str  # "asc": lower is better; "desc": higher is better
    kinds: tuple[str, ...]
    description: str
    per_image: bool
    value_range: tuple[float, float] = (-math.inf, math.inf)


METRICS: dict[str, MetricSpec] = {}


def register(name: str, order: str, kinds: tuple[str, ...], description: str,
             per_image: bool = False, value_range: tuple[float, float] = (-math.inf, math.inf)) -> MetricSpec:
    """Add one metric to :data:`METRICS` (the single place metrics are declared)."""
    if name in METRICS:
        raise ValueError(f"metric {name!r} registered twice")
    if order not in ("asc", "desc") or not kinds or not set(kinds) <= set(ALL_KINDS):
        raise ValueError(f"metric {name!r}: bad order or kinds")
    spec = MetricSpec(name, order, tuple(kinds), description, per_image, tuple(value_range))
    METRICS[name] = spec
    return spec


register("fid", "asc", ALL_KINDS,
         "Fréchet Inception distance between output and reference features (biased upward at small n).",
         value_range=(0.0, 1e6))
register("kid", "asc", ALL_KINDS,
         "Kernel Inception distance: unbiased MMD² with the cubic polynomial kernel (rank by it at small n).",
         value_range=(-1e3, 1e6))  # unbiased: slightly negative when the sets are close
register("artfid", "asc", STYLE_KINDS,
         "ArtFID = (1 + content_distance) · (1 + FID) (Wright & Ommer 2022).", value_range=(1.0, 1e12))
register("mifid", "asc", STYLE_KINDS,
         "Memorization-informed FID (Kaggle MiFID): FID divided by the memorization distance when it is below ε.",
         value_range=(0.0, 1e21))  # exact copies divide FID by 1e-14
register("content_distance", "asc", STYLE_KINDS,
         "Perceptual distance between each input and its output on backbone feature maps.", per_image=True,
         value_range=(0.0, 1e6))
register("content_ssim", "desc", STYLE_KINDS,
         "SSIM between each input and its output, on luminance.", per_image=True, value_range=(-1.0, 1.0))
register("psnr", "desc", ("paired",),
         "Peak signal-to-noise ratio between output and target (dB, capped at 100).", per_image=True,
         value_range=(0.0, 100.0))
register("ssim", "desc", ("paired",),
         "SSIM between output and target, on luminance.", per_image=True, value_range=(-1.0, 1.0))
register("perceptual_distance", "asc", ("paired",),
         "Perceptual distance between output and target on backbone feature maps.", per_image=True,
         value_range=(0.0, 1e6))


# --- Fréchet distance -------------------------------------------------------------

def _psd_eigh_floor(w: np.ndarray) -> np.ndarray:
    """Set eigenvalues of a symmetric PSD matrix that round-off cannot tell from 0 to exactly 0.

    eigh's absolute error is about n·eps·λmax; below that bound an eigenvalue
    (negative or positive) is noise, and its square root (~1e-8·√λmax) would
    otherwise add up over every null direction of a rank-deficient covariance.
    """
    if w.size == 0:
        return w
    tol = max(w.max(), 0.0) * w.size * np.finfo(np.float64).eps
    return np.where(w > tol, w, 0.0)


def _sqrt_eig_sum(sym: np.ndarray) -> float:
    """Sum of square roots of a symmetric PSD matrix's eigenvalues (round-off floor: see above)."""
    sym = (sym + sym.T) * 0.5
    return float(np.sqrt(_psd_eigh_floor(np.linalg.eigvalsh(sym))).sum())


def _trace_sqrt_cross(k: np.ndarray) -> float:
    """Sum of singular values of ``k`` [n1, n2] via eigenvalues of its smaller Gram matrix.

    eigvalsh of K·Kᵀ is about twice as fast as an SVD and agrees to ~1e-15 relative.
    """
    gram = k @ k.T if k.shape[0] <= k.shape[1] else k.T @ k
    return _sqrt_eig_sum(gram)


def frechet_distance_from_stats(mu1: np.ndarray, sigma1: np.ndarray,
                                mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    mu: float [d]; sigma: float [d, d] symmetric PSD. Uses
    tr sqrt(S1 S2) = Σ sqrt(eig(S1^½ S2 S1^½)), both factors symmetric (eigh),
    in float64. Returns a float >= 0.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    w, v = np.linalg.eigh((s1 + s1.T) * 0.5)
    s1_half = (v * np.sqrt(_psd_eigh_floor(w))) @ v.T
    tr_cross = _sqrt_eig_sum(s1_half @ s2 @ s1_half)
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_cross)
    return max(value, 0.0)  # a distance: a negative value here is round-off on equal inputs


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between the Gaussians fitted to feature sets ``a`` [n1, d] and ``b`` [n2, d].

    Sample covariances (ddof=1) in float64. When the sample counts are small
    against d, tr sqrt(S1 S2) is the sum of singular values of A·Bᵀ/√((n1-1)(n2-1))
    with A, B the centered feature matrices (the non-zero eigenvalues of
    AᵀA·BᵀB are those of (ABᵀ)(ABᵀ)ᵀ), which costs O(n1·n2·d) and never forms a
    d×d matrix; otherwise the symmetric form of
    :func:`frechet_distance_from_stats`. Whichever is cheaper is used; both are exact.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise ValueError(f"need two [n>=2, d] feature arrays, got {a.shape} and {b.shape}")
    (n1, d), n2 = a.shape, len(b)
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    small, large = min(n1, n2), max(n1, n2)
    cross_cost = n1 * n2 * d + small * small * large + small ** 3
    eig_cost = (n1 + n2) * d * d + 12 * d ** 3  # two covariances, eigh x2 and products
    if cross_cost < eig_cost:
        ac = (a - mu1) / np.sqrt(n1 - 1)
        bc = (b - mu2) / np.sqrt(n2 - 1)
        diff = mu1 - mu2
        value = float(diff @ diff + np.einsum("ij,ij->", ac, ac) + np.einsum("ij,ij->", bc, bc)
                      - 2.0 * _trace_sqrt_cross(ac @ bc.T))
        return max(value, 0.0)
    return frechet_distance_from_stats(mu1, np.cov(a, rowvar=False), mu2, np.cov(b, rowvar=False))


# --- KID ---------------------------------------------------------------------------

def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x·y / d + 1)³ for x [n, d], y [m, d] -> float64 [n, m]."""
    d = x.shape[1]
    return (np.asarray(x, np.float64) @ np.asarray(y, np.float64).T / d + 1.0) ** 3


def _mmd_from_kernels(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    """Unbiased MMD² from full kernel matrices (diagonals of kxx, kyy excluded)."""
    n, m = len(kxx), len(kyy)
    xx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    yy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(xx + yy - 2.0 * kxy.mean())


def kid_subset_indices(n_a: int, n_b: int, subsets: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The subsets KID draws: int [subsets, m] into a and into b (without replacement, seeded)."""
    rng = np.random.default_rng(seed)
    ia = np.empty((subsets, m), np.int64)
    ib = np.empty((subsets, m), np.int64)
    for s in range(subsets):
        ia[s] = rng.choice(n_a, m, replace=False)
        ib[s] = rng.choice(n_b, m, replace=False)
    return ia, ib


def kid(a: np.ndarray, b: np.ndarray, subsets: int = 100, subset_size: int | None = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception distance: (mean, std) of the unbiased MMD² over random subsets.

    a [n_a, d], b [n_b, d]; kernel (x·y/d + 1)³ as clean-fid / torch-fidelity.
    ``subset_size`` is capped at min(n_a, n_b); std is over subsets (ddof 0).
    ``subsets=1, subset_size=None`` gives the full-sample unbiased estimate
    (all of a against all of b, std 0).

    Vectorized: when the full kernel matrices are no more work than the
    subsets' own, they are computed once and every subset's sums become
    indicator-vector products; otherwise each subset costs three m×m products.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n_a, n_b = len(a), len(b)
    if n_a < 2 or n_b < 2:
        raise ValueError("KID needs at least 2 samples per set")
    if subsets == 1 and subset_size is None:
        return _mmd_from_kernels(polynomial_kernel(a, a), polynomial_kernel(b, b), polynomial_kernel(a, b)), 0.0
    m = min(n_a, n_b, subset_size if subset_size is not None else n_a)
    ia, ib = kid_subset_indices(n_a, n_b, subsets, m, seed)
    full_cost = n_a * n_a + n_b * n_b + n_a * n_b
    if full_cost <= 3 * subsets * m * m and full_cost <= 60_000_000:
        kxx, kyy, kxy = polynomial_kernel(a, a), polynomial_kernel(b, b), polynomial_kernel(a, b)
        sa = np.zeros((subsets, n_a))
        sb = np.zeros((subsets, n_b))
        rows = np.arange(subsets)[:, None]
        sa[rows, ia] = 1.0
        sb[rows, ib] = 1.0
        xx = np.einsum("si,si->s", sa @ kxx, sa) - sa @ np.diag(kxx)
        yy = np.einsum("si,si->s", sb @ kyy, sb) - sb @ np.diag(kyy)
        xy = np.einsum("si,si->s", sa @ kxy, sb)
        mmd = xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2.0 * xy / (m * m)
    else:
        mmd = np.array([_mmd_from_kernels(polynomial_kernel(a[i], a[i]), polynomial_kernel(b[j], b[j]),
                                          polynomial_kernel(a[i], b[j])) for i, j in zip(ia, ib)])
    return float(mmd.mean()), float(mmd.std())


# --- per-image metrics ---------------------------------------------------------

SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03
PSNR_CAP_DB = 100.0


def luminance(images: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B: uint8 [n, H, W, 3] -> float64 [n, H, W] in 0..255."""
    x = np.asarray(images, np.float64)
    return x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114


def gaussian_window_1d(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """Normalized 1-D Gaussian taps, float64 [size]; the 2-D window is its outer product."""
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(r ** 2) / (2.0 * sigma ** 2))
    return g / g.sum()


def _check_pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape or x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"need two uint8 [n, H, W, 3] arrays of one shape, got {x.shape} and {y.shape}")
    return x, y


def ssim(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-image SSIM on luminance (Wang et al. 2004): uint8 [n, H, W, 3] x2 -> float64 [n].

    11×11 Gaussian window (σ 1.5), K1 0.01, K2 0.03, data range 255, population
    (window-weighted) moments, mean over the 'valid' region (no padding), as
    the reference MATLAB code. Images must be at least 11 px on each side.
    """
    x, y = _check_pair(x, y)
    if min(x.shape[1:3]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW} px")
    lx, ly = luminance(x), luminance(y)
    g = gaussian_window_1d()
    half = SSIM_WINDOW // 2

    def blur(img: np.ndarray) -> np.ndarray:
        out = ndimage.correlate1d(img, g, axis=1, mode="reflect")
        out = ndimage.correlate1d(out, g, axis=2, mode="reflect")
        return out[:, half:-half, half:-half]  # drop the border: padding never enters the mean

    c1, c2 = (SSIM_K1 * 255.0) ** 2, (SSIM_K2 * 255.0) ** 2
    mx, my = blur(lx), blur(ly)
    vx = blur(lx * lx) - mx * mx
    vy = blur(ly * ly) - my * my
    cxy = blur(lx * ly) - mx * my
    smap = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return smap.mean(axis=(1, 2))


def psnr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-image PSNR in dB over all pixels and channels, data range 255: uint8 [n, H, W, 3] x2 -> float64 [n].

    Identical images have infinite PSNR; values are capped at
    :data:`PSNR_CAP_DB` (100 dB, i.e. MSE below 255²·1e-10) so means and
    intervals stay finite.
    """
    x, y = _check_pair(x, y)
    mse = ((x.astype(np.float64) - y.astype(np.float64)) ** 2).mean(axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        value = 10.0 * np.log10(255.0 ** 2 / mse)
    return np.minimum(value, PSNR_CAP_DB)


def perceptual_distance(maps_x: list[np.ndarray], maps_y: list[np.ndarray]) -> np.ndarray:
    """Untrained-LPIPS distance: lists of float32 [n, h, w, c] maps (one per layer) -> float64 [n].

    Per layer: unit-normalize each position's channel vector (eps 1e-10 as
    LPIPS), squared difference summed over channels, mean over positions;
    then the mean over layers.
    """
    if len(maps_x) != len(maps_y) or not maps_x:
        raise ValueError("need the same non-empty list of feature maps for both sides")
    total = None
    for fx, fy in zip(maps_x, maps_y):
        fx, fy = np.asarray(fx, np.float64), np.asarray(fy, np.float64)
        if fx.shape != fy.shape or fx.ndim != 4:
            raise ValueError(f"feature maps differ in shape: {fx.shape} vs {fy.shape}")
        nx = fx / (np.sqrt((fx * fx).sum(axis=-1, keepdims=True)) + 1e-10)
        ny = fy / (np.sqrt((fy * fy).sum(axis=-1, keepdims=True)) + 1e-10)
        layer = ((nx - ny) ** 2).sum(axis=-1).mean(axis=(1, 2))
        total = layer if total is None else total + layer
    return total / len(maps_x)


# --- combined scores -------------------------------------------------------------

def artfid(content_distance_mean: float, fid: float) -> float:
    """ArtFID = (1 + content distance) · (1 + FID) (Wright & Ommer 2022); lower is better."""
    return float((1.0 + content_distance_mean) * (1.0 + fid))


def memorization_distances(out_feats: np.ndarray, train_feats: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Per output: min over training images of (1 − |cos|): float [n, d], float [k, d] -> float64 [n].

    Both sets are centred on the training features' mean before the cosine.
    Kaggle's MiFID uses raw features; but pooled ReLU features all share a
    large positive mean direction, so raw cosines of *unrelated* images sit near
    1 (with the offline random-init backbone every output came out "memorized",
    d ≈ 0.001). Centring removes that shared direction: exact copies still give
    0, fresh images give distances far above ε. Computed in chunks of outputs
    so memory stays O(chunk · k).
    """
    mean = np.asarray(train_feats, np.float64).mean(axis=0)

    def unit(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, np.float64) - mean
        return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)

    o, t = unit(out_feats), unit(train_feats)
    out = np.empty(len(o))
    for start in range(0, len(o), chunk):
        cos = np.abs(o[start:start + chunk] @ t.T)
        out[start:start + chunk] = 1.0 - cos.max(axis=1)
    return np.clip(out, 0.0, 1.0)


def memorization_distance(out_feats: np.ndarray, train_feats: np.ndarray) -> float:
    """MiFID's d: mean over outputs [n, d] of the minimum over training features [k, d] of (1 − |cos|)
    (on features centred at the training mean, see :func:`memorization_distances`)."""
    return float(memorization_distances(out_feats, train_feats).mean())


def mifid(fid: float, distance: float, eps: float = 0.1) -> tuple[float, bool]:
    """Kaggle MiFID: (fid / (d_thr + 1e-14), memorized) with d_thr = d if d < eps else 1."""
    memorized = bool(distance < eps)
    d_thr = distance if memorized else 1.0
    return float(fid / (d_thr + 1e-14)), memorized


# Functions a track's per-image metrics are computed with, by metric name.
PER_IMAGE_FUNCTIONS: dict[str, Callable] = {
    "content_ssim": ssim, "ssim": ssim, "psnr": psnr,
    "content_distance": perceptual_distance, "perceptual_distance": perceptual_distance,
}
