"""Manifests, `easel data verify`, and the image helpers."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from evaluator import cli
from evaluator.data import commands
from evaluator.data.images import grid_image, load_rgb_uint8, png_bytes, save_grid, save_png, to_model_range, to_uint8
from evaluator.data.manifest import open_dataset, verify_dataset, write_manifest
from evaluator.data.synth import SHOWCASE_COUNT, synthesize
from evaluator.errors import EaselError


def run_data_cli(argv, capsys=None):
    """Our own parser (other stages' modules may be absent), with cli.main's error handling."""
    parser = argparse.ArgumentParser(prog="easel")
    sub = parser.add_subparsers(dest="command")
    commands.register(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EaselError as exc:
        cli.report_error(exc)
        return exc.exit_code


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("pristine")
    synthesize(root, size=16, count=4, seed=3, datasets=["dev-ink", "dev-sketch"])
    return root


@pytest.fixture
def dataset(pristine, tmp_path):
    shutil.copytree(pristine, tmp_path / "data")
    return tmp_path / "data"


def test_verify_ok_single_and_root(dataset, capsys):
    assert run_data_cli(["data", "verify", str(dataset / "dev-ink")]) == 0
    assert f"ok: {12 + SHOWCASE_COUNT} files match" in capsys.readouterr().out
    assert run_data_cli(["data", "verify", str(dataset)]) == 0
    out = capsys.readouterr().out
    assert out.count("ok:") == 2 and f"ok: {18 + SHOWCASE_COUNT} files match" in out
    folder, manifest = open_dataset(dataset, "dev-sketch")
    assert folder == dataset / "dev-sketch" and manifest.kind == "paired"
    assert manifest.paths("test/A") == ["test/A/0000.png", "test/A/0001.png"]
    assert manifest.paths("test/A_target", "public") == ["test/A_target/0000.png"]
    assert manifest.paths("test/A", "private") == ["test/A/0001.png"]
    assert manifest.paths("test/A", "all") == manifest.paths("test/A")
    assert manifest.paths("train/B") == [f"train/B/{i:04d}.png" for i in range(4)]


@pytest.mark.parametrize("fault", ["changed", "missing", "extra"])
def test_verify_names_the_faulty_file(dataset, capsys, fault):
    folder = dataset / "dev-ink"
    target = folder / "test/B/0001.png"
    if fault == "changed":
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
        rel = "test/B/0001.png"
    elif fault == "missing":
        target.unlink()
        rel = "test/B/0001.png"
    else:
        (folder / "train/A/zz-extra.png").write_bytes(b"x")
        rel = "train/A/zz-extra.png"
    assert run_data_cli(["data", "verify", str(folder)]) == 3
    err = capsys.readouterr().err
    assert "E_DATA_MANIFEST" in err and rel in err
    with pytest.raises(EaselError) as info:
        verify_dataset(folder)
    assert info.value.code == "E_DATA_MANIFEST" and info.value.detail == rel
    # Verifying the root fails on the same file.
    assert run_data_cli(["data", "verify", str(dataset)]) == 3


def test_verify_reports_first_problem_in_path_order(dataset, pristine):
    folder = dataset / "dev-ink"
    (folder / "train/B/0002.png").unlink()
    (folder / "test/A/0000.png").write_bytes(b"changed")
    (folder / "train/A/0001.png.bak").write_bytes(b"x")
    with pytest.raises(EaselError) as info:
        verify_dataset(folder)
    assert info.value.detail == "test/A/0000.png"
    shutil.copy(pristine / "dev-ink" / "test/A/0000.png", folder / "test/A/0000.png")
    with pytest.raises(EaselError) as info:
        verify_dataset(folder)
    assert info.value.detail == "train/A/0001.png.bak"  # extra, sorts before the missing train/B file
    (folder / "train/A/0001.png.bak").unlink()
    with pytest.raises(EaselError) as info:
        verify_dataset(folder)
    assert info.value.detail == "train/B/0002.png" and "missing" in info.value.message


def test_tampered_manifest_and_absent_dataset(dataset):
    folder = dataset / "dev-ink"
    raw = json.loads((folder / "manifest.json").read_text())
    raw["files"]["test/A/0000.png"]["split"] = "private"  # moving a file between splits is tampering
    (folder / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(EaselError) as info:
        verify_dataset(folder)
    assert info.value.code == "E_DATA_MANIFEST" and info.value.detail == "manifest.json"
    raw["files"]["../outside.png"] = raw["files"].pop("test/A/0000.png")
    (folder / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(EaselError) as info:
        verify_dataset(folder)
    assert info.value.code == "E_DATA_MANIFEST"
    with pytest.raises(EaselError) as info:
        open_dataset(dataset, "dev-nothing")
    assert info.value.code == "E_DATA_MISSING"
    with pytest.raises(EaselError) as info:
        open_dataset(dataset, "../dev-ink")
    assert info.value.code == "E_DATA_MISSING"
    assert run_data_cli(["data", "verify", str(dataset / "nowhere")]) == 3


def test_write_manifest_with_given_splits(tmp_path):
    image = np.zeros((8, 8, 3), np.uint8)
    for rel in ("train/A/a.png", "train/B/b.png", "test/A/x.png", "test/B/x.png", "test/A/y.png"):
        save_png(tmp_path / "set" / rel, image)
    manifest = write_manifest(tmp_path / "set", "unpaired", 8, {"note": "t"},
                              splits={"x.png": "private", "y.png": "public"})
    assert manifest.files["test/A/x.png"].split == manifest.files["test/B/x.png"].split == "private"
    assert manifest.files["train/A/a.png"].split is None
    assert verify_dataset(tmp_path / "set").sha256 == manifest.sha256
    assert manifest.files["test/A/y.png"].sha256 == hashlib.sha256(png_bytes(image)).hexdigest()
    assert manifest.files["test/A/y.png"].split == "public"
    with pytest.raises(EaselError):
        write_manifest(tmp_path / "set", "unpaired", 8, {}, splits={"x.png": "public"})  # y.png has none


def _manifest_doc(files=None, **top):
    """A schema-1 manifest document whose sha256 matches its files table (fields overridable)."""
    from evaluator.data.manifest import files_sha256

    files = files if files is not None else {"train/A/a.png": {"sha256": "a" * 64},
                                             "test/A/x.png": {"sha256": "b" * 64, "split": "public"},
                                             "showcase/A/s.png": {"sha256": "c" * 64, "split": "showcase"}}
    doc = {"schema": 1, "dataset": "dev-ink", "kind": "unpaired", "image_size": 8, "source": {"note": "t"},
           "files": files, "sha256": files_sha256(files)}
    return {**doc, **top}


@pytest.mark.parametrize("change, key_path, detail", [
    (lambda d: d.update(schema=2), "schema", "manifest.json"),
    (lambda d: d.update(kind="sideways"), "kind", "manifest.json"),
    (lambda d: d.update(image_size=True), "image_size", "manifest.json"),
    (lambda d: d.update(source=["x"]), "source", "manifest.json"),
    (lambda d: d.update(extra=1), "extra", "manifest.json"),
    (lambda d: d.pop("dataset"), "dataset", "manifest.json"),
    (lambda d: d.update(sha256="f" * 64), "sha256", "manifest.json"),
    (lambda d: d["files"].update({"../x.png": {"sha256": "d" * 64}}), "files.(key)", "manifest.json"),
    (lambda d: d["files"]["test/A/x.png"].pop("split"), "files.test/A/x.png.split", "test/A/x.png"),
    (lambda d: d["files"]["test/A/x.png"].update(split="showcase"), "files.test/A/x.png.split", "test/A/x.png"),
    (lambda d: d["files"]["train/A/a.png"].update(split="public"), "files.train/A/a.png.split", "train/A/a.png"),
    (lambda d: d["files"]["showcase/A/s.png"].pop("split"), "files.showcase/A/s.png.split", "showcase/A/s.png"),
    (lambda d: d["files"]["train/A/a.png"].update(sha256="A" * 64), "files.train/A/a.png.sha256", "train/A/a.png"),
    (lambda d: d["files"]["train/A/a.png"].update(size=3), "files.train/A/a.png.size", "train/A/a.png"),
])
def test_manifest_refusals_name_the_key_path_and_the_file_at_fault(change, key_path, detail):
    """One check of manifest.json (Manifest.from_json, on the shared schema Checker): the message names
    the key path, the detail (shown in the PR comment) the dataset file at fault."""
    from evaluator.data.manifest import Manifest, files_sha256

    doc = _manifest_doc()
    assert Manifest.from_json(doc).to_json() == doc  # to_json is the file's fixed point
    change(doc)
    if key_path.startswith("files.") and key_path != "files.(key)":
        doc["sha256"] = files_sha256(doc["files"])  # a consistent hash: the entry itself is at fault
    with pytest.raises(EaselError) as info:
        Manifest.from_json(doc)
    assert info.value.code == "E_DATA_MANIFEST" and info.value.detail == detail
    assert info.value.message.startswith(f"manifest.json: {key_path}: expected ")


def test_manifest_bytes_and_hash_are_what_they_were(tmp_path):
    """write_manifest's bytes: sorted keys, the files table hashed as canonical JSON (sha256 by hashlib here)."""
    image = np.zeros((8, 8, 3), np.uint8)
    for rel in ("train/A/a.png", "test/A/x.png", "test/B/x.png"):
        save_png(tmp_path / "set" / rel, image)
    manifest = write_manifest(tmp_path / "set", "unpaired", 8, {"note": "t"})
    digest = hashlib.sha256(png_bytes(image)).hexdigest()
    files = {"test/A/x.png": {"sha256": digest, "split": "public"},
             "test/B/x.png": {"sha256": digest, "split": "public"}, "train/A/a.png": {"sha256": digest}}
    table = json.dumps(files, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert manifest.sha256 == hashlib.sha256(table.encode()).hexdigest()
    expected = {"schema": 1, "dataset": "set", "kind": "unpaired", "image_size": 8, "source": {"note": "t"},
                "files": files, "sha256": manifest.sha256}
    assert (tmp_path / "set" / "manifest.json").read_text() == json.dumps(expected, indent=2, sort_keys=True) + "\n"


# --- images --------------------------------------------------------------------------

def test_model_range_round_trip_is_exact():
    values = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, axis=-1)
    scaled = to_model_range(values)
    assert scaled.dtype == np.float32 and scaled.min() == -1.0 and scaled.max() == 1.0
    assert np.allclose(scaled, values / 127.5 - 1.0, atol=1e-6)
    assert np.array_equal(to_uint8(scaled), values)
    assert to_uint8(np.array([-3.0, 3.0, 0.0])).tolist() == [0, 255, 128]
    assert to_uint8(np.array([-1.0 + 0.4 / 127.5])).tolist() == [0]


def test_load_converts_modes(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[0, 0, 3] = 0  # transparent -> white
    rgba[0, 1, 3] = 255  # opaque -> its colour
    rgba[0, 2, 3] = 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = load_rgb_uint8(tmp_path / "a.png")
    assert out.shape == (4, 4, 3)
    assert out[0, 0].tolist() == [255, 255, 255] and out[0, 1].tolist() == [200, 0, 0]
    assert abs(int(out[0, 2, 1]) - 127) <= 1 and abs(int(out[0, 2, 0]) - 227) <= 1
    Image.fromarray(np.full((5, 6), 77, np.uint8), "L").save(tmp_path / "g.png")
    assert load_rgb_uint8(tmp_path / "g.png").tolist() == np.full((5, 6, 3), 77).tolist()
    Image.fromarray(np.full((3, 3, 3), 40, np.uint8)).convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "p.gif")
    assert load_rgb_uint8(tmp_path / "p.gif").shape == (3, 3, 3)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    with pytest.raises(EaselError) as info:
        load_rgb_uint8(tmp_path / "bad.jpg")
    assert info.value.code == "E_DATA_IMAGE" and info.value.detail == "bad.jpg"


def test_save_png_deterministic_and_lossless(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    save_png(tmp_path / "one.png", image)
    save_png(tmp_path / "two.png", image)
    assert (tmp_path / "one.png").read_bytes() == (tmp_path / "two.png").read_bytes()
    assert np.array_equal(load_rgb_uint8(tmp_path / "one.png"), image)
    assert not list(tmp_path.glob(".*tmp"))
    with Image.open(io.BytesIO((tmp_path / "one.png").read_bytes())) as im:
        assert not {k for k in im.info if k not in ("dpi",)}  # no text chunks, no timestamps


def test_grid_size_and_cells(tmp_path):
    red = np.zeros((10, 12, 3), np.uint8)
    red[..., 0] = 255
    columns = [("input", [red, red, red]), ("output", [red, red]), ("target", [red, red, red])]
    grid = grid_image(columns, scale=3)
    pad, label = 4, 14
    assert grid.shape == (pad + label + 3 * (30 + pad), pad + 3 * (36 + pad), 3)
    y0, x1 = pad + label, pad + (36 + pad)
    assert grid[y0:y0 + 30, pad:pad + 36].tolist() == np.broadcast_to(red[0, 0], (30, 36, 3)).tolist()
    empty = grid[y0 + 2 * (30 + pad) + 5, x1 + 5]
    assert empty.tolist() == [220, 220, 220]  # the short column leaves a grey cell
    assert (grid[:label, :] < 128).any()  # labels are drawn
    path = save_grid(tmp_path / "g.png", columns, scale=3)
    assert np.array_equal(load_rgb_uint8(path), grid)
