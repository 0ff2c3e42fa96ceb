"""The PR's one sticky comment: found among the bot's own comments by the marker, created or edited."""

from __future__ import annotations

from typing import Callable

from ..errors import EaselError
from ..vocab import COMMENT_MARKER, HEX40_RE, REPO_RE
from .api import BotOptions, call_github
from .record import Record, parse_record


def is_ours(comment, bot_login: str) -> bool:
    """A comment written by the bot login and starting with the marker (participants' copies are ignored)."""
    user = getattr(comment, "user", None)
    return user is not None and user.login == bot_login and (comment.body or "").startswith(COMMENT_MARKER)


def find_sticky(issue, bot_login: str):
    """The bot's earliest marked comment on ``issue`` (the one to edit), or None."""
    for comment in issue.get_comments():
        if is_ours(comment, bot_login):
            return comment
    return None


def read_record(client, repo_name: str, number: int, options: BotOptions) -> Record | None:
    """The evaluation record of PR ``number`` (one comment listing: ceil(comments / 100) requests)."""
    sticky = find_sticky(client.get_repo(repo_name, lazy=True).get_issue(number), options.bot_login)
    return parse_record(sticky.body) if sticky is not None else None


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


def check_target(repo_name: str, number: int, head_sha: str | None = None) -> None:
    """Refuse a malformed --repo, --pr or --head-sha before any request."""
    if not REPO_RE.match(repo_name or ""):
        raise EaselError("E_GITHUB_NOT_FOUND", "--repo must be OWNER/NAME", detail="repo")
    if not 0 < number < 10**9:
        raise EaselError("E_GITHUB_NOT_FOUND", "--pr must be a positive number", detail="pr")
    if head_sha is not None and not HEX40_RE.match(head_sha):
        raise EaselError("E_SHA_FORMAT", "--head-sha is not 40 lowercase hex characters", detail="head-sha")
