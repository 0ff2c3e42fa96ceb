"""Git plumbing with hooks and config-driven programs disabled, and log-safe names.

The PR's commits are only ever *read* (``diff``, ``ls-tree``, ``cat-file``):
never checked out, no hook or filter runs.
"""

from __future__ import annotations

import os
import re
import subprocess

from ..errors import EaselError
from ..vocab import HEX40_RE

_SAFE_CHARS = re.compile(r"[^A-Za-z0-9_./-]")
_SAFE_MESSAGE = re.compile(r"[^A-Za-z0-9_./' -]")
_GIT_HARDENING = ("-c", "core.hooksPath=" + os.devnull, "-c", "core.fsmonitor=false",
                  "-c", "protocol.ext.allow=never", "-c", "submodule.recurse=false")


def safe_path(path: str) -> str:
    """A PR-controlled path made safe for logs: anything outside [A-Za-z0-9_./-] becomes '?'.

    Paths can hold newlines or '::' sequences that GitHub would read as
    workflow commands, so they are never echoed raw.
    """
    return _SAFE_CHARS.sub("?", path)[:200]


def check_sha(sha: str, what: str = "sha") -> str:
    """Return ``sha`` if it is a full 40-hex lowercase commit id, else raise E_SHA_FORMAT."""
    if not isinstance(sha, str) or not HEX40_RE.match(sha):
        raise EaselError("E_SHA_FORMAT", f"{what} is not 40 lowercase hexadecimal characters", detail=what)
    return sha


def _git_env() -> dict[str, str]:
    # No user/system config (which could set hooks, filters or fsmonitor), no prompts.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0",
               GIT_LFS_SKIP_SMUDGE="1", LC_ALL="C")
    return env


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


def commit_exists(repo_dir, sha: str) -> bool:
    try:
        git(repo_dir, "cat-file", "-e", f"{sha}^{{commit}}")
        return True
    except EaselError:
        return False
