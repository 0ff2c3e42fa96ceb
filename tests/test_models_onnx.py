"""ONNX models built with onnx.helper pass the check and run in onnxruntime like numpy says.

Hostile ONNX files live in tests/adversarial/test_model_files.py.
"""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from evaluator.models import check_inputs, check_model, load_model

SIZE = 32


def make_model(scale: np.ndarray, bias: np.ndarray, two_inputs: bool = False) -> onnx.ModelProto:
    """out = tanh(content * scale + bias [+ 0.5 * style]), NHWC, dynamic batch and size."""
    spec = ["N", "H", "W", 3]
    inputs = [helper.make_tensor_value_info("content", TensorProto.FLOAT, spec)]
    nodes = [helper.make_node("Mul", ["content", "scale"], ["scaled"]),
             helper.make_node("Add", ["scaled", "bias"], ["shifted"])]
    last = "shifted"
    if two_inputs:
        inputs.append(helper.make_tensor_value_info("style", TensorProto.FLOAT, spec))
        nodes += [helper.make_node("Mul", ["style", "half"], ["s_half"]),
                  helper.make_node("Add", ["shifted", "s_half"], ["mixed"])]
        last = "mixed"
    nodes.append(helper.make_node("Tanh", [last], ["out"]))
    inits = [numpy_helper.from_array(scale, "scale"), numpy_helper.from_array(bias, "bias"),
             numpy_helper.from_array(np.array([0.5], np.float32), "half")]
    graph = helper.make_graph(nodes, "gen", inputs, [helper.make_tensor_value_info("out", TensorProto.FLOAT, spec)],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


@pytest.fixture()
def weights():
    rng = np.random.default_rng(0)
    return rng.uniform(0.5, 1.5, (3,)).astype(np.float32), rng.uniform(-0.2, 0.2, (3,)).astype(np.float32)


def test_valid_model_checks_loads_and_matches_numpy(tmp_path, weights):
    scale, bias = weights
    path = tmp_path / "model.onnx"
    onnx.save(make_model(scale, bias), path)
    facts = check_model("onnx", path)
    assert facts.ops_or_layers == ("Add", "Mul", "Tanh") and facts.bytes == path.stat().st_size
    loaded = load_model("onnx", path)
    assert (loaded.n_inputs, loaded.input_shapes, loaded.parameters) == (1, [(None, None, None, 3)], 7)
    check_inputs(loaded, 1, SIZE)
    x = np.random.default_rng(1).uniform(-1, 1, (4, SIZE, SIZE, 3)).astype(np.float32)
    out = loaded([x])
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out, np.tanh(x * scale + bias), atol=1e-6)
    np.testing.assert_array_equal(loaded([x]), out)


def test_two_inputs_in_graph_order(tmp_path, weights):
    scale, bias = weights
    path = tmp_path / "model.onnx"
    onnx.save(make_model(scale, bias, two_inputs=True), path)
    assert check_model("onnx", path).input_names == ("content", "style")
    loaded = load_model("onnx", path)
    rng = np.random.default_rng(2)
    c, s = (rng.uniform(-1, 1, (2, SIZE, SIZE, 3)).astype(np.float32) for _ in range(2))
    np.testing.assert_allclose(loaded([c, s]), np.tanh(c * scale + bias + 0.5 * s), atol=1e-6)


def test_external_data_next_to_the_model_is_accepted(tmp_path, weights):
    scale, bias = weights
    model = make_model(np.tile(scale, 100)[:3], bias)
    path = tmp_path / "model.onnx"
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location="weights.bin", size_threshold=0)
    facts = check_model("onnx", path)
    assert facts.bytes == path.stat().st_size + (tmp_path / "weights.bin").stat().st_size
    x = np.zeros((1, 8, 8, 3), np.float32)
    np.testing.assert_allclose(load_model("onnx", path)([x]), np.tanh(np.broadcast_to(bias, x.shape)), atol=1e-6)


def test_external_data_travels_into_the_sandbox(tmp_path, weights):
    """The sandbox copies the model's external-data file next to it; the sandboxed run matches numpy."""
    from evaluator.config import Limits
    from evaluator.sandbox import SandboxedModel

    scale, bias = weights
    path = tmp_path / "sub" / "model.onnx"
    path.parent.mkdir()
    onnx.save(make_model(scale, bias), path, save_as_external_data=True, all_tensors_to_one_file=True,
              location="weights.bin", size_threshold=0)
    x = np.random.default_rng(3).uniform(-1, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
    with SandboxedModel(path, "onnx", 1, SIZE, Limits(timeout_s=120), batch_size=2) as model:
        out = model.predict([x])
        assert model.model_bytes == path.stat().st_size + (path.parent / "weights.bin").stat().st_size
    np.testing.assert_allclose(out, np.tanh(x * scale + bias), atol=1e-6)


# --- execution provider and threads (issue 23.3) ----------------------------------------------

def test_provider_choice_prefers_cuda_only_where_it_can_run():
    import onnxruntime as ort

    from evaluator.models import CPU_PROVIDER, CUDA_PROVIDER, onnx_providers

    cuda_build = ["TensorrtExecutionProvider", CUDA_PROVIDER, CPU_PROVIDER]
    [(first, options), second] = onnx_providers(cuda_build, gpu_visible=True)
    assert (first, second) == (CUDA_PROVIDER, CPU_PROVIDER)
    assert options["cudnn_conv_algo_search"] == "DEFAULT"  # not EXHAUSTIVE: timing-based picks can differ per run
    assert onnx_providers(cuda_build, gpu_visible=False) == [CPU_PROVIDER]  # onnxruntime-gpu on a CPU host
    assert onnx_providers([CPU_PROVIDER], gpu_visible=True) == [CPU_PROVIDER]  # a GPU host without onnxruntime-gpu
    # This machine's own onnxruntime: what it offers decides, and a session accepts the list.
    assert onnx_providers(ort.get_available_providers(), gpu_visible=False) == [CPU_PROVIDER]


def test_loaded_model_records_the_provider_it_really_uses(tmp_path, weights):
    import onnxruntime as ort

    path = tmp_path / "model.onnx"
    onnx.save(make_model(*weights), path)
    loaded = load_model("onnx", path)
    expected = "CUDAExecutionProvider" if "CUDAExecutionProvider" in ort.get_available_providers() \
        and __import__("os").path.exists("/dev/nvidiactl") else "CPUExecutionProvider"
    assert loaded.provider == expected == loaded._session.get_providers()[0]


def test_sandboxed_onnx_result_names_its_provider(tmp_path, weights):
    from evaluator.config import Limits
    from evaluator.result import Device, device_label
    from evaluator.sandbox import SandboxedModel

    path = tmp_path / "model.onnx"
    onnx.save(make_model(*weights), path)
    with SandboxedModel(path, "onnx", 1, SIZE, Limits(timeout_s=120)) as model:
        device = model.device
    assert device["provider"] in ("CPUExecutionProvider", "CUDAExecutionProvider")
    assert (device["kind"] == "gpu") == (device["provider"] == "CUDAExecutionProvider")
    label = device_label(Device(**device))
    assert "onnxruntime " + device["provider"].removesuffix("ExecutionProvider") in label


def test_threads_follow_the_cpu_allowance(tmp_path, monkeypatch):
    import os

    from evaluator.models import cpu_allowance, threads

    cores = len(os.sched_getaffinity(0))
    assert cpu_allowance(tmp_path / "absent") == cores and 1 <= threads() <= cores
    quota = tmp_path / "cpu.max"
    quota.write_text("max 100000\n")
    assert cpu_allowance(quota) == cores
    quota.write_text("150000 100000\n")  # 1.5 CPUs of quota: 2 threads, never more than the affinity mask
    assert cpu_allowance(quota) == min(cores, 2)
    quota.write_text("50000 100000\n")
    assert cpu_allowance(quota) == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(12)))
    assert cpu_allowance(tmp_path / "absent") == 12  # no longer capped at 2
