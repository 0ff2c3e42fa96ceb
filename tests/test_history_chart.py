"""The history chart's date axis: whole days, two to seven ticks, readable labels, whatever the span."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from evaluator.site_build.chart import date_ticks, history_svg
from test_leaderboard import BEFORE, board_with, competition, make_result

START = dt.datetime(2026, 12, 1, 14, 3, 25)


@pytest.mark.parametrize("span", [dt.timedelta(0), dt.timedelta(seconds=1), dt.timedelta(minutes=3),
                                  dt.timedelta(days=2), dt.timedelta(days=9), dt.timedelta(days=20),
                                  dt.timedelta(days=40), dt.timedelta(days=100), dt.timedelta(days=400),
                                  dt.timedelta(days=3650)])
def test_ticks_are_dates_for_any_span(span):
    left, right, ticks, labels = date_ticks(START, START + span)
    assert left <= START and START + span <= right and right - left >= dt.timedelta(days=3)
    assert 2 <= len(ticks) <= 7 and ticks == sorted(set(ticks))
    assert all(left <= t <= right and t.time() == dt.time() for t in ticks)  # midnight: a date, never seconds
    assert len(labels) == len(ticks) and len(set(labels)) == len(labels)
    assert not any(":" in label or "." in label for label in labels)
    assert str(ticks[0].year) in labels[0]  # the year is always given once
    years = [t.year for t in ticks]
    for i in range(1, len(ticks)):
        if years[i] != years[i - 1]:
            assert str(years[i]) in labels[i]


def test_entries_seconds_apart_read_as_their_day():
    left, right, ticks, labels = date_ticks(START, START + dt.timedelta(seconds=25))
    assert (left, right) == (dt.datetime(2026, 11, 30), dt.datetime(2026, 12, 3))
    assert labels == ["Nov 30\n2026", "Dec 1", "Dec 2", "Dec 3"]


def test_long_spans_tick_on_months_then_years():
    assert date_ticks(START, START + dt.timedelta(days=100))[3] == ["Dec\n2026", "Jan\n2027", "Feb", "Mar"]
    assert date_ticks(START, START + dt.timedelta(days=3650))[3] == ["2028", "2030", "2032", "2034", "2036"]


def test_chart_renders_for_entries_added_at_once():
    from evaluator.leaderboard import rank_track

    board = board_with(make_result("acme", "a1", 0.1, content="1"), make_result("beta", "b", 0.2, content="2"))
    board = dataclasses.replace(board, entries=tuple(dataclasses.replace(e, added="2027-01-10T12:00:25Z")
                                                     for e in board.entries))
    rows = rank_track(board, competition(), "ink", BEFORE)
    svg = history_svg(rows, "kid", "asc", "Ink")
    assert svg.startswith(b"<?xml") and svg == history_svg(rows, "kid", "asc", "Ink")
