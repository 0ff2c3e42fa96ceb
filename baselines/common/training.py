"""What every learned baseline's train.py shares: flags, devices, precision, determinism,
checkpoints, TensorBoard logs, sample grids, the step loop and the Keras export.

A run folder (``--out``) holds ``checkpoints/`` (tf.train.CheckpointManager),
``logs/`` (tf.summary scalars for TensorBoard), ``samples/step_NNNNNN.png``
and ``run.json`` (the flags the run started with, plus one ``speed`` record per
invocation: steps per second of the step loop and the hardware it ran on).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from evaluator.fsutil import atomic_write_json


def add_common_flags(parser: argparse.ArgumentParser, *, dataset: str, export_to: Path,
                     batch_size: int, ngf: int, steps: int, sample_every: int, flip: bool = True) -> None:
    """The flags both GAN scripts take; defaults are each baseline's committed recipe."""
    parser.add_argument("--data", required=True, help="dataset root (holds <dataset-id>/train/A ...)")
    parser.add_argument("--dataset", default=dataset, help="dataset id inside --data (default %(default)s)")
    parser.add_argument("--out", required=True, help="run folder: checkpoints/, logs/, samples/")
    parser.add_argument("--image-size", type=int, default=None,
                        help="resize training images to this size (default: as stored)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, default=None, help=f"optimizer steps in total (default {steps})")
    length.add_argument("--epochs", type=float, default=None, help="passes over the larger training set")
    parser.add_argument("--batch-size", type=int, default=batch_size, help="global batch (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ngf", type=int, default=ngf, help="generator width (default %(default)s)")
    parser.add_argument("--ndf", type=int, default=32, help="discriminator width (default %(default)s)")
    parser.add_argument("--d-layers", type=int, default=2,
                        help="PatchGAN stride-2 layers: 2 gives a 34x34 receptive field, "
                             "the 70x70 patch scaled to 64 px images (default %(default)s)")
    parser.add_argument("--flip", action=argparse.BooleanOptionalAction, default=flip,
                        help="random horizontal flips of training images (default %(default)s)")
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--beta1", type=float, default=0.5)
    parser.add_argument("--sample-every", type=int, default=sample_every, help="steps between sample grids")
    parser.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    parser.add_argument("--stop-after", type=int, default=None,
                        help="train at most this many steps in this invocation (resume later with --resume)")
    parser.add_argument("--export", nargs="?", const=str(export_to), default=None, metavar="PATH",
                        help=f"after training, write the generator as a .keras file (default {export_to})")
    parser.add_argument("--precision", choices=("auto", "float32", "mixed_float16"), default="auto",
                        help="auto: mixed_float16 when a GPU is present, else float32")
    parser.add_argument("--no-determinism", action="store_true",
                        help="skip tf.config.experimental.enable_op_determinism() (faster on some GPUs)")
    parser.add_argument("--cpu-replicas", type=int, default=0, help=argparse.SUPPRESS)


def total_steps(args: argparse.Namespace, n_train: int, default_steps: int) -> int:
    """--steps, or --epochs converted with the global batch size, or the recipe's default."""
    if args.steps is not None:
        return max(1, args.steps)
    if args.epochs is not None:
        return max(1, math.ceil(args.epochs * n_train / args.batch_size))
    return default_steps


def configure(seed: int, precision: str = "auto", deterministic: bool = True, cpu_replicas: int = 0):
    """Seed everything, pick devices and precision; returns (strategy, policy name).

    More than one GPU → tf.distribute.MirroredStrategy; a GPU → mixed_float16
    (``precision='auto'``). ``cpu_replicas`` > 1 splits the CPU into logical
    devices so the multi-replica path can be exercised without GPUs.
    """
    import keras
    import tensorflow as tf

    if cpu_replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_replicas)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    gpus = tf.config.list_physical_devices("GPU")
    if precision == "auto":
        precision = "mixed_float16" if gpus else "float32"
    keras.mixed_precision.set_global_policy(precision)
    if len(gpus) > 1:
        strategy = tf.distribute.MirroredStrategy()
    elif cpu_replicas > 1:
        strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(cpu_replicas)])
    else:
        strategy = tf.distribute.get_strategy()
    return strategy, precision


def make_adam(lr: float, beta1: float, policy: str):
    """Adam(lr, beta1, 0.999); wrapped for loss scaling under mixed precision."""
    import keras

    opt = keras.optimizers.Adam(learning_rate=lr, beta_1=beta1, beta_2=0.999)
    return keras.optimizers.LossScaleOptimizer(opt) if policy == "mixed_float16" else opt


def linear_decay(step: int, total: int, lr: float, decay_start: int | None = None) -> float:
    """Constant ``lr`` for the first half of training, then linearly to 0 at ``total`` (Zhu et al.)."""
    decay_start = total // 2 if decay_start is None else decay_start
    if step < decay_start:
        return lr
    return lr * max(0.0, (total - step) / max(1, total - decay_start))


def distribute(strategy, arrays: tuple[np.ndarray, ...]):
    """Global numpy batches → per-replica values (one even slice per replica)."""
    import tensorflow as tf

    n = strategy.num_replicas_in_sync
    if n == 1:
        return tuple(tf.constant(a) for a in arrays)
    per = arrays[0].shape[0] // n

    def part(array):
        return strategy.experimental_distribute_values_from_function(
            lambda ctx: tf.constant(array[ctx.replica_id_in_sync_group * per:
                                          (ctx.replica_id_in_sync_group + 1) * per]))
    return tuple(part(a) for a in arrays)


def to_uint8_list(batch) -> list[np.ndarray]:
    """float [n, H, W, 3] in [-1, 1] → list of n uint8 HxWx3 images."""
    from evaluator.data.images import to_uint8

    return [to_uint8(np.asarray(image, dtype=np.float32)) for image in np.asarray(batch)]


def save_sample_grid(path: Path, columns: list[tuple[str, np.ndarray]], scale: int = 2) -> Path:
    """One column per (title, float [n, H, W, 3] in [-1, 1]) batch, written atomically as PNG.

    ``scale``: pixel magnification of each image (nearest neighbour).
    """
    from evaluator.data.images import save_grid

    save_grid(path, [(title, to_uint8_list(batch)) for title, batch in columns], scale=scale)
    return Path(path)


# Steps left out of the speed figure: the first call of each step function traces and
# compiles it (10-80 s on the 2-core dev machine), and the second still ran 2-10x slower
# than later ones there (caches and thread pools warming up), so steps/s starts at step 3.
WARMUP_STEPS = 2


@dataclass
class Speed:
    """How fast one ``train_loop`` call ran, warm-up steps left out.

    ``timed_seconds`` covers steps ``first_step + warmup_steps`` .. ``last_step``
    end to end (batching, the step, logging, the progress bar, and the sample
    grids and checkpoints written meanwhile, of which ``io_seconds``).
    """

    first_step: int       # checkpointed step this invocation started from
    last_step: int        # step it stopped at
    warmup_steps: int
    warmup_seconds: float
    timed_steps: int
    timed_seconds: float
    io_seconds: float
    cpu_seconds: float = float("nan")     # process CPU time (all threads) over the timed steps,
    io_cpu_seconds: float = float("nan")  # of which samples and checkpoints; steadier than wall
                                          # time on a shared machine

    @property
    def steps_per_second(self) -> float:
        return self.timed_steps / self.timed_seconds if self.timed_seconds > 0 else float("nan")


def hardware() -> str:
    """What the step loop ran on, for run.json and the README.

    e.g. ``"1 x NVIDIA H200 GPU; CPU Intel(R) Xeon(R) Processor, 16 cores"`` or
    ``"CPU Intel(R) Xeon(R) Processor, 2 cores (no GPU)"``; cores are those this
    process may use (its affinity), not the machine's total.
    """
    import tensorflow as tf

    names: dict[str, int] = {}
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            name = tf.config.experimental.get_device_details(gpu).get("device_name") or gpu.name
        except Exception:  # noqa: BLE001 - details are best effort; the device exists regardless
            name = gpu.name
        names[name] = names.get(name, 0) + 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpu = f"CPU {cpu_model()}, {cores} cores"
    if not names:
        return f"{cpu} (no GPU)"
    return "; ".join([*(f"{n} x {name} GPU" for name, n in names.items()), cpu])


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo, else platform), or the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


@dataclass
class Run:
    """A run folder with its checkpoint manager and summary writer."""

    out: Path
    checkpoint: object  # tf.train.Checkpoint holding `step`, the models and optimizers
    manager: object     # tf.train.CheckpointManager
    writer: object      # tf.summary writer
    speed: Speed | None = None  # set by train_loop once it has run a step

    @property
    def step(self) -> int:
        return int(self.checkpoint.step.numpy())


def refuse_mixed_runs(out: str | Path, resume: bool) -> None:
    """Before any heavy work: a new run may not write into a folder with checkpoints, and vice versa."""
    has_checkpoint = (Path(out) / "checkpoints" / "checkpoint").is_file()
    if has_checkpoint and not resume:
        raise SystemExit(f"{out} already holds checkpoints: pass --resume, or choose a new --out")
    if resume and not has_checkpoint:
        raise SystemExit(f"--resume: no checkpoint in {Path(out) / 'checkpoints'}")


def open_run(out: str | Path, args: argparse.Namespace, resume: bool, **trackables) -> Run:
    """Create or resume a run folder; ``trackables`` (models, optimizers, pool) go in the checkpoint.

    Without ``resume`` an existing checkpoint is refused, so two runs never mix.
    """
    import tensorflow as tf

    out = Path(out)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    checkpoint = tf.train.Checkpoint(step=step, **trackables)
    manager = tf.train.CheckpointManager(checkpoint, str(out / "checkpoints"), max_to_keep=3)
    if manager.latest_checkpoint:
        if not resume:
            raise SystemExit(f"{out} already holds checkpoints: pass --resume, or choose a new --out")
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    elif resume:
        raise SystemExit(f"--resume: no checkpoint in {out / 'checkpoints'}")
    else:
        atomic_write_json(out / "run.json", {k: v for k, v in sorted(vars(args).items()) if k != "func"})
    writer = tf.summary.create_file_writer(str(out / "logs"))
    return Run(out=out, checkpoint=checkpoint, manager=manager, writer=writer)


def log_scalar(name: str, value: float, step: int) -> None:
    """Write one TensorBoard scalar to the default summary writer.

    tf.summary.scalar needs the tensorboard package at write time; the
    scalars plugin only needs this metadata, so TensorBoard (installed
    wherever the logs are read) shows the curves without making it a dependency.
    """
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
        data_class=summary_pb2.DATA_CLASS_SCALAR)
    tf.summary.write(name, tf.constant(value, tf.float32), step=step, metadata=metadata)


def train_loop(run: Run, *, total: int, stop_after: int | None, step_fn: Callable[[int], dict],
               sample_fn: Callable[[int], None], sample_every: int, checkpoint_every: int,
               desc: str, clock: Callable[[], float] = time.perf_counter,
               cpu_clock: Callable[[], float] = time.process_time) -> dict[str, float]:
    """Run ``step_fn(step) -> {loss name: float}`` from the checkpointed step up to ``total``.

    Logs every loss to TensorBoard, writes sample grids every ``sample_every``
    steps and checkpoints every ``checkpoint_every`` steps and at the end.
    Sets ``run.speed`` (steps per second after the first WARMUP_STEPS; ``clock``
    is wall and ``cpu_clock`` process CPU time, in seconds). Returns the last
    step's losses (empty when there was nothing left to train).
    """
    from tqdm import tqdm

    start = run.step
    end = total if stop_after is None else min(total, start + stop_after)
    # Keep at least one timed step, so even a very short run reports a rate.
    warmup = min(WARMUP_STEPS, max(0, end - start - 1))
    losses: dict[str, float] = {}
    began = timed_from = clock()
    cpu_from = cpu_clock()
    io_seconds = io_cpu_seconds = 0.0
    with run.writer.as_default(), tqdm(total=total, initial=start, desc=desc, unit="step",
                                       mininterval=2.0) as bar:
        for step in range(start, end):
            losses = step_fn(step)
            bad = [k for k, v in losses.items() if not math.isfinite(v)]
            if bad:
                raise FloatingPointError(f"step {step}: non-finite {bad}; lower --lr or check the data")
            run.checkpoint.step.assign(step + 1)
            for name, value in losses.items():
                log_scalar(name, value, step + 1)
            bar.update(1)
            # refresh=False: the bar redraws at its mininterval, not on every step.
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items() if k.startswith(("G", "D"))},
                            refresh=False)
            done = step + 1
            io_began, io_cpu_began = clock(), cpu_clock()
            if done % sample_every == 0 or done == end:
                sample_fn(done)
            if done % checkpoint_every == 0 or done == end:
                run.manager.save(checkpoint_number=done)
            now, cpu_now = clock(), cpu_clock()
            if done - start > warmup:
                io_seconds += now - io_began
                io_cpu_seconds += cpu_now - io_cpu_began
            elif done - start == warmup:
                timed_from, cpu_from = now, cpu_now
    run.writer.flush()
    if end > start:
        run.speed = Speed(first_step=start, last_step=end, warmup_steps=warmup,
                          warmup_seconds=timed_from - began, timed_steps=end - start - warmup,
                          timed_seconds=now - timed_from, io_seconds=io_seconds,
                          cpu_seconds=cpu_now - cpu_from, io_cpu_seconds=io_cpu_seconds)
    return losses


def export_keras(build: Callable[[], object], trained, path: str | Path) -> Path:
    """Rebuild the generator in float32, copy the trained weights in, save a .keras file.

    The rebuild drops any mixed-precision policy so the exported file is plain
    float32 whatever device it was trained on. Written via a temp file + rename.
    """
    import keras

    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("float32")
    try:
        model = build()
        model.set_weights([np.asarray(w, dtype=np.float32) for w in trained.get_weights()])
    finally:
        keras.mixed_precision.set_global_policy(previous)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)
    return path


def record_speed(run: Run, wall_seconds: float) -> dict | None:
    """Print the step loop's speed and hardware; append them to run.json's ``speed`` list.

    One record per invocation (a resumed run adds one), written atomically.
    Returns the record, or None when this invocation ran no step.
    """
    import keras
    import tensorflow as tf

    speed = run.speed
    if speed is None:
        return None
    record = {**asdict(speed), "steps_per_second": round(speed.steps_per_second, 4),
              "wall_seconds": round(wall_seconds, 2), "hardware": hardware(),
              "precision": keras.mixed_precision.global_policy().name, "tensorflow": tf.__version__,
              "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None}
    for key in ("warmup_seconds", "timed_seconds", "io_seconds", "cpu_seconds", "io_cpu_seconds"):
        record[key] = round(record[key], 3)
    print(f"speed: {speed.steps_per_second:.2f} steps/s ({1000 * speed.cpu_seconds / speed.timed_steps:.0f} ms "
          f"process CPU per step) over {speed.timed_steps} steps "
          f"({speed.warmup_steps} warm-up steps left out, {speed.warmup_seconds:.1f} s; "
          f"{speed.io_seconds:.1f} s of samples and checkpoints included) on {record['hardware']}, "
          f"{record['precision']}, load average {record['load_average_1min']}")
    path = run.out / "run.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    data["speed"] = [*data.get("speed", []), record]
    atomic_write_json(path, data)
    return record


def finish(name: str, run, total: int, losses: dict, started: float, export_path: str | None,
           build_generator, generator) -> None:
    """Print the run's summary (with its speed, also added to run.json) and, once every step
    has run, export the generator (float32 .keras). ``started``: time.monotonic() before the loop."""
    wall = time.monotonic() - started
    print(f"{name}: step {run.step}/{total} in {wall:.0f} s"
          + (f"; last losses {', '.join(f'{k}={v:.3f}' for k, v in losses.items())}" if losses else ""))
    record_speed(run, wall)
    if not export_path:
        return
    if run.step < total:
        print(f"not exporting: training stopped at step {run.step} of {total}; resume with --resume")
        return
    print(f"exported G to {export_keras(build_generator, generator, export_path)}")
