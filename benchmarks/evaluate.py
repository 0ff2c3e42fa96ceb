"""End-to-end seconds for one submission on the dev dataset, split by phase.

Evaluates two different ~1M-parameter generators on the photo2ink track with a
fresh feature cache: the first pays for the reference features, the second
reuses them (its `reference` phase is near zero). Then times the sandbox pipe
against the same model run in-process at batch 16. Uses the competition's
backbone (the offline Inception stand-in where the FID weights are absent).

Run by hand: ``.venv/bin/python benchmarks/evaluate.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

PHASES = ("sandbox_start", "load", "inference", "features", "efficiency", "reference", "metrics")


def make_submission(root: Path, name: str, seed: int) -> Path:
    import keras

    from sandbox_overhead import build_generator

    sub = root / "submissions" / "bench" / name
    sub.mkdir(parents=True)
    keras.utils.set_random_seed(seed)
    build_generator(sub / "model.keras")
    (sub / "submission.yaml").write_text(yaml.safe_dump({
        "team": "bench", "name": name, "track": "photo2ink", "authors": ["bench"],
        "description": "benchmark generator", "license": "MIT",
        "model": {"format": "keras", "path": "model.keras"}}))
    return sub


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=120, help="dev train images per domain (test = count/2)")
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args(argv)

    from evaluator.config import load_competition
    from evaluator.data.images import to_model_range, load_rgb_uint8
    from evaluator.data.synth import synthesize
    from evaluator.evaluate import evaluate_submission
    from sandbox_overhead import measure_overhead

    competition = load_competition(ROOT / "competition.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["EASEL_CACHE"] = str(tmp / "cache")
        synthesize(tmp / "data", size=args.size, count=args.count, datasets=["dev-ink"])
        rows = []
        for name, seed in (("first", 0), ("second", 1)):
            timings: dict[str, float] = {}
            result = evaluate_submission(make_submission(tmp, name, seed), tmp / "data", competition,
                                         timings=timings)
            assert result["status"] == "ok", result["errors"]
            rows.append((name, result["evaluator"]["seconds"], timings, result["dataset"]["n_inputs"],
                         result["backbone"]["id"]))

        print(f"\nEnd to end, photo2ink public split ({rows[0][3]} images, backbone {rows[0][4]}):")
        print(f"{'submission':<12}{'total s':>9}" + "".join(f"{p:>14}" for p in PHASES))
        for name, total, timings, _, _ in rows:
            print(f"{name:<12}{total:>9.2f}" + "".join(f"{timings.get(p, 0.0):>14.2f}" for p in PHASES))
        saved = rows[0][2]["reference"] - rows[1][2]["reference"]
        print(f"reference features reused by the second submission: saved {saved:.2f} s")

        paths = sorted((tmp / "data" / "dev-ink" / "test" / "A").glob("*.png"))[:64]
        inputs = [to_model_range(np.stack([load_rgb_uint8(p) for p in paths]))]
        over = measure_overhead(tmp / "submissions" / "bench" / "first" / "model.keras", "keras", inputs, 16)
        print(f"\nSandbox vs in-process, {len(paths)} images at batch 16 (best of 5 passes):")
        print(f"in-process {over['in_process_s']:.3f} s · sandbox {over['sandbox_s']:.3f} s · "
              f"overhead {100 * over['overhead_ratio']:+.1f}% · child start {over['startup_s']:.1f} s · "
              f"max |diff| {over['max_abs_diff']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
