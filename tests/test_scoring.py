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
