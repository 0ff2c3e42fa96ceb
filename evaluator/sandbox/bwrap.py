"""Filesystem isolation: the sandboxed child runs inside bubblewrap (``bwrap``) where it is installed.

The child gets a new mount namespace holding only:

* read-only binds of the interpreter, its standard library and site-packages
  (the virtualenv, the base installation unless that is ``/usr`` itself), the
  system library directories and ``/etc/ld.so.cache`` (the dynamic loader),
  ``/sys/devices/system/cpu`` (thread counts), and the ``evaluator`` package
  alone (at its own path, so ``PYTHONPATH`` at the package root still works);
* the model copy, read-only, at ``/model``;
* a private tmpfs at ``/tmp`` (``/tmp/work`` is its cwd, HOME and TMPDIR;
  its pages count against the memory cgroup), and minimal ``/dev`` and ``/proc``;
* on a GPU host, the NVIDIA device nodes that exist (``/dev/nvidia*``) and
  ``/sys`` read-only (the CUDA driver reads the PCI topology there).

No ``/home``, ``/root`` (beyond the bound interpreter path), runner work
directory, data directory or host ``/tmp``. Network, IPC, PID and UTS
namespaces are new; ``--die-with-parent`` kills the sandbox with its parent.
As root, bwrap keeps the capabilities the child needs to drop to ``nobody``
afterwards; the folders leading to each bind are made 0755 (bwrap's own
default is 0700), so an interpreter under ``/root`` stays reachable after the drop.

Where bwrap is missing or cannot create namespaces here, :func:`available`
says why once, loudly on stderr, and the child runs as before (the
``fs_isolated`` isolation flag is then false).
"""

from __future__ import annotations

import glob
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from functools import lru_cache
from pathlib import Path

MODEL_DIR = "/model"
TMP_DIR = "/tmp"
WORK_DIR = "/tmp/work"  # the child's cwd, HOME and TMPDIR, on the private tmpfs
NAMESPACES = ("--unshare-net", "--unshare-ipc", "--unshare-pid", "--unshare-uts")
_SYSTEM_PREFIXES = {"/", "/usr", "/usr/local"}  # too broad to bind whole (they hold /usr/bin)
_SYSTEM_LIBS = ("/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/local/lib", "/lib", "/lib64", "/lib32",
                "/etc/ld.so.cache", "/sys/devices/system/cpu")
_WARNED: set[str] = set()


def _warn(message: str) -> None:
    if message not in _WARNED:  # once per process: every evaluation would repeat it
        _WARNED.add(message)
        print(f"WARNING: {message}", file=sys.stderr, flush=True)


def executable() -> str | None:
    """The bwrap binary, or None where bubblewrap is not installed."""
    return shutil.which("bwrap") or next((p for p in ("/usr/bin/bwrap", "/usr/local/bin/bwrap")
                                          if os.access(p, os.X_OK)), None)


@lru_cache(maxsize=1)
def available() -> str | None:
    """bwrap's path when it can build the sandbox here (probed once per process), else None.

    Says loudly on stderr why the child then runs without filesystem isolation.
    """
    binary = executable()
    if binary is None:
        _warn("bubblewrap (bwrap) is not installed: the sandboxed model can read every world-readable "
              "file of this machine. Install the Debian package `bubblewrap` (see docs/organizers.md).")
        return None
    true = shutil.which("true") or "/bin/true"
    probe = [binary, *NAMESPACES, "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc",
             "--dev", "/dev", "--tmpfs", TMP_DIR, true]
    try:
        done = subprocess.run(probe, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        reason = str(exc)
    else:
        if done.returncode == 0:
            return binary
        reason = done.stderr.decode("utf-8", "replace").strip()[:300] or f"exit {done.returncode}"
    _warn(f"bubblewrap ({binary}) cannot create the sandbox's namespaces here ({reason}): the sandboxed "
          "model runs without filesystem isolation. Run the evaluator as root, or allow unprivileged "
          "user namespaces.")
    return None


def _python_paths(package_dir: Path) -> list[str]:
    """What the child's interpreter reads: the venv, the base install, stdlib, site-packages, Easel."""
    paths = {os.path.realpath(sys.executable), str(package_dir)}
    for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        if os.path.realpath(prefix) not in _SYSTEM_PREFIXES:
            paths.add(prefix)  # also holds pyvenv.cfg, which makes the venv's site-packages count
    schemes = [sysconfig.get_paths(),
               sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_exec_prefix})]
    for scheme in schemes:
        paths.update(scheme[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in scheme)
    paths.update(site.getsitepackages())
    # A venv layered on a prepared one (.github/scripts/runner-venv.sh) reads its packages from the
    # prepared site-packages through a .pth line: those folders are part of the interpreter too.
    paths.update(p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages")
                 and os.path.isdir(p))
    return sorted(paths)


def read_only_paths(package_dir: Path, gpu: bool) -> list[str]:
    """Existing host paths to bind read-only (outermost only: a bind hides what is under it)."""
    wanted = [*_SYSTEM_LIBS, *_python_paths(package_dir)]
    if gpu:
        wanted.append("/sys")
    kept: list[str] = []
    for path in sorted({os.path.realpath(p) for p in wanted if os.path.exists(p)}, key=lambda p: (len(p), p)):
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return kept


def _symlinks() -> list[tuple[str, str]]:
    """Top-level links such as /lib -> usr/lib (merged /usr): recreated inside, pointing at the binds."""
    out = []
    for path in ("/lib", "/lib64", "/lib32"):
        if os.path.islink(path):
            out.append((os.readlink(path), path))
    return out


def nvidia_devices() -> list[str]:
    """The NVIDIA device nodes of this host (/dev/nvidia0, /dev/nvidiactl, /dev/nvidia-uvm, ...)."""
    return sorted(glob.glob("/dev/nvidia*"))


def command(binary: str, package_dir: Path, model_dir: Path | None) -> list[str]:
    """bwrap's argv up to the child's own command (append ``python ...`` to it).

    ``model_dir``: the host directory holding the model copy, bound read-only
    at :data:`MODEL_DIR`; None for a self-test child without a model.
    """
    devices = nvidia_devices()
    argv = [binary, *NAMESPACES, "--die-with-parent", "--hostname", "easel-sandbox",
            "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", TMP_DIR,
            "--perms", "1777", "--dir", WORK_DIR]
    binds = read_only_paths(package_dir, gpu=bool(devices))
    # The folders leading to a bind: bwrap would make them 0700, which nobody cannot cross. That holds
    # on the private /tmp too (a checkout and its venv under /tmp are bound at their own paths there).
    made = {"/", "/dev", "/proc", TMP_DIR, WORK_DIR}
    for path in [*binds, *devices]:
        for folder in reversed(Path(path).parents):
            if str(folder) not in made:
                made.add(str(folder))
                argv += ["--perms", "0755", "--dir", str(folder)]
    for path in binds:
        argv += ["--ro-bind", path, path]
    for target, link in _symlinks():
        argv += ["--symlink", target, link]
    for node in devices:
        argv += ["--dev-bind", node, node]
    if model_dir is not None:
        argv += ["--ro-bind", str(model_dir), MODEL_DIR]
    return [*argv, "--chdir", WORK_DIR]
