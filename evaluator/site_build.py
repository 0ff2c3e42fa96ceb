"""The public static site: `easel site build`.

Reads leaderboard.yaml and competition.yaml, renders Jinja2 templates from
``site/templates`` (autoescape on for everything: participant text is
untrusted) and copies ``site/static``. Output is plain files with relative
links only, so it works from ``file://`` and from a GitHub Pages sub-path, and
it makes no external requests (no CDN, no web fonts).

Layout of the output folder::

    index.html                           every track: leader, entries, phase, backbone
    static/style.css, static/sort.js     the only assets
    tracks/<track>/index.html            full table (sortable without a server) + history chart
    tracks/<track>/history.svg           best score over time (matplotlib, deterministic SVG)
    tracks/<track>/<team>--<model>.html  one page per entry
    samples/<track>/<team>/<model>.png   sample grids copied from --samples

The build goes to a staging folder next to the output and is swapped in with
two renames, so a failed build never leaves a half-written site, and a
reader never sees one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .cli import command_group
from .config import Competition, default_competition_path, load_competition
from .errors import ConfigError
from .leaderboard import (
    EFFICIENCY_KEYS,
    RankedEntry,
    _utc,
    format_interval,
    format_value,
    iso_utc,
    load_leaderboard,
    parse_time,
    rank_track,
)

SITE_DIR = Path(__file__).resolve().parent.parent / "site"
MARKER = ".easel-site"  # marks a folder this command built and may therefore replace
MAX_SAMPLE_BYTES = 20 << 20
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STANDIN_WARNING = ("scores computed with an offline random-init stand-in backbone; "
                   "not comparable to published FIDs")


# --- template environment ---------------------------------------------------------

_ENV_CACHE: dict[Path, object] = {}


def safe_url(url: object) -> str | None:
    """``url`` when it is an absolute http(s) URL, else None: anything else is shown as text, never a link."""
    if not isinstance(url, str) or len(url) > 1000:
        return None
    text = url.strip()
    if any(ord(ch) < 0x21 for ch in text):
        return None  # control characters or spaces hide schemes from naive parsers
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return text


def _group_digits(value: object) -> str:
    if value is None:
        return "-"
    return f"{int(round(float(value))):,}"


def _day(value: object) -> str:
    try:
        return parse_time(value).strftime("%Y-%m-%d")
    except (TypeError, ValueError):
        return "-"


def _minute(value: object) -> str:
    try:
        return parse_time(value).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError):
        return "-"


def _rate(value: object) -> str:
    """Throughput and latency: grouped digits from 1,000 up (54,050 rather than 5.405e+04)."""
    if value is None:
        return "-"
    return _group_digits(value) if abs(float(value)) >= 1000 else format_value(float(value))


def _ordered(metrics: dict, track) -> list[tuple[str, dict]]:
    """(name, metric) pairs: the ranking metric, then the track's order, then any others by name."""
    order = [track.ranking.metric] + [m for m in track.metrics if m != track.ranking.metric]
    rest = sorted(m for m in metrics if m not in order)
    return [(name, metrics[name]) for name in order + rest if name in metrics]


def environment(templates: Path | None = None):
    """The Jinja2 environment (compiled templates are cached and reused for every page)."""
    import jinja2

    templates = templates or SITE_DIR / "templates"
    env = _ENV_CACHE.get(templates)
    if env is None:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates)),
            autoescape=True,  # every template, whatever its extension
            undefined=jinja2.StrictUndefined,
            trim_blocks=True, lstrip_blocks=True,
        )
        env.filters.update(fmt=format_value, interval=format_interval, safe_url=safe_url,
                           digits=_group_digits, day=_day, minute=_minute, rate=_rate, ordered=_ordered)
        from .metrics import describe

        env.globals["describe_metric"] = describe  # metric descriptions come from the registry
        _ENV_CACHE[templates] = env
    return env


# --- paths ---------------------------------------------------------------------

def entry_page_names(rows: list[RankedEntry]) -> dict[tuple[str, str], str]:
    """``<team>--<model>.html`` per (team, model); ids may contain '--', so a name two entries
    would share gets a short hash suffix instead of overwriting the other page."""
    names: dict[tuple[str, str], str] = {}
    used: dict[str, int] = {}
    for r in rows:
        stem = f"{r.entry['team']}--{r.entry['model']}"
        used[stem] = used.get(stem, 0) + 1
    for r in rows:
        team, model = r.entry["team"], r.entry["model"]
        stem = f"{team}--{model}"
        if used[stem] > 1:
            stem += "--" + hashlib.sha256(f"{team}/{model}".encode()).hexdigest()[:8]
        names[(team, model)] = stem + ".html"
    return names


def default_repo_url() -> str | None:
    """``$GITHUB_SERVER_URL/$GITHUB_REPOSITORY`` inside GitHub Actions, else None."""
    server, repo = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    if server and repo:
        return f"{server.rstrip('/')}/{repo}"
    return None


def _check_repo_url(url: str | None) -> str | None:
    if url is None:
        return None
    clean = safe_url(url)
    if clean is None:
        raise ConfigError(f"--repo-url: expected an http(s) URL such as https://github.com/OWNER/NAME, got {url!r}")
    return clean.rstrip("/")


# --- history chart ------------------------------------------------------------------

def history_svg(rows: list[RankedEntry], metric: str, order: str, title: str) -> bytes | None:
    """Best score over time (step line over participants) and every entry as a point, as SVG bytes.

    x: when the entry was added (UTC); y: the ranking metric on the ranking
    split. Baselines are hollow diamonds. Deterministic bytes for the same
    rows (fixed svg.hashsalt, no date metadata). None when nothing is scored.
    """
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    scored = [r for r in rows if r.scored]
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


# --- samples ---------------------------------------------------------------------------

def _sample_source(samples_dir: Path | None, track: str, team: str, model: str) -> Path | None:
    if samples_dir is None:
        return None
    path = samples_dir / track / team / f"{model}.png"
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_SAMPLE_BYTES:
            return None
        with open(path, "rb") as handle:
            if handle.read(8) != _PNG_MAGIC:
                return None
    except OSError:
        return None
    return path


def _png_size(path: Path) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError):
        return None


# --- build ----------------------------------------------------------------------

@dataclass
class TrackView:
    """What the index and a track page show about one track."""

    track: object
    rows: list[RankedEntry]
    pages: dict[tuple[str, str], str]
    split: str
    backbone: dict | None
    leader: RankedEntry | None
    best_baseline: RankedEntry | None
    n_participants: int
    n_baselines: int
    chart: bool
    other_metrics: list[str]


def _phase_info(competition: Competition, now: dt.datetime) -> dict:
    current = competition.phase_at(now)
    return {
        "current": current,
        "revealed": competition.private_revealed(now),
        "final": competition.final_phase,
        "phases": sorted(competition.phases, key=lambda p: p.ends),
        "now": iso_utc(now),
    }


def _prepare_out(out_dir: Path) -> Path:
    """A fresh staging folder next to ``out_dir``; refuses to later replace a folder this tool did not build."""
    if out_dir.exists() and not (out_dir / MARKER).is_file():
        if not out_dir.is_dir() or any(out_dir.iterdir()):
            raise ConfigError(f"--out {out_dir}: the folder exists and was not built by `easel site build`; "
                              "choose an empty or new folder")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.staging-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    return staging


def _swap_in(staging: Path, out_dir: Path) -> None:
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(staging, out_dir)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def build_site(board: dict, competition: Competition, out_dir: str | Path, samples_dir: str | Path | None = None,
               now: dt.datetime | None = None, repo_url: str | None = None, progress: bool = True) -> Path:
    """Render the whole site into ``out_dir`` and return the path of its index.html.

    ``samples_dir``: sample grids at ``<samples_dir>/<track>/<team>/<model>.png``
    (input | output columns, written by ``easel evaluate --samples``); absent
    ones get a "no samples" note. ``repo_url`` (e.g. https://github.com/o/r)
    turns PR numbers and commits into links; without it they are plain text.
    ``now`` decides the phase (public vs private split), default: now.
    """
    from tqdm import tqdm

    now = _utc(now)
    out_dir = Path(out_dir)
    samples_dir = Path(samples_dir) if samples_dir else None
    repo_url = _check_repo_url(repo_url)
    env = environment()
    staging = _prepare_out(out_dir)
    try:
        shutil.copytree(SITE_DIR / "static", staging / "static")
        by_track: dict[str, list[dict]] = {t.id: [] for t in competition.tracks}
        orphans = 0
        for entry in board["entries"]:
            if entry["track"] in by_track:
                by_track[entry["track"]].append(entry)
            else:
                orphans += 1  # a track removed from competition.yaml: nothing to rank it by
        if orphans:
            print(f"site: {orphans} entries belong to tracks not in competition.yaml; not shown", file=sys.stderr)

        phase = _phase_info(competition, now)
        common = {"competition": competition, "phase": phase, "built": iso_utc(now), "repo_url": repo_url,
                  "standin_warning": STANDIN_WARNING, "no_efficiency": dict.fromkeys(EFFICIENCY_KEYS)}
        views = []
        total = sum(len(v) for v in by_track.values())
        bar = tqdm(total=total + len(by_track), desc="site", unit="page", disable=not progress, leave=False)
        track_tpl, entry_tpl = env.get_template("track.html"), env.get_template("entry.html")
        for track in competition.tracks:
            rows = rank_track(board, competition, track.id, now, entries=by_track[track.id])
            view = _track_view(track, rows)
            views.append(view)
            folder = staging / "tracks" / track.id
            folder.mkdir(parents=True)
            svg = history_svg(rows, track.ranking.metric, track.ranking.order,
                              f"{track.title or track.id}: best {track.ranking.metric} over time ({view.split} split)")
            if svg is not None:
                (folder / "history.svg").write_bytes(svg)
            view.chart = svg is not None
            # Staging folder: plain writes are fine, the finished folder is swapped in atomically.
            (folder / "index.html").write_text(
                track_tpl.render(root="../../", view=view, **common), encoding="utf-8")
            bar.update(1)
            for r in rows:
                team, model = r.entry["team"], r.entry["model"]
                sample = _sample_source(samples_dir, track.id, team, model)
                sample_rel, sample_size = None, None
                if sample is not None:
                    sample_size = _png_size(sample)
                    if sample_size is not None:
                        # Small grids are shown enlarged (whole multiples, pixelated) so 64 px images stay legible.
                        scale = max(1, min(4, 512 // max(sample_size[0], 1)))
                        sample_size = (sample_size[0] * scale, sample_size[1] * scale)
                        target = staging / "samples" / track.id / team / f"{model}.png"
                        target.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(sample, target)
                        sample_rel = f"../../samples/{track.id}/{team}/{model}.png"
                revealed_private = r.entry["private"] if phase["revealed"] else None
                (folder / view.pages[(team, model)]).write_text(
                    entry_tpl.render(root="../../", view=view, row=r, private=revealed_private,
                                     sample=sample_rel, sample_size=sample_size, **common),
                    encoding="utf-8")
                bar.update(1)
        bar.close()
        (staging / "index.html").write_text(
            env.get_template("index.html").render(root="", views=views, **common), encoding="utf-8")
        (staging / MARKER).write_text("built by easel site build; safe to delete\n", encoding="utf-8")
        _swap_in(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir / "index.html"


def _track_view(track, rows: list[RankedEntry]) -> TrackView:
    participants = [r for r in rows if not r.baseline]
    baselines = [r for r in rows if r.baseline]
    leader = next((r for r in rows if r.leader), None)
    best_baseline = next((r for r in baselines if r.scored), None)
    backbone = rows[0].entry["backbone"] if rows else None
    return TrackView(track=track, rows=rows, pages=entry_page_names(rows),
                     split=rows[0].split if rows else "public", backbone=backbone, leader=leader,
                     best_baseline=best_baseline, n_participants=len(participants), n_baselines=len(baselines),
                     chart=False, other_metrics=[m for m in track.metrics if m != track.ranking.metric])


# --- CLI -------------------------------------------------------------------------------

def _cmd_build(args) -> int:
    competition = load_competition(args.competition or default_competition_path())
    board = load_leaderboard(args.leaderboard)
    repo_url = args.repo_url if args.repo_url is not None else default_repo_url()
    index = build_site(board, competition, args.out, samples_dir=args.samples, repo_url=repo_url)
    print(f"site: {index.resolve()}")
    return 0


def register(subparsers) -> None:
    """`easel site build`."""
    sub = command_group(subparsers, "site", "build the public static leaderboard site")
    build = sub.add_parser("build", help="render leaderboard.yaml into static HTML (relative links, no network)")
    build.add_argument("--leaderboard", type=Path, default=Path("leaderboard.yaml"))
    build.add_argument("--competition", type=Path, default=None, help="competition.yaml (default: ./ or the repo's)")
    build.add_argument("--samples", type=Path, default=None, help="SAMPLES_DIR/<track>/<team>/<model>.png grids")
    build.add_argument("--out", type=Path, default=Path("site/_build"), help="output folder (replaced)")
    build.add_argument("--repo-url", default=None,
                       help="https://github.com/OWNER/NAME for PR links (default: $GITHUB_SERVER_URL/$GITHUB_REPOSITORY)")
    build.set_defaults(func=_cmd_build)

