"""The PR comment: escaping, errors by code, standing on the board, loud offline backbone."""


import pytest

from evaluator.errors import EaselError, error_dict
from evaluator.leaderboard import Board
from evaluator.report import MARKER, md, render_comment, standing
from evaluator.result import Result, new_result


def render_doc(doc, *args, **kwargs):
    """The comment for a result.json document, read as every reader reads the file (``Result.from_json``)."""
    return render_comment(Result.from_json(doc), *args, **kwargs)


def ok_result(kid=0.05, team="acme", model="inkgan", offline=True, baseline=False):
    r = new_result()
    r["submission"] = {"team": team, "model": model, "track": "photo2ink", "baseline": baseline,
                       "format": "keras", "content_sha256": "a" * 64}
    r["track"] = {"id": "photo2ink", "kind": "unpaired", "ranking": {"metric": "kid", "order": "asc"}}
    r["dataset"] = {"id": "dev-ink", "manifest_sha256": "b" * 64, "n_inputs": 30}
    r["backbone"] = {"id": "inception_v3_random_seed0", "weights_sha256": "c" * 64, "resize": "clean",
                     "offline_standin": offline}
    r["metrics"] = {"kid": {"value": kid, "ci95": [kid - 0.01, kid + 0.01], "order": "asc", "n": 30},
                    "fid": {"value": 42.5, "ci95": [40.0, 45.0], "order": "asc", "n": 30}}
    r["efficiency"] = {"images_per_s": 120.0, "best_batch_size": 16, "latency_ms_batch1": 8.5,
                       "parameters": 12345, "model_bytes": 2 * 2**20}
    return r


def board(*entries):
    """A board of photo2ink entries (team, model, kid value, baseline), scored like :func:`ok_result`."""
    scored = ok_result()
    when = "2027-01-01T00:00:00Z"
    return Board.from_json({"schema": 1, "entries": [
        {"team": t, "model": m, "track": "photo2ink", "baseline": b, "pr": None, "commit": None, "added": when,
         "content_sha256": "a" * 64, "dataset": {"id": "dev-ink", "manifest_sha256": "b" * 64},
         "backbone": scored["backbone"], "meta": {"authors": [], "description": "", "license": "", "links": {}},
         "public": {"metrics": {"kid": {"value": v, "ci95": [v, v], "order": "asc", "n": 30}}, "extra": {},
                    "efficiency": None, "evaluated": when},
         "private": None}
        for t, m, v, b in entries]})


def test_metrics_table_with_intervals_arrows_and_marker():
    text = render_doc(ok_result(), head_sha="f" * 40)
    assert text.startswith(MARKER)
    assert "| **kid** (ranking) | 0.05 | [0.04, 0.06] | ↓ lower is better | 30 |" in text
    assert "| fid | 42.5 | [40, 45] | ↓ lower is better | 30 |" in text
    assert "Evaluated commit `" + "f" * 40 + "`" in text
    assert "120 images/s (batch 16)" in text and "12,345 parameters" in text


def test_offline_backbone_is_loud_and_real_backbone_is_not():
    assert "Offline stand-in backbone" in render_doc(ok_result(offline=True))
    assert "Offline stand-in backbone" not in render_doc(ok_result(offline=False))


def test_standing_rank_and_differences():
    b = board(("zeta", "a", 0.03, False), ("eta", "b", 0.08, False), ("baseline", "identity", 0.2, True),
              ("acme", "inkgan", 0.5, False))  # our own older entry is ignored
    place = standing(ok_result(kid=0.05), b)
    assert place == {"rank": 2, "of": 3, "leader": 0.03, "best_baseline": 0.2}
    text = render_doc(ok_result(kid=0.05), leaderboard=b)
    assert "Would rank #2 of 3" in text
    assert "Difference from the leader: +0.02" in text
    assert "Difference from the best baseline: -0.15" in text


def test_invalid_result_lists_errors_by_code_not_by_file_text():
    r = new_result("invalid")
    r["submission"] = ok_result()["submission"]
    err = error_dict("E_KERAS_LAYER", detail="Lambda")
    err["message"] = "<img src=x onerror=alert(1)> forged text"  # whatever the file says, we use our sentence
    r["errors"] = [err]
    text = render_doc(r)
    assert "Invalid submission" in text and "`E_KERAS_LAYER`" in text and "Lambda" in text
    assert "forged" not in text and "<img" not in text
    assert EaselError("E_KERAS_LAYER").info.hint.split()[0] in text


def test_hostile_detail_cannot_inject():
    assert md("<script>alert(1)</script>") == "&lt;script&gt;alert\\(1\\)&lt;/script&gt;"
    assert md("[x](javascript:alert(1))") == "\\[x\\]\\(javascript:alert\\(1\\)\\)"
    r = ok_result()
    r["submission"]["team"] = "<b>"  # not a safe id: the schema refuses the whole result
    with pytest.raises(EaselError) as info:
        render_doc(r)
    assert info.value.code == "E_RESULT_SCHEMA"


def test_head_sha_must_be_hex():
    with pytest.raises(EaselError):
        render_doc(ok_result(), head_sha="main; rm -rf /")


def test_memorization_flag_is_loud_only_with_the_standard_backbone():
    for offline, loud in ((False, True), (True, False)):
        r = ok_result(offline=offline)
        r["extra"] = {"memorization_distance": 0.001, "memorization_reference": 0.2,
                      "memorization_ratio": 0.005, "memorized": True}  # a result from before the rule
        text = render_doc(r)
        assert ("Memorization flag" in text) is loud
        assert ("Memorization check not meaningful" in text) is not loud
        assert ("near-copies" in text) is loud  # no claim that the outputs copy style images offline


def test_memorization_not_applied_says_mifid_equals_fid_and_claims_no_copying():
    r = ok_result(offline=True)
    r["metrics"]["mifid"] = dict(r["metrics"]["fid"]) if "fid" in r["metrics"] else \
        {"value": 4.0, "ci95": [3.0, 5.0], "order": "asc", "n": 30}
    r["extra"] = {"memorization_ratio": 0.05, "memorization_meaningful": False, "memorized": False}
    text = render_doc(r)
    assert "Memorization check not applied" in text and "equals FID" in text
    assert "Memorization flag" not in text and "near-copies" not in text and "🚩" not in text
