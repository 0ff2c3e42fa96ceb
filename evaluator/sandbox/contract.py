"""The output and signature contract every model is held to (checked in the parent).

Output rule, on every batch: shape equal to the input's (E_PRED_SHAPE; this
also catches outputs whose shape changes with the batch size), dtype float32
(E_PRED_DTYPE), all finite (E_PRED_NONFINITE), and values within
[-1 - 1e-3, 1 + 1e-3]; values in that margin are clipped silently to
[-1, 1], anything beyond is E_PRED_RANGE.
"""

from __future__ import annotations

import numpy as np

from ..error_text import is_name
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
        got = [int(d) for d in out.shape]
        raise EaselError("E_PRED_SHAPE", f"output shape {tuple(out.shape)}, expected {tuple(expected_shape)}",
                         detail="x".join(map(str, got)) or "scalar",
                         facts={"expected": [int(d) for d in expected_shape],
                                **({"got": got} if len(got) <= 8 else {})})
    if out.dtype != np.float32:
        raise EaselError("E_PRED_DTYPE", f"output dtype {out.dtype}, expected float32", detail=str(out.dtype),
                         facts={"got": str(out.dtype) if is_name(str(out.dtype)) else "unknown"})
    finite = np.isfinite(out)
    if not finite.all():
        kind = "nan" if np.isnan(out).any() else "inf"
        raise EaselError("E_PRED_NONFINITE", f"{int((~finite).sum())} non-finite output values", detail=kind,
                         facts={"kind": kind, "count": int((~finite).sum())})
    low, high = float(out.min()), float(out.max())
    if low < -1.0 - RANGE_MARGIN or high > 1.0 + RANGE_MARGIN:
        worst = max(abs(low), abs(high))
        raise EaselError("E_PRED_RANGE", f"output range [{low:.4g}, {high:.4g}]", detail=f"{worst:.4g}",
                         facts={"low": low, "high": high})
    return np.clip(out, -1.0, 1.0)


def check_signature(input_shapes: list, n_inputs: int, image_size: int) -> None:
    """The contract check of :func:`evaluator.models.check_input_shapes` on the shapes the child
    reported (untrusted: anything but a list of lists is E_SIGNATURE; negative dims are dynamic)."""
    from ..models import check_input_shapes

    if not isinstance(input_shapes, list) or not all(isinstance(s, list) for s in input_shapes):
        raise EaselError("E_SIGNATURE", "the model's inputs could not be read", detail="inputs",
                         facts={"dimension": "unreadable"})
    shapes = [[d if isinstance(d, int) and not isinstance(d, bool) and d >= 0 else None for d in shape]
              for shape in input_shapes]
    check_input_shapes(shapes, n_inputs, image_size)


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
