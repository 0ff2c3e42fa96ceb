"""Forged result fields and bot records through the real CLI (issue 25).

One real evaluation (`easel evaluate` on a small Keras model) gives the result every case
starts from; each case forges one field of it, as a compromised runner or a tampered artifact
would, and runs the command that trusts that field next: `easel leaderboard add`, `easel report`,
`easel bot comment`. Then `easel fetch-pr` without the ownership flags.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from pathlib import Path

import pytest

from evaluator.cli import main as easel
from evaluator.errors import CODES
from evaluator.github import MARKER, RECORD_PREFIX, Record, parse_record
from evaluator.result import CLOCK_SKEW
from fake_github import BOT, SHA
from harness import REPO, make_submission, run_cli
from model_builders import valid_model
from test_comment_render import read
from test_scope import make_pr, world, write  # noqa: F401 - world: the git fixture

# 39 characters: fits the old 40-character version field, and is a whole record that resets the limit.
FORGED_RECORD = RECORD_PREFIX + '{"evals":[]} -->'
HOSTILE = (FORGED_RECORD, "<!-- easel:score-comment -->", "@admin", "<!-- x -->")


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, data_root, competition_file, cache):
    """(its result.json, the real ok result) of one real evaluation, shared by the module's cases."""
    root = tmp_path_factory.mktemp("forged")
    sub = make_submission(root / "repo", valid_model)
    code, result = run_cli(sub, data_root, competition_file, root / "result.json")
    assert code == 0 and result["status"] == "ok"
    return root / "result.json", result


def forge(tmp_path: Path, result: dict, path: str, value) -> Path:
    """A copy of ``result`` with the field at dotted ``path`` set to ``value``, written as JSON."""
    forged = copy.deepcopy(result)
    *parents, last = path.split(".")
    node = forged
    for key in parents:
        node = node[key]
    node[last] = value
    out = tmp_path / f"forged-{len(list(tmp_path.glob('forged-*')))}.json"
    out.write_text(json.dumps(forged))
    return out


def iso(when: dt.datetime) -> str:
    return when.replace(microsecond=0).isoformat()


def add(result_json: Path, board: Path, competition_file: Path, capsys) -> tuple[int, str]:
    code = easel(["leaderboard", "add", str(result_json), "--pr", "7", "--commit", "a" * 40,
                  "--leaderboard", str(board), "--competition", str(competition_file)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def report(result_json: Path, capsys) -> tuple[int, str]:
    code = easel(["report", str(result_json), "--competition", str(REPO / "competition.yaml")])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


# --- 1. created: a far-future time no longer freezes the entry -------------------------------

def test_a_future_created_is_refused_and_the_real_evaluation_still_lands(evaluated, tmp_path, competition_file,
                                                                       capsys):
    real_json, result = evaluated
    board = tmp_path / "leaderboard.yaml"
    board.write_text("schema: 1\nentries: []\n")
    future = forge(tmp_path, result, "created", "2999-01-01T00:00:00+00:00")
    code, text = add(future, board, competition_file, capsys)
    assert code == 3 and "E_RESULT_TIME" in text and "created" in text
    assert board.read_text() == "schema: 1\nentries: []\n"
    # The attack needed the forged entry first; the real evaluation is recorded as usual.
    code, text = add(real_json, board, competition_file, capsys)
    assert code == 0 and "recorded acme/tiny" in text


def test_created_within_the_stated_clock_skew_is_accepted_and_beyond_it_refused(evaluated, tmp_path, capsys):
    _, result = evaluated
    now = dt.datetime.now(dt.timezone.utc)
    assert CLOCK_SKEW == dt.timedelta(minutes=5) and "5 minutes" in CODES["E_RESULT_TIME"].hint
    code, _ = report(forge(tmp_path, result, "created", iso(now + CLOCK_SKEW - dt.timedelta(minutes=1))), capsys)
    assert code == 0
    code, text = report(forge(tmp_path, result, "created", iso(now + CLOCK_SKEW + dt.timedelta(minutes=1))), capsys)
    assert code == 3 and "E_RESULT_TIME" in text and "clock skew" in text


# --- every other trusted field, one forged at a time ------------------------------------------

REFUSED_FIELDS = {
    "evaluator.version": HOSTILE + ("0.1.0\n", "v0.1.0"),
    "evaluator.seconds": (-1.0,),
    "submission.team": HOSTILE + ("acme\n",),
    "submission.model": HOSTILE,
    "submission.track": HOSTILE,
    "track.id": HOSTILE,
    "track.kind": HOSTILE,
    "track.ranking.metric": HOSTILE,
    "dataset.id": HOSTILE,
    "backbone.id": HOSTILE,
    "backbone.resize": HOSTILE,
    "split": HOSTILE,
    "efficiency.device.name": (FORGED_RECORD, "<!-- x -->"),
    "efficiency.device.tensorflow": HOSTILE,
    "efficiency.device.cuda": HOSTILE,
}


@pytest.mark.parametrize("field, value", [(f, v) for f, values in REFUSED_FIELDS.items() for v in values])
def test_a_forged_field_is_refused_by_the_schema_with_its_path(evaluated, tmp_path, capsys, field, value):
    _, result = evaluated
    if field.startswith("efficiency.device") and not (result["efficiency"] or {}).get("device"):
        pytest.fail("the real result has no efficiency.device to forge")
    code, text = report(forge(tmp_path, result, field, value), capsys)
    assert code == 3 and "E_RESULT_SCHEMA" in text and f"result.json: {field}" in text
    assert "## Easel evaluation" not in text  # no comment was rendered (the terminal's message may quote it)


def test_forged_metric_and_extra_names_are_refused(evaluated, tmp_path, capsys):
    _, result = evaluated
    for key in ("metrics", "extra"):
        forged = copy.deepcopy(result[key])
        forged["<!-- easel:x -->"] = next(iter(forged.values()))
        code, text = report(forge(tmp_path, result, key, forged), capsys)
        assert code == 3 and "E_RESULT_SCHEMA" in text and f"result.json: {key}" in text


@pytest.mark.parametrize("field, value", [
    ("efficiency.device.name", "@admin (GPU)"),  # allowed characters: shown as text, never a mention
    ("errors", [{"code": "E_CRASH", "message": FORGED_RECORD, "hint": "@admin", "detail": "<!-- x -->"}]),
])
def test_an_accepted_string_reaches_the_comment_inert(evaluated, tmp_path, capsys, field, value):
    """Strings the schema lets through are escaped, or (error texts) never shown: one HTML comment in the
    rendered page, the bot's marker, and no mention."""
    _, result = evaluated
    code, text = report(forge(tmp_path, result, field, value), capsys)
    assert code == 0 and text.count("<!--") == 1 and text.startswith(MARKER)
    page = read(text)  # rendered by cmark-gfm: only the marker comment, no @mention, no raw tag
    if field == "efficiency.device.name":
        assert "@admin (GPU)" in page.visible.replace("\u2060", "")


# --- 2. markers: a forged version cannot reset the daily limit -------------------------------

def test_a_marker_in_the_version_never_reaches_the_pr_comment(evaluated, tmp_path, fake, capsys):
    """The old hole: the version was free text up to 40 characters, shown as code in the sticky
    comment, where the record parser found the forged record before the bot's own."""
    _, result = evaluated
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    real = Record("acme", "alice", [now])
    fake.add(7, f"{MARKER}\napproved\n\n{real.line()}\n")  # the gate's comment: one counted approval
    before = fake.comments[0]["body"]
    forged = forge(tmp_path, result, "evaluator.version", FORGED_RECORD)
    code = easel(["bot", "comment", str(forged), "--pr", "7", "--head-sha", SHA, "--repo", "o/r",
                  "--api-url", fake.base, "--backoff", "0", "--retries", "1",
                  "--competition", str(REPO / "competition.yaml")])
    assert code == 3 and "E_RESULT_SCHEMA" in capsys.readouterr().err
    assert [c["body"] for c in fake.comments] == [before]  # nothing posted, nothing edited
    assert parse_record(before).times == [now]
    # The real result is posted; the record keeps its one approval and the body only the bot's markers.
    real_json, _ = evaluated
    assert easel(["bot", "comment", str(real_json), "--pr", "7", "--head-sha", SHA, "--repo", "o/r",
                  "--api-url", fake.base, "--backoff", "0", "--retries", "1",
                  "--competition", str(REPO / "competition.yaml")]) == 0
    [sticky] = [c for c in fake.comments if c["login"] == BOT]
    assert len(re.findall("<!--", sticky["body"])) == 2 and parse_record(sticky["body"]).times == [now]


# --- 3. fetch-pr: no run without the ownership check ----------------------------------------

TEAMS = "teams:\n  acme: {name: ACME, members: [alice]}\n  other: {name: Other, members: [dave]}\n"


def test_fetch_pr_refuses_to_run_without_the_ownership_flags(world, tmp_path, capsys):  # noqa: F811
    """A PR by alice rewriting team other's folder: exit 0 before whenever --author was forgotten."""
    origin, runner, base = world
    sha = make_pr(origin, 11, lambda r: write(r, "submissions/other/m1/submission.yaml", "hijack\n"))
    teams = tmp_path / "teams.yaml"
    teams.write_text(TEAMS)
    common = ["fetch-pr", "--repo-dir", str(runner), "--pr-ref", "refs/pull/11/head", "--sha", sha, "--base", base]
    for n, flags in enumerate(([], ["--author", "alice"], ["--teams", str(teams)],
                               ["--no-ownership-check", "--author", "alice", "--teams", str(teams)])):
        out, answer = tmp_path / f"out{n}", tmp_path / f"result{n}.json"
        code = easel(common + ["--out", str(out), "--result-on-error", str(answer)] + flags)
        assert code == 3 and "E_OWNERSHIP_UNCHECKED" in capsys.readouterr().err, flags
        assert not out.exists()
        assert json.loads(answer.read_text())["errors"][0]["code"] == "E_OWNERSHIP_UNCHECKED"  # the PR is answered
    code = easel(common + ["--out", str(tmp_path / "checked"), "--author", "alice", "--teams", str(teams)])
    assert code == 2 and "E_TEAM_MEMBER" in capsys.readouterr().err and not (tmp_path / "checked").exists()
