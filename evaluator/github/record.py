"""The evaluation record hidden in the bot's sticky comment, and the sliding 24 h limit.

Each sticky comment carries one hidden line::

    <!-- easel:evaluations {"author": "alice", "team": "acme", "times": [ISO, ...],
                           "evals": [{"at": ISO, "key": "<sha>:<run>", "counted": true}, ...]} -->

``evals`` lists this PR's approved evaluations: when (UTC), which approval
(head SHA + workflow run id, so a re-run of the same run is never recorded
twice) and whether it counts towards the daily limit (it does not when the
evaluation ended at Easel's or the runner's fault; ``why`` says which).
``times`` repeats the counted approval times for readers of the older format.
Only the bot login's comments are read, so participants cannot forge it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from ..schema import parse_time
from ..vocab import COMMENT_MARKER, HEX40_RE, ID_RE, LOGIN_RE, RECORD_PREFIX

WINDOW = dt.timedelta(hours=24)
MAX_TIMES = 100  # a record never grows without bound
KEEP = 30 * WINDOW  # evaluations older than this are dropped from a record
_RECORD_RE = re.compile(re.escape(RECORD_PREFIX) + r"(\{[^\n]{0,16000}?\}) -->")
_KEY_RE = re.compile(r"^[0-9a-f]{40}:[0-9]{1,20}$")
_WHY_RE = re.compile(r"^[A-Za-z0-9_ .,:'()-]{1,120}$")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def time_or_none(text: Any) -> dt.datetime | None:
    """An ISO 8601 time string as an aware UTC datetime (:func:`evaluator.schema.parse_time`; no zone
    means UTC), or None for anything else: a hostile record entry is dropped, never an error."""
    if not isinstance(text, str):
        return None
    try:
        return parse_time(text)
    except ValueError:
        return None


def approval_key(head_sha: str | None, run_id: int | None) -> str | None:
    """``<head sha>:<run id>``: one approval of one commit; None when either is unknown."""
    if head_sha is None or run_id is None or not HEX40_RE.match(head_sha):
        return None
    return f"{head_sha}:{int(run_id)}"


@dataclass
class ApprovedEvaluation:
    """One approved evaluation: approval time, its key, whether it counts, and why not."""

    at: dt.datetime
    key: str | None = None
    counted: bool = True
    why: str | None = None

    def as_dict(self) -> dict:
        data: dict[str, Any] = {"at": iso(self.at), "counted": self.counted}
        if self.key:
            data["key"] = self.key
        if self.why:
            data["why"] = self.why
        return data


class Record:
    """The evaluations recorded on one PR: team, PR author and :class:`ApprovedEvaluation` list."""

    def __init__(self, team: str | None = None, author: str | None = None, times=(),
                 evaluations: list[ApprovedEvaluation] | None = None):
        self.team, self.author = team, author
        self.evaluations = list(evaluations) if evaluations is not None else [ApprovedEvaluation(t) for t in times]

    @property
    def times(self) -> list[dt.datetime]:
        """Approval times that count towards the limit, oldest first."""
        return sorted(e.at for e in self.evaluations if e.counted)

    def find(self, key: str | None) -> ApprovedEvaluation | None:
        return next((e for e in self.evaluations if key and e.key == key), None)

    def line(self) -> str:
        kept = sorted(self.evaluations, key=lambda e: e.at)[-MAX_TIMES:]
        data = {"team": self.team, "author": self.author, "times": [iso(e.at) for e in kept if e.counted],
                "evals": [e.as_dict() for e in kept]}
        return RECORD_PREFIX + json.dumps(data, sort_keys=True, separators=(",", ":")) + " -->"


def _evaluation(raw: Any) -> ApprovedEvaluation | None:
    if not isinstance(raw, dict):
        return None
    at = time_or_none(raw.get("at"))
    if at is None:
        return None
    key = raw.get("key") if isinstance(raw.get("key"), str) and _KEY_RE.match(raw["key"]) else None
    why = raw.get("why") if isinstance(raw.get("why"), str) and _WHY_RE.match(raw["why"]) else None
    return ApprovedEvaluation(at, key, raw.get("counted") is not False, why)


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
    team = data.get("team") if isinstance(data.get("team"), str) and ID_RE.match(data["team"]) else None
    author = data.get("author") if isinstance(data.get("author"), str) and LOGIN_RE.match(data["author"]) else None
    if isinstance(data.get("evals"), list):
        evaluations = [e for e in map(_evaluation, data["evals"][:MAX_TIMES]) if e is not None]
        return Record(team, author, evaluations=sorted(evaluations, key=lambda e: e.at))
    raw = data.get("times") if isinstance(data.get("times"), list) else []
    times = sorted(t for t in (time_or_none(x) for x in raw[:MAX_TIMES]) if t is not None)
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


def with_record(body: str, record: Record | None) -> str:
    """``body`` (starting with the comment marker) with the hidden evaluation record appended."""
    body = _RECORD_RE.sub("", body).rstrip() + "\n"
    if not body.startswith(COMMENT_MARKER):
        body = COMMENT_MARKER + "\n" + body
    return body if record is None else body + "\n" + record.line() + "\n"


def in_window(times: list[dt.datetime], now: dt.datetime) -> list[dt.datetime]:
    return [t for t in times if now - WINDOW < t <= now]


__all__ = ["WINDOW", "ApprovedEvaluation", "Record", "approval_key", "in_window", "iso", "next_allowed", "parse_record",
           "time_or_none", "utc_now", "with_record"]
