"""PR scope check and the SHA-pinned fetch of a pull request's files as data.

Runs on the self-hosted runner from the trusted checkout of ``main``. The PR's
commits are only ever *read* through git plumbing (``diff``, ``ls-tree``,
``cat-file``): the PR is never checked out, no hook or filter runs, no
symlink is followed, and only ``submissions/<team>/<model>/`` is written out.

Scope rule: between ``merge-base(base, head)`` and ``head`` exactly one
``submissions/<team>/<model>/`` directory may change. Anything else (workflows,
the evaluator, leaderboard.yaml, the site, baselines, another team's folder,
``submissions/_template``) is refused with a coded error.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from .cli import command_group
from .errors import SUBMISSION, EaselError

SHA_RE = re.compile(r"^[0-9a-f]{40}$")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
PR_REF_RE = re.compile(r"^refs/pull/[0-9]{1,9}/head$")
REMOTE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
LFS_PREFIX = b"version https://git-lfs.github.com/spec/v1"
MODE_SYMLINK, MODE_GITLINK = "120000", "160000"
REGULAR_MODES = ("100644", "100755")
FETCH_REF = "refs/easel/pr-head"  # private ref: never a branch, so nothing is checked out
_SAFE_CHARS = re.compile(r"[^A-Za-z0-9_./-]")


def safe_path(path: str) -> str:
    """A PR-controlled path made safe for logs: anything outside [A-Za-z0-9_./-] becomes '?'.

    Paths can hold newlines or '::' sequences that GitHub would read as
    workflow commands, so they are never echoed raw.
    """
    return _SAFE_CHARS.sub("?", path)[:200]


def check_sha(sha: str, what: str = "sha") -> str:
    """Return ``sha`` if it is a full 40-hex lowercase commit id, else raise E_SHA_FORMAT."""
    if not isinstance(sha, str) or not SHA_RE.match(sha):
        raise EaselError("E_SHA_FORMAT", f"{what} is not 40 lowercase hexadecimal characters", detail=what)
    return sha


def _git_env() -> dict[str, str]:
    # No user/system config (which could set hooks, filters or fsmonitor), no prompts.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0",
               GIT_LFS_SKIP_SMUDGE="1", LC_ALL="C")
    return env


_GIT_HARDENING = ("-c", "core.hooksPath=" + os.devnull, "-c", "core.fsmonitor=false",
                  "-c", "protocol.ext.allow=never", "-c", "submodule.recurse=false")


def git(repo_dir: str | os.PathLike, *args: str, stdout=subprocess.PIPE) -> bytes:
    """Run one git plumbing command in ``repo_dir`` with hooks and config-driven programs disabled.

    Returns stdout bytes (empty when ``stdout`` is redirected to a file).
    Raises EaselError(E_GIT) when git fails; the message keeps git's last line, made log-safe.
    """
    proc = subprocess.run(["git", *_GIT_HARDENING, "-C", str(repo_dir), *args], stdout=stdout,
                          stderr=subprocess.PIPE, env=_git_env(), check=False)
    if proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        why = _SAFE_MESSAGE.sub("?", lines[-1])[:200] if lines else f"exit {proc.returncode}"
        raise EaselError("E_GIT", f"git {args[0]} failed: {why}", detail=args[0])
    return proc.stdout or b""


_SAFE_MESSAGE = re.compile(r"[^A-Za-z0-9_./' -]")


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


def _commit_exists(repo_dir, sha: str) -> bool:
    try:
        git(repo_dir, "cat-file", "-e", f"{sha}^{{commit}}")
        return True
    except EaselError:
        return False


def merge_base(repo_dir: str | os.PathLike, base: str, head: str) -> str:
    """The merge-base commit (40 hex) of two commits present in ``repo_dir``."""
    check_sha(base, "base"), check_sha(head, "head")
    for sha, what in ((base, "base"), (head, "head")):
        if not _commit_exists(repo_dir, sha):
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


def _submission_of(path: str) -> tuple[str, str] | None:
    parts = path.split("/")
    if len(parts) >= 4 and parts[0] == "submissions" and NAME_RE.match(parts[1]) and NAME_RE.match(parts[2]):
        return parts[1], parts[2]
    return None


def check_changes(changes: list[Change]) -> tuple[str, str]:
    """Apply the scope rule to a diff; return (team, model) of the one submission directory.

    Raises E_SCOPE_PATH (a path outside any submission directory, including
    either side of a rename or copy), E_SCOPE_MULTI (two directories),
    E_SCOPE_EMPTY (no change), E_SYMLINK or E_SCOPE_SUBMODULE (new mode
    120000 / 160000).
    """
    if not changes:
        raise EaselError("E_SCOPE_EMPTY", "no file differs between the merge-base and the head")
    dirs: set[tuple[str, str]] = set()
    for change in changes:
        # A copy's source is only read, but a rename's source is deleted: both sides must be in scope
        # for a rename; for a copy the source may be anywhere (it stays unchanged).
        touched = [change.path] + ([change.old_path] if change.status == "R" and change.old_path else [])
        for path in touched:
            owner = _submission_of(path)
            if owner is None:
                raise EaselError("E_SCOPE_PATH", f"the pull request changes {safe_path(path)}",
                                 detail=safe_path(path))
            dirs.add(owner)
    if len(dirs) > 1:
        names = sorted(f"{t}/{m}" for t, m in dirs)
        raise EaselError("E_SCOPE_MULTI", f"the pull request changes {', '.join(names)}", detail=names[0])
    for change in changes:
        if change.status != "D" and change.new_mode == MODE_SYMLINK:
            raise EaselError("E_SYMLINK", f"{safe_path(change.path)} is a symbolic link", detail=safe_path(change.path))
        if change.status != "D" and change.new_mode == MODE_GITLINK:
            raise EaselError("E_SCOPE_SUBMODULE", f"{safe_path(change.path)} is a submodule",
                             detail=safe_path(change.path))
    return dirs.pop()


def check_scope(repo_dir: str | os.PathLike, base: str, head: str) -> Scope:
    """The scope check of a PR: diff merge-base(base, head)..head must touch one submission directory.

    ``base``/``head``: 40-hex commit ids present in ``repo_dir``. Returns a
    :class:`Scope`; raises the codes of :func:`check_changes`, E_SHA_FORMAT or E_SHA_MOVED.
    """
    mb = merge_base(repo_dir, base, head)
    changes = diff_changes(repo_dir, mb, head)
    team, model = check_changes(changes)
    return Scope(team, model, f"submissions/{team}/{model}", mb, head, len(changes))


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
    if not all(NAME_RE.match(p) for p in subdir.split("/")[1:]) or not subdir.startswith("submissions/"):
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
        if mode not in REGULAR_MODES or not rel or any(p in ("", ".", "..") for p in parts):
            raise EaselError("E_SPECIAL_FILE", f"{safe_path(path)} is not a regular file", detail=safe_path(rel))
        total += int(size)
        entries.append((oid, rel, int(size), mode))
    if not entries:
        raise EaselError("E_SCOPE_EMPTY", f"{subdir} holds no file at the head commit")
    if max_files is not None and len(entries) > max_files:
        raise EaselError("E_FILE_COUNT", f"{len(entries)} files, limit {max_files}")
    if max_bytes is not None and total > max_bytes:
        raise EaselError("E_SIZE", f"{total} bytes, limit {max_bytes}")
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


def fetch_pr(repo_dir: str | os.PathLike, pr_ref: str, sha: str, base: str, out: str | os.PathLike,
             remote: str = "origin", max_bytes: int | None = None, max_files: int | None = None) -> tuple[Scope, Path]:
    """Fetch ``pr_ref`` from ``remote``, verify it is the pinned ``sha``, check scope, extract the submission.

    ``sha``/``base``: 40-hex commit ids (the head approved by a maintainer and
    the PR's base). A head that moved since approval → E_SHA_MOVED. Returns
    (scope, extracted directory ``out/submissions/<team>/<model>``).
    """
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
    if not _commit_exists(repo_dir, base):
        try:  # the base may be newer than the checkout; GitHub serves commits by id
            git(repo_dir, "fetch", "--no-tags", "--no-recurse-submodules", "--no-write-fetch-head", "--quiet",
                remote, base)
        except EaselError:
            pass  # merge_base() then reports the missing commit with its own code
    scope = check_scope(repo_dir, base, sha)
    dest = extract_submission(repo_dir, sha, scope.path, out, max_bytes=max_bytes, max_files=max_files)
    return scope, dest


def error_result(exc: EaselError) -> dict:
    """A schema-valid result.json for a refusal before evaluation, so the PR still gets an answer."""
    from .result import new_result, validate_result

    result = new_result("invalid" if exc.fault == SUBMISSION else "error")
    result["errors"] = [exc.as_dict()]
    return validate_result(result)


def pending_submissions(submissions_root: str | os.PathLike, leaderboard_path: str | os.PathLike) -> list[dict]:
    """Merged submissions whose content hash has no leaderboard entry yet (what publish re-evaluates).

    Returns ``[{"dir": "submissions/<team>/<model>", "team", "model", "content_sha256"}]``
    sorted by dir; ``_template`` and names that are not safe identifiers are skipped.
    """
    from .fsutil import tree_sha256
    from .leaderboard import load_leaderboard

    board = load_leaderboard(leaderboard_path, missing_ok=True)
    have = {(e["team"], e["model"], e["content_sha256"]) for e in board["entries"]}
    root = Path(submissions_root)
    pending = []
    for team_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()) if root.is_dir() else []:
        for model_dir in sorted(p for p in team_dir.iterdir() if p.is_dir() and not p.is_symlink()):
            if not (NAME_RE.match(team_dir.name) and NAME_RE.match(model_dir.name)):
                continue
            digest = tree_sha256(model_dir)
            if (team_dir.name, model_dir.name, digest) not in have:
                pending.append({"dir": f"{root.name}/{team_dir.name}/{model_dir.name}", "team": team_dir.name,
                                "model": model_dir.name, "content_sha256": digest})
    return pending


# --- CLI -----------------------------------------------------------------------------------------

def _limits(competition_path: Path | None) -> tuple[int | None, int | None]:
    from .config import default_competition_path, load_competition

    path = competition_path or default_competition_path()
    if not Path(path).is_file():
        return None, None
    limits = load_competition(path).limits
    return int(limits.max_model_mb * 1024 * 1024), int(limits.max_files)


def _cmd_scope_check(args) -> int:
    scope = check_scope(args.repo_dir, args.base, args.head)
    print(json.dumps(asdict(scope), sort_keys=True) if args.json else scope.path)
    return 0


def _cmd_fetch_pr(args) -> int:
    try:
        max_bytes, max_files = _limits(args.competition)
        scope, dest = fetch_pr(args.repo_dir, args.pr_ref, args.sha, args.base, args.out, remote=args.remote,
                               max_bytes=max_bytes, max_files=max_files)
    except EaselError as exc:
        if args.result_on_error:
            from .fsutil import atomic_write_json

            atomic_write_json(args.result_on_error, error_result(exc))
        raise
    if args.json:
        print(json.dumps({**asdict(scope), "dir": str(dest)}, sort_keys=True))
    else:
        print(dest)
    return 0


def _cmd_pending(args) -> int:
    pending = pending_submissions(args.submissions, args.leaderboard)
    for item in pending:
        print(json.dumps(item, sort_keys=True) if args.json else item["dir"])
    return 0


def register(subparsers) -> None:
    """`easel scope check | pending` and `easel fetch-pr`."""
    sub = command_group(subparsers, "scope", "check that a PR changes only one submission directory")
    chk = sub.add_parser("check", help="diff merge-base(base, head)..head against the scope rule",
                         description="Exit 0 and print submissions/<team>/<model> when exactly one submission "
                                     "directory changed; otherwise a coded error (exit 2).")
    chk.add_argument("--repo-dir", type=Path, default=Path("."))
    chk.add_argument("--base", required=True, help="base commit (40 hex)")
    chk.add_argument("--head", required=True, help="head commit (40 hex)")
    chk.add_argument("--json", action="store_true", help="print the outcome as JSON")
    chk.set_defaults(func=_cmd_scope_check)
    pen = sub.add_parser("pending", help="list merged submissions whose content has no leaderboard entry",
                         description="Print one submissions/<team>/<model> per line whose tree hash is not "
                                     "in leaderboard.yaml yet (the publish workflow evaluates these).")
    pen.add_argument("--submissions", type=Path, default=Path("submissions"))
    pen.add_argument("--leaderboard", type=Path, default=Path("leaderboard.yaml"))
    pen.add_argument("--json", action="store_true", help="one JSON object per line")
    pen.set_defaults(func=_cmd_pending)

    f = subparsers.add_parser("fetch-pr", help="fetch a PR at its approved SHA and extract its submission as data",
                              description="git fetch the PR ref, verify it is the approved SHA, run the scope "
                                          "check, and write only submissions/<team>/<model>/ under --out "
                                          "from git objects (no checkout, no hooks, no symlinks).")
    f.add_argument("--repo-dir", type=Path, default=Path("."))
    f.add_argument("--pr-ref", required=True, help="refs/pull/<N>/head")
    f.add_argument("--sha", required=True, help="the approved head commit (40 hex)")
    f.add_argument("--base", required=True, help="the PR's base commit (40 hex)")
    f.add_argument("--out", type=Path, required=True, help="folder to extract into")
    f.add_argument("--remote", default="origin")
    f.add_argument("--competition", type=Path, help="competition.yaml for the size/file limits")
    f.add_argument("--result-on-error", type=Path, metavar="PATH",
                   help="on refusal, also write a result.json with the error here (for the PR comment)")
    f.add_argument("--json", action="store_true", help="print the outcome as JSON")
    f.set_defaults(func=_cmd_fetch_pr)
