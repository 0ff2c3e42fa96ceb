"""The score bot against a fake GitHub REST server on loopback (pytest-httpserver).

The real PyGithub client talks to it through --api-url; the server keeps
comments in memory and records every request.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import re
from pathlib import Path

import pytest
from werkzeug.wrappers import Response

from evaluator import cli
from evaluator.errors import error_dict
from evaluator.github import (MARKER, WINDOW, BotOptions, Record, iso, next_allowed, parse_record, post_result)
from evaluator.report import MARKER as REPORT_MARKER
from evaluator.result import new_result
from evaluator.fsutil import atomic_write_json

TOKEN = "ghs_FAKEtoken0123456789abcdefSECRET"
BOT = "github-actions[bot]"
ROOT = Path(__file__).resolve().parents[1]
SHA = "0123456789abcdef0123456789abcdef01234567"


class FakeGitHub:
    """Just the endpoints PyGithub calls for issues, pulls, comments and labels."""

    def __init__(self, server, files=("submissions/acme/inkgan/submission.yaml",), author="alice"):
        self.server, self.base = server, server.url_for("").rstrip("/")
        self.comments: list[dict] = []
        self.files, self.author = list(files), author
        self.next_id = 1000
        self.failures: list[tuple[int, dict]] = []  # answers served before any real one
        self.fail_on: dict[tuple[str, str], tuple[int, dict]] = {}  # (method, path) -> one failure
        self.authors: dict[int, str] = {}  # PR number -> author login (default: `author`)
        self.heads: dict[int, str] = {}  # PR number -> current head SHA (default: SHA)
        self.labelled: dict[int, str] = {}  # PR number -> last label event time
        self.merged: dict[str, int] = {}  # commit -> PR number that merged it
        r = re.compile
        routes = [
            ("GET", r(r"^/repos/o/r/issues/(\d+)$"), self.issue),
            ("GET", r(r"^/repos/o/r/issues/(\d+)/comments$"), self.list_comments),
            ("POST", r(r"^/repos/o/r/issues/(\d+)/comments$"), self.create_comment),
            ("PATCH", r(r"^/repos/o/r/issues/comments/(\d+)$"), self.edit_comment),
            ("GET", r(r"^/repos/o/r/issues/comments$"), self.repo_comments),
            ("DELETE", r(r"^/repos/o/r/issues/(\d+)/labels/([^/]+)$"), self.remove_label),
            ("GET", r(r"^/repos/o/r/pulls$"), self.list_pulls),
            ("GET", r(r"^/repos/o/r/pulls/(\d+)$"), self.pull),
            ("GET", r(r"^/repos/o/r/pulls/(\d+)/files$"), self.pull_files),
            ("GET", r(r"^/repos/o/r/commits/([0-9a-f]{40})/pulls$"), self.commit_pulls),
        ]
        for method, uri, handler in routes:
            server.expect_request(uri, method=method).respond_with_handler(self._wrap(uri, handler))

    def _wrap(self, uri, handler):
        def serve(request):
            failure = self.fail_on.pop((request.method, request.path), None)
            if self.failures or failure:
                status, headers = failure or self.failures.pop(0)
                return Response(json.dumps({"message": "fail"}), status=status, headers=headers,
                                content_type="application/json")
            status, body = handler(request, *uri.match(request.path).groups())
            headers = {}
            if isinstance(body, list):  # GitHub pages every listing: per_page (max 100), page, Link
                per_page = min(int(request.args.get("per_page", 30)), 100)
                page = int(request.args.get("page", 1))
                if len(body) > page * per_page:
                    args = {**request.args.to_dict(), "page": str(page + 1), "per_page": str(per_page)}
                    query = "&".join(f"{k}={v}" for k, v in args.items())
                    headers["Link"] = f'<{self.base}{request.path}?{query}>; rel="next"'
                body = body[(page - 1) * per_page:page * per_page]
            return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")
        return serve

    def _comment_json(self, c, number):
        return {"id": c["id"], "body": c["body"], "user": {"login": c["login"], "type": "Bot"},
                "url": f"{self.base}/repos/o/r/issues/comments/{c['id']}",
                "issue_url": f"{self.base}/repos/o/r/issues/{number}",
                "created_at": c["created"], "updated_at": c["updated"]}

    def add(self, number, body, login=BOT, updated=None):
        when = updated or iso(dt.datetime.now(dt.timezone.utc))
        self.next_id += 1
        self.comments.append({"id": self.next_id, "pr": number, "body": body, "login": login,
                              "created": when, "updated": when})

    def issue(self, request, number):
        return 200, {"number": int(number), "id": int(number), "url": f"{self.base}/repos/o/r/issues/{number}",
                     "title": "t", "state": "open", "user": {"login": self.author}}

    def list_comments(self, request, number):
        return 200, [self._comment_json(c, number) for c in self.comments if c["pr"] == int(number)]

    def create_comment(self, request, number):
        self.add(int(number), request.get_json()["body"])
        return 201, self._comment_json(self.comments[-1], number)

    def edit_comment(self, request, cid):
        comment = next(c for c in self.comments if c["id"] == int(cid))
        comment["body"], comment["updated"] = request.get_json()["body"], iso(dt.datetime.now(dt.timezone.utc))
        return 200, self._comment_json(comment, comment["pr"])

    def repo_comments(self, request):
        since = dt.datetime.fromisoformat(request.args["since"].replace("Z", "+00:00"))
        keep = [c for c in self.comments if dt.datetime.fromisoformat(c["updated"].replace("Z", "+00:00")) >= since]
        return 200, [self._comment_json(c, c["pr"]) for c in keep]

    def remove_label(self, request, number, name):
        self.labelled[int(number)] = iso(dt.datetime.now(dt.timezone.utc))
        return 200, []

    def _pull_json(self, number):
        stamps = [c["updated"] for c in self.comments if c["pr"] == number]
        stamps += [self.labelled[number]] if number in self.labelled else []
        updated = max(stamps, key=lambda t: dt.datetime.fromisoformat(t.replace("Z", "+00:00"))) if stamps \
            else iso(dt.datetime.now(dt.timezone.utc))
        return {"number": number, "id": number, "url": f"{self.base}/repos/o/r/pulls/{number}",
                "user": {"login": self.authors.get(number, self.author)}, "head": {"sha": self.heads.get(number, SHA)},
                "state": "open", "updated_at": updated}

    def pull(self, request, number):
        return 200, self._pull_json(int(number))

    def list_pulls(self, request):
        numbers = {c["pr"] for c in self.comments} | set(self.authors) | set(self.labelled)
        pulls = [self._pull_json(n) for n in numbers]
        return 200, sorted(pulls, key=lambda p: (p["updated_at"], p["number"]), reverse=True)

    def commit_pulls(self, request, sha):
        number = self.merged.get(sha)
        return 200, [] if number is None else [self._pull_json(number)]

    def pull_files(self, request, number):
        return 200, [{"filename": f, "status": "added", "sha": "1" * 40} for f in self.files]

    def requests(self, method=None):
        return [req for req, _ in self.server.log if method is None or req.method == method]


@pytest.fixture()
def fake(httpserver, monkeypatch, tmp_path):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    server = FakeGitHub(httpserver)
    server.teams_path = tmp_path / "teams.yaml"
    server.teams_path.write_text(TEAMS_YAML)
    return server


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


TEAMS_YAML = """teams:
  acme: {name: ACME, members: [alice, bob, carol]}
  other: {name: Other, members: [dave]}
"""


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
    assert "E\\_SCOPE\\_PATH" in ours[0]["body"]
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


def test_parse_record_drops_forged_fields():
    body = ('<!-- easel:evaluations {"team": "Bad Team!", "author": "a\\nb", '
            '"times": ["2026-11-29T01:00:00Z", "yesterday", 5]} -->')
    record = parse_record(body)
    assert record.team is None and record.author is None
    assert record.times == [dt.datetime(2026, 11, 29, 1, tzinfo=dt.timezone.utc)]
    assert parse_record("no record") is None and parse_record("<!-- easel:evaluations [1] -->") is None
