"""`easel evaluate` end to end on synthesized data with models built here.

Each case spawns at most one sandboxed child; static refusals spawn none.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
import yaml

from evaluator.evaluate import evaluate_submission
from harness import make_submission, run_cli, small_competition
from model_builders import (fixed_size_model, huge_memory_model, nan_model, never_returns_model, out_of_range_model,
                            shrinking_model, two_input_model, valid_model)


def test_keras_model_scores_ok_deterministically(tmp_path, data_root, competition_file, cache):
    sub = make_submission(tmp_path, valid_model)
    code, first = run_cli(sub, data_root, competition_file, tmp_path / "r1.json",
                          "--comment", str(tmp_path / "c.md"), "--samples", str(tmp_path / "s.png"))
    assert code == 0, first["errors"]
    assert first["status"] == "ok"
    assert set(first["metrics"]) == {"kid", "fid", "fd_dinov2", "cmmd", "artfid", "mifid", "content_distance",
                                     "content_ssim"}
    for m in first["metrics"].values():
        lo, hi = m["ci95"]
        assert lo <= hi and m["n"] > 0
    assert first["backbone"]["id"] == "convnet_random_seed0" and first["dataset"]["id"] == "dev-ink"
    assert first["efficiency"]["parameters"] == 3 * 3 * 3 * 3 + 3
    assert first["efficiency"]["images_per_s"] > 0
    assert (tmp_path / "c.md").read_text().startswith("<!-- easel:score-comment -->")
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    # Same submission again, and with another batch size: the same numbers.
    code, second = run_cli(sub, data_root, competition_file, tmp_path / "r2.json", "--batch-size", "1")
    assert code == 0
    assert {k: v["value"] for k, v in second["metrics"].items()} == pytest.approx(
        {k: v["value"] for k, v in first["metrics"].items()}, rel=1e-6)
    assert second["submission"]["content_sha256"] == first["submission"]["content_sha256"]


def test_identity_outputs_raise_no_memorization_alarm_with_the_stand_in(tmp_path, data_root, competition_file,
                                                                          cache):
    # The identity baseline's outputs are the input photos. With the offline stand-in backbone their
    # memorization ratio can fall below ε (the demo read mifid 5434 at FID 433 and a "memorization
    # alarm"); that says nothing about copying, so no flag, no penalty, and the comment says so.
    from baselines.identity.export import identity_model

    sub = make_submission(tmp_path, lambda path: identity_model(1).save(path), name="identity")
    code, result = run_cli(sub, data_root, competition_file, tmp_path / "r.json", "--comment", str(tmp_path / "c.md"))
    assert code == 0, result["errors"]
    assert result["backbone"]["offline_standin"] is True
    extra, metrics = result["extra"], result["metrics"]
    assert extra["memorization_meaningful"] is False and extra["memorized"] is False
    assert metrics["mifid"]["value"] == pytest.approx(metrics["fid"]["value"])
    comment = (tmp_path / "c.md").read_text()
    assert "Memorization check not applied" in comment
    assert "near-copies" not in comment and "Memorization flag" not in comment


def test_paired_and_example_tracks(tmp_path, data_root, competition_file, cache, capfd):
    from evaluator.config import load_competition

    comp = load_competition(competition_file)
    paired = evaluate_submission(make_submission(tmp_path, valid_model, track="photo2sketch", name="p"),
                                 data_root, comp).to_json()
    assert paired["status"] == "ok", paired["errors"]
    line = next(ln for ln in capfd.readouterr().err.splitlines() if ln.startswith("sandbox isolation in effect:"))
    assert "env_scrubbed" in line.split(";")[0]  # the operator's log says which measures applied
    assert {"psnr", "ssim", "perceptual_distance"} <= set(paired["metrics"])
    from evaluator.metrics import METRICS

    for name, m in paired["metrics"].items():  # paired uncertainty model: every interval in range, holding its point
        assert METRICS[name].low <= m["ci95"][0] <= m["value"] <= m["ci95"][1] <= METRICS[name].high, name
    example = evaluate_submission(make_submission(tmp_path, two_input_model, track="anystyle", name="e"),
                                  data_root, comp).to_json()
    assert example["status"] == "ok", example["errors"]
    assert example["dataset"]["id"] == "dev-styles"


def test_savedmodel_scores_ok(tmp_path, data_root, competition_file, cache):
    import tensorflow as tf

    def build(path):
        class Gen(tf.Module):
            def __init__(self):
                self.w = tf.Variable(tf.random.stateless_normal((3, 3, 3, 3), seed=(1, 2)) * 0.1)

            @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
            def __call__(self, x):
                return tf.tanh(tf.nn.conv2d(x, self.w, 1, "SAME") + x)

        gen = Gen()
        tf.saved_model.save(gen, str(path), signatures=gen.__call__)

    code, result = run_cli(make_submission(tmp_path, build, fmt="saved_model"), data_root, competition_file,
                           tmp_path / "r.json")
    assert code == 0 and result["status"] == "ok", result["errors"]


def _lambda_model(path):
    import keras

    inp = keras.Input((None, None, 3))
    keras.Model(inp, keras.layers.Lambda(lambda t: t * 0.5)(inp)).save(path)


@pytest.mark.parametrize("case, code", [
    ("malformed_yaml", "E_YAML_SYNTAX"),
    ("missing_keys", "E_META_SCHEMA"),
    ("unknown_track", "E_TRACK_UNKNOWN"),
    ("symlink_outside", "E_SYMLINK"),
    ("lambda_layer", "E_KERAS_LAYER"),
    ("oversized_file", "E_SIZE"),
])
def test_static_refusals_write_an_invalid_result(case, code, tmp_path, data_root, competition_file, cache):
    sub = make_submission(tmp_path, _lambda_model if case == "lambda_layer" else valid_model,
                          track="nosuch" if case == "unknown_track" else "photo2ink")
    comp_file = competition_file
    if case == "malformed_yaml":
        (sub / "submission.yaml").write_text("team: acme\nname: [tiny\n")
    elif case == "missing_keys":
        (sub / "submission.yaml").write_text("team: acme\nname: tiny\n")
    elif case == "symlink_outside":
        os.symlink(data_root, sub / "data")
    elif case == "oversized_file":
        comp_file = tmp_path / "competition.yaml"
        comp_file.write_text(yaml.safe_dump(small_competition(max_model_mb=0.01)))
        (sub / "padding.bin").write_bytes(os.urandom(20_000))
    exit_code, result = run_cli(sub, data_root, comp_file, tmp_path / "r.json")
    assert exit_code == 2
    assert result["status"] == "invalid" and code in [e["code"] for e in result["errors"]]
    assert result["metrics"] == {}


RUNTIME = {
    "wrong_input_shape": (lambda p: fixed_size_model(p, 64), {}, "E_SIGNATURE"),
    "wrong_output_shape": (shrinking_model, {}, "E_PRED_SHAPE"),
    "nan_output": (nan_model, {}, "E_PRED_NONFINITE"),
    "out_of_range": (out_of_range_model, {}, "E_PRED_RANGE"),
    "sleeps_past_timeout": (never_returns_model, {"timeout_s": 12}, "E_TIMEOUT"),
    "allocates_past_memory": (huge_memory_model, {"memory_mb": 1500}, "E_OOM"),
}


@pytest.mark.parametrize("case", list(RUNTIME))
def test_runtime_refusals_write_an_invalid_result(case, tmp_path, data_root, cache):
    build, limits, code = RUNTIME[case]
    comp_file = tmp_path / "competition.yaml"
    comp_file.write_text(yaml.safe_dump(small_competition(**limits)))
    exit_code, result = run_cli(make_submission(tmp_path, build), data_root, comp_file, tmp_path / "r.json")
    assert (exit_code, result["status"]) == (2, "invalid")
    assert [e["code"] for e in result["errors"]] == [code]


def test_tampered_dataset_is_an_evaluator_side_error(tmp_path, data_root, competition_file, cache):
    tampered = tmp_path / "data"
    shutil.copytree(data_root / "dev-ink", tampered / "dev-ink")
    victim = sorted((tampered / "dev-ink" / "test" / "B").glob("*.png"))[0]
    victim.write_bytes(victim.read_bytes()[:-1] + b"\0")
    exit_code, result = run_cli(make_submission(tmp_path, valid_model), tampered, competition_file,
                                tmp_path / "r.json")
    assert (exit_code, result["status"]) == (3, "error")
    assert result["errors"][0]["code"] == "E_DATA_MANIFEST"
    assert json.loads((tmp_path / "r.json").read_text())["schema"] == 1


def _headed_model(activation):
    """The same small net ending in ``activation``: tanh (range [-1, 1]) or sigmoid ([0, 1])."""
    def build(path):
        import keras

        inp = keras.Input((None, None, 3))
        x = keras.layers.Conv2D(3, 3, padding="same", kernel_initializer=keras.initializers.Constant(0.0),
                                bias_initializer="zeros")(inp)
        x = keras.layers.Add()([x, inp])  # starts as the identity, then the head
        keras.Model(inp, keras.layers.Activation(activation)(x)).save(path)
        return path
    return build


def test_sigmoid_head_is_scored_and_hinted_tanh_is_not(tmp_path, data_root, competition_file, cache):
    from evaluator.config import load_competition
    from evaluator.report import render_comment
    from evaluator.result import Result

    comp = load_competition(competition_file)
    results = {act: evaluate_submission(make_submission(tmp_path, _headed_model(act), name=act), data_root,
                                        comp).to_json() for act in ("sigmoid", "tanh")}
    sigmoid, tanh = results["sigmoid"], results["tanh"]
    assert sigmoid["status"] == tanh["status"] == "ok"
    assert sigmoid["notes"] == ["output_range_0_1"] and "notes" not in tanh
    assert sigmoid["metrics"]  # still scored
    comment = render_comment(Result.from_json(sigmoid), comp)
    assert "probably ends in a sigmoid" in comment and "`tanh`" in comment and "2x − 1" in comment
    assert "sigmoid" not in render_comment(Result.from_json(tanh), comp)
