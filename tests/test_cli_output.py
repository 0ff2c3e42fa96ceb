"""What `easel` prints around its answer: quiet by default, each warning once, logs back with --verbose.

The real CLI runs in a subprocess (TensorFlow's C++ logging writes to file
descriptor 2 directly, so only a separate process shows what a user sees).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml

from evaluator.cli import _TF_STARTUP_NOISE
from harness import REPO, make_submission, small_competition
from model_builders import nan_model

# Any absl/TensorFlow C++ log line ("I0000 00:00:1796... 11927 port.cc:153] ..."), or its known texts.
TF_LOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\]")
NOISE_WORDS = ("cuInit", "absl::InitializeLog", "oneDNN", "cuda drivers", "cpu_feature_guard", "rebuild TensorFlow")
STANDIN = "OFFLINE STAND-IN"


def easel(*args: str, cache) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "EASEL_VERBOSE")}
    env.update(PYTHONPATH=str(REPO), EASEL_CACHE=str(cache))
    return subprocess.run([sys.executable, "-m", "evaluator.cli", *args], env=env, capture_output=True, text=True,
                          timeout=600, cwd=REPO)


def noise(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if TF_LOG_LINE.match(line) or any(w in line for w in NOISE_WORDS)]


@pytest.fixture(scope="module")
def standin_case(tmp_path_factory, data_root):
    """A competition on the standard backbone with no weights cached (so the stand-in warns) and a
    submission refused at its first batch (NaN outputs): TensorFlow is imported, nothing long runs."""
    root = tmp_path_factory.mktemp("quiet")
    raw = small_competition()
    raw["evaluation"]["backbone"] = "inception_fid"
    comp = root / "competition.yaml"
    comp.write_text(yaml.safe_dump(raw))
    sub = make_submission(root, nan_model)
    (root / "cache").mkdir()
    return ["evaluate", str(sub), "--data", str(data_root), "--competition", str(comp)], root


def assert_each_standin_warns_once(stderr: str) -> None:
    """One warning per offline stand-in backbone (the track's metrics may use several), never repeated."""
    warned = re.findall(r"^warning: (\S+) weights not found", stderr, re.M)
    assert warned and len(warned) == len(set(warned)), stderr
    assert stderr.count(STANDIN) == len(warned), stderr


@pytest.mark.slow
def test_evaluate_is_quiet_and_warns_once(standin_case):
    argv, root = standin_case
    run = easel(*argv, "--out", str(root / "quiet.json"), cache=root / "cache")
    assert run.returncode == 2, run.stderr  # E_PRED_NONFINITE: the submission's fault
    assert noise(run.stderr) == [], run.stderr
    assert_each_standin_warns_once(run.stderr)
    assert re.search(r"^warning: inception_fid weights not found", run.stderr, re.M), run.stderr
    assert "E_PRED_NONFINITE" in run.stderr


@pytest.mark.slow
def test_verbose_brings_the_logs_back(standin_case):
    argv, root = standin_case
    run = easel(*argv, "--out", str(root / "verbose.json"), "--verbose", cache=root / "cache")
    assert run.returncode == 2, run.stderr
    assert noise(run.stderr), "--verbose shows TensorFlow's own start-up lines"
    assert_each_standin_warns_once(run.stderr)


def test_help_and_light_commands_print_nothing_extra(tmp_path):
    run = easel("--help", cache=tmp_path)
    assert run.returncode == 0 and run.stderr == ""
    run = easel("weights", "list", cache=tmp_path)
    assert run.returncode == 0 and noise(run.stderr) == [], run.stderr


@pytest.mark.parametrize("line, hidden", [
    ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n", True),
    ("I0000 00:00:1796136991.224887   11927 port.cc:153] oneDNN custom operations are on.\n", True),
    ("I0000 00:00:1796136991.225217   11927 cudart_stub.cc:31] Could not find cuda drivers on your machine\n", True),
    ("E0000 00:00:1796136993.307656   11927 cuda_platform.cc:52] failed call to cuInit: INTERNAL\n", True),
    ("To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
     "appropriate compiler flags.\n", True),
    ("Traceback (most recent call last):\n", False),
    ("ImportError: libcudart.so.12: cannot open shared object file\n", False),
    ("warning: something of ours\n", False),
])
def test_only_tensorflow_startup_lines_are_hidden(line, hidden):
    assert bool(_TF_STARTUP_NOISE.match(line)) is hidden
