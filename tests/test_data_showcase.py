"""Showcase images, near-duplicate groups and the minimum test size (issues 13.3, 13.5, 15.2, 15.3).

The end-to-end test prepares data, evaluates, publishes the samples as publish.yml
does, builds the site, and then searches every published picture for every
test-split image, by hash and by the near-duplicate check, and finds none.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil

import numpy as np
import pytest
import yaml
from PIL import Image, ImageEnhance

from evaluator import cli
from evaluator.config import load_competition
from evaluator.data.dedup import PHASH_MAX_DISTANCE, crop_hashes, hash_distance
from evaluator.data.images import grid_image, load_rgb_uint8, save_grid
from evaluator.data.manifest import verify_dataset
from evaluator.data.prepare import prepare
from evaluator.data.styles import STYLES
from evaluator.data.synth import render_scene
from evaluator.errors import ConfigError
from harness import make_submission, small_competition
from model_builders import valid_model

SIZE = 32
GRID_PAD, GRID_LABEL_H, GRID_SCALE = 4, 14, 2  # grid_image's documented layout


def _scene(seed: int, size: int = 64) -> np.ndarray:
    return render_scene(np.random.default_rng(3000 + seed), size)


def _raw(root, n_a: int, n_b: int, style: str = "ink"):
    a, b = root / "raw_a", root / "raw_b"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    for i in range(n_a):
        Image.fromarray(_scene(i)).save(a / f"a{i:03d}.png")
    for i in range(n_b):
        Image.fromarray(STYLES[style](_scene(500 + i), np.random.default_rng(i))).save(b / f"b{i:03d}.png")
    return a, b


def _competition(tmp_path, dataset: str, minimum: int, kind_track: int = 0):
    raw = small_competition()
    raw["tracks"] = [dict(raw["tracks"][kind_track], dataset=dataset, min_test_images=minimum)]
    path = tmp_path / f"competition-{minimum}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


# --- the minimum test size ------------------------------------------------------------------

def test_three_test_images_are_refused_by_prepare_verify_and_evaluate(tmp_path, capfd, cache):
    a, b = _raw(tmp_path, 6, 6)
    data = tmp_path / "data"
    # prepare: 6 images at --test-fraction 0.5 leave 3 test images (2 public, 1 private).
    code = cli.main(["data", "prepare", "--a", str(a), "--b", str(b), "--out", str(data / "tiny"),
                     "--size", str(SIZE), "--test-fraction", "0.5", "--showcase", "0", "--min-test-images", "2"])
    err = capfd.readouterr().err
    assert code == 3
    assert "E_DATA_TOO_SMALL" in err and "test/A private split has 1 image(s)" in err
    assert "minimum of 2" in err and "--test-fraction" in err and "Traceback" not in err
    assert not (data / "tiny").exists()  # nothing written

    # Built with a lower minimum, then the competition asks for more: verify refuses it ...
    prepare(a, b, data / "tiny", size=SIZE, test_fraction=0.5, min_test_images=1, showcase=0)
    comp = _competition(tmp_path, "tiny", minimum=2)
    assert cli.main(["data", "verify", str(data / "tiny")]) == 0  # the files themselves are intact
    capfd.readouterr()
    code = cli.main(["data", "verify", str(data / "tiny"), "--competition", str(comp)])
    err = capfd.readouterr().err
    assert code == 3 and "E_DATA_TOO_SMALL" in err and "private split has 1" in err and "Traceback" not in err

    # ... and so does evaluate, on either split, with a data fault (exit 3), never E_INTERNAL.
    sub = make_submission(tmp_path, valid_model)
    for split in ("public", "private", "all"):
        out = tmp_path / f"{split}.json"
        code = cli.main(["evaluate", str(sub), "--data", str(data), "--out", str(out), "--split", split,
                         "--competition", str(comp)])
        err = capfd.readouterr().err
        result = json.loads(out.read_text())
        assert code == 3 and result["status"] == "error", split
        assert [e["code"] for e in result["errors"]] == ["E_DATA_TOO_SMALL"], split
        assert "Traceback" not in err and "E_INTERNAL" not in err


def test_min_test_images_is_checked_in_competition_yaml(tmp_path):
    assert load_competition(_competition(tmp_path, "x", minimum=2)).tracks[0].min_test_images == 2
    raw = small_competition()
    raw["tracks"][0].pop("min_test_images")
    path = tmp_path / "default.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert load_competition(path).tracks[0].min_test_images == 50  # the documented default
    with pytest.raises(ConfigError, match=r"tracks\[0\]\.min_test_images: expected an integer of at least 2"):
        load_competition(_competition(tmp_path, "x", minimum=1))
    # The shipped dev competition's minimum is met by the dev data at synth's default count.
    shipped = load_competition(cli.__file__.replace("evaluator/cli.py", "competition.yaml"))
    assert {t.min_test_images for t in shipped.tracks} == {30} and 120 // 2 // 2 == 30


# --- near-duplicate groups --------------------------------------------------------------------

def _jpeg_bytes(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def test_near_duplicates_form_groups_and_keep_the_best_file(tmp_path, capsys):
    a, b = _raw(tmp_path, 12, 12)
    base0, base1, base2 = (Image.open(a / f"a{i:03d}.png") for i in range(3))
    # Family 0: a big lossy JPEG (q30) of the same picture sorts first; the smaller PNG must win (lossless).
    big = base0.resize((128, 128), Image.Resampling.BICUBIC)
    (a / "a000_aa_big.jpg").write_bytes(_jpeg_bytes(big, 30))
    # Family 1: a 90 % corner crop and a brightness shift (both lossless, fewer pixels): the original wins.
    base1.crop((0, 0, 58, 58)).save(a / "a001_crop.png")
    ImageEnhance.Brightness(base1).enhance(1.1).resize((60, 60)).save(a / "a001_bright.png")
    # Family 2: the same picture filed under B as well (a cross-domain twin): one copy survives.
    base2.save(b / "b_twin.png")
    report = prepare(a, b, tmp_path / "out", size=SIZE, test_fraction=0.3, min_test_images=1, showcase=2)
    printed = capsys.readouterr().out
    dropped = {(d.domain, d.file): (d.reason, d.kept_because) for d in report.dropped}
    assert dropped == {("A", "a000_aa_big.jpg"): ("near-duplicate of A:a000.png", "lossless"),
                       ("A", "a001_crop.png"): ("near-duplicate of A:a001.png", "more pixels"),
                       ("A", "a001_bright.png"): ("near-duplicate of A:a001.png", "more pixels"),
                       ("B", "b_twin.png"): ("near-duplicate of A:a002.png", "first by name")}
    # The console table lists every dropped file with its reason; the manifest records the same.
    for (domain, name), (reason, because) in dropped.items():
        assert f"{domain}:{name}" in printed and f"{reason} (kept: {because})" in printed
    recorded = {(d["domain"], d["file"]): (d["reason"], d["kept_because"]) for d in report.manifest.source["dropped"]}
    assert recorded == dropped
    assert report.manifest.source["near_duplicate_distance"] == PHASH_MAX_DISTANCE
    # Independent check on the written files: every pair across train / test splits / showcase is far apart.
    out = tmp_path / "out"
    manifest = verify_dataset(out)
    hashes = {rel: crop_hashes(load_rgb_uint8(out / rel)) for rel in manifest.files}
    role = {rel: entry.split or "train" for rel, entry in manifest.files.items()}
    rels = sorted(hashes)
    for i, x in enumerate(rels):
        for y in rels[i + 1:]:
            if role[x] != role[y]:
                assert hash_distance(hashes[x], hashes[y]) > PHASH_MAX_DISTANCE, (x, y)


def test_threshold_is_an_option(tmp_path, capsys):
    a, b = _raw(tmp_path, 8, 8)
    base = Image.open(a / "a001.png")
    ImageEnhance.Brightness(base).enhance(1.1).resize((60, 60)).save(a / "a001_bright.png")
    strict = prepare(a, b, tmp_path / "strict", size=SIZE, test_fraction=0.3, min_test_images=1, showcase=0,
                     max_distance=0)
    default = prepare(a, b, tmp_path / "default", size=SIZE, test_fraction=0.3, min_test_images=1, showcase=0)
    assert len(strict.dropped) < len(default.dropped)
    assert ("A", "a001_bright.png") in {(d.domain, d.file) for d in default.dropped}


# --- showcase images ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind, folders", [("unpaired", {"showcase/A"}), ("example", {"showcase/A", "showcase/B"}),
                                           ("paired", {"showcase/A"})])
def test_prepare_makes_a_showcase(tmp_path, capsys, kind, folders):
    a, b = _raw(tmp_path, 14, 14)
    if kind == "paired":
        for path in b.iterdir():
            path.rename(b / path.name.replace("b", "a", 1))
    report = prepare(a, b, tmp_path / "out", size=SIZE, test_fraction=0.3, min_test_images=1, showcase=3,
                     kind=kind)
    manifest = verify_dataset(tmp_path / "out")
    showcase = {rel.rsplit("/", 1)[0] for rel, e in manifest.files.items() if e.split == "showcase"}
    assert showcase == folders
    for folder in folders:
        assert len(manifest.paths(folder, "showcase")) == 3 == report.kept[folder]["showcase"]
    assert "showcase" in capsys.readouterr().out


def _tiles(image: np.ndarray, size: int) -> list[np.ndarray]:
    """The whole picture, and every cell of a grid_image layout at GRID_SCALE, reduced back to size px."""
    cell = size * GRID_SCALE
    tiles = [image]
    height, width = image.shape[:2]
    for y in range(GRID_PAD + GRID_LABEL_H, height - cell + 1, cell + GRID_PAD):
        for x in range(GRID_PAD, width - cell + 1, cell + GRID_PAD):
            tiles.append(image[y:y + cell:GRID_SCALE, x:x + cell:GRID_SCALE])
    return tiles


def find_test_images(published: list, data_dir, manifest, size: int) -> list[str]:
    """Every (published file, test file) match by file hash, pixel hash or near-duplicate check."""
    tests = {rel: load_rgb_uint8(data_dir / rel) for rel in manifest.files if rel.startswith("test/")}
    file_hashes = {e.sha256 for rel, e in manifest.files.items() if rel.startswith("test/")}
    pixel_hashes = {hashlib.sha256(img.tobytes()).hexdigest(): rel for rel, img in tests.items()}
    near = {rel: crop_hashes(img) for rel, img in tests.items()}
    found = []
    for path in published:
        if hashlib.sha256(path.read_bytes()).hexdigest() in file_hashes:
            found.append(f"{path.name}: file of a test image")
        for tile in _tiles(np.asarray(Image.open(path).convert("RGB")), size):
            tile = np.ascontiguousarray(tile)
            if hashlib.sha256(tile.tobytes()).hexdigest() in pixel_hashes:
                found.append(f"{path.name}: pixels of {pixel_hashes[hashlib.sha256(tile.tobytes()).hexdigest()]}")
            if tile.shape[:2] == (size, size):
                mine = crop_hashes(tile)
                found += [f"{path.name}: near-duplicate of {rel}" for rel, h in near.items()
                          if hash_distance(mine, h) <= PHASH_MAX_DISTANCE]
    return found


def test_no_published_picture_shows_a_test_image(tmp_path, cache, capsys):
    from evaluator.leaderboard import add_result, empty_board
    from evaluator.site_build import build_site
    from evaluator.submission import read_meta

    a, b = _raw(tmp_path, 24, 24)
    data = tmp_path / "data"
    prepare(a, b, data / "real-ink", size=SIZE, test_fraction=0.34, min_test_images=2, showcase=4)
    manifest = verify_dataset(data / "real-ink")
    comp_path = _competition(tmp_path, "real-ink", minimum=2)
    competition = load_competition(comp_path)
    sub = make_submission(tmp_path, valid_model)
    # evaluate, as evaluate.yml (the PR gallery) and publish.yml (the site's samples) call it
    run = tmp_path / "run"
    code = cli.main(["evaluate", str(sub), "--data", str(data), "--out", str(run / "result.json"),
                     "--competition", str(comp_path), "--gallery", str(run / "gallery.png"),
                     "--samples", str(run / "samples.png")])
    assert code == 0
    result = json.loads((run / "result.json").read_text())
    assert (run / "gallery.png").read_bytes() == (run / "samples.png").read_bytes()
    # The gallery is input | output on the showcase images, re-encoded by Easel (a PNG without metadata).
    gallery = Image.open(run / "gallery.png")
    assert gallery.format == "PNG" and not gallery.info.get("exif") and not gallery.text
    showcase = [load_rgb_uint8(data / "real-ink" / rel) for rel in manifest.paths("showcase/A", "showcase")]
    tiles = _tiles(np.asarray(gallery.convert("RGB")), SIZE)[1:]
    assert len(tiles) == 2 * len(showcase) == 8
    assert all(np.array_equal(tiles[2 * i], image) for i, image in enumerate(showcase))
    # publish.yml: site/samples/<track>/<team>/<model>.png, then the site build
    repo = tmp_path / "repo"
    published_samples = repo / "site" / "samples" / "photo2ink" / "acme" / "tiny.png"
    published_samples.parent.mkdir(parents=True)
    shutil.copyfile(run / "samples.png", published_samples)
    meta, _ = read_meta(sub)
    board, _ = add_result(empty_board(), result, pr=None, commit=None, meta=meta.public_meta(),
                          competition=competition, submission_dir=sub)
    index = build_site(board, competition, repo / "site" / "_build", samples_dir=repo / "site" / "samples",
                       progress=False)
    published = sorted(p for p in repo.rglob("*") if p.is_file() and p.suffix.lower() in
                       {".png", ".jpg", ".jpeg", ".gif", ".webp"})
    published.append(run / "gallery.png")
    # Pages and vector charts embed no raster pictures of their own.
    for page in repo.rglob("*"):
        if page.suffix.lower() in {".html", ".svg", ".css", ".js"}:
            text = page.read_text(encoding="utf-8")
            assert "data:image" not in text and "<image" not in text, page
    assert index.is_file() and any("_build" in str(p) for p in published)
    assert find_test_images(published, data / "real-ink", manifest, SIZE) == []

    # The search finds test images when they are there: a grid made the old way (public test inputs).
    leaked = tmp_path / "leaked.png"
    inputs = [load_rgb_uint8(data / "real-ink" / rel) for rel in manifest.paths("test/A", "public")]
    save_grid(leaked, [("input", inputs), ("output", [255 - x for x in inputs])])
    hits = find_test_images([leaked], data / "real-ink", manifest, SIZE)
    assert len([h for h in hits if "pixels of test/A" in h]) == len(inputs)
    # ... and a re-encoded, slightly brighter copy of a test image by the near-duplicate check.
    shifted = tmp_path / "shifted.jpg"
    Image.fromarray(inputs[0]).point(lambda v: min(255, v + 8)).save(shifted, quality=60)
    assert any("near-duplicate of test/A" in h for h in find_test_images([shifted], data / "real-ink", manifest,
                                                                           SIZE))
    assert grid_image([("x", inputs[:1])]).shape[0] == GRID_PAD + GRID_LABEL_H + SIZE * GRID_SCALE + GRID_PAD


# --- the detector and the dev showcase -------------------------------------------------------

def test_crop_aware_distance_catches_a_corner_crop_that_plain_phash_misses():
    import imagehash

    photo = _scene(7, 128)
    crop = np.array(Image.fromarray(photo[:115, :115]).resize((128, 128), Image.Resampling.LANCZOS))
    plain = imagehash.phash(Image.fromarray(photo)) - imagehash.phash(Image.fromarray(crop))
    assert plain > PHASH_MAX_DISTANCE  # why a single hash is not enough
    assert hash_distance(crop_hashes(photo), crop_hashes(crop)) <= PHASH_MAX_DISTANCE
    assert hash_distance(crop_hashes(crop), crop_hashes(photo)) == hash_distance(crop_hashes(photo),
                                                                                 crop_hashes(crop))
    assert hash_distance(crop_hashes(photo), crop_hashes(_scene(8, 128))) > PHASH_MAX_DISTANCE


def test_union_find_joins_chains():
    from evaluator.data.dedup import UnionFind

    finder = UnionFind(6)
    for i, j in ((4, 2), (2, 0), (5, 3)):
        finder.union(i, j)
    assert finder.groups() == [[0, 2, 4], [1], [3, 5]]


def test_dev_showcase_is_unlike_every_test_image(data_root):
    for dataset in ("dev-ink", "dev-sketch", "dev-styles"):
        folder = data_root / dataset
        manifest = verify_dataset(folder)
        showcase = [rel for rel, e in manifest.files.items() if e.split == "showcase"]
        tests = [rel for rel in manifest.files if rel.startswith("test/")]
        assert len(manifest.paths("showcase/A", "showcase")) == 8
        assert len(manifest.paths("showcase/B", "showcase")) == (8 if dataset == "dev-styles" else 0)
        test_hashes = [crop_hashes(load_rgb_uint8(folder / rel)) for rel in tests]
        for rel in showcase:
            mine = crop_hashes(load_rgb_uint8(folder / rel))
            assert min(hash_distance(mine, h) for h in test_hashes) > PHASH_MAX_DISTANCE, rel
        scenes = manifest.source["showcase_scenes"]
        assert set(scenes) == set(showcase) and not set(scenes.values()) & set(manifest.source["scenes"].values())


class _Identity:
    """A stand-in model: returns its content input (the gallery code only calls predict)."""

    def __init__(self):
        self.batches = []

    def predict(self, inputs):
        self.batches.append(len(inputs[0]))
        return inputs[0]


def test_gallery_on_an_example_track_shows_input_style_output(data_root, tmp_path):
    from evaluator.gallery import write_gallery

    comp = load_competition(_competition(tmp_path, "dev-styles", minimum=2, kind_track=2))
    manifest = verify_dataset(data_root / "dev-styles")
    model = _Identity()
    assert write_gallery(model, data_root / "dev-styles", manifest, comp.tracks[0], 3, tmp_path / "g.png")
    assert model.batches == [3, 3, 2]
    grid = np.asarray(Image.open(tmp_path / "g.png").convert("RGB"))
    tiles = _tiles(grid, SIZE)[1:]
    inputs = manifest.paths("showcase/A", "showcase")
    styles = manifest.paths("showcase/B", "showcase")
    assert len(tiles) == 3 * len(inputs)
    for i, rel in enumerate(inputs):
        photo = load_rgb_uint8(data_root / "dev-styles" / rel)
        assert np.array_equal(tiles[3 * i], photo) and np.array_equal(tiles[3 * i + 2], photo)
        assert np.array_equal(tiles[3 * i + 1], load_rgb_uint8(data_root / "dev-styles" / styles[i % len(styles)]))
    # A dataset without showcase images gets no gallery, and says so instead of showing test images.
    bare = tmp_path / "bare"
    shutil.copytree(data_root / "dev-ink", bare / "dev-ink", ignore=shutil.ignore_patterns("showcase"))
    from evaluator.data.manifest import write_manifest

    write_manifest(bare / "dev-ink", "unpaired", SIZE, {}, dataset_id="dev-ink")
    assert not write_gallery(model, bare / "dev-ink", verify_dataset(bare / "dev-ink"), comp.tracks[0], 3,
                             tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_blockwise_pairs_equal_the_pairwise_definition():
    from evaluator.data.dedup import near_duplicate_pairs

    rng = np.random.default_rng(3)
    hashes = rng.integers(0, 2 ** 63, size=(70, 6), dtype=np.uint64)
    hashes[5] = hashes[1] ^ np.uint64(0b111)  # whole vs whole: 3 bits
    hashes[9, 3] = hashes[2, 0] ^ np.uint64(1)  # 2's whole inside 9's corner crop: 1 bit
    hashes[69, 0] = hashes[0, 4]  # 69's whole equals 0's corner crop: 0 bits
    for threshold in (3, 26):
        expected = [(i, j, hash_distance(hashes[i], hashes[j])) for i in range(70) for j in range(i + 1, 70)
                    if hash_distance(hashes[i], hashes[j]) <= threshold]
        assert sorted(near_duplicate_pairs(hashes, threshold, block=16)) == expected
    assert sorted(near_duplicate_pairs(hashes, 3)) == [(0, 69, 0), (1, 5, 3), (2, 9, 1)]
