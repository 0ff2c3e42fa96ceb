"""CLI edge of the single commands `easel evaluate`, `easel report` and `easel demo`.

Handlers parse arguments, call the stage modules and print; an EaselError propagates
to evaluator.cli.main, which prints its code, sentence and hint.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .cli import add_competition_option, add_leaderboard_option, competition_of
from .config import default_competition_path
from .demo import run_demo
from .evaluate import evaluate_submission, exit_code_for, summary_line
from .fsutil import atomic_write_bytes, atomic_write_json, atomic_write_text
from .report import render_comment
from .result import load_result
from .settings import Settings


def register(sub, settings: Settings | None = None) -> None:
    """`easel evaluate`, `easel report` and `easel demo`."""
    _register_evaluate(sub, settings or Settings.from_environ())
    _register_report(sub)
    _register_demo(sub)


def _cmd_evaluate(args) -> int:
    competition = competition_of(args)
    grid_paths = [p for p in (args.gallery, args.samples) if p is not None]
    # A URL model comes from --model-cache only (no download here) when one is given.
    result = evaluate_submission(args.submission_dir, args.data, competition, split=args.split,
                                 samples_path=grid_paths[0] if grid_paths else None, batch_size=args.batch_size,
                                 require_gpu=args.require_gpu, model_cache=args.model_cache)
    if len(grid_paths) == 2 and grid_paths[0].is_file():
        atomic_write_bytes(grid_paths[1], grid_paths[0].read_bytes())
    atomic_write_json(args.out, result.to_json())
    print(summary_line(result))
    for err in result.errors:
        detail = f" [{err.detail}]" if err.detail else ""
        print(f"  {err.code}{detail}: {err.message}\n      fix: {err.hint}", file=sys.stderr)
    if args.comment:

        atomic_write_text(args.comment, render_comment(result, competition))
    return exit_code_for(result)


def _register_evaluate(sub, settings: Settings) -> None:
    from .submission_commands import add_model_cache_option

    p = sub.add_parser("evaluate", help="score a submission on held-out data",
                       description="Validate, verify the dataset, run the model in the sandbox, compute the "
                                   "track's metrics with 95% intervals and write result.json atomically. "
                                   "Exit 0 ok, 2 the submission is at fault, 3 data/evaluator fault.")
    p.add_argument("submission_dir", type=Path, help="submissions/<team>/<model>/")
    p.add_argument("--data", type=Path, required=True, help="dataset root (holds one folder per dataset id)")
    p.add_argument("--out", type=Path, required=True, help="where to write result.json")
    p.add_argument("--split", choices=("public", "private", "all"), default="public",
                   help="test split to score: public while the competition runs, private for the final ranking")
    p.add_argument("--comment", type=Path, help="also write the PR comment Markdown here (default: none)")
    p.add_argument("--gallery", type=Path,
                   help="write the gallery PNG here: the model's outputs on the showcase images (never test "
                        "images) next to the inputs, re-encoded by Easel (default: none)")
    p.add_argument("--samples", type=Path,
                   help="the same gallery PNG, at a second path (the site's sample grid; default: none)")
    p.add_argument("--batch-size", type=int, help="inference batch size (default: competition.yaml)")
    add_competition_option(p)
    p.add_argument("--require-gpu", action="store_true", default=settings.require_gpu,
                   help="refuse (E_NO_GPU, exit 3) unless TensorFlow sees a GPU (default: EASEL_REQUIRE_GPU=1)")
    add_model_cache_option(p, settings)
    p.set_defaults(func=_cmd_evaluate)


def _cmd_report(args) -> int:
    result = load_result(args.result)
    competition = competition_of(args)
    board = None
    if args.leaderboard and Path(args.leaderboard).is_file():
        from .leaderboard import load_leaderboard

        board = load_leaderboard(args.leaderboard)
    print(render_comment(result, competition, board, head_sha=args.head_sha), end="")
    return 0


def _register_report(sub) -> None:
    p = sub.add_parser("report", help="render the PR comment for a result.json",
                       description="Print the PR comment (Markdown) for a result.json: metrics with 95% "
                                   "intervals, standing on the leaderboard, efficiency, backbone, errors.")
    p.add_argument("result", type=Path, help="result.json written by `easel evaluate`")
    add_leaderboard_option(p, "where the result would rank (skipped when the file is absent)")
    add_competition_option(p)
    p.add_argument("--head-sha", help="the evaluated commit (40 hex; default: not named)")
    p.set_defaults(func=_cmd_report)


def _cmd_demo(args) -> int:
    return run_demo(args.out, args.competition or default_competition_path(), size=args.size, count=args.count,
                    seed=args.seed)


def _register_demo(sub) -> None:
    p = sub.add_parser("demo", help="run the whole flow locally on the embedded dev data",
                       description="Synthesize the dev datasets, evaluate every submission and baseline, "
                                   "print each PR comment, update a local leaderboard and build the site.")
    p.add_argument("--out", type=Path, default=Path("demo-out"),
                   help="folder for the data, results, comments, leaderboard and site")
    add_competition_option(p)
    p.add_argument("--size", type=int, default=64, help="dev image size in pixels")
    p.add_argument("--count", type=int, default=120, help="training images per domain")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthesized dev data")
    p.set_defaults(func=_cmd_demo)
