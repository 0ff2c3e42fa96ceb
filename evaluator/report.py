"""`easel report`: the PR comment, as Markdown, from an (untrusted) result.json.

Everything printed is either a fixed sentence of ours or a value that passed
the result schema; strings are escaped again here, and error texts are looked
up by code from evaluator.errors instead of being copied from the file.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from .config import Competition, default_competition_path, load_competition
from .errors import CODES, EaselError
from .leaderboard.ranking import format_value, metric_order, standing
from .result import device_label, load_result, validate_result

MARKER = "<!-- easel:score-comment -->"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
_ARROW = {"asc": "↓ lower is better", "desc": "↑ higher is better"}


def md(text: object) -> str:
    """Escape a value for Markdown and HTML (GitHub renders both in comments)."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=True)).replace("\n", " ")


def fmt(value: float | None, digits: int = 4) -> str:
    """A metric value exactly as the site shows it (the one formatter, ``format_value``)."""
    return format_value(value, digits)


def render_comment(result: dict, competition: Competition | None = None, leaderboard: dict | None = None,
                   head_sha: str | None = None) -> str:
    """The sticky PR comment body (Markdown, escaped), starting with the bot's hidden marker."""
    result = validate_result(result)
    sub = result["submission"] or {}
    name = f"{sub.get('team', 'unknown')}/{sub.get('model', 'unknown')}"
    lines = [MARKER, f"## Easel evaluation: `{md(name)}`", ""]
    track = result["track"]
    if track:
        title = ""
        if competition is not None:
            try:
                title = f" ({md(competition.track(track['id']).title)})" if competition.track(track["id"]).title else ""
            except EaselError:
                title = ""
        lines.append(f"Track **{md(track['id'])}**{title} · kind {md(track['kind'])} · split **{md(result['split'])}**")
    if head_sha:
        if not re.fullmatch(r"[0-9a-f]{40}", head_sha):
            raise EaselError("E_SHA_FORMAT", "head sha is not 40 hex characters")
        lines.append(f"Evaluated commit `{head_sha}`")
    lines.append("")

    if result["status"] != "ok":
        verdict = "❌ **Invalid submission**" if result["status"] == "invalid" else "⚠️ **Evaluation error**"
        lines += [verdict + " — nothing was scored. Fix the problems below and push again.", "",
                  "| code | problem | how to fix |", "| --- | --- | --- |"]
        for err in result["errors"]:
            info = CODES.get(err["code"])
            sentence, hint = (info.sentence, info.hint) if info else ("Unknown error code.", "Contact the organizers.")
            detail = f" (`{md(err['detail'])}`)" if err.get("detail") else ""
            lines.append(f"| `{md(err['code'])}` | {md(sentence)}{detail} | {md(hint)} |")
        lines.append("")
    else:
        declared = ()
        if competition is not None and any(t.id == track["id"] for t in competition.tracks):
            declared = competition.track(track["id"]).metrics
        lines += _metrics_table(result, declared)
        lines += metric_description_lines(result)
        lines += output_range_lines(result)
        place = standing(result, leaderboard)
        if place is not None:
            lines += _standing_lines(result, place)
        lines += _efficiency_lines(result)
        if result["extra"].get("memorized"):
            if (result["backbone"] or {}).get("offline_standin"):
                lines += ["", "Memorization check: outputs came unusually close to training style images in "
                              "the offline stand-in backbone's features, which do not separate content well; "
                              "the flag is only meaningful with the standard FID backbone."]
            else:
                lines += ["", "🚩 **Memorization flag**: outputs are near-copies of training style images "
                              f"(they come {fmt(result['extra'].get('memorization_ratio'))} times as close to the "
                              "training set as new images of the style do, below the threshold); "
                              "MiFID penalises this and organizers will review it."]
    lines += [""] + _provenance_lines(result)
    return "\n".join(lines).rstrip() + "\n"


def _metrics_table(result: dict, declared: tuple[str, ...] = ()) -> list[str]:
    ranking = result["track"]["ranking"]["metric"]
    names = metric_order(result["metrics"], ranking, declared)  # the site's order
    lines = ["| metric | value | 95% interval | direction | n |", "| --- | ---: | :---: | --- | ---: |"]
    for name in names:
        m = result["metrics"][name]
        ci = f"[{fmt(m['ci95'][0])}, {fmt(m['ci95'][1])}]" if m["ci95"] else "–"
        label = f"**{md(name)}** (ranking)" if name == ranking else md(name)
        lines.append(f"| {label} | {fmt(m['value'])} | {ci} | {_ARROW[m['order']]} | {m['n']} |")
    return lines + [""]


INTERVAL_MEANING = ("Intervals: 95% bootstrap intervals, the spread of each estimate at this number of test "
                    "images (n), not the metric's population value; paired tracks resample input, output and "
                    "target together. FID grows as n shrinks, so compare FIDs only at equal n.")


def metric_description_lines(result: dict) -> list[str]:
    """What each reported metric computes, from the metric registry (never from the result file)."""
    from .metrics import describe

    ranking = result["track"]["ranking"]["metric"]
    names = [ranking] + sorted(n for n in result["metrics"] if n != ranking)
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


def output_range_lines(result: dict) -> list[str]:
    """The comment's hints for the result's notes (e.g. a model that probably ends in a sigmoid)."""
    hints = [NOTE_HINTS[note] for note in result.get("notes", []) if note in NOTE_HINTS]
    return hints + [""] if hints else []


def _standing_lines(result: dict, place: dict) -> list[str]:
    metric = result["track"]["ranking"]["metric"]
    value = result["metrics"][metric]["value"]
    lines = []
    if place["rank"] is not None:
        lines.append(f"**Would rank #{place['rank']} of {place['of']}** on the current public leaderboard "
                     f"(by {md(metric)}).")
    for label, other in (("leader", place["leader"]), ("best baseline", place["best_baseline"])):
        if other is not None:
            lines.append(f"- Difference from the {label}: {value - other:+.4g} ({md(metric)} {fmt(other)})")
    return lines + [""]


def _efficiency_lines(result: dict) -> list[str]:
    eff = result["efficiency"]
    if not eff:
        return []
    parts = []
    if eff.get("images_per_s") is not None:
        parts.append(f"{fmt(eff['images_per_s'], 3)} images/s (batch {eff.get('best_batch_size')})")
    if eff.get("latency_ms_batch1") is not None:
        parts.append(f"{fmt(eff['latency_ms_batch1'], 3)} ms latency at batch 1")
    if eff.get("parameters") is not None:
        parts.append(f"{int(eff['parameters']):,} parameters")
    if eff.get("model_bytes") is not None:
        parts.append(f"{eff['model_bytes'] / 2**20:.2f} MB")
    device = device_label(eff.get("device"))
    where = f"measured on {device}" if device else "evaluation runner"
    return [f"**Efficiency** ({where}): " + " · ".join(parts)] if parts else []


def _provenance_lines(result: dict) -> list[str]:
    lines = []
    bb = result["backbone"]
    if bb:
        if bb["offline_standin"]:
            lines.append(f"> [!WARNING]\n> **Offline stand-in backbone `{md(bb['id'])}`**: the standard FID "
                         "Inception weights were not available, so features come from a seeded random-init "
                         "network. Scores are comparable only with other results from this backbone, never "
                         "with published FIDs.")
        lines.append(f"Backbone `{md(bb['id'])}` (weights sha256 `{bb['weights_sha256'][:12]}`, "
                     f"resize {md(bb['resize'])}).")
    data = result["dataset"]
    if data:
        lines.append(f"Dataset `{md(data['id'])}` (manifest `{data['manifest_sha256'][:12]}`, "
                     f"{data['n_inputs']} inputs).")
    sub = result["submission"] or {}
    if sub.get("content_sha256"):
        lines.append(f"Submission content sha256 `{sub['content_sha256'][:12]}`.")
    ev = result["evaluator"]
    lines.append(f"Easel {md(ev['version'])}, {ev['seconds']:.1f} s. Intervals are 95% bootstrap intervals.")
    return lines


def _cmd_report(args) -> int:
    result = load_result(args.result)
    competition = load_competition(args.competition or default_competition_path())
    board = None
    if args.leaderboard and Path(args.leaderboard).is_file():
        from .leaderboard import load_leaderboard

        board = load_leaderboard(args.leaderboard)
    print(render_comment(result, competition, board, head_sha=args.head_sha), end="")
    return 0


def register(sub) -> None:
    p = sub.add_parser("report", help="render the PR comment for a result.json",
                       description="Print the PR comment (Markdown) for a result.json: metrics with 95%% "
                                   "intervals, standing on the leaderboard, efficiency, backbone, errors.")
    p.add_argument("result", type=Path)
    p.add_argument("--leaderboard", type=Path, default=Path("leaderboard.yaml"))
    p.add_argument("--competition", type=Path)
    p.add_argument("--head-sha", help="the evaluated commit (40 hex)")
    p.set_defaults(func=_cmd_report)
