"""Following the documentation leaves the repository clean: whatever its commands write is git-ignored."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from harness import REPO

DOCS = ("README.md", "baselines/README.md", "Makefile")
# `--out PATH`, `--comment PATH`, `--samples PATH`, `--gallery PATH` in a documented command line.
OUTPUT_OPTION = re.compile(r"--(?:out|comment|samples|gallery)[ =]([^\s`'\"&;|)]+)")
FILE_SUFFIX = re.compile(r"\.(json|md|png|csv|yaml)$")


def documented_outputs(text: str) -> list[str]:
    """Relative output paths of the commands in ``text`` (placeholders and absolute paths left out)."""
    paths = []
    for path in OUTPUT_OPTION.findall(text):
        if path.startswith(("/", "$", "~")) or "<" in path or path.isupper() or path.startswith("-"):
            continue
        paths.append(path.rstrip(".,"))
    return paths


def ignored(paths: list[str]) -> set[str]:
    """The paths git ignores here (directories are asked with a trailing slash, as they will exist)."""
    asked = {p if FILE_SUFFIX.search(p) else p.rstrip("/") + "/": p for p in paths}
    run = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], cwd=REPO, input="\n".join(asked),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode in (0, 1), run.stderr
    return {asked[line] for line in run.stdout.splitlines()}


@pytest.fixture(scope="module")
def git_checkout():
    if shutil.which("git") is None or subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=REPO,
                                                     capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")


def test_participant_local_evaluation_writes_under_one_scratch_folder():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## For participants"):readme.index("## For organizers")]
    outputs = documented_outputs(section)
    assert len(outputs) >= 3, outputs  # dataset, result.json, comment
    assert {p.split("/")[0] for p in outputs} == {"scratch"}, outputs


def test_everything_the_documented_commands_write_is_ignored(git_checkout):
    outputs = sorted({p for doc in DOCS for p in documented_outputs((REPO / doc).read_text(encoding="utf-8"))})
    assert "scratch/result.json" in outputs and "demo-out" in outputs, outputs
    assert set(outputs) - ignored(outputs) == set()


def test_test_artifacts_and_old_step_outputs_are_ignored(git_checkout):
    paths = ["test-artifacts/site/track-390.png", "result.json", "comment.md", "dev-data", "scratch"]
    assert ignored(paths) == set(paths)
    assert ignored(["submissions/acme/inkgan/submission.yaml", "evaluator/cli.py"]) == set()


def test_output_paths_are_found():
    text = "`easel data synth --out scratch/dev-data && easel evaluate x --out=r.json --comment c.md`, --out /srv/d"
    assert documented_outputs(text) == ["scratch/dev-data", "r.json", "c.md"]


def _pinned(requirement_lines, name: str) -> list[str]:
    """The versions pinned with ``name==VERSION`` among requirement strings (PEP 508 or a pip lock's lines)."""
    pin = re.compile(rf"^\s*{re.escape(name)}\s*==\s*([^\s;\\#]+)", re.I)
    return [m.group(1) for line in requirement_lines if (m := pin.match(line))]


def test_the_dev_extras_setuptools_is_the_bot_locks_setuptools():
    """The act tests install requirements/bot.txt offline (no index) into the test environment's packages:
    that only works when the dev extra installed exactly the lock's setuptools."""
    import tomllib

    dev = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    lock = (REPO / "requirements" / "bot.txt").read_text().splitlines()
    [dev_pin], [lock_pin] = _pinned(dev, "setuptools"), _pinned(lock, "setuptools")
    assert dev_pin == lock_pin, f"pyproject.toml [dev] pins setuptools=={dev_pin}, requirements/bot.txt {lock_pin}"


def test_pins_are_read_from_both_spellings():
    assert _pinned(["setuptools==84.2.1", "wheel"], "setuptools") == ["84.2.1"]
    assert _pinned(["setuptools==84.2.0 \\", "    --hash=sha256:00"], "setuptools") == ["84.2.0"]
    assert _pinned(["setuptools>=77"], "setuptools") == []


TEXT_SUFFIXES = (".py", ".md", ".sh", ".yml", ".yaml", ".toml", ".txt", ".html")


def test_no_tracked_file_names_a_path_of_the_machine_it_was_written_on(git_checkout):
    # A clone elsewhere has no /work or /tmp checkouts: a command or docstring naming one misleads its reader.
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    machine_path = re.compile(rb"(?<![\w.])/work/|/tmp/(?:metrics-ref|wt)/")
    found = []
    for name in filter(None, tracked.decode().split("\0")):
        path = REPO / name
        if name != "tests/test_repo_hygiene.py" and path.is_file() and path.suffix in TEXT_SUFFIXES:
            found += [f"{name}:{n}" for n, line in enumerate(path.read_bytes().splitlines(), 1)
                      if machine_path.search(line) and b" not in " not in line]  # a check for them is no use of one
    assert not found, found
