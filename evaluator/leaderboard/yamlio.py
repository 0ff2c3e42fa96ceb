"""leaderboard.yaml on disk: a fast, safe YAML reader and a stable, diffable writer."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import EaselError
from ..fsutil import atomic_write_text
from .schema import MAX_BOARD_BYTES, Board


def _loader():
    # libyaml's parser when present (the wheel ships it); the pure-Python one gives the same events.
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _dumper():
    return getattr(yaml, "CSafeDumper", yaml.SafeDumper)


_TAG = "tag:yaml.org,2002:"
_SIMPLE_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_SIMPLE_FLOAT = re.compile(r"^[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?$")


class _Scalars(yaml.SafeLoader):
    """Only borrows PyYAML's YAML 1.1 implicit resolvers and safe scalar constructors."""

    def __init__(self):  # no stream: nothing is read through this object
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)


def _scalar(event, helper: _Scalars, memo: dict, name: str) -> Any:
    """The value SafeLoader would construct for one scalar event (YAML 1.1 rules)."""
    value, tag = event.value, event.tag
    if tag is None or tag == "!":
        if not event.implicit[0]:
            return value  # quoted or block scalar without a tag: always a string
        if value in memo:
            return memo[value]
        tag = helper.resolve(yaml.ScalarNode, value, (True, False))
        plain = True
    else:
        plain = False
    if tag == _TAG + "str":
        out = value
    elif tag == _TAG + "float" and _SIMPLE_FLOAT.match(value):
        out = float(value)  # the common case, without building a node
    elif tag == _TAG + "int" and _SIMPLE_INT.match(value):
        out = int(value)
    elif tag in (_TAG + "int", _TAG + "float", _TAG + "bool", _TAG + "null", _TAG + "timestamp"):
        out = helper.yaml_constructors[tag](helper, yaml.ScalarNode(tag, value))
    else:
        raise EaselError("E_LEADERBOARD", f"{name}: line {event.start_mark.line + 1}: "
                         f"the YAML tag {tag!r} is not allowed", detail="tag")
    if plain and not tag.endswith(("float", "int")):
        memo[value] = out  # keys and words repeat in every entry; numbers rarely do
    return out


def _parse_yaml(text: str, name: str) -> Any:
    """Parse YAML from the event stream straight into Python objects, as yaml.safe_load would.

    Why not yaml.load: on a 10,000-entry board PyYAML's node composer and
    constructor cost ~5x more than libyaml's parser, and the site build must
    stay fast as the board grows. Scalars resolve with PyYAML's own YAML 1.1
    rules (tests compare with yaml.safe_load). Anchors, aliases (the 'billion
    laughs' bomb), non-standard tags and several documents are refused.
    """
    helper, memo = _Scalars(), {}
    stack: list[tuple[Any, Any]] = []  # (container, pending mapping key or _NO_KEY)
    root, documents = None, 0
    try:
        for event in yaml.parse(text, Loader=_loader()):
            kind = type(event)
            if kind is yaml.ScalarEvent or kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                if event.anchor is not None:
                    raise EaselError("E_LEADERBOARD", f"{name}: YAML anchors and aliases are not allowed "
                                     f"(line {event.start_mark.line + 1})", detail="anchor")
                if kind is yaml.ScalarEvent:
                    value = _scalar(event, helper, memo, name)
                else:
                    std = _TAG + ("map" if kind is yaml.MappingStartEvent else "seq")
                    if event.tag not in (None, "!", std):
                        raise EaselError("E_LEADERBOARD", f"{name}: line {event.start_mark.line + 1}: the YAML "
                                         f"tag {event.tag!r} is not allowed", detail="tag")
                    value = {} if kind is yaml.MappingStartEvent else []
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                value, _ = stack.pop()
                if stack:
                    _attach(stack, value, name, event)
                else:
                    root = value
                continue
            elif kind is yaml.AliasEvent:
                raise EaselError("E_LEADERBOARD", f"{name}: YAML anchors and aliases are not allowed "
                                 f"(line {event.start_mark.line + 1})", detail="alias")
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise EaselError("E_LEADERBOARD", f"{name}: expected one YAML document, found several")
                continue
            else:
                continue  # stream and document ends
            if kind is yaml.ScalarEvent:
                if stack:
                    _attach(stack, value, name, event)
                else:
                    root = value
            else:
                stack.append((value, _NO_KEY))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise EaselError("E_LEADERBOARD", f"{name}: invalid YAML{where}") from None
    return root


_NO_KEY = object()


def _attach(stack: list, value: Any, name: str, event) -> None:
    container, key = stack[-1]
    if isinstance(container, list):
        container.append(value)
    elif key is _NO_KEY:
        if isinstance(value, (dict, list)):
            raise EaselError("E_LEADERBOARD", f"{name}: line {event.start_mark.line + 1}: "
                             "a mapping key must be a plain value", detail="key")
        stack[-1] = (container, value)
    else:
        container[key] = value
        stack[-1] = (container, _NO_KEY)


def load_leaderboard(path: str | Path, missing_ok: bool = False) -> Board:
    """Read and schema-check leaderboard.yaml: the one place the file becomes a :class:`Board`.

    ``missing_ok`` returns an empty board when the file does not exist (the
    first ``add`` of a competition). Every problem raises E_LEADERBOARD with
    the entry index and key, e.g. ``leaderboard.yaml: entries[3].track: ...``.
    """
    path = Path(path)
    if not path.is_file():
        if missing_ok:
            return Board()
        raise EaselError("E_LEADERBOARD", f"{path.name}: file not found at {path}")
    if path.stat().st_size > MAX_BOARD_BYTES:
        raise EaselError("E_LEADERBOARD", f"{path.name}: larger than {MAX_BOARD_BYTES} bytes")
    text = path.read_text(encoding="utf-8", errors="replace")
    return Board.from_json(_parse_yaml(text, path.name), path.name)


def dump_leaderboard(board: Board) -> str:
    """The file text of ``board.to_json()``: stable key order, one entry per block, leaf lists inline
    (``ci95: [lo, hi]``)."""
    return yaml.dump(board.to_json(), Dumper=_dumper(), sort_keys=False, default_flow_style=None,
                     allow_unicode=True, width=1 << 16)


def save_leaderboard(path: str | Path, board: Board) -> Path:
    """Write the board atomically (a reader sees the old file or the new one)."""
    return atomic_write_text(path, dump_leaderboard(board))
