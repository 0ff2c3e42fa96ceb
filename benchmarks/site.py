"""Site build time on a synthetic leaderboard of 10,000 entries (spread over the tracks).

Writes the synthetic leaderboard.yaml to a temp folder, then times, each on
its own and together: load (parse + schema check), rank (every track), and
build (every page, the history charts, leaderboard.json and the CSVs).
Target: load+rank+build < 10 s.

    .venv/bin/python benchmarks/site.py [--entries N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import datetime as dt
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluator.config import load_competition  # noqa: E402
from evaluator.leaderboard import (  # noqa: E402
    SCHEMA_VERSION,
    Board,
    iso_utc,
    load_leaderboard,
    rank_track,
    save_leaderboard,
)
from evaluator.metrics import METRICS  # noqa: E402
from evaluator.site_build import build_site  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def synthetic_board(competition, n: int, seed: int = 0) -> Board:
    """``n`` entries with realistic shapes: every track metric with an interval, efficiency, metadata."""
    rng = random.Random(seed)
    start = dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc)
    entries = []
    for i in range(n):
        track = competition.tracks[i % len(competition.tracks)]
        metrics = {}
        for name in track.metrics:
            spec = METRICS[name]
            low, high = spec.value_range  # values the board accepts
            value = max(low, 0.0) + rng.uniform(0.01, 1.0) * (30 if name in ("fid", "artfid", "mifid", "psnr") else 1)
            value = min(value, high)
            half = value * rng.uniform(0.02, 0.2)
            metrics[name] = {"value": value, "ci95": [max(low, value - half), min(high, value + half)],
                             "order": spec.order, "n": 60}
        when = iso_utc(start + dt.timedelta(minutes=7 * i))
        entries.append({
            "team": f"team{i % 700:03d}", "model": f"model{i:05d}", "track": track.id, "baseline": i < 6,
            "pr": i + 1, "commit": f"{i:040x}", "added": when, "content_sha256": f"{i:064x}",
            "dataset": {"id": track.dataset, "manifest_sha256": "c" * 64},
            "backbone": {"id": "inception_v3_random_seed0", "weights_sha256": "d" * 64, "resize": "clean",
                         "offline_standin": True},
            "meta": {"authors": [f"Author {i}"], "description": f"Model {i}: a <b>generator</b> & friends.",
                     "license": "MIT", "links": {"code": f"https://example.org/{i}"}},
            "public": {"metrics": metrics, "extra": {"memorized": False, "memorization_distance": 0.3},
                       "efficiency": {"images_per_s": rng.uniform(10, 900), "best_batch_size": 16,
                                      "latency_ms_batch1": rng.uniform(1, 40), "parameters": rng.randint(10**5, 10**8),
                                      "model_bytes": rng.randint(10**5, 10**8)},
                       "evaluated": when, "evaluator": "0.1.0"},
            "private": None, "final": i % 5 == 0,
        })
    return Board.from_json({"schema": SCHEMA_VERSION, "entries": entries}, "synthetic board")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, default=None, help="build the site here and keep it")
    args = parser.parse_args()

    competition = load_competition(REPO / "competition.yaml")
    now = dt.datetime(2027, 2, 1, tzinfo=dt.timezone.utc)
    # Inside the repository (out/ is git-ignored) rather than /tmp: the real build writes to site/_build,
    # and on some machines /tmp is a much slower file system for creating thousands of small files.
    (REPO / "out").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="site-bench-", dir=REPO / "out"))
    try:
        path = work / "leaderboard.yaml"
        save_leaderboard(path, synthetic_board(competition, args.entries))
        size_mb = path.stat().st_size / 2**20

        c0, t0 = time.process_time(), time.perf_counter()
        board = load_leaderboard(path)
        t1 = time.perf_counter()
        rows = {t.id: rank_track(board, competition, t.id, now) for t in competition.tracks}
        t2 = time.perf_counter()
        out = args.keep or work / "site"
        index = build_site(board, competition, out, now=now, progress=False)
        t3, c3 = time.perf_counter(), time.process_time()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    pages = sum(len(r) for r in rows.values()) + len(rows) + 1
    print(f"entries: {args.entries} ({size_mb:.1f} MB leaderboard.yaml), pages: {pages}")
    print(f"load {t1 - t0:.2f} s   rank {t2 - t1:.2f} s   build (includes its own ranking) {t3 - t2:.2f} s")
    print(f"load+rank+build: {t3 - t0:.2f} s wall, {c3 - c0:.2f} s CPU   (target < 10 s)")
    # Wall time includes waiting for a shared CPU; the load average says how busy the machine was.
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.keep:
        print(f"site: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
