"""`easel report`: the PR comment, as Markdown, from an (untrusted) result.json.

Everything printed is either a fixed sentence of ours or a value that passed
the result schema, and error texts are looked up by code from evaluator.errors
instead of being copied from the file. Values go out in one of two forms, both
checked by rendering with GitHub's own cmark-gfm in tests/test_comment_render.py:

- :func:`code`: a code span fenced with enough backticks, so identifiers show
  verbatim (``inception_v3_random_seed0``, never ``inception\\_v3...``) and
  nothing inside is parsed (no links, HTML, emphasis or @mentions);
- :func:`md`: plain text with Markdown punctuation backslash-escaped and
  autolink/mention triggers broken by a word joiner.

Both pass the text through :func:`~evaluator.vocab.neutralise_markers` first, so no value can
form an HTML comment, and hence no imitation of the bot's markers, in the comment's source.
"""

from __future__ import annotations

import html
import re

from . import error_text
from .config import Competition
from .errors import CODES, EaselError
from .errors import _identifier as allowlisted_identifier
from .leaderboard.ranking import format_value, metric_order, standing
from .leaderboard.schema import Board
from .result import Efficiency, Result
from .vocab import COMMENT_MARKER as MARKER
from .vocab import WORD_JOINER, neutralise_markers

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
_LINK_TRIGGERS = re.compile(r"(@|:(?=//))")
_BACKTICK_RUN = re.compile(r"`+")
_SPACES = re.compile(r"\s+")
_ARROW = {"asc": "↓ lower is better", "desc": "↑ higher is better"}


def md(text: object) -> str:
    """Plain text for Markdown: shown as written, never markup, a link or a mention; one line."""
    escaped = _MD_SPECIAL.sub(r"\\\1", html.escape(neutralise_markers(_SPACES.sub(" ", str(text))), quote=False))
    # The word joiner stops GitHub turning `@name` into a mention and `x://` into a link.
    return _LINK_TRIGGERS.sub(lambda m: m.group(1) + WORD_JOINER, escaped)


def code(text: object, cell: bool = False) -> str:
    """``text`` as one inline code span, shown verbatim whatever it holds.

    The fence is one backtick longer than the longest backtick run inside, and
    padded with a space when the text starts or ends with a backtick
    (CommonMark strips one such space). ``cell=True`` escapes ``|`` for a GFM
    table cell (the table parser unescapes it before the code span is read).
    """
    value = neutralise_markers(" ".join(str(text).split())) or "-"
    fence = "`" * (1 + max((len(run) for run in _BACKTICK_RUN.findall(value)), default=0))
    pad = " " if value[0] == "`" or value[-1] == "`" else ""
    span = f"{fence}{pad}{value}{pad}{fence}"
    return span.replace("|", "\\|") if cell else span


def prose(sentence: str, cell: bool = False) -> str:
    """One of our fixed sentences or hints: its `backticked` parts become code spans, the rest plain text."""
    parts = sentence.split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: no code spans at all
        return md(sentence)
    return "".join(code(part, cell) if i % 2 else md(part) for i, part in enumerate(parts))


def fmt(value: float | None, digits: int = 4) -> str:
    """A metric value exactly as the site shows it (the one formatter, ``format_value``)."""
    return format_value(value, digits)


# A GitHub Actions artifact address: nothing a participant controls can reach the comment through it.
GALLERY_URL_RE = re.compile(r"https://github\.com/[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}/actions/runs/"
                            r"[0-9]{1,20}/artifacts/[0-9]{1,20}")
SERVER_URL_RE = re.compile(r"https?://[A-Za-z0-9.-]{1,253}(?::[0-9]{1,5})?")
DEFAULT_SERVER_URL = "https://github.com"


def actions_server_url(server_url: str | None = None) -> str:
    """The Actions server of this run: ``server_url`` (``Settings.server_url``, ``$GITHUB_SERVER_URL`` as the
    runner sets it: github.com, a GitHub Enterprise host, the executed-workflow tests' loopback server) when
    it is a plain http(s) origin, else https://github.com."""
    return server_url if server_url and SERVER_URL_RE.fullmatch(server_url) else DEFAULT_SERVER_URL


def gallery_url_ok(url: str, server_url: str | None = None) -> bool:
    """Whether ``url`` is exactly an Actions artifact address (:data:`GALLERY_URL_RE`) on the run's server
    (:func:`actions_server_url` of ``server_url``)."""
    pattern = GALLERY_URL_RE.pattern.replace(r"https://github\.com", re.escape(actions_server_url(server_url)), 1)
    return re.fullmatch(pattern, url) is not None


def render_comment(result: Result, competition: Competition | None = None, leaderboard: Board | None = None,
                   head_sha: str | None = None, gallery_url: str | None = None,
                   server_url: str | None = None) -> str:
    """The sticky PR comment body (GitHub Markdown), starting with the bot's hidden marker.

    ``result``: a checked :class:`~evaluator.result.Result` (a file is read with ``Result.load``,
    the one check of result.json, by the caller). ``gallery_url``: this run's gallery artifact
    (the model's outputs on the showcase images), linked when it is exactly a GitHub Actions
    artifact address (:data:`GALLERY_URL_RE`) on ``server_url`` (``Settings.server_url``;
    None: https://github.com).
    """
    if not isinstance(result, Result):
        raise TypeError(f"render_comment takes a checked Result (Result.from_json / Result.load), "
                        f"not {type(result).__name__}")
    sub = result.submission
    name = f"{sub.team}/{sub.model}" if sub is not None else "unknown/unknown"
    lines = [MARKER, f"## Easel evaluation: {code(name)}", ""]
    track = result.track
    if track:
        lines.append(f"Track {code(track.id)}{_track_title(competition, track.id)} · kind {md(track.kind)} "
                     f"· split **{md(result.split)}**")
    if head_sha:
        if not re.fullmatch(r"[0-9a-f]{40}", head_sha):
            raise EaselError("E_SHA_FORMAT", "head sha is not 40 hex characters")
        lines.append(f"Evaluated commit `{head_sha}`")
    lines.append("")

    if result.status != "ok":
        lines += _error_lines(result)
    else:
        declared = ()
        if competition is not None and any(t.id == track.id for t in competition.tracks):
            declared = competition.track(track.id).metrics
        lines += _metrics_table(result, declared)
        lines += metric_description_lines(result)
        lines += output_range_lines(result)
        place = standing(result, leaderboard)
        if place is not None:
            lines += _standing_lines(result, place)
        lines += _efficiency_lines(result.efficiency)
        lines += _memorization_lines(result)
        if gallery_url is not None and gallery_url_ok(gallery_url, server_url):
            lines += ["", f"🖼️ [Your model on the showcase images]({gallery_url}): input, output (and style) "
                          "side by side, never test images (a zip holding one PNG; GitHub asks you to sign in)."]
    lines += [""] + _provenance_lines(result)
    return "\n".join(lines).rstrip() + "\n"


def _track_title(competition: Competition | None, track_id: str) -> str:
    if competition is None:
        return ""
    try:
        title = competition.track(track_id).title
    except EaselError:
        return ""
    return f" ({md(title)})" if title else ""


# An error without facts shows its allowlisted detail as code after the word naming what it is;
# errors with facts read as their code's sentence (evaluator/error_text.py).
_DETAIL_LABELS = {
    "E_META_SCHEMA": "key", "E_META_NAME": "key", "E_CONFIG": "key", "E_RESULT_SCHEMA": "key",
    "E_MODEL_MISSING": "key", "E_TRACK_UNKNOWN": "track", "E_FORMAT": "key",
    "E_KERAS_LAYER": "layer class", "E_KERAS_PATH_ARG": "argument", "E_SAVEDMODEL_OP": "operation",
    "E_SAVEDMODEL_SIGNATURE": "signature", "E_ONNX_OP": "operator", "E_ONNX_DOMAIN": "domain",
    "E_PRED_SHAPE": "output shape", "E_PRED_DTYPE": "output dtype", "E_PRED_NONFINITE": "values",
    "E_PRED_RANGE": "largest magnitude", "E_BACKBONE": "backbone",
    **dict.fromkeys(("E_SYMLINK", "E_HARDLINK", "E_SPECIAL_FILE", "E_LFS_POINTER", "E_KERAS_H5",
                     "E_KERAS_ARCHIVE", "E_MODEL_MALFORMED", "E_ZIP_BOMB", "E_DATA_MANIFEST", "E_DATA_IMAGE",
                     "E_SCOPE_PATH", "E_SCOPE_SUBMODULE", "E_PATH_ESCAPE"), "in"),
}


def describe_detail(code_name: str, detail: object, facts: object = None) -> str:
    """What the error found, as Markdown words: its facts' sentence (:func:`error_text.sentence`)
    when it has valid facts, else its allowlisted ``detail`` after a label; ``""`` when neither."""
    said = error_text.sentence(code_name, facts)
    if said:
        return prose(said, cell=True)
    ident = allowlisted_identifier(detail) if detail else None
    if ident is None:
        return ""
    return f"{_DETAIL_LABELS.get(code_name, 'detail')} {code(ident, cell=True)}"


def _error_lines(result: Result) -> list[str]:
    if result.status == "invalid":
        verdict = "❌ **Invalid submission**: nothing was scored. Fix the problems below and push again."
    else:
        verdict = ("⚠️ **Evaluation error**: nothing was scored. The problem below is on the evaluation side, "
                   "not in your submission; a maintainer will fix it and evaluate again.")
    lines = [verdict, "", "| code | problem | how to fix |", "| --- | --- | --- |"]
    for err in result.errors:
        info = CODES.get(err.code)
        sentence, hint = (info.sentence, error_text.hint(err.code, err.facts, info.hint)) if info \
            else ("Unknown error code.", "Contact the organizers.")
        detail = describe_detail(err.code, err.detail, err.facts) if info else ""
        problem = prose(sentence, cell=True) + (f" ({detail})" if detail else "")
        lines.append(f"| {code(err.code, cell=True)} | {problem} | {prose(hint, cell=True)} |")
    return lines + [""]


def _metrics_table(result: Result, declared: tuple[str, ...] = ()) -> list[str]:
    ranking = result.track.metric
    names = metric_order(result.metrics, ranking, declared)  # the site's order
    # The backbone column appears once a result records per-metric backbones (older results do not).
    per_metric = any(m.backbones is not None for m in result.metrics.values())
    lines = ["| metric | value | 95% interval | direction | n |" + (" backbone |" if per_metric else ""),
             "| --- | ---: | :---: | --- | ---: |" + (" --- |" if per_metric else "")]
    for name in names:
        m = result.metrics[name]
        ci = f"[{fmt(m.ci95[0])}, {fmt(m.ci95[1])}]" if m.ci95 else "–"
        label = f"**{md(name)}** (ranking)" if name == ranking else md(name)
        row = f"| {label} | {fmt(m.value)} | {ci} | {_ARROW[m.order]} | {m.n} |"
        if per_metric:
            row += " " + (", ".join(code(b, cell=True) for b in m.backbones or ()) or "pixels") + " |"
        lines.append(row)
    return lines + [""]


INTERVAL_MEANING = ("Intervals: 95% bootstrap intervals, the spread of each estimate at this number of test "
                    "images (n), not the metric's population value; paired tracks resample input, output and "
                    "target together. FID grows as n shrinks, so compare FIDs only at equal n.")


def metric_description_lines(result: Result) -> list[str]:
    """What each reported metric computes, from the metric registry (never from the result file)."""
    from .metrics import describe

    ranking = result.track.metric
    names = [ranking] + sorted(n for n in result.metrics if n != ranking)
    described = [(name, describe(name)) for name in names]
    lines = [f"- `{name}`: {md(text)}" for name, text in described if text]  # names: METRIC_RE, registered
    if not lines:
        return []
    return (["<details><summary>What the metrics compute</summary>", ""] + lines
            + ["", INTERVAL_MEANING, "", "</details>", ""])


# Hints by result note code (result.NOTE_CODES); each is a fixed sentence of ours.
NOTE_HINTS = {
    "output_range_0_1": (
        "⚠️ **Output range**: over the whole test set the model's outputs never went below 0, while its "
        "inputs span [−1, 1]. It probably ends in a sigmoid (outputs in [0, 1]), so every image is scored "
        "washed out, at half contrast. End the model in `tanh`, or map the sigmoid's output `x` to `2x − 1`. "
        "The scores above are kept as measured."),
}


def output_range_lines(result: Result) -> list[str]:
    """The comment's hints for the result's notes (e.g. a model that probably ends in a sigmoid)."""
    hints = [NOTE_HINTS[note] for note in result.notes or () if note in NOTE_HINTS]
    return hints + [""] if hints else []


def _standing_lines(result: Result, place: dict) -> list[str]:
    metric = result.track.metric
    value = result.metrics[metric].value
    lines = []
    if place["rank"] is not None:
        lines.append(f"**Would rank #{place['rank']} of {place['of']}** on the current public leaderboard "
                     f"(by {code(metric)}).")
        lines.append("")
    for label, other in (("leader", place["leader"]), ("best baseline", place["best_baseline"])):
        if other is not None:
            lines.append(f"- Difference from the {label}: {value - other:+.4g} ({code(metric)} {fmt(other)})")
    return lines + [""]


def _efficiency_lines(eff: Efficiency | None) -> list[str]:
    if eff is None:
        return []
    parts = []
    if eff.images_per_s is not None:
        parts.append(f"{fmt(eff.images_per_s, 3)} images/s (batch {eff.best_batch_size})")
    if eff.latency_ms_batch1 is not None:
        parts.append(f"{fmt(eff.latency_ms_batch1, 3)} ms latency at batch 1")
    if eff.parameters is not None:
        parts.append(f"{int(eff.parameters):,} parameters")
    if eff.model_bytes is not None:
        parts.append(f"{eff.model_bytes / 2**20:.2f} MB")
    where = f"measured on {md(eff.device.label)}" if eff.device is not None else "evaluation runner"
    return [f"**Efficiency** ({where}): " + " · ".join(parts), ""] if parts else []


def _memorization_lines(result: Result) -> list[str]:
    extra = result.extra
    offline = result.backbone is not None and result.backbone.offline_standin
    if extra.get("memorization_meaningful") is False:  # the evaluator applied no penalty
        if "mifid" not in result.metrics:
            return []
        return ["Memorization check not applied: the offline stand-in backbone's feature distances cannot "
                "tell a copy of a training style image from a new image, so `mifid` here equals FID (no "
                "penalty) and no memorization flag is raised.", ""]
    if offline and "memorization_ratio" in extra:  # a result from before that rule: say what it is not
        return ["Memorization check not meaningful: the offline stand-in backbone's feature distances cannot "
                "tell a copy of a training style image from a new image, so a low memorization ratio (and the "
                "`mifid` it inflates) is no sign that the outputs copy training images.", ""]
    if not extra.get("memorized"):
        return []
    return ["🚩 **Memorization flag**: outputs are near-copies of training style images "
            f"(they come {fmt(extra.get('memorization_ratio'))} times as close to the "
            "training set as new images of the style do, below the threshold); "
            "MiFID penalises this and organizers will review it.", ""]


def _provenance_lines(result: Result) -> list[str]:
    """The warning alert (a paragraph of its own: a blank line ends it), then one fact per line."""
    lines = []
    backbones = result.all_backbones
    for backbone in backbones:
        if backbone.offline_standin:
            lines += ["> [!WARNING]",
                      f"> **Offline stand-in backbone {code(backbone.id)}**: the standard weights were "
                      "not available, so features come from a seeded random-init network. Scores on it are "
                      "comparable only with other results from this backbone, never with published scores.", ""]
    facts = [f"Backbone {code(b.id)} (weights sha256 {code(b.weights_sha256[:12])}, resize {md(b.resize)})."
             for b in backbones]
    data = result.dataset
    if data:
        facts.append(f"Dataset {code(data.id)} (manifest {code(data.manifest_sha256[:12])}, "
                     f"{data.n_inputs} inputs).")
    sub = result.submission
    if sub is not None and sub.content_sha256:
        facts.append(f"Submission content sha256 {code(sub.content_sha256[:12])}.")
    run = result.evaluator
    facts.append(f"Easel {code(run.version)}, {run.seconds:.1f} s. Intervals are 95% bootstrap intervals.")
    # Separate paragraphs: GitHub and plain CommonMark both show one fact per line.
    return lines + "\n\n".join(facts).split("\n")
