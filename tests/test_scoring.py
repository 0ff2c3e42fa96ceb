"""Bootstrap intervals, the fast FID/KID bootstraps against direct recomputation, ties."""

import numpy as np
import pytest

from evaluator import metrics as M
from evaluator import scoring as S
from evaluator.errors import EaselError


def test_bootstrap_ci_of_mean_contains_point_and_shrinks():
    rng = np.random.default_rng(0)
    widths = []
    for n in (30, 300, 3000):
        x = rng.normal(5.0, 2.0, n)
        lo, hi = S.bootstrap_ci(lambda v: v.mean(), [x], n_resamples=300, seed=1)
        assert lo <= x.mean() <= hi
        # the textbook normal interval of a mean, computed independently
        half = 1.96 * x.std(ddof=1) / np.sqrt(n)
        assert (hi - lo) == pytest.approx(2 * half, rel=0.25)
        widths.append(hi - lo)
    assert widths[0] > 2 * widths[1] > 4 * widths[2]  # ~sqrt(10) per step


def test_bootstrap_aligned_groups_share_rows():
    x = np.arange(20.0)
    seen = []

    def stat(pair, other):
        a, b = pair
        assert np.array_equal(a, b * 2)  # aligned arrays get the same rows
        seen.append(len(other))
        return a.mean()

    S.bootstrap_ci(stat, [(x * 2, x), np.ones(7)], n_resamples=5)
    assert seen == [7] * 5


def test_fast_fid_bootstrap_equals_direct_on_resampled_rows():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((25, 40)) + 0.2, rng.standard_normal((33, 40)) * 1.3
    boot = S._FidBootstrap(a, b)
    assert boot.fast
    for _ in range(4):
        ia, ib = rng.integers(0, 25, 25), rng.integers(0, 33, 33)
        assert boot(ia, ib) == pytest.approx(M.frechet_distance(a[ia], b[ib]), rel=1e-9)


def test_kid_bootstrap_distinct_pairs_by_loop():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((9, 4)), rng.standard_normal((8, 4)) + 0.3
    ia, ib = rng.integers(0, 9, 9), rng.integers(0, 8, 8)
    k = lambda x, y: (float(x @ y) / 4 + 1) ** 3  # noqa: E731

    def within(rows, idx):
        pairs = [(i, j) for i in idx for j in idx if i != j]  # resampled copies, never an image with itself
        return sum(k(rows[i], rows[j]) for i, j in pairs) / len(pairs)

    cross = sum(k(a[i], b[j]) for i in ia for j in ib) / (len(ia) * len(ib))
    expected = within(a, ia) + within(b, ib) - 2 * cross
    assert S._KidBootstrap(a, b, seed=0)(ia, ib) == pytest.approx(expected, rel=1e-10)


def _sample(n, m, d=32, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    out = rng.standard_normal((n, d)).astype(np.float32) + shift
    ref = rng.standard_normal((m, d)).astype(np.float32)
    train = rng.standard_normal((40, d)).astype(np.float32)
    per = {"content_distance": rng.uniform(0.1, 0.5, n), "content_ssim": rng.uniform(0.3, 0.9, n)}
    return S.TrackSample(out, ref, train, per)


def test_score_track_values_intervals_and_extra():
    sample = _sample(60, 50, shift=0.5)
    names = ["kid", "fid", "artfid", "mifid", "content_distance", "content_ssim"]
    res, extra = S.score_track(names, sample, n_resamples=100, seed=0)
    assert list(res) == names
    fid = M.frechet_distance(sample.out_feats, sample.ref_feats)
    assert res["fid"]["value"] == pytest.approx(fid, rel=1e-12)
    assert res["artfid"]["value"] == pytest.approx((1 + sample.per_image["content_distance"].mean()) * (1 + fid))
    assert res["kid"]["value"] == pytest.approx(M.kid(sample.out_feats, sample.ref_feats, 100, 1000, 0)[0])
    for name, entry in res.items():
        lo, hi = entry["ci95"]
        assert lo <= entry["value"] <= hi, name
        assert entry["n"] == 60 and entry["order"] == M.METRICS[name].order
    assert extra["memorized"] is False and extra["memorization_distance"] > 0.1
    assert res["mifid"]["value"] == pytest.approx(fid / (1 + 1e-14))


def test_memorization_is_calibrated_by_held_out_references():
    """Features crowded around one direction (as a random-init backbone gives): raw
    distances are tiny for everyone, but only copies of training images are flagged."""
    rng = np.random.default_rng(5)
    base = rng.standard_normal(32) * 50
    train = base + rng.standard_normal((40, 32))
    ref = base + rng.standard_normal((30, 32))
    fresh = base + rng.standard_normal((30, 32))
    copies = train[rng.integers(0, 40, 30)]
    results = {}
    for name, out in (("fresh", fresh), ("copies", copies)):
        per = {"content_distance": np.full(30, 0.2)}
        _, extra = S.score_track(["mifid", "fid"], S.TrackSample(out, ref, train, per), n_resamples=20)
        results[name] = extra
    assert results["fresh"]["memorization_ratio"] == pytest.approx(1.0, abs=0.3)
    assert results["fresh"]["memorized"] is False
    assert results["copies"]["memorization_ratio"] < 1e-6 and results["copies"]["memorized"] is True
    expected_ref = M.memorization_distance(ref, train)
    assert results["copies"]["memorization_reference"] == pytest.approx(expected_ref)


def test_no_memorization_alarm_or_penalty_where_distances_mean_nothing():
    # The offline stand-in's distances cannot tell a copy from a new image: copies keep their low ratio
    # in `extra` (reported), but are not flagged and MiFID is plain FID (no division by the ratio).
    rng = np.random.default_rng(5)
    train = rng.standard_normal((40, 16))
    ref = rng.standard_normal((30, 16))
    copies = train[rng.integers(0, 40, 30)]
    per = {"content_distance": np.full(30, 0.2)}
    sample = S.TrackSample(copies, ref, train, per)
    meaningful, extra_m = S.score_track(["mifid", "fid"], sample, n_resamples=20)
    plain, extra_p = S.score_track(["mifid", "fid"], sample, n_resamples=20, memorization_meaningful=False)
    assert extra_m["memorized"] is True and meaningful["mifid"]["value"] > 1e6 * meaningful["fid"]["value"]
    assert extra_p["memorized"] is False and extra_p["memorization_meaningful"] is False
    assert extra_p["memorization_ratio"] == pytest.approx(extra_m["memorization_ratio"])
    assert plain["mifid"]["value"] == plain["fid"]["value"] == pytest.approx(M.frechet_distance(copies, ref))
    assert plain["mifid"]["ci95"] == pytest.approx(plain["fid"]["ci95"])


def test_score_track_fid_interval_shrinks_with_n():
    widths = []
    for n in (40, 400):
        res, _ = S.score_track(["fid"], _sample(n, n, d=16, shift=0.3, seed=n), n_resamples=60)
        widths.append(res["fid"]["ci95"][1] - res["fid"]["ci95"][0])
    assert widths[1] < 0.5 * widths[0]


def test_score_track_refuses_missing_inputs():
    sample = _sample(10, 10)
    sample.train_feats = None
    with pytest.raises(EaselError) as exc:
        S.score_track(["mifid"], sample, n_resamples=5)
    assert exc.value.code == "E_CONFIG"
    with pytest.raises(EaselError):
        S.score_track(["psnr"], _sample(10, 10), n_resamples=5)


def test_mark_ties_by_interval_overlap():
    entries = [
        {"value": 0.10, "ci95": [0.08, 0.12]},   # leader (asc)
        {"value": 0.13, "ci95": [0.115, 0.16]},  # overlaps
        {"value": 0.20, "ci95": [0.18, 0.22]},   # clear
        {"value": 0.125, "ci95": None},          # point outside the leader's interval
    ]
    assert S.mark_ties(entries, "asc") == [True, True, False, False]
    assert S.mark_ties(entries, "desc") == [False, False, True, False]
    assert S.mark_ties([], "asc") == []


# --- paired tracks: shared indices, matched pairs left out, intervals in range ---------

def textbook_fid(a, b):
    import scipy.linalg

    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = np.real(scipy.linalg.sqrtm(s1 @ s2))
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def _paired(n, d, noise, seed=0):
    """Targets and near-perfect outputs: output i is target i plus a little noise."""
    rng = np.random.default_rng(seed)
    ref = rng.standard_normal((n, d))
    out = ref + noise * rng.standard_normal((n, d))
    return out, ref


def test_paired_interval_is_the_shared_index_percentile_interval():
    n, d, resamples, seed = 14, 4, 60, 3
    out, ref = _paired(n, d, 0.2)
    per = np.random.default_rng(1).uniform(0.5, 0.9, n)
    res, _ = S.score_track(["fid", "ssim"], S.TrackSample(out, ref, None, {"ssim": per}, paired=True),
                           n_resamples=resamples, seed=seed)
    # Written out: one draw of row indices per resample, the same rows of outputs, targets and per-image values.
    rng = np.random.default_rng(seed)
    fids, means = [], []
    for _ in range(resamples):
        rows = rng.integers(0, n, n)
        fids.append(textbook_fid(out[rows], ref[rows]))
        means.append(per[rows].mean())
    for name, stats, point in (("fid", fids, textbook_fid(out, ref)), ("ssim", means, per.mean())):
        lo, hi = np.percentile(stats, [2.5, 97.5]) - (np.median(stats) - point)
        assert res[name]["value"] == pytest.approx(point, rel=1e-9)
        assert res[name]["ci95"] == pytest.approx([max(lo, 0.0), hi], rel=1e-6, abs=1e-12), name


def _loop_kid_paired(a, b):
    """The paired U-statistic by loops: every term over i != j only."""
    k = lambda x, y: (float(x @ y) / a.shape[1] + 1) ** 3  # noqa: E731
    n = len(a)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    xx = sum(k(a[i], a[j]) for i, j in pairs) / len(pairs)
    yy = sum(k(b[i], b[j]) for i, j in pairs) / len(pairs)
    xy = sum(k(a[i], b[j]) for i, j in pairs) / len(pairs)
    return xx + yy - 2 * xy


def test_paired_kid_is_the_u_statistic_over_distinct_pairs_five_points():
    out, ref = _paired(5, 3, 0.1, seed=4)
    expected = _loop_kid_paired(out, ref)
    assert M.kid(out, ref, subsets=1, subset_size=None, paired=True)[0] == pytest.approx(expected, rel=1e-12)
    res, _ = S.score_track(["kid"], S.TrackSample(out, ref, paired=True), n_resamples=20)
    assert res["kid"]["value"] == pytest.approx(expected, rel=1e-12)
    # The matched pairs are what the unpaired cross term would add: near-perfect outputs get a
    # strongly negative unpaired value, the U-statistic stays near zero.
    assert M.kid(out, ref, subsets=1, subset_size=None)[0] < expected - 0.5
    # Subsets smaller than the set: the same rows of both sides, each subset by the loops.
    out9, ref9 = _paired(9, 3, 0.1, seed=5)
    ia, ib = M.kid_subset_indices(9, 9, 7, 5, seed=2, paired=True)
    assert np.array_equal(ia, ib)
    subset_values = [_loop_kid_paired(out9[i], ref9[i]) for i in ia]
    mean, std = M.kid(out9, ref9, subsets=7, subset_size=5, seed=2, paired=True)
    assert (mean, std) == pytest.approx((np.mean(subset_values), np.std(subset_values)), rel=1e-10)


def test_paired_kid_bootstrap_leaves_matched_originals_out_by_loop():
    out, ref = _paired(7, 3, 0.3, seed=6)
    rows = np.array([0, 0, 2, 3, 3, 3, 6])
    k = lambda x, y: (float(x @ y) / 3 + 1) ** 3  # noqa: E731
    pairs = [(p, q) for p in range(7) for q in range(7) if rows[p] != rows[q]]

    def term(x, y):
        return sum(k(x[rows[p]], y[rows[q]]) for p, q in pairs) / len(pairs)

    expected = term(out, out) + term(ref, ref) - 2 * term(out, ref)
    assert S._KidBootstrap(out, ref, seed=0, paired=True)(rows, rows) == pytest.approx(expected, rel=1e-10)


def test_near_perfect_paired_model_fid_interval_is_inside_range_and_holds_the_point():
    out, ref = _paired(100, 16, 0.05, seed=7)
    paired, _ = S.score_track(["fid", "kid"], S.TrackSample(out, ref, paired=True), n_resamples=100)
    unpaired, _ = S.score_track(["fid"], S.TrackSample(out, ref), n_resamples=100)
    fid = paired["fid"]
    assert 0.0 <= fid["ci95"][0] <= fid["value"] <= fid["ci95"][1]
    # Independent resampling breaks the pairing: its spread is many times the paired one.
    assert unpaired["fid"]["ci95"][1] - unpaired["fid"]["value"] > 10 * (fid["ci95"][1] - fid["value"])
    assert abs(paired["kid"]["value"]) < 1e-3
    assert paired["kid"]["ci95"][0] <= paired["kid"]["value"] <= paired["kid"]["ci95"][1]


def test_pix2pix_like_paired_model_fid_interval_is_inside_range():
    """Outputs that keep each target's structure but blur and shift it, as a trained pix2pix does."""
    rng = np.random.default_rng(8)
    ref = np.maximum(rng.standard_normal((60, 24)) + 0.3, 0.0)
    out = 0.85 * ref + 0.1 + 0.05 * rng.standard_normal(ref.shape)
    res, _ = S.score_track(["fid"], S.TrackSample(out, ref, paired=True), n_resamples=100)
    lo, hi = res["fid"]["ci95"]
    assert 0.0 <= lo <= res["fid"]["value"] <= hi


def test_intervals_are_clipped_to_the_metric_range_and_hold_the_point():
    stats = np.array([0.2, 0.4, 0.5, 0.6, 2.0])
    assert S._interval(stats, 0.05, low=0.0)[0] == 0.0  # FID: the bias shift would go below 0
    lo, hi = S._interval(np.array([0.990, 0.995, 0.999, 1.0, 1.0]), 1.0, low=-1.0, high=1.0)
    assert hi == 1.0 and lo <= 1.0  # SSIM never above 1
    lo, hi = S._interval(np.full(5, M.PSNR_CAP_DB), M.PSNR_CAP_DB, 0.0, M.PSNR_CAP_DB)
    assert (lo, hi) == (M.PSNR_CAP_DB, M.PSNR_CAP_DB)
    # score_track: every interval within its metric's range, the point inside
    n = 40
    rng = np.random.default_rng(9)
    per = {"psnr": np.where(rng.random(n) < 0.9, M.PSNR_CAP_DB, 30.0), "ssim": np.minimum(1.0, 0.98 + rng.random(n)),
           "perceptual_distance": rng.uniform(0, 0.01, n)}
    out, ref = _paired(n, 8, 0.01, seed=10)
    res, _ = S.score_track(list(per) + ["fid", "kid"], S.TrackSample(out, ref, None, per, paired=True),
                           n_resamples=80)
    for name, entry in res.items():
        spec = M.METRICS[name]
        lo, hi = entry["ci95"]
        assert spec.low <= lo <= entry["value"] <= hi <= spec.high, name
