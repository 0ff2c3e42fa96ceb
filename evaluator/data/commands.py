"""`easel data synth | prepare | verify | oracle`.

Handlers return exit codes; an EaselError propagates to evaluator.cli.main,
which prints its code, sentence and hint and exits 3 for data faults.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import add_competition_option, command_group, competition_of
from ..config import DEFAULT_MIN_TEST_IMAGES
from ..errors import EaselError
from .dedup import PHASH_MAX_DISTANCE
from .manifest import DEFAULT_SHOWCASE


def _print_manifest(folder: Path, manifest) -> None:
    print(f"{manifest.dataset}: {manifest.kind}, {manifest.image_size} px, {len(manifest.files)} files "
          f"in {folder}")
    for name, counts in manifest.counts().items():
        parts = ", ".join(f"{key} {value}" for key, value in counts.items())
        print(f"  {name:<15} {parts}")
    print(f"  manifest sha256 {manifest.sha256}")


def _cmd_synth(args: argparse.Namespace) -> int:
    from .manifest import read_manifest
    from .synth import synthesize

    folders = synthesize(args.out, size=args.size, count=args.count, seed=args.seed,
                         datasets=args.dataset or None)
    for folder in folders:
        _print_manifest(folder, read_manifest(folder))
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from .prepare import prepare

    prepare(args.a, args.b, args.out, size=args.size, test_fraction=args.test_fraction,
            seed=args.seed, kind=args.kind, min_side=args.min_side, min_test_images=args.min_test_images,
            showcase=args.showcase, max_distance=args.near_duplicate_distance)
    return 0


def dataset_folders(folder: Path) -> list[Path]:
    """``folder`` itself if it holds manifest.json, else its subfolders that do (sorted)."""
    folder = Path(folder)
    if (folder / "manifest.json").is_file():
        return [folder]
    if folder.is_dir():
        found = sorted(p for p in folder.iterdir() if p.is_dir() and (p / "manifest.json").is_file())
        if found:
            return found
    raise EaselError("E_DATA_MISSING", f"no manifest.json in {folder} or its subfolders", detail=folder.name)


def _cmd_verify(args: argparse.Namespace) -> int:
    from .manifest import check_min_test_images, verify_dataset

    tracks = []
    if args.competition is not None or args.track is not None:
        competition = competition_of(args)
        tracks = [competition.track(args.track)] if args.track else list(competition.tracks)
    for folder in dataset_folders(args.dir):
        manifest = verify_dataset(folder)
        print(f"ok: {len(manifest.files)} files match ({manifest.dataset}, sha256 {manifest.sha256[:12]})")
        users = [track for track in tracks if track.dataset == manifest.dataset]
        for track in users:
            check_min_test_images(manifest, track.min_test_images)
            print(f"ok: every test split holds at least {track.min_test_images} images (track {track.id})")
        if tracks and not users:
            print(f"note: no track checked uses dataset {manifest.dataset}; its test sizes were not checked")
    return 0


def _cmd_oracle(args: argparse.Namespace) -> int:
    from ..fsutil import atomic_write_json
    from ..oracle import oracle_result

    competition = competition_of(args)
    result = oracle_result(args.data, competition, args.track, split=args.split, samples_path=args.gallery)
    atomic_write_json(args.out, result.to_json())
    metric = result.track.metric
    rank = result.metrics[metric]
    print(f"oracle on {args.track}: {metric} = {rank.value:.4g} [{rank.ci95[0]:.4g}, {rank.ci95[1]:.4g}] "
          f"-> {args.out}")
    return 0


def register(subparsers, settings=None) -> None:
    """Add `easel data {synth, prepare, verify, oracle}` to the CLI."""
    sub = command_group(subparsers, "data", "make, prepare and verify datasets")

    synth = sub.add_parser("synth", help="write the embedded dev datasets (procedural scenes)",
                           description="Write the dev datasets (dev-ink, dev-sketch, dev-styles) from procedural "
                                       "scenes, with their manifests: the same files for the same --seed, "
                                       "--size and --count.")
    synth.add_argument("--out", required=True, type=Path, help="folder that receives one folder per dataset")
    synth.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    synth.add_argument("--count", type=int, default=120, help="train images per domain (default 120)")
    synth.add_argument("--seed", type=int, default=0, help="seed of the procedural scenes: same seed, same files")
    synth.add_argument("--dataset", action="append", metavar="ID",
                       help="only this dataset id (repeatable; default: all)")
    synth.set_defaults(func=_cmd_synth)

    prep = sub.add_parser("prepare", help="turn raw image folders into a dataset with a manifest",
                          description="Decode the images of --a and --b, drop unreadable and tiny files, "
                                      "center-crop and resize them, keep one file of each group of "
                                      "near-duplicates, split the rest (seeded) into train, public/private "
                                      "test and showcase sets and write PNGs with manifest.json.")
    prep.add_argument("--a", required=True, type=Path, help="input-domain images (photos)")
    prep.add_argument("--b", required=True, type=Path, help="style / target images")
    prep.add_argument("--out", required=True, type=Path, help="new dataset folder (its name is the dataset id)")
    prep.add_argument("--size", type=int, default=256, help="side in pixels every image is resized to")
    prep.add_argument("--test-fraction", type=float, default=0.2,
                      help="share of the images held out for the public and private test splits")
    prep.add_argument("--seed", type=int, default=0, help="seed of the train/test/showcase split")
    prep.add_argument("--kind", choices=("unpaired", "paired", "example"), default="unpaired",
                      help="the track kind the dataset serves (paired: --b holds each --a image's target)")
    prep.add_argument("--min-side", type=int, default=32, help="drop images smaller than this (px)")
    prep.add_argument("--min-test-images", type=int, default=DEFAULT_MIN_TEST_IMAGES, metavar="N",
                      help="refuse to write a public or private test split with fewer images "
                           f"(default {DEFAULT_MIN_TEST_IMAGES}; use the track's min_test_images)")
    prep.add_argument("--showcase", type=int, default=DEFAULT_SHOWCASE, metavar="N",
                      help=f"publishable showcase images taken out of A (and B on example tracks), never "
                           f"scored (default {DEFAULT_SHOWCASE})")
    prep.add_argument("--near-duplicate-distance", type=int, default=PHASH_MAX_DISTANCE, metavar="BITS",
                      help="crop-aware pHash distance (of 64 bits) at or below which files are near-duplicates "
                           f"(default {PHASH_MAX_DISTANCE}, calibrated by benchmarks/near_duplicates.py)")
    prep.set_defaults(func=_cmd_prepare)

    verify = sub.add_parser("verify", help="check a dataset (or a folder of datasets) against its manifest",
                            description="Recompute every file's sha256 against manifest.json. Exit 0 when all "
                                        "match, 3 with the first mismatching file named.")
    verify.add_argument("dir", type=Path, help="a dataset folder, or a folder of dataset folders")
    add_competition_option(verify, "whose tracks' min_test_images each dataset must meet", absent="no check")
    verify.add_argument("--track", metavar="ID", help="only this track (implies the default competition.yaml)")
    verify.set_defaults(func=_cmd_verify)

    oracle = sub.add_parser("oracle", help="score a synthesized dev track's ideal outputs (team oracle, never ranked)",
                            description="The true style function applied to the test inputs, scored like a "
                                        "submission and written as result.json (team oracle, model ideal). "
                                        "Exit 3 (E_ORACLE_UNAVAILABLE) for data made by `easel data prepare`.")
    oracle.add_argument("--data", required=True, type=Path, help="dataset root (holds one folder per dataset id)")
    oracle.add_argument("--track", required=True, metavar="ID", help="a dev track id from competition.yaml")
    oracle.add_argument("--out", required=True, type=Path, help="where to write result.json")
    oracle.add_argument("--split", choices=("public", "private", "all"), default="public",
                        help="test split to score")
    add_competition_option(oracle)
    oracle.add_argument("--gallery", type=Path,
                        help="also write the oracle's gallery PNG (showcase images; default: none)")
    oracle.set_defaults(func=_cmd_oracle)
