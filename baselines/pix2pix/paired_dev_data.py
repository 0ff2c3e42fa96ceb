"""Render a paired training set for the dev sketch track: train/B/<i> = sketch(train/A/<i>).

    python -m baselines.pix2pix.paired_dev_data --out dev-data

pix2pix learns from (input, target) pairs, but `easel data synth` renders
dev-sketch's train/B from other scenes than train/A (the test split has the
true pairs, test/A → test/A_target). This writes ``<out>/dev-sketch-paired/``:
train/A identical to dev-sketch's train/A, and train/B the sketch of each of
those scenes, made exactly as synth makes test/A_target. The committed pix2pix
weights were trained on it; it holds no test image.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `baselines` and `evaluator` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

DATASET = "dev-sketch-paired"


def write_pairs(out: str | Path, size: int = 64, count: int = 120, seed: int = 0) -> Path:
    """Write ``out/dev-sketch-paired/train/{A,B}/NNNN.png``; returns the dataset folder."""
    from tqdm import tqdm

    from evaluator.data import synth
    from evaluator.data.images import save_png

    dataset = synth.DEV_DATASETS["dev-sketch"]
    root = Path(out) / DATASET
    for i in tqdm(range(count), desc="pairs", unit="pair"):
        scene = synth.scene_seed(seed, dataset, 0, i)  # role 0: the train/A scenes
        photo = synth._scene(scene, size)
        sketch, _ = synth._stylize(dataset, photo, scene, i)
        save_png(root / "train" / "A" / f"{i:04d}.png", photo)
        save_png(root / "train" / "B" / f"{i:04d}.png", sketch)
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m baselines.pix2pix.paired_dev_data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="the dev data root (next to dev-sketch/)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--count", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"wrote {write_pairs(args.out, args.size, args.count, args.seed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
