"""The built site in a real browser (Debian's Chromium driven by Playwright), opened from disk."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evaluator.config import parse_competition
from evaluator.site_build import build_site
from harness import tool_missing
from test_leaderboard import BEFORE, COMPETITION_RAW, board_with, competition, make_result

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.browser


def _require_browser():
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "playwright is not installed"
    if reason is None and not (os.path.isfile(CHROMIUM) or shutil.which("chromium")):
        reason = "chromium is not installed (apt-get install chromium, or make browser-deps)"
    if reason:
        tool_missing(reason)
    return CHROMIUM if os.path.isfile(CHROMIUM) else shutil.which("chromium")


def _models(page):
    return page.eval_on_selector_all("#board tbody tr th[scope=row] a", "links => links.map(a => a.textContent)")


def test_site_in_chromium_from_disk(tmp_path):
    executable = _require_browser()
    from playwright.sync_api import sync_playwright

    # kid ranks (lower is better); fid (second column) orders the entries differently.
    board = board_with(make_result("acme", "a1", 0.10, ci=(0.08, 0.12), content="1", second=30.0),
                       make_result("zeta", "z", 0.115, ci=(0.11, 0.13), content="2", second=10.0),
                       make_result("base", "identity", 0.25, ci=(0.2, 0.3), content="3", second=50.0,
                                   baseline=True),
                       make_result("beta", "b", 0.2, ci=(0.18, 0.22), content="4", second=20.0),
                       meta={"authors": ["Ada"], "description": "<script>alert('x')</script>", "license": "MIT",
                             "links": {"code": "https://example.org/a1"}})
    samples = tmp_path / "samples"
    grid = samples / "ink" / "acme" / "a1.png"
    grid.parent.mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, size=(64, 128, 3), dtype=np.uint8)).save(grid)
    index = build_site(board, competition(), tmp_path / "site", samples_dir=samples, now=BEFORE, progress=False)

    errors, requests, dialogs = [], [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda r: requests.append(r.url))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

            page.goto(index.as_uri())
            assert page.title().startswith("Leaderboard")
            page.get_by_role("link", name="Ink", exact=True).click()
            page.wait_for_load_state("load")
            assert page.url.endswith("/tracks/ink/index.html")
            assert _models(page) == ["a1", "z", "b", "identity"]  # by kid, baseline placed by score
            assert page.eval_on_selector("img[src='history.svg']", "img => img.naturalWidth") > 0

            fid = page.locator("#board thead th", has=page.get_by_role("button", name="fid", exact=True))
            fid.get_by_role("button").focus()
            page.keyboard.press("Enter")
            assert _models(page) == ["z", "b", "a1", "identity"]  # fid 10, 20, 30, 50
            assert fid.get_attribute("aria-sort") == "ascending"
            page.keyboard.press("Space")
            assert _models(page) == ["identity", "a1", "b", "z"]
            assert fid.get_attribute("aria-sort") == "descending"
            team = page.locator("#board thead th", has=page.get_by_role("button", name="Team", exact=True))
            team.get_by_role("button").click()
            assert _models(page) == ["a1", "identity", "b", "z"]  # acme, base, beta, zeta
            assert team.get_attribute("aria-sort") == "ascending" and fid.get_attribute("aria-sort") is None
            page.get_by_role("button", name="Rank", exact=True).click()
            assert _models(page) == ["a1", "z", "b", "identity"]  # back to the ranking order

            page.set_viewport_size({"width": 390, "height": 844})  # a phone: the table scrolls inside its box
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            wrap = page.locator(".table-wrap").first
            assert wrap.evaluate("w => w.scrollWidth > w.clientWidth")
            page.set_viewport_size({"width": 1100, "height": 900})
            track_shot = tmp_path / "track.png"
            page.screenshot(path=str(track_shot), full_page=True)

            page.get_by_role("link", name="a1", exact=True).click()
            page.wait_for_load_state("load")
            assert page.url.endswith("/tracks/ink/acme--a1.html")
            img = page.locator("#sample-grid")
            assert img.evaluate("i => i.complete && i.naturalWidth") == 128
            assert "<script>alert('x')</script>" in page.locator(".description").inner_text()
            shot = tmp_path / "entry.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()

    assert errors == [] and dialogs == []
    outside = [url for url in requests if not url.startswith("file://")]
    assert outside == [], outside
    assert any(url.endswith("/samples/ink/acme/a1.png") for url in requests)
    print(f"screenshots: {track_shot} {shot}")
    assert Path(shot).stat().st_size > 0


# --- the site at a phone's and a laptop's width ---------------------------------------------------------

PHONE, LAPTOP = 390, 1280
DESCRIPTION = "A `ResNet` generator with **6 blocks**.\n<b>raw</b> [link](javascript:alert(1))"


def artifacts_dir(tmp_path: Path) -> Path:
    """Where screenshots are kept for a person to look at: $EASEL_ARTIFACTS, else test-artifacts/ (git-ignored)."""
    root = Path(os.environ.get("EASEL_ARTIFACTS") or Path(__file__).resolve().parent.parent / "test-artifacts")
    try:
        (root / "site").mkdir(parents=True, exist_ok=True)
        return root / "site"
    except OSError:
        return tmp_path


def _phone_site(tmp_path):
    raw = json.loads(json.dumps(COMPETITION_RAW))
    raw["description"] = "Turn photos into ink. The dev data comes from `easel data synth`."
    raw["tracks"][0]["description"] = "Woodblock ink, **unpaired** (`CycleGAN`-like)."
    comp = parse_competition(raw, "competition.yaml")
    long_team, long_model = "zeta-long-team-name-with-forty-character", "z-very-long-model-name-of-forty-chars-xx"
    board = board_with(make_result("acme", "a1", 0.10, ci=(0.08, 0.12), content="1", second=30.0),
                       make_result(long_team, long_model, 0.115, ci=(0.11, 0.13), content="2", second=10.0),
                       make_result("base", "identity", 0.25, ci=(0.2, 0.3), content="3", second=50.0, baseline=True),
                       make_result("beta", "b", 0.2, ci=(0.18, 0.22), content="4", second=20.0),
                       make_result("sk", "s1", 0.61234, ci=(0.58123, 0.64567), track="sketch", content="5"),
                       meta={"authors": ["Ada"], "description": DESCRIPTION, "license": "MIT", "links": {}})
    return build_site(board, comp, tmp_path / "site", now=BEFORE, progress=False), long_team


def _boxes(page, selector):
    """Each match's [left, right, width, height] in CSS pixels of the viewport."""
    return page.eval_on_selector_all(selector, "els => els.map(e => { const r = e.getBoundingClientRect();"
                                               " return [r.left, r.right, r.width, r.height]; })")


def _on_screen(boxes, width):
    return all(w > 0 and h > 0 and left >= 0 and right <= width for left, right, w, h in boxes)


@pytest.mark.parametrize("width", [PHONE, LAPTOP])
def test_site_reads_at_phone_and_laptop_widths(tmp_path, width):
    executable = _require_browser()
    from playwright.sync_api import sync_playwright

    index, long_team = _phone_site(tmp_path)
    shots = artifacts_dir(tmp_path)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})

            page.goto(index.as_uri())
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            for label in ("Ranked by", "Leader", "Entries", "Backbone"):  # every column's essentials, no scrolling
                cells = _boxes(page, f".tracks td[data-label='{label}']")
                assert len(cells) == 2 and _on_screen(cells, width), (label, cells)
            lead = page.locator("p.lead").first
            assert lead.locator("code").inner_text() == "easel data synth" and "`" not in lead.inner_text()
            page.screenshot(path=str(shots / f"index-{width}.png"), full_page=True)

            page.goto((index.parent / "tracks/ink/index.html").as_uri())
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            rows = page.locator("#board tbody tr")
            assert rows.count() == 4
            # Rank, team/model and the ranking score with its interval: on screen in every row.
            for selector in ("td:nth-child(1)", "th[scope=row] a", ".score", ".ci"):
                boxes = _boxes(page, f"#board tbody tr {selector}")
                assert len(boxes) == 4 and _on_screen(boxes, width), (selector, boxes)
            team_where = "th[scope=row] .team-inline" if width == PHONE else "td:nth-child(2)"
            teams = page.eval_on_selector_all(f"#board tbody tr {team_where}", "els => els.map(e => e.innerText)")
            assert [t.replace("by", "").strip() for t in teams] == ["acme", long_team, "beta", "base"]
            assert _on_screen(_boxes(page, f"#board tbody tr {team_where}"), width)
            lead = page.locator("p.lead").first
            assert lead.locator("code").inner_text() == "CycleGAN" and lead.locator("strong").inner_text() == "unpaired"
            # The cue that more columns sit to the right: shown exactly when some lie outside the table's box.
            hint = page.locator(".scroll-hint")
            box = page.locator("#board").evaluate(VISIBLE_BOX)
            outside = [name for name, *rect in page.eval_on_selector_all(
                "#board thead th", "ths => ths.map(th => { const r = th.getBoundingClientRect();"
                " return [th.querySelector('button').textContent.trim(), r.left, r.right, r.width, r.height]; })")
                if rect[2] > 0 and not _inside([rect], box)]
            assert hint.is_visible() is bool(outside)
            assert width == LAPTOP or outside  # a phone never holds the whole table
            for name in outside:
                assert name in hint.inner_text()
            page.screenshot(path=str(shots / f"track-{width}.png"), full_page=True)

            page.goto((index.parent / "tracks/ink/acme--a1.html").as_uri())
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            description = page.locator(".description")
            assert description.locator("code").inner_text() == "ResNet"
            assert description.locator("strong").inner_text() == "6 blocks"
            assert description.locator("b, a, script").count() == 0  # participant HTML and links stay text
            text = description.inner_text()
            assert "`" not in text and "**" not in text and "<b>raw</b>" in text
            page.screenshot(path=str(shots / f"entry-{width}.png"), full_page=True)
        finally:
            browser.close()
    print(f"screenshots: {shots}")


def test_open_data_links_lead_to_the_json_and_csv_a_browser_opens(tmp_path):
    """The track page's open-data links resolve to the published files; the JSON opens in the browser."""
    import csv
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    executable = _require_browser()
    from playwright.sync_api import sync_playwright

    board = board_with(make_result("acme", "a1", 0.10, ci=(0.08, 0.12), content="1"),
                       make_result("zeta", "z", 0.2, ci=(0.18, 0.22), content="2"))
    index = build_site(board, competition(), tmp_path / "site", now=BEFORE, progress=False)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto((index.parent / "tracks/ink/index.html").as_uri())
            csv_href = page.get_by_role("link", name="this track as CSV").evaluate("a => a.href")
            json_link = page.get_by_role("link", name="every track as JSON")
            json_link.click()
            page.wait_for_load_state("load")
            data = json.loads(page.locator("body").inner_text())
        finally:
            browser.close()
    assert data["schema_version"] == 1
    rows = list(csv.DictReader(open(url2pathname(urlsplit(csv_href).path), newline="", encoding="utf-8")))
    assert [(r["team"], r["model"]) for r in rows] == [("acme", "a1"), ("zeta", "z")]


# --- the real competition's tracks: every metric column, the score with its interval, captions ------------

def _real_result(team, model, track, metrics, baseline=False, content="a"):
    """An ok result for a track of the shipped competition.yaml: metrics {name: (value, ci95 | None)}."""
    import yaml

    from evaluator.metrics import METRICS

    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "competition.yaml").read_text())
    spec = next(t for t in raw["tracks"] if t["id"] == track)
    r = make_result(team, model, 0.1, content=content, baseline=baseline)
    r["submission"]["track"] = track
    r["track"] = {"id": track, "kind": spec["kind"], "ranking": spec["ranking"]}
    r["dataset"]["id"] = spec["dataset"]
    r["metrics"] = {name: {"value": v, "ci95": list(ci) if ci else None, "order": METRICS[name].order, "n": 30}
                    for name, (v, ci) in metrics.items()}
    return r


def _dev_cup_site(tmp_path):
    """The demo's board (baselines README figures): oracle rows with negative KID intervals, six metrics on
    photo2ink, and anystyle with baselines only (its index row shows the best baseline)."""
    import yaml

    def ink(kid, kci, fid, fci, cd, cs):
        return {"kid": (kid, kci), "fid": (fid, fci), "artfid": ((1 + cd) * (1 + fid), None), "mifid": (fid, None),
                "content_distance": (cd, None), "content_ssim": (cs, None)}

    def style(kid, kci, fid, fci, cd, cs):
        return {"kid": (kid, kci), "fid": (fid, fci), "artfid": ((1 + cd) * (1 + fid), None),
                "content_distance": (cd, None), "content_ssim": (cs, None)}

    results = [
        _real_result("oracle", "ideal", "photo2ink", ink(-0.008, (-0.073, 0.043), 3.02, (1.4, 6.1), 0.4666, 0.288),
                     baseline=True, content="1"),
        _real_result("baseline", "cyclegan", "photo2ink", ink(0.017, (-0.068, 0.164), 4.28, (2.0, 12.7), 0.35, 0.343),
                     baseline=True, content="2"),
        _real_result("baseline", "identity", "photo2ink", ink(3.751, (3.163, 4.46), 432.9, (364.7, 524.4), 0.0, 1.0),
                     baseline=True, content="3"),
        _real_result("acme", "inkgan", "photo2ink", ink(0.5123, (0.3012, 0.7456), 50.12, (40.1, 60.3), 0.2, 0.6),
                     content="4"),
        _real_result("oracle", "ideal", "anystyle", style(-0.057, (-0.224, 0.174), 1.94, (0.0, 31.8), 0.644, 0.41),
                     baseline=True, content="5"),
        _real_result("baseline", "color_transfer", "anystyle",
                     style(0.038, (-0.099, 0.328), 16.0, (0.71, 58.7), 0.17, 0.903), baseline=True, content="6"),
        _real_result("baseline", "identity", "anystyle", style(0.352, (0.102, 0.934), 92.1, (39.4, 162.4), 0.0, 1.0),
                     baseline=True, content="7"),
    ]
    comp = parse_competition(yaml.safe_load((Path(__file__).resolve().parents[1] / "competition.yaml").read_text()),
                             "competition.yaml")
    return build_site(board_with(*results), comp, tmp_path / "site", now=BEFORE, progress=False), comp


VISIBLE_BOX = """table => { const wrap = table.closest('.table-wrap'); const r = wrap.getBoundingClientRect();
  const left = r.left + wrap.clientLeft; return [left, left + wrap.clientWidth]; }"""


def _inside(boxes, box):
    left, right = box
    return all(w > 0 and h > 0 and bl >= left - 0.5 and br <= right + 0.5 for bl, br, w, h in boxes)


@pytest.mark.parametrize("width", [PHONE, LAPTOP])
def test_every_metric_column_is_shown_or_named_and_the_score_is_never_clipped(tmp_path, width):
    executable = _require_browser()
    from playwright.sync_api import sync_playwright

    index, comp = _dev_cup_site(tmp_path)
    shots = artifacts_dir(tmp_path)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            for track in comp.tracks:
                page.goto((index.parent / f"tracks/{track.id}/index.html").as_uri())
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                table = page.locator("#board")
                if not table.count():
                    continue  # photo2sketch: no entries
                box = table.evaluate(VISIBLE_BOX)
                # The ranking value with its interval, in every row (the oracle's long badge included),
                # lies inside the table's visible box: nothing to scroll to, nothing clipped (issue 23.7).
                for selector in (".score", ".ci"):
                    boxes = _boxes(page, f"#board tbody tr td {selector}")
                    assert len(boxes) == table.locator("tbody tr").count() and _inside(boxes, box), \
                        (track.id, selector, boxes, box)
                # Every metric column: on screen, or named by the hint above the table.
                hint = page.locator(f"[data-more-columns='board']")
                named = hint.inner_text() if hint.is_visible() else ""
                heads = page.eval_on_selector_all(
                    "#board thead th.metric", "ths => ths.map(th => { const r = th.getBoundingClientRect();"
                    " return [th.querySelector('button').textContent.trim(), r.left, r.right, r.width, r.height]; })")
                assert [h[0] for h in heads] == list(track.metrics)
                for name, *rect in heads:
                    assert _inside([rect], box) or name in named, (track.id, width, name, named)
                if width == LAPTOP:  # the ranking metric's column is always on a laptop's screen
                    assert any(_inside([rect], box) for _, *rect in heads), heads
                if named:
                    assert "More columns to the right" in named
                page.screenshot(path=str(shots / f"board-{track.id}-{width}.png"), full_page=True)
            # Scrolled to the end, the hint names the columns now to the left instead.
            page.goto((index.parent / "tracks/photo2ink/index.html").as_uri())
            page.locator(".table-wrap").first.evaluate("w => { w.scrollLeft = w.scrollWidth; }")
            page.wait_for_function("() => document.querySelector(\"[data-more-columns='board']\")"
                                   ".textContent.includes('to the left')")
            assert "Rank" in page.locator("[data-more-columns='board']").inner_text()
        finally:
            browser.close()


@pytest.mark.parametrize("width", [PHONE, LAPTOP])
def test_every_caption_shows_what_it_promises(tmp_path, width):
    executable = _require_browser()
    from playwright.sync_api import sync_playwright

    index, comp = _dev_cup_site(tmp_path)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(index.as_uri())
            caption = page.locator("#tracks-caption").inner_text()
            assert "95% interval" in caption and "best baseline" in caption
            # Each track with a score shows it with its interval, participant leader or best baseline alike.
            cells = page.eval_on_selector_all(".tracks td[data-label='Leader']", "tds => tds.map(td => "
                                              "[td.querySelector('.score')?.innerText, td.querySelector('.ci')?.innerText])")
            assert cells[0] == ["0.5123", "[0.3012, 0.7456]"]  # photo2ink: acme/inkgan leads
            assert cells[1] == [None, None]  # photo2sketch: no entries yet
            assert cells[2] == ["0.038", "[-0.099, 0.328]"]  # anystyle: the best baseline, with its interval
            boxes = _boxes(page, ".tracks td[data-label='Leader'] .ci")
            assert _on_screen(boxes, width)
            # The history chart's caption names only what the chart draws.
            page.goto((index.parent / "tracks/anystyle/index.html").as_uri())
            caption = page.locator(".chart figcaption").inner_text()
            assert "hollow diamonds" in caption and "(line)" not in caption  # baselines only, no line yet
            page.goto((index.parent / "tracks/photo2ink/index.html").as_uri())
            caption = page.locator(".chart figcaption").inner_text()
            assert "(line)" in caption and "hollow diamonds" in caption
        finally:
            browser.close()
    svg = (index.parent / "tracks/photo2ink/history.svg").read_text()
    assert svg.count("best so far") == 1  # the legend of the step line that the caption promises
