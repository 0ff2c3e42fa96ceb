"""Starting the sandboxed child and verifying, from /proc, which isolation measures took effect.

The process tree of one evaluation (all in one process group, led by ``pgid``)::

    /bin/sh (joins the memory cgroup, then execs) -> bwrap -> bwrap (pid 1 of the new
    PID namespace, reaps) -> python -m evaluator.sandbox.child

or, without bubblewrap, ``/bin/sh`` execs the child directly. Joining the
cgroup before the exec means every process of the sandbox is born inside it.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import EaselError
from .monitor import children, proc_limits, status_field
from .protocol import NOBODY

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the child's PYTHONPATH: worktrees work too
FSIZE_BYTES = 16 << 20
NOFILE = 1024
_JOIN_CGROUP = '{ echo $$ > "$0"; } 2>/dev/null; unset PWD OLDPWD; exec "$@"'


def copy_model(src: Path, dest: Path) -> int:
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


def child_env(home: str, threads: int) -> dict[str, str]:
    """The child's whole environment: nothing of the parent's but the operator's GPU choice."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "PYTHONPATH": str(PACKAGE_ROOT),
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


@dataclass
class Spawned:
    """A started sandbox: ``proc`` leads the process group ``pgid``; ``pid`` is the Python child
    (host pid); ``init_pid`` is bwrap's pid 1 of the new PID namespace (None without bwrap)."""

    proc: subprocess.Popen
    pgid: int
    pid: int
    init_pid: int | None
    init_fd: int | None = None  # a pidfd of init_pid

    def close(self) -> None:
        if self.init_fd is not None:
            os.close(self.init_fd)
            self.init_fd = None


def _find_child(proc: subprocess.Popen, timeout: float) -> tuple[int, int | None]:
    """(child pid, init pid) under bwrap: walk bwrap -> its pid 1 -> the child, as soon as they exist."""
    until = time.monotonic() + timeout
    while time.monotonic() < until and proc.poll() is None:
        inits = children(proc.pid)
        if len(inits) == 1:
            kids = children(inits[0])
            if len(kids) == 1:
                return kids[0], inits[0]
        time.sleep(0.002)
    return proc.pid, None  # bwrap already gone: the exchange that follows reports the crash


def spawn(command: list[str], env: dict[str, str], cwd: Path, cgroup_procs: Path | None,
          in_bwrap: bool, timeout: float) -> Spawned:
    """Start ``command`` in its own session with piped stdin/stdout/stderr, inside the memory
    cgroup whose ``cgroup.procs`` file is ``cgroup_procs`` (None: no cgroup)."""
    if cgroup_procs is not None:
        command = ["/bin/sh", "-c", _JOIN_CGROUP, str(cgroup_procs), *command]
    try:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=cwd, env=env, start_new_session=True, close_fds=True, bufsize=0)
    except OSError as exc:
        raise EaselError("E_INTERNAL", f"could not start the sandbox: {exc}") from None
    pid, init_pid = _find_child(proc, timeout) if in_bwrap else (proc.pid, None)
    spawned = Spawned(proc, proc.pid, pid, init_pid)
    if init_pid is not None:
        try:
            spawned.init_fd = os.pidfd_open(init_pid)
        except OSError:  # already gone: bwrap exits on its own
            pass
    return spawned


def kill(spawned: Spawned) -> None:
    """SIGKILL the whole sandbox. Under bwrap, killing its pid 1 ends the PID namespace (the kernel
    kills and reaps everything in it) and bwrap then exits by itself, so nothing is orphaned; the
    pidfd makes sure the signal cannot reach a process that reused the pid."""
    try:
        if spawned.init_fd is not None:
            signal.pidfd_send_signal(spawned.init_fd, signal.SIGKILL)
        else:
            os.killpg(spawned.pgid, signal.SIGKILL)
    except OSError:  # already gone (ProcessLookupError) or not ours to signal
        pass


def exit_signal(status: int | None, in_bwrap: bool) -> str | None:
    """The signal that ended the child, from its exit status (bwrap reports 128 + signal)."""
    number = -status if status is not None and status < 0 else None
    if number is None and status is not None and in_bwrap and 128 < status < 160:
        number = status - 128
    if number is None:
        return None
    return signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)


def _same_namespace(pid: int, kind: str) -> bool | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}") == os.readlink(f"/proc/self/ns/{kind}")
    except OSError:  # unreadable without privileges
        return None


def verify_isolation(spawned: Spawned, claimed, as_bytes: int, cgroup, model_copied: bool) -> dict[str, bool]:
    """Which measures took effect, read from /proc (the child's own word only where /proc is silent)."""
    claimed = claimed if isinstance(claimed, dict) else {}
    pid, pgid = spawned.pid, spawned.pgid
    iso = {"env_scrubbed": True, "model_copied": model_copied, "pipe_protocol": True, "rss_watchdog": True}
    try:
        iso["new_session"] = os.getsid(pid) == pgid and os.getpgid(pid) == pgid != os.getsid(0)
    except OSError:
        iso["new_session"] = False
    lims = proc_limits(pid)
    iso["rlimits"] = (lims.get("Max core file size") == "0"
                      and lims.get("Max file size") == str(FSIZE_BYTES)
                      and lims.get("Max open files") == str(NOFILE)
                      and lims.get("Max cpu time", "unlimited") != "unlimited")
    iso["address_space"] = bool(as_bytes) and lims.get("Max address space") == str(as_bytes)
    iso["no_new_privs"] = status_field(pid, "NoNewPrivs") == "1"
    uid = status_field(pid, "Uid")
    iso["uid_dropped"] = bool(uid) and all(u == str(NOBODY) for u in uid.split())
    net = _same_namespace(pid, "net")
    iso["netns"] = (not net) if net is not None else claimed.get("netns") is True
    iso["pdeathsig"] = claimed.get("pdeathsig") is True or spawned.init_pid is not None  # bwrap: die-with-parent
    iso["memory_cgroup"] = cgroup is not None and cgroup.contains(pid)
    # bwrap's mount namespace, PID namespace (pid 1 is bwrap's) and the others it made
    iso["fs_isolated"] = spawned.init_pid is not None and _same_namespace(pid, "mnt") is False
    iso["pid_ipc_uts_ns"] = spawned.init_pid is not None and all(
        _same_namespace(pid, kind) is False for kind in ("pid", "ipc", "uts"))
    return iso
