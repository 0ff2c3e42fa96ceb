"""Binding a result to the content it scored: the PR and the commit (CONTRACTS.md, "Binding").

The evaluation job, which knows exactly which commit it read, writes them into
result.json ``submission.pr`` / ``submission.commit``; publish's commit job
reads them back and never looks the commit up again later (a later
``git log`` would name a newer merge of the same folder).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import EaselError
from ..fsutil import atomic_write_json
from ..vocab import HEX40_RE


def bind_result(result_path: str | os.PathLike, commit: str, pr: int | None = None) -> bool:
    """Record ``commit`` (40 hex) and ``pr`` in result.json's submission; False when it has none (a refusal)."""
    if not HEX40_RE.match(commit or ""):
        raise EaselError("E_SHA_FORMAT", "--commit is not 40 lowercase hex characters", detail="commit")
    if pr is not None and not 0 < pr < 10**9:
        raise EaselError("E_GITHUB_NOT_FOUND", "--pr must be a positive number", detail="pr")
    result = _read(result_path)
    if not isinstance(result.get("submission"), dict):
        return False
    result["submission"]["commit"], result["submission"]["pr"] = commit, pr
    atomic_write_json(result_path, result)
    return True


def read_binding(result_path: str | os.PathLike) -> tuple[int | None, str]:
    """(pr, commit) recorded in result.json; E_RESULT_BINDING when the commit is missing or malformed."""
    sub = _read(result_path).get("submission")
    commit = sub.get("commit") if isinstance(sub, dict) else None
    pr = sub.get("pr") if isinstance(sub, dict) else None
    if not isinstance(commit, str) or not HEX40_RE.match(commit):
        raise EaselError("E_RESULT_BINDING", "result.json records no scored commit (submission.commit)",
                         detail="commit")
    if not (pr is None or (isinstance(pr, int) and not isinstance(pr, bool) and 0 < pr < 10**9)):
        raise EaselError("E_RESULT_BINDING", "result.json submission.pr is not a PR number", detail="pr")
    return pr, commit


def _read(result_path: str | os.PathLike) -> dict:
    try:
        data = json.loads(Path(result_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise EaselError("E_RESULT_SCHEMA", f"{Path(result_path).name} is not readable JSON",
                         detail="result.json") from None
    if not isinstance(data, dict):
        raise EaselError("E_RESULT_SCHEMA", "result.json is not an object", detail="result.json")
    return data


def pr_of_commit(repo_name: str, commit: str, options, token: str | None = None) -> int | None:
    """The PR that merged ``commit`` (the bound one, never a later lookup of the folder), or None.

    One request: ``GET /repos/{repo}/commits/{commit}/pulls``; the lowest
    merged PR number wins when GitHub lists several.
    """
    from ..vocab import REPO_RE
    from .api import call_github, make_client

    if not REPO_RE.match(repo_name or ""):
        raise EaselError("E_GITHUB_NOT_FOUND", "--repo must be OWNER/NAME", detail="repo")
    if not HEX40_RE.match(commit or ""):
        raise EaselError("E_SHA_FORMAT", "--commit is not 40 lowercase hex characters", detail="commit")
    client = make_client(options, token)

    def step():
        pulls = client.get_repo(repo_name, lazy=True).get_commit(commit).get_pulls()
        return sorted(p.number for p in pulls)

    numbers = call_github(step, options)
    return numbers[0] if numbers else None
