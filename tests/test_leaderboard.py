"""leaderboard.yaml: idempotent add, replacement, refusals, phases and reveal, ties, schema errors.

The helpers at the top (``competition``, ``make_result``, ``board_with``) are
also used by tests/test_site.py and tests/test_site_browser.py.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime as dt
import json

import pytest
import yaml

from evaluator.config import parse_competition
from evaluator.errors import EaselError
from evaluator.fsutil import canonical_json, sha256_bytes, tree_sha256
from evaluator.leaderboard import (
    _parse_yaml,
    add_result,
    dump_leaderboard,
    empty_board,
    load_leaderboard,
    rank_track,
    reveal,
    save_leaderboard,
    show_table,
)
from evaluator.leaderboard.commands import register
from evaluator.leaderboard.schema import Scores
from evaluator.result import new_result

UTC = dt.timezone.utc
BEFORE = dt.datetime(2027, 2, 1, tzinfo=UTC)      # development phase
DEADLINE = dt.datetime(2027, 4, 1, tzinfo=UTC)    # end of the final phase
AFTER = dt.datetime(2027, 4, 2, tzinfo=UTC)
COMMIT = "0123456789abcdef0123456789abcdef01234567"

COMPETITION_RAW = {
    "name": "Test Cup",
    "phases": [{"name": "development", "ends": "2027-03-01T00:00:00Z", "ranks": "public"},
               {"name": "final", "ends": "2027-04-01T00:00:00Z", "ranks": "private"}],
    "limits": {},
    "tracks": [
        {"id": "ink", "kind": "unpaired", "dataset": "dev-ink", "image_size": 64, "title": "Ink",
         "metrics": ["kid", "fid"], "ranking": {"metric": "kid", "order": "asc"}},
        {"id": "sketch", "kind": "paired", "dataset": "dev-sketch", "image_size": 64, "title": "Sketch",
         "metrics": ["ssim", "psnr"], "ranking": {"metric": "ssim", "order": "desc"}},
    ],
}


def competition():
    return parse_competition(json.loads(json.dumps(COMPETITION_RAW)), "competition.yaml")


def make_result(team, model, value, ci=None, track="ink", content="a", created="2026-01-10T00:00:00+00:00",
                baseline=False, weights="b", manifest="c", split="public", status="ok", second=None,
                standin=True, efficiency=True):
    """An ok result.json dict for ``track`` with the ranking metric at ``value`` (interval ``ci``)."""
    ink = track == "ink"
    r = new_result(status)
    r["submission"] = {"team": team, "model": model, "track": track, "baseline": baseline, "format": "keras",
                       "content_sha256": content * 64 if len(content) == 1 else content}
    r["track"] = {"id": track, "kind": "unpaired" if ink else "paired",
                  "ranking": {"metric": "kid" if ink else "ssim", "order": "asc" if ink else "desc"}}
    r["split"] = split
    r["dataset"] = {"id": "dev-ink" if ink else "dev-sketch", "manifest_sha256": manifest * 64, "n_inputs": 30}
    r["backbone"] = {"id": "convnet_random_seed0", "weights_sha256": weights * 64, "resize": "clean",
                     "offline_standin": standin}
    lo, hi = ci if ci is not None else (value * 0.9, value * 1.1)
    main, other = ("kid", "fid") if ink else ("ssim", "psnr")
    r["metrics"] = {main: {"value": value, "ci95": [lo, hi], "order": "asc" if ink else "desc", "n": 30},
                    other: {"value": second if second is not None else value * 100, "ci95": None,
                            "order": "asc" if ink else "desc", "n": 30}}
    r["extra"] = {"memorized": False}
    if efficiency:
        r["efficiency"] = {"images_per_s": 250.0, "best_batch_size": 16, "latency_ms_batch1": 4.0,
                           "parameters": 123456, "model_bytes": 500000}
    if status != "ok":
        r["errors"] = [{"code": "E_CRASH", "message": "x", "hint": "y", "detail": None}]
    r["created"] = created
    return r


def board_with(*results, comp=None, meta=None):
    board = empty_board()
    for i, r in enumerate(results):
        board, changed = add_result(board, r, pr=10 + i, commit=COMMIT, meta=meta,
                                    now=dt.datetime(2027, 1, 1 + i, tzinfo=UTC), competition=comp)
        assert changed
    return board


def cli(argv):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def comp_file(tmp_path):
    path = tmp_path / "competition.yaml"
    path.write_text(yaml.safe_dump(COMPETITION_RAW), encoding="utf-8")
    return path


def write_json(path, obj):
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


# --- add ------------------------------------------------------------------------

def test_cli_add_twice_leaves_the_file_bytes_untouched(tmp_path, comp_file, capsys):
    board_path = tmp_path / "leaderboard.yaml"
    result = write_json(tmp_path / "result.json", make_result("acme", "inkgan", 0.1))
    argv = ["leaderboard", "add", str(result), "--pr", "7", "--commit", COMMIT,
            "--leaderboard", str(board_path), "--competition", str(comp_file)]
    assert cli(argv) == 0
    first, stamp = board_path.read_bytes(), board_path.stat().st_mtime_ns
    assert cli(argv) == 0
    assert board_path.read_bytes() == first
    assert board_path.stat().st_mtime_ns == stamp  # not even rewritten
    assert "unchanged" in capsys.readouterr().out
    board = load_leaderboard(board_path)
    assert [(e.team, e.pr, e.commit) for e in board.entries] == [("acme", 7, COMMIT)]
    # The file is its own fixed point: dumping what was loaded gives the same bytes.
    assert dump_leaderboard(board).encode() == first


def test_file_layout_is_stable_and_human_diffable(tmp_path):
    board = board_with(make_result("acme", "inkgan", 0.1), make_result("zeta", "z", 0.2, content="d"))
    text = dump_leaderboard(board)
    assert text.startswith("schema: 1\nentries:\n- team: acme\n  model: inkgan\n  track: ink\n")
    assert text.count("\n- team: ") == 2
    assert "ci95: [0.09000000000000001, 0.11000000000000001]" in text  # repr floats round-trip exactly
    save_leaderboard(tmp_path / "lb.yaml", board)
    assert load_leaderboard(tmp_path / "lb.yaml") == board


def test_newer_evaluation_replaces_older_one_is_ignored():
    board = board_with(make_result("acme", "inkgan", 0.10, created="2026-01-10T00:00:00+00:00"))
    added = board.entries[0].added
    newer = make_result("acme", "inkgan", 0.08, created="2026-01-12T00:00:00+00:00")
    board, changed = add_result(board, newer, pr=None, commit=None)
    assert changed and len(board.entries) == 1
    entry = board.entries[0]
    assert entry.public.metrics["kid"].value == 0.08
    assert entry.public.evaluated == "2026-01-12T00:00:00Z"
    assert (entry.added, entry.pr, entry.commit) == (added, 10, COMMIT)  # same submission: kept

    stale = make_result("acme", "inkgan", 0.5, created="2026-01-11T00:00:00+00:00")
    same, changed = add_result(board, stale, pr=None, commit=None)
    assert not changed and same.entries[0].public.metrics["kid"].value == 0.08

    # A new version of the submission (other content hash) replaces the entry and resets private scores.
    private = Scores(metrics={}, extra={}, evaluated="2027-01-12T00:00:00Z", evaluator=None)
    board = dataclasses.replace(board, entries=(dataclasses.replace(board.entries[0], private=private),))
    v2 = make_result("acme", "inkgan", 0.07, content="e", created="2026-01-05T00:00:00+00:00")
    board, changed = add_result(board, v2, pr=12, commit="f" * 40, now=dt.datetime(2027, 2, 2, tzinfo=UTC))
    entry = board.entries[0]
    assert changed and len(board.entries) == 1
    assert (entry.content_sha256, entry.pr, entry.added, entry.private) == \
        ("e" * 64, 12, "2027-02-02T00:00:00Z", None)


def test_an_evaluation_time_from_the_future_on_the_board_does_not_freeze_its_entry():
    # A board written before results were refused for a `created` in the future (E_RESULT_TIME) may hold
    # one; "an older evaluation is a stale re-run" must not then refuse every real re-evaluation forever.
    now = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
    forged = board_with(make_result("acme", "inkgan", 0.01, created="2026-01-10T00:00:00+00:00"))
    forged = dataclasses.replace(forged, entries=(dataclasses.replace(
        forged.entries[0], public=dataclasses.replace(forged.entries[0].public, evaluated="2099-01-01T00:00:00Z")),))
    real = make_result("acme", "inkgan", 0.30, created="2026-05-31T00:00:00+00:00")
    board, changed = add_result(forged, real, pr=None, commit=None, now=now)
    assert changed and board.entries[0].public.metrics["kid"].value == 0.30
    assert board.entries[0].public.evaluated == "2026-05-31T00:00:00Z"
    # A stored time within the clock skew of now still wins over an older one, as before.
    recent = board_with(make_result("acme", "inkgan", 0.01, created="2026-06-01T00:04:00+00:00"))
    same, changed = add_result(recent, real, pr=None, commit=None, now=now)
    assert not changed and same.entries[0].public.metrics["kid"].value == 0.01


def test_mixed_backbone_or_dataset_in_a_track_is_refused():
    board = board_with(make_result("acme", "inkgan", 0.1))
    for kwargs, field in (({"weights": "9"}, "backbone.weights_sha256"),
                          ({"manifest": "8"}, "dataset.manifest_sha256")):
        with pytest.raises(EaselError) as err:
            add_result(board, make_result("zeta", "z", 0.2, **kwargs), pr=1, commit=COMMIT)
        assert err.value.code == "E_RESULT_BACKBONE" and err.value.detail == field
    # Another track may use its own backbone: comparability is per track.
    _, changed = add_result(board, make_result("zeta", "z", 0.5, track="sketch", weights="9"), pr=1, commit=COMMIT)
    assert changed


def test_refusals_status_split_commit_and_track(tmp_path):
    board = empty_board()
    cases = [
        (make_result("acme", "a", 0.1, status="invalid"), COMMIT, "E_RESULT_STATUS"),
        (make_result("acme", "a", 0.1, split="private"), COMMIT, "E_RESULT_BINDING"),
        (make_result("acme", "a", 0.1), "abc123", "E_SHA_FORMAT"),
        (make_result("acme", "a", 0.1, track="sketch") | {"dataset": {"id": "dev-ink", "manifest_sha256": "c" * 64,
                                                                       "n_inputs": 3}}, COMMIT, "E_RESULT_BINDING"),
    ]
    for result, commit, code in cases:
        with pytest.raises(EaselError) as err:
            add_result(board, result, pr=1, commit=commit, competition=competition())
        assert err.value.code == code
    assert board == empty_board()


def test_binding_to_merged_files_and_dataset_manifest(tmp_path, comp_file):
    sub = tmp_path / "submissions" / "acme" / "inkgan"
    sub.mkdir(parents=True)
    (sub / "submission.yaml").write_text(
        "team: acme\nname: inkgan\ntrack: ink\nauthors: [Ada]\ndescription: hi\nlicense: MIT\n"
        "model: {format: keras, path: model.keras}\n", encoding="utf-8")
    (sub / "model.keras").write_bytes(b"weights")
    files = {"test/A/0000.png": {"sha256": "1" * 64, "split": "public"}}
    data = tmp_path / "data" / "dev-ink"
    data.mkdir(parents=True)
    manifest_hash = sha256_bytes(canonical_json(files).encode())
    (data / "manifest.json").write_text(json.dumps({"schema": 1, "files": files, "sha256": manifest_hash}))
    result = make_result("acme", "inkgan", 0.1, content=tree_sha256(sub))
    result["dataset"]["manifest_sha256"] = manifest_hash

    board_path = tmp_path / "leaderboard.yaml"
    result_path = write_json(tmp_path / "result.json", result)
    base = ["leaderboard", "add", str(result_path), "--pr", "3", "--commit", COMMIT, "--leaderboard",
            str(board_path), "--competition", str(comp_file), "--data", str(tmp_path / "data")]

    (sub / "model.keras").write_bytes(b"weights, swapped after evaluation")
    with pytest.raises(EaselError) as err:
        cli(base + ["--submission", str(sub)])
    assert err.value.code == "E_RESULT_BINDING" and not board_path.exists()

    (sub / "model.keras").write_bytes(b"weights")
    stale = dict(result, dataset=dict(result["dataset"], manifest_sha256="7" * 64))
    write_json(result_path, stale)
    with pytest.raises(EaselError) as err:
        cli(base + ["--submission", str(sub)])
    assert err.value.code == "E_RESULT_BINDING" and err.value.detail == "dataset.manifest_sha256"

    write_json(result_path, result)
    assert cli(base + ["--submission", str(sub)]) == 0
    entry = load_leaderboard(board_path).entries[0].to_json()
    assert entry["meta"]["authors"] == ["Ada"] and entry["meta"]["license"] == "MIT"


# --- phases, reveal, ranking -----------------------------------------------------

def test_private_scores_stay_hidden_until_reveal_after_the_deadline(tmp_path):
    comp = competition()
    board = board_with(make_result("acme", "a", 0.10, ci=(0.09, 0.11), content="1"),
                       make_result("zeta", "z", 0.20, ci=(0.19, 0.21), content="2"))
    private = tmp_path / "private"
    (private / "ink").mkdir(parents=True)
    write_json(private / "ink" / "a.json", make_result("acme", "a", 0.40, ci=(0.39, 0.41), content="1",
                                                      split="private"))
    write_json(private / "ink" / "z.json", make_result("zeta", "z", 0.30, ci=(0.29, 0.31), content="2",
                                                      split="private"))
    # A private result for an older version of the submission must not be merged.
    write_json(private / "ink" / "z-old.json", make_result("zeta", "z", 0.01, content="9", split="private",
                                                          created="2026-03-30T00:00:00+00:00"))

    with pytest.raises(EaselError) as err:
        reveal(board, private, comp, now=DEADLINE - dt.timedelta(seconds=1))
    assert err.value.code == "E_REVEAL_EARLY" and "2027-04-01T00:00:00Z" in err.value.message

    before = [(r.entry.team, r.rank, r.split) for r in rank_track(board, comp, "ink", now=BEFORE)]
    assert before == [("acme", 1, "public"), ("zeta", 2, "public")]

    revealed, changed = reveal(board, private, comp, now=AFTER)
    assert changed == 2
    assert revealed.entries[1].private.metrics["kid"].value == 0.30  # not the stale 0.01
    # Even with private scores on the board, nothing private shows before the deadline.
    assert [r.split for r in rank_track(revealed, comp, "ink", now=BEFORE)] == ["public", "public"]
    after = [(r.entry.team, r.rank, r.value) for r in rank_track(revealed, comp, "ink", now=AFTER)]
    assert after == [("zeta", 1, 0.30), ("acme", 2, 0.40)]
    again, changed = reveal(revealed, private, comp, now=AFTER)
    assert changed == 0 and again == revealed


def test_cli_reveal_refused_before_deadline(tmp_path):
    raw = json.loads(json.dumps(COMPETITION_RAW))
    raw["phases"][1]["ends"] = "2099-01-01T00:00:00Z"  # the CLI reads the real clock
    comp_file = tmp_path / "competition.yaml"
    comp_file.write_text(yaml.safe_dump(raw), encoding="utf-8")
    board_path = tmp_path / "lb.yaml"
    save_leaderboard(board_path, board_with(make_result("acme", "a", 0.1)))
    before = board_path.read_bytes()
    (tmp_path / "private").mkdir()
    with pytest.raises(EaselError) as err:
        cli(["leaderboard", "reveal", "--private-results", str(tmp_path / "private"),
             "--leaderboard", str(board_path), "--competition", str(comp_file)])
    assert err.value.code == "E_REVEAL_EARLY" and "final" in err.value.message
    assert board_path.read_bytes() == before


def test_ranking_ties_baselines_and_team_best():
    comp = competition()
    # Leader 0.10 [0.08, 0.12]; 0.115 [0.11, 0.13] overlaps it; 0.20 [0.18, 0.22] does not.
    board = board_with(make_result("acme", "a1", 0.10, ci=(0.08, 0.12), content="1"),
                       make_result("acme", "a2", 0.20, ci=(0.18, 0.22), content="2"),
                       make_result("base", "identity", 0.11, ci=(0.05, 0.30), content="3", baseline=True),
                       make_result("zeta", "z", 0.115, ci=(0.11, 0.13), content="4"),
                       make_result("beta", "b", 0.115, ci=(0.125, 0.5), content="5"))
    rows = rank_track(board, comp, "ink", now=BEFORE)
    got = [(r.entry.model, r.rank, r.leader, r.tied, r.baseline, r.team_best) for r in rows]
    assert got == [
        ("a1", 1, True, False, False, True),
        ("identity", None, False, False, True, True),   # listed by score, no rank number, never "tied"
        ("z", 2, False, True, False, True),             # 0.11 <= 0.12: overlaps the leader
        ("b", 2, False, False, False, True),            # same value as z: same rank; 0.125 > 0.12: not tied
        ("a2", 4, False, False, False, False),          # acme's second entry
    ]
    # Independent check of the tie rule: overlap of [lo, hi] with the leader's [0.08, 0.12].
    leader_lo, leader_hi = 0.08, 0.12
    for r in rows:
        if r.rank and not r.leader:
            assert r.tied == (r.ci95[0] <= leader_hi and leader_lo <= r.ci95[1])
    text = show_table(board, comp, "ink", now=BEFORE)
    assert "tied" in text and "baseline" in text and "team best" in text

    # Higher-is-better tracks sort the other way.
    sketch = board_with(make_result("acme", "a", 0.5, track="sketch", content="1"),
                        make_result("zeta", "z", 0.9, track="sketch", content="2"))
    assert [r.entry.team for r in rank_track(sketch, comp, "sketch", now=BEFORE)] == ["zeta", "acme"]


# --- schema errors ----------------------------------------------------------------

def _broken(tmp_path, mutate):
    board = board_with(*(make_result(f"team{i}", "m", 0.1 + i / 100, content=str(i)) for i in range(5)))
    raw = yaml.safe_load(dump_leaderboard(board))
    mutate(raw)
    path = tmp_path / "leaderboard.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    with pytest.raises(EaselError) as err:
        load_leaderboard(path)
    assert err.value.code == "E_LEADERBOARD"
    return err.value.message


def test_hand_broken_file_names_entry_index_and_key(tmp_path):
    msg = _broken(tmp_path, lambda raw: raw["entries"][3].__setitem__("track", "Ink Track"))
    assert msg.startswith("leaderboard.yaml: entries[3].track: expected") and "'Ink Track'" in msg
    msg = _broken(tmp_path, lambda raw: raw["entries"][2]["public"].pop("evaluated"))
    assert msg == "leaderboard.yaml: entries[2].public.evaluated: expected a value, missing"
    msg = _broken(tmp_path, lambda raw: raw["entries"][4]["public"]["metrics"]["kid"].__setitem__("ci95", [1]))
    assert "entries[4].public.metrics.kid.ci95" in msg
    msg = _broken(tmp_path, lambda raw: raw["entries"][1].__setitem__("commit", "abc"))
    assert "entries[1].commit" in msg
    msg = _broken(tmp_path, lambda raw: raw["entries"].append(copy.deepcopy(raw["entries"][0])))
    assert "entries[5]" in msg and "entries[0]" in msg


def test_yaml_aliases_and_syntax_errors_are_refused(tmp_path):
    path = tmp_path / "leaderboard.yaml"
    path.write_text("schema: 1\nentries: &a [*a]\n", encoding="utf-8")
    with pytest.raises(EaselError, match="aliases") as err:
        load_leaderboard(path)
    assert err.value.code == "E_LEADERBOARD"
    path.write_text("schema: 1\nentries: [\n", encoding="utf-8")
    with pytest.raises(EaselError, match="invalid YAML"):
        load_leaderboard(path)
    assert load_leaderboard(tmp_path / "absent.yaml", missing_ok=True) == empty_board()


def test_fast_parser_agrees_with_yaml_safe_load():
    docs = [
        "a: [1, 2.5, -3, +4, 0x1F, 012, 1_000, 1.5e+3, 1e5, .inf, -.Inf, 1:30, 190:20:30.15, 0.09000000000000001]",
        "x: [yes, No, on, OFF, true, ~, null, '', \"\", 'yes', !!str 12, !!int '7', 2027-01-01, 2027-01-01T00:00:00Z]",
        "k:\n  - a\n  - {b: c, d: [e, {f: g}]}\n  - |\n    multi\n    line\n  - >-\n    folded\n    text\n",
        "- 1\n- - 2\n  - 3", "plain", "", "a:\nb: ~\nc:", "'0.1': x\n1: y\ntrue: z", "d: '<script>' # c",
        dump_leaderboard(board_with(*(make_result(f"t{i}", "m", 0.1 * i + 0.01, content=str(i)) for i in range(3)),
                                    meta={"description": "x: y\n- z", "authors": ["1e3", "no"]})),
    ]
    for doc in docs:
        expected = yaml.safe_load(doc)
        got = _parse_yaml(doc, "t.yaml")
        assert got == expected and repr(got) == repr(expected), doc
    for bad in ("a: !!python/object:os.system x", "--- 1\n--- 2\n", "? [a]\n: 1", "a: !!binary aGk="):
        with pytest.raises(EaselError) as err:
            _parse_yaml(bad, "t.yaml")
        assert err.value.code == "E_LEADERBOARD"


def test_repository_leaderboard_file_is_valid(request):
    board = load_leaderboard(request.config.rootpath / "leaderboard.yaml")
    assert board.schema == 1


# --- one formatter, one ranking, one metric order (issue 12) -------------------------

def test_one_number_format_for_comment_site_and_table():
    from evaluator.leaderboard import format_value
    from evaluator.report import fmt

    cases = {None: "–", 0: "0", 0.05: "0.05", 0.1234: "0.1234", 42.5: "42.5", 9999.4: "9999",
             9999.7: "10,000", 99999: "99,999", 123456.7: "123,457", 0.00012345: "1.234e-04",
             -0.0005: "-5.000e-04", 1e15: "1.000e+15", 1e308: "1.000e+308"}
    for value, text in cases.items():
        assert format_value(value) == text, value
        assert fmt(value) == text, value  # the PR comment uses the same function


def test_comment_standing_is_the_boards_ranking():
    from evaluator.report import standing

    comp = competition()
    board = board_with(make_result("acme", "a", 0.10, content="1"), make_result("zeta", "z", 0.30, content="2"),
                       make_result("base", "identity", 0.2, content="3", baseline=True),
                       make_result("beta", "b", 0.30, content="4"))
    mine = make_result("new", "n", 0.25, content="5")
    place = standing(mine, board)
    with_me, _ = add_result(board, mine, pr=9, commit=COMMIT)
    row = next(r for r in rank_track(with_me, comp, "ink", now=BEFORE) if r.entry.team == "new")
    assert place["rank"] == row.rank == 2 and place["of"] == 4
    assert place["leader"] == 0.10 and place["best_baseline"] == 0.2
    # Equal values share a rank in both: 0.30 ranks like the two entries at 0.30.
    assert standing(make_result("new", "n", 0.30, content="5"), board)["rank"] == 2


def test_metric_order_is_ranking_then_declared_then_by_name():
    from evaluator.leaderboard import metric_order

    assert metric_order(["psnr", "zeta", "ssim", "alpha"], "ssim", ("ssim", "psnr")) == ["ssim", "psnr", "alpha",
                                                                                         "zeta"]
    assert metric_order({"fid": 1, "kid": 2}, "kid") == ["kid", "fid"]


# --- plausible values (issue 14.6) -------------------------------------------------------

def test_values_outside_a_metrics_range_are_refused_with_a_code(tmp_path, comp_file):
    from evaluator.metrics import METRICS

    assert METRICS["ssim"].value_range == (-1.0, 1.0) and METRICS["fid"].value_range[0] == 0.0
    board = board_with(make_result("acme", "a", 0.1))
    cases = [make_result("zeta", "z", 1e308, content="2", second=5.0),                   # kid far too large
             make_result("zeta", "z", 0.1, content="2", second=-3.0),                    # negative FID
             make_result("zeta", "z", 0.9, ci=(0.8, 1.2), track="sketch", content="2")]  # ssim interval above 1
    for result in cases:
        with pytest.raises(EaselError) as err:
            add_result(board, result, pr=2, commit=COMMIT)
        assert err.value.code == "E_RESULT_RANGE" and err.value.detail.startswith("metrics.")
    path = tmp_path / "lb.yaml"
    save_leaderboard(path, board)
    before = path.read_bytes()
    result = write_json(tmp_path / "r.json", cases[0])
    assert cli_main(["leaderboard", "add", str(result), "--pr", "2", "--commit", COMMIT, "--leaderboard", str(path),
                     "--competition", str(comp_file)]) == 3
    assert path.read_bytes() == before


def cli_main(argv):
    from evaluator import cli as easel

    return easel.main(argv)


# --- local trials (issue 16.4) ---------------------------------------------------------

def test_add_without_pr_and_commit_is_a_local_trial(tmp_path, comp_file, capsys):
    board_path = tmp_path / "leaderboard.yaml"
    result = write_json(tmp_path / "result.json", make_result("acme", "inkgan", 0.1))
    base = ["leaderboard", "add", str(result), "--leaderboard", str(board_path), "--competition", str(comp_file)]
    assert cli(base) == 0
    assert "as a local trial" in capsys.readouterr().out
    entry = load_leaderboard(board_path).entries[0]
    assert (entry.local, entry.pr, entry.commit) == (True, None, None)
    with pytest.raises(EaselError) as err:
        cli(base + ["--pr", "3"])  # half a binding is a mistake, not a local trial
    assert err.value.code == "E_RESULT_BINDING" and err.value.detail == "commit"
    # The merged version of the same files gets its PR and commit and is no longer local.
    newer = write_json(tmp_path / "result.json", make_result("acme", "inkgan", 0.09, created="2026-01-11T00:00:00Z"))
    assert cli(["leaderboard", "add", str(newer), "--pr", "3", "--commit", COMMIT, "--leaderboard", str(board_path),
                "--competition", str(comp_file)]) == 0
    entry = load_leaderboard(board_path).entries[0]
    assert (entry.local, entry.pr, entry.commit) == (False, 3, COMMIT)


# --- oracle rows (issue 17.1) -------------------------------------------------------------

def test_oracle_row_is_stored_marked_and_never_ranked():
    from evaluator.report import standing

    comp = competition()
    oracle = make_result("oracle", "ideal", 0.001, ci=(0.0005, 0.002), content="9", baseline=True)
    board = board_with(make_result("acme", "a", 0.10, ci=(0.08, 0.12), content="1"), oracle,
                       make_result("base", "identity", 0.3, content="3", baseline=True))
    assert [e.oracle for e in board.entries] == [False, True, False]
    rows = rank_track(board, comp, "ink", now=BEFORE)
    got = {r.entry.team: (r.rank, r.leader, r.tied, r.team_best) for r in rows}
    assert got["oracle"] == (None, False, False, False) and got["acme"] == (1, True, False, True)
    place = standing(make_result("zeta", "z", 0.05, content="4"), board)
    assert place == {"rank": 1, "of": 2, "leader": 0.10, "best_baseline": 0.3}  # the oracle is neither
    assert "oracle" in show_table(board, comp, "ink", now=BEFORE)
    for team, model, baseline in (("oracle", "other", True), ("oracle", "ideal", False)):
        with pytest.raises(EaselError) as err:
            add_result(board, make_result(team, model, 0.1, content="5", baseline=baseline), pr=1, commit=COMMIT)
        assert err.value.code == "E_RESULT_BINDING" and err.value.detail == "submission.team"


# --- final selection (issue 15.4) ----------------------------------------------------------

def test_final_entries_limit_is_read_from_competition_yaml():
    assert competition().limits.final_entries == 2
    raw = json.loads(json.dumps(COMPETITION_RAW))
    raw["limits"] = {"final_entries": 1}
    assert parse_competition(raw).limits.final_entries == 1
    raw["limits"] = {"final_entries": 0}
    with pytest.raises(EaselError, match="limits.final_entries"):
        parse_competition(raw)


def test_more_final_marks_than_allowed_are_refused():
    comp = competition()
    board = empty_board()
    for i in range(2):
        board, _ = add_result(board, make_result("acme", f"m{i}", 0.1 + i / 10, content=str(i)), pr=1,
                              commit=COMMIT, competition=comp, final=True)
    with pytest.raises(EaselError) as err:
        add_result(board, make_result("acme", "m2", 0.5, content="2"), pr=1, commit=COMMIT, competition=comp,
                   final=True)
    assert err.value.code == "E_FINAL_LIMIT" and err.value.detail == "acme/ink"
    # Re-adding one of the marked entries is not a third mark; another track has its own limit.
    board, _ = add_result(board, make_result("acme", "m1", 0.15, content="1", created="2026-01-11T00:00:00Z"),
                          pr=1, commit=COMMIT, competition=comp, final=True)
    add_result(board, make_result("acme", "s", 0.5, track="sketch", content="3"), pr=1, commit=COMMIT,
               competition=comp, final=True)


def _private_dir(tmp_path, results):
    folder = tmp_path / "private"
    folder.mkdir(exist_ok=True)
    for i, r in enumerate(results):
        write_json(folder / f"{i}.json", r)
    return folder


def test_private_ranking_uses_only_each_teams_final_entries(tmp_path, capsys):
    comp = competition()  # final_entries: 2
    board = empty_board()
    # acme: three entries, marks a1 final. zeta: three entries, marks none, so its latest two count.
    specs = [("acme", "a1", 0.30, True), ("acme", "a2", 0.10, False), ("acme", "a3", 0.11, False),
             ("zeta", "z1", 0.12, False), ("zeta", "z2", 0.20, False), ("zeta", "z3", 0.25, False)]
    for day, (team, model, value, final) in enumerate(specs, start=1):
        board, _ = add_result(board, make_result(team, model, value, content=str(day)), pr=day, commit=COMMIT,
                              now=dt.datetime(2027, 1, day, tzinfo=UTC), competition=comp, final=final)
    private = _private_dir(tmp_path, [make_result(t, m, v, content=str(day), split="private")
                                      for day, (t, m, v, _) in enumerate(specs, start=1)])
    revealed, changed = reveal(board, private, comp, now=AFTER)
    assert changed == 3  # a1, z2, z3
    assert "not among the team's final entries" in capsys.readouterr().err
    assert {e.model for e in revealed.entries if e.private} == {"a1", "z2", "z3"}
    rows = rank_track(revealed, comp, "ink", now=AFTER)
    ranked = [(r.entry.model, r.rank) for r in rows if r.rank]
    assert ranked == [("z2", 1), ("z3", 2), ("a1", 3)]  # a2 (0.10) and z1 (0.12) did not count
    assert [r.entry.model for r in rows if not r.selected] == ["a2", "a3", "z1"]  # listed last, unranked
    # Public ranking before the deadline still lists every entry.
    assert len([r for r in rank_track(revealed, comp, "ink", now=BEFORE) if r.rank]) == 6


def test_reveal_refuses_a_team_over_the_final_limit(tmp_path):
    raw = json.loads(json.dumps(COMPETITION_RAW))
    raw["limits"] = {"final_entries": 1}
    comp = parse_competition(raw)
    board = empty_board()
    for i in range(2):  # recorded while the limit was 2
        board, _ = add_result(board, make_result("acme", f"m{i}", 0.1, content=str(i)), pr=1, commit=COMMIT,
                              final=True)
    with pytest.raises(EaselError) as err:
        reveal(board, _private_dir(tmp_path, []), comp, now=AFTER)
    assert err.value.code == "E_FINAL_LIMIT" and "at most 1" in err.value.message


# --- re-scoring (issue 15.7) and reveal records (issue 15.6) -------------------------------

def _scored(result, version):
    result["evaluator"]["version"] = version
    return result


def test_rescoring_keeps_history_and_never_ranks_two_scorings_together(tmp_path, comp_file, capsys):
    comp = competition()
    board = board_with(make_result("acme", "a", 0.10, content="1"), make_result("zeta", "z", 0.20, content="2"))
    # The real backbone replaces the stand-in: refused as a plain add, accepted as a re-score.
    rescored = make_result("zeta", "z", 0.30, content="2", weights="9", standin=False,
                           created="2026-01-20T00:00:00Z")
    with pytest.raises(EaselError) as err:
        add_result(board, rescored, pr=None, commit=None)
    assert err.value.code == "E_RESULT_BACKBONE" and err.value.detail == "backbone.weights_sha256"
    board, changed = add_result(board, rescored, pr=None, commit=None, rescore=True)
    zeta = board.entries[1].to_json()
    assert changed and zeta["public"]["metrics"]["kid"]["value"] == 0.30 and zeta["pr"] == 11
    assert [(h["backbone"]["weights_sha256"], h["metrics"]["kid"]["value"]) for h in zeta["history"]] == \
        [("b" * 64, 0.20)]
    rows = {r.entry.team: r for r in rank_track(board, comp, "ink", now=BEFORE)}
    # zeta's is now the current scoring: it ranks alone; acme waits for its re-score.
    assert (rows["zeta"].rank, rows["zeta"].leader, rows["acme"].rank, rows["acme"].needs_rescoring) == \
        (1, True, None, True)
    assert "needs re-scoring" in show_table(board, comp, "ink", now=BEFORE)

    # acme's merged files, found by their content hash for the rescore workflow.
    folder = tmp_path / "submissions" / "acme" / "a"
    folder.mkdir(parents=True)
    (folder / "submission.yaml").write_text("team: acme\n", encoding="utf-8")
    board = dataclasses.replace(board, entries=(dataclasses.replace(board.entries[0], content_sha256=tree_sha256(folder)),
                                                *board.entries[1:]))
    path = tmp_path / "lb.yaml"
    save_leaderboard(path, board)
    args = ["leaderboard", "rescore-list", "--leaderboard", str(path), "--competition", str(comp_file)]
    assert cli(args + ["--search", str(tmp_path / "submissions")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"ink\tacme/a\t{folder.as_posix()}\t{tree_sha256(folder)}\tnot scored like the track's "
                     "current entries"]
    assert cli(args + ["--json", "--evaluator", "9.9.9"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(i["team"], i["evaluator"], i["dir"]) for i in listed] == [("acme", "0.1.0", None), ("zeta", "0.1.0", None)]
    assert "evaluator 0.1.0 != 9.9.9" in listed[1]["reason"]
    assert cli(args + ["--weights-sha256", "9" * 64, "--track", "sketch"]) == 0
    assert capsys.readouterr().out == ""


def test_newer_evaluator_version_starts_a_new_scoring_and_older_is_refused():
    comp = competition()
    board = board_with(_scored(make_result("acme", "a", 0.10, content="1"), "0.9.0"),
                       _scored(make_result("zeta", "z", 0.20, content="2"), "0.9.0"))
    board, _ = add_result(board, _scored(make_result("beta", "b", 0.15, content="3"), "0.10.0"), pr=5, commit=COMMIT)
    rows = [(r.entry.team, r.rank, r.needs_rescoring) for r in rank_track(board, comp, "ink", now=BEFORE)]
    assert rows == [("beta", 1, False), ("acme", None, True), ("zeta", None, True)]
    with pytest.raises(EaselError) as err:
        add_result(board, _scored(make_result("eta", "e", 0.1, content="4"), "0.9.5"), pr=6, commit=COMMIT)
    assert err.value.code == "E_RESULT_BACKBONE" and err.value.detail == "evaluator"


def test_reveal_records_when_and_by_which_evaluator_and_is_idempotent(tmp_path, comp_file):
    board_path = tmp_path / "lb.yaml"
    save_leaderboard(board_path, board_with(make_result("acme", "a", 0.1, content="1")))
    private = _private_dir(tmp_path, [make_result("acme", "a", 0.2, content="1", split="private")])
    raw = json.loads(json.dumps(COMPETITION_RAW))
    raw["phases"][1]["ends"] = "2020-01-01T00:00:00Z"
    raw["phases"][0]["ends"] = "2019-01-01T00:00:00Z"
    comp_file.write_text(yaml.safe_dump(raw), encoding="utf-8")
    argv = ["leaderboard", "reveal", "--private-results", str(private), "--leaderboard", str(board_path),
            "--competition", str(comp_file)]
    assert cli(argv) == 0
    board = load_leaderboard(board_path)
    assert board.revealed.evaluator == "0.1.0" and board.entries[0].private.evaluator == "0.1.0"
    first = board_path.read_bytes()
    assert first.decode().endswith(f"revealed: {{at: '{board.revealed.at}', evaluator: 0.1.0}}\n")
    assert cli(argv) == 0
    assert board_path.read_bytes() == first  # nothing changed, not even the time of the reveal


# --- format compatibility -----------------------------------------------------------------

def test_files_written_before_the_new_keys_still_load(tmp_path):
    board = board_with(make_result("acme", "a", 0.1))
    raw = yaml.safe_load(dump_leaderboard(board))
    for entry in raw["entries"]:
        for key in ("oracle", "final", "local", "history"):
            del entry[key]
        del entry["public"]["evaluator"]
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    entry = load_leaderboard(path).entries[0].to_json()
    assert (entry["oracle"], entry["final"], entry["local"], entry["history"]) == (False, False, False, [])
    assert entry["public"]["evaluator"] is None
    # An old entry has no recorded version: a new result is a newer scoring, and the old one needs re-scoring.
    rows = rank_track(add_result(load_leaderboard(path), make_result("zeta", "z", 0.2, content="2"), pr=2,
                                 commit=COMMIT)[0], competition(), "ink", now=BEFORE)
    assert [(r.entry.team, r.rank, r.needs_rescoring) for r in rows] == [("zeta", 1, False), ("acme", None, True)]
