"""Submissions: submission.yaml schema, file hygiene and the checks behind `easel validate`.

Everything here reads the submission as data: no participant code runs in
this process. The model itself is only ever executed by evaluator.sandbox.
`validate_submission` goes as far as it safely can and lists every problem
it finds in one run; the CLI handlers live in evaluator/submission_commands.py.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .config import Competition, Limits
from .error_text import is_name
from .errors import EaselError
from .fsutil import load_yaml_file, tree_sha256, walk_tree
from .model_fetch import url_shape_ok
from .schema import Checker
from .models import MODEL_FORMATS
from .vocab import HEX64_RE, ID_RE, ID_RULE, META_FILE

META_MAX_BYTES = 64 * 1024
LFS_PREFIX = b"version https://git-lfs.github.com/spec/"
_REQUIRED = ("team", "name", "track", "authors", "description", "license", "model")
_OPTIONAL = ("links", "baseline", "final")
_TEXT_LIMITS = {"description": 2000, "license": 100}
# Problems that make the folder unsafe to read further: the model is not touched.
_UNSAFE = frozenset({"E_SYMLINK", "E_HARDLINK", "E_SPECIAL_FILE", "E_LFS_POINTER", "E_TREE_DEPTH"})
MIB = 1024 * 1024
MAX_LINKS = 10
MAX_PROBLEMS = 50  # listed per run; result.json holds at most 100 errors
LINK_RE = re.compile(r"^https?://[^\s\x00-\x1f]{1,292}$")


@dataclass(frozen=True)
class SubmissionMeta:
    """The parsed, checked submission.yaml (participant text is kept as data, escaped on output)."""

    team: str
    model: str
    track: str
    authors: tuple[str, ...]
    description: str
    license: str
    format: str
    path: str | None = None
    url: str | None = None
    sha256: str | None = None
    links: dict[str, str] = field(default_factory=dict)
    baseline: bool = False
    final: bool = False

    @property
    def key(self) -> str:
        return f"{self.team}/{self.model}"

    def public_meta(self) -> dict:
        """Metadata for the leaderboard entry (untrusted text: escaped by every renderer)."""
        return {"authors": list(self.authors), "description": self.description,
                "license": self.license, "links": dict(self.links)}


@dataclass
class Validation:
    """What `validate_submission` found. ``problems`` empty means valid."""

    root: Path
    meta: SubmissionMeta | None = None
    problems: list[EaselError] = field(default_factory=list)
    content_sha256: str | None = None
    model_path: Path | None = None
    model_bytes: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


# --- file hygiene ----------------------------------------------------------

def folder_bytes(root: Path) -> int:
    """Bytes of the regular files under ``root`` (bounded walk, links not followed)."""
    return sum(entry.info.st_size for entry in walk_tree(root) if entry.is_file)


def check_tree(root: Path, limits: Limits) -> list[EaselError]:
    """Refuse links, special files, LFS pointers, deep nesting and oversized or overfull folders.

    Walks with :func:`evaluator.fsutil.walk_tree` (iterative, depth-bounded,
    links never followed), so a link to the data directory is reported, never read.
    """
    problems: list[EaselError] = []
    total, count = 0, 0
    try:
        for entry in walk_tree(root, max_entries=max(limits.max_files * 10, 1000)):
            rel = entry.rel
            if entry.is_symlink:
                problems.append(EaselError("E_SYMLINK", f"{rel} is a symbolic link", detail=rel))
            elif entry.is_dir:
                continue
            elif not entry.is_file:
                problems.append(EaselError("E_SPECIAL_FILE", f"{rel} is not a regular file", detail=rel))
            else:
                count += 1
                total += entry.info.st_size
                if entry.info.st_nlink > 1:
                    problems.append(EaselError("E_HARDLINK", f"{rel} has {entry.info.st_nlink} hard links",
                                               detail=rel))
                elif 0 < entry.info.st_size < 512:
                    with open(entry.path, "rb") as handle:
                        if handle.read(len(LFS_PREFIX)) == LFS_PREFIX:
                            problems.append(EaselError("E_LFS_POINTER", f"{rel} is a Git LFS pointer", detail=rel))
    except EaselError as exc:  # too deep or too many entries: reported, the walk stops there
        problems.append(exc)
    if total > limits.max_model_mb * MIB:
        problems.append(EaselError("E_SIZE", f"{total / MIB:.1f} MB, limit {limits.max_model_mb:g} MB",
                                   facts={"got_bytes": total, "limit_bytes": int(limits.max_model_mb * MIB),
                                          "url_allowed": bool(limits.model_url_hosts)}))
    if count > limits.max_files and not any(p.code == "E_FILE_COUNT" for p in problems):
        problems.append(EaselError("E_FILE_COUNT", f"{count} files, limit {limits.max_files}"))
    return problems


# --- submission.yaml -------------------------------------------------------

def _did_you_mean(key: str) -> str:
    close = difflib.get_close_matches(key, _REQUIRED + _OPTIONAL, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_fields(raw: Any) -> tuple[dict, list[EaselError]]:
    """Check a parsed submission.yaml; returns every field that passed (others None) and every problem."""
    c = Checker(META_FILE, "E_META_SCHEMA", collect=True)
    fields: dict[str, Any] = {}
    c.mapping(raw, "", _REQUIRED, _OPTIONAL)
    if not isinstance(raw, dict):
        return fields, c.problems
    for problem in c.problems:  # an unknown key may be a typo of a known one: say which
        if problem.detail and problem.detail not in _REQUIRED and "unknown key" in problem.message:
            problem.message += _did_you_mean(problem.detail)
    for key in ("team", "name", "track"):
        if key in raw:
            value = raw[key]
            fields[key] = value if isinstance(value, str) and ID_RE.match(value) else c.fail(
                key, ID_RULE, value, code="E_META_NAME")
    authors = raw.get("authors")
    if isinstance(authors, str):
        authors = [authors]
    if "authors" in raw and c.sequence(authors, "authors", 50, least=1):
        fields["authors"] = tuple(a for i, a in enumerate(authors) if c.text(a, f"authors[{i}]", 100))
    for key, limit in _TEXT_LIMITS.items():
        if key in raw:
            fields[key] = c.text(raw[key], key, limit)
    fields["links"] = _check_links(c, raw.get("links") or {})
    for key in ("baseline", "final"):
        fields[key] = c.boolean(raw[key], key) if key in raw else False
    if "model" in raw:
        fields.update(_check_model_fields(c, raw["model"]))
    return fields, c.problems


def _check_links(c: Checker, links: Any) -> dict[str, str]:
    if not isinstance(links, dict):
        c.fail("links", "a mapping of names to http(s) URLs", links)
        return {}
    if len(links) > MAX_LINKS:
        c.fail("links", f"at most {MAX_LINKS} links", len(links))
    good = {}
    for name, url in links.items():
        if not (isinstance(name, str) and ID_RE.match(name)):
            c.fail("links.(key)", f"link names of {ID_RULE}", name)
        elif c.match(url, f"links.{name}", LINK_RE, "an http:// or https:// URL of at most 300 characters"):
            good[name] = url
    return good


def _check_model_fields(c: Checker, model: Any) -> dict:
    c.mapping(model, "model", ("format",), ("path", "url", "sha256"))
    if not isinstance(model, dict) or "format" not in model:  # an unknown extra key alone does not stop here
        return {}
    fmt = model["format"]
    found = {"format": fmt if fmt in MODEL_FORMATS else c.fail("model.format", f"one of {list(MODEL_FORMATS)}",
                                                               fmt, code="E_FORMAT")}
    path, url = model.get("path"), model.get("url")
    if (path is None) == (url is None):
        c.fail("model", "exactly one of path or url", "both" if path is not None else "neither")
    if path is not None and c.text(path, "model.path", 200):
        pure = PurePosixPath(path)
        if path.startswith(("/", "\\")) or ".." in pure.parts or "\\" in path or "\x00" in path:
            c.fail("model.path", "a relative path inside the submission, without '..'", path, code="E_PATH_ESCAPE")
        else:
            found["path"] = path
    if url is not None:
        ok = url if url_shape_ok(url) else c.fail("model.url", "an https:// URL of at most 500 characters", url)
        digest = c.match(model.get("sha256"), "model.sha256", HEX64_RE,
                         "the model's sha256 as 64 lowercase hex digits")
        if ok and digest:
            found["url"], found["sha256"] = url, digest
    return found


def parse_meta(raw: Any) -> tuple[SubmissionMeta | None, list[EaselError]]:
    """Check a parsed submission.yaml; return the meta (None if any problem) and every problem."""
    fields, problems = _check_fields(raw)
    if problems:
        return None, problems
    return SubmissionMeta(team=fields["team"], model=fields["name"], track=fields["track"],
                          authors=fields["authors"], description=fields["description"], license=fields["license"],
                          format=fields["format"], path=fields.get("path"), url=fields.get("url"),
                          sha256=fields.get("sha256"), links=fields["links"], baseline=fields["baseline"],
                          final=fields["final"]), []


def _load_meta(root: Path) -> tuple[Any, list[EaselError]]:
    meta_path = root / META_FILE
    if not meta_path.is_file() or meta_path.is_symlink():
        return None, [EaselError("E_META_MISSING", f"{META_FILE} not found in {root.name}", detail=META_FILE)]
    try:
        return load_yaml_file(meta_path, max_bytes=META_MAX_BYTES), []
    except EaselError as exc:
        return None, [exc]


def read_meta(root: Path) -> tuple[SubmissionMeta | None, list[EaselError]]:
    """Load and check ``root/submission.yaml``; (meta or None, every problem)."""
    raw, problems = _load_meta(Path(root))
    return (None, problems) if problems else parse_meta(raw)


def _dir_facts(expected: str, actual: str) -> dict:
    """E_META_DIR's facts; a folder name outside the identifier allowlist is left out (never shown)."""
    return {"expected": expected, "got": actual} if is_name(expected) and is_name(actual) else {}


def check_directory_names(root: Path, team: str | None, model: str | None, track: str | None,
                          baseline: bool = False) -> list[EaselError]:
    """submissions/<team>/<model>/ and baselines/<model>/<track>/ must agree with the yaml.

    Names that failed their own check are passed as None and not compared.
    """
    root = Path(root).resolve()
    actual = f"{root.parent.parent.name}/{root.parent.name}/{root.name}"
    if root.parent.parent.name == "submissions":
        if team and model and (root.parent.name, root.name) != (team, model):
            expected = f"submissions/{team}/{model}"
            return [EaselError("E_META_DIR", f"submission.yaml says {expected}/ but the folder is {actual}/",
                               detail=expected, facts=_dir_facts(expected, actual))]
        if baseline:
            return [EaselError("E_META_SCHEMA", f"{META_FILE}: baseline: expected false outside baselines/, got True",
                               detail="baseline")]
    elif root.parent.parent.name == "baselines" and model and track \
            and (root.parent.name, root.name) != (model, track):
        expected = f"baselines/{model}/{track}"
        return [EaselError("E_META_DIR", f"submission.yaml says {expected}/ but the folder is {actual}/",
                           detail=expected, facts=_dir_facts(expected, actual))]
    return []


# --- the model file ----------------------------------------------------------

def model_cache_dir() -> Path:
    """Where URL models are kept, keyed by sha256: ``<cache root>/models`` (see evaluator.cache)."""
    from .cache import cache_root

    return cache_root() / "models"


def resolve_model_path(root: Path, fmt: str, path: str | None = None, url: str | None = None,
                       sha256: str | None = None, limits: Limits | None = None, cache_dir: Path | None = None,
                       model_cache: Path | None = None) -> Path:
    """The model file or folder inside the submission, or the verified download of ``url``.

    ``model_cache``: a folder a trusted job filled with `easel fetch-model`
    (the CLI's ``--model-cache``, default $EASEL_MODEL_CACHE); when set, nothing is downloaded. Otherwise a
    URL model is fetched into ``cache_dir`` under the URL rules of
    evaluator/model_fetch.py, its bytes counted with the folder's against
    ``limits.max_model_mb``.
    """
    from . import model_fetch

    limits = limits or Limits()
    if url:
        model_fetch.check_model_url(url, fmt, limits.model_url_hosts)
        if model_cache is not None:
            return model_fetch.prefetched_model(model_cache, sha256, fmt)
        return model_fetch.fetch_for_limits(url, sha256, fmt, limits, cache_dir or model_cache_dir(),
                                            folder_bytes(root))
    target = root / path
    if not target.resolve().is_relative_to(root.resolve()):
        raise EaselError("E_PATH_ESCAPE", "model.path resolves outside the submission", detail="model.path")
    if not target.exists() and not target.is_symlink():
        raise EaselError("E_MODEL_MISSING", f"model.path {path} not found: looked for {root.name}/{path}",
                         detail=path)
    return target


def n_model_inputs(kind: str) -> int:
    """Model inputs per track kind: (content, style) for example tracks, else one image."""
    return 2 if kind == "example" else 1


def validate_submission(root: str | Path, competition: Competition, probe: bool = True,
                        cache_dir: Path | None = None, model_cache: Path | None = None) -> Validation:
    """Everything checkable without data; lists every problem it can find in one run.

    Order: file hygiene → submission.yaml → names/folder → track → model file →
    static model check (as data) → optional probe: load + signature check in
    the sandboxed child (the model's first and only execution here). Each step
    runs when the facts it needs passed their own checks; the model is not
    touched when the folder holds links or special files, and the probe runs
    only when everything else passed.
    """
    root = Path(root)
    result = Validation(root=root)
    if not root.is_dir():
        result.problems.append(EaselError("E_META_MISSING", f"{root} is not a directory", detail=META_FILE))
        return result
    problems = result.problems
    problems += check_tree(root, competition.limits)
    unsafe = any(p.code in _UNSAFE for p in problems)
    raw, load_problems = _load_meta(root)
    problems += load_problems
    if load_problems:
        return result
    fields, meta_problems = _check_fields(raw)
    problems += meta_problems
    if not meta_problems:
        result.meta = parse_meta(raw)[0]
    problems += check_directory_names(root, fields.get("team"), fields.get("name"), fields.get("track"),
                                      bool(fields.get("baseline")))
    track = None
    if fields.get("track"):
        try:
            track = competition.track(fields["track"])
        except EaselError as exc:
            problems.append(exc)
    if unsafe or not fields.get("format") or not (fields.get("path") or fields.get("url")):
        return result
    if not problems:
        result.content_sha256 = tree_sha256(root)
    try:
        from .models import check_model, model_bytes

        model_path = resolve_model_path(root, fields["format"], fields.get("path"), fields.get("url"),
                                        fields.get("sha256"), competition.limits, cache_dir, model_cache)
        check_model(fields["format"], model_path)
        result.model_path, result.model_bytes = model_path, model_bytes(model_path)
        if probe and track is not None and not problems:
            from .sandbox import SandboxedModel

            with SandboxedModel(model_path, fields["format"], n_model_inputs(track.kind), track.image_size,
                                competition.limits, batch_size=2):
                pass  # entering loads the model, checks its signature and runs a probe batch
    except EaselError as exc:
        problems.append(exc)
    if problems:
        result.model_path = None
        del problems[MAX_PROBLEMS:]
    return result
