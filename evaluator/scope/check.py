"""The scope rule: between ``merge-base(base, head)`` and ``head`` exactly one
``submissions/<team>/<model>/`` directory may change.

Anything else (workflows, the evaluator, leaderboard.yaml, teams.yaml, the
site, baselines, another team's folder, ``submissions/_template``) is refused
with a coded error. With teams.yaml, the ownership rule
(:func:`evaluator.teams.check_ownership`) is applied first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import EaselError
from ..vocab import submission_of
from .gitio import check_sha, commit_exists, git, safe_path

MODE_SYMLINK, MODE_GITLINK = "120000", "160000"


@dataclass(frozen=True)
class Change:
    """One entry of ``git diff --raw``: status letter, modes and the path(s) it touches."""

    status: str
    old_mode: str
    new_mode: str
    path: str
    old_path: str | None = None


@dataclass(frozen=True)
class Scope:
    """The outcome of a passed scope check."""

    team: str
    model: str
    path: str          # "submissions/<team>/<model>"
    merge_base: str
    head: str
    changes: int


def merge_base(repo_dir: str | os.PathLike, base: str, head: str) -> str:
    """The merge-base commit (40 hex) of two commits present in ``repo_dir``."""
    check_sha(base, "base"), check_sha(head, "head")
    for sha, what in ((base, "base"), (head, "head")):
        if not commit_exists(repo_dir, sha):
            raise EaselError("E_SHA_MOVED", f"the {what} commit {sha[:12]} is not in the repository", detail=what)
    try:
        out = git(repo_dir, "merge-base", base, head).decode().strip()
    except EaselError:
        raise EaselError("E_SCOPE_PATH", "the pull request shares no history with the base branch",
                         detail="merge-base") from None
    return check_sha(out, "merge-base")


def diff_changes(repo_dir: str | os.PathLike, old: str, new: str) -> list[Change]:
    """Every change between two commits, renames and copies detected (``git diff --raw -z -M -C``)."""
    raw = git(repo_dir, "diff", "--raw", "-z", "-M", "-C", "--no-ext-diff", "--no-textconv",
              "--ignore-submodules=none", old, new, "--")
    fields = raw.split(b"\0")
    changes: list[Change] = []
    i = 0
    while i < len(fields) and fields[i]:
        meta = fields[i].decode("ascii").lstrip(":").split()
        old_mode, new_mode, status = meta[0], meta[1], meta[4][0]
        paths = [fields[i + 1].decode("utf-8", "surrogateescape")]
        i += 2
        if status in "RC":
            paths.append(fields[i].decode("utf-8", "surrogateescape"))
            i += 1
            changes.append(Change(status, old_mode, new_mode, paths[1], old_path=paths[0]))
        else:
            changes.append(Change(status, old_mode, new_mode, paths[0]))
    return changes


def check_changes(changes: list[Change]) -> tuple[str, str]:
    """Apply the scope rule to a diff; return (team, model) of the one submission directory.

    Raises E_SCOPE_PATH (a path outside any submission directory, including
    either side of a rename or copy), E_SCOPE_MULTI (two directories),
    E_SCOPE_EMPTY (no change), E_TEAM_RESERVED (the reserved team id
    ``oracle``), E_SYMLINK or E_SCOPE_SUBMODULE (new mode 120000 / 160000).
    """
    if not changes:
        raise EaselError("E_SCOPE_EMPTY", "no file differs between the merge-base and the head")
    dirs: set[tuple[str, str]] = set()
    for change in changes:
        # A copy's source is only read, but a rename's source is deleted: both sides must be in scope
        # for a rename; for a copy the source may be anywhere (it stays unchanged).
        touched = [change.path] + ([change.old_path] if change.status == "R" and change.old_path else [])
        for path in touched:
            owner = submission_of(path)
            if owner is None:
                raise EaselError("E_SCOPE_PATH", f"the pull request changes {safe_path(path)}",
                                 detail=safe_path(path))
            dirs.add(owner)
    if len(dirs) > 1:
        names = sorted(f"{t}/{m}" for t, m in dirs)
        raise EaselError("E_SCOPE_MULTI", f"the pull request changes {', '.join(names)}", detail=names[0])
    from ..teams import RESERVED_TEAMS

    reserved = sorted(t for t, _ in dirs if t in RESERVED_TEAMS)
    if reserved:
        raise EaselError("E_TEAM_RESERVED", f"submissions/{reserved[0]}/ is reserved", detail=reserved[0])
    for change in changes:
        if change.status != "D" and change.new_mode == MODE_SYMLINK:
            raise EaselError("E_SYMLINK", f"{safe_path(change.path)} is a symbolic link", detail=safe_path(change.path))
        if change.status != "D" and change.new_mode == MODE_GITLINK:
            raise EaselError("E_SCOPE_SUBMODULE", f"{safe_path(change.path)} is a submodule",
                             detail=safe_path(change.path))
    return dirs.pop()


def check_scope(repo_dir: str | os.PathLike, base: str, head: str, teams: dict | None = None,
                author: str | None = None) -> Scope:
    """The scope check of a PR: diff merge-base(base, head)..head must touch one submission directory.

    ``base``/``head``: 40-hex commit ids present in ``repo_dir``. Returns a
    :class:`Scope`; raises the codes of :func:`check_changes`, E_SHA_FORMAT or E_SHA_MOVED.
    With ``teams`` (teams.yaml of the trusted checkout) the ownership rule for
    PR ``author`` comes first: its E_TEAM_* codes.
    """
    mb = merge_base(repo_dir, base, head)
    changes = diff_changes(repo_dir, mb, head)
    if teams is not None:
        from ..teams import check_ownership

        paths = [c.path for c in changes] + [c.old_path for c in changes if c.status == "R" and c.old_path]
        check_ownership(teams, author, paths)
    team, model = check_changes(changes)
    return Scope(team, model, f"submissions/{team}/{model}", mb, head, len(changes))


