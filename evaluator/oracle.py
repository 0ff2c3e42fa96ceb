"""Oracle rows: the true style function applied to a dev track's test inputs, scored like any submission.

The dev datasets are procedural (`easel data synth`), so for every test input
the ideal output is known: on a paired track its target, on an unpaired track
the dataset's style applied to the input, on an example track the style of
the style image given with it (each with the texture seed synth uses, so a
paired oracle output equals its target byte for byte). The oracle runs in
process (it is Easel's own code, not a participant's) through the same
inference loop and the same scoring as a submission, and is written as an
ordinary result.json: team ``oracle``, model ``ideal``, ``baseline: true``
(docs/contracts.md). Datasets made by `easel data prepare` have no known ideal
output: ``oracle_result`` refuses them (E_ORACLE_UNAVAILABLE) rather than pretend.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from .config import Competition, Track
from .errors import EaselError
from .fsutil import canonical_json
from .result import BackboneRef, EvaluatorRun, Result, SubmissionRef, TrackRef

ORACLE_TEAM, ORACLE_MODEL = "oracle", "ideal"


def _synth_dataset(manifest):
    """The DevDataset a manifest was synthesized from, or None (prepared or unknown data)."""
    from .data.synth import DEV_DATASETS, GENERATOR

    source = manifest.source or {}
    spec = DEV_DATASETS.get(manifest.dataset)
    if source.get("generator") != GENERATOR or spec is None or spec.kind != manifest.kind:
        return None
    if not isinstance(source.get("scenes"), dict) or not isinstance(source.get("styles"), dict):
        return None
    return spec


def has_oracle(manifest) -> bool:
    """Whether the dataset was synthesized by `easel data synth`, so its ideal outputs are known."""
    return _synth_dataset(manifest) is not None


def _key(image: np.ndarray) -> bytes:
    return hashlib.sha256(np.ascontiguousarray(image, dtype=np.uint8).tobytes()).digest()


class StyleOracle:
    """A trusted in-process stand-in for the sandboxed model that returns each input's ideal output.

    Knows the test inputs of ``tests`` and the showcase images (as the gallery
    pairs them), so the oracle gets a gallery like any entry. ``predict`` has the
    sandboxed model's interface ([float32 [b, H, W, 3] in [-1, 1], ...] ->
    float32 [b, H, W, 3]). It recognises each input (and style image) by its
    pixels, so it does not depend on batch order.
    """

    def __init__(self, data_dir: Path, manifest, tests, track: Track):
        from .data.images import load_rgb_uint8
        from .data.styles import STYLES

        spec = _synth_dataset(manifest)
        if spec is None:
            raise EaselError("E_ORACLE_UNAVAILABLE", f"dataset {manifest.dataset} was not synthesized: its ideal "
                             "outputs are unknown", detail=manifest.dataset)
        scenes, styles = manifest.source["scenes"], manifest.source["styles"]
        self._ideal: dict[tuple[bytes, bytes], np.ndarray] = {}
        for i, rel in enumerate(tests.inputs):
            photo = load_rgb_uint8(data_dir / rel)
            style_key = b""
            if tests.targets is not None:  # paired: the target is the style applied to this very photo
                ideal = load_rgb_uint8(data_dir / tests.targets[i])
            else:
                name = spec.style
                if tests.styles is not None:  # example: the style of the style image given with the input
                    name = styles[tests.styles[i]]
                    style_key = _key(load_rgb_uint8(data_dir / tests.styles[i]))
                ideal = STYLES[name](photo, np.random.default_rng([scenes[rel], 7]))
            self._ideal[_key(photo), style_key] = ideal
        self._add_showcase(data_dir, manifest, track, spec)

    def _add_showcase(self, data_dir: Path, manifest, track: Track, spec) -> None:
        """Ideal outputs of the gallery's showcase inputs (paired with styles as ``showcase_columns`` does)."""
        from .data.images import load_rgb_uint8
        from .data.manifest import SHOWCASE
        from .data.styles import STYLES

        scenes = manifest.source.get("showcase_scenes") or {}
        styles = manifest.source.get("showcase_styles") or {}
        style_paths = manifest.paths("showcase/B", SHOWCASE)
        for i, rel in enumerate(manifest.paths("showcase/A", SHOWCASE)):
            if rel not in scenes or (track.kind == "example" and not style_paths):
                continue
            photo = load_rgb_uint8(data_dir / rel)
            name, style_key = spec.style, b""
            if track.kind == "example":
                style_rel = style_paths[i % len(style_paths)]
                name, style_key = styles[style_rel], _key(load_rgb_uint8(data_dir / style_rel))
            self._ideal[_key(photo), style_key] = STYLES[name](photo, np.random.default_rng([scenes[rel], 7]))

    def predict(self, inputs: list[np.ndarray]) -> np.ndarray:
        """The ideal outputs of a batch, float32 [b, H, W, 3] in [-1, 1]."""
        from .data.images import to_model_range, to_uint8

        contents = to_uint8(inputs[0])
        styles = to_uint8(inputs[1]) if len(inputs) > 1 else [None] * len(contents)
        out = []
        for content, style in zip(contents, styles):
            key = (_key(content), b"" if style is None else _key(style))
            if key not in self._ideal:
                raise EaselError("E_ORACLE_UNAVAILABLE", "the oracle was asked for an image outside the test split",
                                 detail="oracle")
            out.append(self._ideal[key])
        return to_model_range(np.stack(out))


def oracle_result(data_root: str | Path, competition: Competition, track_id: str, split: str = "public",
                  cache_dir: Path | None = None, samples_path: Path | None = None) -> Result:
    """Score the oracle of one track on ``split``; returns a checked Result (status ok).

    ``samples_path``: also write the oracle's gallery there (ideal outputs of the showcase images).

    Raises EaselError: E_ORACLE_UNAVAILABLE when the track's dataset was not
    synthesized, and the data faults of `easel evaluate` (missing or changed
    dataset, a split below min_test_images).
    """
    from .evaluate import Stopwatch, load_track_backbones, open_track_data, run_inference, score_collected
    from .gallery import write_gallery

    started = time.perf_counter()
    track = competition.track(track_id)
    data = open_track_data(Path(data_root), track, split)
    oracle = StyleOracle(data.folder, data.manifest, data.tests, track)
    # The content hash names what was scored: this track's oracle on this exact dataset.
    content = hashlib.sha256(canonical_json({"oracle": track.id, "manifest_sha256": data.manifest.sha256})
                             .encode("utf-8")).hexdigest()
    ev = competition.evaluation
    backbones = load_track_backbones(track, competition, cache_dir)
    watch = Stopwatch()
    collected = run_inference(oracle, backbones, data.folder, data.tests, track, ev.batch_size, watch)
    if samples_path is not None:
        write_gallery(oracle, data.folder, data.manifest, track, ev.batch_size, samples_path)
    scored = score_collected(collected, backbones, data, track, competition, split, cache_dir, watch)
    result = Result(split=split, track=TrackRef.of(track), dataset=data.dataset,
                    submission=SubmissionRef(team=ORACLE_TEAM, model=ORACLE_MODEL, track=track.id, baseline=True,
                                             format=None, content_sha256=content),
                    backbone=backbones.records()[0], backbones=backbones.records(), metrics=scored.metrics, extra=scored.extra,
                    notes=scored.notes,
                    evaluator=EvaluatorRun(seconds=round(time.perf_counter() - started, 3)))
    return Result.from_json(result.to_json())


ORACLE_META = {"authors": ["Easel"], "license": "", "links": {},
               "description": "The true style function applied to the test inputs (ideal output); not ranked."}

__all__ = ["ORACLE_META", "ORACLE_MODEL", "ORACLE_TEAM", "StyleOracle", "has_oracle", "oracle_result"]
