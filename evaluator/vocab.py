"""Easel's shared vocabulary: the patterns, names and markers every stage agrees on.

One home for each: a module that checks an id, a hash or a track kind imports it
from here instead of writing its own copy, so two checks can never disagree.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

# --- identifiers -----------------------------------------------------------
# Every pattern ends in \Z, not $: `$` also matches before a final newline ("acme\n" would pass).
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}\Z")           # team, model, track, link names
ID_RULE = "1-40 lowercase letters, digits, '-' or '_', starting with a letter or digit"
METRIC_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}\Z")
BACKBONE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}\Z")
DATASET_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}\Z")
ERROR_CODE_RE = re.compile(r"^E_[A-Z0-9_]{1,40}\Z")
LOGIN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}(\[bot\])?\Z")  # a GitHub login
REPO_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}\Z")  # owner/name
DEVICE_NAME_RE = re.compile(r"^[A-Za-z0-9 ._()@+,:/-]{1,64}\Z")  # efficiency.device.name: a GPU or CPU model
DEVICE_LABEL_RE = re.compile(r"^[A-Za-z0-9 ._()@+,:;/-]{1,160}\Z")  # result.device_label: one line on the board
ONNX_PROVIDER_RE = re.compile(r"^[A-Za-z]{1,40}ExecutionProvider\Z")  # efficiency.device.provider
VERSION_RE = re.compile(r"^[0-9A-Za-z.+-]{1,32}\Z")               # TensorFlow, CUDA, cuDNN versions
# Easel's own version (result evaluator.version, leaderboard evaluator): a PEP 440 release, e.g. 0.1.0,
# 1.2rc1, 0.3.0.dev4, 0.3.0+g1a2b3c4; nothing else, so it never carries markup into a comment or the site.
EASEL_VERSION_RE = re.compile(r"^[0-9]{1,6}(\.[0-9]{1,6}){0,3}((a|b|rc)[0-9]{1,6})?(\.post[0-9]{1,6})?"
                              r"(\.dev[0-9]{1,6})?(\+[a-z0-9]{1,16}(\.[a-z0-9]{1,16}){0,3})?\Z")

# --- hashes ----------------------------------------------------------------
HEX40_RE = re.compile(r"^[0-9a-f]{40}\Z")  # a git commit
HEX64_RE = re.compile(r"^[0-9a-f]{64}\Z")  # a sha256 digest

# --- closed vocabularies ---------------------------------------------------
TRACK_KINDS = ("unpaired", "paired", "example")
STYLE_KINDS = ("unpaired", "example")      # tracks judged on style, not on a known target
TEST_SPLITS = ("public", "private")        # the two halves of a held-out test set
ORDERS = ("asc", "desc")                   # asc: lower is better
RESIZE_MODES = ("clean", "legacy_tensorflow")
# every resize a backbone may apply: the evaluation's modes, and pil_uint8 (PIL bicubic on the uint8 image),
# which DINOv2 and CLIP apply as their references do (BackboneSpec.resize), never an evaluation.resize choice
BACKBONE_RESIZES = RESIZE_MODES + ("pil_uint8",)
DEVICE_KINDS = ("gpu", "cpu")              # efficiency.device.kind

# --- markers ---------------------------------------------------------------
COMMENT_MARKER = "<!-- easel:score-comment -->"   # first line of the bot's one sticky PR comment
RECORD_PREFIX = "<!-- easel:evaluations "         # the hidden evaluation record inside that comment
SITE_MARKER = ".easel-site"                       # file in a folder `easel site build` made (and may replace)
# Every marker above the site's is an HTML comment, so text that cannot open one cannot imitate them.
_COMMENT_TRIGGERS = re.compile(r"<(?=!)|-(?=->)")
WORD_JOINER = "\u2060"  # invisible: the text reads the same, GitHub sees no tag, comment or mention


def neutralise_markers(text: str) -> str:
    """``text`` with every ``<!`` and ``-->`` broken by a word joiner, so that no HTML comment, and
    hence no bot marker (``<!-- easel:...``), can be formed from it in any position, code spans
    included. Applied to every participant- or result-derived string before it is rendered."""
    return _COMMENT_TRIGGERS.sub(lambda m: m.group(0) + WORD_JOINER, text)

# --- submissions -----------------------------------------------------------
SUBMISSIONS_DIR = "submissions"
META_FILE = "submission.yaml"


def submission_of(path: str | PurePosixPath) -> tuple[str, str] | None:
    """(team, model) of a repository-relative POSIX path under submissions/<team>/<model>/.

    Returns None for anything else: the folder itself only counts when the path
    goes inside it, names must be valid ids, and `_template` is not a team.
    """
    parts = PurePosixPath(path).parts
    if len(parts) < 4 or parts[0] != SUBMISSIONS_DIR:
        return None
    team, model = parts[1], parts[2]
    if not (ID_RE.match(team) and ID_RE.match(model)):
        return None
    return team, model
