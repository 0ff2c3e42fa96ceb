"""Shared pieces of the end-to-end tests: a small competition, submissions made on disk, the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from evaluator.cli import main as easel
from evaluator.result import load_result

REPO = Path(__file__).resolve().parent.parent
SIZE = 32
REQUIRE_TOOLS_ENV = "EASEL_REQUIRE_TOOLS"  # set to 1 by .ci/run: in CI no test may skip for a missing tool


def tool_missing(what: str) -> None:
    """A tool a test needs is missing (``what`` names it and how to install it): skip the test, or fail it
    where ``EASEL_REQUIRE_TOOLS=1`` (CI), so a broken CI image never passes by skipping. Never returns."""
    if os.environ.get(REQUIRE_TOOLS_ENV) == "1":
        pytest.fail(f"{what} is required in CI ({REQUIRE_TOOLS_ENV}=1) but missing")
    pytest.skip(f"{what} is not available")


def small_competition(**limits) -> dict:
    """The shipped competition.yaml at 32 px with the fast convnet backbone and few resamples.

    The test datasets hold 4 test images per split, too few for the k-NN metrics (precision, recall,
    density, coverage need more than k = 3 or 5 references), so those are left out here; the tests of
    tests/test_metric_backbones.py score them end to end on a larger set.
    """
    from evaluator.metrics import METRICS

    raw = yaml.safe_load((REPO / "competition.yaml").read_text())
    for track in raw["tracks"]:
        track["image_size"] = SIZE
        track["min_test_images"] = 2  # the test datasets hold 4 test images per split
        track["metrics"] = [name for name in track["metrics"] if METRICS[name].min_images <= 2]
    raw["evaluation"].update(backbone="convnet_random_seed0", bootstrap=50, batch_size=4)
    raw["limits"].update({"timeout_s": 120, "memory_mb": 3000, **limits})
    return raw


def make_submission(root: Path, build, track="photo2ink", fmt="keras", name="tiny", team="acme", **meta) -> Path:
    """submissions/<team>/<name>/ with submission.yaml and the model ``build(path)`` writes."""
    sub = root / "submissions" / team / name
    sub.mkdir(parents=True)
    filename = {"keras": "model.keras", "onnx": "model.onnx", "saved_model": "model"}[fmt]
    if build is not None:
        build(sub / filename)
    doc = {"team": team, "name": name, "track": track, "authors": ["Test Author"],
           "description": "A model built by the tests.", "license": "MIT",
           "model": {"format": fmt, "path": filename}, **meta}
    (sub / "submission.yaml").write_text(yaml.safe_dump(doc))
    return sub


def run_cli(sub: Path, data_root: Path, competition_file: Path, out: Path, *extra: str) -> tuple[int, dict]:
    """`easel evaluate` through the real entry point; returns (exit code, validated result)."""
    code = easel(["evaluate", str(sub), "--data", str(data_root), "--out", str(out),
                  "--competition", str(competition_file), *extra])
    return code, load_result(out).to_json()


def remove_tree(root: Path) -> None:
    """Delete a folder however deep, without recursion (shutil.rmtree recurses once per level, so
    pytest's own clean-up of an old 1100-deep test tree would hit Python's recursion limit)."""
    import os

    if not os.path.isdir(root):
        return
    stack = [(str(root), False)]
    while stack:
        path, emptied = stack.pop()
        if emptied:
            os.rmdir(path)
            continue
        stack.append((path, True))
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, False))
                else:
                    os.unlink(entry.path)
