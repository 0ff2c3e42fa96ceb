"""Sandboxed inference: the participant's model runs in a confined child process.

A model is a program (TensorFlow's security policy says so), so it never runs
in the evaluator's own process. :class:`SandboxedModel` starts one child per
evaluation (``python -P -m evaluator.sandbox_child MODEL FORMAT``), streams it
the input batches the parent chooses, and checks every batch it returns.

Isolation measures taken here (``SandboxedModel.isolation`` records which took
effect, verified from ``/proc`` by the parent, not taken from the child's word):

- ``env_scrubbed``: the child gets an empty environment plus only PATH=/usr/bin:/bin,
  HOME/TMPDIR (its own temp dir), PYTHONPATH (the evaluator package),
  PYTHON* hygiene flags, thread counts and TF_CPP_MIN_LOG_LEVEL
  (and CUDA_VISIBLE_DEVICES when the operator set it). No token, no
  ``EASEL_*``, no ``GITHUB_*`` reaches it.
- ``model_copied``: the model is copied (symlinks and special files refused) into
  a fresh temp dir; the child's cwd is a second fresh dir. argv holds only the
  copy's path and the format. It never receives the data directory, targets,
  domain-B images or the other split: the parent sends only input batches.
- ``pipe_protocol``: stdin/stdout carry length-prefixed frames of a JSON header
  and ``np.save`` bytes, loaded with ``allow_pickle=False``; the parent bounds
  every frame's size and never unpickles anything. The child moves the
  protocol off fds 0/1 so a stray print cannot forge a frame. stderr goes to a
  bounded buffer (the last 64 KiB, :attr:`SandboxedModel.stderr_tail`) for the
  operator's log only, never for a PR comment (a model could print inputs).
- ``new_session``: the child leads its own session/process group, so a kill
  reaches everything it started; ``__exit__`` always SIGKILLs the group and reaps.
- ``rlimits``: RLIMIT_CORE=0, RLIMIT_FSIZE=16 MiB (no big files), RLIMIT_NOFILE=1024,
  RLIMIT_CPU=timeout_s*max(2, threads)+60 (a backstop if the parent dies; the wall
  clock below is the real limit), and ``no_new_privs``.
- ``address_space``: RLIMIT_AS at max(4*memory_mb, memory_mb+8 GiB), a backstop only:
  TensorFlow on CPU reserves ~1.9 GB of virtual memory for ~0.6 GB resident,
  and CUDA reserves far more, so it is left off when an NVIDIA device exists.
- ``memory_cgroup``: where the host allows one (root with a writable memory
  cgroup, or ``$EASEL_SANDBOX_CGROUP``; see :mod:`evaluator.sandbox_cgroup`),
  the child runs in its own cgroup limited to ``limits.memory_mb`` with no
  swap: the kernel enforces it on every page, and an OOM kill there → E_OOM.
- ``rss_watchdog``: a parent thread sums VmRSS of the child and its descendants
  every 50 ms and kills the group past ``limits.memory_mb`` → E_OOM (the only
  memory limit where no cgroup could be made).
- ``netns``: a new, empty network namespace (``unshare(CLONE_NEWNET)`` as root, an
  unprivileged user namespace otherwise); skipped silently where refused.
- ``uid_dropped``: as root the child drops to uid/gid 65534 (nobody), no
  supplementary groups, before it opens the model; on the runner the data
  directory is 0700 and owned by the runner user, so the child cannot read it.
  (It drops after importing its libraries, which may live where nobody cannot
  read, e.g. a pyenv under /root.) Not running as root, there is no drop: the
  child can read what the runner user can, so the runner must then supply the
  separation (see below).
- ``pdeathsig``: the child is SIGKILLed when the thread that started it exits
  (construct SandboxedModel from a long-lived thread).
- wall clock: ``limits.timeout_s`` covers the whole session (startup, probe, all
  predicts, the efficiency run); past it the group is killed → E_TIMEOUT.
  A child that exits, breaks the pipe or sends a malformed frame → E_CRASH.
  The parent always survives and raises a coded :class:`EaselError`.

What the GitHub side adds on top (see .github/workflows/evaluate.yml): the
job runs on an ephemeral self-hosted runner with ``permissions: {}`` and no
secrets, only from workflow definitions on ``main``, so the environment the
child is scrubbed of holds no token in the first place. The runner's container
or VM should add what this module cannot guarantee everywhere: a memory cgroup
the runner may create children in where it cannot make its own (without one
the watchdog polls, so a fast allocation can overshoot by what it touches in
50 ms), an egress firewall (for hosts where the namespace is
refused), and either root inside the container (so the uid drop happens) or
a data directory readable only by a user the evaluator is not.

Output rule (checked in the parent on every batch): shape equal to the input's
(E_PRED_SHAPE; this also catches outputs whose shape changes with the batch
size), dtype float32 (E_PRED_DTYPE), all finite (E_PRED_NONFINITE), and values
within [-1 - 1e-3, 1 + 1e-3]; values in that margin are clipped silently to
[-1, 1], anything beyond is E_PRED_RANGE.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from .config import Limits
from .errors import CODES, SUBMISSION, EaselError
from .sandbox_cgroup import MemoryCgroup
from .sandbox_child import MAGIC, MAX_HEADER, NOBODY, decode_array, encode_frame

RANGE_MARGIN = 1e-3
STDERR_KEEP = 64 * 1024
POLL_S = 0.05
FSIZE_BYTES = 16 << 20
NOFILE = 1024
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


# --- output validation ----------------------------------------------------------

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


# --- helpers ----------------------------------------------------------------------

def _copy_model(src: Path, dest: Path) -> int:
    """Copy a model file or directory, refusing links and special files; return bytes copied."""
    total = 0

    def one(path: Path, target: Path) -> None:
        nonlocal total
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            raise EaselError("E_SYMLINK", "model contains a symbolic link", detail=path.name)
        if stat.S_ISDIR(info.st_mode):
            target.mkdir()
            for child in sorted(path.iterdir()):
                one(child, target / child.name)
            target.chmod(0o555)
        elif stat.S_ISREG(info.st_mode):
            shutil.copyfile(path, target, follow_symlinks=False)
            target.chmod(0o444)
            total += info.st_size
        else:
            raise EaselError("E_SPECIAL_FILE", "model contains a special file", detail=path.name)

    if not src.exists() and not src.is_symlink():
        raise EaselError("E_MODEL_MISSING", "model path does not exist", detail=src.name)
    one(src, dest)
    return total


def _cpu_count() -> int:
    """Inference threads: the loaders' own rule, so sandbox and in-process runs agree."""
    from .models import threads

    return threads()


def _has_nvidia() -> bool:
    return os.path.exists("/dev/nvidiactl")


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm", "rb") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{current}/task/{tid}/children") as handle:
                    kids = {int(k) for k in handle.read().split()}
            except OSError:
                continue
            todo.extend(kids - found)
            found |= kids
    return found


def _status_field(pid: int, key: str) -> str | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def _proc_limits(pid: int) -> dict[str, str]:
    out = {}
    try:
        with open(f"/proc/{pid}/limits") as handle:
            for line in handle.readlines()[1:]:
                name, soft = line[:26].strip(), line[26:47].strip()
                out[name] = soft
    except OSError:
        pass
    return out


class _StderrTail(threading.Thread):
    """Drains the child's stderr into a bounded buffer (the last ``STDERR_KEEP`` bytes)."""

    def __init__(self, stream):
        super().__init__(daemon=True, name="easel-sandbox-stderr")
        self.stream, self.buffer, self.lock = stream, bytearray(), threading.Lock()

    def run(self) -> None:
        fd = self.stream.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.buffer += chunk
                if len(self.buffer) > STDERR_KEEP:
                    del self.buffer[:-STDERR_KEEP]

    def text(self) -> str:
        with self.lock:
            return self.buffer.decode("utf-8", "replace")


class _RssWatchdog(threading.Thread):
    """Kills the child's process group when its resident memory passes ``limit`` bytes."""

    def __init__(self, pid: int, limit: int, on_kill):
        super().__init__(daemon=True, name="easel-sandbox-rss")
        self.pid, self.limit, self.on_kill = pid, limit, on_kill
        self.stop_event = threading.Event()
        self.peak = 0

    def run(self) -> None:
        kids: set[int] = set()
        tick = 0
        while not self.stop_event.wait(POLL_S):
            if tick % 20 == 0:  # new descendants are rare: rescan once a second
                kids = _descendants(self.pid)
            tick += 1
            total = 0
            for pid in (self.pid, *kids):
                try:
                    total += _rss_bytes(pid)
                except (OSError, ValueError, IndexError):
                    if pid == self.pid:
                        return  # the child is gone
            self.peak = max(self.peak, total)
            if total > self.limit:
                self.on_kill(total)
                return


# --- the sandboxed model -------------------------------------------------------------

class SandboxedModel:
    """A participant model running in a confined child process (one per evaluation).

    Use as a context manager. ``__enter__`` spawns the child, which loads the
    model; the parent then checks its signature (``n_inputs`` inputs, 4-D
    NHWC, 3 channels, accepting ``image_size`` px, dynamic batch) and runs a
    probe batch of zeros. Errors: E_MODEL_LOAD, E_SIGNATURE, E_TIMEOUT,
    E_OOM, E_CRASH, and the E_PRED_* codes of :func:`validate_output`.
    ``__exit__`` always kills the child's process group and reaps it.

    Attributes after ``__enter__``: ``parameters`` (int, reported by the
    loader in the child), ``model_bytes`` (int, measured by the parent on
    the files), ``isolation`` (dict[str, bool]: which measures took effect),
    ``pid``, ``stderr_tail`` (operator log only).
    """

    # The child's entry point after the interpreter flags; tests swap in fake children.
    _child_cmd: tuple[str, ...] = ("-m", "evaluator.sandbox_child")

    def __init__(self, model_path: Path, fmt: str, n_inputs: int, image_size: int, limits: Limits,
                 batch_size: int = 16, *, _selftest: bool = False):
        self.model_path = Path(model_path)
        self.fmt = fmt
        self.n_inputs = int(n_inputs)
        self.image_size = int(image_size)
        self.limits = limits
        self.batch_size = max(1, int(batch_size))
        self.parameters = 0
        self.model_bytes = 0
        self.isolation: dict[str, bool] = {}
        self.pid: int | None = None
        self.input_shapes: list = []
        self._selftest = _selftest
        self._proc: subprocess.Popen | None = None
        self._tmp: Path | None = None
        self._stderr: _StderrTail | None = None
        self._watchdog: _RssWatchdog | None = None
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

    def _env(self, home: Path, threads: int) -> dict[str, str]:
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "TMPDIR": str(home),
            "PYTHONPATH": str(_PACKAGE_ROOT),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1",
            "PYTHONHASHSEED": "0",
            "LANG": "C.UTF-8",
            "OMP_NUM_THREADS": str(threads),
            "TF_NUM_INTEROP_THREADS": "1",
            "TF_NUM_INTRAOP_THREADS": str(threads),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "TF_DETERMINISTIC_OPS": "1",
        }
        if "CUDA_VISIBLE_DEVICES" in os.environ:  # the operator's GPU choice, not a secret
            env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
        return env

    def _start(self) -> None:
        start = time.monotonic()
        self._deadline = start + float(self.limits.timeout_s)
        root = os.geteuid() == 0
        self._tmp = Path(tempfile.mkdtemp(prefix="easel-sandbox-"))
        work = self._tmp / "work"
        work.mkdir()
        if self._selftest:
            argv_tail = ["--selftest"]
        else:
            copy = self._tmp / "model" / self.model_path.name
            copy.parent.mkdir()
            self.model_bytes = _copy_model(self.model_path, copy)
            copy.parent.chmod(0o555)
            argv_tail = [str(copy), self.fmt]
        self._tmp.chmod(0o755 if root else 0o700)
        if root:  # the dropped child owns only its scratch dir; the model copy stays read-only
            os.chown(work, NOBODY, NOBODY)
        work.chmod(0o700)

        threads = _cpu_count()
        memory = int(self.limits.memory_mb) << 20
        as_bytes = 0 if _has_nvidia() else max(4 * memory, memory + (8192 << 20))
        cfg = {"threads": threads, "fsize_bytes": FSIZE_BYTES, "nofile": NOFILE,
               "cpu_s": int(float(self.limits.timeout_s) * max(2, threads)) + 60,
               "as_bytes": as_bytes, "parent_pid": os.getpid()}
        cmd = [sys.executable, "-P", "-s", "-B", *self._child_cmd, *argv_tail]
        self._cgroup = MemoryCgroup.create(memory)
        try:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=work, env=self._env(work, threads), start_new_session=True, close_fds=True, bufsize=0)
        except OSError as exc:
            raise EaselError("E_INTERNAL", f"could not start the sandbox: {exc}") from None
        self.pid = self._proc.pid
        if self._cgroup is not None:  # before the config frame: no model code has run yet
            self._cgroup.add(self.pid)
        os.set_blocking(self._proc.stdin.fileno(), False)
        self._stderr = _StderrTail(self._proc.stderr)
        self._stderr.start()
        self._watchdog = _RssWatchdog(self.pid, memory, self._on_oom)
        self._watchdog.start()

        self._send({"op": "config", **cfg})
        hello, _ = self._recv(0)
        if "error" in hello:
            raise self._child_error(hello, "E_MODEL_LOAD")
        self._verify_isolation(hello.get("isolation"), as_bytes)
        if not self._selftest:
            shapes = hello.get("input_shapes")
            self.input_shapes = [[d if isinstance(d, int) and not isinstance(d, bool) else None for d in s]
                                 if isinstance(s, list) else s for s in shapes] if isinstance(shapes, list) else []
            params = hello.get("parameters")
            self.parameters = params if isinstance(params, int) and not isinstance(params, bool) \
                and 0 <= params < 1 << 48 else 0

    def _verify_isolation(self, claimed, as_bytes: int) -> None:
        claimed = claimed if isinstance(claimed, dict) else {}
        pid = self.pid
        iso = {"env_scrubbed": True, "model_copied": not self._selftest, "pipe_protocol": True,
               "rss_watchdog": True}
        try:
            iso["new_session"] = os.getsid(pid) == pid and os.getpgid(pid) == pid
        except OSError:
            iso["new_session"] = False
        lims = _proc_limits(pid)
        iso["rlimits"] = (lims.get("Max core file size") == "0"
                          and lims.get("Max file size") == str(FSIZE_BYTES)
                          and lims.get("Max open files") == str(NOFILE)
                          and lims.get("Max cpu time", "unlimited") != "unlimited")
        iso["address_space"] = bool(as_bytes) and lims.get("Max address space") == str(as_bytes)
        iso["no_new_privs"] = _status_field(pid, "NoNewPrivs") == "1"
        uid = _status_field(pid, "Uid")
        iso["uid_dropped"] = bool(uid) and all(u == str(NOBODY) for u in uid.split())
        try:
            iso["netns"] = os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
        except OSError:  # unreadable without privileges: only the child's word is left
            iso["netns"] = claimed.get("netns") is True
        iso["pdeathsig"] = claimed.get("pdeathsig") is True  # not visible in /proc
        iso["memory_cgroup"] = self._cgroup is not None and self._cgroup.contains(pid)
        self.isolation = iso

    def close(self) -> None:
        """Kill the child's process group, reap it, stop the threads, remove the temp dir."""
        proc = self._proc
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # before reaping, so the pgid is still ours
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.kill()
            except OSError:
                pass
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
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _kill(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _death(self, what: str) -> EaselError:
        """The coded error for a child that stopped answering (EOF, broken pipe, bad frame)."""
        exiting = what in ("eof", "broken_pipe", "write")  # otherwise the child is alive: kill now
        if exiting and self._oom_rss is None and not self._timed_out and self._proc is not None:
            try:
                self._proc.wait(timeout=1.0)  # give the watchdog and the exit status a moment
            except subprocess.TimeoutExpired:
                pass
        self._kill()
        if self._oom_rss is None and self._cgroup is not None and self._cgroup.oom_killed():
            self._oom_rss = self._cgroup.peak_bytes() or self._cgroup.limit_bytes
        if self._oom_rss is not None:
            return EaselError("E_OOM", f"child used {self._oom_rss >> 20} MiB, limit {self.limits.memory_mb} MiB",
                              detail=f"{self._oom_rss >> 20}MiB")
        if self._timed_out or time.monotonic() >= self._deadline:
            return EaselError("E_TIMEOUT", f"no answer within limits.timeout_s={self.limits.timeout_s}",
                              detail=f"{self.limits.timeout_s:g}s")
        status = self._proc.poll() if self._proc is not None else None
        if status is not None and status < 0:
            sig = signal.Signals(-status).name if -status in signal.Signals._value2member_map_ else str(-status)
            if sig == "SIGXCPU":
                return EaselError("E_TIMEOUT", "child exceeded its CPU-time limit", detail=sig)
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
        return EaselError(code, f"the model process reported {code}", detail=detail if isinstance(detail, str) else None)

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

    def _recv(self, max_array_bytes: int) -> tuple[dict, list[np.ndarray]]:
        """One frame from the child; arrays beyond ``max_array_bytes`` in total are refused unread."""
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
            raise EaselError("E_PRED_SHAPE", f"output of {sum(sizes)} bytes, at most {max_array_bytes} expected",
                             detail=f"{sum(sizes)}bytes")
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
        header, arrays = self._recv(2 * expected + 4096)  # room for a float64 output: E_PRED_DTYPE
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
        interfaces and whether each of ``paths`` is visible/readable to it."""
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
        timings = header.get("timings")
        try:
            runs = {int(b): [float(t) for t in timings[str(b)]] for b in sizes}
            ok = all(len(r) == 5 and all(0 < t < 1e6 for t in r) for r in runs.values())
        except (TypeError, KeyError, ValueError):
            ok = False
        if not ok or sum(sum(r) for r in runs.values()) > elapsed * 1.01 + 1e-3:
            raise self._fail("efficiency_report")
        throughput = {b: b / float(np.median(r)) for b, r in runs.items()}
        best = max(throughput, key=lambda b: (throughput[b], -b))
        return {"images_per_s": throughput[best], "best_batch_size": best,
                "latency_ms_batch1": 1000.0 * float(np.median(runs[1])),
                "parameters": self.parameters, "model_bytes": self.model_bytes,
                "throughput": throughput}


# --- overhead benchmark -----------------------------------------------------------------

def measure_overhead(model_path: Path, fmt: str, inputs: list[np.ndarray], batch_size: int,
                     limits: Limits | None = None, repeats: int = 5) -> dict:
    """Time the same batches in-process and through the sandbox (seconds per pass over ``inputs``).

    ``inputs``: one float32 [n, H, W, 3] array per model input. Passes
    alternate between the two (so machine load hits both alike) after one
    warm-up pass each; the best of ``repeats`` counts. Returns in_process_s,
    sandbox_s (predict round trips only: pipe, framing, validation), overhead_s,
    overhead_ratio ((sandbox - in-process) / in-process), batches, batch_size,
    startup_s (spawn + load + probe, once per evaluation) and max_abs_diff
    between the two outputs (0.0 expected: same loader, same threads).
    """
    from .models import load_model

    n = inputs[0].shape[0]
    batches = [[a[i:i + batch_size] for a in inputs] for i in range(0, n, batch_size)]
    image_size = inputs[0].shape[1]
    local = load_model(fmt, model_path)

    def run_local(batch: list[np.ndarray]) -> np.ndarray:
        return np.clip(np.asarray(local(batch)), -1, 1)

    started = time.perf_counter()
    with SandboxedModel(Path(model_path), fmt, len(inputs), image_size, limits or Limits(),
                        batch_size=batch_size) as model:
        startup_s = time.perf_counter() - started
        best = {"local": float("inf"), "sandbox": float("inf")}
        outs = {}
        for round_ in range(repeats + 1):  # round 0 warms up (tracing, allocator growth)
            for name, run in (("local", run_local), ("sandbox", model.predict)):
                start = time.perf_counter()
                outs[name] = np.concatenate([run(b) for b in batches])
                if round_:
                    best[name] = min(best[name], time.perf_counter() - start)
    in_process_s, sandbox_s = best["local"], best["sandbox"]
    return {"in_process_s": in_process_s, "sandbox_s": sandbox_s, "overhead_s": sandbox_s - in_process_s,
            "overhead_ratio": (sandbox_s - in_process_s) / in_process_s, "batches": len(batches),
            "batch_size": batch_size, "startup_s": startup_s,
            "max_abs_diff": float(np.abs(outs["local"] - outs["sandbox"]).max())}
