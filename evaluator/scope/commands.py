"""`easel scope check | pending` and `easel fetch-pr`: the CLI edge of the scope check."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ..cli import add_competition_option, add_leaderboard_option, command_group
from ..errors import EaselError
from .check import check_scope
from .fetch import error_result, fetch_pr
from .pending import pending_submissions


def _limits(competition_path: Path | None) -> tuple[int | None, int | None]:
    from ..config import default_competition_path, load_competition

    path = competition_path or default_competition_path()
    if not Path(path).is_file():
        return None, None
    limits = load_competition(path).limits
    return int(limits.max_model_mb * 1024 * 1024), int(limits.max_files)


def _cmd_scope_check(args) -> int:
    scope = check_scope(args.repo_dir, args.base, args.head)
    print(json.dumps(asdict(scope), sort_keys=True) if args.json else scope.path)
    return 0


def _ownership_teams(args):
    """teams.yaml for the ownership check; None only with an explicit --no-ownership-check (tests)."""
    if args.no_ownership_check:
        if args.author is not None or args.teams is not None:
            raise EaselError("E_OWNERSHIP_UNCHECKED", "--no-ownership-check contradicts --author/--teams",
                             detail="no-ownership-check")
        return None
    if args.author is None or args.teams is None:
        raise EaselError("E_OWNERSHIP_UNCHECKED", "fetch-pr needs --author and --teams to check team ownership",
                         detail="author" if args.author is None else "teams")
    from ..teams import load_teams

    return load_teams(args.teams)


def _cmd_fetch_pr(args) -> int:
    try:
        max_bytes, max_files = _limits(args.competition)
        teams = _ownership_teams(args)
        scope, dest = fetch_pr(args.repo_dir, args.pr_ref, args.sha, args.base, args.out, remote=args.remote,
                               max_bytes=max_bytes, max_files=max_files, teams=teams, author=args.author,
                               check_ownership=not args.no_ownership_check)
    except EaselError as exc:
        if args.result_on_error:
            from ..fsutil import atomic_write_json

            atomic_write_json(args.result_on_error, error_result(exc).to_json())
        raise
    if args.json:
        print(json.dumps({**asdict(scope), "dir": str(dest)}, sort_keys=True))
    else:
        print(dest)
    return 0


def _cmd_pending(args) -> int:
    pending = pending_submissions(args.submissions, args.leaderboard)
    for item in pending:
        print(json.dumps(item, sort_keys=True) if args.json else item["dir"])
    return 0


def register(subparsers, settings=None) -> None:
    """`easel scope check | pending` and `easel fetch-pr`."""
    sub = command_group(subparsers, "scope", "check that a PR changes only one submission directory")
    chk = sub.add_parser("check", help="diff merge-base(base, head)..head against the scope rule",
                         description="Exit 0 and print submissions/<team>/<model> when exactly one submission "
                                     "directory changed; otherwise a coded error (exit 2).")
    chk.add_argument("--repo-dir", type=Path, default=Path("."), help="the git repository")
    chk.add_argument("--base", required=True, help="base commit (40 hex)")
    chk.add_argument("--head", required=True, help="head commit (40 hex)")
    chk.add_argument("--json", action="store_true", help="print the outcome as JSON")
    chk.set_defaults(func=_cmd_scope_check)
    pen = sub.add_parser("pending", help="list merged submissions whose content has no leaderboard entry",
                         description="Print one submissions/<team>/<model> per line whose tree hash is not "
                                     "in leaderboard.yaml yet (the publish workflow evaluates these).")
    pen.add_argument("--submissions", type=Path, default=Path("submissions"), help="folder of <team>/<model>/ folders")
    add_leaderboard_option(pen, "the entries already recorded")
    pen.add_argument("--json", action="store_true", help="one JSON object per line")
    pen.set_defaults(func=_cmd_pending)

    f = subparsers.add_parser("fetch-pr", help="fetch a PR at its approved SHA and extract its submission as data",
                              description="git fetch the PR ref, verify it is the approved SHA, run the scope "
                                          "check, and write only submissions/<team>/<model>/ under --out "
                                          "from git objects (no checkout, no hooks, no symlinks).")
    f.add_argument("--repo-dir", type=Path, default=Path("."), help="the trusted git checkout to fetch into")
    f.add_argument("--pr-ref", required=True, help="refs/pull/<N>/head")
    f.add_argument("--sha", required=True, help="the approved head commit (40 hex)")
    f.add_argument("--base", required=True, help="the PR's base commit (40 hex)")
    f.add_argument("--out", type=Path, required=True, help="folder to extract into")
    f.add_argument("--remote", default="origin", help="git remote that holds the PR ref")
    add_competition_option(f, "for the size and file limits")
    f.add_argument("--author", help="the PR author's GitHub login, checked against --teams (no default: "
                                   "required unless --no-ownership-check)")
    # Not the shared --teams option: that one has a default, and here the file must be named.
    f.add_argument("--teams", type=Path, metavar="FILE", help="teams.yaml of the trusted checkout (no default: "
                                                              "required unless --no-ownership-check)")
    f.add_argument("--no-ownership-check", action="store_true",
                   help="skip the team ownership check: for tests only, never in a workflow (default: checked)")
    f.add_argument("--result-on-error", type=Path, metavar="PATH",
                   help="on refusal, also write a result.json with the error here (for the PR comment; default: none)")
    f.add_argument("--json", action="store_true", help="print the outcome as JSON")
    f.set_defaults(func=_cmd_fetch_pr)
