"""What the sandboxed child can reach: files outside its view, memory, the device it reports.

Each case goes through the real child runner (``SandboxedModel``); the
self-test child imports no framework, so most cases take well under a second.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from evaluator.config import Limits
from evaluator.errors import EaselError
from evaluator.sandbox import SandboxedModel, bwrap
from evaluator.sandbox.launch import PACKAGE_ROOT
from harness import tool_missing

SIZE = 32


def _need_bwrap() -> None:
    if bwrap.available() is None:
        tool_missing("bubblewrap (bwrap), installed and able to create namespaces here,")


@pytest.fixture
def canary():
    """A world-readable file in a world-traversable folder of the host's /tmp (not pytest's 0700 one)."""
    folder = Path(tempfile.mkdtemp(prefix="easel-canary-", dir="/tmp"))
    folder.chmod(0o755)
    secret = folder / "secret.txt"
    secret.write_text("canary")
    secret.chmod(0o644)
    yield folder, secret
    shutil.rmtree(folder)


def _selftest(**kwargs) -> SandboxedModel:
    return SandboxedModel(Path("/nonexistent"), "keras", 1, SIZE, Limits(timeout_s=60), _selftest=True, **kwargs)


def _hidden_host_paths(secret: Path) -> list[str]:
    """Host paths the child must not see: the canary, the repository beyond evaluator/, /etc,
    and whatever /home and /root hold (except the folders leading to a bound interpreter)."""
    binds = bwrap.read_only_paths(PACKAGE_ROOT / "evaluator", gpu=False)
    on_the_way = {str(p) for b in binds for p in Path(b).parents}
    candidates = [*glob.glob("/home/*"), *glob.glob("/root/*"), *glob.glob("/root/.*")]
    extra = [p for p in candidates if p not in on_the_way and not any(b.startswith(p) for b in binds)]
    return [str(secret), str(secret.parent), "/etc/passwd", "/etc/hostname", str(PACKAGE_ROOT / "README.md"),
            str(PACKAGE_ROOT / "tests"), str(PACKAGE_ROOT / ".git"), *extra[:20]]


def test_child_cannot_list_or_read_a_world_readable_file_outside_its_view(canary):
    _need_bwrap()
    _, secret = canary
    hidden = [p for p in _hidden_host_paths(secret) if os.path.exists(p)]
    own = str(PACKAGE_ROOT / "evaluator" / "sandbox" / "child.py")
    with _selftest() as model:
        assert model.isolation["fs_isolated"] and model.isolation["pid_ipc_uts_ns"]
        seen = model.ping([*hidden, own])
    for path in hidden:
        assert seen["visible"][path] is False and seen["opened"][path] is False, path
    assert seen["opened"][own]  # the evaluator package itself is there, read-only
    assert seen["net"] == ["lo"] and Path(seen["cwd"]) == Path(bwrap.WORK_DIR)

    # The control: the same canary is readable without bubblewrap (the test can fail).
    with _selftest(isolate_fs=False) as model:
        assert model.isolation["fs_isolated"] is False
        assert model.ping([str(secret)])["opened"][str(secret)] is True


def test_hostile_model_reads_nothing_outside(canary, tmp_path):
    """A real model child (Keras, loaded as usual) sees only its own copy of the model."""
    _need_bwrap()
    from model_builders import valid_model

    _, secret = canary
    path = valid_model(tmp_path / "m.keras")
    with SandboxedModel(path, "keras", 1, SIZE, Limits(timeout_s=120)) as model:
        seen = model.ping([str(secret), str(path), f"{bwrap.MODEL_DIR}/m.keras", bwrap.MODEL_DIR])
        assert model.isolation["fs_isolated"]
    assert seen["opened"] == {str(secret): False, str(path): False, f"{bwrap.MODEL_DIR}/m.keras": True,
                              bwrap.MODEL_DIR: True}


def test_without_bwrap_the_evaluator_says_so_loudly_and_runs_as_before(monkeypatch, capfd):
    monkeypatch.setattr(bwrap, "executable", lambda: None)
    monkeypatch.setattr(bwrap, "_WARNED", set())
    bwrap.available.cache_clear()
    try:
        with _selftest() as model:
            assert model.isolation["fs_isolated"] is False and model.isolation["env_scrubbed"]
            assert model.ping([])["cwd"] != bwrap.WORK_DIR
    finally:
        bwrap.available.cache_clear()
    assert "WARNING: bubblewrap (bwrap) is not installed" in capfd.readouterr().err


def test_a_bwrap_that_cannot_build_the_sandbox_is_reported(monkeypatch, capfd):
    monkeypatch.setattr(bwrap, "executable", lambda: shutil.which("false") or "/bin/false")
    monkeypatch.setattr(bwrap, "_WARNED", set())
    bwrap.available.cache_clear()
    try:
        assert bwrap.available() is None
    finally:
        bwrap.available.cache_clear()
    assert "cannot create the sandbox's namespaces" in capfd.readouterr().err


def test_ping_after_the_uid_drop_without_bubblewrap():
    """The interpreter may live where nobody cannot read (here: a pyenv under /root, mode 0700):
    everything a request needs is imported before the drop."""
    with _selftest(isolate_fs=False) as model:
        seen = model.ping(["/"])
        assert seen["visible"]["/"] and seen["net"] == ["lo"]
        if os.geteuid() == 0:
            assert seen["uid"] == 65534 and model.isolation["uid_dropped"]


def test_cgroup_rlimits_and_uid_drop_compose_with_bubblewrap():
    _need_bwrap()
    with _selftest() as model:
        iso = model.isolation
        seen = model.ping([])
    for key in ("rlimits", "no_new_privs", "new_session", "netns", "pdeathsig", "fs_isolated"):
        assert iso[key], key
    if os.geteuid() == 0:
        assert iso["uid_dropped"] and seen["uid"] == 65534 and seen["groups"] == []
    from evaluator.sandbox.cgroup import MemoryCgroup

    probe = MemoryCgroup.create(64 << 20)
    if probe is not None:
        probe.close()
    assert iso["memory_cgroup"] == (probe is not None)


def test_bwrap_command_binds_only_what_the_child_needs(monkeypatch):
    binds = bwrap.read_only_paths(PACKAGE_ROOT / "evaluator", gpu=False)
    assert str(PACKAGE_ROOT / "evaluator") in binds or any(str(PACKAGE_ROOT).startswith(b + "/") for b in binds)
    for path in binds:
        assert path not in ("/", "/usr", "/etc", "/home", "/root", "/tmp", "/var", "/sys"), path
        assert not str(PACKAGE_ROOT).startswith(path + "/") and path != str(PACKAGE_ROOT), path  # not the repo
        assert not path.startswith("/etc/") or path == "/etc/ld.so.cache", path
    monkeypatch.setattr(bwrap, "nvidia_devices", lambda: ["/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm"])
    argv = bwrap.command("/usr/bin/bwrap", PACKAGE_ROOT / "evaluator", Path("/x/model"))
    for flag in ("--unshare-net", "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--die-with-parent"):
        assert flag in argv
    triples = list(zip(argv, argv[1:], argv[2:]))
    for node in ("/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm"):
        assert ("--dev-bind", node, node) in triples
    assert ("--ro-bind", "/x/model", bwrap.MODEL_DIR) in triples and ("--ro-bind", "/sys", "/sys") in triples
    assert argv[-2:] == ["--chdir", bwrap.WORK_DIR]


# --- allocation failures are E_OOM in every runtime -----------------------------------

def _resize_model(path: Path, scale: float) -> Path:
    """ONNX Resize by ``scale`` in H and W: at 32 px and x1000, one image is 12 GB of float32."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    spec = ["N", "H", "W", 3]
    scales = numpy_helper.from_array(np.array([1, scale, scale, 1], np.float32), "scales")
    back = numpy_helper.from_array(np.array([1, 1 / scale, 1 / scale, 1], np.float32), "back")
    graph = helper.make_graph(
        [helper.make_node("Resize", ["x", "", "scales"], ["big"], mode="nearest"),
         helper.make_node("Resize", ["big", "", "back"], ["small"], mode="nearest"),
         helper.make_node("Tanh", ["small"], ["out"])],
        "resize", [helper.make_tensor_value_info("x", TensorProto.FLOAT, spec)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, spec)], [scales, back])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_onnxruntime_allocation_failure_is_oom(tmp_path):
    if os.path.exists("/dev/nvidiactl"):
        pytest.skip("no address-space limit on a GPU host: the allocation would succeed virtually")
    path = _resize_model(tmp_path / "resize.onnx", 1000.0)
    sandbox = SandboxedModel(path, "onnx", 1, SIZE, Limits(timeout_s=120, memory_mb=1500))
    with pytest.raises(EaselError) as info:
        with sandbox:
            pass  # the probe batch (one image) already asks for 12 GB
    assert info.value.code == "E_OOM", (info.value.message, sandbox.stderr_tail[-2000:])
    assert "reported E_OOM" in info.value.message  # onnxruntime's own refusal, not a kill from outside
    assert "Failed to allocate memory" in sandbox.stderr_tail
    assert not sandbox.alive


def test_allocation_failures_of_each_runtime_map_to_oom():
    from evaluator.sandbox.child import error_frame

    class ResourceExhaustedError(Exception):  # TensorFlow's class name
        pass

    ort = RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while "
                       "running Resize node. Failed to allocate memory for requested buffer of size 12288000000")
    wrapped = ValueError("call failed")
    wrapped.__cause__ = MemoryError()
    for exc in (MemoryError(), ResourceExhaustedError("OOM when allocating tensor"), ort, wrapped,
                RuntimeError("std::bad_alloc")):
        assert error_frame(exc, "E_CRASH")["error"] == "E_OOM", exc
    frame = error_frame(ValueError("shapes do not match"), "E_MODEL_LOAD")
    assert frame == {"error": "E_MODEL_LOAD", "detail": "ValueError", "reason": "ValueError: shapes do not match"}


# --- the device record --------------------------------------------------------------------

def test_device_detected_in_the_child_and_sanitized():
    from evaluator.sandbox.device import sanitize

    with _selftest() as model:
        device = model.device
    assert device["kind"] == "cpu" and device["cuda"] is None and device["cudnn"] is None
    assert device["cores"] == len(os.sched_getaffinity(0)) and device["name"] not in ("", "unknown")
    from importlib import metadata

    assert device["tensorflow"] == metadata.version("tensorflow")

    hostile = {"kind": "tpu", "name": "<img src=x onerror=alert(1)>\n::set-output x" + "A" * 500,
               "cores": True, "tensorflow": "2.21; rm -rf /", "cuda": "12.5", "cudnn": ["9"]}
    clean = sanitize(hostile)
    assert clean == {"kind": "cpu", "name": clean["name"], "cores": None, "tensorflow": "unknown",
                     "cuda": None, "cudnn": None}
    assert len(clean["name"]) <= 64 and not set(clean["name"]) & set("<>=\n;")
    assert sanitize({"kind": "gpu", "name": "NVIDIA H200", "cores": 16, "tensorflow": "2.21.0",
                     "cuda": "12.5.1", "cudnn": "9"}) == {
        "kind": "gpu", "name": "NVIDIA H200", "cores": None, "tensorflow": "2.21.0", "cuda": "12.5.1", "cudnn": "9"}
    assert sanitize("garbage")["kind"] == "cpu"


def test_require_gpu_refuses_a_cpu_child():
    from evaluator.sandbox.device import require_gpu

    cpu = {"kind": "cpu", "name": "x", "cores": 2, "tensorflow": "2.21.0", "cuda": None, "cudnn": None}
    with pytest.raises(EaselError) as info:
        require_gpu("keras", cpu)
    assert info.value.code == "E_NO_GPU" and info.value.exit_code == 3
    require_gpu("onnx", cpu)  # onnxruntime runs on the CPU by design
    require_gpu("saved_model", {**cpu, "kind": "gpu"})


def test_result_schema_takes_the_device_as_an_optional_key():
    from evaluator.result import new_result, validate_result

    result = new_result()
    result["efficiency"] = {"images_per_s": 1.0, "best_batch_size": 1, "latency_ms_batch1": 1.0,
                            "parameters": 1, "model_bytes": 1}
    validate_result(result)  # older results, without a device, still validate
    result["efficiency"]["device"] = {"kind": "gpu", "name": "NVIDIA H200", "cores": None,
                                      "tensorflow": "2.21.0", "cuda": "12.5.1", "cudnn": "9"}
    validate_result(result)
    for key, bad in (("kind", "tpu"), ("name", "<b>"), ("cores", True), ("cuda", "12;5"), ("tensorflow", None)):
        broken = {**result, "efficiency": {**result["efficiency"],
                                           "device": {**result["efficiency"]["device"], key: bad}}}
        with pytest.raises(EaselError) as info:
            validate_result(broken)
        assert info.value.code == "E_RESULT_SCHEMA" and info.value.detail == f"efficiency.device.{key}"


def test_evaluate_runs_the_child_in_bubblewrap_and_records_the_device(tmp_path, data_root, competition_file,
                                                                      cache, capfd):
    """`make demo` and `easel evaluate` print the isolation line; with bwrap it names fs_isolated."""
    _need_bwrap()
    from evaluator.config import load_competition
    from evaluator.evaluate import evaluate_submission
    from harness import make_submission
    from model_builders import valid_model

    result = evaluate_submission(make_submission(tmp_path, valid_model), data_root,
                                 load_competition(competition_file)).to_json()
    assert result["status"] == "ok", result["errors"]
    line = next(ln for ln in capfd.readouterr().err.splitlines() if ln.startswith("sandbox isolation in effect:"))
    assert "fs_isolated" in line.split(";")[0]
    device = result["efficiency"]["device"]
    assert device["kind"] == "cpu" and device["cores"] == len(os.sched_getaffinity(0))


def test_require_gpu_on_a_cpu_runner(tmp_path, data_root, competition_file, cache, monkeypatch):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this runner has a GPU")
    from harness import make_submission, run_cli
    from model_builders import valid_model

    monkeypatch.setenv("EASEL_REQUIRE_GPU", "1")
    code, result = run_cli(make_submission(tmp_path, valid_model), data_root, competition_file,
                           tmp_path / "r.json")
    assert code == 3 and result["status"] == "error"
    assert [e["code"] for e in result["errors"]] == ["E_NO_GPU"]
