"""Do the metrics measure what people see? The FID paper's disturbance test, on every dev track and backbone.

For each dev track the ideal outputs are known: the track's style function
applied to the held-out test inputs (the *oracle*; on the paired track these
are the targets). Each disturbance of the FID paper (Heusel et al. 2017:
Gaussian noise, Gaussian blur, black rectangles, swirl, salt and pepper, and
mixing in other images; here photos of the other dev datasets stand in for
ImageNet), plus mode collapse (the outputs replaced by fewer and fewer of
their own images, repeated: sharp and in style, but not diverse, which
recall and coverage must see and FID alone may not), is applied to the
oracle outputs at increasing strengths, and every
level is scored against the clean references exactly as a submission's
outputs are (same per-image metrics, same :func:`evaluator.scoring.score_track`),
with every metric the track lists, each on the backbone it reads: FID, KID,
MiFID and ArtFID on every pool backbone available here
(``convnet_random_seed0``, the offline stand-in ``inception_v3_random_seed0``
and ``inception_fid`` where its weights are installed); FD-DINOv2, CMMD and
precision, recall, density and coverage (scored on every track) on their own
backbones, ``dinov2_vitl14`` and ``clip_vitl14_336`` where their weights are
installed, else their stand-ins, as the tracks score them, and the k-NN
metrics on every pool backbone too, for comparison; content_distance and
perceptual_distance (LPIPS) on ``lpips_alex``, else its stand-in
``alexnet_random_seed0``. A metric passes for a disturbance when it gets
worse at every step of strength. Each disturbed set is made once per track
and each distinct image's features once per backbone (:class:`FeatureCache`:
the clean oracle, mixed-in and collapsed sets repeat images), and the sweeps
skip the bootstrap, whose intervals only the order check reads.

Then it checks the order oracle < learned baselines < colour transfer <
identity on each metric, with the baselines run in-process on the same
inputs; a step is *plain* when the two 95% intervals do not overlap.

Run by hand: ``.venv/bin/python benchmarks/validity.py`` (64 px, 60 test
images per track, 5 strengths; with ``--no-order`` 7 min 36 s and 2.5 GB peak
memory on 2 CPU cores, offline stand-ins; the same tables on every run).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from disturbances import disturbances  # noqa: E402

BACKBONE_IDS = ("inception_v3_random_seed0", "convnet_random_seed0", "inception_fid")
PIXEL_METRICS = frozenset({"ssim", "psnr", "content_ssim"})  # computed on pixels: the same for every backbone
# LPIPS reads its own backbone (lpips_alex, or its offline stand-in): the same for every pool backbone
LPIPS_METRICS = frozenset({"content_distance", "perceptual_distance"})
CONTENT_METRICS = frozenset({"content_distance", "artfid"})  # need the inputs' feature maps
# scored on every track in addition to its own list: the k-NN metrics (issue 22)
EXTRA_METRICS = ("precision", "recall", "density", "coverage")
CONTENT_ORDER_EXEMPT = frozenset({"content_distance", "content_ssim"})  # identity keeps all content
BATCH = 16
CACHE_BATCH = 64  # the feature cache's batches: fewer calls into TensorFlow (features do not depend on it)


@dataclass
class TrackData:
    """One dev track's held-out images, all uint8 [n, H, W, 3] aligned by index."""

    track: object
    inputs: np.ndarray
    styles: np.ndarray | None     # example tracks: the style image given with each input
    targets: np.ndarray | None    # paired tracks
    oracle: np.ndarray            # the style function applied to the inputs
    references: np.ndarray        # what FID/KID compare against (test/B, or the targets)
    train_references: np.ndarray  # training target-style images (MiFID)


def competition_at(size: int):
    """The shipped competition.yaml with every track at ``size`` px."""
    from evaluator.config import parse_competition

    raw = yaml.safe_load((ROOT / "competition.yaml").read_text())
    for track in raw["tracks"]:
        track["image_size"] = size
    return parse_competition(raw, source=f"competition.yaml at {size} px")


def _stack(data_dir: Path, paths: list[str]) -> np.ndarray:
    from evaluator.data.images import load_rgb_uint8

    return np.stack([load_rgb_uint8(data_dir / p) for p in paths])


def oracle_outputs(manifest, tests, inputs: np.ndarray, data_dir: Path) -> np.ndarray:
    """The ideal output of every test input: its dataset's style function, with the synthesizer's texture seed."""
    from evaluator.data.styles import apply_style

    if tests.targets is not None:
        return _stack(data_dir, tests.targets)  # synth writes style(input) as the target
    scenes, styles = manifest.source["scenes"], manifest.source["styles"]
    out = []
    for i, rel in enumerate(tests.inputs):
        # example tracks: the style of the style image given with this input; else the dataset's one style
        style = styles[tests.styles[i]] if tests.styles is not None else manifest.source["style"]
        out.append(apply_style(style, inputs[i], np.random.default_rng([scenes[rel], 7])))
    return np.stack(out)


def track_data(data_root: Path, track, limit: int | None = None) -> TrackData:
    """Decode one track's test set (both splits: more images, tighter estimates) and its oracle."""
    from evaluator.data.manifest import open_dataset
    from evaluator.evaluate import test_set

    data_dir, manifest = open_dataset(data_root, track.dataset)
    tests = test_set(manifest, track, "all")
    if limit:
        for name in ("inputs", "styles", "targets"):
            if getattr(tests, name) is not None:
                setattr(tests, name, getattr(tests, name)[:limit])
    inputs = _stack(data_dir, tests.inputs)
    return TrackData(
        track=track, inputs=inputs,
        styles=_stack(data_dir, tests.styles) if tests.styles is not None else None,
        targets=_stack(data_dir, tests.targets) if tests.targets is not None else None,
        oracle=oracle_outputs(manifest, tests, inputs, data_dir),
        references=_stack(data_dir, tests.reference), train_references=_stack(data_dir, tests.train_reference))


def other_photos(data_root: Path, dataset: str) -> np.ndarray:
    """Test photos of every other dev dataset: the images mixed in (the paper's ImageNet contamination)."""
    from evaluator.data.manifest import open_dataset
    from evaluator.data.synth import DEV_DATASETS

    photos = []
    for other in DEV_DATASETS:
        if other != dataset and (data_root / other).is_dir():
            data_dir, manifest = open_dataset(data_root, other)
            photos.append(_stack(data_dir, manifest.paths("test/A")))
    return np.concatenate(photos)


class FeatureCache:
    """Each backbone's features of each distinct image, computed once per track.

    Keyed by (backbone id, the image's bytes' digest), so the disturbances share
    extraction wherever their outputs repeat images: the clean oracle (strength 0
    of every sweep, the order check's first row), the untouched rows of mixed
    images, every image of mode collapse, the references of every backbone.
    Features do not depend on the batch (the evaluator's tests check it to 1e-5).
    """

    def __init__(self):
        self._store: dict[tuple, tuple[np.ndarray, list]] = {}  # (id, maps?, digest) -> (pool, maps)
        self.computed = self.reused = 0
        self.seconds: dict[str, float] = {}  # backbone id -> time spent extracting

    def features(self, backbone, images: np.ndarray, maps: bool):
        """Pool features float32 [n, d] and (when ``maps``) the feature maps [n, h, w, c], in batches of 16."""
        import hashlib

        keys = [(backbone.id, maps, hashlib.blake2b(img.tobytes(), digest_size=16).digest()) for img in images]
        first: dict = {}  # each missing image once (a set may repeat one)
        for i, key in enumerate(keys):
            if key not in self._store:
                first.setdefault(key, i)
        todo = sorted(first.values())
        started = time.perf_counter()
        for b in range(0, len(todo), CACHE_BATCH):
            rows = todo[b:b + CACHE_BATCH]
            got = backbone.features(images[rows], maps=maps)
            for j, i in enumerate(rows):
                self._store[keys[i]] = (got.pool[j], [m[j] for m in got.maps] if maps else [])
        self.seconds[backbone.id] = self.seconds.get(backbone.id, 0.0) + time.perf_counter() - started
        self.computed += len(todo)
        self.reused += len(images) - len(todo)
        entries = [self._store[key] for key in keys]
        pool = np.stack([e[0] for e in entries])
        return pool, ([np.stack([e[1][k] for e in entries]) for k in range(len(entries[0][1]))] if maps else [])


def _features(backbone, images: np.ndarray, maps: bool, cache: FeatureCache | None = None):
    """Pool features float32 [n, d] and (when ``maps``) the feature maps, in batches of 16."""
    if cache is not None:
        return cache.features(backbone, images, maps)
    parts = [backbone.features(images[i:i + BATCH], maps=maps) for i in range(0, len(images), BATCH)]
    pool = np.concatenate([p.pool for p in parts])
    return pool, ([np.concatenate([p.maps[k] for p in parts]) for k in range(len(parts[0].maps))] if maps else [])


class Scorer:
    """Scores output sets of one track as the evaluator does; the references' features computed once.

    Set metrics read ``backbone`` (the pool backbone; None when ``metrics``
    holds none that reads it), except those whose registered backbone is a key
    of ``own`` ({registered id: loaded backbone, the real one or its stand-in}),
    which read that one, as a track does; LPIPS metrics read ``lpips_backbone``.
    ``metrics``: what to score (default: the track's list). ``cache``: a
    :class:`FeatureCache` shared by the scorers of one track.
    """

    def __init__(self, backbone, data: TrackData, resamples: int, seed: int = 0, lpips_backbone=None,
                 own: dict | None = None, metrics=None, cache: FeatureCache | None = None):
        from evaluator import metrics as M

        self.metrics = tuple(metrics or data.track.metrics)
        wanted = {spec.name for spec in M.resolve(list(self.metrics))}
        self.backbone, self.data, self.resamples, self.seed = backbone, data, resamples, seed
        self.cache = cache
        self.need_maps = bool(wanted & CONTENT_METRICS) or "perceptual_distance" in wanted
        if self.need_maps and lpips_backbone is None:
            lpips_backbone = lpips_backbone_here()
        self.lpips = lpips_backbone  # LPIPS' own network: its maps, whatever the pool backbone
        self.in_maps = (_features(lpips_backbone, data.inputs, True, cache)[1]
                        if wanted & {"content_distance"} else None)
        self.target_maps = (_features(lpips_backbone, data.targets, True, cache)[1]
                            if data.targets is not None and "perceptual_distance" in wanted else None)
        # which loaded backbone each set metric reads ("pool" or its registered id)
        own = own or {}
        self.set_backbone = {spec.name: (spec.backbone if spec.backbone in own else "pool")
                             for spec in M.resolve(list(self.metrics)) if spec.combine == "set"}
        self.loaded = {key: (own[key] if key != "pool" else backbone) for key in set(self.set_backbone.values())}
        train_keys = {self.set_backbone[n] for n in self.set_backbone if "train_features" in M.SPECS[n].needs}
        self.ref = {key: _features(b, data.references, False, cache)[0] for key, b in self.loaded.items()}
        self.train = {key: _features(self.loaded[key], data.train_references, False, cache)[0] for key in train_keys}

    def label(self, metric: str) -> str:
        """The backbone a metric's row names: the loaded backbone's id (a stand-in's own), or (pixels)."""
        if metric in PIXEL_METRICS:
            return "(pixels)"
        if metric in LPIPS_METRICS:
            return self.lpips.id
        key = self.set_backbone.get(metric)
        if key is None:  # derived: the backbone of its feature source
            from evaluator import metrics as M

            key = next(self.set_backbone[d] for d in M.SPECS[metric].derives_from if d in self.set_backbone)
        return self.loaded[key].id

    def per_image(self, outputs: np.ndarray, out_maps: list[np.ndarray]) -> dict[str, np.ndarray]:
        """The per-image values run_inference computes, for the metrics scored (and those they derive from)."""
        from evaluator import metrics as M

        wanted, data, got = {spec.name for spec in M.resolve(list(self.metrics))}, self.data, {}
        if self.in_maps is not None:
            got["content_distance"] = M.lpips_distance(self.in_maps, out_maps)
        if "content_ssim" in wanted:
            got["content_ssim"] = M.ssim(data.inputs, outputs)
        if data.targets is not None:
            if "psnr" in wanted:
                got["psnr"] = M.psnr(outputs, data.targets)
            if "ssim" in wanted:
                got["ssim"] = M.ssim(outputs, data.targets)
            if self.target_maps is not None:
                got["perceptual_distance"] = M.lpips_distance(out_maps, self.target_maps)
        return got

    def score(self, outputs: np.ndarray, resamples: int | None = None) -> dict[str, dict]:
        """metric -> {"value", "ci95", "order", "n", "backbone"} for uint8 outputs [n, H, W, 3]
        (``resamples``: bootstrap resamples, default the scorer's)."""
        from evaluator.scoring import FeatureSet, TrackSample, score_track

        sets = {key: FeatureSet(_features(b, outputs, False, self.cache)[0], self.ref[key], self.train.get(key))
                for key, b in self.loaded.items()}
        out_maps = _features(self.lpips, outputs, True, self.cache)[1] if self.need_maps else []
        sample = TrackSample(None, None, per_image=self.per_image(outputs, out_maps),
                             paired=self.data.track.kind == "paired",  # references are the per-input targets
                             sets=sets, backbone_of=self.set_backbone)
        scores = score_track(list(self.metrics), sample, n_resamples=resamples or self.resamples, seed=self.seed)[0]
        for name, entry in scores.items():
            entry["backbone"] = self.label(name)
        return scores


def lpips_backbone_here():
    """LPIPS' AlexNet where its weights are installed, else its labelled offline stand-in."""
    return own_backbone_here("lpips_alex")


def own_backbone_here(backbone_id: str):
    """A metric's own backbone where its weights are installed, else its labelled offline stand-in."""
    import warnings

    from evaluator.features import load_backbone

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the stand-in's warning; the table names it
        return load_backbone(backbone_id)


def available_backbones(ids=BACKBONE_IDS) -> list:
    """Every backbone loadable here; inception_fid only where its real weights are installed (no stand-in)."""
    from evaluator.errors import EaselError
    from evaluator.features import load_backbone

    loaded = []
    for backbone_id in ids:
        try:
            loaded.append(load_backbone(backbone_id, allow_offline_standin=False))
        except EaselError as exc:
            print(f"skipping {backbone_id}: {exc.message}", file=sys.stderr)
    return loaded


# The monotone table reads point values only, so the sweeps skip the bootstrap (one resample; the point
# estimates do not depend on it); the order check, which reads the intervals, keeps the full resamples.
SWEEP_RESAMPLES = 1


def sweep_all(scorers: list, levels: int, others: np.ndarray, names=None, seed: int = 0) -> list[dict]:
    """For each scorer: disturbance -> [metrics at strength 0, 1/(levels-1), ..., 1] (strength 0: the clean
    oracle). Each disturbed set is made once and scored by every scorer (all score the same track's oracle)."""
    oracle = scorers[0].data.oracle
    clean = [scorer.score(oracle, SWEEP_RESAMPLES) for scorer in scorers]
    out: list[dict] = [{} for _ in scorers]
    for name, disturb in disturbances(others).items():
        if names and name not in names:
            continue
        values = [[c] for c in clean]
        for level in range(1, levels):
            disturbed = disturb(oracle, level / (levels - 1), np.random.default_rng([seed, level]))
            for series, scorer in zip(values, scorers):
                series.append(scorer.score(disturbed, SWEEP_RESAMPLES))
        for result, series in zip(out, values):
            result[name] = series
    return out


def sweep(scorer: Scorer, levels: int, others: np.ndarray, names=None, seed: int = 0) -> dict:
    """disturbance -> [metrics at strength 0, 1/(levels-1), ..., 1]; strength 0 is the clean oracle."""
    return sweep_all([scorer], levels, others, names, seed)[0]


def monotone(values: list[float], order: str) -> int | None:
    """None when every step of strength makes the metric worse; else the first step (1-based) that does not."""
    sign = 1.0 if order == "asc" else -1.0
    for step in range(1, len(values)):
        if not sign * (values[step] - values[step - 1]) > 0:
            return step
    return None


def monotone_table(results: dict, names: list[str]) -> list[str]:
    """Markdown: one row per (track, backbone, metric), one column per disturbance.

    ``results``: track -> [sweeps of one scorer, ...]; each metric entry names its backbone."""
    lines = ["| track | backbone | metric | " + " | ".join(names) + " |",
             "|---|---|---|" + "---|" * len(names)]
    for track_id, groups in results.items():
        for sweeps in groups:
            first = next(iter(sweeps.values()))[0]
            for metric, entry in first.items():
                cells = []
                for name in names:
                    series = sweeps[name]
                    bad = monotone([s[metric]["value"] for s in series], entry["order"])
                    cells.append("yes" if bad is None else f"**no** (step {bad})")
                lines.append(f"| {track_id} | {entry['backbone']} | {metric} | " + " | ".join(cells) + " |")
    return lines


def baseline_models(track_id: str) -> list[tuple[str, Path, str]]:
    """(name, model path, format) of every baseline of a track, learned ones first, identity last."""
    found = []
    for meta_path in sorted(ROOT.glob(f"baselines/*/{track_id}/submission.yaml")):
        meta = yaml.safe_load(meta_path.read_text())
        found.append((meta_path.parent.parent.name, meta_path.parent / meta["model"]["path"], meta["model"]["format"]))
    rank = {"color_transfer": 1, "identity": 2}
    return sorted(found, key=lambda f: (rank.get(f[0], 0), f[0]))


def run_model(path: Path, fmt: str, data: TrackData) -> np.ndarray:
    """A baseline's uint8 outputs on the track's inputs, in-process (our own models, not a submission)."""
    from evaluator.data.images import to_model_range, to_uint8
    from evaluator.models import load_model

    model = load_model(fmt, path)
    outs = []
    for i in range(0, len(data.inputs), BATCH):
        batch = [to_model_range(data.inputs[i:i + BATCH])]
        if data.styles is not None:
            batch.append(to_model_range(data.styles[i:i + BATCH]))
        outs.append(to_uint8(np.clip(np.asarray(model(batch), np.float64), -1, 1)))
    return np.concatenate(outs)


def order_table(scores: dict) -> list[str]:
    """Markdown: per (track, backbone, metric) the chain oracle < learned < colour transfer < identity.

    ``<`` plain (95% intervals apart), ``≤`` right order within the intervals, ``>`` wrong order.
    Content metrics are left out: they measure how much of the input is kept,
    where identity is perfect by construction, so the chain does not apply.
    """
    lines = ["| track | backbone | metric | order (best first) | holds |", "|---|---|---|---|---|"]
    for (track_id, _group), by_model in scores.items():
        names = list(by_model)
        for metric in next(iter(by_model.values())):
            if metric in CONTENT_ORDER_EXEMPT:
                continue
            entries = [by_model[n][metric] for n in names]
            sign = 1.0 if entries[0]["order"] == "asc" else -1.0
            chain, holds = [f"{names[0]} {entries[0]['value']:.4g}"], True
            for prev, cur, name in zip(entries, entries[1:], names[1:]):
                (prev_lo, prev_hi), (cur_lo, cur_hi) = (e["ci95"] or (e["value"], e["value"]) for e in (prev, cur))
                if sign * (cur["value"] - prev["value"]) <= 0:
                    op, holds = ">", False
                elif (cur_lo > prev_hi) if sign > 0 else (cur_hi < prev_lo):  # worse, intervals apart
                    op = "<"
                else:
                    op = "≤"
                chain.append(f"{op} {name} {cur['value']:.4g}")
            lines.append(f"| {track_id} | {entries[0]['backbone']} | {metric} | {' '.join(chain)} | {'yes' if holds else '**no**'} |")
    return lines


def track_scorers(data: TrackData, pool_backbones: list, own: dict, lpips, resamples: int,
                  cache: FeatureCache) -> list[Scorer]:
    """The scorers of one track, each metric on the backbone(s) it reads, each row of the table once:
    per pool backbone, the metrics of the track's default backbone (FID, KID, MiFID, ArtFID) and the
    k-NN metrics (on every backbone, for comparison); then once, the metrics on their own backbones
    (FD-DINOv2, CMMD, the k-NN metrics on DINOv2 as the tracks score them, LPIPS) and the pixel metrics."""
    from evaluator import metrics as M

    listed = list(dict.fromkeys(data.track.metrics + EXTRA_METRICS))
    on_pool = [m for m in listed if m in EXTRA_METRICS or (M.SPECS[m].backbone is None and m not in PIXEL_METRICS
                                                           and m not in LPIPS_METRICS)]
    on_own = [m for m in listed if (M.SPECS[m].backbone in own) or m in PIXEL_METRICS or m in LPIPS_METRICS]
    scorers = [Scorer(b, data, resamples, lpips_backbone=lpips, metrics=on_pool, cache=cache) for b in pool_backbones]
    scorers.append(Scorer(None, data, resamples, lpips_backbone=lpips, own=own, metrics=on_own, cache=cache))
    return scorers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="image side in px (default: 64)")
    # 120: 60 test images, 30 per split, the shipped tracks' minimum test size
    parser.add_argument("--count", type=int, default=120,
                        help="dev train images per domain; the test set is count/2 (default: 120, 60 test images)")
    parser.add_argument("--levels", type=int, default=5, help="strengths per disturbance, clean included (default: 5)")
    parser.add_argument("--resamples", type=int, default=100,
                        help="bootstrap resamples of the order check (default: 100)")
    parser.add_argument("--backbones", nargs="*", default=list(BACKBONE_IDS),
                        help="pool backbones to try (default: all)")
    parser.add_argument("--tracks", nargs="*", default=None, help="track ids (default: every track)")
    parser.add_argument("--no-order", action="store_true", help="skip the baseline order check")
    parser.add_argument("--data", type=Path, default=None,
                        help="dev data already synthesized at --size (default: synthesize afresh)")
    args = parser.parse_args(argv)

    from evaluator import metrics as M
    from evaluator.data.synth import synthesize

    started = time.perf_counter()
    competition = competition_at(args.size)
    tracks = [t for t in competition.tracks if args.tracks is None or t.id in args.tracks]
    backbones = available_backbones(args.backbones)
    lpips = lpips_backbone_here()
    own_ids = {M.SPECS[m].backbone for t in tracks for m in t.metrics + EXTRA_METRICS} - {None, "lpips_alex"}
    own = {bid: own_backbone_here(bid) for bid in sorted(own_ids)}  # the real weights where installed
    with tempfile.TemporaryDirectory() as tmp:
        data_root = args.data or Path(tmp) / "data"
        if args.data is None:
            synthesize(data_root, size=args.size, count=args.count)
        results, scores = {}, {}
        for track in tracks:
            data = track_data(data_root, track)
            others = other_photos(data_root, track.dataset)
            cache = FeatureCache()
            scorers = track_scorers(data, backbones, own, lpips, args.resamples, cache)
            print(f"{track.id}: {len(data.inputs)} images, {len(scorers)} scorers", file=sys.stderr, flush=True)
            results[track.id] = sweep_all(scorers, args.levels, others)
            if not args.no_order:
                outputs = {"oracle": data.oracle}
                outputs.update({name: run_model(path, fmt, data) for name, path, fmt in baseline_models(track.id)})
                for g, scorer in enumerate(scorers):
                    scores[(track.id, g)] = {name: scorer.score(y) for name, y in outputs.items()}
            spent = ", ".join(f"{bid} {sec:.0f} s" for bid, sec in sorted(cache.seconds.items(), key=lambda kv: -kv[1]))
            print(f"{track.id}: features of {cache.computed} images computed ({spent}), {cache.reused} reused "
                  f"({time.perf_counter() - started:.0f} s so far)", file=sys.stderr, flush=True)
    names = list(next(iter(results.values()))[0])
    print(f"\n### Monotone in each disturbance? ({len(data.inputs)} oracle outputs per track at {args.size} px, "
          f"{args.levels} strengths; 'no (step k)': strength k was not worse than k-1)\n")
    print("\n".join(monotone_table(results, names)))
    if scores:
        print("\n### Order oracle < learned baselines < colour transfer < identity "
              "('<' intervals apart, '≤' right order within the intervals, '>' wrong order)\n")
        print("\n".join(order_table(scores)))
    print(f"\n{time.perf_counter() - started:.0f} s in all", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
