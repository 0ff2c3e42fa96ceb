"""The score bot: one sticky comment per PR, the per-team rate limit, GitHub API errors.

``easel bot comment`` posts (or edits) the PR's single Easel comment, found
among the bot's own comments by :data:`MARKER`. ``easel bot gate`` applies the
daily evaluation limit before the GPU job runs.

Where the rate-limit record lives: in the bot's own sticky comments. Each
carries one hidden line ``<!-- easel:evaluations {"team": ..., "author": ...,
"times": [ISO, ...]} -->`` with that PR's approved evaluations. The gate counts
a team's (and the PR author's) evaluations of the last 24 h across the
repository's comments by the bot login only, so participants cannot forge or
erase the record (they cannot edit the bot's comments, and theirs are ignored),
and no extra storage, branch or secret is needed.

The token comes from ``GITHUB_TOKEN`` and is never printed: error messages
are built from the HTTP status and rate-limit headers only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .cli import command_group
from .errors import EXIT_INVALID, EaselError

MARKER = "<!-- easel:score-comment -->"
RECORD_PREFIX = "<!-- easel:evaluations "
_RECORD_RE = re.compile(r"<!-- easel:evaluations (\{[^\n]{0,8000}?\}) -->")
_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_LOGIN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}(\[bot\])?$")
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,50}$")
DEFAULT_BOT_LOGIN = "github-actions[bot]"  # who GITHUB_TOKEN comments as in Actions
WINDOW = dt.timedelta(hours=24)
MAX_TIMES = 100  # a record never grows without bound


@dataclass
class BotOptions:
    """How the bot talks to GitHub. ``backoff_s`` doubles after each 5xx; 0 in tests."""

    api_url: str = "https://api.github.com"
    retries: int = 3
    backoff_s: float = 2.0
    bot_login: str = DEFAULT_BOT_LOGIN
    throttle: bool = True
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)


# --- time and the evaluation record -----------------------------------------------------------

def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: Any) -> dt.datetime | None:
    if not isinstance(text, str) or len(text) > 40:
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


@dataclass
class Record:
    """The evaluations recorded on one PR: team, PR author, approval times (UTC)."""

    team: str | None = None
    author: str | None = None
    times: list[dt.datetime] = field(default_factory=list)

    def line(self) -> str:
        data = {"team": self.team, "author": self.author, "times": [iso(t) for t in self.times[-MAX_TIMES:]]}
        return RECORD_PREFIX + json.dumps(data, sort_keys=True, separators=(",", ":")) + " -->"


def parse_record(body: str | None) -> Record | None:
    """The evaluation record hidden in a bot comment body, or None; malformed fields are dropped."""
    match = _RECORD_RE.search(body or "")
    if not match:
        return None
    try:
        data = json.loads(match.group(1))
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    team = data.get("team") if isinstance(data.get("team"), str) and _NAME_RE.match(data["team"]) else None
    author = data.get("author") if isinstance(data.get("author"), str) and _LOGIN_RE.match(data["author"]) else None
    raw = data.get("times") if isinstance(data.get("times"), list) else []
    times = sorted(t for t in (_parse_time(x) for x in raw[:MAX_TIMES]) if t is not None)
    return Record(team, author, times)


def next_allowed(times: list[dt.datetime], limit: int, now: dt.datetime) -> dt.datetime | None:
    """When the next evaluation is possible given past ``times``; None if one is possible ``now``.

    ``limit`` evaluations per sliding 24 h window: with n >= limit in the
    window, the (n - limit + 1)-th oldest must age out first.
    """
    recent = sorted(t for t in times if now - WINDOW < t <= now)
    if len(recent) < limit:
        return None
    return recent[len(recent) - limit] + WINDOW


# --- GitHub API with clear errors ---------------------------------------------------------------

def _header(headers: Any, name: str) -> str | None:
    for key, value in dict(headers or {}).items():
        if str(key).lower() == name.lower():
            return str(value)
    return None


def _reset_time(headers: Any, now: dt.datetime) -> str | None:
    reset = _header(headers, "x-ratelimit-reset")
    if reset and reset.strip().isdigit():
        return iso(dt.datetime.fromtimestamp(int(reset), dt.timezone.utc))
    retry_after = _header(headers, "retry-after")
    if retry_after and retry_after.strip().isdigit():
        return iso(now + dt.timedelta(seconds=int(retry_after)))
    return None


def api_error(status: int, headers: Any = None) -> EaselError:
    """The coded error for one failed GitHub answer (status and headers only: never the token)."""
    if status == 401:
        return EaselError("E_GITHUB_AUTH", "GitHub answered 401: the token is missing, expired or revoked",
                          detail="401")
    if status in (403, 429):
        reset = _reset_time(headers, utc_now())
        limited = status == 429 or _header(headers, "x-ratelimit-remaining") == "0" or reset is not None
        if limited:
            when = f"; the limit resets at {reset}" if reset else ""
            return EaselError("E_GITHUB_FORBIDDEN", f"GitHub rate limit reached ({status}){when}",
                              detail=reset or str(status))
        return EaselError("E_GITHUB_FORBIDDEN", f"GitHub refused the request ({status}): the token lacks a "
                                                "permission (pull-requests: write)", detail=str(status))
    if status == 404:
        return EaselError("E_GITHUB_NOT_FOUND", "GitHub answered 404 for the repository or pull request",
                          detail="404")
    if status >= 500:
        return EaselError("E_GITHUB_SERVER", f"GitHub answered {status}", detail=str(status))
    return EaselError("E_GITHUB_FORBIDDEN", f"GitHub refused the request ({status})", detail=str(status))


def call_github(operation: Callable[[], Any], options: BotOptions) -> Any:
    """Run ``operation`` (a whole idempotent step of API calls), retrying 5xx and connection errors.

    At most ``options.retries`` retries with exponential backoff, then
    E_GITHUB_SERVER; other failures map through :func:`api_error` at once.
    """
    from github.GithubException import GithubException
    from requests.exceptions import RequestException

    delay = options.backoff_s
    for attempt in range(options.retries + 1):
        try:
            return operation()
        except GithubException as exc:
            error = api_error(exc.status or 0, exc.headers)
            if error.code != "E_GITHUB_SERVER":
                raise error from None
        except RequestException:
            error = EaselError("E_GITHUB_SERVER", "GitHub could not be reached", detail="connection")
        if attempt == options.retries:
            raise EaselError("E_GITHUB_SERVER", f"{error.message}; gave up after {options.retries} retries",
                             detail=error.detail) from None
        print(f"GitHub: {error.message}; retrying in {delay:.1f} s", file=sys.stderr)
        options.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")


def make_client(options: BotOptions, token: str | None = None):
    """A PyGithub client for ``options.api_url``, token from ``GITHUB_TOKEN``.

    PyGithub's own retry is off: :func:`call_github` owns retries so they are
    bounded and never sleep in tests.
    """
    from github import Auth, Github

    token = token if token is not None else os.environ.get("GITHUB_TOKEN", "")
    if not token.strip():
        raise EaselError("E_GITHUB_AUTH", "GITHUB_TOKEN is not set", detail="GITHUB_TOKEN")
    throttle = {} if options.throttle else {"seconds_between_requests": None, "seconds_between_writes": None}
    return Github(auth=Auth.Token(token.strip()), base_url=options.api_url.rstrip("/"), retry=None,
                  timeout=30, lazy=True, **throttle)


# --- the sticky comment ------------------------------------------------------------------------

def _is_ours(comment, bot_login: str) -> bool:
    user = getattr(comment, "user", None)
    return user is not None and user.login == bot_login and MARKER in (comment.body or "")


def find_sticky(issue, bot_login: str):
    """The bot's earliest marked comment on ``issue`` (the one to edit), or None."""
    for comment in issue.get_comments():
        if _is_ours(comment, bot_login):
            return comment
    return None


def with_record(body: str, record: Record | None) -> str:
    """``body`` (starting with MARKER) with the hidden evaluation record appended."""
    body = _RECORD_RE.sub("", body).rstrip() + "\n"
    if not body.startswith(MARKER):
        body = MARKER + "\n" + body
    return body if record is None else body + "\n" + record.line() + "\n"


def upsert_comment(client, repo_name: str, number: int, body_for: Callable[[Record | None], str],
                   options: BotOptions) -> tuple[str, int]:
    """Create or edit the PR's one sticky comment; ``body_for(old_record)`` builds the new body.

    Returns ("created" | "updated", comment id). Re-running edits the same
    comment; a comment without the marker, or by anyone but the bot, is never touched.
    """
    def step():
        issue = client.get_repo(repo_name, lazy=True).get_issue(number)
        existing = find_sticky(issue, options.bot_login)
        old = parse_record(existing.body) if existing is not None else None
        body = body_for(old)
        if existing is None:
            return "created", issue.create_comment(body).id
        existing.edit(body)
        return "updated", existing.id

    return call_github(step, options)


def post_result(repo_name: str, number: int, result_path: str | os.PathLike, options: BotOptions,
                head_sha: str | None = None, competition_path: Path | None = None,
                leaderboard_path: Path | None = None, token: str | None = None) -> tuple[str, int]:
    """`easel bot comment`: validate result.json (untrusted), render it, create or edit the sticky comment."""
    from .config import default_competition_path, load_competition
    from .report import render_comment
    from .result import load_result

    _check_target(repo_name, number)
    if head_sha is not None and not _SHA_RE.match(head_sha):
        raise EaselError("E_SHA_FORMAT", "--head-sha is not 40 lowercase hex characters", detail="head-sha")
    result = load_result(result_path)
    competition_path = competition_path or default_competition_path()
    competition = load_competition(competition_path) if Path(competition_path).is_file() else None
    board = None
    if leaderboard_path is not None and Path(leaderboard_path).is_file():
        from .leaderboard import load_leaderboard

        board = load_leaderboard(leaderboard_path)
    rendered = render_comment(result, competition, board, head_sha=head_sha)
    client = make_client(options, token)
    # The record is carried over unchanged: the gate, not the comment, counts evaluations.
    return upsert_comment(client, repo_name, number, lambda old: with_record(rendered, old), options)


def _check_target(repo_name: str, number: int) -> None:
    if not _REPO_RE.match(repo_name or ""):
        raise EaselError("E_GITHUB_NOT_FOUND", "--repo must be OWNER/NAME", detail="repo")
    if not 0 < number < 10**9:
        raise EaselError("E_GITHUB_NOT_FOUND", "--pr must be a positive number", detail="pr")


# --- the rate-limit gate -----------------------------------------------------------------------

def team_of_files(paths: list[str]) -> str | None:
    """The one team whose submissions/<team>/<model>/ the PR touches, or None if not exactly one."""
    teams = {p.split("/")[1] for p in paths if p.startswith("submissions/") and p.count("/") >= 3}
    teams = {t for t in teams if _NAME_RE.match(t)}
    return teams.pop() if len(teams) == 1 else None


def recorded_times(client, repo_name: str, team: str | None, author: str | None, now: dt.datetime,
                   options: BotOptions, exclude_comment: int | None = None) -> list[dt.datetime]:
    """Approval times of the last 24 h recorded by the bot for ``team`` or ``author`` across the repo."""
    repo = client.get_repo(repo_name, lazy=True)
    times: list[dt.datetime] = []
    # `since` filters on updated_at: every comment that gained a time in the window was updated in it.
    for comment in repo.get_issues_comments(sort="updated", direction="desc", since=now - WINDOW):
        if comment.id == exclude_comment or not _is_ours(comment, options.bot_login):
            continue
        record = parse_record(comment.body)
        if record and ((team and record.team == team) or (author and record.author == author)):
            times += [t for t in record.times if now - WINDOW < t <= now]
    return times


def gate(repo_name: str, number: int, limit: int, options: BotOptions, team: str | None = None,
         head_sha: str | None = None, remove_label: str | None = None, token: str | None = None,
         now: dt.datetime | None = None) -> tuple[bool, dt.datetime | None, int]:
    """`easel bot gate`: remove the approval label, then allow or refuse one evaluation.

    Counts the team's and the PR author's recorded evaluations of the last 24 h
    (this PR's own record included). Allowed: the time is appended to this
    PR's record and the sticky comment says the commit is queued. Refused:
    the comment says when the next evaluation is possible. Returns
    (allowed, next possible time or None, evaluations used including this one).
    """
    _check_target(repo_name, number)
    if head_sha is not None and not _SHA_RE.match(head_sha):
        raise EaselError("E_SHA_FORMAT", "--head-sha is not 40 lowercase hex characters", detail="head-sha")
    if remove_label is not None and not _LABEL_RE.match(remove_label):
        raise EaselError("E_CONFIG", "--remove-label is not a plain label name", detail="label")
    now = now or utc_now()
    client = make_client(options, token)

    def facts():
        repo = client.get_repo(repo_name, lazy=True)
        pull = repo.get_pull(number)
        if remove_label:
            try:  # every new push needs a new approval: the label is single-use
                repo.get_issue(number).remove_from_labels(remove_label)
            except Exception as exc:  # noqa: BLE001 - a label already gone is fine; others re-raised
                if getattr(exc, "status", None) != 404:
                    raise
        login = pull.user.login if pull.user and _LOGIN_RE.match(pull.user.login or "") else None
        found = team if team is not None else team_of_files([f.filename for f in pull.get_files()])
        return login, found

    author, team = call_github(facts, options)
    if team is not None and not _NAME_RE.match(team):
        raise EaselError("E_META_NAME", "--team is not a safe identifier", detail="team")
    times = call_github(lambda: recorded_times(client, repo_name, team, author, now, options), options)
    verdict: dict[str, Any] = {}

    def body_for(old: Record | None) -> str:
        own = old or Record()
        # This PR's times already count via the repo scan; add only what the scan missed (none normally).
        counted = sorted(set(times) | {t for t in own.times if now - WINDOW < t <= now})
        later = next_allowed(counted, limit, now)
        record = Record(team or own.team, author or own.author, own.times)
        who = f"team `{team}`" if team else f"@{author}" if author else "this pull request"
        if later is not None:
            verdict.update(allowed=False, later=later, used=len(counted))
            text = (f"⏳ **Evaluation limit reached**: {who} has used {len(counted)} of {limit} evaluations "
                    f"in the last 24 hours. The next evaluation is possible after **{iso(later)}** "
                    f"(UTC); a maintainer can then add the label again.")
        else:
            record.times = [t for t in own.times if now - 30 * WINDOW < t] + [now]
            verdict.update(allowed=True, later=None, used=len(counted) + 1)
            sha = f" `{head_sha}`" if head_sha else ""
            text = (f"🔄 Commit{sha} was approved for evaluation ({len(counted) + 1} of {limit} "
                    f"for {who} in the last 24 hours). The scores will replace this message.")
        return with_record(f"{MARKER}\n## Easel evaluation\n\n{text}\n", record)

    upsert_comment(client, repo_name, number, body_for, options)
    return verdict["allowed"], verdict["later"], verdict["used"]


# --- CLI ---------------------------------------------------------------------------------------

def _options(args) -> BotOptions:
    return BotOptions(api_url=args.api_url, retries=args.retries, backoff_s=args.backoff,
                      bot_login=args.bot_login, throttle=args.backoff > 0)


def _cmd_comment(args) -> int:
    action, comment_id = post_result(args.repo, args.pr, args.result_json, _options(args), head_sha=args.head_sha,
                                     competition_path=args.competition, leaderboard_path=args.leaderboard)
    print(f"{action} comment {comment_id} on {args.repo}#{args.pr}")
    return 0


def _cmd_gate(args) -> int:
    from .config import default_competition_path, load_competition

    limit = load_competition(args.competition or default_competition_path()).limits.evaluations_per_day
    allowed, later, used = gate(args.repo, args.pr, limit, _options(args), team=args.team, head_sha=args.head_sha,
                                remove_label=args.remove_label)
    if allowed:
        print(f"evaluation {used} of {limit} in 24 h: allowed")
        return 0
    error = EaselError("E_RATE_LIMIT", f"{used} of {limit} evaluations used; next possible after {iso(later)}",
                       detail=iso(later))
    from .cli import report_error

    report_error(error)
    return EXIT_INVALID


def register(subparsers) -> None:
    """`easel bot comment` and `easel bot gate`."""
    sub = command_group(subparsers, "bot", "post the sticky PR comment; apply the daily evaluation limit")

    def common(q):
        q.add_argument("--repo", required=True, help="OWNER/NAME")
        q.add_argument("--pr", type=int, required=True, help="pull request number")
        q.add_argument("--api-url", default=os.environ.get("GITHUB_API_URL", "https://api.github.com"),
                       help="REST API root (GitHub Enterprise, tests); default $GITHUB_API_URL or api.github.com")
        q.add_argument("--head-sha", help="the evaluated commit (40 hex), named in the comment")
        q.add_argument("--competition", type=Path, help="competition.yaml (default: ./ or the repo's)")
        q.add_argument("--bot-login", default=os.environ.get("EASEL_BOT_LOGIN", DEFAULT_BOT_LOGIN),
                       help="login the token comments as; only its comments are edited or counted")
        q.add_argument("--retries", type=int, default=3, help="retries after a 5xx answer")
        q.add_argument("--backoff", type=float, default=2.0, help="seconds before the first retry (doubles)")

    c = sub.add_parser("comment", help="create or edit the one Easel comment on a PR from a result.json",
                       description="Validate RESULT_JSON, render it and keep exactly one bot comment on the PR "
                                   "(token from GITHUB_TOKEN).")
    c.add_argument("result_json", type=Path, metavar="RESULT_JSON")
    common(c)
    c.add_argument("--leaderboard", type=Path, default=Path("leaderboard.yaml"))
    c.set_defaults(func=_cmd_comment)

    g = sub.add_parser("gate", help="allow one evaluation or say when the next is possible (exit 2)",
                       description="Remove the approval label, count the team's evaluations of the last 24 h "
                                   "recorded in the bot's comments, and update the PR's comment.")
    common(g)
    g.add_argument("--team", help="team id (default: from the PR's changed submissions/<team>/ files)")
    g.add_argument("--remove-label", help="approval label to remove from the PR")
    g.set_defaults(func=_cmd_gate)
