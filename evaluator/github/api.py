"""Talking to GitHub's REST API with bounded retries and coded errors.

The token comes from ``GITHUB_TOKEN`` and is never printed: error messages are
built from the HTTP status and the rate-limit headers only.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import EaselError
from .record import iso, utc_now

DEFAULT_BOT_LOGIN = "github-actions[bot]"  # who GITHUB_TOKEN comments as in Actions
PER_PAGE = 100  # GitHub's largest page: a listing of n items costs ceil(n / 100) requests


def pause(seconds: float) -> None:
    """Wait ``seconds`` (s); the one place the bot sleeps, so tests can replace it."""
    time.sleep(seconds)


@dataclass
class BotOptions:
    """How the bot talks to GitHub. ``backoff_s`` doubles after each 5xx; 0 in tests."""

    api_url: str = "https://api.github.com"
    retries: int = 3
    backoff_s: float = 2.0
    bot_login: str = DEFAULT_BOT_LOGIN
    throttle: bool = True
    sleep: Callable[[float], None] = field(default=lambda seconds: pause(seconds), repr=False)


def _header(headers: Any, name: str) -> str | None:
    for key, value in dict(headers or {}).items():
        if str(key).lower() == name.lower():
            return str(value)
    return None


def reset_time(headers: Any, now: dt.datetime) -> dt.datetime | None:
    """When GitHub's rate limit resets, from ``x-ratelimit-reset`` (epoch s) or ``retry-after`` (s)."""
    reset = _header(headers, "x-ratelimit-reset")
    if reset and reset.strip().isdigit():
        return dt.datetime.fromtimestamp(int(reset), dt.timezone.utc)
    retry_after = _header(headers, "retry-after")
    if retry_after and retry_after.strip().isdigit():
        return now + dt.timedelta(seconds=int(retry_after))
    return None


class RateLimited(EaselError):
    """GitHub's rate limit answered (403/429); ``reset`` is when it lifts (UTC) if GitHub said so."""

    def __init__(self, status: int, reset: dt.datetime | None):
        when = f"; the limit resets at {iso(reset)}" if reset else ""
        super().__init__("E_GITHUB_FORBIDDEN", f"GitHub rate limit reached ({status}){when}",
                         detail=iso(reset) if reset else str(status))
        self.reset = reset


def api_error(status: int, headers: Any = None) -> EaselError:
    """The coded error for one failed GitHub answer (status and headers only: never the token)."""
    if status == 401:
        return EaselError("E_GITHUB_AUTH", "GitHub answered 401: the token is missing, expired or revoked",
                          detail="401")
    if status in (403, 429):
        reset = reset_time(headers, utc_now())
        if status == 429 or _header(headers, "x-ratelimit-remaining") == "0" or reset is not None:
            return RateLimited(status, reset)
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
    E_GITHUB_SERVER; other failures map through :func:`api_error` at once
    (a rate limit is never retried here: the caller decides, see the gate).
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
    """A PyGithub client for ``options.api_url``, token from ``GITHUB_TOKEN``, pages of 100.

    PyGithub's own retry is off: :func:`call_github` owns retries so they are
    bounded and never sleep in tests.
    """
    from github import Auth, Github

    if token is None:  # a library caller; the CLI passes its settings' token
        from ..settings import Settings

        token = Settings.from_environ().github_token
    if not token.strip():
        raise EaselError("E_GITHUB_AUTH", "GITHUB_TOKEN is not set", detail="GITHUB_TOKEN")
    throttle = {} if options.throttle else {"seconds_between_requests": None, "seconds_between_writes": None}
    return Github(auth=Auth.Token(token.strip()), base_url=options.api_url.rstrip("/"), retry=None,
                  timeout=30, lazy=True, per_page=PER_PAGE, **throttle)


def pr_of_commit(repo_name: str, commit: str, options, token: str | None = None) -> int | None:
    """The PR that merged ``commit`` (the bound one, never a later lookup of the folder), or None.

    One request: ``GET /repos/{repo}/commits/{commit}/pulls``; the lowest
    merged PR number wins when GitHub lists several.
    """
    from ..vocab import HEX40_RE, REPO_RE

    if not REPO_RE.match(repo_name or ""):
        raise EaselError("E_GITHUB_NOT_FOUND", "--repo must be OWNER/NAME", detail="repo")
    if not HEX40_RE.match(commit or ""):
        raise EaselError("E_SHA_FORMAT", "--commit is not 40 lowercase hex characters", detail="commit")
    client = make_client(options, token)

    def step():
        pulls = client.get_repo(repo_name, lazy=True).get_commit(commit).get_pulls()
        return sorted(p.number for p in pulls)

    numbers = call_github(step, options)
    return numbers[0] if numbers else None
