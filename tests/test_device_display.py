"""The device behind the efficiency figures: recorded by the evaluation, shown in the comment and on the site."""

from __future__ import annotations

from evaluator.report import render_comment
from evaluator.result import Result, device_label, validate_result
from test_leaderboard import board_with, competition, make_result

CPU = {"kind": "cpu", "name": "Intel(R) Xeon(R) Processor", "cores": 2, "tensorflow": "2.21.0",
       "cuda": None, "cudnn": None}
GPU = {"kind": "gpu", "name": "NVIDIA H200", "cores": None, "tensorflow": "2.21.0", "cuda": "12.5", "cudnn": "9"}


def with_device(device):
    result = make_result("acme", "inkgan", 0.1)
    result["efficiency"]["device"] = device
    return validate_result(result)


def test_device_label_names_hardware_cores_and_library_versions():
    assert device_label(CPU) == "CPU Intel(R) Xeon(R) Processor, 2 cores; TensorFlow 2.21.0"
    assert device_label(GPU) == "GPU NVIDIA H200; TensorFlow 2.21.0, CUDA 12.5, cuDNN 9"
    assert device_label(None) is None


def seen(markdown: str) -> str:
    """The comment's paragraph about efficiency as a reader sees it (rendered by cmark-gfm)."""
    from test_comment_render import Page, render

    return next(p for p in Page(render(markdown)).visible.split("\n") if "images/s" in p)


def test_comment_names_the_device_next_to_images_per_second():
    line = seen(render_comment(Result.from_json(with_device(GPU)), competition()))
    assert "measured on GPU NVIDIA H200; TensorFlow 2.21.0, CUDA 12.5, cuDNN 9): 250 images/s" in line
    assert "(evaluation runner)" in seen(render_comment(Result.from_json(make_result("a", "b", 0.1))))


def test_site_shows_the_device_on_the_entry_page_and_the_track_table(tmp_path):
    from evaluator.site_build import build_site

    board = board_with(with_device(CPU), make_result("beta", "b", 0.2, content="5"))
    entry = board.entries[0].to_json()
    assert entry["public"]["efficiency"]["device"] == device_label(CPU)
    build_site(board, competition(), tmp_path / "site", progress=False)
    pages = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "site").rglob("*.html")}
    assert any("Measured on</dt><dd>CPU Intel(R) Xeon(R) Processor, 2 cores; TensorFlow 2.21.0" in text
               for text in pages.values())
    assert any('title="measured on CPU Intel(R) Xeon(R) Processor, 2 cores; TensorFlow 2.21.0"' in text
               for text in pages.values())
