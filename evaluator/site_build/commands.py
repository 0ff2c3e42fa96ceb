"""`easel site build`: the command-line edge of the site builder."""

from __future__ import annotations

from pathlib import Path

from ..cli import add_competition_option, add_leaderboard_option, command_group, competition_of
from ..leaderboard import load_leaderboard
from ..settings import settings_of
from .build import build_site
from .render import default_repo_url


def _cmd_build(args) -> int:
    competition = competition_of(args)
    board = load_leaderboard(args.leaderboard)
    repo_url = args.repo_url if args.repo_url is not None else default_repo_url(settings_of(args))
    index = build_site(board, competition, args.out, samples_dir=args.samples, repo_url=repo_url)
    print(f"site: {index.resolve()}")
    return 0


def register(subparsers, settings=None) -> None:
    """`easel site build`."""
    sub = command_group(subparsers, "site", "build the public static leaderboard site")
    build = sub.add_parser("build", help="render leaderboard.yaml into static HTML (relative links, no network)")
    add_leaderboard_option(build, "the entries to publish")
    add_competition_option(build)
    build.add_argument("--samples", type=Path, default=None,
                       help="SAMPLES_DIR/<track>/<team>/<model>.png grids (default: no samples)")
    build.add_argument("--out", type=Path, default=Path("site/_build"), help="output folder (replaced)")
    build.add_argument("--repo-url", default=None,
                       help="https://github.com/OWNER/NAME for PR links (default: $GITHUB_SERVER_URL/$GITHUB_REPOSITORY)")
    build.set_defaults(func=_cmd_build)
