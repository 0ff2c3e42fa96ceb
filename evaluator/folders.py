"""The one walker of submission folders: ``ROOT/<team>/<model>/`` as `submissions/` lays them out.

The demo, `easel scope pending` (what publish evaluates) and `easel leaderboard
rescore-list --search` (where an entry's files are now) all find folders here,
so they agree on what a submission folder is: a real directory (no symbolic
link at either level) two levels below the root whose names are ids
(:data:`evaluator.vocab.ID_RE`; the copyable ``_template`` is none).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from .vocab import ID_RE, META_FILE

if TYPE_CHECKING:
    from typing import Iterable


@dataclass(frozen=True)
class SubmissionFolder:
    """``path`` = ROOT/<team>/<model>; ``dir`` is the same as given, in POSIX form (``submissions/acme/ink``)."""

    path: Path
    team: str
    model: str

    @property
    def dir(self) -> str:
        return self.path.as_posix()

    @property
    def has_meta(self) -> bool:
        return (self.path / META_FILE).is_file()


def _real_dirs(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return sorted(Path(e.path) for e in entries if e.is_dir(follow_symlinks=False))
    except OSError:
        return []


def submission_folders(*roots: str | os.PathLike, with_meta: bool = False) -> Iterator[SubmissionFolder]:
    """Every submission folder under each root, sorted per root; ``with_meta`` keeps only those holding
    submission.yaml. A missing root yields nothing. Nothing is read beyond the two directory levels."""
    for root in map(Path, roots):
        for team_dir in _real_dirs(root):
            if not ID_RE.match(team_dir.name):
                continue
            for model_dir in _real_dirs(team_dir):
                folder = SubmissionFolder(model_dir, team_dir.name, model_dir.name)
                if ID_RE.match(model_dir.name) and (folder.has_meta or not with_meta):
                    yield folder


def folders_by_content(roots: "Iterable[str | os.PathLike]") -> dict[str, str]:
    """content sha256 (:func:`~evaluator.fsutil.tree_sha256`) -> ``ROOT/<team>/<model>`` (POSIX) of every
    submission folder holding submission.yaml under the roots; the first folder wins for equal contents."""
    from .fsutil import tree_sha256

    found: dict[str, str] = {}
    for folder in submission_folders(*roots, with_meta=True):
        found.setdefault(tree_sha256(folder.path), folder.dir)
    return found
