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
from .schema import Checker, parse_time
from .vocab import ID_RE, ORDERS, RESIZE_MODES, TEST_SPLITS, TRACK_KINDS

SPLITS = TEST_SPLITS
_MISSING_DEFAULT = object()
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
    max_model_mb: float = 256.0  # pix2pix unet_256 is 217.7 MB at float32
    max_files: int = 200
    timeout_s: float = 600.0
    memory_mb: int = 4096
    final_entries: int = 2  # entries per team and track that count for the private ranking
    # Hosts a submission's model.url may name (https only); empty: URL models are off.
    model_url_hosts: tuple[str, ...] = ()


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
    # (metric, backbone id) pairs replacing a metric's own backbone on this track (competition.yaml
    # ``backbones: {metric: backbone}``); a metric not named here reads its registered backbone.
    backbones: tuple[tuple[str, str], ...] = ()

    def backbone_for(self, spec, default: str) -> str:
        """The backbone id whose features ``spec`` (a MetricSpec that reads features) is computed on
        here: the track's choice for it, else the metric's own, else ``default`` (evaluation.backbone)."""
        return dict(self.backbones).get(spec.name) or spec.backbone or default


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
        valid = ", ".join(t.id for t in self.tracks)
        shown = track_id if isinstance(track_id, str) and ID_RE.match(track_id) else "(not an id)"
        raise EaselError("E_TRACK_UNKNOWN", f"unknown track {shown}; the tracks are: {valid}",
                         detail=f"tracks:{'/'.join(t.id for t in self.tracks)}"[:120])

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


# --- the schema, checked with the shared kit (evaluator/schema.py) -------------

DATE_EXPECTED = "an ISO 8601 date such as 2027-03-01T00:00:00Z"
HOST_RE = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$")


class _Checker(Checker):
    """The shared checker, raising on the first failure with code E_CONFIG, plus config's own shapes."""

    def __init__(self, source: str):
        super().__init__(source, "E_CONFIG")

    def fail(self, path: str, expected: str, got: Any = _MISSING_DEFAULT, code: str | None = None) -> Any:
        try:
            return super().fail(path, expected, got, code) if got is not _MISSING_DEFAULT \
                else super().fail(path, expected, code=code)
        except EaselError as exc:
            raise ConfigError(exc.message, exc.code) from None

    def typed(self, value: Any, path: str, expected: str, check: Callable[[Any], bool]) -> Any:
        return value if check(value) else self.fail(path, expected, value)

    def string(self, value: Any, path: str) -> str:
        return self.typed(value, path, "a string", lambda v: isinstance(v, str) and v.strip() != "")

    def identifier(self, value: Any, path: str) -> str:
        return self.match(value, path, ID_RE, "an id of lowercase letters, digits, '-' or '_'")

    def timestamp(self, value: Any, path: str) -> dt.datetime:
        try:
            return parse_time(value)
        except (ValueError, TypeError):
            return self.fail(path, DATE_EXPECTED, value)


def _known_metrics() -> dict:
    from .metrics import METRICS  # the metric registry

    return METRICS


def _known_backbones() -> dict:
    from .features import BACKBONES  # the backbone registry

    return BACKBONES


def _track_backbones(c: _Checker, raw: Any, path: str, names: list[str], backbones: dict
                     ) -> tuple[tuple[str, str], ...]:
    """A track's ``backbones: {metric: backbone id}``: listed metrics that read features, registered
    backbones; also checks that every listed metric's own backbone is registered."""
    from .metrics import SPECS, resolve

    for spec in resolve(names):
        if spec.backbone is not None and spec.backbone not in backbones:
            c.fail(f"{path}.metrics", f"metrics whose backbone is registered ({spec.name} reads "
                   f"{spec.backbone}, which this Easel does not have)", spec.name)
    choices = c.mapping(raw, f"{path}.backbones", (), tuple(names)) if raw else {}
    pairs = []
    for name, backbone in choices.items():
        spec = SPECS[name]
        if spec.combine == "derived":
            c.fail(f"{path}.backbones.{name}", "a metric that reads features itself (a derived metric follows "
                   f"its sources: {', '.join(spec.derives_from)})", name)
        if not spec.reads_features:
            c.fail(f"{path}.backbones.{name}", "a metric that reads backbone features", name)
        if backbone not in backbones:
            c.choice(backbone, f"{path}.backbones.{name}", tuple(sorted(backbones)))
        pairs.append((name, backbone))
    return tuple(pairs)


def _track_sizes_fit_metrics(c: _Checker, path: str, names: list[str], min_test: int, image_size: int,
                             chosen: dict[str, str], default_backbone: str, backbones: dict) -> None:
    """Refuse, at check time rather than at evaluation, a track whose splits may hold fewer images than
    one of its metrics is defined on (a k-NN metric needs more than k references), or whose images are
    smaller than a metric's backbone accepts at their own size (LPIPS' AlexNet: 31 px)."""
    from .metrics import resolve

    for spec in resolve(names):
        if spec.min_images > min_test:
            c.fail(f"{path}.min_test_images", f"at least {spec.min_images}, the fewest test images per split "
                   f"{spec.name} is defined on (raise min_test_images, with data to match, or leave {spec.name} "
                   "out of metrics)", min_test)
        if not spec.reads_features or spec.combine == "derived":
            continue
        backbone_id = chosen.get(spec.name) or spec.backbone or default_backbone
        backbone = backbones[backbone_id]
        if backbone.input_size == 0 and image_size < backbone.min_image_size:
            c.fail(f"{path}.image_size", f"at least {backbone.min_image_size} px for {spec.name}: its backbone "
                   f"{backbone_id} runs on the images at their own size and needs {backbone.min_image_size} px "
                   f"(raise image_size, with data prepared at that size, or leave {spec.name} out of metrics)",
                   image_size)


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

    lim_fields = ("evaluations_per_day", "max_model_mb", "max_files", "timeout_s", "memory_mb", "final_entries",
                  "model_url_hosts")
    lim = c.mapping(top["limits"], "limits", (), lim_fields)
    hosts = c.sequence(lim.get("model_url_hosts", []), "limits.model_url_hosts", 50)
    for i, host in enumerate(hosts):
        c.match(host, f"limits.model_url_hosts[{i}]", HOST_RE, "a lowercase host name such as huggingface.co")
    limits = Limits(
        evaluations_per_day=c.count(lim.get("evaluations_per_day", 3), "limits.evaluations_per_day", 1),
        max_model_mb=float(c.number(lim.get("max_model_mb", Limits.max_model_mb), "limits.max_model_mb", positive=True)),
        max_files=c.count(lim.get("max_files", 200), "limits.max_files", 1),
        timeout_s=float(c.number(lim.get("timeout_s", 600), "limits.timeout_s", positive=True)),
        memory_mb=c.count(lim.get("memory_mb", 4096), "limits.memory_mb", 1),
        final_entries=c.count(lim.get("final_entries", 2), "limits.final_entries", 1),
        model_url_hosts=tuple(hosts),
    )

    ev_fields = ("backbone", "resize", "bootstrap", "seed", "batch_size", "memorization_eps")
    ev = c.mapping(top.get("evaluation", {}), "evaluation", (), ev_fields)
    backbone = c.string(ev.get("backbone", Evaluation.backbone), "evaluation.backbone")
    backbones = _known_backbones()
    if backbone not in backbones:
        c.choice(backbone, "evaluation.backbone", tuple(sorted(backbones)))
    seed = ev.get("seed", 0)
    c.count(seed, "evaluation.seed", 0)
    evaluation = Evaluation(
        backbone=backbone,
        resize=c.choice(ev.get("resize", "clean"), "evaluation.resize", RESIZE_MODES),
        bootstrap=c.count(ev.get("bootstrap", 200), "evaluation.bootstrap", 1),
        seed=seed,
        batch_size=c.count(ev.get("batch_size", 16), "evaluation.batch_size", 1),
        memorization_eps=float(c.number(ev.get("memorization_eps", 0.1), "evaluation.memorization_eps",
                                        positive=True)),
    )

    metrics_registry = _known_metrics()
    tracks_raw = c.typed(top["tracks"], "tracks", "a non-empty list", lambda v: isinstance(v, list) and v)
    tracks = []
    for i, item in enumerate(tracks_raw):
        p = f"tracks[{i}]"
        c.mapping(item, p, ("id", "kind", "dataset", "image_size", "metrics", "ranking"),
                  ("title", "description", "min_test_images", "backbones"))
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
        chosen = _track_backbones(c, item.get("backbones", {}), p, names, backbones)
        min_test = c.typed(item.get("min_test_images", DEFAULT_MIN_TEST_IMAGES), f"{p}.min_test_images",
                           "an integer of at least 2",
                           lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 2)
        _track_sizes_fit_metrics(c, p, names, min_test, size, dict(chosen), backbone, backbones)
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
            min_test_images=min_test,
            backbones=chosen,
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
