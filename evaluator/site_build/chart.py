"""The track page's history chart: best score over time, as deterministic SVG."""

from __future__ import annotations

import io

from ..leaderboard import RankedEntry, parse_time


def history_svg(rows: list[RankedEntry], metric: str, order: str, title: str) -> bytes | None:
    """Best score over time (step line over participants) and every entry as a point, as SVG bytes.

    x: when the entry was added (UTC); y: the ranking metric on the ranking
    split, for the rows that rank (no oracle, nothing that needs re-scoring or
    holds an implausible value). Baselines are hollow diamonds. Deterministic bytes for the same
    rows (fixed svg.hashsalt, no date metadata). None when nothing is scored.
    """
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    scored = [r for r in rows if r.eligible and not r.oracle]  # what ranks: one scoring, plausible values
    if not scored:
        return None
    # Naive UTC datetimes: matplotlib then needs no timezone database lookup.
    when = {id(r): parse_time(r.entry["added"]).replace(tzinfo=None) for r in scored}
    participants = sorted((r for r in scored if not r.baseline), key=lambda r: when[id(r)])
    baselines = [r for r in scored if r.baseline]
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
            steps_x.append(max(when.values()))
            steps_y.append(best)
            ax.step(steps_x, steps_y, where="post", color="#1f5fbf", linewidth=1.8, label="best so far", zorder=3)
            ax.plot(xs, ys, linestyle="none", marker="o", markersize=3.7, color="#1f5fbf", alpha=0.45,
                    markeredgewidth=0, label="entry", zorder=2)
        if baselines:
            ax.plot([when[id(r)] for r in baselines], [r.value for r in baselines], linestyle="none", marker="D",
                    markersize=5.5, markerfacecolor="none", markeredgecolor="#b35900", markeredgewidth=1.2,
                    label="baseline", zorder=4)
        locator = AutoDateLocator(minticks=3, maxticks=7)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        better = "lower is better" if order == "asc" else "higher is better"
        ax.set_ylabel(f"{metric} ({better})")
        ax.set_title(title, loc="left")
        ax.grid(True, color="#dddddd", linewidth=0.6)
        ax.legend(loc="best", frameon=False)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()
