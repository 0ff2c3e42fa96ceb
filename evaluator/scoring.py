"""A track's metrics with 95% bootstrap intervals, and statistical ties on a leaderboard.

Uncertainty model: the test outputs and the reference images are two
independent samples, so each bootstrap resample draws the outputs (with
every per-image value aligned to them) and the reference features
independently, with replacement, from one seeded generator. All metrics of
one track share the same resamples.

Resamples contain duplicates, which bias FID (and a naive MMD) upward, so
the interval is the percentile interval of the bootstrap distribution
shifted by its bias (bootstrap median − point estimate): the spread comes
from the bootstrap, the centre from the full-sample estimate. For KID the
resampled MMD² is the U-statistic over pairs of *distinct original* images
(duplicates never pair with themselves), so its bias is removed at the source
as well. Per-image means are unbiased and the shift is then ~0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from . import metrics as M
from .errors import EaselError

_MAX_KERNEL_SIDE = 4096  # KID bootstrap kernel matrices: at most 4096² float64 (128 MiB) per side


@dataclass
class TrackSample:
    """Everything a track's scores are computed from.

    out_feats: float32 [n, d] backbone features of the submission's outputs.
    ref_feats: float32 [m, d] features of the held-out reference (target-domain) images.
    train_feats: float32 [k, d] features of the training target-domain images (MiFID), or None.
    per_image: name -> float64 [n], one value per output, aligned with out_feats rows
      (content_distance, content_ssim, psnr, ssim, perceptual_distance).
    """

    out_feats: np.ndarray
    ref_feats: np.ndarray
    train_feats: np.ndarray | None = None
    per_image: dict[str, np.ndarray] = field(default_factory=dict)


def _resample(group, idx: np.ndarray):
    if isinstance(group, tuple):
        return tuple(np.asarray(a)[idx] for a in group)
    return np.asarray(group)[idx]


def bootstrap_ci(stat_fn: Callable, arrays: Sequence, n_resamples: int = 200, seed: int = 0,
                 point: float | None = None) -> tuple[float, float]:
    """95% percentile bootstrap interval of ``stat_fn(*arrays)``.

    arrays: independent samples, each an array [n_i, ...] or a tuple of arrays
    sharing their first axis (resampled with the same rows, e.g. outputs and
    their per-image values); each is resampled with replacement independently.
    With ``point`` (the full-sample estimate) the interval is shifted by the
    bootstrap bias, median(stats) − point (see the module docstring).
    Returns (lo, hi) as floats.
    """
    rng = np.random.default_rng(seed)
    sizes = [len(g[0]) if isinstance(g, tuple) else len(g) for g in arrays]
    stats = np.empty(n_resamples)
    for r in range(n_resamples):
        stats[r] = stat_fn(*[_resample(g, rng.integers(0, n, n)) for g, n in zip(arrays, sizes)])
    return _interval(stats, point)


def _interval(stats: np.ndarray, point: float | None) -> tuple[float, float]:
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return (float("nan"), float("nan"))
    lo, hi = np.percentile(stats, [2.5, 97.5])
    if point is not None:
        shift = float(np.median(stats)) - point
        lo, hi = lo - shift, hi - shift
    return float(lo), float(hi)


# --- fast bootstrap of the Fréchet distance --------------------------------------

class _FidBootstrap:
    """FID of row-resampled feature sets from count vectors, without touching d per resample.

    Resampling rows = weighting each original row by its count c. With X, Y
    centred on their own means and G = X Yᵀ precomputed, the weighted means,
    the traces and the cross-factor K = diag(√c1)(X − 1μ1ᵀ)(Y − 1μ2ᵀ)ᵀdiag(√c2)
    follow from G, the row norms and two [d] weighted means, so each resample costs
    O(n1·n2) plus the small eigenproblem; the result equals
    :func:`evaluator.metrics.frechet_distance` on the resampled rows.
    Used when min(n1, n2) ≤ d; otherwise the resampled rows go through
    frechet_distance (two d×d eigendecompositions each).
    """

    def __init__(self, a: np.ndarray, b: np.ndarray):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        self.a, self.b = a, b
        self.fast = min(len(a), len(b)) <= a.shape[1] and len(a) * len(b) <= 25_000_000
        if self.fast:
            ma, mb = a.mean(0), b.mean(0)
            self.x, self.y = a - ma, b - mb
            self.delta = ma - mb
            self.g = self.x @ self.y.T
            self.nx, self.ny = np.einsum("ij,ij->i", self.x, self.x), np.einsum("ij,ij->i", self.y, self.y)

    def __call__(self, ia: np.ndarray, ib: np.ndarray) -> float:
        if not self.fast:
            return M.frechet_distance(self.a[ia], self.b[ib])
        c1 = np.bincount(ia, minlength=len(self.x)).astype(np.float64)
        c2 = np.bincount(ib, minlength=len(self.y)).astype(np.float64)
        n1, n2 = c1.sum(), c2.sum()
        m1, m2 = c1 @ self.x / n1, c2 @ self.y / n2  # weighted means of the centred rows, [d]
        mean_diff = self.delta + m1 - m2
        tr1 = (c1 @ self.nx - n1 * (m1 @ m1)) / (n1 - 1)
        tr2 = (c2 @ self.ny - n2 * (m2 @ m2)) / (n2 - 1)
        s1, s2 = c1 > 0, c2 > 0  # rows never drawn add nothing to K: drop them before the eigenproblem
        c1, c2, g = c1[s1], c2[s2], self.g[np.ix_(s1, s2)]
        # (x_i − m1)·(y_j − m2) = g_ij − x_i·m2 − m1·y_j + m1·m2
        xm2 = g @ c2 / n2
        m1y = c1 @ g / n1
        cross = g - xm2[:, None] - m1y[None, :] + (c1 @ g @ c2) / (n1 * n2)
        k = np.sqrt(c1)[:, None] * cross * np.sqrt(c2)[None, :] / np.sqrt((n1 - 1) * (n2 - 1))
        value = float(mean_diff @ mean_diff + tr1 + tr2 - 2.0 * M._trace_sqrt_cross(k))
        return max(value, 0.0)


# --- KID bootstrap with distinct-pair U-statistics ----------------------------------

class _KidBootstrap:
    """Unbiased MMD² of a resample, as a weighted U-statistic over distinct original rows.

    With counts c: within-set term (cᵀKc − Σ cᵢ²Kᵢᵢ) / ((Σc)² − Σcᵢ²), cross term
    cᵀK_xy e / (Σc·Σe). Kernel matrices are computed once; sides larger than
    4096 rows use a fixed seeded subsample of 4096 for the interval only.
    """

    def __init__(self, a: np.ndarray, b: np.ndarray, seed: int):
        rng = np.random.default_rng(seed + 7919)
        self.pos_a, a = self._subsample(a, rng)
        self.pos_b, b = self._subsample(b, rng)
        self.kxx, self.kyy, self.kxy = M.polynomial_kernel(a, a), M.polynomial_kernel(b, b), M.polynomial_kernel(a, b)
        self.na, self.nb = len(a), len(b)

    @staticmethod
    def _subsample(rows: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray | None, np.ndarray]:
        """(position of each original row in the subsample or -1, the kept rows)."""
        if len(rows) <= _MAX_KERNEL_SIDE:
            return None, rows
        keep = np.sort(rng.choice(len(rows), _MAX_KERNEL_SIDE, replace=False))
        pos = np.full(len(rows), -1, np.int64)
        pos[keep] = np.arange(len(keep))
        return pos, rows[keep]

    def __call__(self, ia: np.ndarray, ib: np.ndarray) -> float:
        if self.pos_a is not None:
            ia = self.pos_a[ia]
            ia = ia[ia >= 0]
        if self.pos_b is not None:
            ib = self.pos_b[ib]
            ib = ib[ib >= 0]
        c1 = np.bincount(ia, minlength=self.na).astype(np.float64)
        c2 = np.bincount(ib, minlength=self.nb).astype(np.float64)

        def within(c, k):
            denom = c.sum() ** 2 - (c * c).sum()
            return (c @ k @ c - (c * c) @ np.diag(k)) / denom if denom > 0 else np.nan

        return float(within(c1, self.kxx) + within(c2, self.kyy) - 2.0 * (c1 @ self.kxy @ c2) / (c1.sum() * c2.sum()))


# --- a track's metrics ---------------------------------------------------------------

def _one_resample(r, rng, n, m, needs, stats, per_image, fid_boot, kid_boot, mem_each, eps) -> None:
    """Fill stats[name][r] for one draw of outputs (aligned per-image values) and references."""
    io, ir = rng.integers(0, n, n), rng.integers(0, m, m)
    if fid_boot is not None:
        stats["fid"][r] = fid_boot(io, ir)
    if kid_boot is not None:
        stats["kid"][r] = kid_boot(io, ir)
    for name in needs:
        if M.METRICS[name].per_image:
            stats[name][r] = per_image[name][io].mean()
    if "artfid" in needs:
        stats["artfid"][r] = M.artfid(stats["content_distance"][r], stats["fid"][r])
    if "mifid" in needs:
        stats["mifid"][r] = M.mifid(stats["fid"][r], float(mem_each[io].mean()), eps)[0]


def score_track(metric_names: Sequence[str], sample: TrackSample, n_resamples: int = 200, seed: int = 0,
                memorization_eps: float = 0.1, kid_subset_size: int = 1000
                ) -> tuple[dict[str, dict], dict[str, float | bool]]:
    """Point estimates and 95% bootstrap intervals for ``metric_names`` of one track.

    Returns (metrics, extra): metrics[name] = {"value": float, "ci95": [lo, hi],
    "order": "asc"|"desc", "n": int (number of outputs)}; extra holds
    ``memorization_distance`` (MiFID's d, float), ``memorization_reference`` (the
    same d for the held-out reference images), ``memorization_ratio`` (d over the
    reference: ≈ 0 for copies, ≈ 1 for fresh images; MiFID's threshold ε applies
    to it) and ``memorized`` (bool) when training features were given. KID's value is the mean over 100 subsets of
    min(kid_subset_size, n, m) images (seeded); its interval is bootstrapped
    with the distinct-pair estimator (see the module docstring).
    """
    out = np.asarray(sample.out_feats, np.float64)
    ref = np.asarray(sample.ref_feats, np.float64)
    n, m = len(out), len(ref)
    unknown = [name for name in metric_names if name not in M.METRICS]
    if unknown:
        raise EaselError("E_CONFIG", f"unknown metric {unknown[0]!r}", detail=unknown[0])
    names = list(dict.fromkeys(metric_names))
    per_image = {k: np.asarray(v, np.float64) for k, v in sample.per_image.items()}
    for k, v in per_image.items():
        if v.shape != (n,):
            raise ValueError(f"per-image values {k!r} have shape {v.shape}, expected ({n},)")
    needs = set(names)
    if "artfid" in needs:
        needs |= {"fid", "content_distance"}
    if "mifid" in needs:
        needs.add("fid")
    for name in needs:
        if M.METRICS[name].per_image and name not in per_image:
            raise EaselError("E_INTERNAL", f"per-image values for {name!r} were not computed", detail=name)
    if "mifid" in needs and sample.train_feats is None:
        raise EaselError("E_CONFIG", "mifid needs training target-domain features", detail="mifid")

    point: dict[str, float] = {}
    extra: dict[str, float | bool] = {}
    mem_each = None
    if sample.train_feats is not None:
        # Calibrated by how close genuinely new images of the style (the held-out
        # references) come to the training set: a copy gives 0, a fresh image about 1,
        # whatever the backbone's feature geometry (raw distances of the random-init
        # stand-in are all tiny, so a fixed ε would flag every model).
        raw = M.memorization_distances(out, sample.train_feats)
        reference = max(M.memorization_distance(ref, sample.train_feats), 1e-12)
        mem_each = raw / reference
        extra["memorization_distance"] = float(raw.mean())
        extra["memorization_reference"] = float(reference)
        extra["memorization_ratio"] = float(mem_each.mean())
        extra["memorized"] = bool(extra["memorization_ratio"] < memorization_eps)
    if "fid" in needs:
        point["fid"] = M.frechet_distance(out, ref)
    if "kid" in needs:
        point["kid"] = M.kid(out, ref, subsets=100, subset_size=kid_subset_size, seed=seed)[0]
    for name in needs:
        if M.METRICS[name].per_image:
            point[name] = float(per_image[name].mean())
    if "artfid" in needs:
        point["artfid"] = M.artfid(point["content_distance"], point["fid"])
    if "mifid" in needs:
        point["mifid"] = M.mifid(point["fid"], extra["memorization_ratio"], memorization_eps)[0]

    # One set of resamples for every metric: outputs and references independently.
    rng = np.random.default_rng(seed)
    fid_boot = _FidBootstrap(out, ref) if "fid" in needs else None
    kid_boot = _KidBootstrap(out, ref, seed) if "kid" in needs else None
    stats = {name: np.empty(n_resamples) for name in needs}
    from threadpoolctl import threadpool_limits
    from tqdm import tqdm

    # Each resample is a few small BLAS/LAPACK calls: threads cost more than they give (6x slower measured on a busy 2-core CPU).
    with threadpool_limits(limits=1 if max(n, m) <= 2048 else None, user_api="blas"):
        for r in tqdm(range(n_resamples), desc="bootstrap", unit="resample", leave=False,
                      disable=n_resamples < 50 or n < 500):
            _one_resample(r, rng, n, m, needs, stats, per_image, fid_boot, kid_boot, mem_each, memorization_eps)

    result = {}
    for name in names:
        lo, hi = _interval(stats[name], point[name])
        result[name] = {"value": float(point[name]), "ci95": [lo, hi], "order": M.METRICS[name].order, "n": int(n)}
    return result, extra


def mark_ties(entries: list[dict], order: str) -> list[bool]:
    """Which entries are statistically tied with the leader, by 95% interval overlap.

    entries: metric entries {"value": float, "ci95": [lo, hi] | None}; order:
    "asc" (lower is better) or "desc". The leader is the best value; an entry
    is tied when its interval overlaps the leader's (lo_i ≤ hi_L and
    lo_L ≤ hi_i); an entry without an interval counts as the point [v, v].
    Overlap is the conservative choice (it calls more ties than a paired test
    of the difference would), and needs nothing beyond the published intervals,
    so anyone can check it from leaderboard.yaml. The leader itself is True.
    Returns list[bool] aligned with entries (empty in, empty out).
    """
    if order not in ("asc", "desc"):
        raise ValueError(f"order must be 'asc' or 'desc', got {order!r}")
    if not entries:
        return []
    values = [float(e["value"]) for e in entries]
    lead = int(np.argmin(values) if order == "asc" else np.argmax(values))

    def bounds(e: dict) -> tuple[float, float]:
        ci = e.get("ci95")
        return (float(ci[0]), float(ci[1])) if ci else (float(e["value"]), float(e["value"]))

    lead_lo, lead_hi = bounds(entries[lead])
    ties = []
    for i, e in enumerate(entries):
        lo, hi = bounds(e)
        ties.append(i == lead or (lo <= lead_hi and lead_lo <= hi))
    return ties
