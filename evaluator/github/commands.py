"""`easel bot comment | gate | bind`: the CLI edge of the score bot."""

from __future__ import annotations

from pathlib import Path

from ..binding import bind_result
from ..cli import add_competition_option, add_leaderboard_option, add_teams_option, command_group, competition_of
from ..cli import report_error
from ..errors import EXIT_INVALID, EaselError
from ..settings import Settings, settings_of
from .api import DEFAULT_BOT_LOGIN, BotOptions, pr_of_commit
from .gate import gate
from .outcome import EVALUATION_RESULTS, post_result
from .record import iso


def _options(args) -> BotOptions:
    return BotOptions(api_url=args.api_url, retries=args.retries, backoff_s=args.backoff,
                      bot_login=args.bot_login, throttle=args.backoff > 0)


def _cmd_comment(args) -> int:
    settings = settings_of(args)
    action, comment_id = post_result(args.repo, args.pr, args.result_json, _options(args), head_sha=args.head_sha,
                                     competition_path=args.competition, leaderboard_path=args.leaderboard,
                                     evaluation=args.evaluation, run_id=args.run_id,
                                     gallery_url=args.gallery_url or None, token=settings.github_token,
                                     server_url=settings.server_url)
    print(f"{action} comment {comment_id} on {args.repo}#{args.pr}")
    return 0


def _cmd_gate(args) -> int:
    from ..teams import default_teams_path, load_teams

    limit = competition_of(args).limits.evaluations_per_day
    teams = load_teams(args.teams or default_teams_path())
    decision = gate(args.repo, args.pr, limit, _options(args), team=args.team, head_sha=args.head_sha,
                    remove_label=args.remove_label, teams=teams, run_id=args.run_id,
                    retry_within_s=args.retry_within, token=settings_of(args).github_token)
    if decision.allowed:
        again = " (a re-run: not counted again)" if decision.repeat else ""
        print(f"evaluation {decision.used} of {limit} in 24 h: allowed{again}")
        return 0
    if decision.refusal is not None:
        report_error(decision.refusal)
        return EXIT_INVALID
    later = iso(decision.later)
    report_error(EaselError("E_RATE_LIMIT", f"{decision.used} of {limit} evaluations used; next possible after "
                                            f"{later}", detail=later))
    return EXIT_INVALID


def _cmd_bind(args) -> int:
    if args.folder is not None:
        from ..binding import folder_commit

        args.commit = folder_commit(args.folder)
        if args.commit is None:
            print(f"no commit of this checkout changes {args.folder}: nothing to bind")
            return 0
    bound = bind_result(args.result_json, args.commit, args.pr)
    print(f"bound to {args.commit}" + (f" (PR #{args.pr})" if args.pr else "") if bound else
          "no submission in this result: nothing to bind")
    return 0


def _cmd_find_pr(args) -> int:
    number = pr_of_commit(args.repo, args.commit, _options(args), token=settings_of(args).github_token)
    if number is not None:
        print(number)
    return 0


def register(subparsers, settings: Settings | None = None) -> None:
    """`easel bot comment | gate | bind | find-pr`."""
    settings = settings or Settings.from_environ()
    sub = command_group(subparsers, "bot", "post the sticky PR comment; apply the daily evaluation limit")

    def common(q, pr=True):
        q.add_argument("--repo", required=True, help="OWNER/NAME")
        if pr:
            q.add_argument("--pr", type=int, required=True, help="pull request number")
        q.add_argument("--api-url", default=settings.api_url,
                       help="REST API root (GitHub Enterprise, tests); default $GITHUB_API_URL or api.github.com")
        q.add_argument("--head-sha", help="the evaluated commit (40 hex), named in the comment (default: none)")
        q.add_argument("--run-id", type=int,
                       help="the workflow run id: with --head-sha, keys this approval (default: none)")
        add_competition_option(q)
        q.add_argument("--bot-login", default=settings.bot_login or DEFAULT_BOT_LOGIN,
                       help="login the token comments as; only its comments are edited or counted")
        q.add_argument("--retries", type=int, default=3, help="retries after a 5xx answer")
        q.add_argument("--backoff", type=float, default=2.0, help="seconds before the first retry (doubles)")

    c = sub.add_parser("comment", help="create or edit the one Easel comment on a PR from a result.json",
                       description="Validate RESULT_JSON, render it and keep exactly one bot comment on the PR "
                                   "(token from GITHUB_TOKEN).")
    c.add_argument("result_json", type=Path, metavar="RESULT_JSON", help="the result.json to report")
    common(c)
    add_leaderboard_option(c, "where the result would rank (skipped when the file is absent)")
    c.add_argument("--evaluation", choices=EVALUATION_RESULTS,
                   help="how the evaluation job ended (needs.evaluate.result); RESULT_JSON may then be absent "
                        "(default: read RESULT_JSON only)")
    c.add_argument("--gallery-url", help="the run's gallery artifact URL (actions/upload-artifact's artifact-url "
                                         "output), linked in the comment; empty or foreign URLs are ignored (default: no link)")
    c.set_defaults(func=_cmd_comment)

    g = sub.add_parser("gate", help="allow one evaluation or say why not / when the next is possible (exit 2)",
                       description="Check team ownership (teams.yaml), count the team's evaluations of the last "
                                   "24 h recorded in the bot's comments on its PRs, update the PR's comment, "
                                   "then remove the approval label.")
    common(g)
    g.add_argument("--team", help="team id (default: from teams.yaml and the PR's submissions/<team>/ files)")
    add_teams_option(g)
    g.add_argument("--remove-label", help="approval label to remove once the decision is posted (default: none)")
    g.add_argument("--retry-within", type=float, default=0, metavar="S",
                   help="on a GitHub rate limit that lifts within S seconds, wait and retry once (default: 0, never)")
    g.set_defaults(func=_cmd_gate)

    b = sub.add_parser("bind", help="record the scored commit (and PR) in a result.json",
                       description="Write submission.commit and submission.pr into RESULT_JSON: the commit "
                                   "the evaluation read, so the leaderboard entry names exactly it.")
    b.add_argument("result_json", type=Path, metavar="RESULT_JSON", help="the result.json to bind (rewritten)")
    which = b.add_mutually_exclusive_group(required=True)
    which.add_argument("--commit", help="the commit whose content was scored (40 hex; one of --commit and "
                                        "--folder, no default)")
    which.add_argument("--folder", type=Path,
                       help="bind to the last commit of this checkout that changed this submission folder "
                            "(one of --commit and --folder, no default)")
    b.add_argument("--pr", type=int, help="the pull request of that content, if known (default: none)")
    b.set_defaults(func=_cmd_bind)

    f = sub.add_parser("find-pr", help="print the number of the PR that merged a commit (nothing if none)",
                       description="One API request: the PR GitHub associates with --commit, the commit the "
                                   "evaluation recorded in result.json (publish's commit job).")
    common(f, pr=False)
    f.add_argument("--commit", required=True, help="the merged commit (40 hex)")
    f.set_defaults(func=_cmd_find_pr)
