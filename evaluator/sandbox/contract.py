"""The output and signature contract every model is held to (checked in the parent).

Output rule, on every batch: shape equal to the input's (E_PRED_SHAPE; this
also catches outputs whose shape changes with the batch size), dtype float32
(E_PRED_DTYPE), all finite (E_PRED_NONFINITE), and values within
[-1 - 1e-3, 1 + 1e-3]; values in that margin are clipped silently to
[-1, 1], anything beyond is E_PRED_RANGE.
"""

from __future__ import annotations

import numpy as np

from ..errors import EaselError

RANGE_MARGIN = 1e-3


def validate_output(out: np.ndarray, expected_shape: tuple[int, ...]) -> np.ndarray:
    """Check one output batch against the contract; return it clipped to [-1, 1].

    ``out`` must be float32 with exactly ``expected_shape`` ([b, H, W, 3], the
    input's shape) and finite. Values within 1e-3 outside [-1, 1] are clipped
    silently; anything further out raises E_PRED_RANGE. Shape is checked first,
    then dtype, finiteness and range, each with its own code.
    """
    if not isinstance(out, np.ndarray):
        raise EaselError("E_PRED_DTYPE", "model output is not an array", detail=type(out).__name__)
    if tuple(out.shape) != tuple(expected_shape):
        raise EaselError("E_PRED_SHAPE", f"output shape {tuple(out.shape)}, expected {tuple(expected_shape)}",
                         detail="x".join(str(int(d)) for d in out.shape) or "scalar")
    if out.dtype != np.float32:
        raise EaselError("E_PRED_DTYPE", f"output dtype {out.dtype}, expected float32", detail=str(out.dtype))
    finite = np.isfinite(out)
    if not finite.all():
        kind = "nan" if np.isnan(out).any() else "inf"
        raise EaselError("E_PRED_NONFINITE", f"{int((~finite).sum())} non-finite output values", detail=kind)
    low, high = float(out.min()), float(out.max())
    if low < -1.0 - RANGE_MARGIN or high > 1.0 + RANGE_MARGIN:
        worst = max(abs(low), abs(high))
        raise EaselError("E_PRED_RANGE", f"output range [{low:.4g}, {high:.4g}]", detail=f"{worst:.4g}")
    return np.clip(out, -1.0, 1.0)


def _is_dynamic(dim) -> bool:
    return dim is None or (isinstance(dim, int) and dim < 0)


def check_signature(input_shapes: list, n_inputs: int, image_size: int) -> None:
    """Raise E_SIGNATURE unless there are ``n_inputs`` inputs, each 4-D NHWC with
    a dynamic batch, 3 channels and H, W dynamic or equal to ``image_size`` (pixels)."""
    if not isinstance(input_shapes, list) or len(input_shapes) != n_inputs:
        got = len(input_shapes) if isinstance(input_shapes, list) else "?"
        raise EaselError("E_SIGNATURE", f"model has {got} inputs, the track needs {n_inputs}",
                         detail=f"inputs_{got}")
    for i, shape in enumerate(input_shapes):
        if not isinstance(shape, list) or len(shape) != 4:
            raise EaselError("E_SIGNATURE", f"input {i} is not 4-D NHWC", detail=f"input_{i}_rank")
        batch, height, width, channels = shape
        if not _is_dynamic(batch):
            raise EaselError("E_SIGNATURE", f"input {i} has a fixed batch size", detail=f"input_{i}_batch")
        if channels != 3:
            raise EaselError("E_SIGNATURE", f"input {i} does not take 3 channels", detail=f"input_{i}_channels")
        for dim in (height, width):
            if not (_is_dynamic(dim) or dim == image_size):
                raise EaselError("E_SIGNATURE", f"input {i} does not accept {image_size}px images",
                                 detail=f"input_{i}_size")



def parse_hello(hello: dict) -> tuple[list, int]:
    """(input shapes, parameter count) from the child's untrusted hello frame: dims that are not
    plain ints become None (dynamic); a count that is not a plausible int becomes 0."""
    shapes = hello.get("input_shapes")
    shapes = [[d if isinstance(d, int) and not isinstance(d, bool) else None for d in s]
              if isinstance(s, list) else s for s in shapes] if isinstance(shapes, list) else []
    params = hello.get("parameters")
    params = params if isinstance(params, int) and not isinstance(params, bool) and 0 <= params < 1 << 48 else 0
    return shapes, params


def speed_from_timings(timings, sizes: list[int], repeats: int, wall_s: float) -> dict | None:
    """Throughput from the child's untrusted timings (seconds per run, ``repeats`` runs per batch size).

    Returns images_per_s (at the best batch size), best_batch_size, latency_ms_batch1
    (median at batch 1) and throughput (batch size -> images/s), or None when the
    report is malformed or its runs add up to more than the parent's own ``wall_s``.
    """
    try:
        runs = {int(b): [float(t) for t in timings[str(b)]] for b in sizes}
        ok = all(len(r) == repeats and all(0 < t < 1e6 for t in r) for r in runs.values())
    except (TypeError, KeyError, ValueError):
        return None
    if not ok or sum(sum(r) for r in runs.values()) > wall_s * 1.01 + 1e-3:
        return None
    throughput = {b: b / float(np.median(r)) for b, r in runs.items()}
    best = max(throughput, key=lambda b: (throughput[b], -b))
    return {"images_per_s": throughput[best], "best_batch_size": best,
            "latency_ms_batch1": 1000.0 * float(np.median(runs[1])), "throughput": throughput}
