"""Training speed: each GAN baseline's train.py step loop next to a bare tf.function step.

For cyclegan (dev-ink) and pix2pix (dev-sketch), at one small size (default 64 px,
ngf 16, batch 1: the committed recipes), in one process:

- loop: ``python -m baselines.<model>.train`` as it runs (deterministic batching,
  CycleGAN's image pool, TensorBoard scalars, the progress bar, the loss checks),
  read from the ``speed`` record it writes into run.json (its warm-up steps left
  out). ``loop w/o io`` also leaves out the one sample grid and checkpoint the
  run writes at its last step, which a long run spreads over thousands of steps.
- bare: the same model's step functions (CycleGAN: generator_step then
  discriminator_step on the fresh fakes, no pool; pix2pix: train_step) wrapped in
  one ``tf.function``, called on one fixed batch, no logging, synchronised once
  at the end.

Prints one table: wall-clock steps/s of each and bare/loop (how many times
faster the bare step is), then the same comparison in process CPU time per step
(all threads), which a machine shared with other jobs disturbs much less than
wall time. Absolute rates depend on the machine and its load; read the ratios. Data: ``easel data synth`` (small
count) into a temp folder, or ``--data`` pointing at an existing one.

    .venv/bin/python benchmarks/training.py            # ~2-5 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODELS = {"cyclegan": "dev-ink", "pix2pix": "dev-sketch"}


def loop_speed(model: str, argv: list[str], out: Path) -> dict:
    """Run the model's train.py main() on ``argv`` into ``out``; its run.json speed record."""
    import importlib

    train = importlib.import_module(f"baselines.{model}.train")
    log = io.StringIO()
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        try:
            code = train.main([*argv, "--out", str(out)])
        except BaseException:
            sys.stderr.write(log.getvalue()[-3000:])
            raise
    if code:
        raise SystemExit(f"{model} train.py exited with {code}:\n{log.getvalue()[-3000:]}")
    return json.loads((out / "run.json").read_text())["speed"][-1]


def bare_step(model: str, argv: list[str]):
    """(tf.function step(x, y) -> losses, fixed batch (x, y)): the model train.py builds, no loop."""
    import importlib

    import tensorflow as tf

    from baselines.common import training
    from baselines.common.data import load_paired_train, load_domain

    train = importlib.import_module(f"baselines.{model}.train")
    args = train.build_parser().parse_args([*argv, "--out", "unused"])
    strategy, policy = training.configure(args.seed, args.precision, not args.no_determinism)
    if model == "cyclegan":
        x = load_domain(args.data, args.dataset, "train", "A", args.image_size)
        y = load_domain(args.data, args.dataset, "train", "B", args.image_size)
        gan, _, _ = train.build(args, strategy, policy, x.shape[1:])

        def step(real_x, real_y):
            losses, fake_x, fake_y = gan.generator_step(real_x, real_y)
            return {**losses, **gan.discriminator_step(real_x, real_y, fake_x, fake_y)}
    else:
        x, y = load_paired_train(args.data, args.dataset, args.image_size)
        gan = train.build(args, strategy, policy)
        step = gan.train_step
    n = args.batch_size
    return tf.function(step), (tf.constant(x[:n]), tf.constant(y[:n]))


def bare_speed(model: str, argv: list[str], warmup: int, steps: int) -> dict:
    """Steps per second and CPU seconds per step of the bare step after ``warmup`` calls
    (one sync at the end of each phase)."""
    step, (x, y) = bare_step(model, argv)
    began = time.perf_counter()
    for _ in range(warmup):
        losses = step(x, y)
    float(losses["G/total"])
    timed_from, cpu_from = time.perf_counter(), time.process_time()
    for _ in range(steps):
        losses = step(x, y)
    float(losses["G/total"])  # the last update depends on every earlier one: all have run
    seconds, cpu = time.perf_counter() - timed_from, time.process_time() - cpu_from
    return {"steps_per_second": steps / seconds, "cpu_per_step": cpu / steps, "warmup_seconds": timed_from - began}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="an `easel data synth` root (default: synthesize one)")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--ngf", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--steps", type=int, default=60, help="timed steps per model and way")
    parser.add_argument("--count", type=int, default=16, help="train images per domain when synthesizing")
    args = parser.parse_args(argv)

    from baselines.common import training

    with tempfile.TemporaryDirectory(prefix="easel-bench-training-") as tmp:
        data = Path(args.data) if args.data else Path(tmp) / "data"
        if not args.data:
            from evaluator.data.synth import synthesize

            with contextlib.redirect_stderr(io.StringIO()):
                synthesize(data, size=args.size, count=args.count, seed=0, datasets=list(MODELS.values()))
        rows, hardware, loads = [], None, []
        for model in args.models:
            common = ["--data", str(data), "--dataset", MODELS[model], "--image-size", str(args.size),
                      "--ngf", str(args.ngf), "--batch-size", str(args.batch_size)]
            run = loop_speed(model, [*common, "--steps", str(training.WARMUP_STEPS + args.steps),
                                     "--sample-every", "1000000", "--checkpoint-every", "1000000"],
                             Path(tmp) / f"run-{model}")
            bare = bare_speed(model, common, training.WARMUP_STEPS, args.steps)
            hardware = run["hardware"]
            loads += [run["load_average_1min"], round(os.getloadavg()[0], 2)]
            loop = run["steps_per_second"]
            no_io = run["timed_steps"] / max(1e-9, run["timed_seconds"] - run["io_seconds"])
            cpu_no_io = (run["cpu_seconds"] - run["io_cpu_seconds"]) / run["timed_steps"]
            rows.append((model, loop, no_io, bare["steps_per_second"], cpu_no_io, bare["cpu_per_step"],
                         run["warmup_seconds"], bare["warmup_seconds"]))

    print(f"training speed: {args.size} px, ngf {args.ngf}, batch {args.batch_size}, "
          f"{args.steps} timed steps after {training.WARMUP_STEPS} warm-up steps, float32 unless a GPU")
    print(f"hardware: {hardware}; 1-min load average during the runs: {', '.join(map(str, loads))}")
    header = ("model", "loop steps/s", "loop w/o io", "bare steps/s", "bare/loop", "bare/(w/o io)",
              "CPU ms/step: loop w/o io", "bare", "loop/bare", "warm-up s (loop, bare)")
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for model, loop, no_io, bare, loop_cpu, bare_cpu, loop_warm, bare_warm in rows:
        print(" | ".join([model, f"{loop:.2f}", f"{no_io:.2f}", f"{bare:.2f}", f"{bare / loop:.2f}",
                          f"{bare / no_io:.2f}", f"{1000 * loop_cpu:.0f}", f"{1000 * bare_cpu:.0f}",
                          f"{loop_cpu / bare_cpu:.2f}", f"{loop_warm:.0f}, {bare_warm:.0f}"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
