"""`easel leaderboard add | reveal | show | rescore-list`: the command-line edge of the leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

from .. import __version__
from ..binding import check_data_binding, check_submission_binding
from ..cli import add_competition_option, add_leaderboard_option, command_group, competition_of
from ..folders import folders_by_content
from ..vocab import HEX64_RE
from .ranking import show_table
from .rules import entry_submission
from .update import add_result, rescore_list, reveal
from .yamlio import load_leaderboard, save_leaderboard


def _cmd_add(args) -> int:
    from ..result import load_result

    competition = competition_of(args)
    result = load_result(args.result_json)
    meta, final = None, None
    sub = entry_submission(result)
    if args.data:
        check_data_binding(result, args.data)
    if args.submission:
        from ..submission import read_meta

        # Binding first: metadata is read only from the exact files that were scored.
        check_submission_binding(result, args.submission)
        parsed, problems = read_meta(Path(args.submission))
        if parsed is None:
            raise problems[0]
        meta = parsed.public_meta()
        # submission.yaml `final: true|false`; absent means false.
        final = bool(getattr(parsed, "final", False))
    board = load_leaderboard(args.leaderboard, missing_ok=True)
    # The files and the data are bound above, once; add_result need not hash them again.
    board, changed = add_result(board, result, args.pr, args.commit, meta=meta, competition=competition,
                                final=final, rescore=args.rescore)
    name = f"{sub.team}/{sub.model} ({sub.track})"
    if changed:
        save_leaderboard(args.leaderboard, board)
        local = " as a local trial" if args.pr is None and args.commit is None else ""
        print(f"leaderboard: recorded {name}{local} in {args.leaderboard}")
    else:
        print(f"leaderboard: {name} unchanged (same or older evaluation already recorded)")
    return 0


def _cmd_reveal(args) -> int:
    competition = competition_of(args)
    board = load_leaderboard(args.leaderboard)
    board, changed = reveal(board, args.private_results, competition)
    if changed:
        save_leaderboard(args.leaderboard, board)
    print(f"leaderboard: private scores merged for {changed} entr{'y' if changed == 1 else 'ies'}")
    return 0


def _cmd_show(args) -> int:
    competition = competition_of(args)
    board = load_leaderboard(args.leaderboard)
    if args.track:
        competition.track(args.track)
    print(show_table(board, competition, args.track), end="")
    return 0


def _cmd_rescore_list(args) -> int:
    from ..errors import EaselError

    if args.weights_sha256 is not None and not HEX64_RE.match(args.weights_sha256):
        raise EaselError("E_CONFIG", "--weights-sha256: expected 64 lowercase hex digits (the sha256 that "
                         "`easel weights fetch` prints)", detail="weights-sha256")
    board = load_leaderboard(args.leaderboard, missing_ok=True)
    if args.track:
        competition_of(args).track(args.track)
    stale = rescore_list(board, evaluator=args.evaluator, track=args.track, weights_sha256=args.weights_sha256)
    folders = folders_by_content(args.search)
    for item in stale:
        item["dir"] = folders.get(item["content_sha256"])  # None: the scored files are no longer in the tree
    if args.json:
        print(json.dumps(stale, indent=1, sort_keys=True))
    else:
        for item in stale:
            print("\t".join((item["track"], f"{item['team']}/{item['model']}", item["dir"] or "-",
                             item["content_sha256"], item["reason"])))
    return 0


def register(subparsers, settings=None) -> None:
    """`easel leaderboard add | reveal | show | rescore-list`."""
    sub = command_group(subparsers, "leaderboard",
                        "add results to leaderboard.yaml, reveal private scores, show it, list what to re-score")

    def common(q):
        add_leaderboard_option(q, "the entries")
        add_competition_option(q)

    add = sub.add_parser("add", help="record a public-split result.json (idempotent)",
                         description="Record a public-split result.json. A merged submission gives --pr and "
                                     "--commit; without both the entry is a local trial, marked local on the site.")
    add.add_argument("result_json", type=Path, metavar="RESULT_JSON", help="a public-split result.json")
    add.add_argument("--pr", type=int, default=None, help="pull request number (default: none, a local trial)")
    add.add_argument("--commit", default=None, help="merged commit SHA, 40 hex (default: none, a local trial)")
    add.add_argument("--submission", type=Path, default=None,
                     help="merged submission directory: its hash must match the result; metadata and `final` "
                          "come from its submission.yaml (default: not checked)")
    add.add_argument("--data", type=Path, default=None,
                     help="dataset root: ROOT/<dataset>/manifest.json must match the result's manifest "
                          "(default: not checked)")
    add.add_argument("--rescore", action="store_true",
                     help="accept a result scored with another backbone or dataset than the track's current "
                          "entries (the rescore workflow); it starts the track's new scoring")
    common(add)
    add.set_defaults(func=_cmd_add)

    rev = sub.add_parser("reveal", help="merge private-split results after the final phase ended (idempotent)")
    rev.add_argument("--private-results", type=Path, required=True, metavar="DIR",
                     help="folder searched recursively for private-split result.json files")
    common(rev)
    rev.set_defaults(func=_cmd_reveal)

    show = sub.add_parser("show", help="print the ranked tables")
    show.add_argument("--track", default=None, help="only this track id (default: every track)")
    common(show)
    show.set_defaults(func=_cmd_show)

    stale = sub.add_parser("rescore-list", help="list entries not scored by the current evaluator and backbone",
                          description="List the entries to evaluate again: those scored unlike their track's "
                                      "current entries, by another Easel version than --evaluator, or with other "
                                      "backbone weights than --weights-sha256. One tab-separated line per entry: "
                                      "track, team/model, folder (found under --search; '-' if none), content "
                                      "sha256, reason; or a JSON list of objects with --json.")
    stale.add_argument("--track", default=None, help="only this track id (default: every track)")
    stale.add_argument("--evaluator", default=__version__, help="the current Easel version (default: %(default)s)")
    stale.add_argument("--weights-sha256", default=None,
                      help="the current backbone weights' sha256 (default: not compared)")
    stale.add_argument("--search", type=Path, action="append", default=[], metavar="ROOT",
                      help="find each entry's folder by content hash under ROOT/*/*/submission.yaml "
                           "(repeatable, e.g. --search submissions --search baselines; default: none)")
    stale.add_argument("--json", action="store_true", help="print a JSON list of objects instead of lines")
    common(stale)
    stale.set_defaults(func=_cmd_rescore_list)
