"""The jobs that only talk to GitHub run with the light install: requirements/bot.txt, no TensorFlow.

evaluate.yml's gate and comment jobs and publish.yml's commit job install requirements/bot.txt and
Easel with ``--no-deps``. Their commands run here in a child interpreter where every third-party
module that bot.txt does not install is blocked, so an import of TensorFlow, Keras or ONNX anywhere on
their code paths (even a lazy one inside a handler) fails the test.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from evaluator.fsutil import atomic_write_json
from fake_github import SHA, TEAMS_YAML
from test_github_bot import bot_args
from test_leaderboard import COMMIT, COMPETITION_RAW, make_result
from test_scope import GIT_ENV, make_pr, own_folder, world  # noqa: F401 - world is a fixture

ROOT = Path(__file__).resolve().parents[1]
BOT_LOCK = ROOT / "requirements" / "bot.txt"
HEAVY = {"tensorflow", "keras", "onnx", "onnxruntime", "h5py", "scipy", "matplotlib", "jinja2"}

# A child interpreter: block every module from a distribution outside the lock, run each CLI call.
CHILD = r"""
import importlib.abc, json, sys
blocked, calls = set(json.loads(sys.argv[1])), json.loads(sys.argv[2])

class OnlyTheLightInstall(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ImportError(f"{name} is not in requirements/bot.txt")
        return None

sys.meta_path.insert(0, OnlyTheLightInstall())
from evaluator.cli import main
codes = []
for call in calls:
    if call[0] == "import":
        __import__(call[1])
        codes.append(0)
    else:
        codes.append(main(call))
print(json.dumps({"codes": codes, "modules": sorted({m.partition(".")[0] for m in sys.modules})}))
"""


def _locked_names(lock: Path) -> set[str]:
    return {m.group(1).lower() for m in re.finditer(r"^([A-Za-z0-9_.-]+)==", lock.read_text(), re.M)}


def _blocked_modules() -> set[str]:
    """Top-level import names of every installed distribution that the lock does not pin (Easel aside)."""
    locked = {n.replace("_", "-") for n in _locked_names(BOT_LOCK)} | {"easel"}
    return {module for module, dists in packages_distributions().items()
            if not any(d.lower().replace("_", "-") in locked for d in dists) and module != "evaluator"}


def _run_light(calls: list[list[str]], env_extra: dict | None = None) -> dict:
    import os

    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env_extra or {})}
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(sorted(_blocked_modules())), json.dumps(calls)],
                          capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "stderr": done.stderr}


def test_the_lock_is_hash_pinned_and_has_nothing_heavy():
    text = BOT_LOCK.read_text()
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\\n((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", text, re.M)
    assert len(pins) == len(_locked_names(BOT_LOCK)) >= 2  # every pin carries its hashes
    assert {"pygithub", "pyyaml"} <= _locked_names(BOT_LOCK)
    assert not _locked_names(BOT_LOCK) & {"tensorflow", "keras", "onnx", "onnxruntime", "h5py", "scipy"}


def test_gate_comment_and_publish_commands_import_no_tensorflow(fake, world, tmp_path):  # noqa: F811
    import yaml

    origin, runner, base = world
    head = make_pr(origin, 1, own_folder)
    fake.merged[COMMIT] = 7
    ok = atomic_write_json(tmp_path / "ok.json", make_result("acme", "inkgan", 0.1))
    comp = tmp_path / "competition.yaml"
    comp.write_text(yaml.safe_dump(COMPETITION_RAW))
    (tmp_path / "teams.yaml").write_text(TEAMS_YAML)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "submission.yaml").write_text(yaml.safe_dump({
        "team": "acme", "name": "inkgan", "track": "photo2ink", "authors": ["A"], "description": "d",
        "license": "MIT", "model": {"format": "onnx", "path": "model.onnx"}}))
    calls = [
        # evaluate.yml, gate
        bot_args(fake, "bot", "gate", "--pr", "9", "--head-sha", SHA, "--remove-label", "safe-to-evaluate"),
        ["fetch-pr", "--repo-dir", str(runner), "--pr-ref", "refs/pull/1/head", "--sha", head, "--base", base,
         "--out", str(tmp_path / "pr"), "--author", "alice", "--teams", str(tmp_path / "teams.yaml")],
        ["fetch-model", str(tmp_path / "sub"), "--out", str(tmp_path / "model-cache"),
         "--competition", str(ROOT / "competition.yaml")],
        # evaluate.yml, comment
        ["report", str(ok), "--head-sha", SHA],
        bot_args(fake, "bot", "comment", str(ok), "--pr", "7", "--head-sha", SHA, "--evaluation", "success"),
        # publish.yml, commit (.github/scripts/add-results.sh)
        ["import", "evaluator.github"], ["import", "evaluator.result"],
        bot_args(fake, "bot", "find-pr", "--commit", COMMIT),
        ["leaderboard", "add", str(ok), "--pr", "7", "--commit", COMMIT, "--leaderboard",
         str(tmp_path / "leaderboard.yaml"), "--competition", str(comp)],
    ]
    seen = _run_light(calls, GIT_ENV)
    assert seen["codes"] == [0] * len(calls), seen["stderr"]
    assert not HEAVY & set(seen["modules"]), HEAVY & set(seen["modules"])
    assert "github" in seen["modules"] and "yaml" in seen["modules"]  # the real client ran
    assert fake.requests("POST") and (tmp_path / "leaderboard.yaml").is_file()


def test_the_blocker_would_catch_an_import_of_tensorflow():
    """The child's blocker is no formality: a command path that needs TensorFlow fails under it."""
    import os

    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(sorted(_blocked_modules())),
                           json.dumps([["import", "evaluator.models.keras_format"], ["import", "tensorflow"]])],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode != 0 and "tensorflow is not in requirements/bot.txt" in done.stderr


# --- the workflows install what each job needs, from the locks -------------------------------------------

GPU_LOCK = ROOT / "requirements" / "gpu.txt"
LIGHT_JOBS = {"evaluate.yml": ("gate", "comment"), "publish.yml": ("commit",)}


def _job_runs(workflow: str, job: str) -> str:
    import yaml

    doc = yaml.safe_load((ROOT / ".github" / "workflows" / workflow).read_text())
    return "\n".join(step.get("run", "") for step in doc["jobs"][job]["steps"])


@pytest.mark.parametrize("workflow, job", [(w, j) for w, jobs in LIGHT_JOBS.items() for j in jobs])
def test_github_only_jobs_install_the_light_lock(workflow, job):
    runs = _job_runs(workflow, job)
    assert "pip install --quiet --require-hashes --no-deps -r requirements/bot.txt" in runs
    installs = re.findall(r"pip install[^\n]*", runs)
    assert all("--no-deps" in line for line in installs), installs  # nothing pulls pyproject's full list


def test_the_evaluation_job_reuses_the_prepared_environment():
    runs = _job_runs("evaluate.yml", "evaluate")
    assert ".github/scripts/prepared-env.sh requirements/gpu.txt" in runs
    assert "pip install" not in runs  # no fresh multi-GB install per run


def test_gpu_lock_pins_every_dependency_of_pyproject_within_its_bounds():
    """gpu.txt is pyproject.toml's dependencies + the gpu extra, hash-pinned: a dependency added or raised in
    pyproject.toml without rerunning tools/lock-requirements.sh fails here."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {m.group(1).lower().replace("_", "-"): m.group(2)
            for m in re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+) \\\n\s+--hash=sha256:", GPU_LOCK.read_text(), re.M)}
    wanted = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["gpu"]]
    for req in wanted:
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not in requirements/gpu.txt: rerun tools/lock-requirements.sh"
        assert req.specifier.contains(pins[name], prereleases=True), (name, pins[name], str(req.specifier))
    assert {"nvidia-cudnn-cu12", "setuptools", "wheel"} <= set(pins)  # tensorflow[and-cuda], offline -e build
    for lock in (GPU_LOCK, BOT_LOCK):
        for name in _locked_names(lock):
            assert re.search(rf"^{re.escape(name)}==\S+ \\\n\s+--hash=sha256:", lock.read_text(), re.M | re.I), name


# --- .github/scripts/prepared-env.sh: built once per lock, reused, rebuilt when a build died ---------------

FAKE_PYTHON = r"""#!/usr/bin/env bash
# Stands in for python3.11 and the venv's python: logs each call; `-m venv DIR` makes DIR/bin/python this.
echo "$0 $*" >> "$CALLS"
if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin"; cp "$FAKE" "$3/bin/python"; fi
if [ "$1" = "-c" ]; then echo py3.11; fi
if [ -n "${FAIL_INSTALL:-}" ] && [[ "$*" == *--require-hashes* ]]; then exit 1; fi
exit 0
"""


def test_prepared_env_is_built_once_per_lock_and_reused(tmp_path):
    import os

    fake = tmp_path / "python3.11"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    calls = tmp_path / "calls.log"
    lock = tmp_path / "gpu.txt"
    lock.write_text("numpy==2.4.6 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    env = {**os.environ, "EASEL_PYTHON": str(fake), "FAKE": str(fake), "CALLS": str(calls),
           "EASEL_ENV_ROOT": str(tmp_path / "envs")}

    def prepare(**extra):
        calls.write_text("")
        done = subprocess.run(["bash", str(ROOT / ".github/scripts/prepared-env.sh"), str(lock)], cwd=ROOT,
                              capture_output=True, text=True, env={**env, **extra}, timeout=60)
        return done, calls.read_text()

    done, log = prepare(FAIL_INSTALL="1")  # the first build dies halfway: nothing is marked complete
    assert done.returncode != 0
    first_env = Path(log.split("-m venv ")[1].split()[0])
    assert not (first_env / ".complete").exists()
    done, log = prepare()  # so the next job builds it again, fully
    assert done.returncode == 0 and done.stdout.strip() == str(first_env)
    assert "--require-hashes --no-deps -r " + str(lock) in log and "pip check" in log
    assert "--no-deps --no-index --no-build-isolation -e ." in log
    done, log = prepare()  # warm: only this checkout's Easel goes in, offline
    assert done.stdout.strip() == str(first_env) and "reusing" in done.stderr
    assert "-m venv" not in log and "--require-hashes" not in log and "--no-index --no-build-isolation -e ." in log
    lock.write_text(lock.read_text().replace("2.4.6", "2.4.7"))  # a new lock: a new environment beside it
    done, log = prepare()
    assert done.returncode == 0 and done.stdout.strip() != str(first_env) and "-m venv" in log
