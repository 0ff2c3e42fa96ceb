"""The participant's gallery: a model's outputs on the dataset's showcase images, never a test split.

Only showcase images (manifest split ``showcase``: never scored, no near-duplicate of any
test image) may appear in a picture that leaves the runner; the PNG is encoded by Easel
from the model's quantized pixels, so nothing else of the model reaches the page.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .config import Track

if TYPE_CHECKING:
    from .data.manifest import Manifest

log = logging.getLogger(__name__)

GALLERY_COUNT = 8  # showcase images in the gallery grid


def showcase_columns(data_dir: Path, manifest: "Manifest", track: Track) -> list[tuple[str, np.ndarray]]:
    """The gallery's input columns from the dataset's showcase images only (never a test split).

    Returns [("input", uint8 [k, H, W, 3])] plus ("style", ...) on example tracks,
    where input i is given style i modulo the showcase styles; k <= GALLERY_COUNT.
    Empty when the dataset has no showcase images.
    """
    from .data.images import load_rgb_uint8
    from .data.manifest import SHOWCASE

    inputs = manifest.paths("showcase/A", SHOWCASE)[:GALLERY_COUNT]
    if not inputs:
        return []
    columns = [("input", np.stack([load_rgb_uint8(data_dir / p) for p in inputs]))]
    if track.kind == "example":
        styles = manifest.paths("showcase/B", SHOWCASE)
        if not styles:
            return []
        columns.append(("style", np.stack([load_rgb_uint8(data_dir / styles[i % len(styles)])
                                           for i in range(len(inputs))])))
    return columns


def write_gallery(model, data_dir: Path, manifest: "Manifest", track: Track, batch_size: int, path: Path) -> bool:
    """Run ``model`` on the showcase images and write the grid input | (style) | output as a PNG at ``path``.

    ``model.predict`` takes [float32 [b, H, W, 3] in [-1, 1], ...] and returns the
    same shape; its outputs are quantized to uint8 and the PNG is encoded by Easel,
    so only pixels leave the model. Unscored. Returns False (and writes nothing)
    when the dataset has no showcase images.
    """
    from .data.images import save_grid, to_model_range, to_uint8

    columns = showcase_columns(data_dir, manifest, track)
    if not columns:
        log.warning("dataset %s has no showcase images: no gallery written", manifest.dataset)
        return False
    n = len(columns[0][1])
    outputs = [to_uint8(model.predict([to_model_range(images[sl]) for _, images in columns]))
               for sl in (slice(i, i + batch_size) for i in range(0, n, batch_size))]
    save_grid(path, [*((label, list(images)) for label, images in columns),
                     ("output", list(np.concatenate(outputs)))])
    return True
