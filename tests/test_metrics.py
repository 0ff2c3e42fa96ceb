"""Metrics against independent computations (textbook formulas, loops, closed forms)."""

import math

import numpy as np
import pytest
import scipy.linalg

from evaluator import metrics as M


def textbook_fid(a, b):
    """The original TTUR / pytorch-fid formula with scipy's sqrtm of the product."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("n1,n2,d", [(40, 60, 128), (100, 100, 64), (300, 250, 64), (80, 500, 96)])
def test_fid_matches_textbook_sqrtm(n1, n2, d):
    rng = np.random.default_rng(n1 + n2 + d)
    a = rng.standard_normal((n1, d)) * rng.uniform(0.5, 2.0, d)
    b = rng.standard_normal((n2, d)) @ rng.standard_normal((d, d)) * 0.2 + 0.3
    ours, ref = M.frechet_distance(a, b), textbook_fid(a, b)
    assert abs(ours - ref) / ref < 1e-6


def test_fid_both_code_paths_agree():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((50, 32)), rng.standard_normal((70, 32)) + 0.1
    # n > d here uses the covariance path; the cross-factor identity recomputed by hand must agree
    ac, bc = (a - a.mean(0)) / math.sqrt(49), (b - b.mean(0)) / math.sqrt(69)
    sv = np.linalg.svd(ac @ bc.T, compute_uv=False).sum()
    manual = ((a.mean(0) - b.mean(0)) ** 2).sum() + (ac ** 2).sum() + (bc ** 2).sum() - 2 * sv
    assert M.frechet_distance(a, b) == pytest.approx(manual, rel=1e-9)


def test_fid_closed_form_diagonal_gaussians():
    d = 16
    mu1, mu2 = np.linspace(0, 1, d), np.linspace(1, -1, d)
    v1, v2 = np.linspace(0.5, 2.0, d), np.linspace(3.0, 0.1, d)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    got = M.frechet_distance_from_stats(mu1, np.diag(v1), mu2, np.diag(v2))
    assert got == pytest.approx(expected, rel=1e-12)
    # a rotated (non-diagonal, commuting-free) pair: FD is rotation invariant
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((d, d)))
    got_rot = M.frechet_distance_from_stats(q @ mu1, q @ np.diag(v1) @ q.T, q @ mu2, q @ np.diag(v2) @ q.T)
    assert got_rot == pytest.approx(expected, rel=1e-9)


def test_fid_identical_sets_is_zero_and_never_negative():
    a = np.random.default_rng(2).standard_normal((30, 64))
    assert M.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    assert M.frechet_distance(a, a) >= 0.0


def naive_kid(a, b, subsets, m, seed):
    """Pair-by-pair loops over the same subsets."""
    ia, ib = M.kid_subset_indices(len(a), len(b), subsets, m, seed)
    d = a.shape[1]
    k = lambda x, y: (float(np.dot(x, y)) / d + 1) ** 3  # noqa: E731
    vals = []
    for i_idx, j_idx in zip(ia, ib):
        x, y = a[i_idx], b[j_idx]
        xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
        vals.append(xx + yy - 2 * xy)
    return float(np.mean(vals)), float(np.std(vals))


@pytest.mark.parametrize("n_a,n_b,subset_size", [(12, 10, 6), (9, 9, 100), (40, 40, 8)])
def test_kid_vectorized_matches_naive_loop(n_a, n_b, subset_size):
    rng = np.random.default_rng(n_a)
    a, b = rng.standard_normal((n_a, 5)), rng.standard_normal((n_b, 5)) + 0.5
    m = min(n_a, n_b, subset_size)
    mean, std = M.kid(a, b, subsets=7, subset_size=subset_size, seed=3)
    ref_mean, ref_std = naive_kid(a, b, 7, m, 3)
    assert mean == pytest.approx(ref_mean, rel=1e-10)
    assert std == pytest.approx(ref_std, rel=1e-8, abs=1e-12)


def test_kid_full_sample_unbiased_unequal_sizes():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((7, 3)), rng.standard_normal((5, 3))
    k = lambda x, y: (float(np.dot(x, y)) / 3 + 1) ** 3  # noqa: E731
    xx = sum(k(a[i], a[j]) for i in range(7) for j in range(7) if i != j) / 42
    yy = sum(k(b[i], b[j]) for i in range(5) for j in range(5) if i != j) / 20
    xy = sum(k(a[i], b[j]) for i in range(7) for j in range(5)) / 35
    mean, std = M.kid(a, b, subsets=1, subset_size=None)
    assert mean == pytest.approx(xx + yy - 2 * xy, rel=1e-12) and std == 0.0


def test_kid_self_near_zero_shifted_positive():
    rng = np.random.default_rng(6)
    a = rng.standard_normal((400, 16))
    other = rng.standard_normal((400, 16))
    same, _ = M.kid(a, other, subsets=20, subset_size=200)
    shifted, _ = M.kid(a, other + 1.0, subsets=20, subset_size=200)
    assert abs(same) < 0.02
    assert shifted > 0.5 and shifted > 20 * abs(same)


def ssim_loop_reference(x, y):
    """Window-by-window SSIM with an explicit 11x11 Gaussian (no filtering library)."""
    r = np.arange(11) - 5
    g = np.exp(-(r ** 2) / (2 * 1.5 ** 2))
    w = np.outer(g, g)
    w /= w.sum()
    lx = x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114
    ly = y[..., 0] * 0.299 + y[..., 1] * 0.587 + y[..., 2] * 0.114
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for i in range(lx.shape[0] - 10):
        for j in range(lx.shape[1] - 10):
            px, py = lx[i:i + 11, j:j + 11], ly[i:i + 11, j:j + 11]
            mx, my = (w * px).sum(), (w * py).sum()
            vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
            cov = (w * (px - mx) * (py - my)).sum()
            vals.append((2 * mx * my + c1) * (2 * cov + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2)))
    return float(np.mean(vals))


def test_ssim_identity_and_reference_on_noisy_pair():
    rng = np.random.default_rng(7)
    x = rng.integers(0, 256, (2, 20, 24, 3), dtype=np.uint8)
    noisy = np.clip(x.astype(int) + rng.normal(0, 25, x.shape), 0, 255).astype(np.uint8)
    np.testing.assert_allclose(M.ssim(x, x), 1.0, atol=1e-12)
    got = M.ssim(x, noisy)
    for i in range(2):
        assert got[i] == pytest.approx(ssim_loop_reference(x[i].astype(float), noisy[i].astype(float)), abs=1e-10)
    assert np.all(got < 0.95)


def test_psnr_known_mse_and_cap():
    x = np.full((2, 16, 16, 3), 100, np.uint8)
    y = x.copy()
    y[0] += 10  # MSE 100 everywhere
    out = M.psnr(x, y)
    assert out[0] == pytest.approx(10 * math.log10(255 ** 2 / 100.0), rel=1e-12)
    assert out[1] == M.PSNR_CAP_DB


def test_memorization_flags_copies_not_fresh():
    rng = np.random.default_rng(9)
    train = np.abs(rng.standard_normal((50, 64)))
    copies = train[:10] * 1.0000001
    fresh = rng.standard_normal((10, 64))
    d_copy = M.memorization_distance(copies, train)
    d_fresh = M.memorization_distance(fresh, train)
    assert d_copy < 1e-6 and M.mifid(12.0, d_copy)[1] is True
    assert d_fresh > 0.1 and M.mifid(12.0, d_fresh) == (12.0 / (1 + 1e-14), False)
    value, flag = M.mifid(12.0, 0.05)
    assert flag and value == pytest.approx(12.0 / 0.05)


def test_memorization_ignores_the_shared_mean_of_relu_features():
    """Unrelated non-negative features with a big common offset (as pooled ReLU features have)
    have raw cosines near 1; they must not be flagged as copies."""
    rng = np.random.default_rng(3)
    offset = 20.0 * np.abs(rng.standard_normal(64))
    train = offset + np.abs(rng.standard_normal((50, 64)))
    fresh = offset + np.abs(rng.standard_normal((10, 64)))
    raw_cos = (fresh / np.linalg.norm(fresh, axis=1, keepdims=True)) @ (train / np.linalg.norm(train, axis=1, keepdims=True)).T
    assert 1 - np.abs(raw_cos).max(axis=1).mean() < 0.01  # the raw Kaggle form would flag them
    assert M.memorization_distance(fresh, train) > 0.1
    assert M.memorization_distance(train[:5], train) < 1e-9


def test_artfid_and_registry():
    assert M.artfid(0.5, 9.0) == pytest.approx(15.0)
    assert M.METRICS["kid"].order == "asc" and M.METRICS["ssim"].order == "desc"
    assert M.METRICS["psnr"].kinds == ("paired",)
    assert set(M.METRICS["fid"].kinds) == {"unpaired", "paired", "example"}
    assert "paired" not in M.METRICS["artfid"].kinds
    with pytest.raises(ValueError):
        M.register("fid", "asc", ("paired",), "again")
