"""Sandboxed inference: the participant's model runs in a confined child process.

Modules: :mod:`.parent` (:class:`SandboxedModel`, the trusted side),
:mod:`.child` (the model process), :mod:`.protocol` (the frames both sides
speak), :mod:`.launch` (starting the child, verifying its isolation),
:mod:`.bwrap` (filesystem isolation), :mod:`.cgroup` (the memory limit),
:mod:`.monitor` (/proc readers, watchdog), :mod:`.contract` (output and
signature rules), :mod:`.device` (``efficiency.device``). How a model is
confined, measure by measure: docs/organizers.md.

The public names load lazily, so the child, started as ``python -m
evaluator.sandbox.child``, imports nothing heavy before it has confined itself.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "SandboxedModel": "parent",
    "validate_output": "contract",
    "check_signature": "contract",
    "RANGE_MARGIN": "contract",
    "MemoryCgroup": "cgroup",
    "ENV_PARENT": "cgroup",
    "require_gpu": "device",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
