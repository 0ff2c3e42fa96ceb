"""Hostile submissions through `easel evaluate` and `easel leaderboard add`: each is refused
with its own code, the evaluator survives, nothing is written outside the output folder,
and the leaderboard is untouched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evaluator.cli import main as easel
from evaluator.fsutil import walk_tree
from harness import make_submission, remove_tree, run_cli
from model_builders import valid_model


def _snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every path below the roots, links not followed (deep trees included)."""
    seen = {}
    for root in roots:
        for entry in walk_tree(root, max_depth=100_000, max_entries=10_000_000):
            seen[str(entry.path)] = (entry.info.st_size, entry.info.st_mtime_ns)
    return seen


def _write_file_savedmodel(path: Path) -> None:
    import tensorflow as tf

    class Writer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        def __call__(self, x):
            tf.io.write_file("/tmp/easel-pwned", tf.strings.as_string(tf.reduce_sum(x)))
            return tf.tanh(x)

    module = Writer()
    tf.saved_model.save(module, str(path), signatures=module.__call__)


def _read_file_savedmodel(path: Path) -> None:
    import tensorflow as tf

    class Reader(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        def __call__(self, x):
            secret = tf.strings.length(tf.io.read_file("/etc/passwd"))
            return tf.tanh(x) + tf.cast(secret, tf.float32) * 0.0

    module = Reader()
    tf.saved_model.save(module, str(path), signatures=module.__call__)


def _alias_bomb(sub: Path, data_root: Path) -> None:
    (sub / "submission.yaml").write_text(
        "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c]\n")


def _symlink_to_data(sub: Path, data_root: Path) -> None:
    os.symlink(data_root, sub / "data")


def _tree_1100_deep(sub: Path, data_root: Path) -> None:
    folder = sub / "deep"
    folder.mkdir()
    for _ in range(1100):
        folder = folder / "d"
        folder.mkdir()


def _yaml_30000_brackets(sub: Path, data_root: Path) -> None:
    (sub / "submission.yaml").write_text("team: " + "[" * 30000 + "\n")


CASES = {
    "savedmodel_writes_a_file": ("saved_model", _write_file_savedmodel, None, "E_SAVEDMODEL_OP"),
    "savedmodel_reads_etc_passwd": ("saved_model", _read_file_savedmodel, None, "E_SAVEDMODEL_OP"),
    "yaml_alias_bomb": ("keras", valid_model, _alias_bomb, "E_META_ALIAS"),
    "symlink_to_the_data_directory": ("keras", valid_model, _symlink_to_data, "E_SYMLINK"),
    "tree_1100_deep": ("keras", valid_model, _tree_1100_deep, "E_TREE_DEPTH"),
    "yaml_30000_brackets": ("keras", valid_model, _yaml_30000_brackets, "E_YAML_DEPTH"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_submission_is_contained(case, tmp_path, data_root, competition_file, cache, request):
    request.addfinalizer(lambda: remove_tree(tmp_path / "repo"))  # the 1100-deep case, removed iteratively
    fmt, build, tamper, code = CASES[case]
    sub = make_submission(tmp_path / "repo", build, fmt=fmt)
    if tamper:
        tamper(sub, data_root)
    board = tmp_path / "repo" / "leaderboard.yaml"
    board.write_text("schema: 1\nentries: []\n")
    board_bytes = board.read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    before = _snapshot(tmp_path / "repo", data_root)
    Path("/tmp/easel-pwned").unlink(missing_ok=True)

    exit_code, result = run_cli(sub, data_root, competition_file, out / "result.json")

    assert (exit_code, result["status"]) == (2, "invalid")
    assert [e["code"] for e in result["errors"]] == [code]
    assert sorted(p.name for p in out.iterdir()) == ["result.json"]
    assert _snapshot(tmp_path / "repo", data_root) == before  # nothing written or changed elsewhere
    assert not Path("/tmp/easel-pwned").exists()
    # The invalid result cannot enter the leaderboard, and the file is untouched.
    assert easel(["leaderboard", "add", str(out / "result.json"), "--pr", "7", "--commit", "a" * 40,
                  "--leaderboard", str(board), "--competition", str(competition_file)]) == 2
    assert board.read_bytes() == board_bytes
