"""The export snippets in submissions/_template/README.md run and produce models that pass.

The snippets are taken from the README itself, so the documentation can't
drift from what the checks accept.
"""

import re
from pathlib import Path

import numpy as np
import pytest

from evaluator.fsutil import load_yaml_file
from evaluator.models import check_inputs, check_model, load_model

TEMPLATE = Path(__file__).resolve().parent.parent / "submissions" / "_template"


def snippet(marker: str) -> str:
    text = (TEMPLATE / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- snippet:{marker} -->\s*```python\n(.*?)```", text, re.S)
    assert match, f"snippet {marker} missing from the template README"
    return match.group(1)


@pytest.fixture()
def run_in(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_keras_snippet_exports_passing_models(run_in):
    exec(compile(snippet("keras"), "README.md:keras", "exec"), {})
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    outputs = []
    for fmt, path in (("keras", "model.keras"), ("saved_model", "saved_model")):
        check_model(fmt, run_in / path)
        loaded = load_model(fmt, run_in / path)
        check_inputs(loaded, 1, 64)
        outputs.append(loaded([x]))
        assert outputs[-1].shape == x.shape and np.abs(outputs[-1]).max() <= 1.0
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-5)  # both exports compute the same


def test_tf_snippet_exports_a_passing_saved_model(run_in):
    exec(compile(snippet("tf"), "README.md:tf", "exec"), {})
    facts = check_model("saved_model", run_in / "custom_saved_model")
    assert facts.input_names == ("image",)
    loaded = load_model("saved_model", run_in / "custom_saved_model")
    assert loaded([np.zeros((1, 16, 16, 3), np.float32)]).shape == (1, 16, 16, 3)


def test_template_yaml_parses_and_names_a_known_format():
    meta = load_yaml_file(TEMPLATE / "submission.yaml")
    assert meta["model"]["format"] in ("keras", "saved_model", "onnx")
    assert meta["model"]["path"] == "model.keras"
    assert {"team", "name", "track", "authors", "description", "license", "model"} <= set(meta)
