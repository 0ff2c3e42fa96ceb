"""The SHA-pinned fetch of a pull request's files as data, and the refusal result.

Runs on the self-hosted runner from the trusted checkout of ``main``: no
checkout of the PR, no hook, no symlink followed; only
``submissions/<team>/<model>/`` is written out, from git objects.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import SUBMISSION, EaselError
from ..fsutil import MAX_TREE_DEPTH
from ..vocab import ID_RE
from .check import MODE_GITLINK, MODE_SYMLINK, Scope, check_scope
from .gitio import check_sha, commit_exists, git, safe_path

if TYPE_CHECKING:
    from ..result import Result

PR_REF_RE = re.compile(r"^refs/pull/[0-9]{1,9}/head$")
REMOTE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
LFS_PREFIX = b"version https://git-lfs.github.com/spec/v1"
REGULAR_MODES = ("100644", "100755")
FETCH_REF = "refs/easel/pr-head"  # private ref: never a branch, so nothing is checked out


def extract_submission(repo_dir: str | os.PathLike, commit: str, subdir: str, out: str | os.PathLike,
                       max_bytes: int | None = None, max_files: int | None = None) -> Path:
    """Write the files of ``commit:subdir`` under ``out/subdir`` from git objects, without a checkout.

    Every entry of the tree is checked first: symlinks (120000) → E_SYMLINK,
    submodules (160000) → E_SCOPE_SUBMODULE, Git LFS pointers →
    E_LFS_POINTER, more than ``max_files`` entries → E_FILE_COUNT, more than
    ``max_bytes`` in total → E_SIZE. Nothing is written before all pass.
    Returns the extracted directory ``out/subdir``.
    """
    check_sha(commit, "head")
    if not all(ID_RE.match(p) for p in subdir.split("/")[1:]) or not subdir.startswith("submissions/"):
        raise EaselError("E_SCOPE_PATH", "not a submissions/<team>/<model> directory", detail="subdir")
    listing = git(repo_dir, "ls-tree", "-r", "-z", "-l", "--full-tree", commit, "--", subdir + "/")
    entries = []
    total = 0
    for record in filter(None, listing.split(b"\0")):
        meta, _, raw_path = record.partition(b"\t")
        mode, kind, oid, size = meta.decode("ascii").split()
        path = raw_path.decode("utf-8", "surrogateescape")
        rel = path[len(subdir) + 1:]
        if mode == MODE_SYMLINK:
            raise EaselError("E_SYMLINK", f"{safe_path(path)} is a symbolic link", detail=safe_path(rel))
        if mode == MODE_GITLINK or kind == "commit":
            raise EaselError("E_SCOPE_SUBMODULE", f"{safe_path(path)} is a submodule", detail=safe_path(rel))
        parts = rel.split("/")
        if len(parts) - 1 > MAX_TREE_DEPTH:  # refused before anything is written (no recursion either)
            raise EaselError("E_TREE_DEPTH", f"folders nest more than {MAX_TREE_DEPTH} levels deep",
                             detail=f"depth:{MAX_TREE_DEPTH}")
        if mode not in REGULAR_MODES or not rel or any(p in ("", ".", "..") for p in parts):
            raise EaselError("E_SPECIAL_FILE", f"{safe_path(path)} is not a regular file", detail=safe_path(rel))
        total += int(size)
        entries.append((oid, rel, int(size), mode))
    if not entries:
        raise EaselError("E_SCOPE_EMPTY", f"{subdir} holds no file at the head commit")
    if max_files is not None and len(entries) > max_files:
        raise EaselError("E_FILE_COUNT", f"{len(entries)} files, limit {max_files}")
    if max_bytes is not None and total > max_bytes:
        raise EaselError("E_SIZE", f"{total} bytes, limit {max_bytes}",
                         facts={"got_bytes": total, "limit_bytes": int(max_bytes)})
    for oid, rel, size, _ in entries:
        if size < 1024:
            head = git(repo_dir, "cat-file", "blob", oid)
            if head.startswith(LFS_PREFIX):
                raise EaselError("E_LFS_POINTER", f"{safe_path(rel)} is a Git LFS pointer", detail=safe_path(rel))

    dest = Path(out) / subdir
    if dest.exists() and any(dest.iterdir()):
        raise EaselError("E_PATH_ESCAPE", f"{dest} already exists and is not empty", detail="out")
    from tqdm import tqdm

    for oid, rel, _, mode in tqdm(entries, desc="extract", unit="file", disable=None, file=sys.stderr):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL + O_NOFOLLOW: never write through something that appeared at the path.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        with os.fdopen(fd, "wb") as handle:
            git(repo_dir, "cat-file", "blob", oid, stdout=handle)
    return dest


def _check_ownership_arguments(check_ownership: bool, teams: dict | None, author: str | None) -> None:
    """E_OWNERSHIP_UNCHECKED unless the ownership check has what it needs, or is skipped by name."""
    if not check_ownership:
        if teams is not None or author is not None:
            raise EaselError("E_OWNERSHIP_UNCHECKED", "check_ownership=False contradicts teams/author",
                             detail="check_ownership")
        return
    if author is None or teams is None:
        raise EaselError("E_OWNERSHIP_UNCHECKED", "fetch_pr needs the PR's author and teams.yaml's teams to check "
                                                  "team ownership", detail="author" if author is None else "teams")


def fetch_pr(repo_dir: str | os.PathLike, pr_ref: str, sha: str, base: str, out: str | os.PathLike,
             remote: str = "origin", max_bytes: int | None = None, max_files: int | None = None,
             teams: dict | None = None, author: str | None = None,
             check_ownership: bool = True) -> tuple[Scope, Path]:
    """Fetch ``pr_ref`` from ``remote``, verify it is the pinned ``sha``, check scope, extract the submission.

    ``sha``/``base``: 40-hex commit ids (the head approved by a maintainer and
    the PR's base). A head that moved since approval → E_SHA_MOVED. Returns
    (scope, extracted directory ``out/submissions/<team>/<model>``). The
    ownership rule for ``author`` (the PR author's login) is checked again on
    the runner against ``teams`` (teams.yaml of the trusted checkout; the gate's
    check is the first layer): without both, E_OWNERSHIP_UNCHECKED before
    anything is fetched. ``check_ownership=False`` (tests only, like the CLI's
    --no-ownership-check) skips it and then takes neither.
    """
    _check_ownership_arguments(check_ownership, teams, author)
    check_sha(sha, "head"), check_sha(base, "base")
    if not PR_REF_RE.match(pr_ref):
        raise EaselError("E_SHA_FORMAT", "the PR ref must look like refs/pull/<number>/head", detail="pr-ref")
    if not REMOTE_RE.match(remote):
        raise EaselError("E_GITHUB_NOT_FOUND", "invalid remote name", detail="remote")
    try:
        git(repo_dir, "fetch", "--no-tags", "--no-recurse-submodules", "--no-write-fetch-head", "--force",
            "--quiet", remote, f"+{pr_ref}:{FETCH_REF}")
    except EaselError as exc:
        raise EaselError("E_GITHUB_NOT_FOUND", exc.message, detail="pr-ref") from None
    fetched = git(repo_dir, "rev-parse", "--verify", f"{FETCH_REF}^{{commit}}").decode().strip()
    if fetched != sha:
        raise EaselError("E_SHA_MOVED", f"{pr_ref} is now {fetched[:12]}, approved was {sha[:12]}", detail="head")
    if not commit_exists(repo_dir, base):
        try:  # the base may be newer than the checkout; GitHub serves commits by id
            git(repo_dir, "fetch", "--no-tags", "--no-recurse-submodules", "--no-write-fetch-head", "--quiet",
                remote, base)
        except EaselError:
            pass  # merge_base() then reports the missing commit with its own code
    scope = check_scope(repo_dir, base, sha, teams=teams, author=author)
    dest = extract_submission(repo_dir, sha, scope.path, out, max_bytes=max_bytes, max_files=max_files)
    return scope, dest


def error_result(exc: EaselError) -> "Result":
    """The result of a refusal before evaluation (status invalid or error, by the error's fault), so the PR
    still gets an answer; ``to_json()`` is its result.json."""
    from ..result import Result, ResultError

    return Result("invalid" if exc.fault == SUBMISSION else "error", errors=(ResultError.of(exc),))


