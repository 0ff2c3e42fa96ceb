"""Precision/recall/density/coverage and LPIPS, checked against their reference implementations.

The golden values in tests/fixtures/golden_prdc_lpips.npz were written ONCE by
tools/golden_prdc_lpips.py in a separate PyTorch virtualenv, from
torch-fidelity's ``calculate_precision_recall_full``, ``prdc.compute_prdc`` and
the ``lpips`` package itself (``pnet_rand=True``: its own learned linear weights
on a random AlexNet, whose weights are Easel's seeded ``random_alexnet_state_dict``
so they need not be stored). These tests never need PyTorch.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest

from evaluator.errors import EaselError
from evaluator.metrics import prdc as P
from evaluator.metrics.lpips import (LPIPS_CHANNELS, LPIPS_LIN_FILE, lpips_distance, lpips_linear_weights,
                                     read_lpips_linear_weights)

GOLDEN = np.load(Path(__file__).parent / "fixtures" / "golden_prdc_lpips.npz")


# --- PRDC ------------------------------------------------------------------------------------

def brute_prdc(real, fake, pr_k=3, dc_k=5):
    """The papers' definitions, loop by loop (closed balls)."""
    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    def radii(x, k):
        d = dist(x, x)
        return np.sort(d, axis=1)[:, k]  # column 0 is the row itself

    rr, rf = radii(real, pr_k), radii(fake, pr_k)
    d_fr = dist(fake, real)
    precision = np.mean([any(d_fr[j, i] <= rr[i] for i in range(len(real))) for j in range(len(fake))])
    recall = np.mean([any(d_fr[j, i] <= rf[j] for j in range(len(fake))) for i in range(len(real))])
    r5 = radii(real, dc_k)
    density = sum((d_fr[j] <= r5).sum() for j in range(len(fake))) / (dc_k * len(fake))
    coverage = np.mean([(d_fr[:, i] <= r5[i]).any() for i in range(len(real))])
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


def test_prdc_matches_torch_fidelity_and_prdc_package():
    got = P.precision_recall_density_coverage(GOLDEN["prdc_real"], GOLDEN["prdc_fake"])
    assert got["precision"] == pytest.approx(float(GOLDEN["prdc_precision"]), abs=1e-5)  # torch-fidelity, k=3
    assert got["recall"] == pytest.approx(float(GOLDEN["prdc_recall"]), abs=1e-5)
    assert got["density"] == pytest.approx(float(GOLDEN["prdc_density"]), abs=1e-5)  # prdc, k=5
    assert got["coverage"] == pytest.approx(float(GOLDEN["prdc_coverage"]), abs=1e-5)
    # prdc's own k=5 precision/recall (its < rule) agree with ours at k=5 on tie-free features
    p5, r5 = P.precision_recall(GOLDEN["prdc_real"], GOLDEN["prdc_fake"], k=5)
    assert (p5, r5) == pytest.approx((float(GOLDEN["prdc_prdc_precision_k5"]), float(GOLDEN["prdc_prdc_recall_k5"])))


def test_prdc_on_duplicated_rows_follows_the_closed_ball_rule():
    """Copies of real rows sit exactly on other balls' radii: torch-fidelity (≤) agrees, prdc (<) counts fewer."""
    real, fake = GOLDEN["ties_real"], GOLDEN["ties_fake"]
    got = P.precision_recall_density_coverage(real, fake)
    assert got == pytest.approx(brute_prdc(real, fake))
    assert got["precision"] == pytest.approx(float(GOLDEN["ties_precision"]), abs=1e-5)  # torch-fidelity, ≤
    assert got["recall"] == pytest.approx(float(GOLDEN["ties_recall"]), abs=1e-5)
    assert got["density"] > float(GOLDEN["ties_density"]) + 0.1  # prdc's strict < leaves the tied copies out
    assert got["coverage"] >= float(GOLDEN["ties_coverage"])


def test_closed_balls_count_an_exact_copy_inside_a_zero_radius_ball():
    # every real point has 3 exact duplicates: its k=3 radius is 0; prdc's < would call everything outside
    points = np.eye(3) * 5.0
    real = np.repeat(points, 4, axis=0)
    fake = np.concatenate([np.repeat(points[:2], 3, axis=0), [[9.0, 9.0, 9.0]] * 3])
    assert np.all(P.knn_radii(real, 3) == 0.0)
    precision, _ = P.precision_recall(real, fake, k=3)
    assert precision == pytest.approx(6 / 9)  # the six copies are inside, the three far points not
    density, coverage = P.density_coverage(real, fake[:6], k=3)
    assert coverage == pytest.approx(8 / 12)  # the two copied points' four balls each
    assert density == pytest.approx(6 * 4 / (3 * 6))


def test_prdc_equals_the_textbook_loops_and_does_not_depend_on_the_chunk_size(monkeypatch):
    rng = np.random.default_rng(3)
    real, fake = rng.standard_normal((41, 6)), rng.standard_normal((37, 6)) * 0.8
    expected = brute_prdc(real, fake)
    assert P.precision_recall_density_coverage(real, fake) == pytest.approx(expected)
    monkeypatch.setattr(P, "CHUNK_ELEMENTS", 50)  # one row per chunk
    assert P.precision_recall_density_coverage(real, fake) == pytest.approx(expected)


def test_mode_collapse_lowers_recall_and_coverage_not_precision():
    rng = np.random.default_rng(5)
    real = rng.standard_normal((200, 8))
    diverse = rng.standard_normal((200, 8))
    collapsed = np.repeat(diverse[:4], 50, axis=0) + rng.standard_normal((200, 8)) * 1e-3
    good, bad = P.precision_recall_density_coverage(real, diverse), P.precision_recall_density_coverage(real, collapsed)
    assert bad["recall"] < 0.2 < good["recall"]
    assert bad["coverage"] < 0.2 < good["coverage"]


def test_prdc_refuses_too_few_samples():
    with pytest.raises(ValueError, match="more than 3"):
        P.precision_recall(np.zeros((3, 2)), np.zeros((10, 2)))
    with pytest.raises(ValueError, match="one d"):
        P.precision_recall_density_coverage(np.zeros((10, 2)), np.zeros((10, 3)))


def test_bootstrap_of_the_identity_resample_is_the_point_estimate():
    rng = np.random.default_rng(11)
    real, fake = rng.standard_normal((40, 5)), rng.standard_normal((35, 5)) + 0.3
    boot = P.PrdcBootstrap(real, fake)
    assert boot(np.arange(35), np.arange(40)) == pytest.approx(P.precision_recall_density_coverage(real, fake))


def test_bootstrap_resample_radii_skip_drawn_duplicates():
    """A resample equals PRDC on its distinct rows, memberships counted with multiplicity."""
    rng = np.random.default_rng(12)
    real, fake = rng.standard_normal((30, 4)), rng.standard_normal((30, 4))
    rows_f, rows_r = rng.integers(0, 30, 30), rng.integers(0, 30, 30)
    got = P.PrdcBootstrap(real, fake)(rows_f, rows_r)
    ur, uf = np.unique(rows_r), np.unique(rows_f)
    rr, rf, r5 = P.knn_radii(real[ur], 3), P.knn_radii(fake[uf], 3), P.knn_radii(real[ur], 5)
    d = P.pairwise_distances(fake[rows_f], real[ur])  # every drawn fake against the distinct reals
    assert got["precision"] == pytest.approx((d <= rr).any(axis=1).mean())
    assert got["density"] == pytest.approx(
        ((d <= r5) * np.bincount(rows_r)[ur]).sum() / (5 * len(rows_f)))
    d_rf = P.pairwise_distances(real[rows_r], fake[uf])
    assert got["recall"] == pytest.approx((d_rf <= rf).any(axis=1).mean())
    cover = P.pairwise_distances(real[rows_r], fake[uf]).min(axis=1) <= P.knn_radii(real[ur], 5)[
        np.searchsorted(ur, rows_r)]
    assert got["coverage"] == pytest.approx(cover.mean())


@pytest.mark.parametrize("paired", [False, True])
def test_score_track_gives_prdc_intervals_inside_their_range(paired):
    from evaluator.scoring import TrackSample, score_track

    rng = np.random.default_rng(1)
    ref = rng.standard_normal((60, 8))
    out = ref + rng.standard_normal((60, 8)) * 0.5 if paired else rng.standard_normal((60, 8)) * 1.2
    metrics, _ = score_track(["precision", "recall", "density", "coverage", "fid"],
                             TrackSample(out, ref, paired=paired), n_resamples=60)
    expected = P.precision_recall_density_coverage(ref, out)
    for name in ("precision", "recall", "density", "coverage"):
        entry = metrics[name]
        assert entry["value"] == pytest.approx(expected[name])
        lo, hi = entry["ci95"]
        assert 0.0 <= lo <= entry["value"] <= hi
        assert hi <= (1.0 if name != "density" else 60 / 5)
        assert hi > lo or entry["value"] == 1.0  # the resamples vary (unless every one is perfect)


# --- the pickle-free checkpoint reader ------------------------------------------------------------

@pytest.mark.parametrize("container", ["zip", "legacy"])
def test_checkpoint_reader_reads_both_torch_containers(container):
    from evaluator.features.torch_checkpoint import read_torch_checkpoint

    state = read_torch_checkpoint(GOLDEN[f"checkpoint_{container}"].tobytes())
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert np.array_equal(state["w"], w) and state["w"].dtype == np.float32
    assert np.array_equal(state["row"], w[1])  # a view into w's storage
    assert state["t"].dtype == np.float64 and np.array_equal(state["t"], np.ones((2, 3)))


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_checkpoint_reader_never_runs_pickled_code(tmp_path):
    from evaluator.features.torch_checkpoint import read_torch_checkpoint

    legacy = GOLDEN["checkpoint_legacy"].tobytes()
    header = b"".join(pickle.dumps(v, protocol=2) for v in (0x1950A86A20F9469CFC6C, 1001,
                                                              {"little_endian": True}))
    for data in (pickle.dumps({"w": _Evil()}, protocol=2), header + pickle.dumps({"w": _Evil()}, protocol=2)):
        with pytest.raises(EaselError, match="refuses to load posix.system|refuses to load os.system|neither"):
            read_torch_checkpoint(data)
    with pytest.raises(EaselError, match="truncated|missing"):
        read_torch_checkpoint(legacy[:-10])


def test_lpips_linear_weights_are_read_from_the_shipped_file_and_pinned(tmp_path):
    weights = lpips_linear_weights()
    assert [len(w) for w in weights] == list(LPIPS_CHANNELS)
    assert all((w >= 0).all() and w.max() > 0.1 for w in weights)  # learned (clamped >= 0), not zeros
    changed = tmp_path / "alex.pth"
    changed.write_bytes(LPIPS_LIN_FILE.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(EaselError) as err:
        read_lpips_linear_weights(changed)
    assert err.value.code == "E_WEIGHTS_HASH"
    assert (LPIPS_LIN_FILE.parent / "LICENSE-lpips.txt").read_text().count("Copyright (c) 2018, Richard Zhang") == 1


def test_a_missing_linear_weight_fails_loudly(tmp_path):
    """lpips loads with strict=False and would keep an untrained layer; Easel refuses."""
    from evaluator.features.torch_checkpoint import read_state_dict

    with pytest.raises(EaselError, match="lin5.model.1.weight' is missing"):
        read_state_dict(LPIPS_LIN_FILE, {"lin5.model.1.weight": (1, 64, 1, 1)})
    with pytest.raises(EaselError, match="has shape"):
        read_state_dict(LPIPS_LIN_FILE, {"lin0.model.1.weight": (1, 65, 1, 1)})


# --- LPIPS against the lpips package ---------------------------------------------------------------

@pytest.fixture(scope="module")
def seeded_alexnet():
    from evaluator.features.backends.lpips_alex import alexnet_fn, alexnet_shapes, random_alexnet_state_dict
    from evaluator.features.weights import weights_sha256

    state = random_alexnet_state_dict(int(GOLDEN["lpips_alex_seed"]))
    assert weights_sha256([state[n] for n in alexnet_shapes()]) == str(GOLDEN["lpips_alex_sha256"])  # the tool's
    return alexnet_fn(state)


def _maps(fn, images):
    return [np.asarray(m) for m in fn(images.astype(np.float32))[1:]]


def test_lpips_equals_the_lpips_package_on_the_same_random_alexnet(seeded_alexnet):
    mx, my = _maps(seeded_alexnet, GOLDEN["lpips_x"]), _maps(seeded_alexnet, GOLDEN["lpips_y"])
    assert [m.shape[-1] for m in mx] == list(LPIPS_CHANNELS)
    got = lpips_distance(mx, my)
    np.testing.assert_allclose(got, GOLDEN["lpips_value"], atol=1e-5, rtol=0)
    for layer, (a, b, w) in enumerate(zip(mx, my, lpips_linear_weights())):
        np.testing.assert_allclose(lpips_distance([a], [b], [w]), GOLDEN["lpips_per_layer"][layer], atol=1e-6)
    unit = [np.ones(c) for c in LPIPS_CHANNELS]
    np.testing.assert_allclose(lpips_distance(mx, my, unit), GOLDEN["lpips_baseline_value"], atol=1e-5, rtol=0)


def test_learned_weights_change_the_value(seeded_alexnet):
    mx, my = _maps(seeded_alexnet, GOLDEN["lpips_x"]), _maps(seeded_alexnet, GOLDEN["lpips_y"])
    learned = lpips_distance(mx, my)
    unit = lpips_distance(mx, my, [np.ones(c) for c in LPIPS_CHANNELS])
    assert np.all(np.abs(learned - unit) > 0.1 * unit)
    assert np.all(lpips_distance(mx, mx) == 0.0)


def test_lpips_backbone_refuses_a_missing_alexnet_tensor_and_a_wrong_file(tmp_path):
    from evaluator.features import BACKBONES
    from evaluator.features.backends.lpips_alex import load_from_state, random_alexnet_state_dict, verify_alexnet

    state = random_alexnet_state_dict(0)
    del state["features.8.bias"]
    with pytest.raises(EaselError, match="features.8.bias"):
        load_from_state(BACKBONES["lpips_alex"], "clean", state, "x" * 64)
    with pytest.raises(EaselError) as err:
        verify_alexnet(b"not alexnet", BACKBONES["lpips_alex"].weights_sha256)
    assert err.value.code == "E_WEIGHTS_HASH"


def test_lpips_alex_falls_back_to_the_labelled_random_standin(tmp_path):
    from evaluator.features import load_backbone

    with pytest.warns(RuntimeWarning, match="OFFLINE STAND-IN alexnet_random_seed0"):
        backbone = load_backbone("lpips_alex", cache_dir=tmp_path)
    assert backbone.id == "alexnet_random_seed0" and backbone.offline_standin
    assert backbone.requested_id == "lpips_alex"
    images = np.random.default_rng(0).integers(0, 256, (2, 64, 48, 3), dtype=np.uint8)
    feats = backbone.features(images)  # at their own size: no resize
    assert feats.pool.shape == (2, 256) and [m.shape[1:3] for m in feats.maps][0] == (15, 11)
    with pytest.raises(EaselError, match="at least 31 px"):
        backbone.features(images[:, :24, :24])
    with pytest.raises(EaselError):
        load_backbone("lpips_alex", cache_dir=tmp_path, allow_offline_standin=False)


def test_weights_fetch_lpips_alex_checks_the_pin_and_writes_nothing_else(tmp_path):
    import argparse

    from evaluator.features import commands as FC

    parser = argparse.ArgumentParser()
    FC.register(parser.add_subparsers(dest="command"))
    wrong = tmp_path / "alexnet-owt-7be5be79.pth"
    wrong.write_bytes(b"not the torchvision file")
    args = parser.parse_args(["weights", "fetch", "lpips-alex", "--cache", str(tmp_path / "c"), "--archive", str(wrong)])
    with pytest.raises(EaselError) as err:
        args.func(args)
    assert err.value.code == "E_WEIGHTS_HASH" and not (tmp_path / "c").exists()
    args = parser.parse_args(["weights", "fetch", "no-such-net"])
    with pytest.raises(EaselError, match="unknown backbone"):
        args.func(args)
