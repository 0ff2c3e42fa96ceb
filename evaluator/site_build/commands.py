"""`easel site build`: the command-line edge of the site builder."""

from __future__ import annotations

from pathlib import Path

from ..cli import command_group
from ..config import default_competition_path, load_competition
from ..leaderboard import load_leaderboard
from .build import build_site
from .render import default_repo_url


def _cmd_build(args) -> int:
    competition = load_competition(args.competition or default_competition_path())
    board = load_leaderboard(args.leaderboard)
    repo_url = args.repo_url if args.repo_url is not None else default_repo_url()
    index = build_site(board, competition, args.out, samples_dir=args.samples, repo_url=repo_url)
    print(f"site: {index.resolve()}")
    return 0


def register(subparsers) -> None:
    """`easel site build`."""
    sub = command_group(subparsers, "site", "build the public static leaderboard site")
    build = sub.add_parser("build", help="render leaderboard.yaml into static HTML (relative links, no network)")
    build.add_argument("--leaderboard", type=Path, default=Path("leaderboard.yaml"), help="the entries to publish")
    build.add_argument("--competition", type=Path, default=None, help="competition.yaml (default: ./ or the repo's)")
    build.add_argument("--samples", type=Path, default=None,
                       help="SAMPLES_DIR/<track>/<team>/<model>.png grids (default: no samples)")
    build.add_argument("--out", type=Path, default=Path("site/_build"), help="output folder (replaced)")
    build.add_argument("--repo-url", default=None,
                       help="https://github.com/OWNER/NAME for PR links (default: $GITHUB_SERVER_URL/$GITHUB_REPOSITORY)")
    build.set_defaults(func=_cmd_build)
