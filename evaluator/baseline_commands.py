"""`easel baselines add TRACK`: the CLI edge of baselines/add.py (the baselines train themselves)."""

from __future__ import annotations

import sys
from pathlib import Path

from .cli import add_competition_option, command_group, competition_of
from .errors import EaselError

REPO_ROOT = Path(__file__).resolve().parent.parent


def _import_baselines(repo: Path):
    """baselines.add from the repository's baselines/ (a folder of the checkout, not an installed package)."""
    if not (repo / "baselines" / "add.py").is_file():
        raise EaselError("E_BASELINES_MISSING", f"no baselines/add.py under {repo}", detail="baselines")
    if str(repo) not in sys.path:
        sys.path.insert(0, str(repo))
    import baselines.add

    return baselines.add


def _cmd_add(args) -> int:
    repo = (args.repo or REPO_ROOT).resolve()
    add = _import_baselines(repo)
    competition = competition_of(args)
    results = args.results or Path("scratch") / "baselines"
    done = add.add_baselines(args.track, args.data, competition, baselines_dir=args.into or repo / "baselines",
                             runs=args.runs, results=results, quick=args.quick, steps=args.steps,
                             force=args.force, score=not args.no_score)
    failed = [folder for folder, result in done if result is not None and result.status != "ok"]
    print(f"{len(done)} baseline(s) on {args.track}: " + ", ".join(str(folder) for folder, _ in done))
    if not args.no_score:
        print(f"results in {results / args.track}; {len(done) - len(failed)} scored, {len(failed)} not")
    return 0 if not failed else 1


def register(subparsers, settings=None) -> None:
    """`easel baselines add`."""
    sub = command_group(subparsers, "baselines", "put the reference models on a track")
    add = sub.add_parser(
        "add", help="create, train or fit, and score the baselines of a track",
        description="For TRACK (in competition.yaml) create baselines/<model>/TRACK/ for every baseline of its "
                    "kind (identity and color_transfer always; cyclegan on unpaired, pix2pix on paired, adain on "
                    "example tracks), fit or train those that learn with the committed recipes on the track's "
                    "dataset, then evaluate each on the public split. Exit 0 when every baseline scored.")
    add.add_argument("track", help="a track id of competition.yaml")
    add.add_argument("--data", type=Path, required=True, help="dataset root holding the track's dataset")
    add_competition_option(add, "that lists the track")
    add.add_argument("--quick", action="store_true",
                     help="tiny networks for a few steps (seconds; for tests and a dry run: scores mean nothing)")
    add.add_argument("--steps", type=int, help="train the recipes for this many steps (default: each recipe's)")
    add.add_argument("--runs", type=Path, default=Path("runs") / "baselines",
                     help="training run folders go under RUNS/<track>/<model>")
    add.add_argument("--results", type=Path, help="result.json files go under RESULTS/<track>/ "
                                                  "(default: scratch/baselines)")
    add.add_argument("--force", action="store_true", help="replace the track's baseline folders if they exist")
    add.add_argument("--no-score", action="store_true", help="create and train only; do not evaluate")
    add.add_argument("--into", type=Path, help="where the <model>/TRACK/ folders go (default: REPO/baselines)")
    add.add_argument("--repo", type=Path, help="the Easel checkout holding baselines/ (default: this package's)")
    add.set_defaults(func=_cmd_add)
