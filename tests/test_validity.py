"""The disturbance test of benchmarks/validity.py, small: the offline stand-in's FID and KID get worse
with each disturbance's strength, for the disturbances where that holds (see the README's table)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import disturbances as D  # noqa: E402
import validity as V  # noqa: E402

# Where the stand-in's FID and KID on photo2ink rise at every step, here (3 strengths, 20
# images) and in benchmarks/validity.py (5 strengths, 50 images). Not here, named in the README:
# Gaussian noise (pure noise with the images' mean and spread scores better than half noise: the
# random network sees colour statistics, not structure) and swirl (its strongest step is no worse).
MONOTONE_FOR_STANDIN = ("gaussian_blur", "black_rectangles", "salt_and_pepper", "mixed_images")


def _images(n=4, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_strength_zero_leaves_images_unchanged():
    x = _images()
    for name, disturb in D.disturbances(_images(seed=1)).items():
        np.testing.assert_array_equal(disturb(x, 0.0, np.random.default_rng(0)), x, err_msg=name)


def test_swirl_moves_pixels_as_the_formula_says():
    """A pixel at radius r is read from the angle θ + 5·s·exp(-r / (R ln2 / 5)), written out for one pixel."""
    size = 33
    x = np.zeros((1, size, size, 3), np.uint8)
    x[0, :, :, 0] = np.arange(size)[None, :] * 7 % 256  # distinct columns, constant rows
    x[0, :, :, 1] = np.arange(size)[:, None] * 5 % 256
    out = D.swirl(x, 0.3, np.random.default_rng(0))
    c = (size - 1) / 2
    y, xx = 16, 24  # a pixel on the centre row, 8 px right of the centre
    rho = 8.0
    theta = 5 * 0.3 * np.exp(-rho / (size / 2 * np.log(2) / 5)) + 0.0
    sy, sx = c + rho * np.sin(theta), c + rho * np.cos(theta)
    fy, fx = int(np.floor(sy)), int(np.floor(sx))
    wy, wx = sy - fy, sx - fx
    src = x[0].astype(float)
    expected = ((1 - wy) * (1 - wx) * src[fy, fx] + (1 - wy) * wx * src[fy, fx + 1]
                + wy * (1 - wx) * src[fy + 1, fx] + wy * wx * src[fy + 1, fx + 1])
    np.testing.assert_allclose(out[0, y, xx, :2], np.rint(expected[:2]), atol=1)
    np.testing.assert_array_equal(out[0, 16, 16], x[0, 16, 16])  # the centre stays


def test_salt_and_pepper_and_rectangles_and_mixing_amounts():
    x = np.full((20, 40, 40, 3), 128, np.uint8)
    sp = D.salt_and_pepper(x, 1.0, np.random.default_rng(0))
    changed = (sp != 128).all(axis=-1).mean()
    assert abs(changed - 0.3) < 0.01 and set(np.unique(sp)) == {0, 128, 255}
    rect = D.black_rectangles(x, 1.0, np.random.default_rng(0))
    assert 0 < (rect == 0).all(axis=-1).mean() < 0.6 and set(np.unique(rect)) == {0, 128}
    mixed = D.mixer(np.zeros((3, 40, 40, 3), np.uint8))(x, 2 / 3, np.random.default_rng(0))
    assert (mixed.reshape(20, -1).max(axis=1) == 0).sum() == 10  # 0.75 * 2/3 of 20 replaced
    ramp = np.broadcast_to(np.arange(40, dtype=np.uint8)[None, None, :, None] * 6, x.shape)
    spread = [D.gaussian_noise(ramp, s, np.random.default_rng(0)).astype(float) - ramp for s in (0.25, 0.5, 1.0)]
    assert spread[0].std() < spread[1].std() < spread[2].std()


@pytest.fixture(scope="module")
def ink_track(tmp_path_factory):
    from evaluator.data.synth import synthesize

    root = tmp_path_factory.mktemp("validity")
    # 60 test images (30 per split: the tracks' minimum test size), of which 20 are scored
    synthesize(root, size=64, count=120, datasets=["dev-ink", "dev-sketch"])
    competition = V.competition_at(64)
    track = dataclasses.replace(competition.track("photo2ink"), metrics=("fid", "kid"))
    return V.track_data(root, track, limit=20), V.other_photos(root, "dev-ink")


def test_oracle_is_the_style_of_the_inputs(ink_track):
    from evaluator.data.styles import ink

    data, _ = ink_track
    assert data.oracle.shape == data.inputs.shape == (20, 64, 64, 3)
    # the oracle is ink applied to the inputs: far from them, and recomputable
    assert np.abs(data.oracle.astype(int) - data.inputs).mean() > 20
    again = ink(data.inputs[0], np.random.default_rng(0))
    assert np.abs(again.astype(int) - data.oracle[0]).mean() < 8  # same style, other paper texture


@pytest.mark.slow
def test_standin_fid_and_kid_rise_with_each_disturbance(ink_track):
    data, others = ink_track
    (backbone,) = V.available_backbones(["inception_v3_random_seed0"])
    scorer = V.Scorer(backbone, data, resamples=10)
    sweeps = V.sweep(scorer, 3, others, names=MONOTONE_FOR_STANDIN)
    for name in MONOTONE_FOR_STANDIN:
        for metric in ("fid", "kid"):
            values = [level[metric]["value"] for level in sweeps[name]]
            assert V.monotone(values, "asc") is None, (name, metric, values)


def test_mode_collapse_keeps_fewer_distinct_images_and_lowers_recall_and_coverage(ink_track):
    data, _ = ink_track
    assert [D.distinct_after_collapse(60, s) for s in (0, 0.25, 0.5, 0.75, 1)] == [60, 22, 8, 3, 1]
    collapsed = D.mode_collapse(data.oracle, 0.75, np.random.default_rng(0))
    assert len(np.unique(collapsed.reshape(len(collapsed), -1), axis=0)) == D.distinct_after_collapse(20, 0.75)
    (backbone,) = V.available_backbones(["convnet_random_seed0"])
    track = dataclasses.replace(data.track, metrics=("fid", "recall", "coverage"))
    scorer = V.Scorer(backbone, dataclasses.replace(data, track=track), resamples=10)
    sweeps = V.sweep(scorer, 3, np.zeros((1, 64, 64, 3), np.uint8), names=["mode_collapse"])
    for metric in ("recall", "coverage"):
        values = [level[metric]["value"] for level in sweeps["mode_collapse"]]
        # falls at once and never recovers (0 is the floor: a collapsed set's k-NN balls have radius 0)
        assert values[1] < values[0] and values[2] <= values[1], (metric, values)
