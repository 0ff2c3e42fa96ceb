"""The score bot: one sticky comment per PR, the per-team daily limit, GitHub API errors.

``easel bot comment`` posts (or edits) the PR's single Easel comment, found
among the bot's own comments by :data:`MARKER`; ``easel bot gate`` decides an
approval before the GPU job runs. Modules: ``api`` (client, retries, coded
errors), ``record`` (the hidden evaluation record and the 24 h window),
``sticky`` (the one comment), ``gate`` (pure decision + rendering + the
budgeted scan), ``outcome`` (the comment job's decision table), ``commands``
(the CLI edge; ``easel bot bind`` records PR + commit in result.json through
:mod:`evaluator.binding`).

This package is ``evaluator.github``; PyGithub's top-level ``github`` is only
imported inside functions, and every import here is relative.
"""

from ..binding import bind_result, read_binding  # the one home of binding, re-exported for `easel bot bind`
from ..vocab import COMMENT_MARKER as MARKER
from ..vocab import RECORD_PREFIX
from .api import DEFAULT_BOT_LOGIN, PER_PAGE, BotOptions, RateLimited, api_error, call_github, make_client, pr_of_commit
from .gate import Decision, decide, gate, render, team_of_files, team_times
from .outcome import Answer, answer, post_result
from .record import (WINDOW, ApprovedEvaluation, Record, approval_key, iso, next_allowed, parse_record, utc_now,
                     with_record)
from .sticky import find_sticky, upsert_comment

__all__ = ["MARKER", "RECORD_PREFIX", "DEFAULT_BOT_LOGIN", "PER_PAGE", "BotOptions", "RateLimited", "api_error",
           "call_github", "make_client", "pr_of_commit", "bind_result", "read_binding", "Decision", "decide", "gate", "render",
           "team_of_files", "team_times", "Answer", "answer", "post_result", "WINDOW",
           "ApprovedEvaluation", "Record",
           "approval_key", "iso", "next_allowed", "parse_record", "utc_now", "with_record", "find_sticky",
           "upsert_comment"]
