"""Refusals carry typed facts, and each code's facts read as one sentence (issue 23.4, 26.7).

The facts rendered here come from the producers themselves: every test below
runs the real check (a shape check, the output contract, the Keras config walk,
the sandbox parent against a fake child, ...) on bad input and renders what it
raised. A static scan checks that every producer in evaluator/ emits the facts
its code declares, and that every code with facts is rendered at least once here.
"""

from __future__ import annotations

import ast
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from evaluator import error_text
from evaluator.config import Limits
from evaluator.errors import CODES, EaselError
from evaluator.report import render_comment
from evaluator.result import Result, validate_result
from test_comment_render import invalid, read

ROOT = Path(__file__).resolve().parents[1]
RENDERED: set[str] = set()          # codes rendered from a producer's own error in this module
DIMENSIONS: set[str] = set()        # E_SIGNATURE dimensions rendered so
RAN: set[str] = set()               # tests of this module that ran (the coverage test needs them all)


@pytest.fixture(autouse=True)
def _record(request):
    yield
    RAN.add(request.node.originalname)


def raised(fn, *args, **kwargs) -> EaselError:
    with pytest.raises(EaselError) as info:
        fn(*args, **kwargs)
    return info.value


def problem_and_fix(err: EaselError) -> tuple[str, str]:
    """The comment's problem and fix cells for one producer's error, as a reader sees them."""
    result = Result.from_json(invalid(err.as_dict()))  # the facts survive the result schema
    page = read(render_comment(result))
    [table] = page.tables
    RENDERED.add(err.code)
    if err.code == "E_SIGNATURE":
        DIMENSIONS.add(err.facts["dimension"])
    return " ".join(table[1][1].split()), " ".join(table[1][2].split())


# --- the model's signature ----------------------------------------------------------------

def test_signature_shapes_read_as_shapes():
    from evaluator.models import check_declared_inputs, check_input_shapes

    cases = [
        (([(None, None, None, 3)], 2, 32), "the model has 1 inputs; this track feeds 2"),
        (([(None, None, 3)], 1, 32), "input 0 has rank 3; the contract is rank 4, [N, H, W, 3]"),
        (([(None, None, None, 1)], 1, 32), "input 0 takes 1 channels last; the contract is 3 (RGB)"),
        (([(None, 64, 64, 3)], 1, 32), "input 0 is fixed at 64 px; this track feeds 32 px images"),
        (([(None, 3, 32, 32)], 1, 32), "input 0 has shape [None, 3, 32, 32], channels first; expected [None, H, W, 3]"),
        (([(1, None, None, 3)], 1, 32), "input 0 has its batch fixed at 1; expected None (dynamic)"),
    ]
    for args, words in cases:
        problem, fix = problem_and_fix(raised(check_input_shapes, *args))
        assert words in problem, problem
        assert "detail" not in problem and ":" not in problem.split("(")[-1]  # no raw detail string
    problem, fix = problem_and_fix(raised(check_declared_inputs, [("float16", (None, None, None, 3))]))
    assert "input 0 is float16; the contract is float32" in problem
    assert "cast inside" in fix


def test_signature_unreadable_and_outputs(tmp_path):
    import keras

    from evaluator.models.keras_format import KerasModel
    from evaluator.sandbox import check_signature

    problem, _ = problem_and_fix(raised(check_signature, "garbage", 1, 32))
    assert "could not be read" in problem
    inp = keras.Input((None, None, 3))
    two = keras.Model(inp, [keras.layers.Conv2D(3, 1)(inp), keras.layers.Conv2D(3, 1)(inp)])
    problem, fix = problem_and_fix(raised(KerasModel(two), [np.zeros((1, 8, 8, 3), np.float32)]))
    assert "the model has 2 outputs; the contract is 1" in problem and "Return one output" in fix


def test_saved_model_input_names(tmp_path):
    import tensorflow as tf

    from evaluator.models.saved_model_format import check

    class Two(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="a"),
                                      tf.TensorSpec([None, None, None, 3], tf.float32, name="b")])
        def serve(self, a, b):
            return {"out": a + b}

    module = Two()
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures={"serving_default": module.serve})
    problem, fix = problem_and_fix(raised(check, tmp_path / "sm"))
    assert "must name its inputs content and style" in problem and "name='content'" in fix


# --- the model's outputs --------------------------------------------------------------------

def test_output_contract_facts():
    from evaluator.sandbox import validate_output

    shape = (4, 64, 64, 3)
    problem, fix = problem_and_fix(raised(validate_output, np.zeros((4, 128, 128, 3), np.float32), shape))
    assert "got [N, 128, 128, 3], expected [N, 64, 64, 3]" in problem  # shapes, not bytes (issue 26.7)
    problem, _ = problem_and_fix(raised(validate_output, np.zeros(shape, np.float64), shape))
    assert "the output is float64, expected float32" in problem
    bad = np.zeros(shape, np.float32)
    bad[0, 0, 0, :2] = np.nan
    problem, _ = problem_and_fix(raised(validate_output, bad, shape))
    assert "2 output values are non-finite" in problem and "nan" in problem
    problem, fix = problem_and_fix(raised(validate_output, np.full(shape, 3.5, np.float32), shape))
    assert "outputs span [3.5, 3.5], expected [-1, 1]" in problem and "tanh" in fix


_PRELUDE = """
import json, os, struct, sys, time, numpy as np
from evaluator.sandbox.protocol import Channel
ch = Channel(0, 1)
cfg, _ = ch.recv()
ch.send({"ok": True, "n_inputs": 1, "input_shapes": [[None, None, None, 3]], "parameters": 1})
ch.recv()
"""


def _fake_child(monkeypatch, tmp_path, body: str, limits: Limits) -> EaselError:
    from evaluator.sandbox import SandboxedModel

    monkeypatch.setattr(SandboxedModel, "_child_cmd", ("-c", _PRELUDE + textwrap.dedent(body)))
    model_path = tmp_path / "m.keras"
    model_path.write_bytes(b"not read by the fake child")
    with pytest.raises(EaselError) as info:
        with SandboxedModel(model_path, "keras", 1, 32, limits):
            pass
    return info.value


def test_output_too_large_to_read_names_its_shape(monkeypatch, tmp_path):
    body = """
    head = json.dumps({"ok": True, "shapes": [[2, 4096, 4096, 3]], "arrays": [2 * 4096 * 4096 * 3 * 4]}).encode()
    os.write(1, b"EZL1" + struct.pack(">I", len(head)) + head)
    time.sleep(30)
    """
    err = _fake_child(monkeypatch, tmp_path, body, Limits(timeout_s=30))
    assert err.code == "E_PRED_SHAPE" and err.facts["got"] == [2, 4096, 4096, 3]
    problem, _ = problem_and_fix(err)
    assert "got [2, 4096, 4096, 3], expected [1, 32, 32, 3] (384.0 MB of output)" in problem  # the probe batch


def test_timeout_and_memory_facts(monkeypatch, tmp_path):
    problem, _ = problem_and_fix(_fake_child(monkeypatch, tmp_path, "time.sleep(60)", Limits(timeout_s=2.0)))
    assert "no answer within 2 s" in problem
    body = """
    hog = b"x" * (600 << 20)  # touched: the watchdog sees the resident memory
    time.sleep(60)
    """
    err = _fake_child(monkeypatch, tmp_path, body, Limits(timeout_s=60, memory_mb=300))
    assert err.code == "E_OOM"
    problem, _ = problem_and_fix(err)
    assert "MiB used, the limit is 300 MiB" in problem


# --- files, archives, data -------------------------------------------------------------------

@pytest.mark.parametrize("hosts", [(), ("huggingface.co",)])
def test_size_hint_offers_only_allowed_routes(tmp_path, hosts):
    from evaluator.submission import check_tree

    (tmp_path / "model.onnx").write_bytes(b"\0" * 30_000)
    [err] = [p for p in check_tree(tmp_path, Limits(max_model_mb=0.01, model_url_hosts=hosts)) if p.code == "E_SIZE"]
    problem, fix = problem_and_fix(err)
    assert "0.0 MB, the limit is 0.0 MB" in problem and "float16" in fix
    assert ("model.url" in fix) == bool(hosts)
    assert "does not accept models by URL" in fix or hosts


def test_directory_and_data_facts(tmp_path):
    from evaluator.data.manifest import TOO_SMALL_ADVICE, check_split_sizes
    from evaluator.submission import check_directory_names

    folder = tmp_path / "submissions" / "acme" / "inkgan"
    folder.mkdir(parents=True)
    [err] = check_directory_names(folder, "acme", "other", "photo2ink")
    problem, fix = problem_and_fix(err)
    assert "names submissions/acme/other/, the folder is submissions/acme/inkgan/" in problem
    assert fix.startswith("Move the files to submissions/acme/other/")
    err = raised(check_split_sizes, {"test/B": {"public": 3, "private": 40}}, 20, TOO_SMALL_ADVICE)
    problem, fix = problem_and_fix(err)
    assert "test/B has 3 public image(s), the track's minimum is 20" in problem
    assert fix.startswith("Add at least 17 more image(s) to the public split of test/B")


def test_zip_member_count(tmp_path):
    from evaluator.models.keras_format import MAX_MEMBERS, inspect_zip

    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(MAX_MEMBERS + 1):
            archive.writestr(f"f{i}", b"")
    problem, _ = problem_and_fix(raised(inspect_zip, path, None))
    assert f"the archive has {MAX_MEMBERS + 1} members, at most {MAX_MEMBERS} allowed" in problem


def test_keras_refusal_facts():
    from evaluator.models.keras_format import check_config

    def model(*layers):
        return {"module": "keras", "class_name": "Functional", "registered_name": None,
                "config": {"name": "g", "layers": list(layers)}}

    custom = {"module": "__main__", "class_name": "InstanceNormalization",
              "registered_name": "Custom>InstanceNormalization",
              "config": {"name": "instance_norm_1"}}
    init = {"module": "mylib.init", "class_name": "MyInit", "registered_name": None, "config": {}}
    conv = {"module": "keras.layers", "class_name": "Conv2D", "registered_name": None,
            "config": {"name": "conv2d_4", "kernel_initializer": init}}
    problem, fix = problem_and_fix(raised(check_config, model(custom)))
    assert "layer instance_norm_1 is a custom layer class InstanceNormalization" in problem
    assert "SavedModel" in fix and "tf.saved_model.save" in fix
    problem, fix = problem_and_fix(raised(check_config, model(conv, custom)))  # the first layer at fault
    assert "layer conv2d_4 (Conv2D) uses a custom initializer MyInit" in problem
    assert "keras.initializers" in fix
    tf_init = {**init, "module": "tensorflow.python.ops.init_ops_v2", "class_name": "NotAnInitializer"}
    problem, fix = problem_and_fix(raised(check_config, model({**conv, "config": {"name": "c",
                                                                                 "kernel_initializer": tf_init}})))
    assert "TensorFlow's initializer NotAnInitializer" in problem and "keras.initializers.RandomNormal" in fix
    fn = {"module": "builtins", "class_name": "function", "registered_name": None, "config": "eval"}
    problem, _ = problem_and_fix(raised(check_config, model({**conv, "config": {"name": "c", "activation": fn}})))
    assert "activation eval" in problem


# --- every producer, every code ------------------------------------------------------------------

def _producer_calls():
    """(file, line, code, facts keys or None when not a literal, dimension or None) per EaselError call."""
    for path in sorted((ROOT / "evaluator").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "EaselError"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                continue
            facts = next((k.value for k in node.keywords if k.arg == "facts"), None)
            keys = dimension = None
            if isinstance(facts, ast.Dict) and all(isinstance(k, ast.Constant) for k in facts.keys):
                keys = {k.value for k in facts.keys}
                dimension = next((v.value for k, v in zip(facts.keys, facts.values)
                                  if k.value == "dimension" and isinstance(v, ast.Constant)), None)
            yield path.relative_to(ROOT), node.lineno, node.args[0].value, facts is not None, keys, dimension


def test_every_producer_emits_its_codes_declared_facts():
    with_facts = set()
    for where, line, code, has_facts, keys, _ in _producer_calls():
        assert code in CODES, (where, line, code)
        if has_facts:
            assert code in error_text.RENDERERS, f"{where}:{line}: {code} has facts but no renderer"
            with_facts.add(code)
        if keys is not None:
            declared = error_text.RENDERERS[code].facts
            required = {k for k, kind in declared.items() if not kind.endswith("?")}
            assert required <= keys <= set(declared), f"{where}:{line}: {code} facts {sorted(keys)}"
    assert with_facts == set(error_text.RENDERERS)  # no renderer without a producer


def test_every_code_with_facts_was_rendered_from_its_producer():
    """Runs last in this module (pytest keeps file order): every renderer met real producer facts."""
    this = "test_every_code_with_facts_was_rendered_from_its_producer"
    others = {name for name in globals() if name.startswith("test_") and name != this}
    if not others <= RAN | {"test_untrusted_facts_are_refused", "test_every_fixed_hint_says_what_to_do"}:
        pytest.skip("needs the whole module: " + ", ".join(sorted(others - RAN)))
    assert set(error_text.RENDERERS) <= RENDERED, sorted(set(error_text.RENDERERS) - RENDERED)
    dims = {d for *_, d in _producer_calls() if d is not None}
    assert dims <= DIMENSIONS, sorted(dims - DIMENSIONS)


def test_untrusted_facts_are_refused():
    from evaluator.error_text import clean_facts

    assert clean_facts("E_PRED_SHAPE", {"expected": [1, 2], "got": ["`x`"]}) == {}
    assert clean_facts("E_PRED_SHAPE", {"expected": [1, 2], "evil": 1}) == {}
    assert clean_facts("E_PRED_SHAPE", {"expected": [1, 2]}) == {"expected": [1, 2]}
    result = invalid({"code": "E_SIGNATURE", "message": "", "hint": "", "detail": None,
                      "facts": {"dimension": "rank", "got": "<b>"}})
    with pytest.raises(EaselError) as info:
        validate_result(result)
    assert info.value.code == "E_RESULT_SCHEMA"
    with pytest.raises(TypeError):
        EaselError("E_PRED_SHAPE", facts={"got": [1]})  # a producer bug: expected is required


def test_every_fixed_hint_says_what_to_do():
    """A hint is an instruction (issue 26.7), never a description of the message next to it."""
    for info in CODES.values():
        lowered = info.hint.lower()
        for describing in ("the message names", "the detail names", "the message says which", "names the split"):
            assert describing not in lowered, (info.code, info.hint)
