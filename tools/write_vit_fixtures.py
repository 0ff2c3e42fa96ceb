"""Write the tiny PyTorch checkpoints tests/test_vit_backbones.py reads (run once, by hand, with PyTorch).

    python tools/write_vit_fixtures.py   # in a PyTorch virtualenv (pip install torch numpy), not Easel's

PyTorch is never a dependency of Easel: this script only produces test
fixtures in the formats of the real weight files, written by PyTorch itself:
a ``torch.save`` state dict shaped like DINOv2's (``dinov2_tiny.pth``) and a
TorchScript archive shaped like OpenAI CLIP's image tower, float16 as the
real ``ViT-L-14-336px.pt`` (``clip_tiny.pt``), plus every tensor as float32
numpy arrays (``vit_tiny.npz``) for the test to compare against, and DINOv2's
position-embedding interpolation (37² -> 16² patches) computed by
``torch.nn.functional.interpolate`` as the reference calls it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import torch

# vit.py is plain numpy at import: loaded by path, so this venv needs no Easel dependencies.
_spec = importlib.util.spec_from_file_location(
    "vit", Path(__file__).resolve().parent.parent / "evaluator" / "features" / "backends" / "vit.py")
vit = importlib.util.module_from_spec(_spec)
sys.modules["vit"] = vit
_spec.loader.exec_module(vit)
ViTConfig, shapes = vit.ViTConfig, vit.shapes

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
DINO = ViTConfig("dinov2", 28, 14, 8, 1, 2, 16, 3, 8)
CLIP = ViTConfig("clip", 28, 14, 8, 1, 2, 16, 2, 4)


class Holder(torch.nn.Module):
    """A module tree whose parameters carry the given dotted names (as CLIP's modules do)."""

    def __init__(self, tensors: dict):
        super().__init__()
        children: dict = {}
        for name, value in tensors.items():
            head, _, rest = name.partition(".")
            if rest:
                children.setdefault(head, {})[rest] = value
            else:
                self.register_parameter(head, torch.nn.Parameter(value, requires_grad=False))
        for head, sub in children.items():
            self.add_module(head, Holder(sub))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def main() -> None:
    rng = np.random.default_rng(7)
    arrays = {}
    dino = {name: torch.from_numpy(rng.standard_normal(shape).astype(np.float32)) for name, shape in shapes(DINO)}
    dino["mask_token"] = torch.zeros(1, DINO.width)  # in the real file; never read at inference
    torch.save(dino, OUT / "dinov2_tiny.pth")
    arrays.update({f"dino/{k}": v.numpy() for k, v in dino.items()})
    clip = {name: torch.from_numpy(rng.standard_normal(shape).astype(np.float16)) for name, shape in shapes(CLIP)}
    torch.jit.save(torch.jit.script(Holder(clip)), str(OUT / "clip_tiny.pt"))
    arrays.update({f"clip/{k}": v.numpy().astype(np.float32) for k, v in clip.items()})
    # DINOv2's position-embedding interpolation, done by PyTorch as the reference does it for 224 px:
    # 37x37 learned grid -> 16x16, bicubic with scale_factor (16 + 0.1) / 37, no antialias.
    pos = rng.standard_normal((1, 1 + 37 * 37, 4)).astype(np.float32)
    grid = torch.from_numpy(pos[:, 1:]).reshape(1, 37, 37, 4).permute(0, 3, 1, 2)
    scale = (16 + 0.1) / 37
    resized = torch.nn.functional.interpolate(grid, scale_factor=(scale, scale), mode="bicubic", antialias=False)
    arrays["pos/in"] = pos
    arrays["pos/out"] = np.concatenate([pos[:, :1], resized.permute(0, 2, 3, 1).reshape(1, -1, 4).numpy()], axis=1)
    np.savez(OUT / "vit_tiny.npz", **arrays)
    print(f"wrote {OUT}/dinov2_tiny.pth, clip_tiny.pt, vit_tiny.npz (torch {torch.__version__})")


if __name__ == "__main__":
    main()
