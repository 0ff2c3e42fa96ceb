"""Resizing uint8 images to a backbone's input size: the two ways FID implementations do it, and the
uint8 PIL resize the DINOv2 and CLIP references use."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..vocab import BACKBONE_RESIZES

PIL_UINT8 = "pil_uint8"  # not an evaluation.resize choice: DINOv2's and CLIP's references' own resize


def resize_images(images: np.ndarray | Sequence[np.ndarray], size: int, mode: str = "clean") -> np.ndarray:
    """uint8 [b, H, W, 3] (or a list of [H, W, 3]) -> float32 [b, size, size, 3] in 0..255.

    clean: PIL bicubic on each channel as a float ('F') image, clipped to
    0..255 and never rounded (clean-fid). legacy_tensorflow: bilinear with
    align_corners=False and no half-pixel centres, as the 2015 graph's own
    ResizeBilinear op (no antialiasing). pil_uint8: PIL bicubic (antialiased) on the
    uint8 image itself, which rounds to uint8 after each of its two passes: what
    torchvision's ``Resize`` does to a PIL image (dgm-eval's DINOv2 transform) and
    cmmd's ``_center_crop_and_resize``; it differs from ``clean`` by up to ~1 grey
    level, more beside saturated edges. An image already ``size`` px is passed through.
    """
    if mode not in BACKBONE_RESIZES:
        raise ValueError(f"resize mode must be one of {BACKBONE_RESIZES}, got {mode!r}")
    out = np.empty((len(images), size, size, 3), np.float32)
    for i, img in enumerate(images):
        img = np.asarray(img)
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"images must be uint8 [H, W, 3], got {img.dtype} {img.shape}")
        if img.shape[:2] == (size, size):
            out[i] = img
        elif mode == "clean":
            from PIL import Image

            for c in range(3):
                channel = Image.fromarray(img[:, :, c].astype(np.float32))  # mode 'F'
                out[i, :, :, c] = np.asarray(channel.resize((size, size), resample=Image.BICUBIC))
            np.clip(out[i], 0.0, 255.0, out=out[i])
        elif mode == PIL_UINT8:
            from PIL import Image

            out[i] = np.asarray(Image.fromarray(img).resize((size, size), resample=Image.BICUBIC))
        else:
            import tensorflow as tf

            out[i] = tf.raw_ops.ResizeBilinear(images=img[None].astype(np.float32), size=[size, size],
                                               align_corners=False, half_pixel_centers=False)[0].numpy()
    return out
