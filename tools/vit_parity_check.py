"""Easel's DINOv2 / CLIP features against the reference outputs tools/vit_reference.py wrote (run by hand).

    python tools/vit_parity_check.py DIR [--atol 1e-3]

DIR is the ``--out`` of ``tools/vit_reference.py full`` (random ViT-L/14 weights
written there) or ``... real`` (the organizer's real checkpoints, whose paths
reference.npz records). Each checkpoint is read by Easel's own loader
(``vit_backbones.load_checkpoint``: the pickle-free reader, the weight-name and
shape check, the TensorFlow ViT) and run on the same uint8 images at the input
size (224 / 336 px, so no resize: normalisation and network). Prints, per
backbone (and for CLIP also against scenic's Flax CLIP, cmmd's own, where
``--scenic-src`` was given), the largest absolute difference, the feature scale
and the smallest cosine similarity; exits 1 when a difference exceeds ``--atol``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    from evaluator.features.backends.vit import LAYOUTS
    from evaluator.features.backends.vit_backbones import load_checkpoint

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--atol", type=float, default=1e-3, help="largest accepted |Easel - reference|")
    args = parser.parse_args(argv)
    ref = np.load(args.dir / "reference.npz")
    failed = False
    for key, backbone_id, default in (("dino", "dinov2_vitl14", "dinov2_vitl14_pretrain.pth"),
                                      ("clip", "clip_vitl14_336", "ViT-L-14-336px.pt")):
        cfg = LAYOUTS[backbone_id]
        path = Path(str(ref[f"{key}/weights"])) if f"{key}/weights" in ref else args.dir / default
        run = load_checkpoint(cfg, path, f"{backbone_id}: {path.name}")
        images = ref[f"images_{cfg.image}"]
        got = np.concatenate([run(images[i:i + 1].astype(np.float32))[0].numpy() for i in range(len(images))])
        for name in ("features", "features_scenic"):  # the PyTorch reference; scenic's Flax CLIP (cmmd) if run
            if f"{key}/{name}" not in ref:
                continue
            want = ref[f"{key}/{name}"]
            diff = float(np.abs(got - want).max())
            cos = np.sum(got * want, 1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
            which = "scenic (cmmd)" if name == "features_scenic" else "reference"
            print(f"{backbone_id}: {len(images)} images, max |Easel - {which}| = {diff:.3g} "
                  f"(features max |x| = {np.abs(want).max():.3g}), min cosine = {cos.min():.9f}")
            failed |= not diff <= args.atol
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
