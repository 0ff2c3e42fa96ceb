"""Small file helpers shared by every stage: atomic writes, hashes, safe YAML."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

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


def tree_sha256(root: str | os.PathLike) -> str:
    """Content hash of a directory: sha256 over sorted (relative path, file sha256) pairs.

    Independent of mtimes, permissions and the directory's own location, so
    the same submission files give the same hash on every machine.
    """
    root = Path(root)
    entries = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        entries.append(f"{path.relative_to(root).as_posix()}\0{sha256_file(path)}")
    return sha256_bytes("\n".join(entries).encode("utf-8"))


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases (the 'billion laughs' bomb)."""

    def compose_node(self, parent, index):  # noqa: D401 - yaml hook
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise EaselError("E_META_ALIAS", f"alias *{event.anchor} at line {event.start_mark.line + 1}")
        event = self.peek_event()
        if getattr(event, "anchor", None):
            raise EaselError("E_META_ALIAS", f"anchor &{event.anchor} at line {event.start_mark.line + 1}")
        return super().compose_node(parent, index)


def load_yaml_text(text: str, name: str = "<yaml>") -> Any:
    """Parse untrusted YAML: safe types only, no anchors/aliases."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - SafeLoader subclass
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
