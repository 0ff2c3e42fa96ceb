"""Scores combined from other metrics: ArtFID and the memorization-informed FID.

Both are computed as the published formulas state; what makes the numbers here
differ from published ones is written in their registry descriptions
(:mod:`evaluator.metrics.builtin`): ArtFID is taken on plain FID with an
untrained content network, and the memorization distance is calibrated.
"""

from __future__ import annotations

import numpy as np

def artfid(content_distance_mean: float, fid: float) -> float:
    """ArtFID = (1 + content distance) · (1 + FID) (Wright & Ommer 2022); lower is better."""
    return float((1.0 + content_distance_mean) * (1.0 + fid))


def memorization_distances(out_feats: np.ndarray, train_feats: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Per output: min over training images of (1 − |cos|): float [n, d], float [k, d] -> float64 [n].

    Both sets are centred on the training features' mean before the cosine.
    Kaggle's MiFID uses raw features; but pooled ReLU features all share a
    large positive mean direction, so raw cosines of *unrelated* images sit near
    1 (with the offline random-init backbone every output came out "memorized",
    d ≈ 0.001). Centring removes that shared direction: exact copies still give
    0, fresh images give distances far above ε. Computed in chunks of outputs
    so memory stays O(chunk · k).
    """
    mean = np.asarray(train_feats, np.float64).mean(axis=0)

    def unit(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, np.float64) - mean
        return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)

    o, t = unit(out_feats), unit(train_feats)
    out = np.empty(len(o))
    for start in range(0, len(o), chunk):
        cos = np.abs(o[start:start + chunk] @ t.T)
        out[start:start + chunk] = 1.0 - cos.max(axis=1)
    return np.clip(out, 0.0, 1.0)


def memorization_distance(out_feats: np.ndarray, train_feats: np.ndarray) -> float:
    """MiFID's d: mean over outputs [n, d] of the minimum over training features [k, d] of (1 − |cos|)
    (on features centred at the training mean, see :func:`memorization_distances`)."""
    return float(memorization_distances(out_feats, train_feats).mean())


def mifid(fid: float, distance: float, eps: float = 0.1) -> tuple[float, bool]:
    """Kaggle MiFID: (fid / (d_thr + 1e-14), memorized) with d_thr = d if d < eps else 1."""
    memorized = bool(distance < eps)
    d_thr = distance if memorized else 1.0
    return float(fid / (d_thr + 1e-14)), memorized
