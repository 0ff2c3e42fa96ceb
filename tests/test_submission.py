"""submission.yaml schema and file hygiene (static: nothing here loads a model)."""

import os
from pathlib import Path

import pytest
import yaml

from evaluator.config import load_competition
from evaluator.submission import check_tree, parse_meta, validate_submission

REPO = Path(__file__).resolve().parent.parent
GOOD = {
    "team": "acme", "name": "inkgan", "track": "photo2ink", "authors": ["Ada"],
    "description": "A generator.", "license": "MIT", "links": {"code": "https://example.org/x"},
    "model": {"format": "keras", "path": "model.keras"},
}


@pytest.fixture(scope="module")
def competition():
    return load_competition(REPO / "competition.yaml")


def codes(problems):
    return sorted(p.code for p in problems)


def test_good_meta_parses():
    meta, problems = parse_meta(dict(GOOD))
    assert problems == [] and meta.key == "acme/inkgan" and meta.format == "keras"


@pytest.mark.parametrize("change, code", [
    ({"team": "Acme Corp"}, "E_META_NAME"),
    ({"name": "../../etc"}, "E_META_NAME"),
    ({"model": {"format": "pickle", "path": "m.pkl"}}, "E_FORMAT"),
    ({"model": {"format": "keras", "path": "../outside.keras"}}, "E_PATH_ESCAPE"),
    ({"model": {"format": "keras", "path": "/etc/passwd"}}, "E_PATH_ESCAPE"),
    ({"model": {"format": "keras", "url": "http://insecure/x", "sha256": "0" * 64}}, "E_META_SCHEMA"),
    ({"model": {"format": "keras", "url": "https://x/y.keras"}}, "E_META_SCHEMA"),
    ({"links": {"home": "javascript:alert(1)"}}, "E_META_SCHEMA"),
    ({"description": "x" * 5000}, "E_META_SCHEMA"),
    ({"extra_key": 1}, "E_META_SCHEMA"),
])
def test_bad_meta_gets_its_code(change, code):
    raw = {**GOOD, **change}
    meta, problems = parse_meta(raw)
    assert meta is None and code in codes(problems)


def test_every_missing_key_is_listed():
    meta, problems = parse_meta({"team": "acme"})
    assert meta is None
    assert {p.detail for p in problems} == {"authors", "description", "license", "model", "name", "track"}


def _write_submission(root: Path, meta: dict, model_bytes: bytes = b"PK\x03\x04") -> Path:
    sub = root / "submissions" / meta["team"] / meta["name"]
    sub.mkdir(parents=True)
    (sub / "submission.yaml").write_text(yaml.safe_dump(meta))
    (sub / "model.keras").write_bytes(model_bytes)
    return sub


def test_tree_hygiene(tmp_path, competition):
    sub = _write_submission(tmp_path, GOOD)
    (tmp_path / "secret").mkdir()
    os.symlink(tmp_path / "secret", sub / "data")
    os.link(sub / "model.keras", sub / "copy.keras")
    (sub / "big.bin").write_bytes(b"x" * 1024)
    (sub / "lfs.bin").write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n")
    os.mkfifo(sub / "fifo")
    from dataclasses import replace

    limits = replace(competition.limits, max_model_mb=0.0005, max_files=3)
    found = codes(check_tree(sub, limits))
    assert found == sorted(["E_SYMLINK", "E_HARDLINK", "E_HARDLINK", "E_LFS_POINTER", "E_SPECIAL_FILE",
                            "E_SIZE", "E_FILE_COUNT"])


def test_validate_lists_problems_and_never_touches_a_model_behind_a_symlink(tmp_path, competition):
    sub = _write_submission(tmp_path, {**GOOD, "track": "nosuchtrack"})
    os.symlink("/etc/passwd", sub / "passwd")
    v = validate_submission(sub, competition, probe=False)
    assert not v.ok
    assert codes(v.problems) == ["E_SYMLINK", "E_TRACK_UNKNOWN"]
    assert v.model_path is None


def test_directory_must_match_names(tmp_path, competition):
    sub = _write_submission(tmp_path, GOOD)
    moved = sub.parent / "othername"
    sub.rename(moved)
    v = validate_submission(moved, competition, probe=False)
    assert "E_META_DIR" in codes(v.problems)


def test_yaml_alias_bomb_and_size_cap(tmp_path, competition):
    sub = _write_submission(tmp_path, GOOD)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" \
           "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    (sub / "submission.yaml").write_text(bomb)
    assert codes(validate_submission(sub, competition, probe=False).problems) == ["E_META_ALIAS"]
    (sub / "submission.yaml").write_text("description: " + "x" * 70000 + "\n")
    assert codes(validate_submission(sub, competition, probe=False).problems) == ["E_META_SIZE"]
    (sub / "submission.yaml").write_text("team: [unclosed\n")
    assert codes(validate_submission(sub, competition, probe=False).problems) == ["E_YAML_SYNTAX"]


def _lambda_keras(path: Path) -> Path:
    import keras
    from keras import layers

    inp = keras.Input((None, None, 3))
    keras.Model(inp, layers.Lambda(lambda t: t * 2.0)(inp)).save(path)
    return path


def test_validate_lists_four_independent_problems_in_one_run(tmp_path, capsys):
    """Issue 16.2: a misspelled key, an ftp link, a wrong track and a Lambda layer, all at once."""
    from evaluator.cli import main as easel

    meta = {k: v for k, v in GOOD.items() if k != "license"}
    meta.update(licence="MIT", links={"paper": "ftp://example.org/paper.pdf"}, track="photo2paint")
    sub = tmp_path / "submissions" / "acme" / "inkgan"
    sub.mkdir(parents=True)
    (sub / "submission.yaml").write_text(yaml.safe_dump(meta))
    _lambda_keras(sub / "model.keras")
    code = easel(["validate", str(sub), "--no-probe", "--competition", str(REPO / "competition.yaml")])
    out = capsys.readouterr().out
    assert code == 2
    for expected in ("E_META_SCHEMA [licence]", "did you mean 'license'", "E_META_SCHEMA [license]",
                     "E_META_SCHEMA [links.paper]", "E_TRACK_UNKNOWN", "E_KERAS_LAYER [Lambda]"):
        assert expected in out, out
    assert out.count("fix: ") == 5


def test_messages_name_the_fact(tmp_path, competition):
    sub = _write_submission(tmp_path, {**GOOD, "track": "nosuchtrack",
                                       "model": {"format": "keras", "path": "models/gen.keras"}})
    moved = sub.parent / "othername"
    sub.rename(moved)
    problems = {p.code: p for p in validate_submission(moved, competition, probe=False).problems}
    assert "submissions/acme/inkgan/" in problems["E_META_DIR"].message
    assert "submissions/acme/othername/" in problems["E_META_DIR"].message
    assert problems["E_META_DIR"].detail == "submissions/acme/inkgan"
    valid = ", ".join(t.id for t in competition.tracks)
    assert valid in problems["E_TRACK_UNKNOWN"].message
    assert problems["E_TRACK_UNKNOWN"].detail == "tracks:" + "/".join(t.id for t in competition.tracks)
    assert "models/gen.keras" in problems["E_MODEL_MISSING"].message
    assert problems["E_MODEL_MISSING"].detail == "models/gen.keras"


def test_format_keras_pointing_at_a_saved_model_folder(tmp_path, competition):
    sub = _write_submission(tmp_path, {**GOOD, "model": {"format": "keras", "path": "exported"}})
    (sub / "exported").mkdir()
    (sub / "exported" / "saved_model.pb").write_bytes(b"\x08\x01")
    problems = validate_submission(sub, competition, probe=False).problems
    assert [(p.code, p.detail) for p in problems] == [("E_FORMAT_MISMATCH", "format:saved_model")]
    assert "format: saved_model" in problems[0].message


def test_url_models_follow_the_competition_allowlist(tmp_path, competition, monkeypatch):
    monkeypatch.delenv("EASEL_ALLOW_INSECURE_MODEL_URL_FOR_TESTS", raising=False)
    url_meta = {**GOOD, "model": {"format": "keras", "url": "https://models.example.org/m.keras",
                                  "sha256": "0" * 64}}
    sub = _write_submission(tmp_path, url_meta)
    assert competition.limits.model_url_hosts == ()
    assert codes(validate_submission(sub, competition, probe=False).problems) == ["E_MODEL_URL_OFF"]
    from dataclasses import replace

    other = replace(competition, limits=replace(competition.limits, model_url_hosts=("hf.example.net",)))
    assert codes(validate_submission(sub, other, probe=False).problems) == ["E_MODEL_URL_HOST"]


def test_final_flag_is_optional_and_boolean():
    assert parse_meta({**GOOD, "final": True})[0].final is True
    assert parse_meta(dict(GOOD))[0].final is False
    assert codes(parse_meta({**GOOD, "final": "yes"})[1]) == ["E_META_SCHEMA"]
