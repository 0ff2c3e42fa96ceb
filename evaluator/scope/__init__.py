"""PR scope check and the SHA-pinned fetch of a pull request's files as data.

Runs on the self-hosted runner from the trusted checkout of ``main``. The PR's
commits are only ever *read* through git plumbing (``diff``, ``ls-tree``,
``cat-file``): the PR is never checked out, no hook or filter runs, no
symlink is followed, and only ``submissions/<team>/<model>/`` is written out.

Modules: ``gitio`` (hardened git), ``check`` (the scope rule on a diff),
``fetch`` (fetch at the pinned SHA, extract as data), ``pending`` (merged
submissions without an entry), ``commands`` (the CLI edge).
"""

from .check import MODE_GITLINK, MODE_SYMLINK, Change, Scope, check_changes, check_scope, diff_changes, merge_base
from .fetch import FETCH_REF, LFS_PREFIX, PR_REF_RE, REGULAR_MODES, REMOTE_RE, error_result, extract_submission, fetch_pr
from .gitio import check_sha, git, safe_path
from .pending import pending_submissions

__all__ = ["MODE_GITLINK", "MODE_SYMLINK", "Change", "Scope", "check_changes", "check_scope", "diff_changes",
           "merge_base", "FETCH_REF", "LFS_PREFIX", "PR_REF_RE", "REGULAR_MODES", "REMOTE_RE", "error_result",
           "extract_submission", "fetch_pr", "check_sha", "git", "safe_path", "pending_submissions"]
