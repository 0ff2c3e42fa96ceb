"""The PR comment as a reader sees it: rendered by GitHub's own CommonMark + GFM engine (cmark-gfm).

Every kind of comment is rendered to HTML and read back as text: no stray
backslashes or entities, identifiers whole inside code spans, the warning alert
holding only its own text, tables parsed as tables, hostile strings inert.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from evaluator.config import default_competition_path, load_competition
from evaluator.errors import CODES, EaselError, error_dict
from evaluator.report import MARKER, code, md
from evaluator.result import new_result
from test_report import board, ok_result, render_doc

# Tags a comment may produce; anything else would be HTML that came through the Markdown.
ALLOWED_TAGS = {"h2", "p", "strong", "em", "code", "table", "thead", "tbody", "tr", "th", "td", "ul", "li",
                "blockquote", "br", "details", "summary"}  # details: the metric descriptions, folded


def render(markdown: str) -> str:
    """HTML as GitHub would make it; UNSAFE so that any raw HTML in the comment shows up in the check."""
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


class Page(HTMLParser):
    """The rendered comment as a reader meets it: text (in and out of code), tags, tables, alerts."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.comments: list[str] = []
        self.text: list[str] = []         # every visible text piece
        self.prose: list[str] = []        # visible text outside <code>
        self.codes: list[str] = []        # the text of each <code>
        self.tables: list[list[list[str]]] = []
        self.blockquotes: list[str] = []
        self.links: list[str] = []
        self._stack: list[str] = []
        self._code: list[str] | None = None
        self._cell: list[str] | None = None
        self._quote: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._stack.append(tag)
        if tag == "a":
            self.links.append(dict(attrs).get("href", ""))
        elif tag == "code":
            self._code = []
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "blockquote":
            self._quote = []

    def handle_endtag(self, tag):
        if self._stack and self._stack[-1] == tag:
            self._stack.pop()
        if tag == "code" and self._code is not None:
            self.codes.append("".join(self._code))
            self._code = None
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "blockquote" and self._quote is not None:
            self.blockquotes.append(" ".join("".join(self._quote).split()))
            self._quote = None

    def handle_data(self, data):
        self.text.append(data)
        for sink in (self._code, self._cell, self._quote):
            if sink is not None:
                sink.append(data)
        if self._code is None:
            self.prose.append(data)

    def handle_comment(self, data):
        self.comments.append(data)

    @property
    def visible(self) -> str:
        return "".join(self.text)


def read(comment: str, verbatim: str = "") -> Page:
    """Render and check; ``verbatim``: a hostile value expected shown as-is inside a code span."""
    assert comment.startswith(MARKER)
    page = Page(render(comment))
    visible, prose = page.visible, "".join(page.prose)
    if verbatim:
        assert verbatim in page.codes
        visible = visible.replace(verbatim, "")
    assert "\\" not in visible, f"stray backslash: {visible!r}"
    assert not re.search(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);", visible), f"entity shown as text: {visible!r}"
    assert set(page.tags) <= ALLOWED_TAGS, set(page.tags) - ALLOWED_TAGS
    assert page.comments == [MARKER[4:-3]]
    assert page.links == [], page.links
    assert not re.search(r"@\w", prose), "a GitHub @mention outside code"
    for table in page.tables:
        assert len({len(row) for row in table}) == 1, f"ragged table: {table}"
    return page


def alerts(page: Page) -> list[str]:
    return [q for q in page.blockquotes if q.startswith("[!")]


def test_scored_comment_reads_cleanly():
    page = read(render_doc(ok_result(offline=False), head_sha="f" * 40))
    [metrics] = page.tables
    assert metrics[0] == ["metric", "value", "95% interval", "direction", "n"]
    assert metrics[1][:3] == ["kid (ranking)", "0.05", "[0.04, 0.06]"]
    assert "inception_v3_random_seed0" in page.codes and "f" * 40 in page.codes
    assert "photo2ink" in page.codes and "acme/inkgan" in page.codes
    assert alerts(page) == []


def test_stand_in_backbone_alert_holds_only_its_own_text():
    page = read(render_doc(ok_result(offline=True)))
    [alert] = alerts(page)
    assert alert.startswith("[!WARNING] Offline stand-in backbone inception_v3_random_seed0:")
    assert alert.endswith("never with published scores.")
    assert "Dataset" not in alert and "Easel" not in alert
    assert "inception_v3_random_seed0" in page.codes  # whole, no backslashes
    # The footer lines follow the alert as their own paragraph.
    assert "Backbone inception_v3_random_seed0 (weights sha256 cccccccccccc, resize clean)" in " ".join(
        page.visible.split())


@pytest.mark.parametrize("kind", ["leader", "tied", "behind", "baseline"])
def test_standing_comments_read_cleanly(kind):
    lb = board(("zeta", "a", 0.052, False), ("eta", "b", 0.08, False), ("baseline", "color_transfer", 0.2, True))
    kid = {"leader": 0.03, "tied": 0.055, "behind": 0.09, "baseline": 0.1}[kind]
    result = ok_result(kid=kid, offline=False, baseline=kind == "baseline",
                       team="baseline" if kind == "baseline" else "acme")
    page = read(render_doc(result, leaderboard=lb))
    text = " ".join(page.visible.split())
    if kind != "baseline":
        rank = {"leader": 1, "tied": 2, "behind": 3}[kind]
        assert f"Would rank #{rank} of 3" in text
    assert re.search(r"Difference from the (leader|best baseline): [+-]\d", text)
    assert "kid" in page.codes


def test_memorization_flag_reads_cleanly():
    r = ok_result(offline=False)
    r["extra"] = {"memorization_distance": 0.001, "memorization_reference": 0.2,
                  "memorization_ratio": 0.005, "memorized": True}
    page = read(render_doc(r))
    text = " ".join(page.visible.split())
    assert "Memorization flag: outputs are near-copies of training style images" in text
    assert "0.005 times as close" in text


def invalid(*errors, status="invalid"):
    r = new_result(status)
    r["submission"] = {"team": "acme", "model": "inkgan", "track": "photo2ink", "baseline": False,
                       "format": "keras", "content_sha256": None}
    r["track"] = {"id": "photo2ink", "kind": "unpaired", "ranking": {"metric": "kid", "order": "asc"}}
    r["errors"] = list(errors)
    return r


def _produced(fn, *args) -> dict:
    """The result.json form of the error a real producer raises on bad input."""
    with pytest.raises(EaselError) as info:
        fn(*args)
    return info.value.as_dict()


def test_invalid_submission_lists_codes_details_and_fixes():
    from evaluator.models import check_input_shapes
    from evaluator.models.keras_format import check_config

    lambda_model = {"module": "keras", "class_name": "Functional", "registered_name": None, "config": {
        "layers": [{"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
                    "config": {"name": "lambda_1"}}]}}
    page = read(render_doc(invalid(_produced(check_config, lambda_model),
                                       _produced(check_input_shapes, [(None, 40, 40, 3)], 1, 32),
                                       error_dict("E_MODEL_MISSING", "model.path"))))
    [table] = page.tables
    assert table[0] == ["code", "problem", "how to fix"]
    codes = [row[0] for row in table[1:]]
    assert codes == ["E_KERAS_LAYER", "E_SIGNATURE", "E_MODEL_MISSING"]
    assert {"E_KERAS_LAYER", "E_SIGNATURE", "Lambda", "lambda_1", "model.path"} <= set(page.codes)
    problems = {row[0]: " ".join(row[1].split()) for row in table[1:]}
    # The producers' typed facts, as each code's sentence (evaluator/error_text.py).
    assert "input 0 is fixed at 40 px; this track feeds 32 px images" in problems["E_SIGNATURE"]
    assert "layer lambda_1 is a Keras layer class Lambda" in problems["E_KERAS_LAYER"]
    assert "model.path" in problems["E_MODEL_MISSING"]


def test_every_error_code_renders_cleanly():
    """Every fixed sentence and hint: backticked commands stay code, no escapes or raw tags shown."""
    page = read(render_doc(invalid(*(error_dict(c, "x_1") for c in CODES))))
    [table] = page.tables
    assert len(table) == len(CODES) + 1
    assert "easel weights fetch" in page.codes  # from E_BACKBONE's hint, as code
    assert "Run easel weights fetch on a machine" in " ".join(page.visible.split())  # spaces around code kept
    assert any("submissions/<team>/<model>/" in c or "<team>" in c for c in page.codes + page.prose)


def test_data_fault_comment():
    page = read(render_doc(invalid(error_dict("E_DATA_MANIFEST", "test/A/0003.png"), status="error")))
    text = " ".join(page.visible.split())
    assert "Evaluation error" in text
    assert "test/A/0003.png" in page.codes


@pytest.mark.parametrize("hostile", [
    "<img src=x onerror=alert(1)>", "[x](javascript:alert(1))", "@admin", "http://evil.example/x",
    "www.evil.example", "a@b.example", "`code` | pipe", "**bold** _em_ #1", "&#x27;&amp;", "line\nbreak",
    "\\` backslash", "<!-- x -->",
])
def test_hostile_strings_stay_inert(hostile):
    """A forged result.json: its messages and hints are ignored, an unsafe detail dropped, the version refused."""
    r = invalid({"code": "E_KERAS_LAYER", "message": hostile, "hint": hostile, "detail": hostile[:120]},
                {"code": "E_NOT_A_CODE", "message": hostile, "hint": hostile, "detail": hostile[:120]})
    page = read(render_doc(r))
    [table] = page.tables
    assert [row[0] for row in table[1:]] == ["E_KERAS_LAYER", "E_NOT_A_CODE"]
    assert table[2][1:] == ["Unknown error code.", "Contact the organizers."]
    for cell in (cell for row in table for cell in row if hostile in cell):
        assert hostile in page.codes  # an allowlisted identifier such as a URL: shown, as code only
    for forged in (r, ok_result(offline=True)):
        forged["evaluator"]["version"] = hostile[:40]
        with pytest.raises(EaselError) as info:
            render_doc(forged)
        assert info.value.code == "E_RESULT_SCHEMA" and info.value.detail == "evaluator.version"


@pytest.mark.parametrize("value", ["<!-- easel:evaluations {} -->", "<!-- easel:score-comment -->", "a<!--b",
                                   "x --> y", "<!DOCTYPE", "`<!--`"])
def test_no_value_forms_an_html_comment_in_the_source(value):
    """Code spans and plain text alike: the source never holds ``<!`` or ``-->`` from a value, the reader
    still sees the value (the word joiner is invisible)."""
    for rendered in (code(value), md(value), code(value, cell=True)):
        assert "<!" not in rendered and "-->" not in rendered
    assert [c.replace("\u2060", "") for c in Page(render(code(value))).codes] == [value]
    assert Page(render(md(value))).visible.replace("\u2060", "").strip() == value


def test_organizer_track_title_is_text(tmp_path):
    src = tmp_path / "competition.yaml"
    text = default_competition_path().read_text(encoding="utf-8")
    src.write_text(text.replace("title: Photo to ink", 'title: "<b>Ink</b> @ops www.x.example `t` #2"', 1))
    page = read(render_doc(ok_result(offline=False), load_competition(src)))
    assert "(<b>Ink</b> @ops www.x.example `t` #2)" in " ".join(page.visible.split()).replace("\u2060", "")


@pytest.mark.parametrize("value, shown", [("a_b", "a_b"), ("a`b", "a`b"), ("`x`", "`x`"), ("a``b`", "a``b`"),
                                          ("x | y", "x | y")])
def test_code_spans_show_any_text_verbatim(value, shown):
    assert Page(render(code(value))).codes == [shown]
    cell = Page(render(f"| h |\n| --- |\n| {code(value, cell=True)} |\n"))
    assert cell.codes == [shown] and cell.tables == [[["h"], [shown]]]


GALLERY = "https://github.com/acme-org/comp/actions/runs/123456/artifacts/789"


@pytest.mark.parametrize("url, linked", [
    (GALLERY, True),
    ("https://github.com/acme-org/comp/actions/runs/1/artifacts/2)[x](javascript:alert(1)", False),
    ("javascript:alert(1)", False),
    ("https://evil.example/acme-org/comp/actions/runs/1/artifacts/2", False),
    ("", False),
])
def test_gallery_link_is_one_click_and_only_an_actions_artifact(url, linked):
    comment = render_doc(ok_result(offline=False), gallery_url=url)
    page = Page(render(comment))
    assert page.links == ([url] if linked else [])
    assert ("Your model on the showcase images" in page.visible) is linked


def test_gallery_link_belongs_to_the_server_the_cli_passed_not_to_the_environment(monkeypatch):
    """The server comes in as an argument (``Settings.server_url``, read at the CLI edge); the renderer
    reads no environment, and a server value that is not a plain http(s) origin counts as github.com."""
    monkeypatch.setenv("GITHUB_SERVER_URL", "http://github.localhost:8080")
    local = "http://github.localhost:8080/o/r/actions/runs/1/artifacts/2"
    assert Page(render(render_doc(ok_result(offline=False), gallery_url=local))).links == []
    assert Page(render(render_doc(ok_result(offline=False), gallery_url=local,
                                  server_url="http://github.localhost:8080"))).links == [local]
    assert Page(render(render_doc(ok_result(offline=False), gallery_url=GALLERY,
                                  server_url="http://github.localhost:8080"))).links == []
    assert Page(render(render_doc(ok_result(offline=False), gallery_url=GALLERY,
                                  server_url="javascript:alert(1)//"))).links == [GALLERY]
