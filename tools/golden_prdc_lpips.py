"""Write the golden values that tests/test_prdc_lpips.py checks Easel's PRDC and LPIPS against. Run ONCE.

Needs a separate PyTorch virtualenv (never Easel's): PyTorch, torchvision
(``lpips`` imports it), ``lpips==0.1.4``, ``torch-fidelity``, ``prdc`` and
pyyaml (to import Easel's pure-numpy helpers); on this project's machines
``pip install torch==2.14.1 torchvision==0.29.1 lpips==0.1.4 torch-fidelity prdc pyyaml``.

    PYTHONPATH=$PWD /path/to/torchvenv/bin/python tools/golden_prdc_lpips.py

Writes tests/fixtures/golden_prdc_lpips.npz:

* PRDC: seeded feature arrays (real, fake; tie-free) and the values of
  ``torch_fidelity.metric_prc.calculate_precision_recall_full`` (k = 3;
  features_1 = fake, features_2 = real, as torch-fidelity's input1/input2)
  and ``prdc.compute_prdc`` (k = 5). A second, tie-heavy pair (duplicated
  rows) is recorded with both packages' values to show where ≤ and < part.
* two tiny torch.save checkpoints (zip and legacy containers) for the pickle-free reader.
* LPIPS: seeded uint8 image pairs and ``lpips.LPIPS(net="alex", pnet_rand=True)``
  (the package's learned linear weights, loaded by the package itself) with its
  random AlexNet overwritten by Easel's ``random_alexnet_state_dict(seed)``, so
  the test rebuilds the same backbone without storing it. The tool also checks
  that the package's linear weights equal what Easel's pickle-free reader reads.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "golden_prdc_lpips.npz"
ALEX_SEED = 7


def prdc_values(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    import prdc
    import torch
    from torch_fidelity.metric_prc import calculate_precision_recall_full

    precision, recall = calculate_precision_recall_full(torch.from_numpy(fake), torch.from_numpy(real), neighborhood=3)
    dc = prdc.compute_prdc(real, fake, nearest_k=5)
    return {"precision": precision, "recall": recall, "density": dc["density"], "coverage": dc["coverage"],
            "prdc_precision_k5": dc["precision"], "prdc_recall_k5": dc["recall"]}


def main() -> int:
    import lpips
    import torch

    sys.path.insert(0, str(ROOT))
    from evaluator.features.backends.lpips_alex import alexnet_shapes, random_alexnet_state_dict
    from evaluator.features.weights import weights_sha256
    from evaluator.metrics.lpips import LPIPS_LIN_KEYS, read_lpips_linear_weights

    torch.set_grad_enabled(False)
    out: dict[str, np.ndarray] = {}
    rng = np.random.default_rng(2024)

    # --- PRDC: tie-free features (continuous) and a tie-heavy pair (duplicated rows)
    real = rng.standard_normal((60, 8)).astype(np.float64)
    fake = (rng.standard_normal((50, 8)) * 1.3 + 0.4).astype(np.float64)
    out["prdc_real"], out["prdc_fake"] = real, fake
    for name, value in prdc_values(real, fake).items():
        out[f"prdc_{name}"] = np.float64(value)
    base = rng.standard_normal((12, 4))
    tie_real = np.concatenate([base, base, base[:6]])  # every row has exact duplicates: radii can be 0
    tie_fake = np.concatenate([base[:8], rng.standard_normal((10, 4))])
    out["ties_real"], out["ties_fake"] = tie_real, tie_fake
    for name, value in prdc_values(tie_real, tie_fake).items():
        out[f"ties_{name}"] = np.float64(value)

    # --- LPIPS: the package with pnet_rand=True, its trunk overwritten by Easel's seeded AlexNet
    model = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False).eval()
    easel_lin = read_lpips_linear_weights()
    for key, ours in zip(LPIPS_LIN_KEYS, easel_lin):
        theirs = dict(model.named_parameters())[key].detach().numpy().reshape(-1)
        assert np.array_equal(theirs.astype(np.float64), ours), f"{key}: the package's weights differ from Easel's"
    state = random_alexnet_state_dict(ALEX_SEED)
    slices = [model.net.slice1, model.net.slice2, model.net.slice3, model.net.slice4, model.net.slice5]
    modules = {name: module for s in slices for name, module in s.named_children()}
    for name, array in state.items():
        index, kind = name.split(".")[1:]
        getattr(modules[index], kind).copy_(torch.from_numpy(array))
    images_x = rng.integers(0, 256, (4, 40, 48, 3), dtype=np.uint8)  # non-square: catches an H/W swap
    images_y = np.clip(images_x.astype(np.int64) + rng.integers(-60, 61, images_x.shape), 0, 255).astype(np.uint8)
    images_y[3] = rng.integers(0, 256, images_y[3].shape)  # one unrelated pair
    to_torch = lambda a: torch.from_numpy(a.astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2)  # noqa: E731
    value, per_layer = model(to_torch(images_x), to_torch(images_y), retPerLayer=True)
    out["lpips_x"], out["lpips_y"] = images_x, images_y
    out["lpips_value"] = value.numpy().reshape(-1).astype(np.float64)
    out["lpips_per_layer"] = np.stack([r.numpy().reshape(-1) for r in per_layer]).astype(np.float64)
    baseline = lpips.LPIPS(net="alex", version="0.1", lpips=False, pnet_rand=True, verbose=False).eval()
    baseline.net.load_state_dict(model.net.state_dict())
    out["lpips_baseline_value"] = baseline(to_torch(images_x), to_torch(images_y)).numpy().reshape(-1).astype(np.float64)
    # --- the checkpoint reader: one small state dict in both containers (a view, a transposed tensor, float64)
    import io

    weights = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    small = {"w": weights, "row": weights[1], "t": torch.ones(2, 3, dtype=torch.float64).t().contiguous().t()}
    for name, zipped in (("zip", True), ("legacy", False)):
        buffer = io.BytesIO()
        torch.save(small, buffer, _use_new_zipfile_serialization=zipped)
        out[f"checkpoint_{name}"] = np.frombuffer(buffer.getvalue(), np.uint8)
    out["lpips_alex_seed"] = np.int64(ALEX_SEED)
    out["lpips_alex_sha256"] = np.array(weights_sha256([state[n] for n in alexnet_shapes()]))
    out["versions"] = np.array(f"torch {torch.__version__}, lpips 0.1.4, torch-fidelity "
                               f"{__import__('torch_fidelity').__version__}, prdc 0.2")

    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes)")
    for key in sorted(k for k in out if k.startswith(("prdc_", "ties_")) and out[k].ndim == 0):
        print(f"  {key} = {float(out[key]):.6f}")
    print(f"  lpips = {out['lpips_value']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
