"""Changing the board: add a public result, reveal private ones, list what needs re-scoring.

Rules:

- One entry per (team, model, track). Adding the same submission with the same
  numbers and scoring changes nothing (the file's bytes stay the same); a newer
  evaluation or a new version of the submission replaces the entry. A newer
  result for the same files keeps the one it replaces in the entry's ``history``.
- A result is bound to its scoring: the Easel version, the backbone (id,
  weights, resize) and the dataset manifest. A track ranks only the entries
  of its current scoring (:func:`~.identity.current_scoring`); the others are
  listed as "needs re-scoring". A result scored differently from the track's
  current entries is refused (E_RESULT_BACKBONE) unless it comes from a newer
  Easel version on the same data, or is added with ``rescore=True`` (the
  rescore workflow, after the backbone or data changed).
- Values outside a metric's plausible range are refused (E_RESULT_RANGE).
- Before the final phase ends only public-split scores are shown and rank.
  ``reveal`` merges private-split results of the entries that count
  (:func:`~.rules.final_selection`) after the deadline; re-running it with
  the same results changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from pathlib import Path
from typing import Sequence

from .. import __version__
from ..config import Competition, Limits
from ..errors import EaselError
from ..result import CLOCK_SKEW, Result, as_result, load_result
from ..binding import check_commit, check_data_binding, check_submission_binding
from .rules import (
    check_oracle_identity,
    check_plausible,
    check_track,
    entry_submission,
    final_limit_error,
    final_overflow,
    final_selection,
)
from .identity import ScoringIdentity, current_scoring
from .schema import MAX_HISTORY, Board, EarlierScores, Entry, Meta, Revealed, Scores, iso_utc, parse_time, utc


def _check_pr(pr: int | None, commit: str | None) -> None:
    if pr is not None and (not isinstance(pr, int) or isinstance(pr, bool) or pr <= 0):
        raise EaselError("E_RESULT_BINDING", f"pull request number must be a positive integer, got {pr!r}",
                         detail="pr")
    if (pr is None) != (commit is None):
        raise EaselError("E_RESULT_BINDING", "give both the pull request and the merged commit (--pr and "
                         "--commit), or neither for a local trial", detail="pr" if pr is None else "commit")


def _check_scoring(entries: Sequence[Entry], key: tuple, result: Result, rescore: bool) -> None:
    """Refuse a result that cannot join the track's current scoring (see the module rules)."""
    others = [e for e in entries if e.track == key[2] and e.key != key]
    current = current_scoring(others)
    mine = ScoringIdentity.of_result(result)
    field = None if current is None else mine.difference(current)
    if field is None or rescore:
        return
    if mine.same_data(current) and mine.newer_evaluator_than(current):
        return  # the runner's Easel was upgraded: this result starts the new scoring
    example = next(e for e in others if ScoringIdentity.of_entry(e) == current)
    raise EaselError("E_RESULT_BACKBONE",
                     f"track {key[2]}: the result's {field} differs from the track's current entries "
                     f"(e.g. {example.team}/{example.model}); results from different evaluators, backbones "
                     "or data are never ranked together (the rescore workflow re-scores a whole track)",
                     detail=field)


def _final_count_check(entries: Sequence[Entry], key: tuple, final: bool, limit: int) -> None:
    """Refuse a ``final`` mark beyond the team's limit in the track (re-adding a marked entry is no new mark)."""
    if not final:
        return
    team, _, track = key
    others = [e for e in entries if e.participant and e.final and e.team == team and e.track == track
              and e.key != key]
    if len(others) + 1 > limit:
        raise final_limit_error(team, track, len(others) + 1, limit)


def add_result(board: Board, result: Result | dict, pr: int | None, commit: str | None, meta: dict | None = None,
               now: dt.datetime | None = None, competition: Competition | None = None,
               submission_dir: str | Path | None = None, data_root: str | Path | None = None,
               final: bool | None = None, rescore: bool = False) -> tuple[Board, bool]:
    """Add or update the entry of a public-split result; return ``(board, changed)``.

    - key = (team, model, track). Same key, content, scoring and metrics:
      nothing changes (``changed`` False; the caller leaves the file untouched).
    - Same key and a newer evaluation (or a new version of the submission):
      the entry is replaced; for the same content the replaced public scores
      go to ``history``. An older evaluation of the same files than the stored
      one is ignored (a re-run of a stale job), unless the stored time lies more
      than the clock skew ahead of ``now`` (a forged ``created`` that an older
      Easel let in must not freeze the entry).
    - ``pr`` and ``commit`` both given (a merged submission) or both None (a
      local trial: the entry is marked ``local``; re-adding the same content
      keeps the earlier PR and commit).
    - ``final``: submission.yaml's ``final`` (None: keep the stored one); a
      team may mark at most ``limits.final_entries`` entries of a track.
    - Refused: status != ok (E_RESULT_STATUS); a non-public split
      (E_RESULT_BINDING: private scores enter only through :func:`reveal`);
      a value outside its metric's range (E_RESULT_RANGE); a scoring that
      differs from the track's current entries (E_RESULT_BACKBONE, see the
      module rules); a bad commit (E_SHA_FORMAT); too many final marks
      (E_FINAL_LIMIT); the reserved team id ``oracle`` on anything but the
      oracle row (E_RESULT_BINDING).
    - ``competition``: the track must exist and use the result's dataset.
    - ``submission_dir``: its tree_sha256 must equal the result's content hash;
      ``data_root``: ROOT/<dataset>/manifest.json must be the result's manifest
      (both E_RESULT_BINDING).

    ``board`` is not modified (it is frozen); a new board is returned, or ``board`` itself when nothing
    changed. ``meta``: submission.yaml's public metadata (untrusted; cut to the stored shape here).
    """
    result = as_result(result)
    sub = entry_submission(result)
    if result.split != "public":
        raise EaselError("E_RESULT_BINDING", f"only public-split results are added; this one is split "
                         f"{result.split!r} (private results enter through `easel leaderboard reveal`)",
                         detail="split")
    commit = check_commit(commit)
    _check_pr(pr, commit)
    oracle = check_oracle_identity(sub)
    check_plausible(result.metrics)
    if competition is not None:
        check_track(result, competition)
    if submission_dir is not None:
        check_submission_binding(result, submission_dir)
    if data_root is not None:
        check_data_binding(result, data_root)

    key = (sub.team, sub.model, sub.track)
    entries = list(board.entries)
    _check_scoring(entries, key, result, rescore)
    index = board.index(key)
    old = entries[index] if index is not None else None
    same_content = old is not None and old.content_sha256 == sub.content_sha256
    final = bool(final) if final is not None else bool(same_content and old.final)
    if not sub.baseline:
        limit = (competition.limits if competition is not None else Limits()).final_entries
        _final_count_check(entries, key, final, limit)

    public = Scores.of_result(result, public=True)
    mine = ScoringIdentity.of_result(result)
    if same_content:
        theirs = ScoringIdentity.of_entry(old)
        if theirs == mine and old.public.metrics == public.metrics and old.final == final:
            return board, False  # the same numbers again: idempotent
        stored = parse_time(old.public.evaluated)
        # A stale re-run must not overwrite a newer evaluation of the same files; a stored time beyond the
        # clock skew (written before results from the future were refused) is no evaluation to protect.
        if parse_time(public.evaluated) < stored <= utc(now) + CLOCK_SKEW:
            return board, False
    keep_binding = same_content and pr is None
    # A private score stays attached only to the exact content and data it was computed on.
    keep_private = same_content and old.private is not None and theirs.same_backbone_and_data(mine)
    history = ()
    if same_content and old.public != public:
        earlier = EarlierScores(evaluated=old.public.evaluated, evaluator=old.public.evaluator,
                                backbone=old.backbone, dataset=old.dataset, metrics=old.public.metrics)
        history = ((earlier,) + old.history)[:MAX_HISTORY]
    new = Entry(
        team=sub.team, model=sub.model, track=sub.track, baseline=sub.baseline, oracle=oracle,
        final=final and not sub.baseline,
        local=old.local if keep_binding else pr is None,
        pr=old.pr if keep_binding else pr, commit=old.commit if keep_binding else commit,
        added=old.added if same_content else iso_utc(now),
        content_sha256=sub.content_sha256,
        dataset=result.dataset.without_count(),
        backbone=result.backbone,
        # every backbone, stored only when the metrics used more than the primary one
        backbones=() if result.all_backbones == (result.backbone,) else result.all_backbones,
        meta=Meta.clean(meta) if meta is not None or not same_content else old.meta,
        public=public,
        private=old.private if keep_private else None,
        history=history,
    )
    if index is None:
        entries.append(new)
    else:
        entries[index] = new
    return dataclasses.replace(board, entries=tuple(entries)), True


# --- reveal -----------------------------------------------------------------------

def _private_candidates(board: Board, root: Path, selected: set) -> dict[int, tuple[dt.datetime, Result]]:
    """Entry index -> (evaluated, result) of the newest matching private result under ``root``."""
    index = {e.key: i for i, e in enumerate(board.entries)}
    best: dict[int, tuple[dt.datetime, Result]] = {}
    for path in sorted(root.rglob("*.json")):
        result = load_result(path)
        name = path.relative_to(root).as_posix()
        sub = result.submission
        if result.split != "private" or result.status != "ok" or sub is None or result.backbone is None \
                or result.dataset is None:
            print(f"reveal: skipped {name} (not an ok private-split result)", file=sys.stderr)
            continue
        key = (sub.team, sub.model, sub.track)
        i = index.get(key)
        if i is None:
            print(f"reveal: skipped {name} (no leaderboard entry for it)", file=sys.stderr)
            continue
        entry = board.entries[i]
        if entry.participant and key not in selected:
            print(f"reveal: skipped {name} (not among the team's final entries)", file=sys.stderr)
            continue
        field = "content_sha256" if entry.content_sha256 != sub.content_sha256 else \
            ScoringIdentity.of_entry(entry).difference(ScoringIdentity.of_result(result), ignore_evaluator=True)
        if field:
            print(f"reveal: skipped {name} ({field} differs from the leaderboard entry)", file=sys.stderr)
            continue
        check_plausible(result.metrics)
        when = parse_time(result.created)
        if i not in best or when > best[i][0]:
            best[i] = (when, result)
    return best


def reveal(board: Board, private_results_dir: str | Path, competition: Competition,
           now: dt.datetime | None = None) -> tuple[Board, int]:
    """Merge private-split result.json files (searched recursively) after the final phase ended.

    A private result joins the entry with the same team/model/track whose
    content hash, dataset manifest and backbone match it, if that entry counts
    for the final ranking (:func:`~.rules.final_selection`; a team marking
    more than ``limits.final_entries`` is refused with E_FINAL_LIMIT); for
    several such results the newest evaluation wins. Others are skipped and
    reported on stderr. The first reveal that changes scores records
    ``revealed: {at, evaluator}``; running it again with the same results
    changes nothing. Returns ``(board, number of entries whose private scores
    changed)``. Refused before the deadline with E_REVEAL_EARLY.
    """
    now = utc(now)
    if not competition.private_revealed(now):
        final = competition.final_phase
        raise EaselError("E_REVEAL_EARLY", f"the final phase '{final.name}' ends {iso_utc(final.ends)}; "
                         f"it is now {iso_utc(now)}", detail=final.name)
    root = Path(private_results_dir)
    if not root.is_dir():
        raise EaselError("E_RESULT_SCHEMA", f"private results folder not found: {root}", detail="private-results")
    limit = competition.limits.final_entries
    for team, track, marked in final_overflow(board.entries, limit):
        raise final_limit_error(team, track, marked, limit)
    selected = final_selection(board.entries, limit)
    entries, changed = list(board.entries), 0
    for i, (when, result) in sorted(_private_candidates(board, root, selected).items()):
        private = Scores.of_result(result, public=False)
        if entries[i].private != private:
            entries[i] = dataclasses.replace(entries[i], private=private)
            changed += 1
    if not changed:
        return board, 0
    return dataclasses.replace(board, entries=tuple(entries),
                               revealed=Revealed(at=iso_utc(now), evaluator=__version__)), changed


# --- re-scoring -----------------------------------------------------------------------

def rescore_list(board: Board, evaluator: str = __version__, track: str | None = None,
                 weights_sha256: str | None = None) -> list[dict]:
    """Entries to evaluate again: scored unlike their track's current entries, by another Easel version
    than ``evaluator``, or (if given) with other backbone weights than ``weights_sha256``.

    Returns ``[{team, model, track, baseline, oracle, content_sha256, pr, commit, evaluator, backbone,
    weights_sha256, differs, reason}]`` in board order; ``differs`` names the first field of the
    scoring identity that differs from the track's current entries (None when it agrees), ``reason``
    says in words what differs.
    """
    current = {t: current_scoring(board.track(t)) for t in {e.track for e in board.entries}}
    out = []
    for entry in board.entries:
        if track is not None and entry.track != track:
            continue
        scored_by = entry.public.evaluator
        reasons = []
        mine, theirs = ScoringIdentity.of_entry(entry), current[entry.track]
        differs = None if theirs is None else mine.difference(theirs)
        if mine != theirs:
            reasons.append("not scored like the track's current entries")
        if scored_by != evaluator:
            reasons.append(f"evaluator {scored_by or 'unknown'} != {evaluator}")
        if weights_sha256 is not None and entry.backbone.weights_sha256 != weights_sha256:
            reasons.append(f"backbone weights {entry.backbone.weights_sha256[:12]} != {weights_sha256[:12]}")
        if reasons:
            out.append({"team": entry.team, "model": entry.model, "track": entry.track,
                        "baseline": entry.baseline, "oracle": entry.oracle,
                        "content_sha256": entry.content_sha256, "pr": entry.pr, "commit": entry.commit,
                        "evaluator": scored_by, "backbone": entry.backbone.id,
                        "weights_sha256": entry.backbone.weights_sha256, "differs": differs,
                        "reason": "; ".join(reasons)})
    return out
