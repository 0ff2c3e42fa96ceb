"""Sandbox overhead: the same batches in-process and through the sandboxed child.

Builds a ~1M-parameter CycleGAN-style generator for 64 px images, then times
batches of 16 both ways with :func:`evaluator.sandbox.measure_overhead` (the
pipe, framing and output validation are the difference; startup is reported
separately). Prints one JSON object. Run: ``.venv/bin/python benchmarks/sandbox_overhead.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args(argv)

    from evaluator.sandbox import measure_overhead

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generator.keras"
        params = build_generator(path, args.size)
        inputs = [np.random.default_rng(0).uniform(-1, 1, (args.images, args.size, args.size, 3))
                  .astype(np.float32)]
        result = measure_overhead(path, "keras", inputs, args.batch_size)
    print(json.dumps({"parameters": params, "images": args.images, "size": args.size, **result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
