"""The workflows executed end to end by act against a stand-in GitHub (tests/act_harness.py says what is
emulated and what cannot be). One story, in order, as an organizer's first week would run it: each test
asserts on the fake API's final state and on the repository, not only on exit codes.

Select them with ``-m act``; deselect with ``-m "not act"``.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import yaml
from pytest_httpserver import HTTPServer

from act_harness import StandIn
from fake_github import FakeGitHub
from harness import small_competition

pytestmark = [pytest.mark.act, pytest.mark.slow]

LABEL = "safe-to-evaluate"
SUB = "submissions/acme/inkgan"


def story_competition() -> dict:
    """The tests' small competition with one evaluation per team per day, so the story meets the daily
    limit on its second approval. Each track keeps the metrics of its own backbone only: the story is about
    the workflows, and each of its evaluations then runs one backbone, not the offline stand-ins of four
    (metrics on their own backbones are tests/test_metric_backbones.py's)."""
    from evaluator import metrics as M

    raw = small_competition(evaluations_per_day=1)
    default = raw["evaluation"]["backbone"]
    for track in raw["tracks"]:
        chosen = track.get("backbones", {})
        reads = lambda spec: chosen.get(spec.name) or spec.backbone or default  # noqa: E731 - as Track.backbone_for
        track["metrics"] = [m for m in track["metrics"] if set(M.backbones_of(m, reads)) <= {default}]
        assert track["ranking"]["metric"] in track["metrics"], track["id"]
    return raw


@pytest.fixture(scope="module")
def gh(tmp_path_factory, data_root):
    """One stand-in GitHub for the whole story (module scope: the story's steps build on each other)."""
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    fake = FakeGitHub(server)
    root = tmp_path_factory.mktemp("act")
    stand_in = StandIn(root, fake, data_root, root / "easel-cache")
    stand_in.seed_main(story_competition())
    stand_in.state = {}
    yield stand_in
    total = sum(s for _, s in stand_in.timings)
    print("\nact runs: " + "; ".join(f"{name} {s:.0f} s" for name, s in stand_in.timings) + f"; total {total:.0f} s")
    server.clear()
    server.stop()


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> bytes:
    """The bytes of one small valid Keras model, for every PR of the story that carries a model."""
    from model_builders import valid_model

    return valid_model(tmp_path_factory.mktemp("model") / "model.keras").read_bytes()


def submission_files(folder: str, model: bytes, **meta) -> dict[str, bytes | str]:
    """A submission folder's files for :meth:`StandIn.open_pr`: submission.yaml and model.keras."""
    return {f"{folder}/submission.yaml": submission_yaml(**meta), f"{folder}/model.keras": model}


def validate(gh, pr, run_id: int):
    """validate.yml for ``pr`` opened: on GitHub's merge commit of the PR, as GitHub runs pull_request."""
    return gh.run("pull_request", "validate.yml", gh.pull_payload(pr, "opened"), sha=pr.merge,
                  ref=f"refs/pull/{pr.number}/merge", run_id=run_id)


def submission_yaml(team="acme", name="inkgan", track="photo2ink", **extra) -> str:
    doc = {"team": team, "name": name, "track": track, "authors": ["Ada Lovelace"],
           "description": "A one-layer ink model.", "license": "MIT",
           "model": {"format": "keras", "path": "model.keras"}, **extra}
    return yaml.safe_dump(doc)


def test_validate_passes_a_good_pr_and_lists_every_problem_of_a_broken_one(gh, model):
    good = gh.open_pr(7, "alice", submission_files(SUB, model))
    gh.state["good"] = good
    run = validate(gh, good, run_id=11)
    assert run.code == 0 and run.ok("validate"), run
    assert "ok: acme/inkgan for track photo2ink" in run.log
    assert f"HEAD is now at {good.merge[:7]}" in run.log  # the PR's merge commit, as GitHub checks out

    broken = gh.open_pr(8, "bob", {"submissions/acme/broken/submission.yaml":
                                   submission_yaml(name="wrong-name", track="no-such-track", license="")})
    run = validate(gh, broken, run_id=12)
    assert run.code != 0 and run.jobs.get("validate") == "failed"
    assert "4 problem(s) in submissions/acme/broken" in run.log and "exit status 2" in run.log
    for problem in ("E_META_SCHEMA [license]", "E_META_DIR", "E_TRACK_UNKNOWN", "E_MODEL_MISSING"):
        assert problem in run.log, problem
    assert gh.bot_comments(7) == [] and gh.bot_comments(8) == []  # validate has no write token


def record_of(gh, number):
    from evaluator.github import parse_record

    [comment] = gh.bot_comments(number)
    return comment, parse_record(comment["body"])


def artifact_files(gh, run_id: int, name: str) -> dict[str, bytes]:
    with zipfile.ZipFile(gh.artifacts / str(run_id) / name / f"{name}.zip") as archive:
        return {n: archive.read(n) for n in archive.namelist()}


def test_a_failure_on_easels_side_is_answered_and_not_counted(gh):
    good = gh.state["good"]
    # The organizer's first-week mistake: the runner has no EASEL_DATA_ROOT.
    run = gh.label(good, LABEL, run_id=101, allow_cpu=True, data=False)
    assert run.jobs.get("gate") == "succeeded" and run.jobs.get("evaluate") == "failed", run
    assert run.jobs.get("comment") == "succeeded", run
    assert "EASEL_DATA_ROOT is not set on this runner" in run.log
    assert LABEL not in gh.fake.labels[7]  # single-use: removed by the gate
    comment, record = record_of(gh, 7)
    assert "not counted" in comment["body"].lower() or "never cost" in comment["body"].lower(), comment["body"]
    assert [e.counted for e in record.evaluations] == [False] and record.times == []
    assert record.team == "acme" and record.author == "alice"


def test_evaluate_on_the_label_pins_the_head_scores_and_leaves_one_sticky_comment(gh):
    good = gh.state["good"]
    run = gh.label(good, LABEL, run_id=102, allow_cpu=True)
    assert run.code == 0 and run.ok("gate", "evaluate", "comment"), run
    assert "EASEL_ALLOW_CPU=1 on this runner" in run.log  # the relaxed GPU requirement says so
    assert "❌" not in run.log  # no step failed, not even one allowed to (the model cache, a model in git)
    assert LABEL not in gh.fake.labels[7]
    comment, record = record_of(gh, 7)  # exactly one bot comment, edited in place
    body = comment["body"]
    assert good.head in body and "kid" in body.lower()
    assert f"({gh.url}/actions/runs/102/artifacts/" in body  # the gallery, one click away
    assert len(record.times) == 1 and [e.counted for e in record.evaluations] == [False, True]
    result = json.loads(artifact_files(gh, 102, "result")["result.json"])
    assert result["status"] == "ok" and result["submission"]["commit"] == good.head
    assert result["submission"]["pr"] == 7
    assert "gallery.png" in artifact_files(gh, 102, "gallery")
    gh.state["comment"] = body


def test_rerunning_all_jobs_changes_nothing_and_counts_nothing_twice(gh):
    good = gh.state["good"]
    run = gh.label(good, LABEL, run_id=102, attempt=2, allow_cpu=True, add=False)
    assert run.code == 0 and run.ok("gate", "evaluate", "comment"), run
    assert "not counted again" in run.log
    comment, record = record_of(gh, 7)
    assert len(record.times) == 1 and len(record.evaluations) == 2
    strip = lambda text: text.split("<!--")[0]  # noqa: E731 - the visible part; the record holds times
    assert strip(comment["body"]) == strip(gh.state["comment"])


def refused_by_the_gate(run) -> bool:
    """The gate failed the run: no evaluation, no comment job (the gate answered the PR itself)."""
    return run.jobs.get("gate") == "failed" and "evaluate" not in run.jobs and "comment" not in run.jobs


def test_the_daily_limit_refuses_the_teams_next_approval_before_the_runner(gh, model):
    second = gh.open_pr(10, "bob", submission_files("submissions/acme/second", model, name="second"))
    run = gh.label(second, LABEL, run_id=103, allow_cpu=True)
    assert refused_by_the_gate(run), run
    comment, record = record_of(gh, 10)
    assert "Evaluation limit reached" in comment["body"] and "team `acme`" in comment["body"]
    assert record.evaluations == [] and LABEL not in gh.fake.labels[10]


def test_an_unrelated_label_starts_nothing(gh):
    good = gh.state["good"]
    before = (len(gh.fake.requests()), [dict(c) for c in gh.fake.comments])
    run = gh.label(good, "documentation", run_id=104)
    assert run.code == 0 and run.jobs == {}, run
    assert (len(gh.fake.requests()), gh.fake.comments) == before
    assert "documentation" in gh.fake.labels[7]


def test_a_pr_into_another_teams_folder_is_refused_with_its_code(gh, model):
    intruder = gh.open_pr(9, "dave", submission_files("submissions/acme/evil", model, name="evil"))
    run = gh.label(intruder, LABEL, run_id=105, allow_cpu=True)
    assert refused_by_the_gate(run), run
    comment, record = record_of(gh, 9)
    assert "Not evaluated: E_TEAM_MEMBER" in comment["body"] and record.evaluations == []
    assert LABEL not in gh.fake.labels[9]


def board(gh, ref="refs/heads/main") -> dict:
    return yaml.safe_load(gh.show(ref, "leaderboard.yaml"))


def publish(gh, before: str, after: str, attempt: int, job: str):
    """publish.yml for the push of ``after`` onto main (run 201), up to and including ``job``."""
    return gh.run("push", "publish.yml", gh.push_payload(before, after), sha=after, ref="refs/heads/main",
                  run_id=201, attempt=attempt, job=job, allow_cpu=True)


def test_publish_on_the_merge_push_binds_the_entry_and_builds_the_site(gh):
    good = gh.state["good"]
    before, after = gh.merge_pr(good)
    run = publish(gh, before, after, attempt=1, job="site")  # not `deploy`: GitHub Pages is not reachable offline
    assert run.code == 0 and run.ok("evaluate", "commit", "site"), run
    assert "deploy" not in run.jobs
    assert "EASEL_ALLOW_CPU=1 on this runner" in run.log  # the GPU job's requirement, relaxed as it says
    [entry] = [e for e in board(gh)["entries"] if e["team"] == "acme"]
    assert entry["model"] == "inkgan" and entry["pr"] == 7 and entry["commit"] == good.head
    assert gh.main() != after and gh.fake.tokens  # pushed with the App's installation token
    assert git_log_subject(gh) == "leaderboard: add evaluated submissions"
    pages = tar_files(artifact_files(gh, 201, "github-pages")["artifact.tar"])  # what deploy-pages would publish
    assert "inkgan" in pages["index.html"] and "leaderboard.json" in pages
    gh.state["published"] = gh.main()


def tar_files(data: bytes) -> dict[str, str]:
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name.removeprefix("./"): tar.extractfile(m).read().decode("utf-8", "replace")
                for m in tar.getmembers() if m.isfile()}


def git_log_subject(gh) -> str:
    from act_harness import git

    return git(gh.bare, "log", "-1", "--format=%s", "refs/heads/main")


def test_rerunning_publish_changes_nothing(gh):
    published = gh.state["published"]
    run = publish(gh, published, published, attempt=2, job="commit")
    assert run.code == 0 and run.ok("evaluate", "commit"), run
    assert gh.main() == published and "nothing changed under" in run.log


def test_rescore_by_dispatch_rebinds_stale_entries_and_keeps_their_history(gh):
    # An entry scored by an older Easel: what an upgrade of the evaluator leaves on the board.
    text = gh.show("refs/heads/main", "leaderboard.yaml")
    raw = yaml.safe_load(text)
    [entry] = [e for e in raw["entries"] if e["team"] == "acme"]
    current = entry["public"]["evaluator"]
    entry["public"]["evaluator"] = "0.0.9"
    stale = gh.commit_main({"leaderboard.yaml": yaml.safe_dump(raw, sort_keys=False)},
                           "leaderboard: an entry scored by Easel 0.0.9")
    rescore = lambda sha, attempt: gh.run(  # noqa: E731 - `republish` needs gh and GitHub's API: up to commit
        "workflow_dispatch", "rescore.yml", gh.dispatch_payload({"track": ""}), sha=sha, ref="refs/heads/main",
        run_id=301, attempt=attempt, job="commit", allow_cpu=True)
    run = rescore(stale, 1)
    assert run.code == 0 and run.ok("evaluate", "commit"), run
    [entry] = [e for e in board(gh)["entries"] if e["team"] == "acme"]
    assert entry["public"]["evaluator"] == current and entry["commit"] == gh.state["good"].head
    assert any(h["evaluator"] == "0.0.9" for h in entry.get("history", [])), entry.get("history")
    rescored = gh.main()
    again = rescore(rescored, 2)
    assert again.code == 0 and again.ok("evaluate", "commit"), again
    assert gh.main() == rescored


def test_reveal_refuses_before_the_final_phase(gh):
    main = gh.main()
    run = gh.run("workflow_dispatch", "reveal.yml", gh.dispatch_payload(), sha=main, ref="refs/heads/main",
                 run_id=401, job="commit")
    assert run.code != 0 and run.jobs.get("check") == "failed" and "evaluate" not in run.jobs
    assert "E_REVEAL_EARLY: the final phase ends 2027-04-01T00:00:00Z" in run.log
    assert gh.main() == main


def test_a_teams_yaml_only_pr_gets_its_required_checks_reported_and_passing(gh):
    # Issue 26.1: a required check whose workflow a path filter skipped would stay pending and block the
    # merge. validate.yml runs for this PR and passes, saying there is nothing to validate. (ci.yml's job is
    # this very test suite in a container, which act cannot start without Docker: its plan is checked.)
    teams = yaml.safe_load(gh.show("refs/heads/main", "teams.yaml"))
    teams["teams"]["newlab"] = {"name": "New Lab", "members": ["nina"]}
    pr = gh.open_pr(12, "nina", {"teams.yaml": yaml.safe_dump(teams)})
    run = validate(gh, pr, run_id=501)
    assert run.code == 0 and run.ok("validate"), run
    assert "No submission in this pull request" in run.log and "Scope check and validation" not in run.log
    assert gh.planned_jobs("pull_request", "ci.yml", pr.merge) == ["tests and workflow linters"]
