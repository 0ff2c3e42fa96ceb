"""The repository's docs stand alone: every relative link and every named repository file resolves,
and nothing points outside the repository (users never see ../shared or an external DESIGN.md)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Top-level entries of the repository a doc may name as `path/...`; anything else in backticks
# (scratch/, runs/, dev-data/, DATA_ROOT/...) is something the reader creates, not a file of ours.
REPO_DIRS = ("evaluator/", "docs/", "tests/", "baselines/", ".github/", "site/", "benchmarks/", "tools/",
             "submissions/", ".ci/")
ROOT_FILES = ("README.md", "Makefile", "competition.yaml", "teams.yaml", "leaderboard.yaml", "pyproject.toml")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]]*\]\(([^)\s]+)\)")
CODE = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
PROSE_MD = re.compile(r"(?<![\w/.-])[\w./-]+\.md\b")


def doc_files() -> list[Path]:
    """Every Markdown file git tracks (or would track) in the repository, outside tools' own deps."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    return sorted(ROOT / p for p in out if "node_modules" not in p and (ROOT / p).is_file())


def test_the_docs_checked_include_the_ones_users_read():
    names = {p.relative_to(ROOT).as_posix() for p in doc_files()}
    for must in ("README.md", "docs/organizers.md", "docs/design.md", "baselines/README.md",
                 "submissions/_template/README.md"):
        assert must in names


def relative_links(text: str) -> list[str]:
    targets = [a or b for a, b in LINK.findall(text)]
    return [t for t in targets if not re.match(r"^(?:[a-z][a-z0-9+.-]*:|#)", t)]


def named_files(text: str) -> list[str]:
    """Backticked names of repository files or folders (`evaluator/report.py`, `docs/runner/`, `ci.yml`)."""
    names = []
    for token in CODE.findall(FENCE.sub("", text)):
        token = token.strip().rstrip(".,:;")
        if re.search(r"[\s<>{}*$|\\]|\.\.\.", token) or token.startswith("-"):
            continue  # placeholders, globs, commands
        if token.startswith(REPO_DIRS) or token in ROOT_FILES or token.startswith("./"):
            names.append(token)
        elif re.fullmatch(r"[\w.-]+\.yml", token):
            names.append(f".github/workflows/{token}")  # workflows are named by file name alone
        elif re.fullmatch(r"[\w.-]+\.md", token):
            names.append(token)
    # Documents named in prose ("DESIGN.md is the map") count too, except under folders the reader makes.
    for name in PROSE_MD.findall(FENCE.sub("", text)):
        if "/" not in name or name.startswith(REPO_DIRS + ("../", "./")):
            names.append(name)
    return names


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_and_named_file_resolves(doc):
    text = doc.read_text()
    missing = []
    for target in relative_links(text):
        path = target.split("#", 1)[0]
        if path and not (doc.parent / path).exists():
            missing.append(f"link {target}")
    for name in named_files(text):
        # A name resolves from the repository root or from the doc's own folder.
        if not ((ROOT / name).exists() or (doc.parent / name).exists()):
            missing.append(f"`{name}`")
    assert not missing, f"{doc.relative_to(ROOT)} names what the repository does not hold: {missing}"


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_doc_points_outside_the_repository(doc):
    text = doc.read_text()
    assert "../shared" not in text and "/work/" not in text
    for target in relative_links(text):
        resolved = (doc.parent / target.split("#", 1)[0]).resolve()
        assert resolved == ROOT or ROOT in resolved.parents, f"{doc.relative_to(ROOT)} links {target}"


def test_the_check_would_catch_a_broken_name(tmp_path):
    # The checks above find something to check, and would fail on a dangling name.
    text = "See [the map](DESIGN.md), `evaluator/nope.py` and `nope.yml`; `scratch/x.json` is the reader's."
    assert relative_links(text) == ["DESIGN.md"]
    assert named_files(text) == ["evaluator/nope.py", ".github/workflows/nope.yml", "DESIGN.md"]
    assert named_files("DESIGN.md is the map; scratch/comment.md is yours") == ["DESIGN.md"]
    organizers = (ROOT / "docs" / "organizers.md").read_text()
    assert "design.md" in relative_links(organizers)
    assert len(named_files(organizers)) > 20
