"""Metrics on their own backbones: a track mixes metrics that read different backbones; each
backbone runs once per image set, every metric records the backbone (and weights) behind it,
and results are never ranked together across different weights of any metric's backbone."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib

import numpy as np
import pytest

from evaluator import features as F
from evaluator import metrics as M
from evaluator.errors import EaselError
from harness import make_submission, small_competition
from model_builders import identity_model

OTHER = "test_convnet_squared"  # a second backbone, registered only here
TOY_FD = "toy_fd_other"
SEEN: dict[str, int] = {}  # backbone id -> images it was run on


def _load_other(spec, request):
    base = F.load_backbone("convnet_random_seed0", request.resize, request.root)
    digest = F.weights_sha256([np.full(1, 2.0, np.float32)]) if request.expected_sha256 is None \
        else request.expected_sha256

    def run(x):
        SEEN[spec.id] = SEEN.get(spec.id, 0) + len(x)
        outs = base._fn(x)
        return (np.asarray(outs[0]) ** 2, *outs[1:])  # other features: the convnet's, squared

    return F.Backbone(spec, request.resize, digest, run)


@pytest.fixture
def other_backbone():
    from evaluator.features.registry import _LOADED
    from evaluator.metrics.builtin import FidStatistic

    F.register_backbone(F.BackboneSpec(id=OTHER, input_size=64, pool_dim=256, offline_standin=True,
                                       load=_load_other, for_ranking=False,
                                       description="test: the convnet's features squared"))
    M.register(TOY_FD, "asc", M.ALL_KINDS, "Fréchet distance on the second test backbone.", combine="set",
               statistic=FidStatistic, low=0.0, backbone=OTHER)
    yield OTHER
    M.unregister(TOY_FD)
    F.BACKBONES.pop(OTHER)
    for key in [k for k in _LOADED if k[0] == OTHER]:
        del _LOADED[key]


def _competition(metrics, **track_fields):
    from evaluator.config import parse_competition

    raw = small_competition()
    ink = next(t for t in raw["tracks"] if t["id"] == "photo2ink")
    ink["metrics"] = metrics
    ink.update(track_fields)
    return parse_competition(raw, "competition.yaml")


@pytest.mark.filterwarnings("ignore:.*OFFLINE STAND-IN:RuntimeWarning")  # expected here; its text: test_cli_output
def test_each_metric_on_its_backbone_each_backbone_once_per_image_set(other_backbone, tmp_path, data_root, cache):
    from evaluator.data.images import load_rgb_uint8
    from evaluator.data.manifest import open_dataset
    from evaluator.evaluate import evaluate_submission
    from evaluator.report import render_comment
    from evaluator.result import Result

    competition = _competition(["kid", "fid", "content_distance", "content_ssim", TOY_FD])
    sub = make_submission(tmp_path, identity_model)
    SEEN.clear()
    result = evaluate_submission(sub, data_root, competition, cache_dir=tmp_path / "cache").to_json()
    assert result["status"] == "ok", result["errors"]
    _, manifest = open_dataset(data_root, "dev-ink")
    inputs, refs = manifest.paths("test/A", "public"), manifest.paths("test/B", "public")
    # The second backbone ran on the outputs and the references only: no metric of it reads the inputs.
    assert SEEN == {OTHER: len(inputs) + len(refs)}
    SEEN.clear()
    again = evaluate_submission(sub, data_root, competition, cache_dir=tmp_path / "cache").to_json()
    assert SEEN == {OTHER: len(inputs)}  # references come from the cache now
    assert again["metrics"][TOY_FD]["value"] == result["metrics"][TOY_FD]["value"]

    assert [b["id"] for b in result["backbones"]] == ["convnet_random_seed0", "alexnet_random_seed0", OTHER]
    assert result["backbone"] == result["backbones"][0]  # the ranking metric's (kid)
    assert {name: m["backbones"] for name, m in result["metrics"].items()} == {
        "kid": ["convnet_random_seed0"], "fid": ["convnet_random_seed0"],
        "content_distance": ["alexnet_random_seed0"], "content_ssim": [], TOY_FD: [OTHER]}  # LPIPS' own (stand-in)

    # The toy value is the Fréchet distance of the second backbone's features, computed here directly.
    other = F.load_backbone(OTHER, cache_dir=tmp_path / "cache")
    out = other.features(np.stack([load_rgb_uint8(data_root / "dev-ink" / p) for p in inputs])).pool
    ref = other.features(np.stack([load_rgb_uint8(data_root / "dev-ink" / p) for p in refs])).pool
    assert result["metrics"][TOY_FD]["value"] == pytest.approx(M.frechet_distance(out, ref), rel=1e-6)
    assert result["metrics"][TOY_FD]["value"] != pytest.approx(result["metrics"]["fid"]["value"], rel=1e-3)

    comment = render_comment(Result.from_json(result), competition)
    assert "| metric | value | 95% interval | direction | n | backbone |" in comment
    assert f"`{OTHER}`" in comment and "pixels" in comment
    assert comment.count("Offline stand-in backbone") == 3  # every stand-in is named (LPIPS' AlexNet too)


KNN = ("precision", "recall", "density", "coverage")


@pytest.fixture(scope="module")
def knn_data(tmp_path_factory):
    """dev-ink at 32 px with 6 test images per split: the fewest density and coverage (k = 5) are defined on."""
    from evaluator.data.synth import synthesize

    root = tmp_path_factory.mktemp("knn")
    synthesize(root, size=32, count=24, seed=0, datasets=["dev-ink"])
    return root


@pytest.mark.filterwarnings("ignore:.*OFFLINE STAND-IN:RuntimeWarning")  # expected here; its text: test_cli_output
def test_knn_metrics_read_dinov2_or_its_labelled_stand_in(tmp_path, knn_data, cache):
    from evaluator.data.images import load_rgb_uint8
    from evaluator.data.manifest import open_dataset
    from evaluator.evaluate import evaluate_submission
    from evaluator.report import render_comment
    from evaluator.result import Result

    competition = _competition(["kid", *KNN], min_test_images=6)
    assert {M.METRICS[name].backbone for name in KNN} == {"dinov2_vitl14"}
    result = evaluate_submission(make_submission(tmp_path, identity_model), knn_data, competition,
                                 cache_dir=tmp_path / "cache").to_json()
    assert result["status"] == "ok", result["errors"]
    # No DINOv2 weights here: the seeded stand-in ran, and the result says so for each of the four.
    assert {name: result["metrics"][name]["backbones"] for name in KNN} == {n: ["dinov2_vit_random_seed0"]
                                                                          for n in KNN}
    record = next(b for b in result["backbones"] if b["id"] == "dinov2_vit_random_seed0")
    assert record["offline_standin"] is True
    assert result["metrics"]["kid"]["backbones"] == ["convnet_random_seed0"]  # the track's default, unchanged

    # The values are the k-NN metrics of the stand-in's features, computed here directly (real = references).
    _, manifest = open_dataset(knn_data, "dev-ink")
    dino = F.load_backbone("dinov2_vitl14", cache_dir=tmp_path / "cache")
    out, ref = (dino.features(np.stack([load_rgb_uint8(knn_data / "dev-ink" / p)
                                        for p in manifest.paths(folder, "public")])).pool
                for folder in ("test/A", "test/B"))
    expected = M.precision_recall_density_coverage(ref, out)
    assert {name: result["metrics"][name]["value"] for name in KNN} == pytest.approx(expected)
    comment = render_comment(Result.from_json(result), competition)
    assert "`dinov2_vit_random_seed0`" in comment and comment.count("Offline stand-in backbone") == 2


def test_a_track_too_small_for_a_knn_metric_is_refused_at_config_time():
    assert _competition(["kid", "precision", "recall"], min_test_images=4).track("photo2ink").min_test_images == 4
    for metrics, needed in ((["kid", "precision"], 4), (["kid", "recall", "coverage"], 6)):
        with pytest.raises(EaselError, match="E_CONFIG") as err:
            _competition(metrics, min_test_images=needed - 1)
        assert (f"tracks[0].min_test_images: expected at least {needed}, the fewest test images per split"
                in str(err.value)), str(err.value)


def test_a_track_replaces_a_metrics_backbone(other_backbone, tmp_path, data_root, cache):
    from evaluator.evaluate import evaluate_submission

    competition = _competition(["kid", "fid"], backbones={"fid": OTHER})
    assert competition.track("photo2ink").backbones == (("fid", OTHER),)
    result = evaluate_submission(make_submission(tmp_path, identity_model), data_root, competition,
                                 cache_dir=tmp_path / "cache").to_json()
    assert result["metrics"]["fid"]["backbones"] == [OTHER]
    assert result["metrics"]["kid"]["backbones"] == ["convnet_random_seed0"]


@pytest.mark.parametrize("backbones, expected", [
    ({"content_ssim": "convnet_random_seed0"}, "a metric that reads backbone features"),
    ({"artfid": "convnet_random_seed0"}, "a derived metric follows its sources"),
    ({"fid": "no_such_backbone"}, "tracks[0].backbones.fid"),
    ({"psnr": "convnet_random_seed0"}, "tracks[0].backbones.psnr"),  # not a metric of this track
])
def test_track_backbones_refused_with_the_key_path(backbones, expected):
    with pytest.raises(EaselError, match="E_CONFIG") as err:
        _competition(["kid", "fid", "artfid", "content_distance", "content_ssim"], backbones=backbones)
    assert expected in str(err.value)


def test_a_metric_naming_an_unregistered_backbone_is_refused_at_config_time():
    M.register("toy_unknown_backbone", "asc", M.ALL_KINDS, "test", combine="set",
               statistic=lambda data: None, backbone="not_installed")
    try:
        with pytest.raises(EaselError, match="not_installed"):
            _competition(["kid", "toy_unknown_backbone"])
    finally:
        M.unregister("toy_unknown_backbone")


def test_registry_refuses_a_backbone_on_a_metric_without_features():
    with pytest.raises(ValueError, match="only a metric that reads features names a backbone"):
        M.register("toy_pixels", "asc", M.ALL_KINDS, "test", needs=("output",),
                   per_image=lambda b: np.zeros(len(b.output)), backbone="convnet_random_seed0")
    assert "toy_pixels" not in M.SPECS


def _ok_result(team, other_weights):
    from evaluator.result import new_result, validate_result

    r = new_result()
    r["submission"] = {"team": team, "model": "m", "track": "photo2ink", "baseline": False, "format": "keras",
                       "content_sha256": hashlib.sha256(team.encode()).hexdigest()}
    r["track"] = {"id": "photo2ink", "kind": "unpaired", "ranking": {"metric": "kid", "order": "asc"}}
    r["dataset"] = {"id": "dev-ink", "manifest_sha256": "d" * 64, "n_inputs": 4}
    primary = {"id": "convnet_random_seed0", "weights_sha256": "c" * 64, "resize": "clean",
               "offline_standin": True}
    r["backbone"] = primary
    r["backbones"] = [primary, {"id": OTHER, "weights_sha256": other_weights * 64, "resize": "clean",
                                "offline_standin": True}]
    r["metrics"] = {"kid": {"value": 0.1, "ci95": [0.05, 0.2], "order": "asc", "n": 4,
                            "backbones": ["convnet_random_seed0"]},
                    TOY_FD: {"value": 3.0, "ci95": [2.0, 4.0], "order": "asc", "n": 4, "backbones": [OTHER]}}
    return validate_result(r)


def test_never_ranked_together_across_weights_of_any_metrics_backbone(other_backbone):
    from evaluator.leaderboard import add_result, empty_board, validate_board

    now = dt.datetime(2027, 1, 2, tzinfo=dt.timezone.utc)
    board, _ = add_result(empty_board(), _ok_result("alpha", "a"), pr=1, commit="1" * 40, now=now)
    entry = validate_board(board.to_json()).to_json()["entries"][0]
    assert [b["id"] for b in entry["backbones"]] == ["convnet_random_seed0", OTHER]
    assert entry["public"]["metrics"][TOY_FD]["backbones"] == [OTHER]
    board, _ = add_result(board, _ok_result("beta", "a"), pr=2, commit="2" * 40, now=now)  # same weights: joins
    # The primary backbone is the same; only the second metric's weights differ: refused all the same.
    with pytest.raises(EaselError, match="E_RESULT_BACKBONE") as err:
        add_result(board, _ok_result("gamma", "b"), pr=3, commit="3" * 40, now=now)
    assert err.value.detail == "backbones"


def test_site_names_each_metrics_backbone(other_backbone, tmp_path):
    from evaluator.leaderboard import add_result, empty_board
    from evaluator.site_build import build_site

    competition = _competition(["kid", TOY_FD])
    now = dt.datetime(2027, 1, 2, tzinfo=dt.timezone.utc)
    board, _ = add_result(empty_board(), _ok_result("alpha", "a"), pr=1, commit="1" * 40, now=now,
                          competition=competition)
    index = build_site(board, competition, tmp_path / "site", progress=False, now=now)
    track = (index.parent / "tracks" / "photo2ink" / "index.html").read_text()
    assert f"Backbone: <code>{OTHER}</code>" in track and "Backbone: <code>convnet_random_seed0</code>" in track
    entry = (index.parent / "tracks" / "photo2ink" / "alpha--m.html").read_text()
    assert "Backbones</dt>" in entry and f"<code>{OTHER}</code>" in entry and f": {TOY_FD}" in entry


def test_result_schema_ties_metric_backbones_to_records(other_backbone):
    r = _ok_result("alpha", "a")
    bad = copy.deepcopy(r)
    bad["metrics"][TOY_FD]["backbones"] = ["someone_else"]
    with pytest.raises(EaselError, match=r"metrics\.toy_fd_other\.backbones"):
        from evaluator.result import validate_result
        validate_result(bad)
    bad = copy.deepcopy(r)
    del bad["backbones"]
    with pytest.raises(EaselError, match="a record of every backbone the metrics name"):
        validate_result(bad)
    bad = copy.deepcopy(r)
    bad["backbones"] = bad["backbones"][1:]
    with pytest.raises(EaselError, match="the primary backbone's record"):
        validate_result(bad)
