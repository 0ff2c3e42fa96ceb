"""Small file helpers shared by every stage: atomic writes, hashes, bounded tree walks, safe YAML."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml

from .errors import EaselError

_CHUNK = 1 << 20


def atomic_write_bytes(path: str | os.PathLike, data: bytes, durable: bool = True) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same folder and rename.

    A reader sees the old file or the new one, never half of one. ``durable``
    also fsyncs before the rename (records, results); bulk files that can be
    regenerated (dataset images) skip it, which is many times faster.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def canonical_json(obj: Any) -> str:
    """Stable JSON text (sorted keys, no spaces): the form that gets hashed."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- bounded tree walks ------------------------------------------------------

MAX_TREE_DEPTH = 64       # directory levels below a walked root (a model needs a handful)
MAX_TREE_ENTRIES = 100_000


@dataclass(frozen=True)
class TreeEntry:
    """One entry of a walked tree: its path, POSIX path relative to the root, and lstat()."""

    path: Path
    rel: str
    info: os.stat_result

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.info.st_mode)

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.info.st_mode)

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.info.st_mode)


def walk_tree(root: str | os.PathLike, max_depth: int = MAX_TREE_DEPTH,
              max_entries: int = MAX_TREE_ENTRIES) -> Iterator[TreeEntry]:
    """Every entry below ``root`` (not the root itself), in sorted order, links never followed.

    Iterative (a hostile tree can be deeper than Python's recursion limit) and
    bounded: an entry more than ``max_depth`` directories below the root raises
    E_TREE_DEPTH, more than ``max_entries`` entries raise E_FILE_COUNT, both
    before anything deeper is opened. A symlinked directory is yielded as a
    link and never entered. Paths are handled relative to an open parent, so
    the walk never builds a path string longer than the OS allows.
    """
    root = Path(root)
    seen = 0
    # A stack of (sorted children still to visit, their parent's relative path, depth): pre-order.
    stack: list[tuple[Iterator[os.DirEntry], str, int]] = [(_sorted_children(root, ""), "", 0)]
    while stack:
        children, prefix, depth = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            continue
        seen += 1
        if seen > max_entries:
            raise EaselError("E_FILE_COUNT", f"more than {max_entries} entries", detail=f"entries:{max_entries}")
        rel = f"{prefix}/{child.name}" if prefix else child.name
        entry = TreeEntry(Path(child.path), rel, child.stat(follow_symlinks=False))
        yield entry
        if entry.is_dir:
            if depth + 1 > max_depth:
                raise EaselError("E_TREE_DEPTH", f"folders nest more than {max_depth} levels deep",
                                 detail=f"depth:{max_depth}")
            stack.append((_sorted_children(entry.path, rel), rel, depth + 1))


def _sorted_children(folder: Path, rel: str) -> Iterator[os.DirEntry]:
    try:
        with os.scandir(folder) as handle:
            return iter(sorted(handle, key=lambda e: e.name))
    except OSError:
        raise EaselError("E_SPECIAL_FILE", f"{rel or '.'} cannot be listed", detail=rel or ".") from None


def tree_sha256(root: str | os.PathLike) -> str:
    """Content hash of a directory: sha256 over sorted (relative path, file sha256) pairs.

    Independent of mtimes, permissions and the directory's own location, so
    the same submission files give the same hash on every machine. Walks with
    :func:`walk_tree` (bounded depth, links not followed).
    """
    files = sorted(entry.rel for entry in walk_tree(root) if entry.is_file)
    entries = [f"{rel}\0{sha256_file(Path(root) / rel)}" for rel in files]
    return sha256_bytes("\n".join(entries).encode("utf-8"))


MAX_YAML_DEPTH = 50  # nested collections; a real Easel file needs four or five


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases (the 'billion laughs' bomb) and deep nesting.

    PyYAML composes nested collections recursively, so thousands of ``[`` would
    exhaust Python's stack; the depth is counted here and refused long before.
    """

    _depth = 0

    def compose_node(self, parent, index):  # noqa: D401 - yaml hook
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise EaselError("E_META_ALIAS", f"alias *{event.anchor} at line {event.start_mark.line + 1}")
        event = self.peek_event()
        if getattr(event, "anchor", None):
            raise EaselError("E_META_ALIAS", f"anchor &{event.anchor} at line {event.start_mark.line + 1}")
        if self._depth >= MAX_YAML_DEPTH:
            raise EaselError("E_YAML_DEPTH", f"collections nest more than {MAX_YAML_DEPTH} levels deep "
                             f"at line {event.start_mark.line + 1}", detail=f"depth:{MAX_YAML_DEPTH}")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml_text(text: str, name: str = "<yaml>") -> Any:
    """Parse untrusted YAML: safe types only, no anchors/aliases."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - SafeLoader subclass
    except RecursionError:  # a belt to the depth count's braces: never E_INTERNAL
        raise EaselError("E_YAML_DEPTH", f"{name}: collections nest too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise EaselError("E_YAML_SYNTAX", f"{name}: invalid YAML{where}") from None


def load_yaml_file(path: str | os.PathLike, max_bytes: int = 1 << 20) -> Any:
    """Read and parse a YAML file, refusing files over ``max_bytes``."""
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise EaselError("E_META_SIZE", f"{path.name}: {size} bytes, limit {max_bytes}")
    return load_yaml_text(path.read_text(encoding="utf-8", errors="replace"), path.name)
