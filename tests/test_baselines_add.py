"""`easel baselines add TRACK`: a new track gets its baselines, trained or fitted, and scored (real CLI)."""

from __future__ import annotations

import json

import pytest
import yaml

from evaluator.cli import main as easel
from harness import small_competition


def _competition_with_new_tracks(path):
    raw = small_competition()
    raw["tracks"].append({"id": "newink", "title": "New ink", "kind": "unpaired", "dataset": "dev-ink",
                          "min_test_images": 2, "image_size": 32, "metrics": ["kid", "fid", "mifid", "content_ssim"],
                          "ranking": {"metric": "kid", "order": "asc"}})
    path.write_text(yaml.safe_dump(raw))
    return path


def test_the_baselines_of_each_kind():
    from baselines.add import baselines_for

    assert [b.name for b in baselines_for("unpaired")] == ["identity", "color_transfer", "cyclegan"]
    assert [b.name for b in baselines_for("paired")] == ["identity", "color_transfer", "pix2pix"]
    assert [b.name for b in baselines_for("example")] == ["identity", "color_transfer", "adain"]


@pytest.mark.slow
def test_baselines_add_creates_trains_and_scores_a_new_track_from_the_cli(tmp_path, data_root, cache, capsys):
    comp = _competition_with_new_tracks(tmp_path / "competition.yaml")
    into, results = tmp_path / "baselines", tmp_path / "results"
    argv = ["baselines", "add", "newink", "--data", str(data_root), "--competition", str(comp), "--quick",
            "--into", str(into), "--runs", str(tmp_path / "runs"), "--results", str(results)]
    assert easel(argv) == 0
    out = capsys.readouterr().out
    for name in ("identity", "color_transfer", "cyclegan"):
        folder = into / name / "newink"
        meta = yaml.safe_load((folder / "submission.yaml").read_text())
        assert (meta["team"], meta["name"], meta["track"], meta["baseline"]) == ("baseline", name, "newink", True)
        result = json.loads((results / "newink" / f"{name}.json").read_text())
        assert result["status"] == "ok", result["errors"]
        assert result["submission"]["baseline"] is True and result["track"]["id"] == "newink"
        assert set(result["metrics"]) == {"kid", "fid", "mifid", "content_ssim"}
        assert f"baseline/{name} on newink: kid = " in out
    # The learned ones learned: the CycleGAN ran its (quick) training and exported its generator;
    # colour transfer recorded the new track's statistics next to the others.
    assert (tmp_path / "runs" / "newink" / "cyclegan" / "run.json").is_file()
    assert "quick mode" in yaml.safe_load((into / "cyclegan/newink/submission.yaml").read_text())["description"]
    stats = json.loads((into / "color_transfer" / "stats.json").read_text())
    assert stats["newink"]["dataset"] == "dev-ink" and len(stats["newink"]["lab_mean"]) == 3
    # The identity floor keeps its content exactly; the folders are ordinary, valid submissions.
    identity = json.loads((results / "newink" / "identity.json").read_text())
    assert identity["metrics"]["content_ssim"]["value"] == pytest.approx(1.0)
    assert easel(["validate", str(into / "cyclegan" / "newink"), "--competition", str(comp)]) == 0
    assert not list(into.glob("*/.*.partial"))
    # A second run does not overwrite them silently.
    capsys.readouterr()
    assert easel(argv) == 3
    assert "E_BASELINE_EXISTS" in capsys.readouterr().err


def test_an_unknown_track_is_refused_naming_the_tracks(tmp_path, capsys):
    comp = _competition_with_new_tracks(tmp_path / "competition.yaml")
    code = easel(["baselines", "add", "nosuch", "--data", str(tmp_path), "--competition", str(comp),
                  "--into", str(tmp_path / "b"), "--no-score"])
    assert code == 3
    err = capsys.readouterr().err
    assert "E_CONFIG" in err and "nosuch" in err and "newink" in err
    assert not (tmp_path / "b").exists()
