"""The format registry's generic checks (no framework is imported for these)."""

import os
import subprocess
import sys

import pytest

from evaluator.errors import EaselError
from evaluator.models import FORMATS, check_model, model_bytes


def _code(fmt, path):
    with pytest.raises(EaselError) as info:
        check_model(fmt, path)
    return info.value.code, info.value.detail


def test_registry_names():
    assert sorted(FORMATS) == ["keras", "onnx", "saved_model"]
    assert all(f.name == name and callable(f.check) and callable(f.load) for name, f in FORMATS.items())


def test_unknown_format(tmp_path):
    assert _code("pickle", tmp_path) == ("E_FORMAT", "pickle")
    assert _code("tflite", tmp_path)[0] == "E_FORMAT"


def test_missing_empty_and_kind(tmp_path):
    assert _code("keras", tmp_path / "nope.keras") == ("E_MODEL_MISSING", "nope.keras")
    empty = tmp_path / "model.keras"
    empty.write_bytes(b"")
    assert _code("keras", empty) == ("E_MODEL_EMPTY", "model.keras")
    assert _code("onnx", tmp_path) [0] == "E_MODEL_MISSING"            # a directory, not a file
    assert _code("saved_model", empty)[0] == "E_MODEL_MISSING"        # a file, not a directory
    sm = tmp_path / "sm"
    (sm / "variables").mkdir(parents=True)
    assert _code("saved_model", sm) == ("E_MODEL_EMPTY", "sm")
    (sm / "variables" / "x").write_bytes(b"1")
    assert _code("saved_model", sm) == ("E_MODEL_MALFORMED", "saved_model.pb")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_symlinked_model_is_refused(tmp_path):
    target = tmp_path / "real.keras"
    target.write_bytes(b"PK\x03\x04")
    link = tmp_path / "model.keras"
    link.symlink_to(target)
    assert _code("keras", link)[0] == "E_SYMLINK"
    sm = tmp_path / "sm"
    sm.mkdir()
    (sm / "saved_model.pb").symlink_to(target)
    assert _code("saved_model", sm)[0] == "E_SYMLINK"


def test_model_bytes_sums_a_directory(tmp_path):
    (tmp_path / "a").write_bytes(b"123")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b").write_bytes(b"45")
    assert model_bytes(tmp_path) == 5 and model_bytes(tmp_path / "a") == 3


def test_importing_the_registry_does_not_import_frameworks():
    code = ("import sys, evaluator.models, evaluator.models.allowlists; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'onnx', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_format_fact_comes_from_its_registry_entry(tmp_path):
    # Adding a format is its module and one ModelFormat line: every other stage reads the registry.
    from evaluator import model_fetch, result, submission
    from evaluator.models import MODEL_FORMATS, TENSORFLOW_FORMATS, URL_SUFFIXES, sniff_format
    from evaluator.sandbox import device

    assert MODEL_FORMATS == tuple(FORMATS) and result.MODEL_FORMATS is MODEL_FORMATS
    assert submission.MODEL_FORMATS is MODEL_FORMATS and device.TENSORFLOW_FORMATS is TENSORFLOW_FORMATS
    assert model_fetch.URL_SUFFIXES is URL_SUFFIXES
    assert URL_SUFFIXES == {name: f.suffix for name, f in FORMATS.items() if not f.directory}
    for name, spec in FORMATS.items():
        assert spec.module.startswith("evaluator.models.")
        if spec.directory:
            (tmp_path / name).mkdir()
            (tmp_path / name / spec.marker).write_bytes(b"x")
            assert sniff_format(tmp_path / name) == name
        else:
            (tmp_path / f"m{spec.suffix}").write_bytes(b"data")
            assert sniff_format(tmp_path / f"m{spec.suffix}") == name
