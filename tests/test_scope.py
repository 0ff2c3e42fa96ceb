"""Scope check and SHA-pinned fetch against real git repositories made in the test.

``origin`` plays GitHub: main plus fork commits published as refs/pull/N/head.
``runner`` is the trusted checkout of main on the self-hosted runner.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from evaluator import cli
from evaluator.errors import EaselError
from evaluator.result import load_result
from evaluator.scope import check_changes, check_scope, extract_submission, fetch_pr

GIT_ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
LFS_POINTER = (b"version https://git-lfs.github.com/spec/v1\n"
               b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=GIT_ENV).stdout.strip()


def write(repo: Path, rel: str, data: bytes | str) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


@pytest.fixture()
def world(tmp_path):
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    write(origin, "README.md", "competition\n")
    write(origin, "leaderboard.yaml", "entries: []\n")
    write(origin, ".github/workflows/evaluate.yml", "on: push\n")
    write(origin, "submissions/_template/submission.yaml", "team: x\n")
    write(origin, "submissions/other/m1/submission.yaml", "team: other\n")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "base")
    runner = tmp_path / "runner"
    subprocess.run(["git", "clone", "-q", str(origin), str(runner)], check=True, env=GIT_ENV)
    return origin, runner, git(origin, "rev-parse", "HEAD")


def make_pr(origin: Path, number: int, edit, base: str | None = None) -> str:
    """Commit ``edit(origin)`` on a fork branch from ``base`` and publish it as refs/pull/N/head."""
    git(origin, "checkout", "-q", "-b", f"fork{number}", base or "main")
    if edit(origin) != "staged":
        git(origin, "add", "-A")
    git(origin, "commit", "-q", "--allow-empty", "-m", f"pr {number}")
    sha = git(origin, "rev-parse", "HEAD")
    git(origin, "checkout", "-q", "main")
    git(origin, "branch", "-q", "-D", f"fork{number}")
    git(origin, "update-ref", f"refs/pull/{number}/head", sha)
    return sha


def own_folder(repo: Path) -> None:
    write(repo, "submissions/acme/inkgan/submission.yaml", "team: acme\nmodel: inkgan\n")
    write(repo, "submissions/acme/inkgan/weights/model.onnx", bytes(range(256)) * 8)


def test_own_folder_passes_and_extracts_only_it(world, tmp_path, capsys):
    origin, runner, base = world
    sha = make_pr(origin, 1, own_folder)
    # The runner's own hook must never run: git is driven with hooks disabled.
    marker = tmp_path / "hook-ran"
    hook = runner / ".git/hooks/reference-transaction"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    out = tmp_path / "out"
    scope, dest = fetch_pr(runner, "refs/pull/1/head", sha, base, out, check_ownership=False)
    assert (scope.team, scope.model, scope.path) == ("acme", "inkgan", "submissions/acme/inkgan")
    assert scope.merge_base == base and scope.head == sha
    assert dest == out / "submissions/acme/inkgan"
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["submissions/acme/inkgan/submission.yaml", "submissions/acme/inkgan/weights/model.onnx"]
    assert (dest / "weights/model.onnx").read_bytes() == bytes(range(256)) * 8
    assert not marker.exists()
    # The PR was never checked out: the runner's work tree is still main's.
    assert not (runner / "submissions/acme").exists() and git(runner, "rev-parse", "HEAD") == base

    assert cli.main(["scope", "check", "--repo-dir", str(runner), "--base", base, "--head", sha, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["path"] == "submissions/acme/inkgan"


def test_merge_base_ignores_changes_made_on_main_since_the_fork(world):
    origin, runner, base = world
    sha = make_pr(origin, 2, own_folder, base=base)
    write(origin, "leaderboard.yaml", "entries: [1]\n")  # main moves on after the fork
    git(origin, "commit", "-q", "-am", "publish")
    new_base = git(origin, "rev-parse", "HEAD")
    git(runner, "fetch", "-q", "origin", "main", "refs/pull/2/head")
    assert check_scope(runner, new_base, sha).path == "submissions/acme/inkgan"


def _rename_out(repo: Path) -> None:
    git(repo, "mv", "submissions/other/m1/submission.yaml", "README2.md")


def _rename_in(repo: Path) -> None:
    own_folder(repo)
    git(repo, "mv", "README.md", "submissions/acme/inkgan/README.md")


def _symlink(repo: Path) -> None:
    own_folder(repo)
    os.symlink("/etc/passwd", repo / "submissions/acme/inkgan/data.txt")


def _submodule(repo: Path) -> None:
    own_folder(repo)
    git(repo, "add", "-A")
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},submissions/acme/inkgan/vendor")
    return "staged"  # `git add -A` would drop the gitlink: it has no work-tree folder


@pytest.mark.parametrize("edit, code", [
    (lambda r: (own_folder(r), write(r, "leaderboard.yaml", "entries: [fake]\n")), "E_SCOPE_PATH"),
    (lambda r: (own_folder(r), write(r, ".github/workflows/evaluate.yml", "on: pull_request\n")), "E_SCOPE_PATH"),
    (lambda r: write(r, "submissions/_template/submission.yaml", "team: y\n"), "E_SCOPE_PATH"),
    (lambda r: write(r, "submissions/acme/notes.txt", "x\n"), "E_SCOPE_PATH"),
    (lambda r: (own_folder(r), write(r, "submissions/other/m1/submission.yaml", "hijack\n")), "E_SCOPE_MULTI"),
    (_rename_out, "E_SCOPE_PATH"),
    (_rename_in, "E_SCOPE_PATH"),
    (_symlink, "E_SYMLINK"),
    (_submodule, "E_SCOPE_SUBMODULE"),
    (lambda r: None, "E_SCOPE_EMPTY"),
    (lambda r: write(r, "submissions/oracle/ideal/submission.yaml", "team: oracle\n"), "E_TEAM_RESERVED"),
], ids=["leaderboard", "workflow", "template", "team-level-file", "two-teams", "rename-out", "rename-in",
        "symlink", "submodule", "empty", "reserved-oracle"])
def test_out_of_scope_changes_fail_with_their_code(world, tmp_path, edit, code):
    origin, runner, base = world
    sha = make_pr(origin, 3, edit)
    out = tmp_path / "out"
    with pytest.raises(EaselError) as info:
        fetch_pr(runner, "refs/pull/3/head", sha, base, out, check_ownership=False)
    assert info.value.code == code
    assert not out.exists() or not any(out.rglob("*"))  # nothing extracted on refusal


def test_lfs_pointer_is_refused(world, tmp_path):
    origin, runner, base = world
    sha = make_pr(origin, 4, lambda r: (own_folder(r), write(r, "submissions/acme/inkgan/model.onnx", LFS_POINTER)))
    with pytest.raises(EaselError) as info:
        fetch_pr(runner, "refs/pull/4/head", sha, base, tmp_path / "out", check_ownership=False)
    assert info.value.code == "E_LFS_POINTER" and info.value.detail == "model.onnx"


def test_head_moved_after_approval_is_refused_and_answered(world, tmp_path, capsys):
    origin, runner, base = world
    approved = make_pr(origin, 5, own_folder)
    moved = make_pr(origin, 99, lambda r: (own_folder(r), write(r, "leaderboard.yaml", "x\n")))
    git(origin, "update-ref", "refs/pull/5/head", moved)  # the participant pushed after the label
    result_path = tmp_path / "result.json"
    argv = ["fetch-pr", "--repo-dir", str(runner), "--pr-ref", "refs/pull/5/head", "--sha", approved,
            "--base", base, "--out", str(tmp_path / "out"), "--result-on-error", str(result_path),
            "--no-ownership-check"]
    assert cli.main(argv) == 2
    assert "E_SHA_MOVED" in capsys.readouterr().err
    result = load_result(result_path).to_json()  # a schema-valid answer for the comment job
    assert result["status"] == "invalid" and result["errors"][0]["code"] == "E_SHA_MOVED"


@pytest.mark.parametrize("sha, ref", [("ABC", "refs/pull/1/head"), ("a" * 39 + "G", "refs/pull/1/head"),
                                      ("a" * 40, "refs/heads/main"), ("a" * 40, "refs/pull/1/head;rm")])
def test_malformed_inputs_are_refused_before_git_runs(world, tmp_path, sha, ref):
    _, runner, base = world
    with pytest.raises(EaselError) as info:
        fetch_pr(runner, ref, sha, base, tmp_path / "out", check_ownership=False)
    assert info.value.code == "E_SHA_FORMAT"


def test_submodule_already_in_tree_is_refused_at_extraction(world, tmp_path):
    # A gitlink already on main (not in the diff) must still never be extracted.
    origin, runner, base = world
    sha = make_pr(origin, 6, _submodule)
    with pytest.raises(EaselError) as info:
        extract_submission(origin, sha, "submissions/acme/inkgan", tmp_path / "out")
    assert info.value.code == "E_SCOPE_SUBMODULE"


def test_check_changes_names_only_safe_text():
    from evaluator.scope import Change

    hostile = "submissions/x\n::set-output name=a::b"
    with pytest.raises(EaselError) as info:
        check_changes([Change("A", "000000", "100644", hostile)])
    assert "\n" not in info.value.message and "::" not in info.value.message


def test_pending_lists_merged_submissions_without_an_entry(tmp_path, monkeypatch, capsys):
    import hashlib
    from types import SimpleNamespace

    import evaluator.leaderboard as leaderboard

    root = tmp_path / "submissions"
    for team, model, text in (("acme", "inkgan", "a"), ("acme", "v2", "b"), ("zeta", "m", "c")):
        write(root, f"{team}/{model}/submission.yaml", text)
    write(root, "_template/submission.yaml", "t")
    # Independent content hash: sha256 over "relpath\0sha256(file)" lines, as fsutil.tree_sha256 documents.
    digest = hashlib.sha256(("submission.yaml\0" + hashlib.sha256(b"a").hexdigest()).encode()).hexdigest()
    # Only each entry's team, model and content hash matter here.
    board = SimpleNamespace(entries=(SimpleNamespace(team="acme", model="inkgan", content_sha256=digest),
                                     SimpleNamespace(team="zeta", model="m", content_sha256="0" * 64)))
    monkeypatch.setattr(leaderboard, "load_leaderboard", lambda path, missing_ok=False: board)
    assert cli.main(["scope", "pending", "--submissions", str(root), "--leaderboard", str(tmp_path / "lb.yaml")]) == 0
    # inkgan is recorded with this content; zeta/m changed since its entry; v2 is new.
    assert capsys.readouterr().out.split() == ["submissions/acme/v2", "submissions/zeta/m"]


TEAMS = "teams:\n  acme: {name: ACME, members: [Alice]}\n  other: {name: Other, members: [dave]}\n"


@pytest.mark.parametrize("author, edit, code", [
    ("alice", own_folder, None),                                    # a member (logins are case-insensitive)
    ("mallory", own_folder, "E_TEAM_MEMBER"),                       # not a member of acme
    ("alice", lambda r: write(r, "submissions/other/m1/submission.yaml", "hijack\n"), "E_TEAM_MEMBER"),
    ("alice", lambda r: (own_folder(r), write(r, "submissions/other/m1/x.txt", "x\n")), "E_TEAM_FOLDER"),
    ("zed", lambda r: write(r, "submissions/zed/m/submission.yaml", "team: zed\n"), "E_TEAM_UNREGISTERED"),
    ("zed", lambda r: write(r, "teams.yaml", TEAMS + "  zed: {name: Z, members: [zed]}\n"), "E_TEAM_REGISTRATION"),
    ("zed", lambda r: (write(r, "teams.yaml", TEAMS + "  zed: {name: Z, members: [zed]}\n"),
                       write(r, "submissions/zed/m/submission.yaml", "team: zed\n")), "E_TEAM_REGISTER_MIXED"),
], ids=["member", "non-member", "other-teams-folder", "two-teams", "unregistered", "registration",
        "register-and-submit"])
def test_fetch_pr_checks_team_ownership_on_the_runner(world, tmp_path, capsys, author, edit, code):
    origin, runner, base = world
    sha = make_pr(origin, 7, edit)
    teams = tmp_path / "teams.yaml"  # the trusted checkout's copy, never the PR's
    teams.write_text(TEAMS)
    result_path = tmp_path / "result.json"
    argv = ["fetch-pr", "--repo-dir", str(runner), "--pr-ref", "refs/pull/7/head", "--sha", sha, "--base", base,
            "--out", str(tmp_path / "out"), "--author", author, "--teams", str(teams),
            "--result-on-error", str(result_path)]
    exit_code = cli.main(argv)
    err = capsys.readouterr().err
    if code is None:
        assert exit_code == 0 and (tmp_path / "out/submissions/acme/inkgan/submission.yaml").is_file()
        return
    assert exit_code == 2 and code in err
    assert load_result(result_path).errors[0].code == code  # the PR still gets a coded answer
    assert not (tmp_path / "out").exists()


def test_teams_yaml_is_checked(tmp_path):
    from evaluator.teams import load_teams, parse_teams

    assert set(load_teams(ROOT_TEAMS)) >= set()  # the shipped file parses
    for bad, where in (({"teams": {"oracle": {"name": "O", "members": ["x"]}}}, "teams.oracle"),
                       ({"teams": {"a": {"name": "A", "members": ["x"]}, "b": {"name": "B", "members": ["X"]}}},
                        "teams.b.members[0]"),
                       ({"teams": {"a": {"name": "A", "members": ["bad login!"]}}}, "teams.a.members[0]"),
                       ({"teams": {"Bad": {"name": "A", "members": ["x"]}}}, "teams.(key)"),
                       ({"teams": {"a": {"name": "A", "members": []}}}, "teams.a.members"),
                       ({"teams": {"a": {"name": "A", "members": ["x"], "role": "admin"}}}, "teams.a.role")):
        with pytest.raises(EaselError) as info:
            parse_teams(bad)
        assert info.value.code == "E_TEAMS" and where in info.value.message
    with pytest.raises(EaselError) as info:
        load_teams(tmp_path / "missing.yaml")
    assert info.value.code == "E_TEAMS" and "teams: {}" in info.value.message
    team = parse_teams({"teams": {"a": {"name": "A", "members": ["Bob"], "affiliation": "U"}}})["a"]
    assert team.has_member("bob") and not team.has_member(None) and team.affiliation == "U"


ROOT_TEAMS = Path(__file__).resolve().parents[1] / "teams.yaml"


def _deep_folder(repo: Path, depth: int = 1100) -> None:
    """submissions/acme/inkgan/d/d/.../leaf.bin, made without recursion (pathlib's mkdir recurses)."""
    folder = repo / "submissions/acme/inkgan"
    folder.mkdir(parents=True)
    (folder / "submission.yaml").write_text("team: acme\n")
    for _ in range(depth):
        folder = folder / "d"
        os.mkdir(folder)
    (folder / "leaf.bin").write_bytes(b"x")


def test_a_deep_tree_is_a_coded_refusal_with_a_result_file(world, tmp_path, request):
    from harness import remove_tree

    origin, runner, base = world
    request.addfinalizer(lambda: remove_tree(origin / "submissions/acme"))
    sha = make_pr(origin, 9, _deep_folder)
    failed = tmp_path / "result.json"
    code = cli.main(["fetch-pr", "--repo-dir", str(runner), "--pr-ref", "refs/pull/9/head", "--sha", sha,
                     "--base", base, "--out", str(tmp_path / "out"), "--result-on-error", str(failed),
                     "--no-ownership-check"])
    assert code == 2 and json.loads(failed.read_text())["errors"][0]["code"] == "E_TREE_DEPTH"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("leaf.bin"))


def test_pending_skips_an_unreadable_submission_and_lists_the_others(tmp_path, capsys, request):
    from harness import remove_tree

    root = tmp_path / "submissions"
    write(tmp_path, "submissions/good/m/submission.yaml", "team: good\n")
    _deep_folder(tmp_path, depth=100)
    request.addfinalizer(lambda: remove_tree(root / "acme"))
    assert cli.main(["scope", "pending", "--submissions", str(root), "--leaderboard", str(tmp_path / "lb.yaml")]) == 0
    captured = capsys.readouterr()
    assert "submissions/good/m" in captured.out and "acme/inkgan" not in captured.out
    assert "E_TREE_DEPTH" in captured.err


def test_fetch_pr_refuses_without_the_ownership_check_unless_told_not_to_check(world, tmp_path):
    """The library function, not only `easel fetch-pr`: without teams and author it checks no team
    ownership, so it refuses before fetching, unless the caller opts out by name (tests only)."""
    import yaml

    from evaluator.teams import parse_teams

    origin, runner, base = world
    sha = make_pr(origin, 8, own_folder)
    teams = parse_teams(yaml.safe_load(TEAMS))
    for kwargs, detail in (({}, "author"), ({"author": "alice"}, "teams"), ({"teams": teams}, "author"),
                           ({"check_ownership": False, "author": "alice"}, "check_ownership")):
        out = tmp_path / f"out-{len(kwargs)}-{detail}"
        with pytest.raises(EaselError) as info:
            fetch_pr(runner, "refs/pull/8/head", sha, base, out, **kwargs)
        assert (info.value.code, info.value.detail) == ("E_OWNERSHIP_UNCHECKED", detail), kwargs
        assert not out.exists()
    checked, _ = fetch_pr(runner, "refs/pull/8/head", sha, base, tmp_path / "a", teams=teams, author="alice")
    assert checked.team == "acme"
    assert fetch_pr(runner, "refs/pull/8/head", sha, base, tmp_path / "b", check_ownership=False)[0].team == "acme"
