"""`easel evaluate`: validate → verify data → sandboxed inference → features → metrics → result.json.

The trusted parent reads the held-out data, streams input batches to the
sandboxed model, checks every output batch, and reduces outputs to backbone
features and per-image scores as they arrive (memory stays flat in the number
of images). Only the inputs of the chosen split, and the showcase images of the
gallery (never scored), ever reach the model.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from .config import Competition, Track
from .errors import EXIT_ERROR, EXIT_INVALID, EXIT_OK, SUBMISSION, EaselError
from .result import (BackboneRef, DatasetRef, Device, Efficiency, EvaluatorRun, Metric, Result, ResultError,
                     SubmissionRef, TrackRef)
from .submission import n_model_inputs, validate_submission

log = logging.getLogger(__name__)



class Stopwatch:
    """Accumulates wall seconds per phase: ``with watch("features"): ...``."""

    def __init__(self, into: dict | None = None):
        self.seconds = into if into is not None else {}

    @contextlib.contextmanager
    def __call__(self, phase: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - start


@dataclass
class TestSet:
    """Relative paths (inside the dataset folder) of one split, aligned by index."""

    inputs: list[str]
    styles: list[str] | None  # example tracks: the style image given with each input
    targets: list[str] | None  # paired tracks
    reference_folder: str  # the target-style distribution FID/KID compare against
    reference: list[str]
    train_reference: list[str]  # training target-domain images (memorization check)


def test_set(manifest, track: Track, split: str) -> TestSet:
    """The files of ``split`` the track is scored on.

    Refuses (E_DATA_TOO_SMALL) a dataset with any test split below the track's
    min_test_images, whichever split is asked for: the public ranking of data
    whose private split cannot rank would end in a failed reveal.
    """
    from .data.manifest import check_min_test_images

    check_min_test_images(manifest, track.min_test_images)
    inputs = manifest.paths("test/A", split)
    if not inputs:
        raise EaselError("E_DATA_MANIFEST", f"no test/A images in split {split}", detail=split)
    styles = targets = None
    if track.kind == "paired":
        targets = manifest.paths("test/A_target", split)
        if len(targets) != len(inputs):
            raise EaselError("E_DATA_MANIFEST", "test/A_target does not match test/A", detail="test/A_target")
        folder, reference = "test/A_target", targets
    else:
        folder, reference = "test/B", manifest.paths("test/B", split)
        if not reference:
            raise EaselError("E_DATA_MANIFEST", f"no test/B images in split {split}", detail="test/B")
        if track.kind == "example":
            # Each content image is paired with a style image, cycling deterministically.
            styles = [reference[i % len(reference)] for i in range(len(inputs))]
    return TestSet(inputs, styles, targets, folder, reference, manifest.paths("train/B"))


def _batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


@dataclass
class TrackBackbones:
    """The backbones one track's metrics read, each loaded once and run once per image set.

    by_id: requested backbone id (competition.yaml's name) -> the loaded Backbone
    (an offline stand-in when the weights are absent; its ``id`` says so).
    of_metric: metric name -> requested id, for every metric (helpers included)
    that reads features. primary: the requested id recorded as ``result["backbone"]``
    (the ranking metric's, else the first one used). maps: requested id -> the
    map needs (input_maps, output_maps, target_maps) of its per-image metrics.
    pool: requested ids whose output/reference pool features a set metric reads;
    train: those whose training target-domain features one reads.
    """

    by_id: dict
    of_metric: dict[str, str]
    primary: str
    maps: dict[str, set[str]] = field(default_factory=dict)
    pool: set[str] = field(default_factory=set)
    train: set[str] = field(default_factory=set)

    @classmethod
    def single(cls, backbone, metric_names, cache_dir: Path | None = None) -> "TrackBackbones":
        """``backbone`` (loaded) as the track default (tests, benchmarks): a metric that names its own
        backbone (LPIPS' ``lpips_alex``) still reads that one, loaded here (offline stand-in allowed)."""
        from .features import load_backbone

        plan = cls._plan(metric_names, lambda spec: spec.backbone or "default", {"default": backbone}, None)
        for bid in plan.used:
            if bid not in plan.by_id:
                plan.by_id[bid] = load_backbone(bid, resize=backbone.resize, cache_dir=cache_dir)
        return plan

    @classmethod
    def _plan(cls, metric_names, backbone_for, by_id: dict, ranking: str | None) -> "TrackBackbones":
        from .metrics import SPECS, backbones_of, resolve

        of_metric, maps, pool, train = {}, {}, set(), set()
        for spec in resolve(list(metric_names)):
            if spec.combine == "derived" or not spec.reads_features:
                continue
            bid = of_metric[spec.name] = backbone_for(spec)
            maps.setdefault(bid, set()).update(n for n in spec.needs if n.endswith("_maps"))
            if spec.combine == "set":
                pool.add(bid)
            if "train_features" in spec.needs:
                train.add(bid)
        ranked = backbones_of(ranking, backbone_for) if ranking in SPECS else []
        primary = (ranked or list(dict.fromkeys(of_metric.values())) or list(by_id))[0]
        return cls(by_id, of_metric, primary, maps, pool, train)

    @property
    def used(self) -> list[str]:
        """Requested ids in first-use order (the primary first)."""
        return list(dict.fromkeys([self.primary, *self.of_metric.values()]))

    def metric_backbones(self, name: str) -> list[str]:
        """The ids actually used (stand-ins included) behind metric ``name``: [] for pixel metrics."""
        from .metrics import backbones_of

        return [self.by_id[b].id for b in backbones_of(name, lambda spec: self.of_metric[spec.name])]

    def records(self) -> tuple[BackboneRef, ...]:
        """One record per backbone used, the primary first (result.json's ``backbones``)."""
        seen: dict[str, BackboneRef] = {}
        for bid in self.used:
            record = BackboneRef(**self.by_id[bid].describe())
            seen.setdefault(record.id, record)
        return tuple(seen.values())

    def standin(self, name: str) -> bool:
        """Whether metric ``name`` (one that reads features) is computed on an offline stand-in."""
        return self.by_id[self.of_metric[name]].offline_standin


def load_track_backbones(track: Track, competition: Competition, cache_dir: Path | None) -> TrackBackbones:
    """Load every backbone ``track``'s metrics read, once each: a metric's track choice
    (``tracks[i].backbones``), else its registered backbone, else ``evaluation.backbone``.
    A track whose metrics read no features still loads the default, so every result names one."""
    from .features import load_backbone

    ev = competition.evaluation
    plan = TrackBackbones._plan(track.metrics, lambda spec: track.backbone_for(spec, ev.backbone),
                                {ev.backbone: None}, track.ranking.metric)
    plan.by_id = {bid: load_backbone(bid, resize=ev.resize, cache_dir=cache_dir) for bid in plan.used}
    return plan


@dataclass
class Collected:
    """Everything kept from inference: features, per-image scores and value ranges, not images.

    features: requested backbone id -> pool features float32 [b, d] of the
    outputs, one array per batch (every backbone run on the outputs).
    output_low: the lowest model output over the whole test set (model range
    [-1, 1]); input_low, input_high: the range of the inputs sent.
    """

    features: dict[str, list[np.ndarray]] = field(default_factory=dict)
    per_image: dict[str, list[np.ndarray]] = field(default_factory=dict)
    output_low: float = np.inf
    input_low: float = np.inf
    input_high: float = -np.inf
    primary: str | None = None

    @property
    def out_feats(self) -> list[np.ndarray]:
        """The primary backbone's output features (one array per batch)."""
        return self.features.get(self.primary, [])

    def add(self, name: str, values: np.ndarray) -> None:
        self.per_image.setdefault(name, []).append(np.asarray(values, np.float64))

    def note_ranges(self, inputs: np.ndarray, outputs: np.ndarray) -> None:
        self.input_low = min(self.input_low, float(inputs.min()))
        self.input_high = max(self.input_high, float(inputs.max()))
        self.output_low = min(self.output_low, float(np.min(outputs)))


def run_inference(model, backbones, data_dir: Path, tests: TestSet, track: Track, batch_size: int,
                  watch: Stopwatch) -> Collected:
    """Stream inputs through the sandboxed model; reduce outputs to features and scores.

    ``backbones``: a :class:`TrackBackbones` (or one Backbone for every metric).
    Each backbone runs once on each batch of outputs (pool and maps together),
    and on the inputs and targets only when one of its metrics reads their maps.
    Returns pool features float32 [n, d] per backbone (as lists of batches) and
    per-image float64 [n] scores of every ``mean`` metric the track's metrics
    need (each spec's ``per_image`` on a :class:`~evaluator.metrics.Batch`
    holding the maps of that metric's own backbone).
    """
    from tqdm import tqdm

    from .data.images import load_rgb_uint8, to_model_range, to_uint8
    from .metrics import Batch, resolve

    if not isinstance(backbones, TrackBackbones):
        backbones = TrackBackbones.single(backbones, track.metrics)
    specs = [spec for spec in resolve(track.metrics) if spec.combine == "mean"]
    got = Collected(primary=backbones.primary)
    n = len(tests.inputs)
    with tqdm(total=n, desc=f"{track.id}: inference", unit="img", file=sys.stderr, leave=False) as bar:
        for sl in _batches(n, batch_size):
            s8 = t8 = None
            with watch("load"):
                x8 = np.stack([load_rgb_uint8(data_dir / p) for p in tests.inputs[sl]])
                model_inputs = [to_model_range(x8)]
                if tests.styles is not None:
                    s8 = np.stack([load_rgb_uint8(data_dir / p) for p in tests.styles[sl]])
                    model_inputs.append(to_model_range(s8))
                if tests.targets is not None:
                    t8 = np.stack([load_rgb_uint8(data_dir / p) for p in tests.targets[sl]])
            with watch("inference"):
                y = model.predict(model_inputs)
                got.note_ranges(model_inputs[0], y)
                y8 = to_uint8(y)
            batches = {}
            with watch("features"):
                for bid in dict.fromkeys([*backbones.pool, *backbones.maps]):
                    backbone, needs = backbones.by_id[bid], backbones.maps.get(bid, set())
                    f_out = backbone.features(y8, maps="output_maps" in needs)
                    # The pool comes with the same forward pass; kept for every backbone run on outputs.
                    got.features.setdefault(bid, []).append(f_out.pool)
                    batch = batches[bid] = Batch(input=x8, output=y8, style=s8, target=t8, output_maps=f_out.maps)
                    if "input_maps" in needs:
                        batch.input_maps = backbone.features(x8).maps
                    if "target_maps" in needs and t8 is not None:
                        batch.target_maps = backbone.features(t8).maps
            with watch("metrics"):
                plain = Batch(input=x8, output=y8, style=s8, target=t8)
                for spec in specs:
                    bid = backbones.of_metric.get(spec.name)
                    got.add(spec.name, spec.per_image(plain if bid is None else batches[bid]))
            bar.update(len(x8))
    return got


def _reference(backbone, data_dir: Path, manifest, folder: str, paths: list[str], split: str,
               cache_dir: Path | None, image_size: int) -> np.ndarray:
    from .features import reference_features

    key = {"manifest_sha256": manifest.sha256, "folder": folder, "split": split,
           "backbone": backbone.id, "weights_sha256": backbone.weights_sha256,
           "resize": backbone.resize, "image_size": image_size}
    return reference_features(backbone, [data_dir / p for p in paths], key, cache_dir)


def evaluate_submission(submission_dir: str | Path, data_root: str | Path, competition: Competition,
                        split: str = "public", samples_path: Path | None = None,
                        cache_dir: Path | None = None, batch_size: int | None = None,
                        timings: dict | None = None, require_gpu: bool = False,
                        model_cache: Path | None = None) -> Result:
    """Score one submission; always returns a checked :class:`~evaluator.result.Result` (never raises).

    status: ok | invalid (the submission is at fault) | error (data or evaluator).
    ``timings``, when given, receives wall seconds per phase (load, sandbox_start,
    inference, features, reference, metrics) for benchmarks/evaluate.py.
    ``require_gpu``: refuse with E_NO_GPU (status error) unless TensorFlow sees a GPU,
    in this process and in the sandboxed child.
    ``samples_path``: where to write the gallery PNG (``write_gallery``: showcase images only).
    ``model_cache``: the folder `easel fetch-model` filled; a URL model is read from it, never downloaded.
    """
    started = time.perf_counter()
    result = Result(split=split)
    try:
        _evaluate_into(result, Path(submission_dir), Path(data_root), competition, split, samples_path,
                       cache_dir, batch_size or competition.evaluation.batch_size, Stopwatch(timings),
                       require_gpu, model_cache)
    except EaselError as exc:
        result = result.refused(exc, "invalid" if exc.fault == SUBMISSION else "error")
        log.warning("evaluation refused: %s", exc)
    except Exception:  # noqa: BLE001 - an evaluator bug must still produce a result
        traceback.print_exc()
        result = result.refused(EaselError("E_INTERNAL"), "error")
    result.evaluator = EvaluatorRun(seconds=round(time.perf_counter() - started, 3))
    return Result.from_json(result.to_json())  # what is written is exactly what every reader accepts


def _evaluate_into(result: Result, root: Path, data_root: Path, competition: Competition, split: str,
                   samples_path: Path | None, cache_dir: Path | None, batch_size: int,
                   watch: Stopwatch, require_gpu: bool = False, model_cache: Path | None = None) -> None:
    """The one place a submission's result is assembled: each stage returns its part, set here as it
    arrives (a refusal half-way keeps the parts known so far)."""
    validation = validate_submission(root, competition, probe=False, cache_dir=cache_dir, model_cache=model_cache)
    meta = validation.meta
    if meta is not None:
        result.submission = SubmissionRef(team=meta.team, model=meta.model, track=meta.track,
                                          baseline=meta.baseline, format=meta.format,
                                          content_sha256=validation.content_sha256)
    if not validation.ok:
        result.status = "invalid"
        result.errors = tuple(ResultError.of(p) for p in validation.problems)
        return
    track = competition.track(meta.track)
    result.track = TrackRef.of(track)

    from .gallery import write_gallery
    from .sandbox import SandboxedModel
    from .sandbox import require_gpu as refuse_without_gpu

    if require_gpu:
        refuse_without_gpu()

    data = open_track_data(data_root, track, split)
    result.dataset = data.dataset
    backbones = load_track_backbones(track, competition, cache_dir)
    result.backbone, result.backbones = backbones.records()[0], backbones.records()

    with contextlib.ExitStack() as stack:
        with watch("sandbox_start"):  # spawn, load, signature check, probe batch
            model = stack.enter_context(SandboxedModel(
                validation.model_path, meta.format, n_model_inputs(track.kind), track.image_size,
                competition.limits, batch_size=batch_size, require_gpu=require_gpu))
        in_effect = ", ".join(sorted(k for k, on in model.isolation.items() if on))
        missing = ", ".join(sorted(k for k, on in model.isolation.items() if not on))
        print(f"sandbox isolation in effect: {in_effect}" + (f"; not in effect: {missing}" if missing else ""),
              file=sys.stderr)
        collected = run_inference(model, backbones, data.folder, data.tests, track, batch_size, watch)
        with watch("efficiency"):
            efficiency = model.efficiency(_efficiency_probe(data.folder, data.tests, batch_size))
        if samples_path is not None:
            with watch("gallery"):
                write_gallery(model, data.folder, data.manifest, track, batch_size, samples_path)
    result.efficiency = Efficiency(
        images_per_s=_round(efficiency.get("images_per_s")),
        best_batch_size=efficiency.get("best_batch_size"),
        latency_ms_batch1=_round(efficiency.get("latency_ms_batch1")),
        parameters=efficiency.get("parameters"),
        model_bytes=validation.model_bytes,
        device=Device(**model.device),  # measured in the child, where the model runs
    )
    scored = score_collected(collected, backbones, data, track, competition, split, cache_dir, watch)
    result.metrics, result.extra, result.notes = scored.metrics, scored.extra, scored.notes


@dataclass(frozen=True)
class TrackData:
    """A track's verified dataset: its folder, its Manifest, the split's files and the record a result keeps."""

    folder: Path
    manifest: object  # evaluator.data.manifest.Manifest
    tests: TestSet
    dataset: DatasetRef


def open_track_data(data_root: Path, track: Track, split: str) -> TrackData:
    """Verify the track's dataset and pick the split's files.

    Raises EaselError for data faults (missing, changed, wrong size, a split below min_test_images).
    """
    from .data.manifest import open_dataset

    data_dir, manifest = open_dataset(data_root, track.dataset)
    if manifest.image_size != track.image_size:
        raise EaselError("E_DATA_MANIFEST", f"dataset is {manifest.image_size}px, track wants {track.image_size}px",
                         detail=track.dataset)
    tests = test_set(manifest, track, split)
    return TrackData(data_dir, manifest, tests, DatasetRef(track.dataset, manifest.sha256, len(tests.inputs)))


@dataclass(frozen=True)
class Scored:
    """The scoring stage's part of a result: metrics with intervals, extra facts and notes (None: none)."""

    metrics: dict[str, Metric]
    extra: dict
    notes: tuple[str, ...] | None


def score_collected(collected: Collected, backbones: TrackBackbones, data: TrackData, track: Track,
                    competition: Competition, split: str, cache_dir: Path | None, watch: Stopwatch) -> Scored:
    """Reference features of every backbone a set metric reads, then the track's metrics with
    intervals, each naming the backbones behind it.

    Shared by submissions and the oracle rows (evaluator/oracle.py), so both are scored alike.
    """
    from .scoring import FeatureSet, TrackSample, score_track

    data_dir, manifest, tests = data.folder, data.manifest, data.tests
    sets = {}
    with watch("reference"):
        for bid in dict.fromkeys([*backbones.pool, *backbones.train]):
            backbone = backbones.by_id[bid]
            ref = _reference(backbone, data_dir, manifest, tests.reference_folder, tests.reference, split,
                             cache_dir, track.image_size)
            train_ref = None
            if bid in backbones.train:
                train_ref = _reference(backbone, data_dir, manifest, "train/B", tests.train_reference, "train",
                                       cache_dir, track.image_size)
            sets[bid] = FeatureSet(np.concatenate(collected.features[bid]), ref, train_ref)
    sample = TrackSample(
        out_feats=None, ref_feats=None, sets=sets, backbone_of=dict(backbones.of_metric),
        per_image={k: np.concatenate(v) for k, v in collected.per_image.items()},
        paired=tests.targets is not None)  # the references are the per-input targets
    ev = competition.evaluation
    # The memorization distances mean something only on a real backbone's features.
    meaningful = "memorization" not in backbones.of_metric or not backbones.standin("memorization")
    with watch("metrics"):
        metrics, extra = score_track(list(track.metrics), sample, n_resamples=ev.bootstrap, seed=ev.seed,
                                     memorization_eps=ev.memorization_eps, memorization_meaningful=meaningful)
    notes = output_range_notes(collected)
    return Scored(
        metrics={name: Metric(value=m["value"], ci95=None if m["ci95"] is None else tuple(m["ci95"]),
                              order=m["order"], n=m["n"], backbones=tuple(backbones.metric_backbones(name)))
                 for name, m in metrics.items()},
        extra={k: (bool(v) if isinstance(v, (bool, np.bool_)) else _round(v)) for k, v in extra.items()},
        notes=tuple(notes) if notes else None)


# A sigmoid head's outputs stay in [0, 1]; allow for an output that rounds a hair below 0.
SIGMOID_OUTPUT_FLOOR = -0.02
FULL_INPUT_RANGE = 0.9  # inputs reaching below -0.9 and above 0.9 span the model range [-1, 1]


def output_range_notes(collected: Collected) -> list[str]:
    """Result notes about the outputs' value range: ["output_range_0_1"] when the model's outputs
    never went below about 0 over the whole test set while its inputs spanned [-1, 1] (a model
    that probably ends in a sigmoid; it is scored all the same). Empty otherwise."""
    spans = collected.input_low <= -FULL_INPUT_RANGE and collected.input_high >= FULL_INPUT_RANGE
    return ["output_range_0_1"] if spans and collected.output_low >= SIGMOID_OUTPUT_FLOOR else []


def _efficiency_probe(data_dir: Path, tests: TestSet, batch_size: int) -> list[np.ndarray]:
    """A batch of real inputs for the speed measurement (same split, already sent once)."""
    from .data.images import load_rgb_uint8, to_model_range

    paths = (tests.inputs * batch_size)[:batch_size]
    batch = [to_model_range(np.stack([load_rgb_uint8(data_dir / p) for p in paths]))]
    if tests.styles is not None:
        styles = (tests.styles * batch_size)[:batch_size]
        batch.append(to_model_range(np.stack([load_rgb_uint8(data_dir / p) for p in styles])))
    return batch


def _round(value, digits: int = 6):
    return None if value is None else float(round(float(value), digits))


def exit_code_for(result: Result) -> int:
    return {"ok": EXIT_OK, "invalid": EXIT_INVALID}.get(result.status, EXIT_ERROR)


def summary_line(result: Result) -> str:
    sub = result.submission
    name = f"{sub.team}/{sub.model}" if sub is not None else "?/?"
    if result.status != "ok":
        return f"{name}: {result.status} ({', '.join(result.error_codes)})"
    rank = result.track.metric
    m = result.metrics[rank]
    return f"{name} on {result.track.id}: {rank} = {m.value:.4g} [{m.ci95[0]:.4g}, {m.ci95[1]:.4g}]"
