"""A kernel-enforced memory limit for the sandbox child: one memory cgroup per child.

The parent's RSS watchdog polls every 50 ms, so a model that allocates fast
can overshoot the limit by what it touches in that time. A memory cgroup is
enforced by the kernel on every page. :meth:`MemoryCgroup.create` makes one
where the host allows it and returns None otherwise (the watchdog then stays
the only limit, and ``isolation["memory_cgroup"]`` says so):

* ``$EASEL_SANDBOX_CGROUP``: a cgroup directory the operator delegated to the
  runner (v2 with the ``memory`` controller enabled in its
  ``cgroup.subtree_control``, or a v1 memory-hierarchy directory);
* otherwise the runner's own cgroup, found through ``/proc/self/cgroup`` and
  ``/proc/self/mountinfo``: a v1 ``memory`` hierarchy, or v2 where ``memory``
  is already enabled for its children. Writing there needs root.

Swap is limited to 0 where the kernel accounts it, so the limit cannot be
dodged by swapping. The parent moves the child in before sending it the
session config, so no participant code runs outside the group; the child's
own children inherit it.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

ENV_PARENT = "EASEL_SANDBOX_CGROUP"


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(root, mount point, fstype, super options) of each cgroup mount of this process."""
    found = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) >= 5 and len(rest) >= 3 and rest[0] in ("cgroup", "cgroup2"):
            found.append((fields[3], fields[4], rest[0], set(rest[2].split(","))))
    return found


def _own_cgroup_dirs() -> list[tuple[Path, int]]:
    """Directories of this process's memory cgroup, as (path, version), v2 first."""
    try:
        entries = [line.split(":", 2) for line in Path("/proc/self/cgroup").read_text().splitlines()]
    except OSError:
        return []
    dirs = []
    for root, mount, fstype, options in _mounts():
        version = 2 if fstype == "cgroup2" else 1
        for hierarchy, controllers, path in entries:
            if (version == 2 and hierarchy == "0") or (version == 1 and "memory" in controllers.split(",")
                                                       and "memory" in options):
                if root != "/" and path.startswith(root):
                    path = path[len(root):]
                dirs.append((Path(mount) / path.lstrip("/"), version))
    return sorted(dirs, key=lambda d: -d[1])


def _version(directory: Path) -> int | None:
    if (directory / "cgroup.controllers").is_file():
        subtree = (directory / "cgroup.subtree_control")
        try:
            return 2 if "memory" in subtree.read_text().split() else None
        except OSError:
            return None
    return 1 if (directory / "memory.limit_in_bytes").is_file() else None


class MemoryCgroup:
    """One child cgroup with a memory limit; ``close()`` kills what is left in it and removes it."""

    def __init__(self, path: Path, version: int, limit_bytes: int):
        self.path, self.version, self.limit_bytes = path, version, limit_bytes

    @classmethod
    def create(cls, limit_bytes: int) -> "MemoryCgroup | None":
        """A new cgroup limited to ``limit_bytes`` (int, bytes), or None where the host allows none."""
        override = os.environ.get(ENV_PARENT, "").strip()
        candidates = [(Path(override), _version(Path(override)))] if override else \
            [(path, _version(path)) for path, _ in _own_cgroup_dirs()]
        for parent, version in candidates:
            if version is None:
                continue
            path = parent / f"easel-sandbox-{uuid.uuid4().hex[:12]}"
            try:
                path.mkdir()
            except OSError:
                continue
            group = cls(path, version, limit_bytes)
            try:
                group._set_limits()
            except OSError:
                group.close()
                continue
            return group
        return None

    def _write(self, name: str, value: str, optional: bool = False) -> None:
        try:
            (self.path / name).write_text(value)
        except OSError:
            if not optional:
                raise

    def _set_limits(self) -> None:
        if self.version == 2:
            self._write("memory.max", str(self.limit_bytes))
            self._write("memory.swap.max", "0", optional=True)
            self._write("memory.oom.group", "1", optional=True)  # one OOM kills the whole group
        else:
            self._write("memory.limit_in_bytes", str(self.limit_bytes))
            self._write("memory.memsw.limit_in_bytes", str(self.limit_bytes), optional=True)

    def add(self, pid: int) -> bool:
        """Move ``pid`` into the group; True when /proc confirms it is there."""
        try:
            (self.path / "cgroup.procs").write_text(str(pid))
            return self.contains(pid)
        except OSError:
            return False

    def contains(self, pid: int) -> bool:
        try:
            return str(pid) in (self.path / "cgroup.procs").read_text().split()
        except OSError:
            return False

    def _read(self, name: str) -> str:
        try:
            return (self.path / name).read_text()
        except OSError:
            return ""

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the group for passing the limit."""
        text = self._read("memory.events" if self.version == 2 else "memory.oom_control")
        counts = dict(line.split()[:2] for line in text.splitlines() if len(line.split()) >= 2)
        if "oom_kill" in counts:
            return int(counts["oom_kill"]) > 0
        return self.version == 1 and int(self._read("memory.failcnt").strip() or 0) > 0  # kernels before 4.13

    def peak_bytes(self) -> int:
        """The group's peak memory use in bytes (current use where the kernel keeps no peak)."""
        for name in (("memory.peak", "memory.current") if self.version == 2 else ("memory.max_usage_in_bytes",)):
            text = self._read(name).strip()
            if text.isdigit():
                return int(text)
        return 0

    def close(self) -> None:
        """Kill any process still in the group, then remove it (retrying while the kernel releases it)."""
        for _ in range(50):
            pids = [int(p) for p in self._read("cgroup.procs").split() if p.isdigit()]
            for pid in (p for p in pids if p > 1 and p != os.getpid()):  # never ourselves or a group
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)
