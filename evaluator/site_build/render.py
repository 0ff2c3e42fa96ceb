"""What the site's pages are made with: the Jinja2 environment and its filters, page names, link checks."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ConfigError
from typing import Mapping

from ..leaderboard import Entry, RankedEntry, format_interval, format_value, metric_order, parse_time
from ..result import BackboneRef, Metric

SITE_DIR = Path(__file__).resolve().parent.parent.parent / "site"

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


def _breakable(name: object):
    """A column name (escaped) that may wrap after each '_' (``content_<wbr>distance``), so long metric
    names do not push the other columns off screen; copying the header still gives the plain name."""
    from markupsafe import Markup, escape

    return Markup(str(escape(name)).replace("_", "_<wbr>"))


def _ordered(metrics: Mapping[str, Metric], track) -> list[tuple[str, Metric]]:
    """(name, metric) pairs in the one metric order (:func:`evaluator.leaderboard.metric_order`)."""
    return [(name, metrics[name]) for name in metric_order(metrics, track.ranking.metric, track.metrics)]


def _backbones(entry: Entry) -> tuple[BackboneRef, ...]:
    """Every backbone record of a leaderboard entry, the primary first (one for entries of one backbone)."""
    return entry.all_backbones


def standin_backbone(entry: Entry | None) -> BackboneRef | None:
    """The first offline stand-in among an entry's backbones (None when every backbone is the real one)."""
    return next((r for r in entry.all_backbones if r.offline_standin), None) if entry else None


def _metrics_on(entry: Entry, backbone_id: str) -> list[str]:
    """The public metrics of an entry computed on ``backbone_id`` (for results that record it)."""
    return [name for name, m in entry.public.metrics.items() if backbone_id in (m.backbones or ())]


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
                           digits=_group_digits, day=_day, minute=_minute, rate=_rate, ordered=_ordered,
                           breakable=_breakable, backbones=_backbones, standin=standin_backbone,
                           metrics_on=_metrics_on)
        from ..metrics import describe

        env.globals["describe_metric"] = describe  # metric descriptions come from the registry
        _ENV_CACHE[templates] = env
    return env


def entry_page_names(rows: list[RankedEntry]) -> dict[tuple[str, str], str]:
    """``<team>--<model>.html`` per (team, model); ids may contain '--', so a name two entries
    would share gets a short hash suffix instead of overwriting the other page."""
    names: dict[tuple[str, str], str] = {}
    used: dict[str, int] = {}
    for r in rows:
        stem = f"{r.entry.team}--{r.entry.model}"
        used[stem] = used.get(stem, 0) + 1
    for r in rows:
        team, model = r.entry.team, r.entry.model
        stem = f"{team}--{model}"
        if used[stem] > 1:
            stem += "--" + hashlib.sha256(f"{team}/{model}".encode()).hexdigest()[:8]
        names[(team, model)] = stem + ".html"
    return names


def default_repo_url(settings=None) -> str | None:
    """``$GITHUB_SERVER_URL/$GITHUB_REPOSITORY`` inside GitHub Actions (:class:`~evaluator.settings.Settings`),
    else None."""
    from ..settings import Settings

    return (settings or Settings.from_environ()).repo_url


def check_repo_url(url: str | None) -> str | None:
    if url is None:
        return None
    clean = safe_url(url)
    if clean is None:
        raise ConfigError(f"--repo-url: expected an http(s) URL such as https://github.com/OWNER/NAME, got {url!r}")
    return clean.rstrip("/")
