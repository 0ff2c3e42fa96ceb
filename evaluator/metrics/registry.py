"""The metric registry: one :class:`MetricSpec` per metric, carrying all of its behaviour.

A spec says what the metric reads, how its value is formed and what values it
can take; :mod:`evaluator.evaluate` (per-image values during inference) and
:mod:`evaluator.scoring` (point estimates and bootstrap intervals) loop over
specs and never test a metric's name. Adding a metric is one :func:`register`
call (see :mod:`evaluator.metrics.builtin` for every built-in one).

Three ways a value is formed (``combine``):

``mean``
    ``per_image(batch) -> float64 [b]`` is called on every inference batch
    (a :class:`Batch`); the value is the mean over the test set, and a
    bootstrap resample is the mean over the resampled rows.
``set``
    ``statistic(data) -> SetStatistic`` is built once from the whole test
    set's features (a :class:`SetData`); it gives the point estimate, any
    extra figures for result.json and the value of each resample.
``derived``
    ``derive(values, options) -> float`` from the values of the metrics in
    ``derives_from`` (the point estimates, then each resample's values).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Mapping, Protocol, Sequence

import numpy as np

from ..vocab import METRIC_RE, ORDERS, TRACK_KINDS

ALL_KINDS = TRACK_KINDS
COMBINES = ("mean", "set", "derived")
# What a per-image function may read from a Batch; "train_features" is for set statistics.
BATCH_NEEDS = ("input", "style", "output", "target", "input_maps", "output_maps", "target_maps")
NEEDS = BATCH_NEEDS + ("train_features",)
FEATURE_NEEDS = ("input_maps", "output_maps", "target_maps", "train_features")  # read from the metric's backbone


@dataclass
class Batch:
    """One inference batch as per-image functions see it (rows aligned).

    input, output, style, target: uint8 [b, H, W, 3] (style: example tracks,
    target: paired tracks, else None); *_maps: the backbone's feature maps of
    those images, lists of float32 [b, h, w, c], filled only when a spec
    being computed names them in ``needs``.
    """

    input: np.ndarray
    output: np.ndarray
    style: np.ndarray | None = None
    target: np.ndarray | None = None
    input_maps: list | None = None
    output_maps: list | None = None
    target_maps: list | None = None


@dataclass(frozen=True)
class Options:
    """Evaluation settings a metric may use (from competition.yaml's ``evaluation``)."""

    seed: int = 0
    kid_subset_size: int = 1000
    memorization_eps: float = 0.1
    # False for a backbone whose feature distances mean nothing (the offline stand-in): the memorization
    # ratio is then still reported, but no alarm is raised and MiFID applies no penalty.
    memorization_meaningful: bool = True


@dataclass(frozen=True)
class SetData:
    """A whole test set's features for set statistics.

    out: float64 [n, d] output features; ref: float64 [m, d] reference features;
    train: float64 [k, d] training target-domain features or None; paired: the
    references are the per-input targets (m == n, row i belongs with row i).
    """

    out: np.ndarray
    ref: np.ndarray
    train: np.ndarray | None
    paired: bool
    options: Options


class SetStatistic(Protocol):
    """What a set metric's ``statistic`` returns."""

    point: float  # the full-sample estimate
    extra: dict  # extra figures for result.json's ``extra`` (name -> number or bool)

    def resample(self, rows_out: np.ndarray, rows_ref: np.ndarray) -> float:
        """The statistic on out[rows_out] against ref[rows_ref] (int arrays drawn with replacement)."""


PLAUSIBLE_LIMIT = 1e21  # MiFID of an exact copy divides FID by 1e-14; nothing correct goes higher


@dataclass(frozen=True)
class MetricSpec:
    """One metric: its name, behaviour, direction, value range and description.

    order: "asc" (lower is better) or "desc"; kinds: the track kinds that may
    list it; low/high: the values it can take (intervals are clipped to them);
    listed: False for a helper quantity other metrics derive from, which a
    track cannot list (it is absent from :data:`METRICS`).
    backbone: the id of the backbone whose features (pool, maps, training
    features) the metric reads, e.g. "dinov2_vitl14"; None for the track's
    default (competition.yaml ``evaluation.backbone``). A track may replace it
    (``tracks[i].backbones``). Ignored for metrics that read no features.
    min_images: the fewest outputs and reference images per split the metric
    is defined on (a k-NN metric needs more than k references); a track
    listing it must set ``min_test_images`` at least this high.
    """

    name: str
    order: str
    kinds: tuple[str, ...]
    description: str
    combine: str = "mean"
    needs: tuple[str, ...] = ()
    per_image: Callable[[Batch], np.ndarray] | None = None
    statistic: Callable[[SetData], SetStatistic] | None = None
    derive: Callable[[Mapping[str, float], Options], float] | None = None
    derives_from: tuple[str, ...] = ()
    low: float = -math.inf
    high: float = math.inf
    listed: bool = True
    backbone: str | None = None
    min_images: int = 1

    @property
    def reads_features(self) -> bool:
        """Whether the metric reads backbone features: a set statistic, or a per-image one on feature maps."""
        return self.combine == "set" or any(need in FEATURE_NEEDS for need in self.needs)

    @property
    def value_range(self) -> tuple[float, float]:
        """(low, high) a correct evaluation can produce: [low, high] with unbounded ends capped at
        ±PLAUSIBLE_LIMIT, so a result of 1e308 is refused before it reaches the board."""
        return max(self.low, -PLAUSIBLE_LIMIT), min(self.high, PLAUSIBLE_LIMIT)


SPECS: dict[str, MetricSpec] = {}  # every spec, helper quantities included
METRICS: dict[str, MetricSpec] = {}  # the metrics a track may list


def register(*args, **fields) -> MetricSpec:
    """Add one metric, the single place it is declared: ``register(MetricSpec(...))`` or
    ``register(name, order, kinds, description, combine=..., ...)`` (the spec's fields).

    Raises ValueError for a name registered twice or a spec that cannot work
    (unknown order/kind/need, a missing function for its ``combine``, an
    unknown metric in ``derives_from``).
    """
    spec = args[0] if len(args) == 1 and isinstance(args[0], MetricSpec) else MetricSpec(*args, **fields)
    spec = replace(spec, kinds=tuple(spec.kinds), needs=tuple(spec.needs), derives_from=tuple(spec.derives_from))
    problem = _problem(spec)
    if problem:
        raise ValueError(f"metric {spec.name!r}: {problem}")
    SPECS[spec.name] = spec
    if spec.listed:
        METRICS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a metric again (tests that register a toy metric)."""
    SPECS.pop(name, None)
    METRICS.pop(name, None)


def _problem(spec: MetricSpec) -> str | None:
    if not isinstance(spec.name, str) or not METRIC_RE.match(spec.name):
        return "a name of 1-40 lowercase letters, digits and '_', starting with a letter"
    if spec.name in SPECS:
        return "registered twice"
    if spec.order not in ORDERS or not spec.kinds or not set(spec.kinds) <= set(ALL_KINDS):
        return "bad order or kinds"
    if not set(spec.needs) <= set(NEEDS):
        return f"needs must be among {NEEDS}"
    function = {"mean": spec.per_image, "set": spec.statistic, "derived": spec.derive}.get(spec.combine)
    if function is None:
        return f"combine {spec.combine!r} needs its function (per_image, statistic or derive)"
    if spec.combine == "derived" and not spec.derives_from:
        return "a derived metric names the metrics it derives from"
    unknown = [d for d in spec.derives_from if d not in SPECS]
    if unknown:
        return f"derives from unknown metric {unknown[0]!r} (register it first)"
    if not spec.low <= spec.high:
        return "low must not exceed high"
    if not isinstance(spec.min_images, int) or spec.min_images < 1:
        return "min_images must be a positive integer"
    if spec.backbone is not None and (spec.combine == "derived" or not spec.reads_features):
        return "only a metric that reads features names a backbone (a derived one follows its sources)"
    return None


def resolve(names: Sequence[str]) -> list[MetricSpec]:
    """The specs to compute for ``names``: each after everything it derives from, each once."""
    ordered: dict[str, MetricSpec] = {}

    def visit(name: str) -> None:
        if name in ordered:
            return
        spec = SPECS[name]
        for dependency in spec.derives_from:
            visit(dependency)
        ordered[name] = spec

    for name in names:
        visit(name)
    return list(ordered.values())


def backbones_of(name: str, backbone_for: Callable[[MetricSpec], str]) -> list[str]:
    """The backbone ids a metric's value depends on, in first-use order: its own (``backbone_for(spec)``,
    the track's choice for a metric that reads features), or for a derived metric those of its sources;
    [] for a metric on pixels only (PSNR, SSIM)."""
    found: dict[str, None] = {}
    for spec in resolve([name]):
        if spec.combine != "derived" and spec.reads_features:
            found.setdefault(backbone_for(spec))
    return list(found)


def needs_of(specs: Sequence[MetricSpec]) -> set[str]:
    """Everything the given specs read (union of their ``needs``)."""
    return {need for spec in specs for need in spec.needs}


def describe(name: str) -> str:
    """A metric's registry description ("" for a name not registered, e.g. from an old result)."""
    spec = SPECS.get(name)
    return spec.description if spec else ""
