"""result.json's schema check: the documents it accepts, and messages that name the key path."""

import copy
import json

import pytest

from evaluator.errors import EaselError
from evaluator.result import load_result, new_result, validate_result


def ok_result():
    r = new_result()
    r["submission"] = {"team": "acme", "model": "inkgan", "track": "photo2ink", "baseline": False,
                       "format": "keras", "content_sha256": "a" * 64}
    r["track"] = {"id": "photo2ink", "kind": "unpaired", "ranking": {"metric": "kid", "order": "asc"}}
    r["dataset"] = {"id": "dev-ink", "manifest_sha256": "b" * 64, "n_inputs": 30}
    r["backbone"] = {"id": "convnet_random_seed0", "weights_sha256": "c" * 64, "resize": "clean",
                     "offline_standin": True}
    r["metrics"] = {"kid": {"value": 0.05, "ci95": [0.04, 0.06], "order": "asc", "n": 30},
                    "fid": {"value": 42.5, "ci95": None, "order": "asc", "n": 30}}
    r["extra"] = {"memorized": False, "memorization_ratio": 0.9, "nothing": None}
    r["efficiency"] = {"images_per_s": 120.0, "best_batch_size": 16, "latency_ms_batch1": None,
                       "parameters": 12345, "model_bytes": 2 * 2**20}
    return r


def test_accepts_ok_invalid_and_the_optional_additions():
    assert validate_result(ok_result())["status"] == "ok"
    invalid = new_result("invalid")
    invalid["errors"] = [{"code": "E_META_SCHEMA", "message": "m", "hint": "", "detail": None}]
    validate_result(invalid)
    later = ok_result()  # keys added after schema 1 shipped: all optional
    later["notes"] = ["output_range_0_1"]
    later["submission"].update(pr=12, commit="d" * 40)
    later["efficiency"]["device"] = {"kind": "gpu", "name": "NVIDIA H200", "cores": None,
                                     "tensorflow": "2.16.1", "cuda": "12.3", "cudnn": "8"}
    validate_result(later)


def _refused(mutate) -> str:
    r = ok_result()
    mutate(r)
    with pytest.raises(EaselError) as info:
        validate_result(copy.deepcopy(r))
    assert info.value.code == "E_RESULT_SCHEMA"
    return info.value.message


@pytest.mark.parametrize("mutate, path", [
    (lambda r: r["metrics"]["fid"].update(ci95=[0.1]), "metrics.fid.ci95"),
    (lambda r: r["metrics"]["kid"].update(value=float("nan")), "metrics.kid.value"),
    (lambda r: r["metrics"].pop("kid"), "metrics"),  # the ranking metric must be there
    (lambda r: r["submission"].update(team="<b>"), "submission.team"),
    (lambda r: r["submission"].update(commit="xyz"), "submission.commit"),
    (lambda r: r["track"]["ranking"].update(order="up"), "track.ranking.order"),
    (lambda r: r["backbone"].update(resize="bilinear"), "backbone.resize"),
    (lambda r: r["extra"].update(memorized="yes"), "extra.memorized"),
    (lambda r: r.update(notes=["run_rm_rf"]), "notes[0]"),
    (lambda r: r.update(surprise=1), "surprise"),
    (lambda r: r["evaluator"].pop("seconds"), "evaluator.seconds"),
    (lambda r: r.update(created="yesterday"), "created"),
    (lambda r: r["evaluator"].update(version="<!-- easel:evaluations {} -->"), "evaluator.version"),
    (lambda r: r["evaluator"].update(version="0.1.0\n"), "evaluator.version"),
    (lambda r: r["evaluator"].update(seconds=-1.0), "evaluator.seconds"),
    (lambda r: r["submission"].update(team="acme\n"), "submission.team"),
    (lambda r: r["efficiency"].update(device={"kind": "tpu"}), "efficiency.device"),
    (lambda r: r.update(status="invalid"), "errors"),  # not ok needs at least one error
])
def test_refusals_name_the_key_path(mutate, path):
    message = _refused(mutate)
    assert message.startswith(f"result.json: {path}")


def test_load_result_refuses_non_json(tmp_path):
    path = tmp_path / "result.json"
    path.write_bytes(b"\xff\xfe not json")
    with pytest.raises(EaselError) as info:
        load_result(path)
    assert info.value.code == "E_RESULT_SCHEMA" and "(file)" in info.value.message
    path.write_text(json.dumps(ok_result()))
    assert load_result(path).metrics["kid"].value == 0.05


def test_created_may_lead_the_time_of_reading_by_the_clock_skew_only():
    import datetime as dt

    from evaluator.result import CLOCK_SKEW

    r = ok_result()
    r["created"] = "2027-01-01T00:05:00+00:00"
    read_at = dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc)
    assert CLOCK_SKEW == dt.timedelta(minutes=5)
    assert validate_result(copy.deepcopy(r), now=read_at)["created"] == r["created"]  # exactly at the edge
    with pytest.raises(EaselError) as info:
        validate_result(r, now=read_at - dt.timedelta(seconds=1))
    assert info.value.code == "E_RESULT_TIME" and info.value.message.startswith("result.json: created")
    assert "5 minutes of clock skew" in info.value.message
