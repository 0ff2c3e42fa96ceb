"""`easel bot comment`: what the comment job answers, whatever happened to the evaluation job.

The comment job knows two things: how the evaluation job ended
(``needs.evaluate.result``: success, failure, cancelled or skipped) and whether
its result.json artifact could be downloaded. :func:`answer` is the whole
decision table, a pure function; :func:`post_result` renders and posts it.

Fair limits: an evaluation that ended at Easel's or the runner's fault
(status ``error``, exit 3, a cancelled, lost or never-started job) is marked
``counted: false`` in the PR's hidden record, with the reason, and the comment
tells the participant it did not count.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import EaselError
from ..vocab import COMMENT_MARKER
from .api import BotOptions, make_client
from .record import Record, approval_key, with_record
from .sticky import check_target, upsert_comment

if TYPE_CHECKING:
    from ..result import Result

EVALUATION_RESULTS = ("success", "failure", "cancelled", "skipped")


@dataclass(frozen=True)
class Answer:
    """What to post: a result to render (None: only ``note``), whether it counts, and why not.

    ``counted`` None leaves the record as it is; ``retry`` asks the caller to
    fail the job so "Re-run failed jobs" can try again.
    """

    result: "Result | None"
    counted: bool | None
    why: str | None = None
    note: str | None = None
    retry: bool = False


def _error_result(code: str) -> "Result":
    from ..scope import error_result

    return error_result(EaselError(code))


def answer(evaluation: str, result: "Result | None") -> Answer:
    """The decision table: how the evaluation job ended x the result.json (checked where it was read;
    None: absent). ``Answer.result`` is what to render: ``result`` itself, or a refusal of ours."""
    if evaluation not in EVALUATION_RESULTS:
        raise EaselError("E_CONFIG", f"--evaluation must be one of {', '.join(EVALUATION_RESULTS)}",
                         detail="evaluation")
    if evaluation == "cancelled":
        return Answer(_error_result("E_EVAL_CANCELLED"), False, "the evaluation job was cancelled")
    if evaluation == "skipped":
        return Answer(_error_result("E_EVAL_CANCELLED"), False, "the evaluation job never ran")
    if result is None and evaluation == "success":
        # Never report a runner death over a real score: the artifact is still there for a re-run.
        return Answer(None, None, note="The evaluation finished, but its result could not be fetched yet. "
                                       "A maintainer re-runs the failed `comment` job to post the scores.",
                      retry=True)
    if result is None:
        return Answer(_error_result("E_INTERNAL"), False, "the runner failed before writing a result")
    if result.status == "error":
        codes = result.error_codes
        return Answer(result, False, f"the evaluator or the runner failed ({codes[0] if codes else 'error'})")
    return Answer(result, True)


def _fairness_line(ans: Answer) -> str:
    """The note telling the participant an evaluation was given back (a blockquote of its own)."""
    return (f"\n\n> ℹ️ This evaluation does **not** count towards your daily limit: {ans.why}. "
            "Failures on our side never cost you an evaluation.\n")


def post_result(repo_name: str, number: int, result_path: str | os.PathLike, options: BotOptions,
                head_sha: str | None = None, competition_path: Path | None = None,
                leaderboard_path: Path | None = None, token: str | None = None, evaluation: str | None = None,
                run_id: int | None = None, gallery_url: str | None = None,
                server_url: str | None = None) -> tuple[str, int]:
    """`easel bot comment`: validate result.json (untrusted), render it, create or edit the sticky comment.

    Without ``evaluation`` the result file must exist (the original behaviour).
    With it, :func:`answer` decides; the PR's record entry for
    ``head_sha:run_id`` is marked not counted when the failure was ours.
    ``gallery_url``: the run's gallery artifact, linked only when it belongs to ``repo_name`` on
    ``server_url`` (``Settings.server_url``, $GITHUB_SERVER_URL; None: https://github.com).
    Raises E_RESULT_SCHEMA for a bad file, EaselError E_GITHUB_* for the API, E_RESULT_ARTIFACT_MISSING
    (after posting the pending note) when the evaluation succeeded but its artifact did not come;
    returns ("created" | "updated", comment id).
    """
    from ..config import default_competition_path, load_competition
    from ..report import actions_server_url, render_comment
    from ..result import load_result

    check_target(repo_name, number, head_sha)
    present = Path(result_path).is_file()
    result = load_result(result_path) if present or evaluation is None else None
    ans = answer(evaluation, result) if evaluation is not None else Answer(result, None)
    competition_path = competition_path or default_competition_path()
    competition = load_competition(competition_path) if Path(competition_path).is_file() else None
    board = None
    if leaderboard_path is not None and Path(leaderboard_path).is_file():
        from ..leaderboard import load_leaderboard

        board = load_leaderboard(leaderboard_path)
    if ans.result is not None:
        server = actions_server_url(server_url)
        own = gallery_url if gallery_url and gallery_url.startswith(f"{server}/{repo_name}/") else None
        rendered = render_comment(ans.result, competition, board, head_sha=head_sha, gallery_url=own,
                                  server_url=server)
        rendered = rendered.rstrip("\n") + _fairness_line(ans) if ans.counted is False else rendered
    else:
        rendered = f"{COMMENT_MARKER}\n## Easel evaluation\n\n⏳ {ans.note}\n"
    key = approval_key(head_sha, run_id)
    client = make_client(options, token)

    def body_for(old: Record | None) -> str:
        entry = old.find(key) if old is not None else None
        if entry is not None and ans.counted is False:
            entry.counted, entry.why = False, ans.why
        return with_record(rendered, old)

    posted = upsert_comment(client, repo_name, number, body_for, options)
    if ans.retry:
        raise EaselError("E_RESULT_ARTIFACT_MISSING", "the evaluation succeeded but its result.json artifact was "
                                                      "not found: re-run the failed comment job", detail="artifact")
    return posted
