"""The score bot against a fake GitHub REST server on loopback (pytest-httpserver).

The real PyGithub client talks to it through --api-url; the server keeps
comments in memory and records every request.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
from pathlib import Path

import pytest

from evaluator import cli
from evaluator.errors import error_dict
from evaluator.github import (MARKER, WINDOW, BotOptions, Record, iso, next_allowed, parse_record, post_result,
                              with_record)
from evaluator.report import MARKER as REPORT_MARKER
from evaluator.result import new_result
from evaluator.fsutil import atomic_write_json
from fake_github import BOT, SHA, TOKEN

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def result_path(tmp_path):
    result = new_result("invalid")
    result["errors"] = [error_dict("E_SCOPE_PATH", "leaderboard.yaml")]
    return atomic_write_json(tmp_path / "result.json", result)


def run(argv, capsys, caplog) -> tuple[int, str]:
    caplog.set_level(logging.DEBUG)  # PyGithub's own debug logging must not leak the token either
    code = cli.main(argv)
    captured = capsys.readouterr()
    text = captured.out + captured.err + caplog.text
    assert TOKEN not in text and TOKEN[4:20] not in text
    return code, text




def bot_args(fake, *extra):
    args = [*extra, "--repo", "o/r", "--api-url", fake.base, "--backoff", "0", "--retries", "2",
            "--competition", str(ROOT / "competition.yaml")]
    if "gate" in extra:  # the gate reads teams.yaml from the trusted checkout
        args += ["--teams", str(fake.teams_path)]
    return args


def test_first_run_creates_one_comment_second_edits_it(fake, result_path, capsys, caplog):
    fake.add(7, f"{MARKER}\nI am not the bot", login="mallory")  # a participant copying the marker
    argv = bot_args(fake, "bot", "comment", str(result_path), "--pr", "7", "--head-sha", SHA)
    code, text = run(argv, capsys, caplog)
    assert code == 0 and "created comment" in text
    assert len(fake.requests("POST")) == 1
    code, text = run(argv, capsys, caplog)
    assert code == 0 and "updated comment" in text
    assert len(fake.requests("POST")) == 1 and len(fake.requests("PATCH")) == 1
    ours = [c for c in fake.comments if c["login"] == BOT]
    assert len(ours) == 1 and ours[0]["body"].startswith(MARKER) and SHA in ours[0]["body"]
    assert "`E_SCOPE_PATH`" in ours[0]["body"]
    assert fake.comments[0]["body"] == f"{MARKER}\nI am not the bot"  # never touched
    # The token was sent to the API (and only there).
    assert all(r.headers["Authorization"] == f"token {TOKEN}" for r in fake.requests())
    assert MARKER == REPORT_MARKER


def test_comment_keeps_the_evaluation_record(fake, result_path):
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    fake.add(7, f"{MARKER}\nqueued\n{Record('acme', 'alice', [now]).line()}")
    post_result("o/r", 7, result_path, BotOptions(api_url=fake.base, backoff_s=0, throttle=False))
    record = parse_record(fake.comments[0]["body"])
    assert (record.team, record.author, record.times) == ("acme", "alice", [now])


def test_gate_counts_the_team_across_prs_and_says_when(fake, capsys, caplog):
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    t1, t2 = now - dt.timedelta(hours=20), now - dt.timedelta(hours=3)
    fake.add(3, f"{MARKER}\nold\n{Record('acme', 'bob', [t1]).line()}", updated=iso(t1))
    fake.add(4, f"{MARKER}\nold\n{Record('acme', 'carol', [now - dt.timedelta(hours=30), t2]).line()}",
             updated=iso(t2))
    fake.add(5, f"{MARKER}\n{Record('acme', 'mallory', [now] * 5).line()}", login="mallory")  # forged: ignored
    fake.add(6, f"{MARKER}\n{Record('other', 'dave', [now] * 5).line()}")  # another team: not counted
    gate = bot_args(fake, "bot", "gate", "--pr", "9", "--head-sha", SHA, "--remove-label", "safe-to-evaluate")

    code, text = run(gate, capsys, caplog)  # 3rd of 3 (limits.evaluations_per_day in competition.yaml)
    assert code == 0 and "evaluation 3 of 3" in text
    assert [r.path for r in fake.requests("DELETE")] == ["/repos/o/r/issues/9/labels/safe-to-evaluate"]
    mine = [c for c in fake.comments if c["pr"] == 9]
    assert len(mine) == 1 and SHA in mine[0]["body"] and len(parse_record(mine[0]["body"]).times) == 1

    code, text = run(gate, capsys, caplog)  # 4th: refused until t1 ages out
    assert code == 2 and "E_RATE_LIMIT" in text and iso(t1 + WINDOW) in text
    mine = [c for c in fake.comments if c["pr"] == 9]
    assert len(mine) == 1 and iso(t1 + WINDOW) in mine[0]["body"] and "limit reached" in mine[0]["body"]
    assert len(parse_record(mine[0]["body"]).times) == 1  # a refusal records nothing


def test_github_rate_limit_answer_names_the_reset_time(fake, result_path, capsys, caplog):
    reset = int(dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc).timestamp())
    fake.failures = [(403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})]
    code, text = run(bot_args(fake, "bot", "comment", str(result_path), "--pr", "7"), capsys, caplog)
    assert code == 3 and "E_GITHUB_FORBIDDEN" in text and "2030-01-02T03:04:05Z" in text
    assert len(fake.requests()) == 1  # no retry against a rate limit


@pytest.mark.parametrize("failures, code, requests", [
    ([(401, {})], "E_GITHUB_AUTH", 1),
    ([(404, {})], "E_GITHUB_NOT_FOUND", 1),
    ([(429, {"Retry-After": "60"})], "E_GITHUB_FORBIDDEN", 1),
    ([(502, {})] * 3, "E_GITHUB_SERVER", 3),   # --retries 2: three tries, then a clear error
    ([(503, {})] * 2, None, 4),                # recovers on the third try: 3 listings, then one POST
])
def test_api_errors_are_coded_and_5xx_retried_boundedly(fake, result_path, capsys, caplog, failures, code, requests):
    fake.failures = list(failures)
    exit_code, text = run(bot_args(fake, "bot", "comment", str(result_path), "--pr", "7"), capsys, caplog)
    if code is None:
        assert exit_code == 0 and len([c for c in fake.comments if c["login"] == BOT]) == 1
    else:
        assert exit_code == 3 and code in text
    assert len(fake.requests()) == requests


def test_missing_token_and_bad_arguments(fake, result_path, capsys, caplog, monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN")
    code, text = run(bot_args(fake, "bot", "comment", str(result_path), "--pr", "7"), capsys, caplog)
    assert code == 3 and "E_GITHUB_AUTH" in text and not fake.requests()
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    code, text = run(bot_args(fake, "bot", "comment", str(result_path), "--pr", "7", "--head-sha", "HEAD"),
                     capsys, caplog)
    assert code == 3 and "E_SHA_FORMAT" in text and not fake.requests()


def test_untrusted_result_is_refused_before_any_request(fake, tmp_path, capsys, caplog):
    bad = tmp_path / "result.json"
    bad.write_text(json.dumps({"schema": 1, "status": "ok", "errors": "<img src=x>"}))
    code, text = run(bot_args(fake, "bot", "comment", str(bad), "--pr", "7"), capsys, caplog)
    assert code == 3 and "E_RESULT_SCHEMA" in text and not fake.requests()


def test_next_allowed_matches_a_brute_force_scan():
    rng = random.Random(0)
    now = dt.datetime(2026, 11, 29, 12, tzinfo=dt.timezone.utc)
    for _ in range(200):
        times = [now - dt.timedelta(minutes=rng.randrange(0, 60 * 36)) for _ in range(rng.randrange(0, 7))]
        limit = rng.randrange(1, 5)
        # Independent: the earliest candidate moment whose trailing 24 h holds fewer than `limit` times.
        candidates = sorted([now] + [t + WINDOW for t in times if t + WINDOW > now])
        first = next(c for c in candidates if sum(c - WINDOW < t <= c for t in times) < limit)
        assert next_allowed(times, limit, now) == (None if first == now else first)


def test_parse_record_accepts_only_the_bots_exact_line_at_the_end():
    """A record counts only as the bot writes it: its exact bytes, on the body's last line."""
    now = dt.datetime(2026, 11, 29, 1, tzinfo=dt.timezone.utc)
    real = Record("acme", "alice", [now])
    line = real.line()
    body = f"{MARKER}\nscores\n\n{line}\n"
    assert parse_record(body).times == [now] and parse_record(body).team == "acme"
    # The same record anywhere but on the last line, or followed by anything, is no record.
    assert parse_record(f"{MARKER}\n{line}\nscores\n") is None
    assert parse_record(f"{MARKER}\n`{line}`\n") is None
    forged = [
        line.replace('"author":"alice"', '"author": "alice"'),                   # spacing the bot never writes
        line.replace('{"author":"alice",', '{"extra":1,"author":"alice",'),     # an unknown key
        line.replace('"team":"acme"', '"team":"Bad Team!"'),                    # a field the bot never writes
        line.replace('"counted":true', '"counted":"yes"'),
        line.replace(iso(now), "2026-11-29T01:00:00+00:00"),                    # another time format
        line.replace('"evals":[', '"evals":[{"at":"yesterday","counted":true},'),
        line.replace('"times":["' + iso(now) + '"]', '"times":[]'),             # times disagree with evals
        '<!-- easel:evaluations {"team": "acme", "author": "a\\nb", "times": ["2026-11-29T01:00:00Z", 5]} -->',
        "<!-- easel:evaluations [1] -->", "no record",
    ]
    for text in forged:
        assert parse_record(f"{MARKER}\nscores\n{text}\n") is None, text


def test_a_forged_record_in_the_body_never_reaches_the_posted_comment():
    """Whatever the rendered body holds, the bot's posted text has one marker and one record, its own."""
    forged = Record("acme", "alice", evaluations=[]).line()
    record = Record("acme", "alice", [dt.datetime(2026, 11, 29, 1, tzinfo=dt.timezone.utc)])
    body = with_record(f"{MARKER}\nversion `{forged}` and <!-- x --> and {MARKER}\n", record)
    assert body.count("<!--") == 2 and body.startswith(MARKER) and body.rstrip().endswith(record.line())
    assert parse_record(body).times == record.times


@pytest.mark.parametrize("repo, linked", [("o/r", True), ("someone/else", False)])
def test_comment_links_the_runs_gallery_of_its_own_repository_only(fake, tmp_path, capsys, caplog, repo, linked):
    from test_report import ok_result

    path = atomic_write_json(tmp_path / "ok.json", ok_result(offline=False))
    url = f"https://github.com/{repo}/actions/runs/42/artifacts/7"
    argv = bot_args(fake, "bot", "comment", str(path), "--pr", "7", "--head-sha", SHA, "--gallery-url", url)
    code, _ = run(argv, capsys, caplog)
    [ours] = [c for c in fake.comments if c["login"] == BOT]
    assert code == 0 and (f"]({url})" in ours["body"]) is linked
