"""Watching the sandboxed child from the parent: /proc readers, the stderr tail, the RSS watchdog.

Everything here reads the kernel's view of the child (``/proc``), never the
child's own word, so a hostile model cannot fake what the parent records.
"""

from __future__ import annotations

import os
import sys
import threading

STDERR_KEEP = 64 * 1024
POLL_S = 0.05
_LOG_TEXT = str.maketrans({c: " " for c in map(chr, range(32))} | {"\x7f": " "})


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm", "rb") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (all its threads'), from /proc."""
    kids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as handle:
                kids += [int(k) for k in handle.read().split()]
        except (OSError, ValueError):
            continue
    return kids


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, grandchildren, ...), from /proc."""
    found, todo = set(), [pid]
    while todo:
        kids = set(children(todo.pop())) - found
        todo.extend(kids)
        found |= kids
    return found


def status_field(pid: int, key: str) -> str | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def proc_limits(pid: int) -> dict[str, str]:
    out = {}
    try:
        with open(f"/proc/{pid}/limits") as handle:
            for line in handle.readlines()[1:]:
                name, soft = line[:26].strip(), line[26:47].strip()
                out[name] = soft
    except OSError:
        pass
    return out


class StderrTail(threading.Thread):
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


class RssWatchdog(threading.Thread):
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
                kids = descendants(self.pid)
            tick += 1
            total = 0
            for pid in (self.pid, *kids):
                try:
                    total += rss_bytes(pid)
                except (OSError, ValueError, IndexError):
                    if pid == self.pid:
                        return  # the child is gone
            self.peak = max(self.peak, total)
            if total > self.limit:
                self.on_kill(total)
                return



def log_load_failure(hello: dict) -> None:
    """The loader's reason from the child's error frame, for the operator's log only (stderr;
    never result.json or a comment). Only at load time: no input has reached the model yet, so
    the text cannot carry held-out data. One line, control characters blanked (no workflow commands)."""
    reason = hello.get("reason")
    if isinstance(reason, str) and reason:
        code = hello.get("error") if isinstance(hello.get("error"), str) else "?"
        print(f"sandbox: the model did not load ({code[:40].translate(_LOG_TEXT)}): "
              f"{reason[:400].translate(_LOG_TEXT)}", file=sys.stderr, flush=True)
