"""The field's real architectures, exported the ways their tutorials export them, pass and score.

PyTorch generators (junyanz ResnetGenerator and UnetGenerator, pytorch/examples TransformerNet,
naoto0804 AdaIN with two inputs, bryandlee AnimeGANv2) are ONNX fixtures written once by
tools/export_corpus.py with the legacy and the default exporter (and float16 weights), next to
PyTorch's own outputs on a seeded input. The TensorFlow pix2pix and CycleGAN tutorials' generators and
the keras.io CycleGAN are built here and exported as `.keras`, with ``model.export`` and with
``tf.saved_model.save``. Each export is checked, loaded, run at two batch sizes and scored end to end;
exports of the same weights must score the same.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from corpus_builders import CUSTOM_LAYER, EXPORTS, TF_ARCHITECTURES
from evaluator.config import load_competition
from evaluator.errors import EaselError
from evaluator.evaluate import evaluate_submission
from evaluator.models import check_inputs, check_model, load_model
from harness import REPO, SIZE, make_submission

pytestmark = [pytest.mark.slow, pytest.mark.corpus]

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "corpus"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
GOLDEN = dict(np.load(FIXTURES / "golden.npz"))
# Where each PyTorch architecture is scored: its own kind of track.
ONNX_TRACKS = {"junyanz_resnet": "photo2ink", "junyanz_unet": "photo2sketch", "examples_transformer_net": "photo2ink",
               "naoto0804_adain": "anystyle", "bryandlee_animeganv2": "photo2ink", "template_snippet": "photo2ink"}
# golden.npz holds float16: half a unit in the last place at 1.0 is 2.4e-4; float16 weights add their own.
GOLDEN_ATOL = {"fp16": 5e-3}


def _golden_inputs(n_inputs: int) -> list[np.ndarray]:
    rng = np.random.default_rng(MANIFEST["golden_seed"])  # the same draws as tools/export_corpus.py
    return [rng.uniform(-1, 1, (1, SIZE, SIZE, 3)).astype(np.float32) for _ in range(n_inputs)]


def _copy_onnx(name: str):
    """A submission builder: the fixture as model.onnx, its external-data files beside it (same names)."""
    source = FIXTURES / name

    def build(path: Path) -> Path:
        shutil.copyfile(source, path)
        for data in source.parent.glob(f"{source.name}.data"):
            shutil.copyfile(data, path.parent / data.name)
        if source.name == "model.onnx":  # a snippet folder: everything the exporter wrote
            for other in source.parent.iterdir():
                if other.name != "model.onnx":
                    shutil.copyfile(other, path.parent / other.name)
        return path

    return build


def _run_batches(model, n_inputs: int, golden_inputs: list[np.ndarray]) -> np.ndarray:
    """The model's output on the golden input; the same image inside a batch of 3 must come out the same."""
    out = model(golden_inputs)
    assert out.shape == golden_inputs[0].shape and out.dtype == np.float32
    batch = model([np.concatenate([np.flip(x, 1), x, -x]) for x in golden_inputs])
    np.testing.assert_allclose(batch[1:2], out, atol=1e-6)  # dynamic batch, no cross-talk between images
    return out


@pytest.mark.parametrize("name", sorted(MANIFEST["models"]))
def test_onnx_fixture_passes_and_computes_what_pytorch_computed(name):
    entry = MANIFEST["models"][name]
    check_model("onnx", FIXTURES / name)
    model = load_model("onnx", FIXTURES / name)
    check_inputs(model, entry["inputs"], SIZE)
    assert len(model.input_shapes) == entry["inputs"]
    assert all(shape[0] is None for shape in model.input_shapes), model.input_shapes  # dynamic batch
    out = _run_batches(model, entry["inputs"], _golden_inputs(entry["inputs"]))
    np.testing.assert_allclose(out, GOLDEN[entry["golden"]].astype(np.float32),
                               atol=GOLDEN_ATOL.get(entry["exporter"], 5e-4))
    assert np.abs(out).max() <= 1.0 and out.std() > 0.05  # a real image, not a constant


def test_the_fixtures_were_written_from_the_template_snippet_of_today():
    text = (REPO / "submissions" / "_template" / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- snippet:torch -->\s*```python\n(.*?)```", text, re.S)
    assert match, "the template README lost its <!-- snippet:torch --> marker"
    assert hashlib.sha256(match.group(1).encode()).hexdigest() == MANIFEST["template_snippet_sha256"], (
        "the template README's PyTorch snippet changed: rerun tools/export_corpus.py with PyTorch")


def test_the_default_exporter_is_what_the_fixtures_say():
    """What a participant gets today when they leave out `dynamo=False`: opset 18 unless the version
    converter manages 17 (it cannot for a reflection pad), and the weights in a `.data` file next to
    the model, which the submission must carry too."""
    models = MANIFEST["models"]
    assert models["junyanz_resnet.default.onnx"]["opsets"] == {"ai.onnx": 18}
    assert models["junyanz_resnet.legacy.onnx"]["opsets"] == {"ai.onnx": 17}
    assert (FIXTURES / "junyanz_resnet.default.onnx.data").is_file()
    assert sorted(p.name for p in (FIXTURES / "template_snippet.default_exporter").iterdir()) == [
        "model.onnx", "model.onnx.data"]
    assert not (FIXTURES / "junyanz_resnet.legacy.onnx.data").exists()


@pytest.fixture(scope="module")
def competition(competition_file):
    return load_competition(competition_file)


def _score(tmp_path, build, fmt, track, name, data_root, competition) -> dict:
    sub = make_submission(tmp_path, build, track=track, fmt=fmt, name=re.sub(r"[^a-z0-9]+", "-", name.lower())[:40])
    result = evaluate_submission(sub, data_root, competition).to_json()
    assert result["status"] == "ok", (name, result["errors"])
    assert result["efficiency"]["images_per_s"] > 0
    return {metric: value["value"] for metric, value in result["metrics"].items()}


def _assert_same_scores(scores: dict[str, dict], rel: float) -> None:
    (first_name, first), *others = scores.items()
    for other_name, other in others:
        assert set(other) == set(first)
        for metric, value in first.items():
            assert other[metric] == pytest.approx(value, rel=rel, abs=rel * 1e-2), (first_name, other_name, metric)


@pytest.mark.parametrize("architecture", sorted(ONNX_TRACKS))
def test_onnx_exports_score_ok_and_identically(architecture, tmp_path, data_root, competition, cache):
    names = sorted(n for n, e in MANIFEST["models"].items() if e["architecture"] == architecture)
    scores = {name: _score(tmp_path, _copy_onnx(name), "onnx", ONNX_TRACKS[architecture], name, data_root,
                           competition) for name in names}
    exact = {n: s for n, s in scores.items() if MANIFEST["models"][n]["exporter"] != "fp16"}
    assert len(exact) >= 2
    _assert_same_scores(exact, rel=1e-4)  # the legacy and the default exporter: the same numbers
    _assert_same_scores(scores, rel=0.05)  # float16 weights: close


def _copy_export(path: Path):
    """A submission builder: copy a model exported once (a `.keras` file or a SavedModel folder)."""
    return lambda target: (shutil.copytree(path, target) if path.is_dir() else shutil.copyfile(path, target))


@pytest.mark.parametrize("architecture", sorted(TF_ARCHITECTURES))
def test_tf_and_keras_exports_pass_and_score_identically(architecture, tmp_path, data_root, competition, cache):
    builder, track, exports = TF_ARCHITECTURES[architecture]
    model = builder()
    scores, outputs = {}, {}
    x = _golden_inputs(1)
    for export in exports:
        fmt, filename, save = EXPORTS[export]
        folder = tmp_path / export
        folder.mkdir()
        path = save(model, folder / filename)
        check_model(fmt, path)
        loaded = load_model(fmt, path)
        check_inputs(loaded, 1, SIZE)
        assert loaded.input_shapes[0][0] is None
        outputs[export] = _run_batches(loaded, 1, x)
        scores[export] = _score(tmp_path, _copy_export(path), fmt, track, f"{architecture}-{export}",
                                data_root, competition)
    reference = outputs[exports[0]]
    assert np.abs(reference).max() <= 1.0 and reference.std() > 1e-2  # a real image, not a constant
    np.testing.assert_allclose(reference, model(x[0], training=False).numpy(), atol=1e-5)
    for export in exports[1:]:  # the same weights, whatever the export route
        np.testing.assert_allclose(outputs[export], reference, atol=1e-5)
    _assert_same_scores(scores, rel=1e-4)


@pytest.mark.parametrize("architecture", sorted(CUSTOM_LAYER))
def test_keras_archive_with_a_custom_layer_is_refused_naming_the_layer(architecture, tmp_path):
    """The tutorials' custom layers cannot be loaded safely from `.keras`: refused, naming the layer, with
    the SavedModel route (which the test above scores) as the fix."""
    path = EXPORTS["keras"][2](TF_ARCHITECTURES[architecture][0](), tmp_path / "model.keras")
    with pytest.raises(EaselError) as refused:
        check_model("keras", path)
    assert refused.value.code == "E_KERAS_LAYER"
    assert CUSTOM_LAYER[architecture] in str(refused.value.detail)
    assert "SavedModel" in refused.value.info.hint
