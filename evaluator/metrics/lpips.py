"""LPIPS v0.1 (Zhang et al. 2018), AlexNet-lin: the learned perceptual distance, from feature maps.

The network half (ScalingLayer, AlexNet relu1..relu5) is the backbone
``lpips_alex`` (evaluator/features/backends/lpips_alex.py); this module is the
distance on its maps: per layer, unit-normalise each position's channel
vector (x / (‖x‖ + 1e-10), as the ``lpips`` package), square the difference,
weigh the channels with the learned 1x1 weights, average over positions, and
sum over the five layers.

The learned weights are the ``lpips`` package's ``weights/v0.1/alex.pth``
(lpips 0.1.4, BSD-2; shipped as ``data/lpips_v0.1_alex.pth`` with its
license in ``data/LICENSE-lpips.txt``), pinned by sha256 and read without
running pickled code (:mod:`evaluator.features.torch_checkpoint`). The package
itself needs PyTorch, so Easel never imports it. Every one of the five arrays
must be present with its shape: ``lpips`` loads them with ``strict=False``,
which leaves a layer untrained when a key does not match; here that is an error.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ..errors import EaselError
from ..fsutil import sha256_bytes

LPIPS_CHANNELS = (64, 192, 384, 256, 256)  # AlexNet relu1..relu5
LPIPS_LIN_FILE = Path(__file__).parent / "data" / "lpips_v0.1_alex.pth"
LPIPS_LIN_SHA256 = "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0"
LPIPS_LIN_KEYS = tuple(f"lin{i}.model.1.weight" for i in range(len(LPIPS_CHANNELS)))
LPIPS_EPS = 1e-10
LPIPS_BACKBONE = "lpips_alex"  # the backbone whose relu1..relu5 maps the distance reads


def read_lpips_linear_weights(path: str | Path = LPIPS_LIN_FILE,
                              expected_sha256: str | None = LPIPS_LIN_SHA256) -> list[np.ndarray]:
    """The five learned channel weights of LPIPS v0.1 AlexNet-lin: float64 [64], [192], [384], [256], [256].

    ``path``: a .pth state dict with ``lin{0..4}.model.1.weight`` [1, c, 1, 1];
    refused (E_WEIGHTS_HASH) unless it hashes to ``expected_sha256`` (None: any
    file, for tests), and (E_BACKBONE) when any of the five is missing or misshapen.
    """
    from ..features.torch_checkpoint import read_state_dict

    path = Path(path)
    if not path.is_file():
        raise EaselError("E_BACKBONE", f"LPIPS linear weights not found at {path}; reinstall Easel", detail="lpips")
    if expected_sha256 is not None and sha256_bytes(path.read_bytes()) != expected_sha256:
        raise EaselError("E_WEIGHTS_HASH", f"{path.name}: sha256 differs from the pinned {expected_sha256}",
                         detail="lpips")
    state = read_state_dict(path, {key: (1, c, 1, 1) for key, c in zip(LPIPS_LIN_KEYS, LPIPS_CHANNELS)})
    return [state[key].reshape(-1).astype(np.float64) for key in LPIPS_LIN_KEYS]


@functools.lru_cache(maxsize=1)
def lpips_linear_weights() -> tuple[np.ndarray, ...]:
    """The shipped, pinned learned weights (read once)."""
    return tuple(read_lpips_linear_weights())


def lpips_upper_bound() -> float:
    """The largest value LPIPS can take: each layer's term is at most 4 · max_c w_c (‖x̂ − ŷ‖² ≤ 4), summed."""
    return float(sum(4.0 * w.max() for w in lpips_linear_weights()))


def lpips_distance(maps_x: list[np.ndarray], maps_y: list[np.ndarray],
                   weights: list[np.ndarray] | tuple[np.ndarray, ...] | None = None) -> np.ndarray:
    """LPIPS between two image batches from their relu1..relu5 maps: float32 [n, h, w, c] x5 each -> float64 [n].

    ``weights``: one float [c] array per layer (default: the learned v0.1
    AlexNet-lin weights); all ones gives the package's ``lpips=False`` baseline.
    Value = Σ_layers mean_positions Σ_c w_c (x̂_c − ŷ_c)², x̂ = x / (‖x‖ + 1e-10).
    """
    weights = lpips_linear_weights() if weights is None else weights
    if len(maps_x) != len(weights) or len(maps_y) != len(weights):
        raise ValueError(f"LPIPS needs {len(weights)} feature maps per side, got {len(maps_x)} and {len(maps_y)}")
    total = None
    for fx, fy, w in zip(maps_x, maps_y, weights):
        fx, fy = np.asarray(fx, np.float64), np.asarray(fy, np.float64)
        if fx.shape != fy.shape or fx.ndim != 4 or fx.shape[-1] != len(w):
            raise ValueError(f"LPIPS maps {fx.shape} and {fy.shape} do not fit {len(w)} channel weights")
        nx = fx / (np.sqrt((fx * fx).sum(axis=-1, keepdims=True)) + LPIPS_EPS)
        ny = fy / (np.sqrt((fy * fy).sum(axis=-1, keepdims=True)) + LPIPS_EPS)
        layer = (((nx - ny) ** 2) @ np.asarray(w, np.float64)).mean(axis=(1, 2))
        total = layer if total is None else total + layer
    return total
