"""Binding in one home (evaluator/binding.py): the scored commit recorded from a folder's history, bound
results listed for the publish job, and the one walker of submission folders."""

from __future__ import annotations

import json
import os
import subprocess

from evaluator import cli
from evaluator.binding import read_binding, read_bindings
from evaluator.folders import folders_by_content, submission_folders
from evaluator.fsutil import tree_sha256
from test_leaderboard import COMMIT, make_result


def _git(repo, *args):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(repo), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org"}
    return subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def test_bind_by_folder_records_the_last_commit_that_changed_it(tmp_path, monkeypatch, capsys):
    repo = tmp_path / "repo"
    (repo / "submissions/acme/ink").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    (repo / "submissions/acme/ink/submission.yaml").write_text("team: acme\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "ink")
    scored = _git(repo, "rev-parse", "HEAD")
    (repo / "other.txt").write_text("later, elsewhere")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "unrelated")
    result = tmp_path / "result.json"
    result.write_text(json.dumps(make_result("acme", "ink", 0.1)))
    monkeypatch.chdir(repo)
    assert cli.main(["bot", "bind", str(result), "--folder", "submissions/acme/ink"]) == 0
    assert read_binding(result) == (None, scored)  # the folder's commit, not HEAD
    assert cli.main(["bot", "bind", str(result), "--folder", "submissions/acme/never"]) == 0
    assert "nothing to bind" in capsys.readouterr().out
    assert read_binding(result) == (None, scored)


def test_read_bindings_lists_bound_results_and_warns_about_the_rest(tmp_path):
    results = tmp_path / "results"
    for team, bound in (("acme", True), ("zeta", False)):
        folder = results / "submissions" / team / "m"
        folder.mkdir(parents=True)
        doc = make_result(team, "m", 0.1)
        if bound:
            doc["submission"].update(commit=COMMIT, pr=None)
        (folder / "result.json").write_text(json.dumps(doc))
    (results / "submissions/acme/m/samples.png").write_bytes(b"png")
    (results / "submissions/Bad/m").mkdir(parents=True)  # not an id: not a submission folder
    (results / "submissions/Bad/m/result.json").write_text("{}")
    warnings = []
    found = read_bindings(results, warn=warnings.append)
    assert [(b.dir, b.commit, b.site_samples) for b in found] == [
        ("submissions/acme/m", COMMIT, "site/samples/ink/acme/m.png")]
    assert found[0].samples == results / "submissions/acme/m/samples.png"
    assert warnings == ["::warning::submissions/zeta/m: no scored commit recorded (E_RESULT_BINDING)"]


def test_one_walker_finds_the_same_folders_for_every_caller(tmp_path):
    root = tmp_path / "submissions"
    for rel in ("acme/ink", "acme/sketch", "_template/x", "acme/.hidden", "zeta/no-meta"):
        (root / rel).mkdir(parents=True)
    for rel in ("acme/ink", "acme/sketch", "_template/x"):
        (root / rel / "submission.yaml").write_text("team: acme\n")
    (root / "acme/sketch/model.onnx").write_bytes(b"x")
    (root / "linked").symlink_to(root / "acme")  # a linked team folder is not walked
    every = [(f.team, f.model) for f in submission_folders(root)]
    assert every == [("acme", "ink"), ("acme", "sketch"), ("zeta", "no-meta")]
    assert [f.model for f in submission_folders(root, with_meta=True)] == ["ink", "sketch"]
    assert folders_by_content([root]) == {tree_sha256(root / "acme/ink"): (root / "acme/ink").as_posix(),
                                          tree_sha256(root / "acme/sketch"): (root / "acme/sketch").as_posix()}
    assert list(submission_folders(tmp_path / "absent")) == []


def test_one_schema_for_the_binding_in_result_json_and_for_its_readers(tmp_path):
    """pr and commit are one record (Binding) with one schema: the result check and read_binding refuse
    the same values, each naming the key; to_json is what `easel bot bind` writes."""
    import pytest

    from evaluator.binding import MAX_PR, Binding
    from evaluator.errors import EaselError
    from evaluator.result import Result

    doc = make_result("acme", "ink", 0.1)
    doc["submission"].update(Binding(COMMIT, 7).to_json())
    assert Binding.of(Result.from_json(doc)) == Binding(COMMIT, 7) == Binding.from_json(doc["submission"])
    for key, bad in (("commit", "HEAD"), ("commit", COMMIT.upper()), ("pr", 0), ("pr", MAX_PR), ("pr", True)):
        forged = json.loads(json.dumps(doc))
        forged["submission"][key] = bad
        for check, code in ((Result.from_json, "E_RESULT_SCHEMA"),
                            (lambda d: Binding.from_json(d["submission"]), "E_RESULT_BINDING")):
            with pytest.raises(EaselError) as info:
                check(forged)
            assert (info.value.code, info.value.detail) == (code, f"submission.{key}")
    unbound = make_result("acme", "ink", 0.1)
    path = tmp_path / "result.json"
    path.write_text(json.dumps(unbound))
    for source in (path, Result.from_json(unbound)):
        with pytest.raises(EaselError) as info:
            read_binding(source)
        assert (info.value.code, info.value.detail) == ("E_RESULT_BINDING", "submission.commit")
        assert "recorded by `easel bot bind`" in info.value.message
