"""Fit and export the colour-transfer baseline for every track of a competition.

    python -m baselines.color_transfer.fit --data DATA_ROOT

For unpaired and paired tracks: the pooled lαβ mean and standard deviation of
every pixel of the track dataset's train/B images (the target domain), baked
into a SavedModel as constants. For example tracks: a SavedModel that takes
the statistics of the style image it is given. Writes
``<out>/<track>/model/`` (SavedModel) and ``<out>/stats.json``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `baselines` and `evaluator` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from baselines.color_transfer import model as ct
from evaluator.fsutil import atomic_write_json

HERE = Path(__file__).resolve().parent


def domain_stats(images: np.ndarray, batch: int = 64) -> tuple[list[float], list[float], int]:
    """Pooled lαβ moments of float32 [n, H, W, 3] images in [-1, 1].

    Returns (mean[3], std[3], pixel count); sums are accumulated in float64.
    """
    import tensorflow as tf

    total = np.zeros(3)
    total_sq = np.zeros(3)
    count = 0
    for start in range(0, len(images), batch):
        lab = ct.to_lab(tf.constant(images[start:start + batch])).numpy().astype(np.float64).reshape(-1, 3)
        total += lab.sum(axis=0)
        total_sq += np.square(lab).sum(axis=0)
        count += lab.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - np.square(mean), 0.0))
    return [float(v) for v in mean], [float(v) for v in std], count


def export(module, path: Path) -> Path:
    """Save a SavedModel beside ``path`` and swap it in, so a crash leaves the old one whole."""
    path = Path(path)
    staging = path.with_name(f".{path.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    ct.save(module, staging)
    if path.exists():
        shutil.rmtree(path)
    staging.rename(path)
    return path


def fit(data_root: str | Path, competition_path: str | Path | None = None, out: str | Path = HERE,
        tracks: list[str] | None = None) -> dict:
    """Fit and export one SavedModel per track; returns the statistics written to stats.json."""
    from evaluator.config import default_competition_path, load_competition

    competition = load_competition(competition_path or default_competition_path())
    out = Path(out)
    stats = {}
    for track in competition.tracks:
        if tracks and track.id not in tracks:
            continue
        stats[track.id] = fit_track(track, data_root, out / track.id / "model")
        print(f"color_transfer: {track.id}: exported {out / track.id / 'model'}")
    record_stats(out / "stats.json", stats, replace=not tracks)
    return stats


def fit_track(track, data_root: str | Path, model_dir: Path) -> dict:
    """Fit one track (an :class:`evaluator.config.Track`) and export its SavedModel to ``model_dir``;
    returns the track's stats.json record."""
    from baselines.common.data import load_domain

    if track.kind == "example":
        export(ct.example_module(), model_dir)
        return {"kind": track.kind, "target": "the style image given with each input"}
    images = load_domain(data_root, track.dataset, "train", "B", track.image_size)
    mean, std, pixels = domain_stats(images)
    export(ct.domain_module(mean, std), model_dir)
    return {"kind": track.kind, "dataset": track.dataset, "images": len(images),
            "pixels": pixels, "lab_mean": mean, "lab_std": std}


def record_stats(path: Path, stats: dict, replace: bool = False) -> None:
    """Write stats.json: ``stats`` alone (``replace``), else merged over the tracks already recorded, so
    fitting one track keeps the others' records."""
    import json

    merged = {} if replace or not Path(path).is_file() else json.loads(Path(path).read_text())
    merged.update(stats)
    atomic_write_json(path, merged)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m baselines.color_transfer.fit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="dataset root (holds <dataset-id>/train/B ...)")
    parser.add_argument("--competition", default=None, help="competition.yaml (default: the repository's)")
    parser.add_argument("--out", default=str(HERE), help="where <track>/model/ go (default %(default)s)")
    parser.add_argument("--track", action="append", help="only these track ids (repeatable)")
    args = parser.parse_args(argv)
    fit(args.data, args.competition, args.out, args.track)
    return 0


if __name__ == "__main__":
    sys.exit(main())
