"""competition.yaml: the organizer's one file, its schema and loader.

Errors name the file, the key path and what was expected, e.g.
``competition.yaml: tracks[1].ranking.order: expected 'asc' or 'desc', got 'up'``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import ConfigError, EaselError
from .fsutil import load_yaml_file

TRACK_KINDS = ("unpaired", "paired", "example")
SPLITS = ("public", "private")
ORDERS = ("asc", "desc")
RESIZE_MODES = ("clean", "legacy_tensorflow")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
# Fewest test images per split (inputs and reference images alike) a track is scored on.
DEFAULT_MIN_TEST_IMAGES = 50


@dataclass(frozen=True)
class Phase:
    name: str
    ends: dt.datetime  # timezone-aware, UTC
    ranks: str  # which test split ranks during this phase: public | private


@dataclass(frozen=True)
class Limits:
    evaluations_per_day: int = 3
    max_model_mb: float = 200.0
    max_files: int = 200
    timeout_s: float = 600.0
    memory_mb: int = 4096


@dataclass(frozen=True)
class Evaluation:
    backbone: str = "inception_fid"  # falls back to the offline stand-in when weights are absent
    resize: str = "clean"
    bootstrap: int = 200  # bootstrap resamples per metric interval
    seed: int = 0
    batch_size: int = 16
    memorization_eps: float = 0.1


@dataclass(frozen=True)
class Ranking:
    metric: str
    order: str  # asc: lower is better; desc: higher is better


@dataclass(frozen=True)
class Track:
    id: str
    kind: str
    dataset: str
    image_size: int
    metrics: tuple[str, ...]
    ranking: Ranking
    title: str = ""
    description: str = ""
    min_test_images: int = DEFAULT_MIN_TEST_IMAGES  # per split; data prepare, data verify and evaluate enforce it


@dataclass(frozen=True)
class Competition:
    name: str
    phases: tuple[Phase, ...]
    limits: Limits
    evaluation: Evaluation
    tracks: tuple[Track, ...]
    description: str = ""
    source: str = "competition.yaml"

    def track(self, track_id: str) -> Track:
        for track in self.tracks:
            if track.id == track_id:
                return track
        raise EaselError("E_TRACK_UNKNOWN", f"unknown track {track_id!r}", detail=track_id)

    def phase_at(self, when: dt.datetime | None = None) -> Phase | None:
        """The phase running at ``when`` (now by default); None after the last one ends."""
        when = when or dt.datetime.now(dt.timezone.utc)
        for phase in sorted(self.phases, key=lambda p: p.ends):
            if when < phase.ends:
                return phase
        return None

    @property
    def final_phase(self) -> Phase:
        return max(self.phases, key=lambda p: p.ends)

    def private_revealed(self, when: dt.datetime | None = None) -> bool:
        """Private-split scores may be shown only once the final phase has ended."""
        when = when or dt.datetime.now(dt.timezone.utc)
        return when >= self.final_phase.ends


# --- a small schema checker that keeps the key path -------------------------

class _Checker:
    def __init__(self, source: str):
        self.source = source

    def fail(self, path: str, expected: str, got: Any) -> None:
        shown = "missing" if got is _MISSING else f"got {got!r}"
        raise ConfigError(f"{self.source}: {path}: expected {expected}, {shown}")

    def mapping(self, value: Any, path: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
        if not isinstance(value, dict):
            self.fail(path or "(top level)", "a mapping", value)
        for key in required:
            if key not in value:
                self.fail(_join(path, key), "a value", _MISSING)
        unknown = sorted(set(map(str, value)) - set(required) - set(optional))
        if unknown:
            self.fail(_join(path, unknown[0]), f"one of the keys {sorted(required + optional)}", "an unknown key")
        return value

    def typed(self, value: Any, path: str, kind: str, check: Callable[[Any], bool]) -> Any:
        if not check(value):
            self.fail(path, kind, value)
        return value

    def string(self, value: Any, path: str) -> str:
        return self.typed(value, path, "a string", lambda v: isinstance(v, str) and v.strip() != "")

    def identifier(self, value: Any, path: str) -> str:
        return self.typed(value, path, "an id of lowercase letters, digits, '-' or '_'",
                          lambda v: isinstance(v, str) and bool(_ID.match(v)))

    def choice(self, value: Any, path: str, options: tuple[str, ...]) -> str:
        expected = " or ".join(f"'{o}'" for o in options) if len(options) <= 2 else f"one of {list(options)}"
        return self.typed(value, path, expected, lambda v: v in options)

    def positive_int(self, value: Any, path: str) -> int:
        return self.typed(value, path, "a positive integer",
                          lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0)

    def positive_number(self, value: Any, path: str) -> float:
        return float(self.typed(value, path, "a positive number",
                                lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0))

    def timestamp(self, value: Any, path: str) -> dt.datetime:
        if isinstance(value, dt.datetime):
            stamp = value
        elif isinstance(value, dt.date):
            stamp = dt.datetime.combine(value, dt.time())
        elif isinstance(value, str):
            try:
                stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                self.fail(path, "an ISO 8601 date such as 2027-03-01T00:00:00Z", value)
        else:
            self.fail(path, "an ISO 8601 date such as 2027-03-01T00:00:00Z", value)
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=dt.timezone.utc)
        return stamp.astimezone(dt.timezone.utc)


class _Missing:
    def __repr__(self) -> str:
        return "missing"


_MISSING = _Missing()


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _known_metrics() -> dict:
    from .metrics import METRICS  # the metric registry

    return METRICS


def _known_backbones() -> dict:
    from .features import BACKBONES  # the backbone registry

    return BACKBONES


def parse_competition(raw: Any, source: str = "competition.yaml") -> Competition:
    """Validate a parsed competition.yaml and build a :class:`Competition`."""
    c = _Checker(source)
    top = c.mapping(raw, "", ("name", "phases", "limits", "tracks"), ("description", "evaluation"))

    phases_raw = c.typed(top["phases"], "phases", "a non-empty list", lambda v: isinstance(v, list) and v)
    phases = []
    for i, item in enumerate(phases_raw):
        p = f"phases[{i}]"
        c.mapping(item, p, ("name", "ends", "ranks"))
        phases.append(Phase(c.string(item["name"], f"{p}.name"), c.timestamp(item["ends"], f"{p}.ends"),
                            c.choice(item["ranks"], f"{p}.ranks", SPLITS)))
    if len({p.name for p in phases}) != len(phases):
        c.fail("phases", "unique phase names", [p.name for p in phases])

    lim_fields = ("evaluations_per_day", "max_model_mb", "max_files", "timeout_s", "memory_mb")
    lim = c.mapping(top["limits"], "limits", (), lim_fields)
    limits = Limits(
        evaluations_per_day=c.positive_int(lim.get("evaluations_per_day", 3), "limits.evaluations_per_day"),
        max_model_mb=c.positive_number(lim.get("max_model_mb", 200), "limits.max_model_mb"),
        max_files=c.positive_int(lim.get("max_files", 200), "limits.max_files"),
        timeout_s=c.positive_number(lim.get("timeout_s", 600), "limits.timeout_s"),
        memory_mb=c.positive_int(lim.get("memory_mb", 4096), "limits.memory_mb"),
    )

    ev_fields = ("backbone", "resize", "bootstrap", "seed", "batch_size", "memorization_eps")
    ev = c.mapping(top.get("evaluation", {}), "evaluation", (), ev_fields)
    backbone = c.string(ev.get("backbone", Evaluation.backbone), "evaluation.backbone")
    backbones = _known_backbones()
    if backbone not in backbones:
        c.choice(backbone, "evaluation.backbone", tuple(sorted(backbones)))
    seed = ev.get("seed", 0)
    c.typed(seed, "evaluation.seed", "a non-negative integer",
            lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0)
    evaluation = Evaluation(
        backbone=backbone,
        resize=c.choice(ev.get("resize", "clean"), "evaluation.resize", RESIZE_MODES),
        bootstrap=c.positive_int(ev.get("bootstrap", 200), "evaluation.bootstrap"),
        seed=seed,
        batch_size=c.positive_int(ev.get("batch_size", 16), "evaluation.batch_size"),
        memorization_eps=c.positive_number(ev.get("memorization_eps", 0.1), "evaluation.memorization_eps"),
    )

    metrics_registry = _known_metrics()
    tracks_raw = c.typed(top["tracks"], "tracks", "a non-empty list", lambda v: isinstance(v, list) and v)
    tracks = []
    for i, item in enumerate(tracks_raw):
        p = f"tracks[{i}]"
        c.mapping(item, p, ("id", "kind", "dataset", "image_size", "metrics", "ranking"), ("title", "description", "min_test_images"))
        kind = c.choice(item["kind"], f"{p}.kind", TRACK_KINDS)
        size = c.typed(item["image_size"], f"{p}.image_size", "an integer between 16 and 1024",
                       lambda v: isinstance(v, int) and not isinstance(v, bool) and 16 <= v <= 1024)
        names = c.typed(item["metrics"], f"{p}.metrics", "a non-empty list of metric names",
                        lambda v: isinstance(v, list) and v and all(isinstance(m, str) for m in v))
        for j, name in enumerate(names):
            if name not in metrics_registry:
                c.choice(name, f"{p}.metrics[{j}]", tuple(sorted(metrics_registry)))
            if kind not in metrics_registry[name].kinds:
                c.fail(f"{p}.metrics[{j}]", f"a metric defined for {kind} tracks", name)
        rank = c.mapping(item["ranking"], f"{p}.ranking", ("metric", "order"))
        ranking = Ranking(c.choice(rank["metric"], f"{p}.ranking.metric", tuple(names)),
                          c.choice(rank["order"], f"{p}.ranking.order", ORDERS))
        natural = metrics_registry[ranking.metric].order
        if ranking.order != natural:
            c.fail(f"{p}.ranking.order", f"'{natural}' for {ranking.metric}", ranking.order)
        tracks.append(Track(
            id=c.identifier(item["id"], f"{p}.id"), kind=kind,
            dataset=c.identifier(item["dataset"], f"{p}.dataset"), image_size=size,
            metrics=tuple(names), ranking=ranking,
            title=str(item.get("title", "")), description=str(item.get("description", "")),
            min_test_images=c.typed(item.get("min_test_images", DEFAULT_MIN_TEST_IMAGES), f"{p}.min_test_images",
                                    "an integer of at least 2",
                                    lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 2),
        ))
    if len({t.id for t in tracks}) != len(tracks):
        c.fail("tracks", "unique track ids", [t.id for t in tracks])

    return Competition(name=c.string(top["name"], "name"), phases=tuple(phases), limits=limits,
                       evaluation=evaluation, tracks=tuple(tracks),
                       description=str(top.get("description", "")), source=source)


def load_competition(path: str | Path = "competition.yaml") -> Competition:
    """Load and validate competition.yaml; raises ConfigError naming file and key path."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path.name}: file not found at {path}")
    try:
        raw = load_yaml_file(path)
    except EaselError as exc:
        raise ConfigError(f"{path.name}: {exc.message}") from None
    return parse_competition(raw, path.name)


def default_competition_path() -> Path:
    """competition.yaml in the current directory, else the one shipped at the repo root."""
    here = Path("competition.yaml")
    if here.is_file():
        return here
    return Path(__file__).resolve().parent.parent / "competition.yaml"
