"""The evaluation record hidden in the bot's sticky comment, and the sliding 24 h limit.

Each sticky comment carries one hidden line::

    <!-- easel:evaluations {"author": "alice", "team": "acme", "times": [ISO, ...],
                           "evals": [{"at": ISO, "key": "<sha>:<run>", "counted": true}, ...]} -->

``evals`` lists this PR's approved evaluations: when (UTC), which approval
(head SHA + workflow run id, so a re-run of the same run is never recorded
twice) and whether it counts towards the daily limit (it does not when the
evaluation ended at Easel's or the runner's fault; ``why`` says which).
``times`` repeats the counted approval times for readers of the older format.

Participants cannot forge it: only the bot login's comments are read, and only a
record on the body's last line, exactly as :meth:`Record.line` writes it (or as the
bot wrote its older, ``times``-only format), counts; every other string in the body
went through :func:`~evaluator.vocab.neutralise_markers`, so none can look like one.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from ..schema import parse_time
from ..vocab import COMMENT_MARKER, HEX40_RE, ID_RE, LOGIN_RE, RECORD_PREFIX, neutralise_markers

WINDOW = dt.timedelta(hours=24)
MAX_TIMES = 100  # a record never grows without bound
KEEP = 30 * WINDOW  # evaluations older than this are dropped from a record
_RECORD_RE = re.compile(re.escape(RECORD_PREFIX) + r"(\{[^\n]{0,16000}?\}) -->")
_KEY_RE = re.compile(r"^[0-9a-f]{40}:[0-9]{1,20}\Z")
_WHY_RE = re.compile(r"^[A-Za-z0-9_ .,:'()-]{1,120}\Z")
_EVAL_KEYS = {"at", "counted", "key", "why"}


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def time_or_none(text: Any) -> dt.datetime | None:
    """An ISO 8601 time string as an aware UTC datetime (:func:`evaluator.schema.parse_time`; no zone
    means UTC), or None for anything else (parse_record then refuses the record, never an error)."""
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
    """One entry of ``evals`` exactly as :meth:`ApprovedEvaluation.as_dict` writes it, else None."""
    if not isinstance(raw, dict) or not {"at", "counted"} <= set(raw) <= _EVAL_KEYS:
        return None
    at, key, counted, why = time_or_none(raw["at"]), raw.get("key"), raw["counted"], raw.get("why")
    if at is None or not isinstance(counted, bool) or (key is not None and not _valid(_KEY_RE, key)) \
            or (why is not None and not _valid(_WHY_RE, why)):
        return None
    return ApprovedEvaluation(at, key, counted, why)


def _valid(pattern: re.Pattern, value: Any) -> bool:
    return isinstance(value, str) and bool(pattern.match(value))


def _legacy_line(record: Record) -> str:
    """The line of the bot's older format (before ``evals``): team, author, counted times as stored."""
    data = {"team": record.team, "author": record.author, "times": [iso(e.at) for e in record.evaluations]}
    return RECORD_PREFIX + json.dumps(data, sort_keys=True, separators=(",", ":")) + " -->"


def parse_record(body: str | None) -> Record | None:
    """The evaluation record the bot wrote on the last line of a comment ``body``, or None.

    Anything the bot would not have written byte for byte (another key order or spacing, an
    unknown key, one malformed field, a record anywhere but on the last line) is no record,
    so a forged one counts nothing and hides nothing.
    """
    last = (body or "").rstrip().rsplit("\n", 1)[-1]
    match = _RECORD_RE.fullmatch(last)
    if not match:
        return None
    try:
        data = json.loads(match.group(1))
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or set(data) not in ({"team", "author", "times"},
                                                       {"team", "author", "times", "evals"}):
        return None
    team, author = data["team"], data["author"]
    if (team is not None and not _valid(ID_RE, team)) or (author is not None and not _valid(LOGIN_RE, author)):
        return None
    if "evals" in data:
        evaluations = list(map(_evaluation, data["evals"])) if isinstance(data["evals"], list) else [None]
        if None in evaluations:
            return None
        record = Record(team, author, evaluations=sorted(evaluations, key=lambda e: e.at))
        written = record.line()
    else:
        times = list(map(time_or_none, data["times"])) if isinstance(data["times"], list) else [None]
        if None in times:
            return None
        record = Record(team, author, times)
        written = _legacy_line(record)
    return record if written == last else None


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
    """``body`` (starting with the comment marker) with the hidden evaluation record appended.

    Every comment the bot writes passes here: after its own marker no text in the body can
    form an HTML comment (an earlier record is dropped, anything else neutralised), so the
    marker and the last line's record are the only ones in it.
    """
    rest = body[len(COMMENT_MARKER):] if body.startswith(COMMENT_MARKER) else "\n" + body
    body = COMMENT_MARKER + neutralise_markers(_RECORD_RE.sub("", rest)).rstrip() + "\n"
    return body if record is None else body + "\n" + record.line() + "\n"


def in_window(times: list[dt.datetime], now: dt.datetime) -> list[dt.datetime]:
    return [t for t in times if now - WINDOW < t <= now]


__all__ = ["WINDOW", "ApprovedEvaluation", "Record", "approval_key", "in_window", "iso", "next_allowed", "parse_record",
           "time_or_none", "utc_now", "with_record"]
