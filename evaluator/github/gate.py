"""`easel bot gate`: allow one evaluation of an approved PR, or say why not, within the token's budget.

Steps, in this order:

1. Facts (2 requests): the PR (author, current head) and its changed files (pages of 100).
2. Ownership: the team whose folder the PR touches, from teams.yaml of the trusted checkout
   (:func:`evaluator.teams.check_ownership`).
3. The team's record: only the sticky comments of PRs *by the team's members*
   updated in the last 24 h: one listing of the repository's PRs by update
   time (pages of 100, stopped at the window's edge), then one comment page per
   such PR. Every approval edits the PR (the label is removed), so a PR holding
   an approval of the window was updated in it.
4. The decision (:func:`decide`, pure) and its rendering (:func:`render`), written to the sticky comment.
5. Only then the single-use label is removed.

A GitHub rate limit (403/429) before the decision leaves the label in place and
posts a comment saying when the gate retries and why; the approval is keyed by
head SHA + workflow run id, so the retry, or "Re-run all jobs", never counts twice.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from ..errors import CODES, EaselError
from ..teams import Team, check_ownership
from ..vocab import COMMENT_MARKER, ID_RE, LOGIN_RE, submission_of
from .api import BotOptions, RateLimited, call_github, make_client
from .record import (KEEP, WINDOW, ApprovedEvaluation, Record, approval_key, in_window, iso, next_allowed, parse_record,
                     utc_now, with_record)
from .sticky import check_target, find_sticky, is_ours, upsert_comment


LABEL_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,50}$")


@dataclass
class Decision:
    """The gate's verdict for one approval. ``used`` counts this one when allowed."""

    allowed: bool
    limit: int
    used: int
    who: str
    record: Record
    head_sha: str | None = None
    later: dt.datetime | None = None      # limit reached: when the next evaluation is possible
    refusal: EaselError | None = None     # ownership or head refused
    repeat: bool = False                  # this approval (SHA + run) was already counted


def team_of_files(paths: list[str]) -> str | None:
    """The one team whose submissions/<team>/<model>/ the PR touches, or None if not exactly one."""
    teams = {owner[0] for owner in map(submission_of, paths) if owner}
    return teams.pop() if len(teams) == 1 else None


def decide(own: Record | None, others: list[dt.datetime], limit: int, now: dt.datetime, team: str | None,
           author: str | None, key: str | None = None, head_sha: str | None = None,
           refusal: EaselError | None = None) -> Decision:
    """The pure gate decision (no I/O).

    ``own``: this PR's record; ``others``: counted approval times of the
    team's (or author's) other PRs; ``key``: head SHA + run id of this
    approval. An approval already in ``own`` under ``key`` is allowed again
    without counting (a re-run); a refusal or a reached limit records nothing.
    """
    own = own or Record()
    record = Record(team or own.team, author or own.author, evaluations=list(own.evaluations))
    who = f"team `{team}`" if team else f"@{author}" if author else "this pull request"
    counted = sorted(in_window(others, now) + in_window(own.times, now))
    common = dict(limit=limit, who=who, record=record, head_sha=head_sha)
    if refusal is not None:
        return Decision(False, used=len(counted), refusal=refusal, **common)
    if own.find(key) is not None:
        return Decision(True, used=len(counted), repeat=True, **common)
    later = next_allowed(counted, limit, now)
    if later is not None:
        return Decision(False, used=len(counted), later=later, **common)
    record.evaluations = [e for e in record.evaluations if now - KEEP < e.at] + [ApprovedEvaluation(now, key)]
    return Decision(True, used=len(counted) + 1, **common)


def render(decision: Decision) -> str:
    """The sticky comment body for ``decision``, with the hidden record."""
    sha = f" `{decision.head_sha}`" if decision.head_sha else ""
    if decision.refusal is not None:
        from ..report import code, md

        info = CODES[decision.refusal.code]
        detail = f" ({code(decision.refusal.detail)})" if decision.refusal.detail else ""
        text = (f"⛔ **Not evaluated: {decision.refusal.code}**{detail}. {md(info.sentence)}\n\n"
                f"**How to fix:** {md(info.hint)} (README, section *Teams*.)")
    elif decision.later is not None:
        text = (f"⏳ **Evaluation limit reached**: {decision.who} has used {decision.used} of {decision.limit} "
                f"evaluations in the last 24 hours. The next evaluation is possible after "
                f"**{iso(decision.later)}** (UTC); a maintainer can then add the label again.")
    else:
        again = " This is a re-run of an approval already counted: it is not counted again." if decision.repeat else ""
        text = (f"🔄 Commit{sha} was approved for evaluation ({decision.used} of {decision.limit} for "
                f"{decision.who} in the last 24 hours).{again} The scores will replace this message.\n\n"
                f"**Reviewers of the `evaluation` environment:** approve the run only if{sha or ' the commit'} "
                "is the head commit you reviewed on the PR's *Commits* tab; if the PR moved since, reject "
                "the run and add the label again after reviewing the new head.")
    return with_record(f"{COMMENT_MARKER}\n## Easel evaluation\n\n{text}\n", decision.record)


def render_rate_limited(reset: dt.datetime | None, head_sha: str | None, run_id: int | None,
                        automatic: bool, label: str | None) -> str:
    """The comment posted when GitHub's API limit stopped the gate before its decision."""
    when = f"**{iso(reset)}** (UTC)" if reset else "the limit resets (within the hour)"
    how = ("The gate waits and retries automatically then." if automatic else
           "A maintainer re-runs this workflow run (*Re-run all jobs*) after that time.")
    kept = f"The `{label}` label stays on; " if label else ""
    key = f" (commit `{head_sha}`, run {run_id})" if head_sha and run_id else ""
    return (f"{COMMENT_MARKER}\n## Easel evaluation\n\n⏸️ **Approval received, not yet decided**: GitHub's API "
            f"rate limit for this repository's token is used up until {when}. {kept}{how} The approval is "
            f"counted at most once{key}.\n")


@dataclass
class PullFacts:
    author: str | None
    head_sha: str | None
    paths: list[str]


def read_pull(client, repo_name: str, number: int) -> PullFacts:
    """Author, current head and changed paths of PR ``number`` (1 + ceil(files / 100) requests)."""
    pull = client.get_repo(repo_name, lazy=True).get_pull(number)
    login = pull.user.login if pull.user and LOGIN_RE.match(pull.user.login or "") else None
    return PullFacts(login, pull.head.sha if pull.head else None, [f.filename for f in pull.get_files()])


def team_times(client, repo_name: str, number: int, team: str | None, author: str | None,
               members: set[str], now: dt.datetime, options: BotOptions) -> list[dt.datetime]:
    """Counted approval times of the last 24 h on the other PRs of ``members`` (lower-case logins)."""
    repo = client.get_repo(repo_name, lazy=True)
    times: list[dt.datetime] = []
    for pull in repo.get_pulls(state="all", sort="updated", direction="desc"):
        updated = pull.updated_at if pull.updated_at.tzinfo else pull.updated_at.replace(tzinfo=dt.timezone.utc)
        if updated <= now - WINDOW:
            break  # sorted by update time: every later PR is older than the window
        login = (pull.user.login or "").lower() if pull.user else ""
        if pull.number == number or login not in members:
            continue
        sticky = find_sticky(repo.get_issue(pull.number), options.bot_login)
        record = parse_record(sticky.body) if sticky is not None and is_ours(sticky, options.bot_login) else None
        if record and ((team and record.team == team) or (author and record.author == author)):
            times += in_window(record.times, now)
    return times


def _remove_label(client, repo_name: str, number: int, label: str) -> None:
    try:  # every new push needs a new approval: the label is single-use
        client.get_repo(repo_name, lazy=True).get_issue(number).remove_from_labels(label)
    except Exception as exc:  # noqa: BLE001 - a label already gone is fine; others re-raised
        if getattr(exc, "status", None) != 404:
            raise


def gate(repo_name: str, number: int, limit: int, options: BotOptions, team: str | None = None,
         head_sha: str | None = None, remove_label: str | None = None, token: str | None = None,
         now: dt.datetime | None = None, teams: dict[str, Team] | None = None,
         run_id: int | None = None, retry_within_s: float = 0) -> Decision:
    """`easel bot gate`: decide one approval of PR ``number`` and write it to the sticky comment.

    ``limit`` evaluations per team (from ``teams``; without it, the folder's
    team) and PR author per sliding 24 h. The label is removed after the
    decision is posted. On a rate limit that lifts within ``retry_within_s``
    seconds the gate says so, waits and tries once more; otherwise it raises
    :class:`RateLimited` (label kept, comment posted when possible). Other
    failures raise their coded error.
    """
    check_target(repo_name, number, head_sha)
    if remove_label is not None and not LABEL_RE.match(remove_label):
        raise EaselError("E_CONFIG", "--remove-label is not a plain label name", detail="label")
    if team is not None and not ID_RE.match(team):
        raise EaselError("E_META_NAME", "--team is not a safe identifier", detail="team")
    now = now or utc_now()
    client = make_client(options, token)
    key = approval_key(head_sha, run_id)
    try:
        facts = call_github(lambda: read_pull(client, repo_name, number), options)
        refusal = None
        if head_sha and facts.head_sha and facts.head_sha != head_sha:
            refusal = EaselError("E_SHA_MOVED", "the PR's head moved after the label was added", detail="head")
        found = team
        if teams is not None and refusal is None:
            try:
                found = check_ownership(teams, facts.author, facts.paths) or team
            except EaselError as exc:
                refusal = exc
        elif found is None:
            found = team_of_files(facts.paths)
        members = {m.lower() for m in teams[found].members} if teams and found in teams else set()
        members |= {facts.author.lower()} if facts.author else set()
        others = [] if refusal else call_github(
            lambda: team_times(client, repo_name, number, found, facts.author, members, now, options), options)
    except RateLimited as exc:
        wait = (exc.reset - utc_now()).total_seconds() if exc.reset else None
        automatic = wait is not None and wait <= retry_within_s
        _post_quietly(client, repo_name, number, options,
                      render_rate_limited(exc.reset, head_sha, run_id, automatic, remove_label))
        if not automatic:
            raise
        options.sleep(max(wait, 0.0) + 1.0)
        return gate(repo_name, number, limit, options, team=team, head_sha=head_sha, remove_label=remove_label,
                    token=token, teams=teams, run_id=run_id)
    verdict: list[Decision] = []

    def body_for(old: Record | None) -> str:
        verdict.append(decide(old, others, limit, now, found, facts.author, key, head_sha, refusal))
        return render(verdict[-1])

    upsert_comment(client, repo_name, number, body_for, options)
    if remove_label:
        call_github(lambda: _remove_label(client, repo_name, number, remove_label), options)
    return verdict[-1]


def _post_quietly(client, repo_name: str, number: int, options: BotOptions, body: str) -> None:
    """Best effort: explain a rate limit in the sticky comment, keeping its record; never raises."""
    try:
        upsert_comment(client, repo_name, number, lambda old: with_record(body, old), options)
    except EaselError:
        pass  # the limit may block this write too; the job log still says why
