"""What the issue-22 metrics (FD-DINOv2, CMMD, precision/recall/density/coverage, LPIPS) add to one evaluation, side by side.

One run times, at 64 px and 256 px on stand-in backbones (no downloads), the
scoring work of one evaluation of n images:

* **today**: the pool backbone (``inception_v3_random_seed0``) on outputs and
  references, FID + KID with their bootstrap, and the untrained perceptual
  distance on that backbone's maps (inputs vs outputs);
* **new**: the same plus every issue-22 metric on the backbone the tracks score it
  on: LPIPS' own backbone (``alexnet_random_seed0``) on inputs and outputs and
  the LPIPS distance; the DINOv2 stand-in (``dinov2_vit_random_seed0``) on
  outputs and references, FD-DINOv2 and precision/recall/density/coverage on
  its features; the CLIP stand-in (``clip_vit_random_seed0``) on outputs and
  references and CMMD; every one with its bootstrap.

It prints the seconds of backbones and of metric math separately and the
share of the added metric math in the whole new evaluation (target: under
10 %). Then the peak extra memory of the k-NN point estimates for growing n
(tracemalloc), which stays bounded by the chunk size: "flat" here means no
n x n matrix is ever formed; beyond the [n, d] features themselves the extra
memory is at most one chunk of CHUNK_ELEMENTS distances (128 MiB), whatever n.

Run by hand: ``.venv/bin/python benchmarks/new_metrics.py [--n 100] [--resamples 200]``.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def _untrained_perceptual_distance(maps_x, maps_y):
    """The per-image distance content_distance was before LPIPS (removed from Easel), timed as part of
    "today": per layer, unit-normalised channel vectors, squared difference summed over channels,
    mean over positions; the mean over layers. float32 [n, h, w, c] maps -> float64 [n]."""
    total = None
    for fx, fy in zip(maps_x, maps_y):
        fx, fy = np.asarray(fx, np.float64), np.asarray(fy, np.float64)
        nx = fx / (np.sqrt((fx * fx).sum(axis=-1, keepdims=True)) + 1e-10)
        ny = fy / (np.sqrt((fy * fy).sum(axis=-1, keepdims=True)) + 1e-10)
        layer = ((nx - ny) ** 2).sum(axis=-1).mean(axis=(1, 2))
        total = layer if total is None else total + layer
    return total / len(maps_x)


def _features(backbone, images, maps):
    parts = [backbone.features(images[i:i + 16], maps=maps) for i in range(0, len(images), 16)]
    pool = np.concatenate([p.pool for p in parts])
    return pool, ([np.concatenate([p.maps[k] for p in parts]) for k in range(len(parts[0].maps))] if maps else [])


def one_size(size: int, n: int, resamples: int) -> dict[str, float]:
    from evaluator import metrics as M
    from evaluator.features import load_backbone
    from evaluator.scoring import TrackSample, score_track

    rng = np.random.default_rng(size)
    inputs = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    outputs = np.clip(inputs.astype(int) + rng.integers(-40, 41, inputs.shape), 0, 255).astype(np.uint8)
    refs = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pool_backbone = load_backbone("inception_v3_random_seed0")
        lpips_backbone = load_backbone("lpips_alex")  # its stand-in here, as the two below
        dino_backbone = load_backbone("dinov2_vitl14")
        clip_backbone = load_backbone("clip_vitl14_336")
    t = {}
    (out_pool, out_maps), t["pool backbone (outputs, refs, inputs)"] = _timed(lambda: _features(pool_backbone, outputs, True))
    (ref_pool, _), t_ref = _timed(lambda: _features(pool_backbone, refs, False))
    (_, in_maps), t_in = _timed(lambda: _features(pool_backbone, inputs, True))
    t["pool backbone (outputs, refs, inputs)"] += t_ref + t_in
    _, t["untrained perceptual distance"] = _timed(lambda: _untrained_perceptual_distance(in_maps, out_maps))
    _, t["fid + kid with bootstrap"] = _timed(lambda: score_track(
        ["fid", "kid"], TrackSample(out_pool, ref_pool), n_resamples=resamples))
    (_, lp_out), t["lpips backbone (inputs, outputs)"] = _timed(lambda: _features(lpips_backbone, outputs, True))
    (_, lp_in), t_lp_in = _timed(lambda: _features(lpips_backbone, inputs, True))
    t["lpips backbone (inputs, outputs)"] += t_lp_in
    _, t["lpips distance"] = _timed(lambda: M.lpips_distance(lp_in, lp_out))
    (dino_out, _), t["dinov2 backbone (outputs, refs)"] = _timed(lambda: _features(dino_backbone, outputs, False))
    (dino_ref, _), t_dino_ref = _timed(lambda: _features(dino_backbone, refs, False))
    t["dinov2 backbone (outputs, refs)"] += t_dino_ref
    dino = TrackSample(dino_out, dino_ref)
    _, t["fd_dinov2 with bootstrap"] = _timed(lambda: score_track(["fd_dinov2"], dino, n_resamples=resamples))
    _, t["precision/recall/density/coverage with bootstrap"] = _timed(lambda: score_track(
        ["precision", "recall", "density", "coverage"], dino, n_resamples=resamples))
    (clip_out, _), t["clip backbone (outputs, refs)"] = _timed(lambda: _features(clip_backbone, outputs, False))
    (clip_ref, _), t_clip_ref = _timed(lambda: _features(clip_backbone, refs, False))
    t["clip backbone (outputs, refs)"] += t_clip_ref
    _, t["cmmd with bootstrap"] = _timed(lambda: score_track(
        ["cmmd"], TrackSample(clip_out, clip_ref), n_resamples=resamples))
    return t


def knn_memory(d: int = 64) -> list[tuple[int, float]]:
    from evaluator.metrics import prdc as P

    rows = []
    for n in (2000, 6000, 12000):
        rng = np.random.default_rng(n)
        real, fake = rng.standard_normal((n, d)), rng.standard_normal((n, d))
        tracemalloc.start()
        P.precision_recall_density_coverage(real, fake)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rows.append((n, peak / 2**20))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="images per set (default: 100)")
    parser.add_argument("--resamples", type=int, default=200, help="bootstrap resamples (default: 200)")
    args = parser.parse_args(argv)
    new_math = ("lpips distance", "fd_dinov2 with bootstrap", "precision/recall/density/coverage with bootstrap",
                "cmmd with bootstrap")
    new_all = new_math + ("lpips backbone (inputs, outputs)", "dinov2 backbone (outputs, refs)",
                          "clip backbone (outputs, refs)")
    for size in (64, 256):
        t = one_size(size, args.n, args.resamples)
        today = sum(v for k, v in t.items() if k not in new_all)
        new = today + sum(t[k] for k in new_all)
        print(f"\n{size} px, n = {args.n}, {args.resamples} resamples (seconds)")
        for k, v in t.items():
            print(f"  {k:52s} {v:8.3f}{'   (new)' if k in new_all else ''}")
        added_math = sum(t[k] for k in new_math)
        print(f"  {'evaluation with the metrics of today':52s} {today:8.3f}")
        print(f"  {'evaluation with the new ones too':52s} {new:8.3f}   ({new / today:.2f}x)")
        print(f"  added metric math: {added_math:.3f} s = {100 * added_math / new:.1f} % of the new evaluation")
    print("\nk-NN point estimates, d = 64: peak extra memory (tracemalloc) by n")
    for n, mib in knn_memory():
        print(f"  n = {n:5d}: {mib:7.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
