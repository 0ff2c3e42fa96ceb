"""A metric is one registration: a toy metric registered here, and nowhere else, reaches
result.json, the PR comment and the built site; the registry refuses specs that cannot work."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from evaluator import metrics as M
from harness import make_submission, small_competition
from model_builders import identity_model

TOY = "toy_brightness"
TOY_TEXT = "Mean brightness of each output (toy metric registered by a test)."


@pytest.fixture
def toy_metric():
    M.register(TOY, "desc", M.ALL_KINDS, TOY_TEXT, combine="mean", needs=("output",),
               per_image=lambda batch: batch.output.astype(np.float64).mean(axis=(1, 2, 3)) / 255.0,
               low=0.0, high=1.0)
    yield TOY
    M.unregister(TOY)


def test_a_toy_metric_registered_once_reaches_result_comment_and_site(toy_metric, tmp_path, data_root, cache):
    from PIL import Image

    from evaluator.config import parse_competition
    from evaluator.data.manifest import open_dataset
    from evaluator.evaluate import evaluate_submission
    from evaluator.leaderboard import add_result, empty_board
    from evaluator.report import render_comment
    from evaluator.result import Result
    from evaluator.site_build import build_site

    raw = small_competition()
    ink = next(t for t in raw["tracks"] if t["id"] == "photo2ink")
    ink["metrics"] = list(ink["metrics"]) + [TOY]
    competition = parse_competition(raw, "competition.yaml")
    result = evaluate_submission(make_submission(tmp_path, identity_model), data_root, competition).to_json()
    assert result["status"] == "ok", result["errors"]

    # result.json: the mean over the test set of each input's brightness, read here with PIL
    _, manifest = open_dataset(data_root, "dev-ink")
    inputs = manifest.paths("test/A", "public")
    expected = np.mean([np.asarray(Image.open(data_root / "dev-ink" / p).convert("RGB"), np.float64).mean() / 255
                        for p in inputs])
    toy = result["metrics"][TOY]
    assert toy["value"] == pytest.approx(expected, abs=1e-9)
    assert toy["order"] == "desc" and toy["n"] == len(inputs)
    assert 0.0 <= toy["ci95"][0] <= toy["value"] <= toy["ci95"][1] <= 1.0

    comment = render_comment(Result.from_json(result), competition)
    assert f"| {TOY.replace('_', chr(92) + '_')} |" in comment and "toy metric registered by a test" in comment

    board, _ = add_result(empty_board(), result, pr=1, commit="0" * 40, competition=competition,
                          now=dt.datetime(2027, 1, 2, tzinfo=dt.timezone.utc))
    index = build_site(board, competition, tmp_path / "site", progress=False,
                       now=dt.datetime(2027, 1, 3, tzinfo=dt.timezone.utc))
    page = (index.parent / "tracks" / "photo2ink" / "index.html").read_text()
    assert f">{TOY}<" in page and "toy metric registered by a test" in page


def test_registry_refuses_specs_that_cannot_work():
    with pytest.raises(ValueError, match="registered twice"):
        M.register("fid", "asc", ("paired",), "again")
    with pytest.raises(ValueError, match="per_image"):
        M.register("toy_nofunction", "asc", M.ALL_KINDS, "no function", combine="mean")
    with pytest.raises(ValueError, match="unknown metric"):
        M.register("toy_derived", "asc", M.ALL_KINDS, "from nothing", combine="derived",
                   derives_from=("nosuch",), derive=lambda v, o: 0.0)
    with pytest.raises(ValueError, match="needs"):
        M.register("toy_needs", "asc", M.ALL_KINDS, "reads the network", needs=("internet",),
                   per_image=lambda b: b.output)
    with pytest.raises(ValueError, match="lowercase"):
        M.register("Toy Metric", "asc", M.ALL_KINDS, "a name result.json would refuse",
                   per_image=lambda b: b.output)
    assert not {"toy_nofunction", "toy_derived", "toy_needs", "Toy Metric"} & set(M.SPECS)


def test_resolve_puts_dependencies_first_and_helpers_stay_unlisted():
    names = [spec.name for spec in M.resolve(["mifid", "artfid", "fid"])]
    assert names == ["fid", "memorization", "mifid", "content_distance", "artfid"]
    assert "memorization" in M.SPECS and "memorization" not in M.METRICS  # a track cannot list it
    assert M.needs_of(M.resolve(["mifid"])) == {"train_features"}
    assert M.needs_of(M.resolve(["artfid"])) == {"input_maps", "output_maps"}


def test_descriptions_are_honest_about_comparability():
    assert "calibrated variant of Kaggle's MiFID" in M.describe("mifid")
    assert "not comparable with published ArtFID" in M.describe("artfid")
    assert M.describe("nosuch") == ""
    for spec in M.SPECS.values():
        assert spec.low <= spec.high and len(spec.description) > 20
