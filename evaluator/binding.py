"""Binding: what ties a result to the content it scored. The one home of these checks.

A result names the submission's content hash (``submission.content_sha256``,
the tree hash the evaluation computed once), the dataset's manifest hash, and,
once the evaluation job records them, the commit it read and the PR
(``submission.commit`` / ``submission.pr``). The publish job reads them back
(:func:`read_bindings`) and never looks the commit up again later: a later
``git log`` would name a newer merge of the same folder. The workflow scripts
(.github/scripts/) call this module instead of checking ids and hashes with
their own patterns::

    python -m evaluator.binding read_bindings RESULTS

prints one tab-separated line per bound result under RESULTS/submissions/<team>/<model>/result.json:
``dir, result.json, commit, gallery PNG (or -), where the site keeps it``.

The two keys are one record, :class:`Binding`, with one schema (:meth:`Binding.check_keys`,
on the shared :class:`~evaluator.schema.Checker`) that result.json's submission check uses too.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import EaselError
from .fsutil import atomic_write_json, tree_sha256
from .schema import Checker
from .vocab import HEX40_RE, SUBMISSIONS_DIR

if TYPE_CHECKING:  # result.py checks its submission's pr and commit with Binding.check_keys
    from .result import Result

MAX_PR = 10**9
RESULT_SOURCE = "result.json"


@dataclass(frozen=True)
class Binding:
    """What the evaluation job recorded about the content it scored (`easel bot bind`): the commit
    it read (40 lowercase hex) and the PR of that content (None: not known, e.g. a folder's merge)."""

    commit: str
    pr: int | None = None
    KEYS = ("pr", "commit")  # optional keys of result.json's submission, written only once bound

    @staticmethod
    def check_keys(c: Checker, raw: dict, path: str = "submission") -> tuple[int | None, str | None]:
        """``(pr, commit)`` of a submission mapping, each None when absent: the one schema of both keys."""
        pr = c.count(raw.get("pr"), f"{path}.pr", least=1, most=MAX_PR - 1, allow_null=True)
        commit = raw.get("commit")
        if commit is not None:
            c.match(commit, f"{path}.commit", HEX40_RE, "a 40-hex commit")
        return pr, commit

    @classmethod
    def from_json(cls, submission: Any, source: str = RESULT_SOURCE) -> "Binding":
        """The binding a result.json ``submission`` records; E_RESULT_BINDING naming the key when there
        is no submission (a refusal before evaluation), no commit, or a malformed key."""
        c = Checker(source, "E_RESULT_BINDING")
        if not isinstance(submission, dict):
            c.fail("submission", "a submission to bind (a refusal before evaluation has none)", submission)
        pr, commit = cls.check_keys(c, submission)
        if commit is None:
            expected = "the scored commit, 40 hex (recorded by `easel bot bind`)"
            if "commit" in submission:
                c.fail("submission.commit", expected, None)
            c.fail("submission.commit", expected)
        return cls(commit, pr)

    @classmethod
    def of(cls, result: "Result") -> "Binding":
        """The binding a checked result records (E_RESULT_BINDING when it has none)."""
        return cls.from_json(None if result.submission is None else result.submission.to_json())

    def to_json(self) -> dict:
        """The two keys as result.json's submission holds them."""
        return {"pr": self.pr, "commit": self.commit}


def check_commit(commit: str | None) -> str | None:
    """A full 40-hex commit SHA (lowercased) or None; anything else is E_SHA_FORMAT."""
    if commit is None:
        return None
    text = str(commit).strip().lower()
    if not HEX40_RE.match(text):
        raise EaselError("E_SHA_FORMAT", "the commit must be 40 hexadecimal characters", detail="commit")
    return text


# --- content and data ------------------------------------------------------------------

def check_submission_binding(result: Result, submission_dir: str | Path) -> None:
    """Refuse (E_RESULT_BINDING) when the merged submission's files hash differently than the result says."""
    root = Path(submission_dir)
    if not root.is_dir():
        raise EaselError("E_RESULT_BINDING", f"submission directory not found: {root}", detail="submission")
    actual = tree_sha256(root)
    expected = result.submission.content_sha256
    if actual != expected:
        raise EaselError("E_RESULT_BINDING",
                         f"the files in {root} hash to {actual[:12]}..., the result was computed for "
                         f"{str(expected)[:12]}...", detail="submission.content_sha256")


def check_data_binding(result: Result, data_root: str | Path) -> None:
    """Refuse (E_RESULT_BINDING) when ROOT/<dataset>/manifest.json is not the dataset the result used."""
    from .data.manifest import MANIFEST_NAME, declared_sha256

    dataset = result.dataset
    actual = declared_sha256(Path(data_root) / dataset.id / MANIFEST_NAME)
    if actual != dataset.manifest_sha256:
        raise EaselError("E_RESULT_BINDING",
                         f"dataset {dataset.id}: the manifest hashes to {actual[:12]}..., the result was computed "
                         f"on {dataset.manifest_sha256[:12]}...", detail="dataset.manifest_sha256")


# --- the scored commit and PR --------------------------------------------------------

def bind_result(result_path: str | os.PathLike, commit: str, pr: int | None = None) -> bool:
    """Record ``commit`` (40 hex) and ``pr`` in result.json's submission; False when it has none (a refusal).

    Only those two keys are touched, so a result the schema would refuse stays exactly as
    refused as it was; every reader checks it later (:meth:`Result.from_json`).
    """
    if not HEX40_RE.match(commit or ""):
        raise EaselError("E_SHA_FORMAT", "--commit is not 40 lowercase hex characters", detail="commit")
    if pr is not None and not 0 < pr < MAX_PR:
        raise EaselError("E_GITHUB_NOT_FOUND", "--pr must be a positive number", detail="pr")
    result = _read_document(result_path)
    if not isinstance(result.get("submission"), dict):
        return False
    result["submission"].update(Binding(commit, pr).to_json())
    atomic_write_json(result_path, result)
    return True


def folder_commit(folder: str | os.PathLike, repo_dir: str | os.PathLike = ".") -> str | None:
    """The last commit of the checkout at ``repo_dir`` that changed ``folder`` (the content a merged
    submission's evaluation read), or None when no commit touches it."""
    from .scope.gitio import git

    out = git(repo_dir, "log", "-1", "--format=%H", "--", str(folder)).decode("ascii", "replace").strip()
    return out if HEX40_RE.match(out) else None


def read_binding(result: "Result | str | os.PathLike") -> tuple[int | None, str]:
    """(pr, commit) recorded in a result, or in a result.json read for these two keys only
    (:class:`Binding`); E_RESULT_BINDING when the commit is missing or either key malformed."""
    from .result import Result

    if isinstance(result, Result):
        bound = Binding.of(result)
    else:
        bound = Binding.from_json(_read_document(result).get("submission"), str(result))
    return bound.pr, bound.commit


def _read_document(result_path: str | os.PathLike) -> dict:
    try:
        data = json.loads(Path(result_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise EaselError("E_RESULT_SCHEMA", f"{Path(result_path).name} is not readable JSON",
                         detail="result.json") from None
    if not isinstance(data, dict):
        raise EaselError("E_RESULT_SCHEMA", "result.json is not an object", detail="result.json")
    return data


@dataclass(frozen=True)
class BoundResult:
    """A bound result found under a results folder: its submission folder (``submissions/<team>/<model>``),
    the file, the scored commit, and the gallery PNG beside it with where the site keeps it."""

    dir: str
    path: Path
    commit: str
    samples: Path | None
    site_samples: str  # site/samples/<track>/<team>/<model>.png

    def line(self) -> str:
        return "\t".join((self.dir, str(self.path), self.commit, str(self.samples or "-"), self.site_samples))


def read_bindings(results_root: str | os.PathLike, warn=print) -> list[BoundResult]:
    """Every result.json at RESULTS/submissions/<team>/<model>/ that records its scored commit, sorted.

    Folders that are not submission folders are ignored; a result without a
    commit (or unreadable) is reported through ``warn`` and left out.
    """
    from .folders import submission_folders
    from .result import load_result

    root = Path(results_root)
    found = []
    for folder in submission_folders(root / SUBMISSIONS_DIR):
        path = folder.path / "result.json"
        if not path.is_file():
            continue
        name = f"{SUBMISSIONS_DIR}/{folder.team}/{folder.model}"
        try:
            result = load_result(path)
            _, commit = read_binding(result)
        except EaselError as exc:
            warn(f"::warning::{name}: no scored commit recorded ({exc.code})")
            continue
        samples = folder.path / "samples.png"
        track = result.track.id if result.track is not None else result.submission.track
        found.append(BoundResult(name, path, commit, samples if samples.is_file() else None,
                                 f"site/samples/{track}/{folder.team}/{folder.model}.png"))
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "read_bindings":
        print(__doc__, file=sys.stderr)
        return 2
    for bound in read_bindings(argv[1], warn=lambda line: print(line, file=sys.stderr)):
        print(bound.line())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
