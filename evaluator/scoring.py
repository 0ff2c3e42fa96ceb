"""A track's metrics with 95% bootstrap intervals, and statistical ties on a leaderboard.

Uncertainty model, per track kind. An interval describes how much *this
estimator* would vary at *this n* if the test images were drawn again from
the same source; it is not an interval for the metric's population value
(FID's population value is below every small-n estimate, see below).

* **unpaired** and **example** tracks: the test outputs and the reference
  images (held-out target-style images) are two independent samples, so each
  bootstrap resample draws the output rows (with every per-image value
  aligned to them) and the reference rows independently, with replacement.
* **paired** tracks: the reference set *is* the per-input targets, so row i
  of the outputs and row i of the references belong together. Each resample
  draws (input, output, target) rows together with one set of shared indices;
  resampling the two sides independently would break the pairing and put the
  resampled FIDs far above the point estimate. The distribution metrics'
  cross terms leave matched pairs out (KID's cross term is the U-statistic
  over i ≠ j, for the point estimate and in every resample).

All metrics of one track share the same resamples, drawn from one generator
seeded by competition.yaml's ``evaluation.seed``: per resample
``rng.integers(0, n, n)`` for the outputs and, on unpaired/example tracks,
then ``rng.integers(0, m, m)`` for the references.

Resamples contain duplicates, which bias FID (and a naive MMD) upward, so
the interval is the percentile interval of the bootstrap distribution
shifted by its bias (bootstrap median − point estimate): the spread comes
from the bootstrap, the centre from the full-sample estimate. For KID the
resampled MMD² is the U-statistic over pairs of *distinct original* images
(duplicates never pair with themselves), so its bias is removed at the source
as well. Per-image means are unbiased and the shift is then ~0. Finally the
interval is clipped to the values the metric can take (FID ≥ 0, SSIM ≤ 1,
PSNR ≤ its cap; KID may be negative) and always contains the point estimate.

Why small n inflates FID: the sample covariances of n images scatter around
the true ones, and that scatter only ever adds to the Fréchet distance (its
expectation exceeds the population FID by a term of order d/n), so the same
model scores a higher FID on a smaller test set. Compare FIDs only at equal n;
KID's estimator is unbiased.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from . import metrics as M
from .errors import EaselError

_FidBootstrap = M.FidBootstrap  # the fast bootstraps live with their metrics
_KidBootstrap = M.KidBootstrap


@dataclass
class FeatureSet:
    """One backbone's features of a test set: out float [n, d] (outputs), ref float [m, d] (the
    held-out references), train float [k, d] (training target-domain images, MiFID) or None."""

    out: np.ndarray
    ref: np.ndarray
    train: np.ndarray | None = None


@dataclass
class TrackSample:
    """Everything a track's scores are computed from.

    out_feats: float32 [n, d] backbone features of the submission's outputs.
    ref_feats: float32 [m, d] features of the held-out reference (target-domain) images.
    train_feats: float32 [k, d] features of the training target-domain images (MiFID), or None.
    per_image: name -> float64 [n], one value per output, aligned with out_feats rows
      (one entry per ``mean`` metric the track needs, by name).
    paired: the references are the per-input targets (m == n, row i with row i): a paired track.
    sets, backbone_of: metrics on several backbones: backbone id -> :class:`FeatureSet`
      (the same n outputs and m references in every set) and metric name -> the id
      of its set, for every metric that reads features. Without them, every
      metric reads out_feats/ref_feats/train_feats.
    """

    out_feats: np.ndarray | None
    ref_feats: np.ndarray | None
    train_feats: np.ndarray | None = None
    per_image: dict[str, np.ndarray] = field(default_factory=dict)
    paired: bool = False
    sets: dict[str, FeatureSet] | None = None
    backbone_of: dict[str, str] | None = None

    def feature_sets(self) -> tuple[dict[str, FeatureSet], dict[str, str] | None]:
        """(sets, backbone_of); backbone_of None: every metric reads the one set "default"."""
        if self.sets is not None:
            return self.sets, dict(self.backbone_of or {})
        return {"default": FeatureSet(self.out_feats, self.ref_feats, self.train_feats)}, None


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


def _interval(stats: np.ndarray, point: float | None, low: float = -np.inf,
              high: float = np.inf) -> tuple[float, float]:
    """Bias-shifted percentile interval of ``stats``, clipped to [low, high] and widened to hold ``point``.

    NaN for both ends when no resample gave a finite value.
    """
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return (float("nan"), float("nan"))
    lo, hi = np.percentile(stats, [2.5, 97.5])
    if point is not None:
        shift = float(np.median(stats)) - point
        lo, hi = lo - shift, hi - shift
    lo, hi = min(max(lo, low), high), max(min(hi, high), low)
    if point is not None:
        lo, hi = min(lo, point), max(hi, point)
    return float(lo), float(hi)


# --- a track's metrics ---------------------------------------------------------------

def _check_sample(names: list[str], specs: list, sample: TrackSample, n: int, m: int) -> dict[str, np.ndarray]:
    """The per-image values as float64 [n]; coded errors for anything a spec needs but lacks."""
    per_image = {k: np.asarray(v, np.float64) for k, v in sample.per_image.items()}
    for k, v in per_image.items():
        if v.shape != (n,):
            raise ValueError(f"per-image values {k!r} have shape {v.shape}, expected ({n},)")
    for spec in specs:
        if spec.combine == "mean" and spec.name not in per_image:
            raise EaselError("E_INTERNAL", f"per-image values for {spec.name!r} were not computed", detail=spec.name)
    if sample.paired and n != m:
        raise ValueError(f"a paired sample needs one reference per output, got {n} outputs and {m} references")
    return per_image


def _set_data(specs: list, sample: TrackSample, options) -> tuple[dict, int, int]:
    """SetData per spec name for every set statistic, and (n, m): outputs and references.

    Every backbone's set holds the same n outputs and m references (features of
    the same images), so one draw of rows resamples all of them alike.
    """
    sets, backbone_of = sample.feature_sets()
    data = {key: M.SetData(np.asarray(fs.out, np.float64), np.asarray(fs.ref, np.float64),
                           None if fs.train is None else np.asarray(fs.train, np.float64), sample.paired, options)
            for key, fs in sets.items()}
    sizes = {(len(d.out), len(d.ref)) for d in data.values()}
    if len(sizes) > 1:
        raise ValueError(f"feature sets of one track differ in size: {sorted(sizes)}")
    lengths = {len(v) for v in sample.per_image.values()}
    n, m = sizes.pop() if sizes else (lengths.pop() if lengths else 0, 0)
    by_spec = {}
    for spec in specs:
        if spec.combine != "set":
            continue
        key = "default" if backbone_of is None else backbone_of.get(spec.name)
        if key not in data:
            raise EaselError("E_INTERNAL", f"no features were extracted for {spec.name!r}", detail=spec.name)
        if "train_features" in spec.needs and data[key].train is None:
            raise EaselError("E_CONFIG", f"{spec.name} needs training target-domain features", detail=spec.name)
        by_spec[spec.name] = data[key]
    return by_spec, n, m


def score_track(metric_names: Sequence[str], sample: TrackSample, n_resamples: int = 200, seed: int = 0,
                memorization_eps: float = 0.1, kid_subset_size: int = 1000,
                memorization_meaningful: bool = True) -> tuple[dict[str, dict], dict[str, float | bool]]:
    """Point estimates and 95% bootstrap intervals for ``metric_names`` of one track.

    Returns (metrics, extra): metrics[name] = {"value": float, "ci95": [lo, hi] | None,
    "order": "asc"|"desc", "n": int (number of outputs)}; extra holds what the
    set statistics add, e.g. with training features the memorization figures
    ``memorization_distance`` (MiFID's d, float), ``memorization_reference`` (the
    same d for the held-out reference images), ``memorization_ratio`` (d over the
    reference: ≈ 0 for copies, ≈ 1 for fresh images; MiFID's threshold ε applies
    to it), ``memorization_meaningful`` (the argument: False for a backbone whose
    distances mean nothing, the offline stand-in; then ``memorized`` is never set and
    MiFID equals FID) and ``memorized`` (bool). KID's value is the mean over 100 subsets of
    min(kid_subset_size, n, m) images (seeded). Resampling follows the track's
    uncertainty model (see the module docstring; ``sample.paired``); metrics on
    different backbones (``sample.sets``) share the same resamples.
    """
    unknown = [name for name in metric_names if name not in M.METRICS]
    if unknown:
        raise EaselError("E_CONFIG", f"unknown metric {unknown[0]!r}", detail=unknown[0])
    names = list(dict.fromkeys(metric_names))
    specs = M.resolve(names)
    options = M.Options(seed=seed, kid_subset_size=kid_subset_size, memorization_eps=memorization_eps,
                        memorization_meaningful=memorization_meaningful)
    set_data, n, m = _set_data(specs, sample, options)
    per_image = _check_sample(names, specs, sample, n, m)

    point: dict[str, float] = {}
    extra: dict[str, float | bool] = {}
    statistics = {}
    for spec in specs:
        if spec.combine == "set":
            statistics[spec.name] = statistic = spec.statistic(set_data[spec.name])
            point[spec.name] = float(statistic.point)
            extra.update(statistic.extra)
        elif spec.combine == "mean":
            point[spec.name] = float(per_image[spec.name].mean())
        else:
            point[spec.name] = float(spec.derive(point, options))

    stats = _bootstrap(specs, statistics, per_image, n, m or n, sample.paired, options, n_resamples)
    result = {}
    for name in names:
        spec = M.SPECS[name]
        lo, hi = _interval(stats[name], point[name], spec.low, spec.high)
        ci = [lo, hi] if np.isfinite(lo) and np.isfinite(hi) else None
        result[name] = {"value": point[name], "ci95": ci, "order": spec.order, "n": int(n)}
    return result, extra


def _bootstrap(specs: list, statistics: dict, per_image: dict[str, np.ndarray], n: int, m: int, paired: bool,
               options, n_resamples: int) -> dict[str, np.ndarray]:
    """stats[name] float64 [n_resamples]: every spec on the same resamples (the track's uncertainty model)."""
    from threadpoolctl import threadpool_limits
    from tqdm import tqdm

    rng = np.random.default_rng(options.seed)
    stats = {spec.name: np.empty(n_resamples) for spec in specs}
    # Each resample is a few small BLAS/LAPACK calls: threads cost more than they give (6x slower measured on a busy 2-core CPU).
    with threadpool_limits(limits=1 if max(n, m) <= 2048 else None, user_api="blas"):
        for r in tqdm(range(n_resamples), desc="bootstrap", unit="resample", leave=False,
                      disable=n_resamples < 50 or n < 500):
            rows_out = rng.integers(0, n, n)
            rows_ref = rows_out if paired else rng.integers(0, m, m)
            values: dict[str, float] = {}
            for spec in specs:
                if spec.combine == "set":
                    values[spec.name] = statistics[spec.name].resample(rows_out, rows_ref)
                elif spec.combine == "mean":
                    values[spec.name] = per_image[spec.name][rows_out].mean()
                else:
                    values[spec.name] = spec.derive(values, options)
                stats[spec.name][r] = values[spec.name]
    return stats


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
