"""The trusted side of sandboxed inference: :class:`SandboxedModel`.

A model is a program (TensorFlow's security policy says so), so it never runs
in the evaluator's own process. One child per evaluation loads it, receives
the input batches the parent chooses over a pipe, and every batch it returns
is checked here (:mod:`evaluator.sandbox.contract`). The measures that
confine the child, and what the GitHub side adds, are described in
docs/organizers.md ("How a model is confined"); ``SandboxedModel.isolation``
records which took effect, verified from ``/proc``, not taken from the child.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..config import Limits
from ..error_text import clean_facts, fact_problem
from ..errors import CODES, SUBMISSION, EaselError
from . import bwrap
from .cgroup import MemoryCgroup
from .contract import check_signature, parse_hello, speed_from_timings, validate_output
from .device import require_gpu, sanitize as sanitize_device
from .launch import (FSIZE_BYTES, NOFILE, PACKAGE_ROOT, Spawned, child_env, copy_model, exit_signal, kill, spawn,
                     verify_isolation)
from .monitor import RssWatchdog, StderrTail, log_load_failure
from ..models import model_companions
from .protocol import MAGIC, MAX_HEADER, NOBODY, decode_array, encode_frame

def _cpu_count() -> int:
    """Inference threads: the loaders' own rule, so sandbox and in-process runs agree."""
    from ..models import threads

    return threads()


def _has_nvidia() -> bool:
    return os.path.exists("/dev/nvidiactl")


# --- the sandboxed model -------------------------------------------------------------

class SandboxedModel:
    """A participant model running in a confined child process (one per evaluation).

    Use as a context manager. ``__enter__`` spawns the child (inside
    bubblewrap where it is installed), which loads the model; the parent then
    checks its signature (``n_inputs`` inputs, 4-D NHWC, 3 channels,
    accepting ``image_size`` px, dynamic batch) and runs a probe batch of
    zeros. Errors: E_MODEL_LOAD, E_SIGNATURE, E_TIMEOUT, E_OOM, E_CRASH, the
    E_PRED_* codes of :func:`validate_output`, and E_NO_GPU when
    ``require_gpu`` and a TensorFlow model would run on the CPU.
    ``__exit__`` always kills the child and everything it started, and reaps it.

    Attributes after ``__enter__``: ``parameters`` (int, reported by the
    loader in the child), ``model_bytes`` (int, measured by the parent on
    the files), ``isolation`` (dict[str, bool]: which measures took effect),
    ``device`` (dict, the sanitized ``efficiency.device`` record), ``pid``
    (the child's host pid), ``stderr_tail`` (operator log only).
    ``isolate_fs``: None runs the child in bubblewrap where it works, False never.
    """

    # The child's entry point after the interpreter flags; tests swap in fake children.
    _child_cmd: tuple[str, ...] = ("-m", "evaluator.sandbox.child")

    def __init__(self, model_path: Path, fmt: str, n_inputs: int, image_size: int, limits: Limits,
                 batch_size: int = 16, *, require_gpu: bool = False, isolate_fs: bool | None = None,
                 _selftest: bool = False):
        self.model_path = Path(model_path)
        self.fmt = fmt
        self.n_inputs = int(n_inputs)
        self.image_size = int(image_size)
        self.limits = limits
        self.batch_size = max(1, int(batch_size))
        self.require_gpu = require_gpu
        self.isolate_fs = isolate_fs
        self.parameters = 0
        self.model_bytes = 0
        self.isolation: dict[str, bool] = {}
        self.device: dict = {}
        self.pid: int | None = None
        self.input_shapes: list = []
        self._selftest = _selftest
        self._proc: subprocess.Popen | None = None
        self._spawned: Spawned | None = None
        self._tmp: Path | None = None
        self._stderr: StderrTail | None = None
        self._watchdog: RssWatchdog | None = None
        self._cgroup: MemoryCgroup | None = None
        self._deadline = 0.0
        self._oom_rss: int | None = None
        self._timed_out = False
        self._dead = False

    # -- lifecycle --

    def __enter__(self) -> "SandboxedModel":
        try:
            self._start()
            if not self._selftest:
                check_signature(self.input_shapes, self.n_inputs, self.image_size)
                probe = [np.zeros((1, self.image_size, self.image_size, 3), np.float32)
                         for _ in range(self.n_inputs)]
                self.predict(probe)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def stderr_tail(self) -> str:
        """The child's last 64 KiB of stderr: for the operator's log, never for a PR comment."""
        return self._stderr.text() if self._stderr else ""

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _command(self, model_dir: Path | None) -> tuple[list[str], str, bool]:
        """(argv, the child's home directory, whether it runs in bubblewrap)."""
        binary = bwrap.available() if self.isolate_fs is not False else None
        if self._selftest:
            tail = ["--selftest"]
        elif binary:
            tail = [f"{bwrap.MODEL_DIR}/{self.model_path.name}", self.fmt]
        else:
            tail = [str(model_dir / self.model_path.name), self.fmt]
        python = [sys.executable, "-P", "-s", "-B", *self._child_cmd, *tail]
        if binary:
            return [*bwrap.command(binary, PACKAGE_ROOT / "evaluator", model_dir), *python], bwrap.WORK_DIR, True
        return python, str(self._tmp / "work"), False

    def _start(self) -> None:
        start = time.monotonic()
        self._deadline = start + float(self.limits.timeout_s)
        root = os.geteuid() == 0
        self._tmp = Path(tempfile.mkdtemp(prefix="easel-sandbox-"))
        work = self._tmp / "work"  # the child's cwd without bubblewrap (a private tmpfs with it)
        work.mkdir()
        model_dir = None
        if not self._selftest:
            model_dir = self._tmp / "model"
            model_dir.mkdir()
            self.model_bytes = copy_model(self.model_path, model_dir / self.model_path.name)
            for name in model_companions(self.fmt, self.model_path):  # ONNX external data, checked in-folder
                (model_dir / name).parent.mkdir(parents=True, exist_ok=True)
                self.model_bytes += copy_model(self.model_path.parent / name, model_dir / name)
            model_dir.chmod(0o555)
        self._tmp.chmod(0o755 if root else 0o700)
        if root:  # the dropped child owns only its scratch dir; the model copy stays read-only
            os.chown(work, NOBODY, NOBODY)
        work.chmod(0o700)

        threads = _cpu_count()
        memory = int(self.limits.memory_mb) << 20
        as_bytes = 0 if _has_nvidia() else max(4 * memory, memory + (8192 << 20))
        command, home, in_bwrap = self._command(model_dir)
        cfg = {"threads": threads, "fsize_bytes": FSIZE_BYTES, "nofile": NOFILE,
               "cpu_s": int(float(self.limits.timeout_s) * max(2, threads)) + 60,
               "as_bytes": as_bytes, "parent_pid": os.getpid(), "namespaced": in_bwrap}
        self._cgroup = MemoryCgroup.create(memory)
        procs = self._cgroup.path / "cgroup.procs" if self._cgroup is not None else None
        self._spawned = spawn(command, child_env(home, threads), work, procs, in_bwrap,
                              timeout=max(0.0, self._deadline - time.monotonic()))
        self._proc, self.pid = self._spawned.proc, self._spawned.pid
        os.set_blocking(self._proc.stdin.fileno(), False)
        self._stderr = StderrTail(self._proc.stderr)
        self._stderr.start()
        self._watchdog = RssWatchdog(self._spawned.pgid, memory, self._on_oom)
        self._watchdog.start()

        self._send({"op": "config", **cfg})  # no participant code has run before this
        hello, _ = self._recv(0)
        if "error" in hello:
            log_load_failure(hello)
            raise self._child_error(hello, "E_MODEL_LOAD")
        self.isolation = verify_isolation(self._spawned, hello.get("isolation"), as_bytes, self._cgroup,
                                          model_copied=not self._selftest)
        self.device = sanitize_device(hello.get("device"))
        if self.require_gpu:
            require_gpu(self.fmt, self.device)
        if not self._selftest:
            self.input_shapes, self.parameters = parse_hello(hello)

    def close(self) -> None:
        """Kill the child and everything it started, reap it, stop the threads, remove the temp dir."""
        proc = self._proc
        if proc is not None:
            kill(self._spawned)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # not reaped yet, so the pgid is still ours
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
        if self._cgroup is not None:
            self._cgroup.close()
        if self._watchdog is not None:
            self._watchdog.stop_event.set()
            self._watchdog.join()
        if self._spawned is not None:
            self._spawned.close()  # after the watchdog: it may still signal through the pidfd
        if self._stderr is not None:
            self._stderr.join(timeout=5)
            try:
                proc.stderr.close()
            except OSError:
                pass
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self._dead = True

    # -- failure handling --

    def _on_oom(self, rss: int) -> None:
        self._oom_rss = rss
        self._kill()

    def _kill(self) -> None:
        if self._spawned is not None:
            kill(self._spawned)

    def _death(self, what: str) -> EaselError:
        """The coded error for a child that stopped answering (EOF, broken pipe, bad frame)."""
        exiting = what in ("eof", "broken_pipe", "write")  # otherwise the child is alive: kill now
        if exiting and self._oom_rss is None and not self._timed_out and self._proc is not None:
            try:
                self._proc.wait(timeout=1.0)  # give the watchdog and the exit status a moment
            except subprocess.TimeoutExpired:
                pass
        status = self._proc.poll() if self._proc is not None else None  # before our own kill
        self._kill()
        if self._oom_rss is None and self._cgroup is not None and self._cgroup.oom_killed():
            self._oom_rss = self._cgroup.peak_bytes() or self._cgroup.limit_bytes
        if self._oom_rss is not None:
            return EaselError("E_OOM", f"child used {self._oom_rss >> 20} MiB, limit {self.limits.memory_mb} MiB",
                              detail=f"{self._oom_rss >> 20}MiB",
                              facts={"used_mb": int(self._oom_rss >> 20), "limit_mb": int(self.limits.memory_mb)})
        if self._timed_out or time.monotonic() >= self._deadline:
            return EaselError("E_TIMEOUT", f"no answer within limits.timeout_s={self.limits.timeout_s}",
                              detail=f"{self.limits.timeout_s:g}s", facts={"limit_s": float(self.limits.timeout_s)})
        sig = exit_signal(status, in_bwrap=self._spawned.init_pid is not None)
        if sig == "SIGXCPU":
            return EaselError("E_TIMEOUT", "child exceeded its CPU-time limit", detail=sig)
        if sig is not None:
            return EaselError("E_CRASH", f"child killed by {sig} ({what})", detail=sig)
        detail = f"exit_{status}" if status is not None else what
        return EaselError("E_CRASH", f"child stopped answering ({what}, status {status})", detail=detail)

    def _fail(self, what: str) -> EaselError:
        self._dead = True
        return self._death(what)

    def _child_error(self, header: dict, default: str) -> EaselError:
        code = header.get("error")
        code = code if isinstance(code, str) else default
        info = CODES.get(code)
        if info is None or info.fault != SUBMISSION:
            code = "E_CRASH"
        detail = header.get("detail")
        self._dead = True
        self._kill()
        return EaselError(code, f"the model process reported {code}",
                          detail=detail if isinstance(detail, str) else None,
                          facts=clean_facts(code, header.get("facts")))  # untrusted: kept only when well-typed

    # -- framed I/O with the session deadline --

    def _remaining(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            self._timed_out = True
            self._kill()
            raise self._fail("deadline")
        return left

    def _send(self, header: dict, arrays: list | tuple = ()) -> None:
        if self._dead or self._proc is None:
            raise EaselError("E_CRASH", "the model process is no longer running", detail="dead")
        data = memoryview(encode_frame(header, arrays))
        fd = self._proc.stdin.fileno()
        while data:
            _, writable, _ = select.select([], [fd], [], min(self._remaining(), 1.0))
            if not writable:
                if self._oom_rss is not None or self._proc.poll() is not None:
                    raise self._fail("write")
                continue
            try:
                data = data[os.write(fd, data):]
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                raise self._fail("broken_pipe") from None

    def _read_exact(self, n: int) -> bytearray:
        fd = self._proc.stdout.fileno()
        out = bytearray(n)
        view, got = memoryview(out), 0
        while got < n:
            readable, _, _ = select.select([fd], [], [], min(self._remaining(), 1.0))
            if not readable:
                continue
            k = os.readv(fd, [view[got:]])
            if k == 0:
                raise self._fail("eof")
            got += k
        return out

    def _recv(self, max_array_bytes: int,
              expected_shape: tuple[int, ...] | None = None) -> tuple[dict, list[np.ndarray]]:
        """One frame from the child; arrays beyond ``max_array_bytes`` in total are refused unread
        (E_PRED_SHAPE against ``expected_shape``, the output shape a predict frame should carry)."""
        if self._read_exact(4) != MAGIC:
            raise self._fail("bad_magic")
        (size,) = struct.unpack(">I", self._read_exact(4))
        if size > MAX_HEADER:
            raise self._fail("header_size")
        try:
            header = json.loads(bytes(self._read_exact(size)))
        except (ValueError, UnicodeDecodeError):
            raise self._fail("header_json") from None
        if not isinstance(header, dict):
            raise self._fail("header_type")
        sizes = header.get("arrays", [])
        if not isinstance(sizes, list) or not all(isinstance(s, int) and s >= 0 for s in sizes):
            raise self._fail("array_sizes")
        if sum(sizes) > max_array_bytes:
            # Reading it would let the child choose how much the parent buffers.
            self._dead = True
            self._kill()
            shapes = header.get("shapes")  # the child's word for it, only ever shown as numbers
            facts = {"expected": [int(d) for d in expected_shape or ()], "got_bytes": sum(sizes),
                     "limit_bytes": max_array_bytes}
            if isinstance(shapes, list) and len(shapes) == 1 \
                    and fact_problem("E_PRED_SHAPE", {**facts, "got": shapes[0]}) is None:
                facts["got"] = list(shapes[0])
            raise EaselError("E_PRED_SHAPE", f"output of {sum(sizes)} bytes, at most {max_array_bytes} expected",
                             detail=f"{sum(sizes)}bytes", facts=facts)
        arrays = []
        for s in sizes:
            blob = self._read_exact(s)
            try:
                arrays.append(decode_array(blob))
            except Exception:  # noqa: BLE001 - any malformed .npy is a garbage frame
                raise self._fail("bad_array") from None
        return header, arrays

    # -- requests --

    def _check_inputs(self, inputs: list[np.ndarray]) -> tuple[int, ...]:
        if len(inputs) != self.n_inputs:
            raise ValueError(f"expected {self.n_inputs} input arrays, got {len(inputs)}")
        shape = (inputs[0].shape[0], self.image_size, self.image_size, 3)
        for array in inputs:
            if array.dtype != np.float32 or array.shape != shape:
                raise ValueError(f"inputs must be float32 {shape}, got {array.dtype} {array.shape}")
        return shape

    def predict(self, inputs: list[np.ndarray]) -> np.ndarray:
        """Run one batch: ``inputs`` float32 [b, H, W, 3] in [-1, 1], one array per model
        input; returns the validated output float32 [b, H, W, 3], clipped to [-1, 1]."""
        shape = self._check_inputs(inputs)
        self._send({"op": "predict"}, inputs)
        expected = int(np.prod(shape)) * 4
        header, arrays = self._recv(2 * expected + 4096, shape)  # room for a float64 output: E_PRED_DTYPE
        if "error" in header:
            raise self._child_error(header, "E_CRASH")
        if len(arrays) != 1:
            raise self._fail("array_count")
        try:
            return validate_output(arrays[0], shape)
        except EaselError:
            self._dead = True
            self._kill()
            raise

    def ping(self, paths: list[str] = ()) -> dict:
        """Debug request: the child's environment keys, cwd, uid/gid, network
        interfaces and, for each of ``paths``, whether it is visible, readable
        by its mode (``readable``) and actually listed or read (``opened``)."""
        self._send({"op": "ping", "paths": [str(p) for p in paths]})
        header, _ = self._recv(0)
        if "error" in header:
            raise self._child_error(header, "E_CRASH")
        return header

    def efficiency(self, sample: list[np.ndarray]) -> dict:
        """Speed measured in the child on ``sample`` (one float32 [n, H, W, 3] array per input).

        Returns images_per_s (float, at the best batch size of 1, 4, 16 and the
        configured one, capped at it), best_batch_size (int), latency_ms_batch1
        (float, median of 5 runs at batch 1), parameters (int), model_bytes (int),
        and throughput (dict batch size -> images/s). The child's timings are
        untrusted: their sum must fit in the parent's own wall time, else E_CRASH.
        """
        self._check_inputs(sample)
        sizes = sorted({b for b in (1, 4, 16) if b <= self.batch_size} | {self.batch_size})
        started = time.perf_counter()
        self._send({"op": "efficiency", "batch_sizes": sizes, "repeats": 5}, sample)
        header, _ = self._recv(0)
        elapsed = time.perf_counter() - started
        if "error" in header:
            raise self._child_error(header, "E_CRASH")
        speed = speed_from_timings(header.get("timings"), sizes, repeats=5, wall_s=elapsed)
        if speed is None:
            raise self._fail("efficiency_report")
        return {**speed, "parameters": self.parameters, "model_bytes": self.model_bytes}


