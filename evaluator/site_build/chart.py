"""The track page's history chart: best score over time, as deterministic SVG."""

from __future__ import annotations

import datetime as dt
import io

from ..leaderboard import RankedEntry, parse_time

_DAY = dt.timedelta(days=1)
_MAX_TICKS = 7


def date_ticks(first: dt.datetime, last: dt.datetime) -> tuple[dt.datetime, dt.datetime, list[dt.datetime],
                                                                 list[str]]:
    """The history chart's x-axis: (left, right, tick times, tick labels), all dates, whatever the span.

    The axis covers whole UTC days and at least three of them, so entries
    added seconds apart still read as a date ("Jan 10") rather than seconds.
    Ticks fall on days (every 1, 2, 7 or 14), month starts (every 1, 2, 3 or
    6 months) or years, at most seven of them; a label carries the year on the
    first tick and wherever the year changes. Times are naive UTC.
    """
    left = dt.datetime.combine(min(first, last).date(), dt.time())
    right = dt.datetime.combine(max(first, last).date(), dt.time()) + _DAY
    if right - left < 3 * _DAY:
        left, right = left - _DAY, right + _DAY
    days = (right - left).days
    for step in (1, 2, 7, 14):
        if days // step + 1 <= _MAX_TICKS:
            ticks = [left + i * step * _DAY for i in range(days // step + 1)]
            return left, right, ticks, _tick_labels(ticks, "%b %-d")
    for months in (1, 2, 3, 6, 12, 24, 60, 120):
        ticks = [t for t in _month_starts(left, right) if (t.year * 12 + t.month - 1) % months == 0]
        if len(ticks) <= _MAX_TICKS:
            if len(ticks) < 2:  # a span of a few weeks that crosses at most one month start
                break
            return left, right, ticks, _tick_labels(ticks, "%b" if months < 12 else "%Y")
    step = max(1, -(-days // (_MAX_TICKS - 1)))  # fallback: evenly spaced days
    ticks = [left + i * step * _DAY for i in range(days // step + 1)]
    return left, right, ticks, _tick_labels(ticks, "%b %-d")


def _month_starts(left: dt.datetime, right: dt.datetime) -> list[dt.datetime]:
    starts, t = [], dt.datetime(left.year, left.month, 1)
    while t <= right:
        if t >= left:
            starts.append(t)
        t = dt.datetime(t.year + t.month // 12, t.month % 12 + 1, 1)
    return starts


def _tick_labels(ticks: list[dt.datetime], pattern: str) -> list[str]:
    labels, year = [], None
    for t in ticks:
        label = t.strftime(pattern)
        if t.year != year and pattern != "%Y":
            label += f"\n{t.year}"
        labels.append(label)
        year = t.year
    return labels


def plotted(rows: list[RankedEntry]) -> tuple[list[RankedEntry], list[RankedEntry]]:
    """(participants, baselines) the history chart draws: the rows that rank (one scoring, plausible
    values, no oracle). The chart's caption says what is drawn from the same lists."""
    scored = [r for r in rows if r.eligible and not r.oracle]
    return [r for r in scored if not r.baseline], [r for r in scored if r.baseline]


def history_svg(rows: list[RankedEntry], metric: str, order: str, title: str) -> bytes | None:
    """Best score over time (step line over participants) and every entry as a point, as SVG bytes.

    x: when the entry was added (UTC), on a date axis from :func:`date_ticks`;
    y: the ranking metric on the ranking split, for the rows that rank (no
    oracle, nothing that needs re-scoring or holds an implausible value).
    Baselines are hollow diamonds. Deterministic bytes for the same rows
    (fixed svg.hashsalt, no date metadata). None when nothing is scored.
    """
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.dates import date2num
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    participants, baselines = plotted(rows)  # what ranks: one scoring, plausible values
    scored = participants + baselines
    if not scored:
        return None
    # Naive UTC datetimes: matplotlib then needs no timezone database lookup.
    when = {id(r): parse_time(r.entry.added).replace(tzinfo=None) for r in scored}
    participants = sorted(participants, key=lambda r: when[id(r)])
    left, right, ticks, labels = date_ticks(min(when.values()), max(when.values()))
    with matplotlib.rc_context({"svg.hashsalt": "easel-history", "svg.fonttype": "path",
                                "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}):
        fig = Figure(figsize=(7.2, 3.2), dpi=100)
        FigureCanvasSVG(fig)
        ax = fig.add_subplot(1, 1, 1)
        if participants:
            xs = [when[id(r)] for r in participants]
            ys = [r.value for r in participants]
            # The step line only needs the points where the best changed (a handful, not every entry).
            steps_x, steps_y, best = [], [], None
            for x, y in zip(xs, ys):
                if best is None or (y < best if order == "asc" else y > best):
                    best = y
                    steps_x.append(x)
                    steps_y.append(y)
            # Hold the best to the axis' right edge, so a single entry (or a best set by the latest one)
            # still shows the line the caption promises.
            steps_x.append(right)
            steps_y.append(best)
            ax.step(steps_x, steps_y, where="post", color="#1f5fbf", linewidth=1.8, label="best so far", zorder=3)
            ax.plot(xs, ys, linestyle="none", marker="o", markersize=3.7, color="#1f5fbf", alpha=0.45,
                    markeredgewidth=0, label="entry", zorder=2)
        if baselines:
            ax.plot([when[id(r)] for r in baselines], [r.value for r in baselines], linestyle="none", marker="D",
                    markersize=5.5, markerfacecolor="none", markeredgecolor="#b35900", markeredgewidth=1.2,
                    label="baseline", zorder=4)
        ax.set_xlim(date2num(left), date2num(right))
        ax.xaxis.set_major_locator(FixedLocator(date2num(ticks)))
        ax.xaxis.set_major_formatter(FixedFormatter(labels))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("date added (UTC)")
        better = "lower is better" if order == "asc" else "higher is better"
        ax.set_ylabel(f"{metric} ({better})")
        ax.set_title(title, loc="left")
        ax.grid(True, color="#dddddd", linewidth=0.6)
        ax.legend(loc="best", frameon=False)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()
