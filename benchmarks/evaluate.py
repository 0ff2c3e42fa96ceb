"""End-to-end seconds for one submission, split by phase, next to the bare work of the same run.

Synthesizes the dev-ink dataset at ``--size`` px and builds the photo2ink
track at that size (the shipped competition.yaml says 64 px; only the image
size changes), then evaluates a ~1M-parameter generator twice with a fresh
feature cache: the first run pays for the reference features (cold), the
second reuses them (warm). Then it times the bare work on the same images,
in-process and without the evaluator around it:

* the model alone: the generator's forward passes over the same test inputs
  at the same batch size;
* the backbone alone: feature extraction on the same (already decoded)
  outputs and inputs, and on the reference images a cold run extracts.

The overhead of the evaluator (decoding, sandbox pipe and checks, metrics,
bootstrap, efficiency probe, start-up) is then a ratio: end-to-end seconds
over bare seconds. Uses the competition's backbone (the offline Inception
stand-in where the FID weights are absent).

Run by hand: ``.venv/bin/python benchmarks/evaluate.py --size 256 --count 300``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

PHASES = ("sandbox_start", "load", "inference", "features", "efficiency", "reference", "metrics")
TRACK = "photo2ink"


def make_submission(root: Path, name: str, seed: int, size: int) -> Path:
    import keras

    from sandbox_overhead import build_generator

    sub = root / "submissions" / "bench" / name
    sub.mkdir(parents=True)
    keras.utils.set_random_seed(seed)
    build_generator(sub / "model.keras", size)
    (sub / "submission.yaml").write_text(yaml.safe_dump({
        "team": "bench", "name": name, "track": TRACK, "authors": ["bench"],
        "description": "benchmark generator", "license": "MIT",
        "model": {"format": "keras", "path": "model.keras"}}))
    return sub


def competition_at(size: int):
    """The shipped competition with the benchmark track at ``size`` px (nothing else changed)."""
    from evaluator.config import parse_competition

    raw = yaml.safe_load((ROOT / "competition.yaml").read_text())
    for track in raw["tracks"]:
        if track["id"] == TRACK:
            track["image_size"] = size
    return parse_competition(raw, source=f"competition.yaml ({TRACK} at {size} px)")


def best_of(passes: int, fn) -> float:
    """Best wall seconds of ``passes`` calls after one warm-up call (tracing, allocator growth)."""
    fn()
    best = float("inf")
    for _ in range(passes):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bare_work(sub: Path, data_dir: Path, competition, track, passes: int = 2) -> dict:
    """Seconds of the model alone and the backbone alone on the images one evaluation touches."""
    from evaluator.data.images import load_rgb_uint8, to_model_range, to_uint8
    from evaluator.data.manifest import read_manifest
    from evaluator.evaluate import test_set
    from evaluator.features import load_backbone
    from evaluator.models import load_model

    tests = test_set(read_manifest(data_dir), track, "public")
    batch = competition.evaluation.batch_size
    x8 = np.stack([load_rgb_uint8(data_dir / p) for p in tests.inputs])
    slices = [slice(i, i + batch) for i in range(0, len(x8), batch)]
    model = load_model("keras", sub / "model.keras")
    x = [to_model_range(x8[s]) for s in slices]
    model_s = best_of(passes, lambda: [np.asarray(model([b])) for b in x])
    y8 = np.concatenate([to_uint8(np.asarray(model([b]))) for b in x])

    backbone = load_backbone(competition.evaluation.backbone, resize=competition.evaluation.resize)
    content = bool(set(track.metrics) & {"content_distance", "artfid"})

    def per_batch():  # what run_inference asks of the backbone: outputs with maps, inputs for content
        for s in slices:
            backbone.features(y8[s])
            if content:
                backbone.features(x8[s])

    backbone_s = best_of(passes, per_batch)
    refs = list(tests.reference) + (list(tests.train_reference) if "mifid" in track.metrics else [])
    r8 = [load_rgb_uint8(data_dir / p) for p in refs]
    reference_s = best_of(1, lambda: [backbone.features(r8[i:i + 16], maps=False) for i in range(0, len(r8), 16)])
    return {"n": len(x8), "n_reference": len(refs), "model_s": model_s, "backbone_s": backbone_s,
            "reference_s": reference_s, "backbone": backbone.id, "content": content}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=120,
                        help="dev train images per domain; test = count/2, half public (default: 120)")
    parser.add_argument("--size", type=int, default=64, help="image side in px, for data and track (default: 64)")
    args = parser.parse_args(argv)

    from evaluator.data.synth import synthesize
    from evaluator.evaluate import evaluate_submission

    competition = competition_at(args.size)
    track = competition.track(TRACK)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["EASEL_CACHE"] = str(tmp / "cache")
        started = time.perf_counter()
        synthesize(tmp / "data", size=args.size, count=args.count, datasets=[track.dataset])
        synth_s = time.perf_counter() - started
        rows = []
        for name, seed in (("cold cache", 0), ("warm cache", 1)):
            timings: dict[str, float] = {}
            sub = make_submission(tmp, name.split()[0], seed, args.size)
            result = evaluate_submission(sub, tmp / "data", competition, timings=timings)
            if result.status != "ok":
                print(f"evaluation failed: {result.error_codes}", file=sys.stderr)
                return 1
            rows.append((name, result.evaluator.seconds, timings))
        n = result.dataset.n_inputs
        bare = bare_work(sub, tmp / "data" / track.dataset, competition, track)

    phases = [p for p in PHASES if any(p in t for _, _, t in rows)]
    phases += sorted({p for _, _, t in rows for p in t} - set(phases))
    print(f"\nEnd to end, {TRACK} public split: {n} images at {args.size} px, backbone {bare['backbone']} "
          f"(dataset synthesized in {synth_s:.1f} s, not counted)")
    print(f"{'run':<12}{'total s':>9}" + "".join(f"{p:>14}" for p in phases))
    for name, total, timings in rows:
        print(f"{name:<12}{total:>9.2f}" + "".join(f"{timings.get(p, 0.0):>14.2f}" for p in phases))

    work = bare["model_s"] + bare["backbone_s"]
    print("\nBare work on the same images, in-process (best of 2 after a warm-up):")
    print(f"  model alone     {bare['model_s']:8.2f} s  ({n / bare['model_s']:.1f} images/s)")
    passes = n * (2 if bare["content"] else 1)
    print(f"  backbone alone  {bare['backbone_s']:8.2f} s  ({passes} images: the outputs"
          f"{' and the inputs' if bare['content'] else ''}; {n / bare['backbone_s']:.1f} test images/s)")
    print(f"  references      {bare['reference_s']:8.2f} s  ({bare['n_reference']} images, extracted once per "
          "dataset and backbone, then cached)")
    warm_total, cold_total = rows[1][1], rows[0][1]
    print("\n| run | end to end (s) | bare work (s) | end to end / bare work |")
    print("|---|---:|---:|---:|")
    print(f"| warm cache | {warm_total:.2f} | {work:.2f} (model + backbone) | {warm_total / work:.2f} |")
    cold_work = work + bare["reference_s"]
    print(f"| cold cache | {cold_total:.2f} | {cold_work:.2f} (+ references) | {cold_total / cold_work:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
