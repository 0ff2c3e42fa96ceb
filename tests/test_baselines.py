"""Baselines: GAN training steps, resumable deterministic training, export contract, colour transfer.

Tiny models at 32 px keep this file to a few tens of seconds. Op determinism
is process-global in TensorFlow, so runs that need it happen in a subprocess.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from baselines.common import training
from baselines.common.data import StepBatcher, load_paired_train
from evaluator.data.images import save_png
from evaluator.errors import EaselError

ROOT = Path(__file__).resolve().parents[1]
SIZE = 32


def smooth_photos(rng: np.random.Generator, n: int, size: int = SIZE) -> np.ndarray:
    """uint8 [n, size, size, 3]: colourful low-frequency images (bilinear upsampled noise)."""
    from PIL import Image

    out = []
    for _ in range(n):
        small = (rng.random((4, 4, 3)) * 255).astype(np.uint8)
        out.append(np.asarray(Image.fromarray(small).resize((size, size), Image.Resampling.BILINEAR)))
    return np.stack(out)


def inkify(photo: np.ndarray) -> np.ndarray:
    """A stand-in target style: warm grey tones with hard dark bands."""
    gray = photo.astype(np.float32).mean(axis=-1, keepdims=True)
    gray = np.where(gray < 110, 30.0, gray)
    return np.clip(gray * np.array([1.0, 0.95, 0.85]), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """A tiny unpaired dataset (tiny-ink) and a paired one (tiny-pairs: A_target/x = inkify(A/x))."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    photos = smooth_photos(rng, 16)
    for i in range(8):
        save_png(root / "tiny-ink/train/A" / f"{i:04d}.png", photos[i])
        save_png(root / "tiny-ink/train/B" / f"{i:04d}.png", inkify(photos[8 + i]))
        save_png(root / "tiny-pairs/train/A" / f"{i:04d}.png", photos[i])
        save_png(root / "tiny-pairs/train/A_target" / f"{i:04d}.png", inkify(photos[i]))
    return root


def tiny_args(**extra) -> list[str]:
    args = dict(ngf=4, ndf=4, **{"d-layers": 1, "batch-size": 2, "sample-every": 2, "checkpoint-every": 100})
    args.update(extra)
    return [item for k, v in args.items() for item in (f"--{k}", str(v))]


def snapshot(model) -> list[np.ndarray]:
    return [np.array(w) for w in model.get_weights()]


def changed(before: list[np.ndarray], model) -> bool:
    return any(not np.array_equal(b, a) for b, a in zip(before, model.get_weights()))


# --- shared pieces -------------------------------------------------------------------

def test_instance_norm_matches_direct_computation():
    from baselines.common.networks import instance_norm

    x = np.random.default_rng(1).normal(2.0, 3.0, size=(2, 5, 7, 6)).astype(np.float32)
    y = np.asarray(instance_norm()(x))
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=(1, 2), keepdims=True)
    var = x64.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(y, (x64 - mean) / np.sqrt(var + 1e-5), atol=2e-5)


def test_linear_decay_is_constant_then_linear_to_zero():
    assert training.linear_decay(0, 100, 2e-4) == 2e-4
    assert training.linear_decay(49, 100, 2e-4) == 2e-4
    assert math.isclose(training.linear_decay(75, 100, 2e-4), 1e-4)
    assert training.linear_decay(100, 100, 2e-4) == 0.0


def test_batches_are_a_function_of_the_step():
    rng = np.random.default_rng(0)
    a = rng.random((10, 4, 4, 3)).astype(np.float32)
    b = a + 5.0  # pairs stay recognizable: b[i] - a[i] == 5
    paired = StepBatcher((a, b), batch_size=3, seed=7, paired=True)
    first = [paired.batch_at(s) for s in range(8)]
    again = StepBatcher((a, b), batch_size=3, seed=7, paired=True)
    for step in (5, 2, 7):  # any order: no iterator state
        for x, y in zip(first[step], again.batch_at(step)):
            np.testing.assert_array_equal(x, y)
    for x, y in first:
        np.testing.assert_allclose(y - x, 5.0, atol=1e-6)  # same indices and flips for both
    # One epoch (3 full batches + 1 from the next epoch) visits every image before repeating.
    seen = np.concatenate([paired.batch_at(s)[0] for s in range(3)])
    rows = {tuple(np.sort(img.ravel())) for img in seen}
    assert len(rows) == 9
    unpaired = StepBatcher((a, b), batch_size=3, seed=7, paired=False)
    diffs = np.concatenate([y - x for x, y in (unpaired.batch_at(s) for s in range(4))])
    assert not np.allclose(diffs, 5.0)


def test_paired_loader_reads_train_a_target_and_refuses_unpaired_data(data_root):
    x, y = load_paired_train(data_root, "tiny-pairs")
    assert x.shape == y.shape == (8, SIZE, SIZE, 3) and x.dtype == np.float32
    assert -1.0 <= x.min() and x.max() <= 1.0
    with pytest.raises(EaselError) as err:  # an unpaired dataset has no train/A_target
        load_paired_train(data_root, "tiny-ink")
    assert err.value.code == "E_DATA_MISSING"


def test_image_pool_fills_then_swaps_half_the_time():
    from baselines.cyclegan.train import ImagePool

    pool = ImagePool(4, (2, 2, 3), seed=3)
    fresh = [np.full((2, 2, 2, 3), float(k), np.float32) for k in range(40)]
    np.testing.assert_array_equal(pool.query(fresh[0]), fresh[0])  # filling: returned as is
    np.testing.assert_array_equal(pool.query(fresh[1]), fresh[1])
    history = {0.0, 1.0}
    swapped = 0
    for k in range(2, 40):
        out = pool.query(fresh[k])
        values = {float(img[0, 0, 0]) for img in out}
        assert values <= history | {float(k)}
        swapped += sum(float(img[0, 0, 0]) != k for img in out)
        history.add(float(k))
    assert 20 <= swapped <= 56  # about half of 76 images came from the history


# --- one training step of each GAN -----------------------------------------------------

def test_cyclegan_step_updates_generators_and_discriminators(data_root):
    import tensorflow as tf

    from baselines.common.data import load_domain
    from baselines.cyclegan.train import CycleGAN, ImagePool, Trainer

    x = load_domain(data_root, "tiny-ink", "train", "A")
    y = load_domain(data_root, "tiny-ink", "train", "B")
    strategy = tf.distribute.get_strategy()
    model = CycleGAN(ngf=4, n_blocks=1, ndf=4, d_layers=1, lr=2e-4, beta1=0.5, policy="float32")
    nets = {"G": model.G, "F": model.F, "D_X": model.D_X, "D_Y": model.D_Y}
    before = {k: snapshot(m) for k, m in nets.items()}
    trainer = Trainer(strategy, model, ImagePool(50, x.shape[1:], 1), ImagePool(50, x.shape[1:], 2))
    losses = trainer.step(StepBatcher((x, y), 2, 0, paired=False).batch_at(0), 2e-4)
    assert {"G/gan_G", "G/gan_F", "G/cycle", "G/identity", "D/x", "D/y"} <= set(losses)
    assert all(math.isfinite(v) for v in losses.values())
    assert losses["G/cycle"] > 0 and losses["D/x"] > 0
    assert [k for k, m in nets.items() if not changed(before[k], m)] == []
    out = model.G(x[:2]).numpy()
    assert out.shape == (2, SIZE, SIZE, 3) and out.dtype == np.float32 and np.abs(out).max() <= 1.0


def test_pix2pix_step_updates_generator_and_discriminator(data_root):
    import tensorflow as tf

    from baselines.pix2pix.train import Pix2Pix, Trainer

    x, y = load_paired_train(data_root, "tiny-pairs")
    model = Pix2Pix(ngf=4, n_down=3, dropout=0.5, ndf=4, d_layers=1, lr=2e-4, beta1=0.5, policy="float32")
    g_before, d_before = snapshot(model.G), snapshot(model.D)
    trainer = Trainer(tf.distribute.get_strategy(), model)
    losses = trainer.step(StepBatcher((x, y), 2, 0, paired=True).batch_at(0), 2e-4)
    assert all(math.isfinite(v) for v in losses.values())
    # L1 is measured against the target: check it independently.
    assert losses["G/l1"] > 0 and losses["G/total"] >= 100 * losses["G/l1"]
    assert changed(g_before, model.G) and changed(d_before, model.D)


def test_mixed_precision_step_keeps_float32_outputs(data_root):
    """The GPU recipe (mixed_float16 + loss scaling) also runs on CPU: same code path."""
    import keras
    import tensorflow as tf

    from baselines.pix2pix.train import Pix2Pix, Trainer

    x, y = load_paired_train(data_root, "tiny-pairs")
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = Pix2Pix(ngf=4, n_down=3, dropout=0.0, ndf=4, d_layers=1, lr=2e-4, beta1=0.5,
                        policy="mixed_float16")
        before = snapshot(model.G)
        trainer = Trainer(tf.distribute.get_strategy(), model)
        # Dynamic loss scaling skips steps whose scaled gradients overflow float16
        # (the scale starts at 2**15 and halves each time), so allow a few steps.
        for _ in range(12):
            losses = trainer.step((x[:2], y[:2]), 2e-4)
            if changed(before, model.G):
                break
        assert model.G(x[:2]).dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert all(math.isfinite(v) for v in losses.values())
    assert changed(before, model.G)


# --- train → checkpoint → resume → export, deterministically --------------------------

RESUME_SCRIPT = """
import sys
from baselines.cyclegan.train import main
data, out = sys.argv[1], sys.argv[2]
common = ["--data", data, "--dataset", "tiny-ink", "--steps", "4", "--n-blocks", "1"] + sys.argv[3:]
main(common + ["--out", out + "/split", "--stop-after", "2", "--export", out + "/never.keras"])
main(common + ["--out", out + "/split", "--resume", "--export", out + "/resumed.keras"])
main(common + ["--out", out + "/straight", "--export", out + "/straight.keras"])
"""


@pytest.fixture(scope="module")
def cyclegan_run(data_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cyclegan")
    proc = subprocess.run([sys.executable, "-c", RESUME_SCRIPT, str(data_root), str(out), *tiny_args()],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (out / "stdout.txt").write_text(proc.stdout)
    return out


def test_resumed_training_equals_uninterrupted_training(cyclegan_run):
    import keras

    assert not (cyclegan_run / "never.keras").exists()  # stopped early: nothing exported
    resumed = keras.saving.load_model(cyclegan_run / "resumed.keras", safe_mode=True)
    straight = keras.saving.load_model(cyclegan_run / "straight.keras", safe_mode=True)
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)
    split = cyclegan_run / "split"
    assert sorted(p.name for p in (split / "samples").iterdir()) == ["step_000002.png", "step_000004.png"]
    assert (split / "checkpoints" / "checkpoint").is_file()


def test_losses_are_logged_for_tensorboard(cyclegan_run):
    import tensorflow as tf

    events = list((cyclegan_run / "straight" / "logs").glob("events.out.tfevents.*"))
    seen = {}
    for record in tf.compat.v1.train.summary_iterator(str(events[0])):
        for value in record.summary.value:
            seen.setdefault(value.tag, []).append(
                (record.step, float(tf.make_ndarray(value.tensor))))
    assert {"G/cycle", "G/identity", "D/x", "D/y", "lr"} <= set(seen)
    assert [s for s, _ in seen["G/cycle"]] == [1, 2, 3, 4]
    assert all(math.isfinite(v) for _, v in seen["G/total"])


def test_run_summary_reports_speed_and_hardware_and_run_json_keeps_them(cyclegan_run):
    """Each invocation prints steps/s (warm-up left out) and the hardware, and appends both to run.json."""
    import json
    import os
    import re

    stdout = (cyclegan_run / "stdout.txt").read_text()
    printed = [float(v) for v in re.findall(r"^speed: ([0-9.]+) steps/s", stdout, flags=re.M)]
    assert len(printed) == 3 and all(v > 0 for v in printed)  # split, resumed, straight
    cores = len(os.sched_getaffinity(0))
    model_name = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                       if line.startswith("model name")), None)

    split = json.loads((cyclegan_run / "split" / "run.json").read_text())
    straight = json.loads((cyclegan_run / "straight" / "run.json").read_text())
    assert split["steps"] == 4 and split["seed"] == 0  # the flags are still there
    assert [(r["first_step"], r["last_step"]) for r in split["speed"]] == [(0, 2), (2, 4)]
    assert [(r["first_step"], r["last_step"]) for r in straight["speed"]] == [(0, 4)]
    for record, shown in zip([*split["speed"], *straight["speed"]], printed):
        assert record["steps_per_second"] > 0 and abs(record["steps_per_second"] - shown) < 0.006
        assert record["warmup_steps"] + record["timed_steps"] == record["last_step"] - record["first_step"]
        assert record["timed_steps"] >= 1 and record["wall_seconds"] > 0
        assert f"{cores} cores" in record["hardware"] and record["hardware"] in stdout
        if model_name:
            assert model_name in record["hardware"]
    assert straight["speed"][0]["warmup_steps"] == training.WARMUP_STEPS


def test_speed_leaves_out_the_warmup_steps_and_counts_samples_in(tmp_path):
    """train_loop's clock: steps/s = timed steps / their seconds, sample grids included."""
    import tensorflow as tf

    now = [0.0]
    step_seconds = {0: 50.0, 1: 5.0}  # tracing, then a slow second step: both left out

    def step_fn(step):
        now[0] += step_seconds.get(step, 0.5)
        return {"G/total": 1.0}

    def sample_fn(step):
        now[0] += 2.0

    checkpoint = tf.train.Checkpoint(step=tf.Variable(0, dtype=tf.int64))
    run = training.Run(out=tmp_path, checkpoint=checkpoint,
                       manager=tf.train.CheckpointManager(checkpoint, str(tmp_path / "ck"), max_to_keep=1),
                       writer=tf.summary.create_file_writer(str(tmp_path / "logs")))
    training.train_loop(run, total=6, stop_after=None, step_fn=step_fn, sample_fn=sample_fn, sample_every=3,
                        checkpoint_every=100, desc="t", clock=lambda: now[0], cpu_clock=lambda: 3 * now[0])
    speed = run.speed
    assert (speed.warmup_steps, speed.timed_steps) == (2, 4)
    assert speed.warmup_seconds == 55.0
    assert speed.timed_seconds == 4 * 0.5 + 2 * 2.0 and speed.io_seconds == 4.0  # samples after steps 3, 6
    assert speed.steps_per_second == 4 / 6.0
    assert (speed.cpu_seconds, speed.io_cpu_seconds) == (18.0, 12.0)
    # A one-step invocation still reports a rate (its step is timed, trace included).
    training.train_loop(run, total=7, stop_after=None, step_fn=step_fn, sample_fn=sample_fn, sample_every=100,
                        checkpoint_every=100, desc="t", clock=lambda: now[0])
    assert (run.speed.first_step, run.speed.warmup_steps, run.speed.timed_steps) == (6, 0, 1)
    assert run.speed.steps_per_second == 1 / 2.5


def test_exported_cyclegan_is_a_valid_submission(cyclegan_run, tmp_path):
    """Export → static check → the sandboxed probe of `easel validate` passes; outputs obey the contract."""
    import shutil

    import keras

    from evaluator.config import load_competition
    from evaluator.models import check_model
    from evaluator.submission import validate_submission

    model_path = cyclegan_run / "resumed.keras"
    facts = check_model("keras", model_path)
    assert "GroupNormalization" in facts.ops_or_layers and "Lambda" not in facts.ops_or_layers
    model = keras.saving.load_model(model_path, safe_mode=True)
    x = np.random.default_rng(0).uniform(-1, 1, (3, 64, 64, 3)).astype(np.float32)
    y = np.asarray(model(x))
    assert y.shape == x.shape and y.dtype == np.float32 and np.abs(y).max() <= 1.0

    sub = tmp_path / "baselines" / "cyclegan" / "photo2ink"
    sub.mkdir(parents=True)
    shutil.copy(ROOT / "baselines/cyclegan/photo2ink/submission.yaml", sub)
    shutil.copy(model_path, sub / "model.keras")
    result = validate_submission(sub, load_competition(ROOT / "competition.yaml"), probe=True)
    assert result.ok, [p.code for p in result.problems]
    assert result.meta.baseline and result.meta.team == "baseline"


def test_pix2pix_trains_on_two_replicas_and_exports_from_the_command_line(data_root, tmp_path):
    """The multi-GPU path (MirroredStrategy, per-replica batches) exercised on two logical CPUs."""
    out = tmp_path / "p2p"
    cmd = [sys.executable, "-m", "baselines.pix2pix.train", "--data", str(data_root), "--dataset", "tiny-pairs",
           "--out", str(out), "--steps", "3", "--n-down", "3", "--export", str(out / "model.keras"),
           "--cpu-replicas", "2", *tiny_args()]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "step 3/3" in proc.stdout and "exported G" in proc.stdout
    from evaluator.models import check_model

    assert "Concatenate" in check_model("keras", out / "model.keras").ops_or_layers
    grid = sorted((out / "samples").iterdir())
    assert [p.name for p in grid] == ["step_000002.png", "step_000003.png"]
    # A second run into the same folder without --resume is refused (runs never mix).
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode != 0 and "--resume" in again.stderr


# --- the committed baselines ----------------------------------------------------------

def committed_submissions() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "baselines").glob("*/*/submission.yaml"))


def test_committed_baselines_pass_the_static_checks():
    from evaluator.config import load_competition
    from evaluator.submission import validate_submission

    competition = load_competition(ROOT / "competition.yaml")
    found = {(d.parent.name, d.name) for d in committed_submissions()}
    assert {("identity", t.id) for t in competition.tracks} <= found
    assert {("color_transfer", t.id) for t in competition.tracks} <= found
    assert {("cyclegan", "photo2ink"), ("pix2pix", "photo2sketch"), ("adain", "anystyle")} <= found
    for directory in committed_submissions():
        result = validate_submission(directory, competition, probe=False)
        assert result.ok, (directory.name, [p.code for p in result.problems])
        assert result.meta.baseline


def test_identity_returns_its_content_input():
    from baselines.identity.export import identity_model

    x = np.random.default_rng(2).uniform(-1, 1, (2, 8, 8, 3)).astype(np.float32)
    style = np.zeros_like(x)
    np.testing.assert_array_equal(np.asarray(identity_model(1)(x)), x)
    np.testing.assert_array_equal(np.asarray(identity_model(2)([x, style])), x)


# --- colour transfer, checked against an independent lαβ implementation ---------------

def reinhard_lab(images: np.ndarray) -> np.ndarray:
    """Reinhard et al. 2001 eq. 1-6 in float64 numpy: [..., 3] in [-1, 1] → lαβ [..., 3]."""
    rgb = (images.astype(np.float64) + 1.0) / 2.0
    lms = rgb @ np.array([[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]]).T
    log_lms = np.log10(np.maximum(lms, 1 / 255))
    l_, m_, s_ = log_lms[..., 0], log_lms[..., 1], log_lms[..., 2]
    return np.stack([(l_ + m_ + s_) / np.sqrt(3), (l_ + m_ - 2 * s_) / np.sqrt(6), (l_ - m_) / np.sqrt(2)], -1)


def moments(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-image lαβ mean and std: two [n, 3] arrays."""
    lab = reinhard_lab(images).reshape(len(images), -1, 3)
    return lab.mean(axis=1), lab.std(axis=1)


def test_color_transfer_moves_statistics_toward_the_target_domain(tmp_path):
    import tensorflow as tf

    from baselines.color_transfer import fit as ct_fit
    from baselines.color_transfer import model as ct
    from evaluator.models import check_model

    rng = np.random.default_rng(5)
    photos = smooth_photos(rng, 6).astype(np.float32) / 127.5 - 1
    targets = np.stack([inkify(p) for p in smooth_photos(rng, 6)]).astype(np.float32) / 127.5 - 1
    mean, std, pixels = ct_fit.domain_stats(targets)
    pooled = reinhard_lab(targets).reshape(-1, 3)
    np.testing.assert_allclose(mean, pooled.mean(axis=0), atol=1e-4)
    np.testing.assert_allclose(std, pooled.std(axis=0), atol=1e-4)
    assert pixels == 6 * SIZE * SIZE

    path = ct_fit.export(ct.domain_module(mean, std), tmp_path / "model")
    facts = check_model("saved_model", path)
    assert {"Conv2D", "Log", "Exp", "Mean"} <= set(facts.ops_or_layers)
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    out = serve(images=tf.constant(photos))["output"].numpy()
    assert out.shape == photos.shape and out.dtype == np.float32 and np.abs(out).max() <= 1.0
    target = np.concatenate([mean, std])
    before = np.abs(np.concatenate(moments(photos), axis=1) - target).mean()
    after = np.abs(np.concatenate(moments(out), axis=1) - target).mean()
    assert after < 0.25 * before, (before, after)


def test_color_transfer_example_track_takes_the_style_images_statistics():
    import tensorflow as tf

    from baselines.color_transfer import model as ct

    rng = np.random.default_rng(6)
    content = smooth_photos(rng, 4).astype(np.float32) / 127.5 - 1
    style = (0.5 * smooth_photos(rng, 4).astype(np.float32) + 60) / 127.5 - 1  # muted, different palette
    out = ct.example_module().serve(tf.constant(content), tf.constant(style))["output"].numpy()
    (m_out, s_out), (m_style, s_style), (m_in, s_in) = moments(out), moments(style), moments(content)
    assert np.abs(m_out - m_style).mean() < 0.25 * np.abs(m_in - m_style).mean()
    assert np.abs(s_out - s_style).mean() < 0.5 * np.abs(s_in - s_style).mean()
    # Own statistics as the target: the lαβ round trip gives the image back.
    same = ct.example_module().serve(tf.constant(content), tf.constant(content))["output"].numpy()
    np.testing.assert_allclose(same, content, atol=2e-3)
