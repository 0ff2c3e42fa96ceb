"""Streamed feature extraction and the on-disk cache of reference-set features."""

from __future__ import annotations

import io
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..cache import cache_root
from ..data.images import load_rgb_uint8
from ..fsutil import atomic_write_bytes, canonical_json, sha256_bytes
from .registry import Backbone

log = logging.getLogger(__name__)

REFERENCE_KEY_FIELDS = ("manifest_sha256", "folder", "split", "image_size")
# Part of every cache key: features cached by an older decoder (which dropped
# alpha and ignored EXIF orientation) are never reused.
DECODER = "load_rgb_uint8/1"


def extract_features(backbone: Backbone, batches: Iterable[np.ndarray], n: int | None = None,
                     desc: str = "features") -> np.ndarray:
    """Pool features of a stream of uint8 batches [b, H, W, 3] -> float32 [n, d].

    Batches are consumed one at a time and dropped, so memory holds one batch
    of images plus the features. With ``n`` the output is preallocated and the
    progress bar knows its total; a different image count is an error.
    """
    from tqdm import tqdm

    chunks: list[np.ndarray] = []
    out = np.empty((n, backbone.dim), np.float32) if n is not None else None
    done = 0
    with tqdm(total=n, desc=desc, unit="img", file=sys.stderr, leave=False, disable=None) as bar:
        for batch in batches:
            pool = backbone.features(batch, maps=False).pool
            if out is not None:
                if done + len(pool) > n:
                    raise ValueError(f"more than the announced {n} images")
                out[done:done + len(pool)] = pool
            else:
                chunks.append(pool)
            done += len(pool)
            bar.update(len(pool))
    if out is not None:
        if done != n:
            raise ValueError(f"expected {n} images, got {done}")
        return out
    return np.concatenate(chunks) if chunks else np.zeros((0, backbone.dim), np.float32)


def _warn_jpeg(paths: Sequence[Path]) -> None:
    jpegs = [p for p in paths if Path(p).suffix.lower() in (".jpg", ".jpeg")]
    if jpegs:
        message = (f"{len(jpegs)} JPEG reference image(s) (e.g. {Path(jpegs[0]).name}): JPEG compression "
                   "changes FID; use PNG for reference data")
        log.warning(message)
        warnings.warn(message, UserWarning, stacklevel=3)


def reference_features(backbone: Backbone, image_paths: Sequence[Path], key: dict,
                       cache_dir: str | os.PathLike | None = None, batch_size: int = 16) -> np.ndarray:
    """Pool features float32 [n, d] of a dataset split's images, cached on disk.

    Images are decoded by :func:`evaluator.data.images.load_rgb_uint8`, the
    decoder every other image the evaluator reads goes through (alpha on
    white, EXIF orientation, palette and 16-bit handled), so a file gives the
    same features as a reference as it does as an input or target.
    The cache file is ``<cache>/features/ref-<sha256>.npz`` where the hash is
    of canonical_json(key + backbone id, weights sha256, resize mode, decoder and n).
    ``key`` must name manifest_sha256, folder, split and image_size; if it
    names a backbone, weights or resize they must match ``backbone``. A cached
    file whose stored key differs is ignored and rewritten (atomic write).
    """
    missing = [k for k in REFERENCE_KEY_FIELDS if k not in key]
    if missing:
        raise ValueError(f"reference key lacks {missing}")
    full = dict(key)
    for name, value in (("backbone", backbone.id), ("weights_sha256", backbone.weights_sha256),
                        ("resize", backbone.resize)):
        if full.setdefault(name, value) != value:
            raise ValueError(f"reference key {name}={full[name]!r} does not match the backbone's {value!r}")
    full["n"] = len(image_paths)
    full["decoder"] = DECODER
    text = canonical_json(full)
    path = cache_root(cache_dir) / "features" / f"ref-{sha256_bytes(text.encode())}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as cached:
                if str(cached["key"]) == text and cached["features"].shape == (len(image_paths), backbone.dim):
                    log.info("reference features reused from %s", path)
                    return cached["features"].astype(np.float32)
        except (OSError, ValueError, KeyError):
            log.warning("ignoring unreadable reference cache %s", path)
    _warn_jpeg(image_paths)

    def batches():
        for start in range(0, len(image_paths), batch_size):
            yield [load_rgb_uint8(p) for p in image_paths[start:start + batch_size]]

    feats = extract_features(backbone, batches(), n=len(image_paths), desc=f"reference {key['folder']}")
    buf = io.BytesIO()
    np.savez(buf, features=feats, key=np.array(text))
    atomic_write_bytes(path, buf.getvalue())
    return feats
