"""The AdaIN baseline: its AdaIN against the paper's formula, its two training phases, its export."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evaluator.data.images import save_png

ROOT = Path(__file__).resolve().parents[1]
SIZE = 16


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """tiny-styles: 6 smooth content images in train/A, 6 striped 'style' images in train/B."""
    root = tmp_path_factory.mktemp("adain-data")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    for i in range(6):
        colour = rng.uniform(40, 215, 3)
        content = np.clip(colour * (0.6 + 0.4 * yy[..., None]) + rng.normal(0, 4, (SIZE, SIZE, 3)), 0, 255)
        stripes = ((xx * (3 + i)) % 1.0 < 0.5)[..., None] * rng.uniform(0, 255, 3)
        save_png(root / "tiny-styles/train/A" / f"{i:04d}.png", content.astype(np.uint8))
        save_png(root / "tiny-styles/train/B" / f"{i:04d}.png", stripes.astype(np.uint8))
    return root


def test_adain_gives_content_features_the_style_statistics():
    """AdaIN(x, y) = σ(y)(x − μ(x))/σ(x) + μ(y), per image and channel over H, W (paper eq. 8)."""
    from baselines.adain.model import EPS, adain

    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 3.0, (2, 5, 7, 4)).astype(np.float32)
    y = rng.normal(-1.0, 0.5, (2, 3, 3, 4)).astype(np.float32)
    out = np.asarray(adain(x, y))
    mu_x, mu_y = x.mean(axis=(1, 2), keepdims=True), y.mean(axis=(1, 2), keepdims=True)
    sd_x = np.sqrt(x.var(axis=(1, 2), keepdims=True) + EPS)
    sd_y = np.sqrt(y.var(axis=(1, 2), keepdims=True) + EPS)
    np.testing.assert_allclose(out, sd_y * (x - mu_x) / sd_x + mu_y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out.mean(axis=(1, 2)), y.mean(axis=(1, 2)), atol=1e-4)


def test_phase_one_trains_encoder_and_decoder_then_phase_two_only_the_decoder(data_root):
    import tensorflow as tf

    from baselines.adain.train import AdaIN, Trainer
    from baselines.common.data import StepBatcher, load_domain

    content = load_domain(data_root, "tiny-styles", "train", "A")
    style = load_domain(data_root, "tiny-styles", "train", "B")
    model = AdaIN(width=4, lr=1e-3, beta1=0.9, policy="float32", lambda_style=10.0)
    trainer = Trainer(tf.distribute.get_strategy(), model, pretrain_steps=1)
    batcher = StepBatcher((content, style), 2, 0, paired=False)

    def weights(net):
        return [np.array(w) for w in net.get_weights()]

    e0, d0 = weights(model.E), weights(model.D)
    first = trainer.step(0, batcher.batch_at(0))
    assert set(first) == {"G/rec"} and first["G/rec"] > 0
    e1, d1 = weights(model.E), weights(model.D)
    assert any(not np.array_equal(a, b) for a, b in zip(e0, e1))
    assert any(not np.array_equal(a, b) for a, b in zip(d0, d1))

    second = trainer.step(1, batcher.batch_at(1))
    assert set(second) == {"G/content", "G/style", "G/total"}
    assert all(math.isfinite(v) for v in second.values())
    assert math.isclose(second["G/total"], second["G/content"] + 10.0 * second["G/style"], rel_tol=1e-4)
    assert all(np.array_equal(a, b) for a, b in zip(e1, weights(model.E))), "phase 2 must freeze E"
    assert any(not np.array_equal(a, b) for a, b in zip(d1, weights(model.D)))


def test_trained_from_the_command_line_and_exported_as_a_valid_example_submission(data_root, tmp_path):
    from evaluator.config import load_competition
    from evaluator.models import check_model
    from evaluator.submission import validate_submission

    out = tmp_path / "run"
    model_path = out / "model.keras"
    cmd = [sys.executable, "-m", "baselines.adain.train", "--data", str(data_root), "--dataset", "tiny-styles",
           "--out", str(out), "--steps", "4", "--pretrain-steps", "2", "--ngf", "4", "--batch-size", "2",
           "--sample-every", "2", "--export", str(model_path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "step 4/4" in proc.stdout and "exported G" in proc.stdout
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_000002.png", "step_000004.png"]

    layers = check_model("keras", model_path).ops_or_layers
    assert "Lambda" not in layers and "Conv2D" in layers
    sub = tmp_path / "baselines" / "adain" / "anystyle"
    sub.mkdir(parents=True)
    shutil.copy(ROOT / "baselines/adain/anystyle/submission.yaml", sub)
    shutil.copy(model_path, sub / "model.keras")
    result = validate_submission(sub, load_competition(ROOT / "competition.yaml"), probe=True)
    assert result.ok, [p.code for p in result.problems]
