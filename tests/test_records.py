"""The typed records at the trust boundaries: result.json and the leaderboard entry read into objects and
written back unchanged, and the scoring identity compared by named fields."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from evaluator.leaderboard import Entry, ScoringIdentity, dump_leaderboard, load_leaderboard, reveal
from evaluator.result import Efficiency, Metric, Result
from test_leaderboard import AFTER, COMMIT, board_with, competition, make_result, write_json


def _full_result() -> dict:
    doc = make_result("acme", "inkgan", 0.1)
    doc["notes"] = ["output_range_0_1"]
    doc["submission"].update(pr=12, commit=COMMIT)
    doc["efficiency"]["device"] = {"kind": "gpu", "name": "NVIDIA H200", "cores": None, "tensorflow": "2.16.1",
                                   "cuda": "12.3", "cudnn": "8"}
    return doc


@pytest.mark.parametrize("doc", [make_result("acme", "inkgan", 0.1), _full_result(),
                                 make_result("acme", "inkgan", 0.1, efficiency=False)])
def test_a_result_document_round_trips_through_its_record(doc):
    record = Result.from_json(copy.deepcopy(doc))
    assert record.to_json() == doc
    assert json.dumps(record.to_json(), sort_keys=True) == json.dumps(doc, sort_keys=True)  # the file's bytes


def test_a_result_reads_as_typed_objects():
    record = Result.from_json(_full_result())
    assert record.metrics["kid"] == Metric(value=0.1, ci95=(0.09000000000000001, 0.11000000000000001),
                                           order="asc", n=30)
    assert isinstance(record.efficiency, Efficiency) and record.efficiency.parameters == 123456
    assert record.efficiency.device.label == "GPU NVIDIA H200; TensorFlow 2.16.1, CUDA 12.3, cuDNN 8"
    assert (record.submission.pr, record.submission.commit, record.track.metric) == (12, COMMIT, "kid")


def test_a_board_entry_round_trips_and_reuses_the_result_records():
    board = board_with(make_result("acme", "a", 0.1, content="1"))
    stored = board.entries[0].to_json()
    entry = Entry.from_json(stored)
    assert entry.to_json() == stored
    assert entry.public.metrics["kid"] == Result.from_json(make_result("acme", "a", 0.1)).metrics["kid"]
    assert isinstance(entry.public.efficiency, Efficiency) and entry.backbone.id == "convnet_random_seed0"


def test_scoring_identities_compare_by_named_field():
    base = ScoringIdentity.of_result(Result.from_json(make_result("acme", "a", 0.1)))
    other = ScoringIdentity.of_result(Result.from_json(make_result("acme", "a", 0.1, weights="e")))
    assert base.difference(base) is None
    assert base.difference(other) == "backbone.weights_sha256"
    assert base.difference(other, ignore_evaluator=True) == "backbone.weights_sha256"
    assert base.same_data(other) and not base.same_backbone_and_data(other)
    newer = ScoringIdentity(**{**base.__dict__, "evaluator": "9.0.0"})
    assert newer.difference(base) == "evaluator" and newer.difference(base, ignore_evaluator=True) is None
    assert newer.newer_evaluator_than(base) and not base.newer_evaluator_than(newer)


@pytest.mark.parametrize("changes, field", [({"weights": "e"}, "backbone.weights_sha256"),
                                            ({"manifest": "e"}, "dataset.manifest_sha256")])
def test_reveal_names_the_field_that_differs(tmp_path, capsys, changes, field):
    comp = competition()
    board = board_with(make_result("acme", "a", 0.1, content="1"), comp=comp)
    folder = tmp_path / "private"
    folder.mkdir()
    write_json(folder / "0.json", make_result("acme", "a", 0.2, content="1", split="private", **changes))
    _, changed = reveal(board, folder, comp, now=AFTER)
    assert changed == 0
    assert f"reveal: skipped 0.json ({field} differs from the leaderboard entry)" in capsys.readouterr().err


def test_the_board_file_is_its_own_fixed_point_through_the_records(tmp_path):
    board = board_with(make_result("acme", "a", 0.1, content="1"), make_result("zeta", "z", 0.2, content="2"))
    text = dump_leaderboard(board)
    path = tmp_path / "lb.yaml"
    path.write_text(text, encoding="utf-8")
    assert dump_leaderboard(load_leaderboard(path)) == text
    assert [Entry.from_json(e).to_json() for e in yaml.safe_load(text)["entries"]] == board.to_json()["entries"]


def test_rescore_list_names_the_field_that_differs():
    from evaluator import __version__
    from evaluator.leaderboard import add_result, rescore_list

    board = board_with(make_result("acme", "a", 0.1, content="1"), make_result("zeta", "z", 0.2, content="2"))
    board, _ = add_result(board, make_result("zeta", "z", 0.3, content="2", weights="9",
                                             created="2026-01-11T00:00:00+00:00"), pr=None, commit=None,
                          rescore=True)
    listed = {item["team"]: item for item in rescore_list(board, evaluator=__version__)}
    assert listed["acme"]["differs"] == "backbone.weights_sha256" and "zeta" not in listed


def test_the_board_holds_frozen_records_and_an_update_builds_new_ones():
    import dataclasses

    from evaluator.leaderboard import Board, add_result

    board = board_with(make_result("acme", "a", 0.1, content="1"))
    assert isinstance(board, Board) and isinstance(board.entries[0], Entry) and board.revealed is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        board.entries[0].pr = 3
    newer, changed = add_result(board, make_result("acme", "a", 0.08, content="1",
                                                   created="2026-01-12T00:00:00+00:00"), pr=None, commit=None)
    assert changed and newer is not board
    assert board.entries[0].public.metrics["kid"].value == 0.1  # the old board is untouched
    assert newer.entries[0].public.metrics["kid"].value == 0.08
    assert [h.metrics["kid"].value for h in newer.entries[0].history] == [0.1]
    assert Board.from_json(newer.to_json()) == newer
