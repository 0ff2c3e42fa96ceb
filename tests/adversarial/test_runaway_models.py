"""Runaway models: each is refused with its own code, and the parent lives on.

Every model here passes the static check (built-in Keras layers and ops, standard ONNX ops):
what makes it hostile only shows when it runs, which is what the sandbox is for.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from evaluator.config import Limits
from evaluator.errors import EaselError
from evaluator.sandbox import SandboxedModel
from model_builders import batch_truncating_model, huge_memory_model, nan_model, never_returns_model, valid_model

SIZE = 32


def _batch(n: int) -> list[np.ndarray]:
    return [np.random.default_rng(n).uniform(-1, 1, (n, SIZE, SIZE, 3)).astype(np.float32)]


def _children_of_this_process() -> list[int]:
    me = str(os.getpid())
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == me:  # field 4 of stat: ppid
                kids.append(int(entry))
    return kids


# name -> (builder, format, limits, code); timeouts leave room for a ~4 s TensorFlow start.
CASES = {
    "nan": (nan_model, "keras", Limits(timeout_s=120), "E_PRED_NONFINITE"),
    "never_returns": (never_returns_model, "keras", Limits(timeout_s=10), "E_TIMEOUT"),
    "huge_memory": (huge_memory_model, "keras", Limits(timeout_s=120, memory_mb=1500), "E_OOM"),
    "shape_changes_with_batch": (batch_truncating_model, "onnx", Limits(timeout_s=120), "E_PRED_SHAPE"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_runaway_model_is_refused_with_its_code(name, tmp_path):
    build, fmt, limits, code = CASES[name]
    path = build(tmp_path / f"{name}.{fmt}")
    sandbox = SandboxedModel(path, fmt, 1, SIZE, limits, batch_size=8)
    started = time.monotonic()
    with pytest.raises(EaselError) as info:
        with sandbox as model:
            model.predict(_batch(8))  # the probe (batch 1) passes for the last two
    elapsed = time.monotonic() - started
    assert info.value.code == code, (info.value.message, sandbox.stderr_tail[-2000:])
    assert info.value.detail is not None
    # The child and its whole group are gone, and the parent is fine.
    assert not sandbox.alive and not Path(f"/proc/{sandbox.pid}").exists()
    if name == "never_returns":
        assert limits.timeout_s <= elapsed < limits.timeout_s + 5
    if name == "huge_memory":
        assert sandbox._watchdog.peak < (limits.memory_mb + 1024) << 20  # killed close to the limit


def test_parent_survives_and_evaluates_again(tmp_path):
    """After the refusals above (same process), a valid model still evaluates, and
    no sandbox child, zombie or temp dir is left behind."""
    path = valid_model(tmp_path / "ok.keras")
    with SandboxedModel(path, "keras", 1, SIZE, Limits(timeout_s=120), batch_size=8) as model:
        out = model.predict(_batch(8))
        assert out.shape == (8, SIZE, SIZE, 3) and np.isfinite(out).all()
        tmp = model._tmp
    assert not tmp.exists()
    leftovers = []
    for pid in _children_of_this_process():
        try:
            leftovers.append(Path(f"/proc/{pid}/cmdline").read_bytes())
        except OSError:
            pass
    assert not [c for c in leftovers if b"evaluator.sandbox.child" in c or b"bwrap" in c or b"EZL1" in c]
