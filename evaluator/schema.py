"""One small schema kit for every file Easel reads: competition.yaml, submission.yaml,
teams.yaml, leaderboard.yaml, result.json and a dataset's manifest.json.

A :class:`Checker` walks a parsed document; each check names the file, the key path
and what was expected, e.g. ``competition.yaml: tracks[1].ranking.order: expected
'asc' or 'desc', got 'up'``. In the default mode the first failure raises an
:class:`~evaluator.errors.EaselError` with the checker's code; with ``collect=True``
every failure is kept in :attr:`Checker.problems` and the check returns
:data:`INVALID` so the caller can go on and report everything in one run.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any, Iterable

from .errors import EaselError


class _Invalid:
    """What a failed check returns in collect mode (falsy, never a valid value)."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()
_MISSING = object()
REPR_LIMIT = 60


def shown(value: Any) -> str:
    """A short, single-line repr of a hostile value for an error message."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= REPR_LIMIT else text[:REPR_LIMIT - 3] + "..."


def join(path: str, key: Any) -> str:
    """Key path ``a.b`` / ``a[3]``; the top level is the empty path."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def is_number(value: Any) -> bool:
    """A finite int or float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_time(value: Any) -> dt.datetime:
    """An ISO 8601 string, date or datetime as an aware UTC datetime (naive means UTC); ValueError otherwise."""
    if isinstance(value, dt.datetime):
        stamp = value
    elif isinstance(value, dt.date):
        stamp = dt.datetime.combine(value, dt.time())
    elif isinstance(value, str) and len(value) <= 40:
        stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        raise ValueError(f"not a time: {shown(value)}")
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.astimezone(dt.timezone.utc)


class Checker:
    """Checks values of one document; ``code`` is the EaselError code its failures carry."""

    def __init__(self, source: str, code: str, collect: bool = False, detail: str | None = None):
        self.source = source
        self.code = code
        self.collect = collect
        # What a failure carries as its EaselError detail: the key path by default; a fixed name
        # (a file) where the reader of the detail needs that instead (the manifest: see with_detail).
        self.detail = detail
        self.problems: list[EaselError] = []

    def with_detail(self, detail: str) -> "Checker":
        """A checker of the same document (same source, code and problems) whose failures carry
        ``detail`` instead of their key path, e.g. the dataset file a manifest entry describes."""
        other = Checker(self.source, self.code, self.collect, detail)
        other.problems = self.problems
        return other

    # -- failing ------------------------------------------------------------
    def fail(self, path: str, expected: str, got: Any = _MISSING, code: str | None = None) -> Any:
        """Record or raise one failure; returns INVALID in collect mode."""
        where = path or "(top level)"
        what = "missing" if got is _MISSING else f"got {shown(got)}"
        error = EaselError(code or self.code, f"{self.source}: {where}: expected {expected}, {what}",
                           detail=self.detail or where)
        if not self.collect:
            raise error
        self.problems.append(error)
        return INVALID

    def ok(self) -> bool:
        return not self.problems

    def _require(self, cond: bool, value: Any, path: str, expected: str) -> Any:
        return value if cond else self.fail(path, expected, value)

    # -- structure ----------------------------------------------------------
    def mapping(self, value: Any, path: str, required: Iterable[str] = (), optional: Iterable[str] = ()) -> Any:
        """A dict holding every required key and no key outside required + optional."""
        required, optional = tuple(required), tuple(optional)
        if not isinstance(value, dict):
            return self.fail(path, "a mapping", value)
        start = len(self.problems)
        for key in required:
            if key not in value:
                self.fail(join(path, key), "a value")
        allowed = required + optional
        for key in sorted(map(str, set(value) - set(allowed))):
            self.fail(join(path, key) if re.fullmatch(r"[A-Za-z0-9_]{1,40}", key) else join(path, "(key)"),
                      f"one of the keys {sorted(allowed)}", "an unknown key")
        return value if len(self.problems) == start else INVALID

    def sequence(self, value: Any, path: str, most: int, least: int = 0) -> Any:
        """A list of least..most items."""
        return self._require(isinstance(value, list) and least <= len(value) <= most, value, path,
                             f"a list of {least}-{most} items" if least else f"a list of at most {most} items")

    # -- scalars ------------------------------------------------------------
    def match(self, value: Any, path: str, pattern: re.Pattern, expected: str) -> Any:
        return self._require(isinstance(value, str) and bool(pattern.match(value)), value, path, expected)

    def choice(self, value: Any, path: str, options: Iterable) -> Any:
        options = tuple(options)
        expected = (" or ".join(repr(o) for o in options) if len(options) <= 2
                    else f"one of {list(options)}")
        return self._require(value in options, value, path, expected)

    def boolean(self, value: Any, path: str) -> Any:
        return self._require(isinstance(value, bool), value, path, "true or false")

    def number(self, value: Any, path: str, low: float = -math.inf, high: float = math.inf,
               positive: bool = False) -> Any:
        """A finite number in [low, high] (and > 0 with positive)."""
        good = is_number(value) and low <= value <= high and (value > 0 or not positive)
        if good:
            return value
        if positive:
            expected = "a positive number"
        elif math.isinf(low) and math.isinf(high):
            expected = "a finite number"
        else:
            expected = f"a number in [{low:g}, {high:g}]"
        return self.fail(path, expected, value)

    def count(self, value: Any, path: str, least: int = 0, most: int | None = None,
              allow_null: bool = False) -> Any:
        """An int (not a bool) in [least, most], or None with allow_null."""
        if value is None and allow_null:
            return None
        good = isinstance(value, int) and not isinstance(value, bool) and value >= least and (
            most is None or value <= most)
        if good:
            return value
        if most is not None:
            expected = f"an integer in [{least}, {most}]"
        else:
            expected = {0: "a non-negative integer", 1: "a positive integer"}.get(least, f"an integer >= {least}")
        return self.fail(path, expected + (" or null" if allow_null else ""), value)

    def text(self, value: Any, path: str, most: int, least: int = 1) -> Any:
        """A string of least..most characters (blank counts as empty)."""
        good = isinstance(value, str) and len(value) <= most and (least == 0 or len(value.strip()) >= least)
        return self._require(good, value, path, f"text of {least}-{most} characters")

    def time(self, value: Any, path: str) -> Any:
        """An ISO 8601 time (naive means UTC), returned as an aware UTC datetime."""
        try:
            return parse_time(value)
        except (ValueError, TypeError):
            return self.fail(path, "an ISO 8601 time such as 2027-03-01T00:00:00Z", value)
