"""Dev-set synthesis: determinism, layout, manifests, unpairedness, styles."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from evaluator.data.images import load_rgb_uint8
from evaluator.data.styles import STYLES
from evaluator.data.synth import DEV_DATASETS, SHOWCASE_COUNT, render_scene, synthesize
from evaluator.errors import EaselError
from evaluator.fsutil import canonical_json

SIZE, COUNT = 32, 8


def _tree(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dev_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("dev")
    synthesize(root, size=SIZE, count=COUNT, seed=0)
    return root


def test_same_seed_gives_identical_bytes_and_other_seed_differs(dev_root, tmp_path):
    again = synthesize(tmp_path / "again", size=SIZE, count=COUNT, seed=0)
    assert [p.name for p in again] == list(DEV_DATASETS)
    assert _tree(dev_root) == _tree(tmp_path / "again")
    other = synthesize(tmp_path / "other", size=SIZE, count=COUNT, seed=1, datasets=["dev-ink"])
    assert _tree(other[0]) != _tree(dev_root / "dev-ink")


def test_layout_counts_and_manifest_format(dev_root):
    n_test = COUNT // 2
    for dataset_id, spec in DEV_DATASETS.items():
        folder = dev_root / dataset_id
        raw = json.loads((folder / "manifest.json").read_text())
        assert set(raw) == {"schema", "dataset", "kind", "image_size", "source", "files", "sha256"}
        assert (raw["schema"], raw["dataset"], raw["kind"], raw["image_size"]) == (1, dataset_id, spec.kind, SIZE)
        assert raw["sha256"] == hashlib.sha256(canonical_json(raw["files"]).encode()).hexdigest()
        expected = {"train/A": COUNT, "train/B": COUNT, "test/A": n_test, "test/B": n_test}
        if spec.kind == "paired":
            expected["test/A_target"] = n_test
            expected["train/A_target"] = COUNT  # training pairs
        expected["showcase/A"] = SHOWCASE_COUNT  # publishable images (issue 15.2)
        if spec.kind == "example":
            expected["showcase/B"] = SHOWCASE_COUNT
        on_disk = {}
        for rel in _tree(folder):
            if rel != "manifest.json":
                on_disk.setdefault(rel.rsplit("/", 1)[0], []).append(rel.rsplit("/", 1)[1])
        assert {k: len(v) for k, v in on_disk.items()} == expected
        assert set(raw["files"]) == {f"{k}/{n}" for k, names in on_disk.items() for n in names}
        for rel, entry in raw["files"].items():
            assert entry["sha256"] == hashlib.sha256((folder / rel).read_bytes()).hexdigest()
            folder_name, name = rel.rsplit("/", 1)
            if folder_name.startswith("train/"):
                assert "split" not in entry
            elif folder_name.startswith("showcase/"):
                assert entry["split"] == "showcase"
            else:
                index = int(name[:-4])
                assert entry["split"] == ("public" if index % 2 == 0 else "private")
        splits = [raw["files"][f"test/A/{i:04d}.png"]["split"] for i in range(n_test)]
        assert splits.count("public") == splits.count("private") == n_test // 2
        assert load_rgb_uint8(folder / "train/A/0000.png").shape == (SIZE, SIZE, 3)


def test_no_scene_is_shared_between_domains_and_seeds_are_truthful(dev_root):
    for dataset_id, spec in DEV_DATASETS.items():
        source = json.loads((dev_root / dataset_id / "manifest.json").read_text())["source"]
        scenes = source["scenes"]
        a = {v for k, v in scenes.items() if k.split("/")[1] == "A"}
        b = {v for k, v in scenes.items() if k.split("/")[1] == "B"}
        assert len(a) == COUNT + COUNT // 2 and len(b) == COUNT + COUNT // 2
        assert not a & b
        # The recorded seeds really made the photos (so the check above is about the files).
        for rel in ("train/A/0003.png", "test/A/0001.png"):
            rendered = render_scene(np.random.default_rng(scenes[rel]), SIZE)
            assert np.array_equal(rendered, load_rgb_uint8(dev_root / dataset_id / rel))
        if spec.kind == "paired":
            for split, n in (("test", COUNT // 2), ("train", COUNT)):
                for i in range(n):
                    assert scenes[f"{split}/A_target/{i:04d}.png"] == scenes[f"{split}/A/{i:04d}.png"]
    styles_used = set(json.loads((dev_root / "dev-styles" / "manifest.json").read_text())["source"]["styles"].values())
    assert styles_used == set(STYLES)


def test_paired_targets_are_sketches_of_their_inputs(dev_root):
    folder = dev_root / "dev-sketch"
    inputs = [load_rgb_uint8(folder / f"test/A/{i:04d}.png").astype(float) for i in range(COUNT // 2)]
    targets = [load_rgb_uint8(folder / f"test/A_target/{i:04d}.png").astype(float) for i in range(COUNT // 2)]
    # A sketch is nearly gray; its structure follows its own input, not another one.
    for i, target in enumerate(targets):
        assert np.abs(target[..., 0] - target[..., 2]).mean() < 12
        own = np.corrcoef(target.mean(-1).ravel(), inputs[i].mean(-1).ravel())[0, 1]
        others = [np.corrcoef(target.mean(-1).ravel(), x.mean(-1).ravel())[0, 1]
                  for j, x in enumerate(inputs) if j != i]
        assert own > max(others)


def test_styles_are_deterministic_and_far_from_identity():
    scenes = [render_scene(np.random.default_rng(s), 48) for s in range(3)]
    outputs = {}
    for name, style in STYLES.items():
        for k, scene in enumerate(scenes):
            first = style(scene, np.random.default_rng(5))
            second = style(scene.copy(), np.random.default_rng(5))
            assert first.dtype == np.uint8 and first.shape == scene.shape
            assert np.array_equal(first, second), name
            diff = np.abs(first.astype(float) - scene).mean()
            assert diff > 10, (name, diff)
            outputs[name, k] = first
    names = list(STYLES)
    for i, x in enumerate(names):
        for y in names[i + 1:]:
            assert np.abs(outputs[x, 0].astype(float) - outputs[y, 0]).mean() > 10, (x, y)


def test_scenes_vary():
    scenes = np.stack([render_scene(np.random.default_rng(s), 32) for s in range(6)]).astype(float)
    assert scenes.std(axis=0).mean() > 15  # scene to scene
    assert scenes.std(axis=(1, 2)).mean() > 15  # within a scene


def test_refuses_to_replace_foreign_folder_and_unknown_ids(tmp_path):
    foreign = tmp_path / "dev-ink"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("organizer data")
    with pytest.raises(EaselError) as info:
        synthesize(tmp_path, size=16, count=2, datasets=["dev-ink"])
    assert info.value.code == "E_DATA_PREPARE"
    assert (foreign / "notes.txt").read_text() == "organizer data"
    with pytest.raises(EaselError) as info:
        synthesize(tmp_path, size=16, count=2, datasets=["dev-nope"])
    assert info.value.code == "E_DATA_MISSING"


def test_rerun_replaces_own_output(tmp_path):
    synthesize(tmp_path, size=16, count=4, datasets=["dev-ink"])
    synthesize(tmp_path, size=16, count=2, datasets=["dev-ink"])
    files = json.loads((tmp_path / "dev-ink" / "manifest.json").read_text())["files"]
    assert len(files) == 2 + 2 + 1 + 1 + SHOWCASE_COUNT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev-ink"]  # no staging leftovers


def test_every_style_appears_in_both_test_splits(tmp_path):
    synthesize(tmp_path, size=16, count=16, seed=0, datasets=["dev-styles"])  # 8 test images per folder
    raw = json.loads((tmp_path / "dev-styles" / "manifest.json").read_text())
    for split in ("public", "private"):
        used = {raw["source"]["styles"][rel] for rel, entry in raw["files"].items()
                if rel.startswith("test/B/") and entry["split"] == split}
        assert used == set(STYLES), (split, used)
