"""The static site: pages, relative links, escaping of participant text, phases, ties, samples, determinism."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import yaml
from PIL import Image

from evaluator.errors import EaselError
from evaluator.leaderboard import empty_board, reveal, save_leaderboard
from evaluator.site_build import SITE_DIR, build_site, safe_url
from evaluator.site_build.commands import register
from evaluator.vocab import SITE_MARKER as MARKER
from test_leaderboard import AFTER, BEFORE, COMPETITION_RAW, board_with, competition, make_result

HOSTILE = {
    "authors": ["<img src=x onerror=alert(1)>"],
    "description": "<script>alert(1)</script> and \"quotes\" & 'apostrophes'",
    "license": "MIT</dd><script>alert(2)</script>",
    "links": {"code": "https://example.org/acme?a=1&b=2", "evil": "javascript:alert(1)",
              "sneaky": " JaVaScRiPt:alert(3)", "data": "data:text/html,<script>alert(4)</script>",
              "\"><svg onload=alert(5)>": "https://example.org/ok"},
}


class Links(HTMLParser):
    """Collects every URL-bearing attribute, every <script> and every tag with an on* handler."""

    def __init__(self):
        super().__init__()
        self.urls, self.scripts, self.handlers, self.rows = [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("href", "src"):
            if key in attrs:
                self.urls.append((tag, attrs[key]))
        if tag == "script":
            self.scripts.append(attrs.get("src"))
        self.handlers += [(tag, k) for k in attrs if k.startswith("on")]
        if tag == "tr":
            self.rows.append(attrs.get("class") or "")


def parse(path: Path) -> Links:
    parser = Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def build(tmp_path, board, name="out", **kwargs):
    kwargs.setdefault("now", BEFORE)
    return build_site(board, competition(), tmp_path / name, progress=False, **kwargs)


def tie_board(meta=None):
    return board_with(make_result("acme", "a1", 0.10, ci=(0.08, 0.12), content="1"),
                      make_result("base", "identity", 0.11, ci=(0.05, 0.30), content="3", baseline=True),
                      make_result("zeta", "z", 0.115, ci=(0.11, 0.13), content="4"),
                      make_result("beta", "b", 0.2, ci=(0.18, 0.22), content="5", efficiency=False),
                      make_result("acme", "a2", 0.3, ci=(0.25, 0.35), content="6"),
                      make_result("sk", "s", 0.8, track="sketch", content="7", standin=False),
                      meta=meta)


def test_links_are_relative_and_resolve_and_participant_text_is_escaped(tmp_path):
    index = build(tmp_path, tie_board(meta=HOSTILE), repo_url="https://github.com/o/r")
    root = index.parent
    pages = sorted(root.rglob("*.html"))
    assert {p.relative_to(root).as_posix() for p in pages} == {
        "index.html", "tracks/ink/index.html", "tracks/sketch/index.html",
        "tracks/ink/acme--a1.html", "tracks/ink/base--identity.html", "tracks/ink/zeta--z.html",
        "tracks/ink/beta--b.html", "tracks/ink/acme--a2.html", "tracks/sketch/sk--s.html"}
    external = set()
    for page in pages:
        found = parse(page)
        assert found.handlers == [], page
        assert found.scripts == [f"{'../../' if page.parent != root else ''}static/sort.js"], page
        for tag, url in found.urls:
            parts = urlsplit(url)
            if parts.scheme:
                assert parts.scheme == "https" and tag == "a", (page, url)
                external.add(url)
                continue
            assert not url.startswith("/"), (page, url)  # root-relative links break a Pages sub-path
            if parts.path:  # "#main" (skip link) stays on the page
                assert (page.parent / parts.path).resolve().is_file(), (page, url)
    assert external == {"https://github.com/o/r/pull/10", "https://github.com/o/r/pull/12",
                        f"https://github.com/o/r/commit/{'0123456789abcdef' * 2}01234567",
                        "https://github.com/o/r/pull/13", "https://github.com/o/r/pull/14",
                        "https://github.com/o/r/pull/15", "https://github.com/o/r/pull/11",
                        "https://example.org/acme?a=1&b=2", "https://example.org/ok"}

    html = (root / "tracks/ink/acme--a1.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html and "<img src=x" not in html and "<svg onload" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    for text in ("javascript:alert(1)", "JaVaScRiPt:alert(3)"):
        assert text in html  # shown as text ...
    assert not any("javascript" in url.lower() or url.startswith("data:") for _, url in parse(
        root / "tracks/ink/acme--a1.html").urls)  # ... never as a link


def test_safe_url_accepts_only_absolute_http_links():
    assert safe_url("https://example.org/x?a=1") == "https://example.org/x?a=1"
    assert safe_url("http://example.org") == "http://example.org"
    for bad in ("javascript:alert(1)", " JAVASCRIPT:alert(1)", "java\tscript:alert(1)", "data:text/html,x",
                "//evil.example/x", "https:///nohost", "vbscript:x", "\x01https://x.org", "ftp://x.org", None, 3):
        assert safe_url(bad) is None, bad


def test_track_page_marks_ties_baselines_and_team_best(tmp_path):
    root = build(tmp_path, tie_board()).parent
    page = root / "tracks/ink/index.html"
    html = page.read_text(encoding="utf-8")
    rows = re.findall(r"<tr class=\"([^\"]*)\">\s*<td class=\"num\" data-value=\"(\d+)\">(.*?)</td>\s*<td>(\w+)</td>"
                      r"\s*<th scope=\"row\"><a href=\"[^\"]+\">(\w+)</a>", html, re.S)
    got = [(model, team, cls.split(), re.sub(r"<[^>]+>", "", rank).strip()) for cls, _, rank, team, model in rows]
    assert got == [
        ("a1", "acme", ["leader", "team-best"], "1"),
        ("identity", "base", ["baseline"], "–"),
        ("z", "zeta", ["tied"], "2"),        # [0.11, 0.13] overlaps the leader's [0.08, 0.12]
        ("b", "beta", [], "3"),              # [0.18, 0.22] does not
        ("a2", "acme", [], "4"),
    ]
    assert html.count('class="badge tied"') == 1 + 1  # the legend and zeta's row
    assert '<caption id="board-caption">' in html and 'scope="col" class="num" aria-sort="ascending"' in html
    assert '<img src="history.svg"' in html and 'alt="History of kid' in html
    assert "offline random-init stand-in backbone" in html
    # The sketch track used the real backbone: no warning there.
    assert "stand-in" not in (root / "tracks/sketch/index.html").read_text(encoding="utf-8")
    index = (root / "index.html").read_text(encoding="utf-8")
    assert "are not comparable to published numbers" in index and "published FIDs" not in index
    assert "tracks/ink/acme--a1.html" in index
    assert re.search(r'data-value="4">4 <span class="sub">\+ 1 baseline</span>', index)


def test_private_scores_appear_only_after_the_deadline(tmp_path):
    board = board_with(make_result("acme", "a", 0.10, content="1"), make_result("zeta", "z", 0.20, content="2"))
    private = tmp_path / "private"
    private.mkdir()
    for team, model, value, content in (("acme", "a", 0.4321, "1"), ("zeta", "z", 0.1234, "2")):
        (private / f"{team}.json").write_text(json.dumps(make_result(team, model, value, content=content,
                                                                     split="private")))
    board, _ = reveal(board, private, competition(), now=AFTER)
    early = build(tmp_path, board, "early", now=BEFORE).parent
    for page in early.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "0.4321" not in text and "0.1234" not in text and "Private (hidden)" not in text, page
    late = build(tmp_path, board, "late", now=AFTER).parent
    track = (late / "tracks/ink/index.html").read_text(encoding="utf-8")
    assert track.index("zeta") < track.index("acme") and "0.1234" in track
    assert "<strong>private</strong>" in track
    assert "0.4321" in (late / "tracks/ink/acme--a.html").read_text(encoding="utf-8")


def test_samples_are_copied_and_missing_ones_say_so(tmp_path):
    samples = tmp_path / "samples"
    grid = samples / "ink" / "acme" / "a1.png"
    grid.parent.mkdir(parents=True)
    Image.fromarray(np.arange(32 * 64 * 3, dtype=np.uint8).reshape(32, 64, 3)).save(grid)
    (samples / "ink" / "zeta").mkdir()
    (samples / "ink" / "zeta" / "z.png").write_bytes(b"<html>not a png</html>")
    root = build(tmp_path, tie_board(), samples_dir=samples).parent
    with_grid = (root / "tracks/ink/acme--a1.html").read_text(encoding="utf-8")
    # Shown at 4x (whole multiples up to ~512 px wide) so 64 px images stay legible.
    assert 'src="../../samples/ink/acme/a1.png" width="256" height="128"' in with_grid
    assert (root / "samples/ink/acme/a1.png").read_bytes() == grid.read_bytes()
    for page in ("zeta--z.html", "beta--b.html"):
        text = (root / "tracks/ink" / page).read_text(encoding="utf-8")
        assert "No samples" in text and "samples/ink/" not in text
    assert not (root / "samples/ink/zeta").exists()


def test_build_is_deterministic_and_replaces_only_its_own_folder(tmp_path):
    board = tie_board(meta=HOSTILE)
    one, two = build(tmp_path, board, "one").parent, build(tmp_path, board, "two").parent

    def files(root):
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    assert files(one) == files(two)
    assert b"<svg" in files(one)["tracks/ink/history.svg"]

    # Rebuilding drops pages of entries that left the board; no staging folders are left behind.
    smaller = dataclasses.replace(board, entries=tuple(e for e in board.entries if e.model != "a2"))
    build(tmp_path, smaller, "one")
    assert not (one / "tracks/ink/acme--a2.html").exists() and (one / MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]

    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(EaselError) as err:
        build(tmp_path, board, "docs")
    assert err.value.code == "E_CONFIG" and (foreign / "notes.txt").read_text() == "keep me"


def test_cli_build_and_pr_links_only_with_a_repo_url(tmp_path, monkeypatch, capsys):
    comp_file = tmp_path / "competition.yaml"
    comp_file.write_text(yaml.safe_dump(COMPETITION_RAW), encoding="utf-8")
    save_leaderboard(tmp_path / "leaderboard.yaml", tie_board())
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    monkeypatch.delenv("GITHUB_SERVER_URL", raising=False)
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    args = parser.parse_args(["site", "build", "--leaderboard", str(tmp_path / "leaderboard.yaml"),
                              "--competition", str(comp_file), "--out", str(tmp_path / "site")])
    assert args.func(args) == 0
    assert str(tmp_path / "site" / "index.html") in capsys.readouterr().out
    track = (tmp_path / "site/tracks/ink/index.html").read_text(encoding="utf-8")
    assert "#10" in track and "/pull/" not in track

    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
    monkeypatch.setenv("GITHUB_REPOSITORY", "org/cup")
    assert args.func(args) == 0
    track = (tmp_path / "site/tracks/ink/index.html").read_text(encoding="utf-8")
    assert 'href="https://github.example/org/cup/pull/10"' in track


def test_static_assets_make_no_external_requests():
    for path in (SITE_DIR / "static").iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"https?://|@import|url\(", text), path
    for path in (SITE_DIR / "templates").iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(src|href)=\"(https?:)?//", text), path


def test_empty_board_builds(tmp_path):
    index = build(tmp_path, empty_board(), now=dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc))
    assert "no entries yet" in index.read_text(encoding="utf-8")
    assert "No entries yet" in (index.parent / "tracks/ink/index.html").read_text(encoding="utf-8")


def test_entry_page_names_never_collide():
    from types import SimpleNamespace

    from evaluator.leaderboard import RankedEntry
    from evaluator.site_build import entry_page_names

    def row(team, model):  # page names read only the entry's team and model
        return RankedEntry(entry=SimpleNamespace(team=team, model=model), position=0, rank=None, split="public",
                           metrics={}, extra={}, value=None, ci95=None)

    names = entry_page_names([row("a--b", "c"), row("a", "b--c"), row("acme", "ink")])
    assert names[("acme", "ink")] == "acme--ink.html"
    assert len(set(names.values())) == 3 and all(n.startswith("a--b--c--") for k, n in names.items() if k[0] != "acme")


# --- odd values, open data, the rules on the pages (issues 12, 14.6, 15, 16.4, 17.1) ---------

def test_an_implausible_value_in_the_file_does_not_break_the_site(tmp_path, capsys):
    from evaluator.leaderboard import dump_leaderboard, load_leaderboard

    path = tmp_path / "leaderboard.yaml"
    text = dump_leaderboard(tie_board())
    assert text.count("value: 0.115\n") == 1  # zeta's ranking value
    path.write_text(text.replace("value: 0.115\n", "value: 1.0e+308\n", 1), encoding="utf-8")  # slipped in by hand
    board = load_leaderboard(path)  # finite, so the schema accepts it
    root = build(tmp_path, board).parent
    assert "outside their metric's range" in capsys.readouterr().err
    html = (root / "tracks/ink/index.html").read_text(encoding="utf-8")
    for model in ("a1", "identity", "z", "b", "a2"):
        assert f">{model}</a>" in html
    ranks = {r["model"]: (r["rank"], r["plausible"]) for r in json.loads((root / "leaderboard.json").read_text())[
        "tracks"][0]["entries"]}
    assert ranks == {"a1": (1, True), "identity": (None, True), "b": (2, True), "a2": (3, True), "z": (None, False)}
    assert "implausible value" in html and (root / "tracks/ink/history.svg").is_file()


def test_open_data_json_and_csv_hold_every_metric_interval_and_n(tmp_path):
    import csv

    root = build(tmp_path, tie_board()).parent
    doc = json.loads((root / "leaderboard.json").read_text(encoding="utf-8"))
    assert doc["schema_version"] == 1 and doc["competition"] == "Test Cup"
    ink = doc["tracks"][0]
    assert (ink["id"], ink["ranking"], ink["csv"]) == ("ink", {"metric": "kid", "order": "asc", "split": "public"},
                                                      "tracks/ink/leaderboard.csv")
    assert [(e["model"], e["rank"]) for e in ink["entries"]] == [("a1", 1), ("identity", None), ("z", 2), ("b", 3),
                                                                 ("a2", 4)]
    assert ink["entries"][0]["public"]["metrics"]["kid"] == {"value": 0.1, "ci95": [0.08, 0.12], "order": "asc",
                                                              "n": 30}
    assert ink["entries"][0]["private"] is None and ink["entries"][0]["scored_by"]["evaluator"] == "0.1.0"

    with open(root / ink["csv"], newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["model"] for r in rows] == ["a1", "identity", "z", "b", "a2"]
    first = rows[0]
    assert (first["rank"], first["kid"], first["kid_ci95_low"], first["kid_ci95_high"], first["kid_n"]) == \
        ("1", "0.1", "0.08", "0.12", "30")
    assert (first["fid"], first["fid_ci95_low"], first["fid_n"]) == ("10.0", "", "30")
    assert first["notes"] == "leader; team best" and rows[1]["notes"] == "baseline"
    assert list(rows[0])[:4] == ["position", "rank", "team", "model"]
    page = (root / "tracks/ink/index.html").read_text(encoding="utf-8")
    assert 'href="leaderboard.csv"' in page and 'href="../../leaderboard.json"' in page


def test_track_pages_explain_final_selection_and_show_oracle_local_and_scoring(tmp_path):
    from evaluator.leaderboard import add_result

    board = tie_board()
    oracle = make_result("oracle", "ideal", 0.01, ci=(0.005, 0.02), content="8", baseline=True)
    board, _ = add_result(board, oracle, pr=None, commit=None)
    local = make_result("trial", "t", 0.5, content="9")
    board, _ = add_result(board, local, pr=None, commit=None)
    root = build(tmp_path, board).parent
    page = (root / "tracks/ink/index.html").read_text(encoding="utf-8")
    assert "up to 2 entries per track" in page and "<code>final: true</code>" in page
    assert "oracle (ideal output, not ranked)" in page and 'class="badge local"' in page
    assert "Ranked entries were scored by Easel 0.1.0, backbone <code>convnet_random_seed0</code>" in page
    assert 'class="badge leader">leader</span>' in page.split("acme--a1.html")[1].split("</tr>")[0]
    entry = (root / "tracks/ink/oracle--ideal.html").read_text(encoding="utf-8")
    assert "Oracle: the ideal output (not ranked)" in entry and "Easel 0.1.0, backbone" in entry


def test_needs_rescoring_history_and_reveal_record_are_shown(tmp_path):
    from evaluator.leaderboard import add_result

    board = tie_board()
    newer = make_result("acme", "a2", 0.09, ci=(0.085, 0.095), content="6", weights="9",
                        created="2026-01-20T00:00:00Z")
    board, _ = add_result(board, newer, pr=None, commit=None, rescore=True)
    root = build(tmp_path, board, "pub").parent
    page = (root / "tracks/ink/index.html").read_text(encoding="utf-8")
    assert page.count('class="badge rescore"') == 1 + 4  # the note, and the four entries of the old scoring
    entry = (root / "tracks/ink/acme--a2.html").read_text(encoding="utf-8")
    assert "Earlier results for the same files" in entry and "0.3 [0.25, 0.35]" in entry

    private = tmp_path / "private"
    private.mkdir()
    (private / "a2.json").write_text(json.dumps(make_result("acme", "a2", 0.07, content="6", weights="9",
                                                            split="private")))
    board, changed = reveal(board, private, competition(), now=AFTER)
    late = build(tmp_path, board, "late", now=AFTER).parent
    page = (late / "tracks/ink/index.html").read_text(encoding="utf-8")
    assert changed == 1 and f"Private scores revealed <time datetime=\"{board.revealed.at}\">" in page
    assert "by Easel 0.1.0" in (late / "index.html").read_text(encoding="utf-8")
    assert json.loads((late / "leaderboard.json").read_text())["revealed"] == board.revealed.to_json()


def test_a_large_value_reads_the_same_in_the_comment_and_on_the_site(tmp_path):
    from evaluator.report import render_comment
    from evaluator.result import Result

    result = make_result("acme", "a1", 0.1, second=99999.0, content="1")
    comment = render_comment(Result.from_json(result), competition())
    root = build(tmp_path, board_with(result)).parent
    page = (root / "tracks/ink/acme--a1.html").read_text(encoding="utf-8")
    assert "| fid | 99,999 |" in comment and '<td class="num score">99,999</td>' in page
    # One metric order: the comment lists metrics as the site does.
    assert comment.index("| **kid**") < comment.index("| fid |")
