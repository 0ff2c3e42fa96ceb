"""competition.yaml schema: every bad file fails with file, key path and expectation."""

import datetime as dt
from pathlib import Path

import pytest
import yaml

from evaluator.config import load_competition, parse_competition
from evaluator.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def shipped() -> dict:
    return yaml.safe_load((REPO / "competition.yaml").read_text())


def test_shipped_competition_has_one_track_of_each_kind():
    comp = load_competition(REPO / "competition.yaml")
    assert sorted(t.kind for t in comp.tracks) == ["example", "paired", "unpaired"]
    assert comp.track("photo2ink").ranking.metric == "kid"
    assert comp.final_phase.name == "final"
    assert comp.phase_at(dt.datetime(2027, 2, 1, tzinfo=dt.timezone.utc)).ranks == "public"
    assert not comp.private_revealed(dt.datetime(2027, 3, 15, tzinfo=dt.timezone.utc))
    assert comp.private_revealed(dt.datetime(2027, 4, 2, tzinfo=dt.timezone.utc))


def _mutated(path: list, value) -> dict:
    raw = shipped()
    node = raw
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return raw


@pytest.mark.parametrize("path, value, message", [
    (["tracks", 1, "ranking", "order"], "up",
     "competition.yaml: tracks[1].ranking.order: expected 'asc' or 'desc', got 'up'"),
    (["tracks", 0, "kind"], "pairs",
     "competition.yaml: tracks[0].kind: expected one of ['unpaired', 'paired', 'example'], got 'pairs'"),
    (["tracks", 2, "image_size"], 8,
     "competition.yaml: tracks[2].image_size: expected an integer between 16 and 1024, got 8"),
    (["limits", "timeout_s"], -5, "competition.yaml: limits.timeout_s: expected a positive number, got -5"),
    (["phases", 0, "ranks"], "secret",
     "competition.yaml: phases[0].ranks: expected 'public' or 'private', got 'secret'"),
    (["phases", 1, "ends"], "next tuesday",
     "competition.yaml: phases[1].ends: expected an ISO 8601 date such as 2027-03-01T00:00:00Z, got 'next tuesday'"),
    (["name"], KeyError, "competition.yaml: name: expected a value, missing"),
    (["tracks", 0, "ranking", "metric"], "psnr",
     "competition.yaml: tracks[0].ranking.metric: expected one of "),
    (["tracks", 0, "metrics", 0], "fidd", "competition.yaml: tracks[0].metrics[0]: expected one of "),
    (["tracks", 0, "metrics"], ["psnr"],
     "competition.yaml: tracks[0].metrics[0]: expected a metric defined for unpaired tracks, got 'psnr'"),
    (["tracks", 1, "ranking", "order"], "asc",
     "competition.yaml: tracks[1].ranking.order: expected 'desc' for ssim, got 'asc'"),
    (["evaluation", "resize"], "nearest",
     "competition.yaml: evaluation.resize: expected 'clean' or 'legacy_tensorflow', got 'nearest'"),
    (["limits", "gpus"], 2, "competition.yaml: limits.gpus: expected one of the keys"),
])
def test_bad_files_name_file_key_path_and_expectation(path, value, message):
    with pytest.raises(ConfigError) as info:
        parse_competition(_mutated(path, value), "competition.yaml")
    assert info.value.message.startswith(message), info.value.message
    assert info.value.code == "E_CONFIG"


def test_duplicate_track_ids_refused():
    raw = shipped()
    raw["tracks"][1]["id"] = raw["tracks"][0]["id"]
    with pytest.raises(ConfigError, match="tracks: expected unique track ids"):
        parse_competition(raw)


def test_missing_and_unparsable_files(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_competition(tmp_path / "competition.yaml")
    bad = tmp_path / "competition.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="competition.yaml: .*invalid YAML at line"):
        load_competition(bad)


@pytest.mark.parametrize("hosts, message", [
    (["https://huggingface.co"], "competition.yaml: limits.model_url_hosts[0]: expected a lowercase host name"),
    (["localhost"], "competition.yaml: limits.model_url_hosts[0]: expected a lowercase host name"),
    ("huggingface.co", "competition.yaml: limits.model_url_hosts: expected a list of at most 50 items"),
])
def test_model_url_hosts_are_host_names(hosts, message):
    with pytest.raises(ConfigError) as info:
        parse_competition(_mutated(["limits", "model_url_hosts"], hosts))
    assert info.value.message.startswith(message), info.value.message


def test_model_url_hosts_default_off_and_parsed():
    assert load_competition(REPO / "competition.yaml").limits.model_url_hosts == ()
    comp = parse_competition(_mutated(["limits", "model_url_hosts"], ["huggingface.co", "github.com"]))
    assert comp.limits.model_url_hosts == ("huggingface.co", "github.com")


def test_deep_yaml_in_competition_is_a_config_error(tmp_path):
    bad = tmp_path / "competition.yaml"
    bad.write_text("name: " + "[" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nest more than"):
        load_competition(bad)


def test_easel_check_validates_competition_and_data(tmp_path, capsys):
    from evaluator.cli import main as easel
    from evaluator.data.synth import synthesize

    assert easel(["check", "--competition", str(REPO / "competition.yaml")]) == 0
    assert "3 track(s)" in capsys.readouterr().out
    bad = tmp_path / "competition.yaml"
    bad.write_text(yaml.safe_dump(_mutated(["tracks", 1, "ranking", "order"], "up")))
    assert easel(["check", "--competition", str(bad)]) == 3
    assert "tracks[1].ranking.order: expected 'asc' or 'desc'" in capsys.readouterr().err
    data = tmp_path / "data"
    synthesize(data, size=32, count=4, seed=0)  # 32 px: LPIPS' AlexNet needs at least 31
    comp = shipped()
    for track in comp["tracks"]:
        track["image_size"] = 32
    good = tmp_path / "small.yaml"
    good.write_text(yaml.safe_dump(comp))
    assert easel(["check", "--competition", str(good), "--data", str(data)]) == 0
    assert capsys.readouterr().out.count("matches its manifest") == 3
    victim = sorted((data / comp["tracks"][0]["dataset"] / "test" / "A").iterdir())[0]
    victim.write_bytes(b"changed")
    assert easel(["check", "--competition", str(good), "--data", str(data)]) == 3
    out = capsys.readouterr().out
    assert "E_DATA_MANIFEST" in out and out.count("matches its manifest") == 2
    assert easel(["check", "--competition", str(REPO / "competition.yaml"), "--data", str(data)]) == 3
    assert "wants 64px" in capsys.readouterr().out


@pytest.mark.parametrize("track, metric", [(0, "content_distance"), (1, "perceptual_distance"),
                                           (2, "content_distance")])
def test_easel_check_refuses_lpips_on_images_below_31_px(tmp_path, capsys, track, metric):
    """LPIPS' AlexNet runs on the images at their own size and needs 31 px: refused by `easel check`,
    with the key, the reason and the fix, not first at evaluation."""
    from evaluator.cli import main as easel

    comp = shipped()
    comp["tracks"][track]["image_size"] = 30
    path = tmp_path / "competition.yaml"
    path.write_text(yaml.safe_dump(comp))
    assert easel(["check", "--competition", str(path)]) == 3
    err = capsys.readouterr().err
    assert "E_CONFIG" in err and f"tracks[{track}].image_size: expected at least 31 px for {metric}" in err, err
    assert "lpips_alex runs on the images at their own size" in err and "raise image_size" in err, err
    comp["tracks"][track]["image_size"] = 31
    path.write_text(yaml.safe_dump(comp))
    assert easel(["check", "--competition", str(path)]) == 0
    # Without an LPIPS metric (nor artfid, which reads content_distance) the other backbones resize: accepted.
    comp["tracks"][track]["image_size"] = 16
    comp["tracks"][track]["metrics"] = [m for m in comp["tracks"][track]["metrics"]
                                        if m not in ("content_distance", "perceptual_distance", "artfid")]
    path.write_text(yaml.safe_dump(comp))
    assert easel(["check", "--competition", str(path)]) == 0, capsys.readouterr().err


def test_a_track_replacing_lpips_backbone_is_checked_against_the_replacement(tmp_path):
    """The size rule follows the backbone a metric really reads here (tracks[i].backbones)."""
    comp = shipped()
    comp["tracks"][0]["image_size"] = 24
    comp["tracks"][0]["backbones"] = {"content_distance": "alexnet_random_seed0"}
    path = tmp_path / "competition.yaml"
    path.write_text(yaml.safe_dump(comp))
    with pytest.raises(ConfigError, match="its backbone alexnet_random_seed0 runs on the images at their own size"):
        load_competition(path)
