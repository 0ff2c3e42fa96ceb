"""Merged submissions that have no leaderboard entry for their current content (what publish evaluates)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import EaselError


def pending_submissions(submissions_root: str | os.PathLike, leaderboard_path: str | os.PathLike) -> list[dict]:
    """Merged submissions whose content hash has no leaderboard entry yet (what publish re-evaluates).

    Returns ``[{"dir": "submissions/<team>/<model>", "team", "model", "content_sha256"}]``
    sorted by dir; ``_template`` and names that are not safe identifiers are skipped.
    """
    from ..folders import submission_folders
    from ..fsutil import tree_sha256
    from ..leaderboard import load_leaderboard

    board = load_leaderboard(leaderboard_path, missing_ok=True)
    have = {(e.team, e.model, e.content_sha256) for e in board.entries}
    root = Path(submissions_root)
    pending = []
    for folder in submission_folders(root):
        name = f"{root.name}/{folder.team}/{folder.model}"
        try:
            digest = tree_sha256(folder.path)
        except EaselError as exc:  # one unreadable entry must not stop publishing for everyone
            print(f"warning: skipping {name}: {exc.code} {exc.message}", file=sys.stderr)
            continue
        if (folder.team, folder.model, digest) not in have:
            pending.append({"dir": name, "team": folder.team, "model": folder.model, "content_sha256": digest})
    return pending
