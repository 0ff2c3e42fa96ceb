"""The scoring identity: what makes two results comparable, as one named type.

Two results rank together only when the same Easel version scored them with the
same backbone (id, weights, resize) on the same dataset (id, manifest). A
mismatch is always reported by its field's name (``backbone.weights_sha256``),
never by a position in a tuple.

Adding a part of the identity (say each metric's own backbone) is one field
here and one line in :meth:`ScoringIdentity.fields`; every comparison and
every message picks it up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from ..result import Result

if TYPE_CHECKING:
    from .schema import Entry

EVALUATOR = "evaluator"


def version_key(version: str | None) -> tuple:
    """An orderable key for an Easel version string ('0.10.0' > '0.9.1'); () for unknown."""
    if not version:
        return ()
    parts = []
    for piece in version.replace("-", ".").replace("+", ".").split("."):
        parts.append((0, int(piece), "") if piece.isdigit() else (-1, 0, piece))
    return tuple(parts)


def _every(records) -> tuple[tuple[str, str, str], ...]:
    return tuple(sorted(set(records)))


@dataclass(frozen=True)
class ScoringIdentity:
    """Who scored (``evaluator``: the Easel version, None when not recorded), with which backbone,
    on which data. Equal identities rank together; see :meth:`difference`."""

    evaluator: str | None
    backbone_id: str | None
    weights_sha256: str | None
    resize: str | None
    dataset_id: str | None
    manifest_sha256: str | None
    # Every backbone behind any metric, (id, weights sha256, resize) sorted: no metric's column
    # ever ranks values from different weights (a result from before per-metric backbones has one).
    backbones: tuple[tuple[str, str, str], ...] = ()

    def fields(self) -> tuple[tuple[str, object], ...]:
        """(name, value) of every part, in the order a mismatch is reported."""
        return ((EVALUATOR, self.evaluator), ("backbone.id", self.backbone_id),
                ("backbone.weights_sha256", self.weights_sha256), ("backbone.resize", self.resize),
                ("dataset.id", self.dataset_id), ("dataset.manifest_sha256", self.manifest_sha256),
                ("backbones", self.backbones))

    # -- building ---------------------------------------------------------------------
    @classmethod
    def of_result(cls, result: Result) -> "ScoringIdentity":
        backbone, dataset = result.backbone, result.dataset
        return cls(evaluator=result.evaluator.version,
                   backbone_id=backbone and backbone.id, weights_sha256=backbone and backbone.weights_sha256,
                   resize=backbone and backbone.resize,
                   dataset_id=dataset and dataset.id, manifest_sha256=dataset and dataset.manifest_sha256,
                   backbones=_every((b.id, b.weights_sha256, b.resize) for b in result.all_backbones))

    @classmethod
    def of_entry(cls, entry: "Entry", split: str = "public") -> "ScoringIdentity":
        """The identity of a board entry's ``split`` scores (its private scores share its backbone and data;
        evaluator None where the entry has no scores on ``split``)."""
        scores = entry.scores(split)
        backbone, dataset = entry.backbone, entry.dataset
        return cls(evaluator=scores and scores.evaluator, backbone_id=backbone.id,
                   weights_sha256=backbone.weights_sha256, resize=backbone.resize,
                   dataset_id=dataset.id, manifest_sha256=dataset.manifest_sha256,
                   backbones=_every((b.id, b.weights_sha256, b.resize) for b in entry.all_backbones))

    # -- comparing --------------------------------------------------------------------
    def difference(self, other: "ScoringIdentity", ignore_evaluator: bool = False) -> str | None:
        """The name of the first field where the two differ (None when they agree).

        ``ignore_evaluator``: compare only the backbone and the data (a private score
        stays attached to the files and data it was computed on, whichever Easel scored).
        """
        for (name, mine), (_, theirs) in zip(self.fields(), other.fields()):
            if mine != theirs and not (ignore_evaluator and name == EVALUATOR):
                return name
        return None

    def same_backbone_and_data(self, other: "ScoringIdentity") -> bool:
        return self.difference(other, ignore_evaluator=True) is None

    def same_data(self, other: "ScoringIdentity") -> bool:
        return (self.dataset_id, self.manifest_sha256) == (other.dataset_id, other.manifest_sha256)

    def newer_evaluator_than(self, other: "ScoringIdentity") -> bool:
        return version_key(self.evaluator) > version_key(other.evaluator)


def current_scoring(entries: Iterable["Entry"], split: str = "public") -> ScoringIdentity | None:
    """The identity that ranks a track: that of the newest evaluator version, then the newest evaluation.

    Entries scored otherwise "need re-scoring": they are shown but never ranked with these.
    None when no entry has scores on ``split``.
    """
    best, best_key = None, None
    for entry in entries:
        scores = entry.scores(split)
        if scores is None or not scores.metrics:
            continue
        order = (version_key(scores.evaluator), scores.evaluated)
        if best_key is None or order > best_key:
            best, best_key = ScoringIdentity.of_entry(entry, split), order
    return best
