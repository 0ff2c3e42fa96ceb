"""The gate and the comment job against the fake GitHub server: budget, rate limits, re-runs, ownership, fairness.

docs/organizers.md states the API cost of an evaluation and of a publish; the
tests here measure them against the fake server holding 1,000 comments.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path

import pytest

from evaluator import cli
from evaluator.errors import CODES, EaselError
from evaluator.fsutil import atomic_write_json
from evaluator.github import (MARKER, Record, answer, approval_key, bind_result, decide, iso,
                              parse_record, read_binding, render)
from evaluator.report import md
from evaluator.result import new_result
from fake_github import BOT, SHA, TOKEN

ROOT = Path(__file__).resolve().parents[1]
RUN = 4242
NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.timezone.utc)


def run(argv, capsys, caplog) -> tuple[int, str]:
    caplog.set_level(logging.WARNING)
    code = cli.main(argv)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert TOKEN not in text
    return code, text


def gate_args(fake, pr=9, sha=SHA, run_id=RUN, *extra):
    return ["bot", "gate", "--repo", "o/r", "--pr", str(pr), "--api-url", fake.base, "--backoff", "0",
            "--retries", "1", "--competition", str(ROOT / "competition.yaml"), "--teams", str(fake.teams_path),
            "--head-sha", sha, "--run-id", str(run_id), "--remove-label", "safe-to-evaluate", *extra]


def comment_args(fake, result_path, evaluation, pr=9, run_id=RUN):
    return ["bot", "comment", str(result_path), "--repo", "o/r", "--pr", str(pr), "--api-url", fake.base,
            "--backoff", "0", "--retries", "1", "--competition", str(ROOT / "competition.yaml"),
            "--head-sha", SHA, "--run-id", str(run_id), "--evaluation", evaluation]


def plain(body: str) -> str:
    """A comment body with Markdown escapes removed (codes render escaped or as code spans)."""
    return body.replace("\\_", "_")


def sticky(fake, pr=9) -> dict:
    ours = [c for c in fake.comments if c["pr"] == pr and c["login"] == BOT]
    assert len(ours) == 1
    return ours[0]


def crowd(fake, n_comments=1000, now=None):
    """1,000 comments on 250 PRs updated in the last day: four per PR (a bot sticky and three people)."""
    now = now or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    for i in range(n_comments // 4):
        number = 100 + i
        when = iso(now - dt.timedelta(minutes=5 * i % (23 * 60)))
        author = ["alice", "bob", "dave", "erin", "frank"][i % 5] if i < 10 else f"user{i}"
        fake.authors[number] = author
        team = "acme" if author in ("alice", "bob") else "other" if author == "dave" else None
        stamp = now - dt.timedelta(hours=1 + i % 20)
        fake.add(number, f"{MARKER}\nscore\n{Record(team, author, [stamp]).line()}", updated=when)
        for who in ("mallory", author, "reviewer"):
            fake.add(number, f"comment by {who}", login=who, updated=when)


def test_gate_with_1000_comments_stays_within_the_stated_budget(fake, capsys, caplog):
    crowd(fake)
    assert len(fake.comments) == 1000
    # acme's PRs in the crowd (alice: i=0,5; bob: i=1,6) hold 4 approvals: the limit (3) is reached.
    code, text = run(gate_args(fake), capsys, caplog)
    assert code == 2 and "E_RATE_LIMIT" in text
    gate_requests = len(fake.requests())
    budget = _stated_cost("gate")
    assert gate_requests <= budget, f"{gate_requests} requests, docs say at most {budget}"
    # Only acme members' PRs were read: 1 pull + 1 files + 3 pull pages + 4 team PRs + own comments + edit + label.
    read = {r.path for r in fake.requests("GET") if r.path.endswith("/comments")}
    assert read == {f"/repos/o/r/issues/{n}/comments" for n in (100, 101, 105, 106, 9)}
    assert all(r.args.get("per_page") == "100" for r in fake.requests("GET") if r.path.endswith(("comments", "pulls")))


def _stated_cost(what: str) -> int:
    """The request count docs/organizers.md states for `what` (gate, comment, publish entry)."""
    text = (ROOT / "docs" / "organizers.md").read_text()
    match = re.search(rf"<!-- cost:{what} -->\s*(\d+)", text)
    assert match, f"docs/organizers.md states no cost:{what}"
    return int(match.group(1))


def test_comment_job_and_publish_costs_match_the_docs(fake, tmp_path, capsys, caplog):
    crowd(fake)
    result = atomic_write_json(tmp_path / "result.json", _result("invalid", "E_SCOPE_PATH").to_json())
    before = len(fake.requests())
    code, _ = run(comment_args(fake, result, "success", pr=100), capsys, caplog)
    assert code == 0 and len(fake.requests()) - before <= _stated_cost("comment")
    fake.merged["a" * 40] = 100
    before = len(fake.requests())
    code, text = run(["bot", "find-pr", "--repo", "o/r", "--api-url", fake.base, "--backoff", "0",
                      "--commit", "a" * 40], capsys, caplog)
    assert code == 0 and text.strip() == "100"
    assert len(fake.requests()) - before <= _stated_cost("publish-entry")


def test_rate_limit_keeps_the_label_and_says_when_it_is_retried(fake, capsys, caplog):
    reset = int(dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc).timestamp())
    fake.fail_on[("GET", "/repos/o/r/pulls")] = (403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})
    code, text = run(gate_args(fake), capsys, caplog)
    assert code == 3 and "E_GITHUB_FORBIDDEN" in text and "2030-01-02T03:04:05Z" in text
    assert fake.requests("DELETE") == []  # the approval label stays on
    body = sticky(fake)["body"]
    assert "2030-01-02T03:04:05Z" in body and "rate limit" in body and "Re-run all jobs" in body
    assert SHA in body and str(RUN) in body
    # The re-run (same SHA and run id) decides once and counts once; another re-run adds nothing.
    for _ in range(2):
        code, text = run(gate_args(fake), capsys, caplog)
        assert code == 0 and "evaluation 1 of 3" in text
    record = parse_record(sticky(fake)["body"])
    assert len(record.times) == 1 and record.evaluations[0].key == approval_key(SHA, RUN)
    assert len(fake.requests("DELETE")) == 2


def test_rate_limit_lifting_soon_is_waited_for_and_retried(fake, capsys, caplog, monkeypatch):
    slept = []
    monkeypatch.setattr("evaluator.github.api.pause", slept.append)
    soon = int((dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30)).timestamp())
    fake.fail_on[("GET", "/repos/o/r/pulls")] = (429, {"X-RateLimit-Reset": str(soon)})
    code, text = run(gate_args(fake, pr=9) + ["--retry-within", "120"], capsys, caplog)
    assert code == 0 and "evaluation 1 of 3" in text and slept and 0 < slept[0] <= 32
    assert len(parse_record(sticky(fake)["body"]).times) == 1


def test_a_new_run_of_the_same_head_counts_but_a_rerun_does_not(fake, capsys, caplog):
    assert run(gate_args(fake, run_id=1), capsys, caplog)[0] == 0
    assert run(gate_args(fake, run_id=1), capsys, caplog)[0] == 0  # "Re-run all jobs": same run id
    assert "not counted again" in sticky(fake)["body"]
    code, text = run(gate_args(fake, run_id=2), capsys, caplog)  # a new approval: a new evaluation
    assert code == 0 and "evaluation 2 of 3" in text


@pytest.mark.parametrize("author, files, code", [
    ("mallory", ["submissions/acme/inkgan/submission.yaml"], "E_TEAM_MEMBER"),
    ("dave", ["submissions/acme/inkgan/submission.yaml"], "E_TEAM_MEMBER"),
    ("alice", ["submissions/acme/a/submission.yaml", "submissions/other/m/model.onnx"], "E_TEAM_FOLDER"),
    ("zed", ["submissions/newteam/m/submission.yaml"], "E_TEAM_UNREGISTERED"),
    ("zed", ["teams.yaml", "submissions/newteam/m/submission.yaml"], "E_TEAM_REGISTER_MIXED"),
    ("zed", ["teams.yaml"], "E_TEAM_REGISTRATION"),
    ("zed", ["submissions/oracle/ideal/submission.yaml"], "E_TEAM_RESERVED"),
], ids=["stranger", "other-team-member", "two-teams", "unregistered", "register-and-submit", "registration",
        "reserved"])
def test_gate_refuses_prs_outside_the_authors_team(fake, capsys, caplog, author, files, code):
    fake.author, fake.files = author, files
    exit_code, text = run(gate_args(fake), capsys, caplog)
    assert exit_code == 2 and code in text
    body = sticky(fake)["body"]
    assert f"Not evaluated: {code}" in body and "How to fix" in body
    assert md(CODES[code].hint) in body and "<" not in md(CODES[code].hint)
    assert parse_record(body).times == []  # a refusal costs nothing
    assert len(fake.requests("DELETE")) == 1  # decided: the label is spent
    assert not [r for r in fake.requests("GET") if r.path == "/repos/o/r/pulls"]  # no record scan needed


def test_gate_refuses_a_head_that_moved_after_the_label(fake, capsys, caplog):
    fake.heads[9] = "f" * 40
    code, text = run(gate_args(fake), capsys, caplog)
    assert code == 2 and "E_SHA_MOVED" in text
    assert "E_SHA_MOVED" in sticky(fake)["body"]


def test_sticky_comment_names_the_sha_for_the_environment_reviewers(fake, capsys, caplog):
    assert run(gate_args(fake), capsys, caplog)[0] == 0
    body = sticky(fake)["body"]
    assert f"Commit `{SHA}` was approved" in body and "Reviewers of the `evaluation` environment" in body
    methods = [r.method for r in fake.requests()]
    assert methods[-2:] == ["POST", "DELETE"]  # the label goes only once the decision is written


def _result(status, code=None):
    """A result as the comment job reads it from result.json (``Result.from_json``)."""
    from evaluator.result import Result

    result = new_result(status)
    if code:
        from evaluator.errors import error_dict

        result["errors"] = [error_dict(code)]
    return Result.from_json(result)


@pytest.mark.parametrize("evaluation, present, counted, posts", [
    ("success", True, True, "result"),
    ("success", False, None, "pending"),          # never a runner death over a real score
    ("failure", True, True, "result"),            # e.g. fetch-pr refused the PR: the participant's fault
    ("failure", False, False, "E_INTERNAL"),      # the runner died before writing anything
    ("cancelled", True, False, "E_EVAL_CANCELLED"),
    ("cancelled", False, False, "E_EVAL_CANCELLED"),
    ("skipped", True, False, "E_EVAL_CANCELLED"),
    ("skipped", False, False, "E_EVAL_CANCELLED"),
])
def test_comment_job_decision_table(evaluation, present, counted, posts):
    result = _result("invalid", "E_SCOPE_PATH") if present else None
    ans = answer(evaluation, result)
    assert ans.counted is counted
    if posts == "result":
        assert ans.result is result
    elif posts == "pending":
        assert ans.result is None and ans.retry and "re-runs" in ans.note
    else:
        assert ans.result.errors[0].code == posts and ans.why


def test_an_evaluator_error_does_not_count():
    ans = answer("failure", _result("error", "E_BACKBONE"))
    assert ans.counted is False and "E_BACKBONE" in ans.why


def test_our_failures_are_not_counted_and_the_comment_says_so(fake, tmp_path, capsys, caplog):
    assert run(gate_args(fake, run_id=1), capsys, caplog)[0] == 0
    missing = tmp_path / "none" / "result.json"
    code, _ = run(comment_args(fake, missing, "cancelled", run_id=1), capsys, caplog)
    assert code == 0
    body = sticky(fake)["body"]
    assert "does **not** count" in body and "E_EVAL_CANCELLED" in plain(body)
    record = parse_record(body)
    assert record.evaluations[0].counted is False and "cancelled" in record.evaluations[0].why
    code, text = run(gate_args(fake, run_id=2), capsys, caplog)
    assert code == 0 and "evaluation 1 of 3" in text  # the cancelled one was given back


def test_success_without_artifact_keeps_the_count_and_fails_for_a_rerun(fake, tmp_path, capsys, caplog):
    assert run(gate_args(fake, run_id=1), capsys, caplog)[0] == 0
    code, text = run(comment_args(fake, tmp_path / "absent.json", "success", run_id=1), capsys, caplog)
    assert code == 3 and "re-run the failed comment job" in text
    # What is missing and what to do, not a 404 of the repository or PR (the code the job fails with).
    assert "error E_RESULT_ARTIFACT_MISSING" in text and "E_GITHUB_NOT_FOUND" not in text
    assert "--repo" not in text and "artifact" in CODES["E_RESULT_ARTIFACT_MISSING"].sentence
    assert "Re-run failed jobs" in CODES["E_RESULT_ARTIFACT_MISSING"].hint
    body = sticky(fake)["body"]
    assert "E_INTERNAL" not in plain(body) and "could not be fetched" in body
    assert len(parse_record(body).times) == 1


def test_decide_is_pure_and_render_shows_the_record():
    earlier = [NOW - dt.timedelta(hours=h) for h in (1, 2)]
    key = approval_key(SHA, 7)
    first = decide(None, earlier, 3, NOW, "acme", "alice", key, SHA)
    assert first.allowed and first.used == 3 and first.record.find(key).at == NOW
    again = decide(first.record, earlier, 3, NOW, "acme", "alice", key, SHA)
    assert again.allowed and again.repeat and len(again.record.times) == 1
    full = decide(first.record, earlier, 3, NOW, "acme", "alice", approval_key(SHA, 8), SHA)
    assert not full.allowed and full.later == earlier[1] + dt.timedelta(hours=24)
    body = render(full)
    assert body.startswith(MARKER) and iso(full.later) in body and parse_record(body).times == [NOW]
    refused = decide(None, [], 3, NOW, None, "zed", key, SHA, EaselError("E_TEAM_UNREGISTERED", detail="x"))
    assert not refused.allowed and "E_TEAM_UNREGISTERED" in render(refused)


def test_bind_records_the_scored_commit_and_pr(tmp_path):
    result = new_result("ok")
    result["submission"] = {"team": "acme", "model": "inkgan", "track": "photo2ink", "baseline": False}
    path = atomic_write_json(tmp_path / "result.json", result)
    assert bind_result(path, "b" * 40, 12)
    assert read_binding(path) == (12, "b" * 40)
    refused = atomic_write_json(tmp_path / "refused.json", new_result("invalid"))
    assert not bind_result(refused, "b" * 40)
    with pytest.raises(EaselError) as info:
        read_binding(refused)
    assert info.value.code == "E_RESULT_BINDING"
    with pytest.raises(EaselError):
        bind_result(path, "HEAD")


def test_old_records_without_keys_still_count():
    # The bot's line before `evals` existed: sorted keys, no spaces.
    body = f'{MARKER}\n<!-- easel:evaluations {{"author":"bob","team":"acme","times":["{iso(NOW)}"]}} -->'
    record = parse_record(body)
    assert record.times == [NOW] and record.evaluations[0].key is None


def test_malformed_label_or_team_is_refused_before_any_request(fake, capsys, caplog):
    for extra in (["--remove-label", "bad label;rm"], ["--team", "Bad Team"]):
        code, text = run(gate_args(fake)[:-2] + extra, capsys, caplog)
        assert code in (2, 3) and ("E_CONFIG" in text or "E_META_NAME" in text)
    assert fake.requests() == []
