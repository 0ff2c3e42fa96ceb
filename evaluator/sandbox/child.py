"""The sandboxed model process: ``python -P -m evaluator.sandbox.child MODEL_PATH FORMAT``.

Started only by :class:`evaluator.sandbox.SandboxedModel` (inside bubblewrap where it is
installed, see :mod:`evaluator.sandbox.bwrap`), with an empty
environment, a fresh temp dir as cwd and stdin/stdout as the protocol pipe.
It confines itself before it touches the model, in this order (each step
needs the previous one, see the comments):

1. move the protocol off fds 0/1 (stdout then points at stderr, so anything a
   library prints cannot corrupt a frame);
2. resource limits (no core files, small files only, CPU seconds, fds, address
   space as a backstop) and ``PR_SET_NO_NEW_PRIVS``;
3. a new, empty network namespace (``unshare(CLONE_NEWNET)`` as root, else an
   unprivileged user namespace with one), done before numpy starts threads
   because ``CLONE_NEWUSER`` refuses multi-threaded callers; skipped under
   bubblewrap, which made every namespace already;
4. import numpy, the loader and the framework (plus every module a load may
   import lazily), set the loaders' thread counts and TensorFlow's
   deterministic ops, and note the device it will run on;
5. drop to uid/gid 65534 (nobody) with no supplementary groups when root
   (after the imports: the interpreter may live in a directory nobody cannot
   read), then ask for SIGKILL when the parent dies (bubblewrap's
   ``--die-with-parent`` does that for the whole sandbox);
6. load the model and serve requests until ``exit`` or EOF.

Everything it reports is untrusted by the parent. Frames never contain
pickles: a small JSON header and ``np.save`` bytes, both directions.
"""

from __future__ import annotations

import os
import sys
import time

from .device import detect as detect_device
from .device import for_onnx
from .protocol import NOBODY, Channel

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
# Allocation failures as each runtime words them (onnxruntime, TensorFlow, C++).
_OOM_TYPES = ("MemoryError", "ResourceExhaustedError")
_OOM_TEXT = ("failed to allocate memory", "oom when allocating", "bad_alloc", "out of memory",
             "cannot allocate memory")
REASON_CHARS = 400


def _protect_fds() -> tuple[int, int]:
    rfd, wfd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)  # stray prints go to the stderr buffer, not into a frame
    for fd in (rfd, wfd):
        os.set_inheritable(fd, False)
    return rfd, wfd


def _limits(cfg: dict) -> dict:
    import resource

    done = {}
    wanted = {
        "RLIMIT_CORE": 0,
        "RLIMIT_FSIZE": int(cfg.get("fsize_bytes", 16 << 20)),
        "RLIMIT_CPU": int(cfg.get("cpu_s", 1200)),
        "RLIMIT_NOFILE": int(cfg.get("nofile", 1024)),
    }
    if cfg.get("as_bytes"):
        wanted["RLIMIT_AS"] = int(cfg["as_bytes"])
    for name, value in wanted.items():
        which = getattr(resource, name)
        try:
            _, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(which, (value, value))
            done[name.lower()] = True
        except (ValueError, OSError):
            done[name.lower()] = False
    return done


def _prctl(option: int, arg: int) -> bool:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(option, arg, 0, 0, 0) == 0


def _unshare_net() -> bool:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if os.geteuid() == 0:
        return libc.unshare(_CLONE_NEWNET) == 0
    # Unprivileged: a user namespace grants CAP_SYS_ADMIN over a new net namespace.
    return libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0


def _drop_privileges() -> bool:
    if os.geteuid() != 0:
        return False
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    try:  # a real drop cannot be undone
        os.setuid(0)
    except PermissionError:
        return os.getuid() == NOBODY and os.getgid() == NOBODY
    raise SystemExit("privilege drop did not hold")


def _configure_framework(fmt: str, threads: int) -> None:
    from ..models import TENSORFLOW_FORMATS

    if fmt not in TENSORFLOW_FORMATS:
        return  # e.g. ONNX runs in onnxruntime; TensorFlow is not needed at all
    import tensorflow as tf

    # The same settings as evaluator.models' loaders, so in-process runs match.
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.experimental.enable_op_determinism()


# Modules the loaders import lazily. After the privilege drop the interpreter's
# own directory may be unreadable (e.g. a pyenv under /root), so everything a
# load can reach is imported while still privileged; a missing one shows up as
# E_MODEL_LOAD with the ImportError/LookupError in the operator log.
_PRELOAD_COMMON = (
    "encodings.cp437", "encodings.utf_8", "encodings.ascii", "encodings.latin_1",
    "encodings.idna", "encodings.utf_16", "encodings.utf_32", "encodings.unicode_escape",
    "encodings.raw_unicode_escape", "zipfile", "json", "tempfile", "shutil", "io",
    "traceback", "linecache", "struct", "zlib", "bz2", "lzma", "uuid", "hashlib", "socket",
    "platform", "importlib.metadata",
    "evaluator.models", "evaluator.models.allowlists", "evaluator.models.keras_format",
)


def _preload(fmt: str | None) -> list[str]:
    """Import what a load of ``fmt`` needs (its module and its registry ``preload`` list); returns the
    names that failed to import."""
    import importlib

    from ..models import FORMATS

    spec = FORMATS.get(fmt or "")
    own = (spec.module, *spec.preload) if spec is not None else ()
    failed = []
    for name in (*_PRELOAD_COMMON, *own):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - optional: a loader may not need it
            failed.append(name)
    return failed


def _tile(sample: list, batch: int) -> list:
    import numpy as np

    out = []
    for array in sample:
        reps = -(-batch // array.shape[0])
        out.append(np.ascontiguousarray(np.concatenate([array] * reps)[:batch]))
    return out


def _efficiency(model, header: dict, sample: list) -> dict:
    timings = {}
    for batch in header["batch_sizes"]:
        inputs = _tile(sample, int(batch))
        model(inputs)  # warm-up: graph tracing and allocator growth are not throughput
        runs = []
        for _ in range(int(header["repeats"])):
            start = time.perf_counter()
            model(inputs)
            runs.append(time.perf_counter() - start)
        timings[str(batch)] = runs
    return {"timings": timings}


def _opens(path: str) -> bool:
    """Whether this process can actually list (a directory) or read (a file) ``path``."""
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb") as handle:
                handle.read(1)
        return True
    except OSError:
        return False


def _selftest(paths: list[str]) -> dict:
    import socket

    return {
        "env": sorted(os.environ),
        "cwd": os.getcwd(),
        "uid": os.getuid(),
        "gid": os.getgid(),
        "groups": os.getgroups(),
        "visible": {p: os.path.exists(p) for p in paths},
        "readable": {p: os.access(p, os.R_OK) for p in paths},
        "opened": {p: _opens(p) for p in paths},
        "net": sorted(name for _, name in socket.if_nameindex()),
    }


def allocation_failed(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) is a runtime's failure to allocate memory."""
    seen = 0
    while exc is not None and seen < 8:
        if type(exc).__name__ in _OOM_TYPES or any(t in str(exc)[:4000].lower() for t in _OOM_TEXT):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def error_frame(exc: BaseException, default: str) -> dict:
    """The error frame for ``exc``: a code, a short identifier, and the reason for the operator log.

    The parent accepts only submission-fault codes from errors.CODES and maps
    anything else to E_CRASH; EaselErrors from the loader pass through.
    """
    name = type(exc).__name__
    code = getattr(exc, "code", None)
    if not isinstance(code, str) or not code.startswith("E_"):
        code = "E_OOM" if allocation_failed(exc) else default
    frame = {"error": code, "detail": getattr(exc, "detail", None) or name,
             "reason": f"{name}: {exc}"[:REASON_CHARS]}
    facts = getattr(exc, "facts", None)
    return {**frame, "facts": dict(facts)} if facts else frame  # the parent re-checks them (clean_facts)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    rfd, wfd = _protect_fds()
    channel = Channel(rfd, wfd)
    # The first frame is the parent's session config (limits, thread count).
    cfg, _ = channel.recv()
    isolation = _limits(cfg)
    isolation["no_new_privs"] = _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    namespaced = bool(cfg.get("namespaced"))  # bubblewrap made the namespaces already
    isolation["netns"] = namespaced or _unshare_net()

    import numpy as np  # noqa: F401  (after unshare: numpy may start threads)

    threads = max(1, int(cfg.get("threads", 1)))
    if len(argv) == 1 and argv[0] == "--selftest":
        fmt = None
        _preload(None)
        device = detect_device(None)
    else:
        model_path, fmt = argv
        try:
            from evaluator.models import load_model

            _configure_framework(fmt, threads)
            _preload(fmt)
            device = detect_device(fmt)
        except Exception as exc:  # noqa: BLE001 - reported as a code, traceback to stderr
            import traceback

            traceback.print_exc()
            channel.send({**error_frame(exc, "E_CRASH"), "isolation": isolation})
            return 1
    isolation["uid_dropped"] = _drop_privileges()
    isolation["pdeathsig"] = _prctl(_PR_SET_PDEATHSIG, 9)
    if not namespaced and os.getppid() != int(cfg.get("parent_pid", os.getppid())):
        return 1  # the parent died before PDEATHSIG was armed

    model = None
    if fmt is not None:
        try:
            model = load_model(fmt, model_path)
            if fmt == "onnx":  # where onnxruntime really runs it: CUDA, or the CPU it fell back to
                device = for_onnx(device, str(getattr(model, "provider", "CPUExecutionProvider")))
            hello = {"ok": True, "n_inputs": int(model.n_inputs),
                     "input_shapes": [[d if isinstance(d, int) else None for d in s] for s in model.input_shapes],
                     "parameters": int(model.parameters)}
        except Exception as exc:  # noqa: BLE001
            import traceback

            traceback.print_exc()
            hello = error_frame(exc, "E_MODEL_LOAD")
    else:
        hello = {"ok": True, "n_inputs": 0, "input_shapes": [], "parameters": 0}
    hello["isolation"] = isolation
    hello["device"] = device
    channel.send(hello)
    if "error" in hello:
        return 1

    while True:
        try:
            header, arrays = channel.recv()
        except EOFError:
            return 0
        op = header.get("op")
        try:
            if op == "predict":
                out = np.asarray(model(arrays))
                # The shape rides in the header: an output too large to read is refused by its shape.
                channel.send({"ok": True, "shapes": [list(out.shape)]}, [out])
            elif op == "efficiency":
                channel.send({"ok": True, **_efficiency(model, header, arrays)})
            elif op == "ping":
                channel.send({"ok": True, **_selftest(list(header.get("paths", [])))})
            elif op == "exit":
                return 0
            else:
                channel.send({"error": "E_CRASH", "detail": "unknown_op"})
        except Exception as exc:  # noqa: BLE001 - the model raised: the parent decides
            import traceback

            traceback.print_exc()
            channel.send(error_frame(exc, "E_CRASH"))


if __name__ == "__main__":
    sys.exit(main())
