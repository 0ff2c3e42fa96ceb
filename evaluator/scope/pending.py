"""Merged submissions that have no leaderboard entry for their current content (what publish evaluates)."""

from __future__ import annotations

import os
import sys
from pathlib import Path, PurePosixPath

from ..errors import EaselError
from ..vocab import SUBMISSIONS_DIR, submission_of


def pending_submissions(submissions_root: str | os.PathLike, leaderboard_path: str | os.PathLike) -> list[dict]:
    """Merged submissions whose content hash has no leaderboard entry yet (what publish re-evaluates).

    Returns ``[{"dir": "submissions/<team>/<model>", "team", "model", "content_sha256"}]``
    sorted by dir; ``_template`` and names that are not safe identifiers are skipped.
    """
    from ..fsutil import tree_sha256
    from ..leaderboard import load_leaderboard

    board = load_leaderboard(leaderboard_path, missing_ok=True)
    have = {(e["team"], e["model"], e["content_sha256"]) for e in board["entries"]}
    root = Path(submissions_root)
    pending = []
    for team_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()) if root.is_dir() else []:
        for model_dir in sorted(p for p in team_dir.iterdir() if p.is_dir() and not p.is_symlink()):
            if submission_of(PurePosixPath(SUBMISSIONS_DIR, team_dir.name, model_dir.name, "x")) is None:
                continue
            try:
                digest = tree_sha256(model_dir)
            except EaselError as exc:  # one unreadable entry must not stop publishing for everyone
                print(f"warning: skipping {root.name}/{team_dir.name}/{model_dir.name}: {exc.code} {exc.message}",
                      file=sys.stderr)
                continue
            if (team_dir.name, model_dir.name, digest) not in have:
                pending.append({"dir": f"{root.name}/{team_dir.name}/{model_dir.name}", "team": team_dir.name,
                                "model": model_dir.name, "content_sha256": digest})
    return pending
