"""Sandboxed inference: round trip, isolation, output validation, hostile frames.

Child spawns are costly (~3-4 s of TensorFlow import each), so one real child
serves many assertions; the protocol's defences are tested against tiny fake
children that never import TensorFlow.
"""

from __future__ import annotations

import os
import signal
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from evaluator.config import Limits
from evaluator.errors import EaselError
from evaluator.sandbox import monitor as sandbox_module
from evaluator.sandbox import SandboxedModel, check_signature, validate_output
from evaluator.sandbox.cgroup import ENV_PARENT, MemoryCgroup

SIZE = 32


def _keras_model(path: Path) -> int:
    import keras

    keras.utils.set_random_seed(1)
    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    out = keras.layers.Conv2D(3, 3, padding="same", activation="tanh")(x)
    model = keras.Model(inp, out)
    model.save(path)
    return int(model.count_params())


def _inputs(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n, SIZE, SIZE, 3)).astype(np.float32)


# --- output validation and signature (pure functions, no child) ---------------------------

def test_validate_output_codes_and_clip_rule():
    shape = (2, SIZE, SIZE, 3)
    good = np.zeros(shape, np.float32)
    good[0, 0, 0] = [1.0005, -1.0009, 0.25]  # inside the 1e-3 margin: clipped silently
    out = validate_output(good, shape)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[0, 0, 0], np.float32([1.0, -1.0, 0.25]))
    np.testing.assert_array_equal(out[1], good[1])

    cases = [
        (np.zeros((1, SIZE, SIZE, 3), np.float32), "E_PRED_SHAPE"),          # batch changed
        (np.zeros((2, SIZE, SIZE, 1), np.float32), "E_PRED_SHAPE"),          # channels
        (np.zeros((2, SIZE * 2, SIZE * 2, 3), np.float32), "E_PRED_SHAPE"),  # size
        (np.zeros(shape, np.float64), "E_PRED_DTYPE"),
        (np.zeros(shape, np.float16), "E_PRED_DTYPE"),
        (np.full(shape, np.nan, np.float32), "E_PRED_NONFINITE"),
        (np.full(shape, np.inf, np.float32), "E_PRED_NONFINITE"),
        (np.full(shape, 1.002, np.float32), "E_PRED_RANGE"),
        (np.full(shape, -1.5, np.float32), "E_PRED_RANGE"),
    ]
    for array, code in cases:
        with pytest.raises(EaselError) as info:
            validate_output(array, shape)
        assert info.value.code == code, (array.shape, array.dtype)
        assert info.value.detail is not None  # an allowlisted identifier the report may show
    with pytest.raises(EaselError) as info:
        validate_output(np.full(shape, np.nan, np.float32), shape)
    assert info.value.detail == "nan"


def test_check_signature():
    check_signature([[None, None, None, 3]], 1, SIZE)
    check_signature([[None, SIZE, SIZE, 3], [None, None, None, 3]], 2, SIZE)
    for shapes, n in [([[None, None, None, 3]], 2),          # example track needs two inputs
                      ([[1, None, None, 3]], 1),              # fixed batch
                      ([[None, 64, 64, 3]], 1),               # another image size
                      ([[None, None, None, 1]], 1),           # grayscale
                      ([[None, None, 3]], 1)]:                # not NHWC
        with pytest.raises(EaselError) as info:
            check_signature(shapes, n, SIZE)
        assert info.value.code == ("E_SIGNATURE_BATCH" if shapes[0][0] == 1 else "E_SIGNATURE")


# --- one real child: round trip, isolation, efficiency, a crash ---------------------------

def test_round_trip_isolation_efficiency_and_crash(tmp_path, monkeypatch):
    from evaluator.models import load_model

    model_path = tmp_path / "gen.keras"
    parameters = _keras_model(model_path)
    data = tmp_path / "data"  # stands for the hidden data dir: 0700 tree owned by the runner
    data.mkdir()
    (data / "target.png").write_bytes(b"secret")
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_secret")
    monkeypatch.setenv("EASEL_DATA", str(data))
    root = os.geteuid() == 0

    local = load_model("keras", model_path)
    batches = [_inputs(5, 1), _inputs(3, 2)]
    with SandboxedModel(model_path, "keras", 1, SIZE, Limits(timeout_s=120), batch_size=4) as model:
        for batch in batches:
            out = model.predict([batch])
            expected = np.clip(np.asarray(local([batch])), -1, 1)
            assert out.dtype == np.float32 and out.shape == batch.shape
            np.testing.assert_array_equal(out, expected)  # bit-exact: same loader, same threads

        iso = model.isolation
        for key in ("env_scrubbed", "model_copied", "new_session", "rlimits", "no_new_privs", "rss_watchdog"):
            assert iso[key], key
        if root:  # both work on this machine when run as root
            assert iso["uid_dropped"] and iso["netns"]
        assert iso["memory_cgroup"] == _cgroup_available()

        seen = model.ping([str(data / "target.png"), str(model_path)])
        assert "GITHUB_TOKEN" not in seen["env"] and "EASEL_DATA" not in seen["env"]
        assert not any(k.startswith(("GITHUB", "EASEL", "RUNNER", "ACTIONS")) for k in seen["env"])
        assert Path(seen["cwd"]).name == "work" and seen["cwd"] != os.getcwd()
        if root:
            assert seen["uid"] == 65534 and seen["gid"] == 65534 and seen["groups"] == []
            assert seen["readable"][str(data / "target.png")] is False
            assert seen["readable"][str(model_path)] is False  # only its own copy
            assert seen["net"] == ["lo"]

        eff = model.efficiency([_inputs(4, 3)])
        assert eff["best_batch_size"] in (1, 4)
        assert set(eff["throughput"]) == {1, 4}
        assert eff["images_per_s"] == max(eff["throughput"].values()) > 0
        assert eff["latency_ms_batch1"] > 0
        assert eff["parameters"] == parameters == model.parameters
        assert eff["model_bytes"] == model_path.stat().st_size

        pid = model.pid
        os.kill(pid, signal.SIGSEGV)
        with pytest.raises(EaselError) as info:
            model.predict([batches[0]])
        assert info.value.code == "E_CRASH" and info.value.detail == "SIGSEGV"
    assert not model.alive and not Path(f"/proc/{pid}").exists()
    assert isinstance(model.stderr_tail, str)


def test_weights_that_do_not_load(tmp_path, capfd):
    import keras

    good = tmp_path / "good.keras"
    _keras_model(good)
    other = tmp_path / "other.keras"  # same layers, other widths: well-formed HDF5 of the wrong shapes
    inp = keras.Input((None, None, 3))
    keras.Model(inp, keras.layers.Conv2D(3, 3, padding="same", activation="tanh")(
        keras.layers.Conv2D(5, 3, padding="same", activation="relu")(inp))).save(other)
    bad = tmp_path / "bad.keras"
    # Same config (the static checks pass), weights of another shape: only loading can tell.
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(other) as alt, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, alt.read(item.filename) if item.filename.endswith(".h5") else src.read(item))
    with pytest.raises(EaselError) as info:
        with SandboxedModel(bad, "keras", 1, SIZE, Limits(timeout_s=120)):
            pass
    assert info.value.code == "E_MODEL_LOAD"
    assert "sandbox: the model did not load (E_MODEL_LOAD): " in capfd.readouterr().err  # the loader's reason


# --- the protocol against hostile children (no TensorFlow: ~0.2 s each) ------------------

_FAKE_PRELUDE = """
import json, os, struct, sys, numpy as np
from evaluator.sandbox.protocol import Channel, encode_frame
ch = Channel(0, 1)
cfg, _ = ch.recv()
def raw(b):
    os.write(1, b)
"""

_FAKES = {
    "garbage_hello": ("raw(b'HELLO I AM A MODEL' * 10)", "E_CRASH"),
    "exits_early": ("sys.exit(3)", "E_CRASH"),
    "huge_array": ("""
ch.send({"ok": True, "n_inputs": 1, "input_shapes": [[None, None, None, 3]], "parameters": 1})
ch.recv()
head = json.dumps({"ok": True, "arrays": [10 ** 10]}).encode()
raw(b"EZL1" + struct.pack(">I", len(head)) + head)
import time; time.sleep(30)
""", "E_PRED_SHAPE"),
    "pickled_output": ("""
import io
ch.send({"ok": True, "n_inputs": 1, "input_shapes": [[None, None, None, 3]], "parameters": 1})
ch.recv()
buf = io.BytesIO(); np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
blob = buf.getvalue()
head = json.dumps({"ok": True, "arrays": [len(blob)]}).encode()
raw(b"EZL1" + struct.pack(">I", len(head)) + head + blob)
import time; time.sleep(30)
""", "E_CRASH"),
    "claims_evaluator_error": ('ch.send({"error": "E_INTERNAL", "detail": "x"})', "E_CRASH"),
    "silent": ("import time; time.sleep(60)", "E_TIMEOUT"),
}


def test_load_failure_reason_goes_to_the_operator_log_only(tmp_path, monkeypatch, capfd):
    body = """
ch.send({"error": "E_MODEL_LOAD", "detail": "ValueError",
         "reason": "ValueError: bad weights\\n::set-output name=x::pwned\\x1b[31m" + "x" * 1000})
"""
    monkeypatch.setattr(SandboxedModel, "_child_cmd", ("-c", _FAKE_PRELUDE + textwrap.dedent(body)))
    model_path = tmp_path / "m.keras"
    model_path.write_bytes(b"not read by the fake child")
    with pytest.raises(EaselError) as info:
        with SandboxedModel(model_path, "keras", 1, SIZE, Limits(timeout_s=30)):
            pass
    assert info.value.code == "E_MODEL_LOAD" and info.value.detail == "ValueError"
    assert "bad weights" not in str(info.value.as_dict())  # never into result.json or the comment
    lines = [ln for ln in capfd.readouterr().err.splitlines() if "did not load" in ln]
    assert len(lines) == 1 and lines[0].startswith("sandbox: the model did not load (E_MODEL_LOAD): ValueError: bad")
    assert "\x1b" not in lines[0] and len(lines[0]) < 500  # one line, no control characters


@pytest.mark.parametrize("name", sorted(_FAKES))
def test_hostile_child_frames(name, tmp_path, monkeypatch):
    body, code = _FAKES[name]
    monkeypatch.setattr(SandboxedModel, "_child_cmd", ("-c", _FAKE_PRELUDE + textwrap.dedent(body)))
    model_path = tmp_path / "m.keras"
    model_path.write_bytes(b"not read by the fake child")
    limits = Limits(timeout_s=2.0 if name == "silent" else 30.0)
    sandbox = SandboxedModel(model_path, "keras", 1, SIZE, limits)
    with pytest.raises(EaselError) as info:
        with sandbox:
            pass
    assert info.value.code == code
    assert not sandbox.alive and not Path(f"/proc/{sandbox.pid}").exists()


# --- the kernel-enforced memory limit ---------------------------------------------------

def _cgroup_available() -> bool:
    probe = MemoryCgroup.create(64 << 20)
    if probe is not None:
        probe.close()
    return probe is not None


def test_memory_cgroup_kills_a_fast_allocation_without_the_watchdog(tmp_path, monkeypatch):
    if not _cgroup_available():
        pytest.skip("no writable memory cgroup here (needs root and a v1 memory hierarchy or v2 delegation)")
    monkeypatch.setattr(sandbox_module.RssWatchdog, "run", lambda self: None)  # the kernel alone
    body = """
ch.send({"ok": True, "n_inputs": 1, "input_shapes": [[None, None, None, 3]], "parameters": 1})
ch.recv()
hog = bytearray(1 << 30)  # touched in one go: far past the limit before any poll could see it
import time; time.sleep(30)
"""
    monkeypatch.setattr(SandboxedModel, "_child_cmd", ("-c", _FAKE_PRELUDE + textwrap.dedent(body)))
    model_path = tmp_path / "m.keras"
    model_path.write_bytes(b"not read by the fake child")
    sandbox = SandboxedModel(model_path, "keras", 1, SIZE, Limits(timeout_s=60, memory_mb=256))
    with pytest.raises(EaselError) as info:
        with sandbox:
            pass
    assert info.value.code == "E_OOM"
    assert sandbox.isolation["memory_cgroup"] and not sandbox.isolation["rlimits"]
    assert not sandbox._cgroup.path.exists()  # removed once the child is gone


def test_memory_cgroup_files_v2_and_v1(tmp_path, monkeypatch):
    """The files each cgroup version uses, on plain directories laid out like a delegated cgroup."""
    parent = tmp_path / "delegated"
    parent.mkdir()
    (parent / "cgroup.controllers").write_text("cpu memory pids\n")
    (parent / "cgroup.subtree_control").write_text("pids\n")
    monkeypatch.setenv(ENV_PARENT, str(parent))
    assert MemoryCgroup.create(1 << 30) is None  # memory not enabled for children: no limit possible
    (parent / "cgroup.subtree_control").write_text("memory pids\n")
    group = MemoryCgroup.create(1 << 30)
    assert group is not None and group.version == 2 and group.path.parent == parent
    assert (group.path / "memory.max").read_text() == str(1 << 30)
    assert (group.path / "memory.swap.max").read_text() == "0"
    (group.path / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 0\n")
    assert not group.oom_killed()
    (group.path / "memory.events").write_text("low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n")
    (group.path / "memory.peak").write_text("123456\n")
    assert group.oom_killed() and group.peak_bytes() == 123456

    v1 = tmp_path / "v1"
    v1.mkdir()
    (v1 / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    monkeypatch.setenv(ENV_PARENT, str(v1))
    group = MemoryCgroup.create(1 << 28)
    assert group.version == 1 and (group.path / "memory.limit_in_bytes").read_text() == str(1 << 28)
    (group.path / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    (group.path / "memory.max_usage_in_bytes").write_text("268435456\n")
    assert group.oom_killed() and group.peak_bytes() == 1 << 28
    (group.path / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\n")  # before 4.13
    (group.path / "memory.failcnt").write_text("0\n")
    assert not group.oom_killed()
    monkeypatch.setenv(ENV_PARENT, str(tmp_path / "absent"))
    assert MemoryCgroup.create(1 << 28) is None
