"""`easel site build`: the public static site, rendered from leaderboard.yaml and competition.yaml.

Renders Jinja2 templates from ``site/templates`` (autoescape on for
everything: participant text is untrusted) and copies ``site/static``. Output
is plain files with relative links only, so it works from ``file://`` and from
a GitHub Pages sub-path, and it makes no external requests (no CDN, no web fonts).

Layout of the output folder::

    index.html                           every track: leader, entries, phase, backbone
    leaderboard.json                     open data: every track's rows (schema_version 1)
    static/style.css, static/sort.js     the only assets
    tracks/<track>/index.html            full table (sortable without a server) + history chart
    tracks/<track>/leaderboard.csv       open data: the track's rows, every metric with interval and n
    tracks/<track>/history.svg           best score over time (matplotlib, deterministic SVG)
    tracks/<track>/<team>--<model>.html  one page per entry
    samples/<track>/<team>/<model>.png   sample grids copied from --samples

The build goes to a staging folder next to the output and is swapped in with
two renames, so a failed build never leaves a half-written site, and a
reader never sees one.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Competition
from ..errors import ConfigError
from ..leaderboard import Board, Entry, RankedEntry, iso_utc, rank_track, utc
from ..result import BackboneRef, Efficiency
from ..vocab import SITE_MARKER
from .chart import history_svg, plotted
from .opendata import CSV_NAME, JSON_NAME, leaderboard_json, track_csv
from .render import SITE_DIR, standin_backbone, check_repo_url, entry_page_names, environment

MAX_SAMPLE_BYTES = 20 << 20
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Several metrics may read stand-ins (FID and KID, FD-DINOv2, CMMD, the k-NN metrics, LPIPS): none is comparable.
STANDIN_WARNING = ("scores computed with an offline random-init stand-in backbone; the metrics on it "
                   "(FID, KID, FD-DINOv2, CMMD, precision/recall, LPIPS alike) are not comparable to published numbers")


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


def _copy_sample(samples_dir: Path | None, staging: Path, track: str, team: str,
                 model: str) -> tuple[str | None, tuple[int, int] | None]:
    """Copy an entry's sample grid into the site: (page-relative src, shown (width, height)) or (None, None)."""
    sample = _sample_source(samples_dir, track, team, model)
    size = _png_size(sample) if sample is not None else None
    if size is None:
        return None, None
    target = staging / "samples" / track / team / f"{model}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sample, target)
    # Small grids are shown enlarged (whole multiples, pixelated) so 64 px images stay legible.
    scale = max(1, min(4, 512 // max(size[0], 1)))
    return f"../../samples/{track}/{team}/{model}.png", (size[0] * scale, size[1] * scale)


# --- build ----------------------------------------------------------------------

@dataclass
class TrackView:
    """What the index and a track page show about one track."""

    track: object
    rows: list[RankedEntry]
    pages: dict[tuple[str, str], str]
    split: str
    backbone: BackboneRef | None
    leader: RankedEntry | None
    best_baseline: RankedEntry | None
    n_participants: int
    n_baselines: int
    chart: bool
    other_metrics: list[str]
    chart_participants: bool = False  # the history chart draws a best-so-far line and entry points
    chart_baselines: bool = False     # ... and baselines as diamonds (its caption says only what is drawn)
    scored_by: dict | None = None   # {evaluator, backbone} of the rows that rank
    standin: BackboneRef | None = None  # the first offline stand-in backbone of the shown entry
    metric_backbones: dict = field(default_factory=dict)  # metric -> backbone ids (shown entry)
    n_rescoring: int = 0            # rows scored otherwise: "needs re-scoring"
    n_implausible: int = 0          # rows holding a value outside its metric's range
    n_ranked: int = 0               # rows with a rank number
    csv: str = CSV_NAME


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
    if out_dir.exists() and not (out_dir / SITE_MARKER).is_file():
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


def build_site(board: Board, competition: Competition, out_dir: str | Path, samples_dir: str | Path | None = None,
               now: dt.datetime | None = None, repo_url: str | None = None, progress: bool = True) -> Path:
    """Render the whole site into ``out_dir`` and return the path of its index.html.

    ``samples_dir``: sample grids at ``<samples_dir>/<track>/<team>/<model>.png``
    (input | output columns, written by ``easel evaluate --samples``); absent
    ones get a "no samples" note. ``repo_url`` (e.g. https://github.com/o/r)
    turns PR numbers and commits into links; without it they are plain text.
    ``now`` decides the phase (public vs private split), default: now.
    """
    from tqdm import tqdm

    now = utc(now)
    out_dir = Path(out_dir)
    samples_dir = Path(samples_dir) if samples_dir else None
    repo_url = check_repo_url(repo_url)
    env = environment()
    staging = _prepare_out(out_dir)
    try:
        shutil.copytree(SITE_DIR / "static", staging / "static")
        by_track: dict[str, list[Entry]] = {t.id: [] for t in competition.tracks}
        orphans = 0
        for entry in board.entries:
            if entry.track in by_track:
                by_track[entry.track].append(entry)
            else:
                orphans += 1  # a track removed from competition.yaml: nothing to rank it by
        if orphans:
            print(f"site: {orphans} entries belong to tracks not in competition.yaml; not shown", file=sys.stderr)

        phase = _phase_info(competition, now)
        revealed = board.revealed if phase["revealed"] else None
        common = {"competition": competition, "phase": phase, "built": iso_utc(now), "repo_url": repo_url,
                  "standin_warning": STANDIN_WARNING, "no_efficiency": Efficiency(),
                  "revealed": revealed, "final_entries": competition.limits.final_entries}
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
            if view.n_implausible:
                print(f"site: track {track.id}: {view.n_implausible} entries hold values outside their metric's "
                      "range; shown unranked", file=sys.stderr)
            # Staging folder: plain writes are fine, the finished folder is swapped in atomically.
            (folder / CSV_NAME).write_text(track_csv(view), encoding="utf-8")
            (folder / "index.html").write_text(
                track_tpl.render(root="../../", view=view, **common), encoding="utf-8")
            bar.update(1)
            for r in rows:
                team, model = r.entry.team, r.entry.model
                sample_rel, sample_size = _copy_sample(samples_dir, staging, track.id, team, model)
                (folder / view.pages[(team, model)]).write_text(
                    entry_tpl.render(root="../../", view=view, row=r,
                                     private=r.entry.private if phase["revealed"] else None,
                                     sample=sample_rel, sample_size=sample_size, **common),
                    encoding="utf-8")
                bar.update(1)
        bar.close()
        (staging / JSON_NAME).write_text(leaderboard_json(competition, views, phase, iso_utc(now), revealed),
                                         encoding="utf-8")
        (staging / "index.html").write_text(
            env.get_template("index.html").render(root="", views=views, **common), encoding="utf-8")
        (staging / SITE_MARKER).write_text("built by easel site build; safe to delete\n", encoding="utf-8")
        _swap_in(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir / "index.html"


def _track_view(track, rows: list[RankedEntry]) -> TrackView:
    participants = [r for r in rows if not r.baseline]
    baselines = [r for r in rows if r.baseline and not r.oracle]
    ranked = [r for r in rows if r.eligible]
    leader = next((r for r in rows if r.leader), None)
    best_baseline = next((r for r in baselines if r.eligible), None)
    shown = ranked[0] if ranked else rows[0] if rows else None
    plotted_participants, plotted_baselines = plotted(rows)
    return TrackView(track=track, rows=rows, pages=entry_page_names(rows),
                     split=rows[0].split if rows else "public", backbone=shown.entry.backbone if shown else None,
                     leader=leader, best_baseline=best_baseline, n_participants=len(participants),
                     n_baselines=len(baselines), chart=False, chart_participants=bool(plotted_participants),
                     chart_baselines=bool(plotted_baselines),
                     other_metrics=[m for m in track.metrics if m != track.ranking.metric],
                     scored_by=shown.scored_by if shown else None,
                     standin=standin_backbone(shown.entry) if shown else None,
                     metric_backbones={name: list(m.backbones) for name, m in
                                       (shown.entry.public.metrics if shown else {}).items()
                                       if m.backbones is not None},
                     n_rescoring=sum(r.needs_rescoring for r in rows),
                     n_implausible=sum(not r.plausible for r in rows),
                     n_ranked=sum(r.rank is not None for r in rows))
