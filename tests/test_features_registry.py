"""The backbone registry's shape: a backbone is one spec, the cache root is one rule, no network names --archive."""

from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path

import numpy as np
import pytest

from evaluator import features as F
from evaluator.cache import cache_root
from evaluator.errors import EaselError
from evaluator.features import commands as FC
from evaluator.features import registry as FREG
from evaluator.features import weights as FW


def _cli(argv):
    parser = argparse.ArgumentParser()
    FC.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def _toy_spec() -> F.BackboneSpec:
    """A whole backbone in one place: mean colour and a 2x2 pooled map, weights = 3 float32 scales."""

    def fetch(spec, file: Path) -> bytes:
        data = file.read_bytes()
        if len(data) != 12:
            raise EaselError("E_WEIGHTS_HASH", "toy weights are 3 float32", detail=spec.id)
        return data

    def load(spec, request):
        scale = np.frombuffer((request.root / spec.weights_file).read_bytes(), np.float32)

        def fn(x):  # float32 [b, 8, 8, 3] in 0..255
            pooled = x.reshape(len(x), 2, 4, 2, 4, 3).mean(axis=(2, 4))
            return x.mean(axis=(1, 2)) * scale, pooled
        return F.Backbone(spec, request.resize, FW.weights_sha256([scale]), fn)

    return F.BackboneSpec(id="toy_mean_colour", input_size=8, pool_dim=3, offline_standin=False,
                          description="toy: mean colour", load=load, fetch=fetch, map_names=("pool2",),
                          weights_file="toy/weights.bin", url="https://example.invalid/toy.bin")


def test_adding_a_backbone_is_one_registration(tmp_path, monkeypatch):
    """Registering one spec is all it takes: load, fetch --archive, list, competition.yaml all follow."""
    from harness import small_competition

    from evaluator.config import parse_competition

    spec = _toy_spec()
    monkeypatch.setitem(F.BACKBONES, spec.id, spec)
    raw = small_competition()
    raw["evaluation"]["backbone"] = spec.id
    assert parse_competition(raw).evaluation.backbone == spec.id
    archive = tmp_path / "toy.bin"
    archive.write_bytes(np.array([1.0, 2.0, 0.5], np.float32).tobytes())
    assert _cli(["weights", "fetch", "--backbone", spec.id, "--cache", str(tmp_path / "c"),
                 "--archive", str(archive)]) == 0
    monkeypatch.setattr(FREG, "_LOADED", {})
    bb = F.load_backbone(spec.id, cache_dir=tmp_path / "c")
    x = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    got = bb.features(x)
    np.testing.assert_allclose(got.pool, x.mean(axis=(1, 2)) * [1.0, 2.0, 0.5], rtol=1e-6)
    assert got.maps[0].shape == (2, 2, 2, 3)
    assert bb.describe()["id"] == spec.id
    (tmp_path / "bad.bin").write_bytes(b"x")
    with pytest.raises(EaselError) as exc:
        F.fetch_weights(spec.id, tmp_path / "c2", archive=tmp_path / "bad.bin")
    assert exc.value.code == "E_WEIGHTS_HASH" and not (tmp_path / "c2").exists()


def test_list_shows_a_registered_backbone(tmp_path, monkeypatch, capsys):
    spec = _toy_spec()
    monkeypatch.setitem(F.BACKBONES, spec.id, spec)
    assert _cli(["weights", "list", "--cache", str(tmp_path)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith(spec.id))
    assert "absent" in line and "toy: mean colour" in line


def test_no_function_outside_a_backend_names_a_backbone():
    """load_backbone, fetch_weights and the reference cache dispatch through specs, never `== "<id>"`."""
    from evaluator.features import reference

    for module in (FREG, FW, reference, FC):
        source = inspect.getsource(module)
        for backbone_id in F.BACKBONES:
            assert not re.search(rf"==\s*[\"']{backbone_id}[\"']", source), (module.__name__, backbone_id)
        assert "backbone_id ==" not in source


def test_unknown_backbone_lists_the_known_ones():
    with pytest.raises(EaselError) as exc:
        F.load_backbone("dinov2")
    assert exc.value.code == "E_BACKBONE" and "convnet_random_seed0" in exc.value.message


@pytest.mark.parametrize("value", ["", "   "])
def test_one_cache_root_for_features_and_models(value, monkeypatch, tmp_path):
    """An empty EASEL_CACHE means the default for both users of the cache, never the current directory."""
    from evaluator.submission import model_cache_dir

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("EASEL_CACHE", value)
    assert cache_root() == tmp_path / "home" / ".cache" / "easel"
    assert F.cache_root() == cache_root()
    assert model_cache_dir() == cache_root() / "models"
    monkeypatch.setenv("EASEL_CACHE", str(tmp_path / "elsewhere"))
    assert model_cache_dir() == tmp_path / "elsewhere" / "models"
    assert cache_root() == tmp_path / "elsewhere" and cache_root(tmp_path / "x") == tmp_path / "x"


def test_fetch_without_network_names_archive(tmp_path, monkeypatch):
    def offline(url, dest):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(FW, "_download", offline)
    for backbone_id in ("inception_fid", "keras_inception_v3_imagenet"):
        with pytest.raises(EaselError) as exc:
            F.fetch_weights(backbone_id, tmp_path / "c")
        assert exc.value.code == "E_BACKBONE"
        assert f"easel weights fetch --backbone {backbone_id} --archive FILE" in exc.value.message
        assert F.BACKBONES[backbone_id].url in exc.value.message
    assert not (tmp_path / "c").exists()


def test_missing_weights_without_standin_names_archive(tmp_path):
    with pytest.raises(EaselError) as exc:
        F.load_backbone("inception_fid", cache_dir=tmp_path, allow_offline_standin=False)
    assert "--archive" in exc.value.message


def test_features_package_does_not_import_the_cli():
    """Only features.commands (the CLI edge) imports evaluator.cli; the domain modules never do."""
    import subprocess
    import sys

    code = ("import sys, evaluator.features, evaluator.features.weights, evaluator.features.reference; "
            "print('evaluator.cli' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
