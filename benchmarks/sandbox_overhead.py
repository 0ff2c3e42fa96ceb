"""Sandbox overhead: the same batches in-process, through the sandboxed child, and through it in bubblewrap.

Builds a ~1M-parameter CycleGAN-style generator for 64 px images, then times
batches of 16 three ways with :func:`measure_overhead` (the pipe, framing and
output validation are the difference; bubblewrap adds namespaces and bind
mounts; startup is reported separately). Prints the figures side by side,
then one JSON object. Run: ``.venv/bin/python benchmarks/sandbox_overhead.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build_generator(path: Path, size: int = 64) -> int:
    """Save a ResNet generator (c7s1-32, d64, d128, 3 residual blocks, u64, u32, c7s1-3; ~1.08M
    parameters) to ``path``; returns its parameter count."""
    import keras

    keras.utils.set_random_seed(0)
    layers = keras.layers
    inp = keras.Input((None, None, 3))
    x = layers.Conv2D(32, 7, padding="same", activation="relu")(inp)
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(128, 3, strides=2, padding="same", activation="relu")(x)
    for _ in range(3):
        y = layers.Conv2D(128, 3, padding="same", activation="relu")(x)
        y = layers.Conv2D(128, 3, padding="same")(y)
        x = layers.Add()([x, y])
    x = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(x)
    out = layers.Conv2D(3, 7, padding="same", activation="tanh")(x)
    model = keras.Model(inp, out)
    model.save(path)
    return int(model.count_params())


def _cpu_s(pid: int | None) -> float:
    """CPU seconds used so far by this process (all threads) plus, given its pid, the sandboxed child."""
    used = time.process_time()
    if pid is not None:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        used += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return used


def measure_overhead(model_path: Path, fmt: str, inputs: list[np.ndarray], batch_size: int,
                     limits=None, repeats: int = 5) -> dict:
    """Time the same batches in-process, in the sandbox without and with bubblewrap (seconds per pass).

    ``inputs``: one float32 [n, H, W, 3] array per model input. Passes
    alternate between the three (so machine load hits all alike) after one
    warm-up pass each; the best of ``repeats`` counts, in wall seconds and, robust to
    other load on the machine, in CPU seconds (parent and child together). Returns in_process_s;
    sandbox_s, startup_s and overhead_ratio ((sandbox - in-process) /
    in-process) for the sandbox as ``easel evaluate`` runs it (in bubblewrap
    where it works: ``fs_isolated``); the same three with ``_no_bwrap`` for
    the child without bubblewrap; ``cpu_s`` (way -> best CPU seconds per pass); batches, batch_size; and max_abs_diff
    between in-process and sandboxed outputs (0.0 expected: same loader, same threads).
    """
    import contextlib

    from evaluator.config import Limits
    from evaluator.models import load_model
    from evaluator.sandbox import SandboxedModel

    n = inputs[0].shape[0]
    batches = [[a[i:i + batch_size] for a in inputs] for i in range(0, n, batch_size)]
    image_size = inputs[0].shape[1]
    local = load_model(fmt, model_path)
    runners = {"in_process": lambda batch: np.clip(np.asarray(local(batch)), -1, 1)}
    pids = {"in_process": None}
    startup, isolated = {}, {}
    with contextlib.ExitStack() as stack:
        for name, isolate in (("sandbox_no_bwrap", False), ("sandbox", None)):
            started = time.perf_counter()
            model = stack.enter_context(SandboxedModel(Path(model_path), fmt, len(inputs), image_size,
                                                       limits or Limits(), batch_size=batch_size,
                                                       isolate_fs=isolate))
            startup[name], isolated[name] = time.perf_counter() - started, model.isolation["fs_isolated"]
            runners[name], pids[name] = model.predict, model.pid
        best = dict.fromkeys(runners, float("inf"))
        cpu = dict.fromkeys(runners, float("inf"))
        outs = {}
        for round_ in range(repeats + 1):  # round 0 warms up (tracing, allocator growth)
            for name, run in runners.items():
                time.sleep(0.3)  # idle thread pools stop spinning before the next pass
                start, start_cpu = time.perf_counter(), _cpu_s(pids[name])
                outs[name] = np.concatenate([run(b) for b in batches])
                if round_:
                    best[name] = min(best[name], time.perf_counter() - start)
                    cpu[name] = min(cpu[name], _cpu_s(pids[name]) - start_cpu)
    base = best["in_process"]
    return {"in_process_s": base, "sandbox_s": best["sandbox"], "fs_isolated": isolated["sandbox"],
            "overhead_ratio": (best["sandbox"] - base) / base, "startup_s": startup["sandbox"],
            "sandbox_no_bwrap_s": best["sandbox_no_bwrap"],
            "overhead_ratio_no_bwrap": (best["sandbox_no_bwrap"] - base) / base,
            "startup_no_bwrap_s": startup["sandbox_no_bwrap"], "cpu_s": cpu,
            "batches": len(batches), "batch_size": batch_size,
            "max_abs_diff": float(max(np.abs(outs["in_process"] - outs[k]).max() for k in outs))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per way (the best counts)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generator.keras"
        params = build_generator(path, args.size)
        inputs = [np.random.default_rng(0).uniform(-1, 1, (args.images, args.size, args.size, 3))
                  .astype(np.float32)]
        result = measure_overhead(path, "keras", inputs, args.batch_size, repeats=args.repeats)
    print(f"{args.images} images of {args.size} px at batch {args.batch_size}, best of {args.repeats} passes "
          f"({params} parameters):")
    cpu = result["cpu_s"]
    print(f"{'':<26}{'wall s/pass':>12}{'overhead':>10}{'CPU s/pass':>12}{'overhead':>10}{'child start s':>15}")
    label = "sandbox + bubblewrap" if result["fs_isolated"] else "sandbox (bwrap unusable)"
    for name, wall, start, title in (("in_process", result["in_process_s"], None, "in-process"),
                                     ("sandbox_no_bwrap", result["sandbox_no_bwrap_s"], result["startup_no_bwrap_s"],
                                      "sandbox"),
                                     ("sandbox", result["sandbox_s"], result["startup_s"], label)):
        over = "" if start is None else f"{100 * (wall / result['in_process_s'] - 1):+.1f}%"
        cpu_over = "" if start is None else f"{100 * (cpu[name] / cpu['in_process'] - 1):+.1f}%"
        print(f"{title:<26}{wall:>12.3f}{over:>10}{cpu[name]:>12.3f}{cpu_over:>10}"
              f"{'' if start is None else f'{start:.2f}':>15}")
    print(json.dumps({"parameters": params, "images": args.images, "size": args.size, **result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
