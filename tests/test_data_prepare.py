"""`easel data prepare`: decoding, filtering, near-duplicate removal, splits, manifests."""

from __future__ import annotations

import argparse

import imagehash
import numpy as np
import pytest
from PIL import Image

from evaluator.data import commands
from evaluator.data.images import load_rgb_uint8
from evaluator.data.manifest import verify_dataset
from evaluator.data.prepare import prepare
from evaluator.data.styles import STYLES
from evaluator.data.synth import render_scene
from evaluator.errors import EaselError

SIZE = 32
TINY = {"min_test_images": 1, "showcase": 0}  # these folders hold a dozen images: no minimum, no showcase


def _scene(seed, size=80):
    return render_scene(np.random.default_rng(1000 + seed), size)


def _phash(path):
    return imagehash.phash(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    a, b = root / "a", root / "b"
    a.mkdir()
    b.mkdir()
    for i in range(10):
        Image.fromarray(_scene(i)).save(a / f"img{i:02d}.png")
    # Twins sort after their originals, so the originals are the ones kept.
    (a / "img03_copy.png").write_bytes((a / "img03.png").read_bytes())
    Image.fromarray(_scene(5)).resize((60, 60), Image.Resampling.LANCZOS).save(a / "img05_small.jpg", quality=95)
    good = Image.fromarray(_scene(20))
    good.save(a / "corrupt.jpg", quality=90)
    (a / "corrupt.jpg").write_bytes((a / "corrupt.jpg").read_bytes()[:300])  # truncated JPEG
    rgba = np.dstack([_scene(21), np.full((80, 80), 180, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(a / "alpha.png")
    Image.fromarray(_scene(22)).convert("L").save(a / "gray.png")
    Image.fromarray(_scene(23, size=10)).save(a / "tiny.png")
    for i in range(8):
        styled = STYLES["oil"](_scene(40 + i), np.random.default_rng(i))
        Image.fromarray(styled).save(b / f"style{i}.png")
    (b / "style_dup.png").write_bytes((b / "style1.png").read_bytes())
    return a, b


def test_prepare_filters_dedupes_and_splits(raw, tmp_path, capsys):
    a, b = raw
    report = prepare(a, b, tmp_path / "mine", size=SIZE, test_fraction=0.3, seed=4, **TINY)
    out = capsys.readouterr().out
    assert "dataset mine" in out and "near-duplicate=3" in out
    reasons = {(d.domain, d.file): d.reason for d in report.dropped}
    assert reasons == {("A", "corrupt.jpg"): "unreadable", ("A", "tiny.png"): "too small",
                       ("A", "img03_copy.png"): "near-duplicate of A:img03.png",
                       ("A", "img05_small.jpg"): "near-duplicate of A:img05.png",
                       ("B", "style_dup.png"): "near-duplicate of B:style1.png"}
    assert report.dropped_by_reason() == {"near-duplicate": 3, "too small": 1, "unreadable": 1}
    # 12 usable A images (10 + alpha + gray), 8 B images; 30% held out, public/private by index.
    assert report.kept == {"test/A": {"public": 2, "private": 2}, "test/B": {"public": 1, "private": 1},
                           "train/A": {"train": 8}, "train/B": {"train": 6}}
    assert set(report.origin.values()) >= {"A:alpha.png", "A:gray.png"}
    out_dir = tmp_path / "mine"
    manifest = verify_dataset(out_dir)
    assert manifest.dataset == "mine" and manifest.image_size == SIZE and manifest.kind == "unpaired"
    for rel in manifest.files:
        assert load_rgb_uint8(out_dir / rel).shape == (SIZE, SIZE, 3)
    # Gray input stays gray, alpha is composited onto white (brighter than the opaque original).
    gray_rel = next(k for k, v in report.origin.items() if v == "A:gray.png")
    gray = load_rgb_uint8(out_dir / gray_rel).astype(int)
    assert np.abs(gray[..., 0] - gray[..., 2]).max() <= 1
    alpha_rel = next(k for k, v in report.origin.items() if v == "A:alpha.png")
    assert load_rgb_uint8(out_dir / alpha_rel).mean() > np.array(
        Image.fromarray(_scene(21)).resize((SIZE, SIZE))).mean()
    # Independent check: no test image has a perceptual twin anywhere in train.
    train = [_phash(out_dir / p) for p in manifest.files if p.startswith("train/")]
    for p in manifest.files:
        if p.startswith("test/"):
            assert min(_phash(out_dir / p) - h for h in train) > 4, p


def test_same_seed_same_dataset_and_cross_domain_twin(raw, tmp_path):
    a, b = raw
    first = prepare(a, b, tmp_path / "one", size=SIZE, test_fraction=0.3, seed=4, **TINY)
    second = prepare(a, b, tmp_path / "two", size=SIZE, test_fraction=0.3, seed=4, **TINY)
    assert first.manifest.sha256 == second.manifest.sha256
    other = prepare(a, b, tmp_path / "three", size=SIZE, test_fraction=0.3, seed=5, **TINY)
    assert other.manifest.sha256 != first.manifest.sha256
    # The same picture filed in A and in B: a held-out copy is dropped if train has the other.
    b2 = tmp_path / "b2"
    b2.mkdir()
    for src in b.iterdir():
        (b2 / src.name).write_bytes(src.read_bytes())
    for i in range(10):
        (b2 / f"leak{i}.png").write_bytes((a / f"img{i:02d}.png").read_bytes())
    leaky = prepare(a, b2, tmp_path / "four", size=SIZE, test_fraction=0.3, seed=4, **TINY)
    cross = [d for d in leaky.dropped if d.reason.startswith("near-duplicate") and
             d.reason.split(" of ")[1][0] != d.domain]
    assert cross
    manifest = leaky.manifest
    train = [_phash(tmp_path / "four" / p) for p in manifest.files if p.startswith("train/")]
    for p in manifest.files:
        if p.startswith("test/"):
            assert min(_phash(tmp_path / "four" / p) - h for h in train) > 4, p


def test_paired_prepare_and_cli(tmp_path, capsys):
    a, b = tmp_path / "pa", tmp_path / "pb"
    a.mkdir()
    b.mkdir()
    for i in range(7):
        photo = _scene(60 + i, size=48)
        Image.fromarray(photo).save(a / f"p{i}.png")
        if i != 6:
            Image.fromarray(STYLES["sketch"](photo, np.random.default_rng(i))).save(b / f"p{i}.jpg")
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers())
    args = parser.parse_args(["data", "prepare", "--a", str(a), "--b", str(b), "--out", str(tmp_path / "paired"),
                              "--size", "24", "--test-fraction", "0.4", "--kind", "paired",
                              "--min-test-images", "1", "--showcase", "0"])
    assert args.func(args) == 0
    assert "test/A_target" in capsys.readouterr().out
    manifest = verify_dataset(tmp_path / "paired")
    assert manifest.kind == "paired"
    assert len(manifest.paths("train/A")) == len(manifest.paths("train/B")) == 4
    assert [p.split("/")[-1] for p in manifest.paths("train/A_target")] == \
        [p.split("/")[-1] for p in manifest.paths("train/A")]
    assert len(manifest.paths("test/A")) == len(manifest.paths("test/A_target")) == 2
    origin = manifest.source["origin"]
    for rel in manifest.paths("test/A") + manifest.paths("train/A"):
        partner = rel.replace("test/A/", "test/A_target/") if rel.startswith("test") else rel.replace("/A/", "/B/")
        assert origin[rel][2:].split(".")[0] == origin[partner][2:].split(".")[0]
    assert {d["reason"] for d in manifest.source["dropped"]} == {"no pair"}
    # A second run into the same folder is refused, nothing is overwritten.
    with pytest.raises(EaselError) as info:
        args.func(args)
    assert info.value.code == "E_DATA_PREPARE"


def test_prepare_refuses_empty_domain(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.fromarray(_scene(1, 40)).save(tmp_path / "a" / "x.png")
    with pytest.raises(EaselError) as info:
        prepare(tmp_path / "a", tmp_path / "b", tmp_path / "out", size=16, **TINY)
    assert info.value.code == "E_DATA_PREPARE"
    with pytest.raises(EaselError) as info:
        prepare(tmp_path / "nope", tmp_path / "b", tmp_path / "out2", size=16, **TINY)
    assert info.value.code == "E_DATA_PREPARE"
