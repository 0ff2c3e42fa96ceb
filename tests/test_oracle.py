"""Oracle rows (issue 17.1): the true style function on the test inputs, scored like a submission."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from evaluator.config import load_competition
from evaluator.data.images import load_rgb_uint8
from evaluator.data.manifest import read_manifest
from evaluator.data.prepare import prepare
from evaluator.data.styles import STYLES
from evaluator.data.synth import render_scene
from evaluator.demo import oracle_results
from evaluator.errors import EaselError
from evaluator.oracle import ORACLE_META, has_oracle, oracle_result
from evaluator.result import validate_result


def test_synth_seed_convention_makes_the_targets(data_root):
    """The oracle's rule (style of the input's own scene, texture seed [scene, 7]) rebuilds every paired target."""
    folder = data_root / "dev-sketch"
    manifest = read_manifest(folder)
    scenes = manifest.source["scenes"]
    for a, target in zip(manifest.paths("test/A"), manifest.paths("test/A_target")):
        ideal = STYLES["sketch"](load_rgb_uint8(folder / a), np.random.default_rng([scenes[a], 7]))
        assert np.array_equal(ideal, load_rgb_uint8(folder / target)), a


def test_paired_oracle_is_the_targets(data_root, competition_file, cache):
    comp = load_competition(competition_file)
    result = oracle_result(data_root, comp, "photo2sketch").to_json()
    validate_result(result)
    assert result["status"] == "ok" and result["errors"] == []
    sub = result["submission"]
    assert (sub["team"], sub["model"], sub["baseline"], sub["track"]) == ("oracle", "ideal", True, "photo2sketch")
    assert len(sub["content_sha256"]) == 64 and result["efficiency"] is None
    assert result["metrics"]["ssim"]["value"] == pytest.approx(1.0)
    assert result["metrics"]["perceptual_distance"]["value"] == pytest.approx(0.0, abs=1e-9)
    assert result["dataset"]["n_inputs"] == len(read_manifest(data_root / "dev-sketch").paths("test/A", "public"))


def test_unpaired_and_example_oracles_score(data_root, competition_file, cache):
    comp = load_competition(competition_file)
    ink = oracle_result(data_root, comp, "photo2ink").to_json()
    styles = oracle_result(data_root, comp, "anystyle").to_json()
    for result in (ink, styles):
        assert result["status"] == "ok" and set(result["metrics"]) == set(comp.track(result["track"]["id"]).metrics)
    # The ideal ink output keeps the scene's layout far better than a random other test image would.
    assert ink["metrics"]["content_ssim"]["value"] > 0.1


def test_prepared_data_has_no_oracle(tmp_path, cache):
    raw_a, raw_b = tmp_path / "a", tmp_path / "b"
    raw_a.mkdir()
    raw_b.mkdir()
    for i in range(8):
        Image.fromarray(render_scene(np.random.default_rng(700 + i), 48)).save(raw_a / f"a{i}.png")
        Image.fromarray(STYLES["ink"](render_scene(np.random.default_rng(800 + i), 48),
                                      np.random.default_rng(i))).save(raw_b / f"b{i}.png")
    data = tmp_path / "data"
    prepare(raw_a, raw_b, data / "real-ink", size=32, test_fraction=0.5, min_test_images=2, showcase=0)
    assert not has_oracle(read_manifest(data / "real-ink"))
    # A dev id on prepared data is still no oracle: the manifest says who made it.
    (data / "dev-ink").mkdir()
    for path in (data / "real-ink").rglob("*.png"):
        target = data / "dev-ink" / path.relative_to(data / "real-ink")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    raw = json.loads((data / "real-ink" / "manifest.json").read_text())
    raw["dataset"] = "dev-ink"
    (data / "dev-ink" / "manifest.json").write_text(json.dumps(raw))
    assert not has_oracle(read_manifest(data / "dev-ink"))

    from harness import small_competition

    raw_comp = small_competition()
    raw_comp["tracks"] = [dict(raw_comp["tracks"][0], dataset="real-ink")]
    comp_path = tmp_path / "competition.yaml"
    import yaml

    comp_path.write_text(yaml.safe_dump(raw_comp))
    comp = load_competition(comp_path)
    with pytest.raises(EaselError) as info:
        oracle_result(data, comp, "photo2ink")
    assert info.value.code == "E_ORACLE_UNAVAILABLE"
    # The demo's step skips such a track instead of inventing a row.
    assert oracle_results(data, comp, tmp_path / "out") == []
    assert not (tmp_path / "out" / "results").exists()
    from evaluator import cli

    assert cli.main(["data", "oracle", "--data", str(data), "--track", "photo2ink", "--out",
                     str(tmp_path / "o.json"), "--competition", str(comp_path)]) == 3
    assert not (tmp_path / "o.json").exists()


def test_oracle_meta_is_clean():
    from evaluator.leaderboard import clean_meta

    assert clean_meta(ORACLE_META) == ORACLE_META


def test_oracle_command(data_root, competition_file, cache, tmp_path, capsys):
    from evaluator import cli

    out = tmp_path / "oracle.json"
    assert cli.main(["data", "oracle", "--data", str(data_root), "--track", "photo2sketch", "--out", str(out),
                     "--competition", str(competition_file)]) == 0
    result = validate_result(json.loads(out.read_text()))
    assert result["submission"]["team"] == "oracle" and result["metrics"]["ssim"]["value"] == pytest.approx(1.0)
    assert "oracle on photo2sketch: ssim = 1" in capsys.readouterr().out


@pytest.mark.parametrize("track, style", [("photo2sketch", "sketch"), ("photo2ink", "ink"), ("anystyle", None)])
def test_oracle_gallery_shows_the_ideal_of_each_showcase_image(data_root, competition_file, cache, tmp_path,
                                                                track, style):
    comp = load_competition(competition_file)
    dataset = comp.track(track).dataset
    folder = data_root / dataset
    manifest = read_manifest(folder)
    oracle_result(data_root, comp, track, samples_path=tmp_path / "g.png")
    grid = np.asarray(Image.open(tmp_path / "g.png").convert("RGB"))
    size, scale, pad, label = 32, 2, 4, 14
    columns = 3 if style is None else 2
    cell = size * scale
    inputs = manifest.paths("showcase/A", "showcase")
    styles = manifest.paths("showcase/B", "showcase")
    scenes = manifest.source["showcase_scenes"]
    for i, rel in enumerate(inputs):
        y = pad + label + i * (cell + pad)
        x = pad + (columns - 1) * (cell + pad)
        output = grid[y:y + cell:scale, x:x + cell:scale]
        name = style or manifest.source["showcase_styles"][styles[i % len(styles)]]
        # Independent of the oracle's own lookup: the style applied with synth's texture seed.
        expected = STYLES[name](load_rgb_uint8(folder / rel), np.random.default_rng([scenes[rel], 7]))
        assert np.array_equal(output, expected), (track, rel)
