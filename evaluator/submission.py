"""Submissions: submission.yaml schema, file hygiene and `easel validate`.

Everything here reads the submission as data: no participant code runs in
this process. The model itself is only ever executed by evaluator.sandbox.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .config import Competition, Limits, default_competition_path, load_competition
from .errors import EaselError
from .fsutil import atomic_write_bytes, load_yaml_file, sha256_file, tree_sha256

META_FILE = "submission.yaml"
META_MAX_BYTES = 64 * 1024
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
FORMATS = ("saved_model", "keras", "onnx")
LFS_PREFIX = b"version https://git-lfs.github.com/spec/"
_REQUIRED = ("team", "name", "track", "authors", "description", "license", "model")
_OPTIONAL = ("links", "baseline")
_TEXT_LIMITS = {"description": 2000, "license": 100}


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

def check_tree(root: Path, limits: Limits) -> list[EaselError]:
    """Refuse links, special files, LFS pointers and oversized or overfull directories.

    Walks without following symlinks, so a link to the data directory is
    reported, never read.
    """
    problems: list[EaselError] = []
    total, count = 0, 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                problems.append(EaselError("E_SYMLINK", f"{rel} is a symbolic link", detail=rel))
            elif stat.S_ISDIR(info.st_mode):
                continue
            elif not stat.S_ISREG(info.st_mode):
                problems.append(EaselError("E_SPECIAL_FILE", f"{rel} is not a regular file", detail=rel))
            else:
                count += 1
                total += info.st_size
                if info.st_nlink > 1:
                    problems.append(EaselError("E_HARDLINK", f"{rel} has {info.st_nlink} hard links", detail=rel))
                elif 0 < info.st_size < 512:
                    with open(path, "rb") as handle:
                        if handle.read(len(LFS_PREFIX)) == LFS_PREFIX:
                            problems.append(EaselError("E_LFS_POINTER", f"{rel} is a Git LFS pointer", detail=rel))
        # Do not descend into symlinked directories (os.walk lists them in dirnames).
        dirnames[:] = [d for d in dirnames if not (Path(dirpath) / d).is_symlink()]
    max_bytes = int(limits.max_model_mb * 1024 * 1024)
    if total > max_bytes:
        problems.append(EaselError("E_SIZE", f"{total / 2**20:.1f} MB, limit {limits.max_model_mb:g} MB"))
    if count > limits.max_files:
        problems.append(EaselError("E_FILE_COUNT", f"{count} files, limit {limits.max_files}"))
    return problems


# --- submission.yaml -------------------------------------------------------

def _schema_error(key: str, expected: str) -> EaselError:
    return EaselError("E_META_SCHEMA", f"{META_FILE}: {key}: expected {expected}", detail=key)


def parse_meta(raw: Any) -> tuple[SubmissionMeta | None, list[EaselError]]:
    """Check a parsed submission.yaml; return the meta (None if unusable) and every problem."""
    if not isinstance(raw, dict):
        return None, [_schema_error("(top level)", "a mapping")]
    problems: list[EaselError] = []
    for key in _REQUIRED:
        if key not in raw:
            problems.append(_schema_error(key, "a value (missing)"))
    for key in sorted(set(map(str, raw)) - set(_REQUIRED) - set(_OPTIONAL)):
        problems.append(_schema_error(key if NAME_RE.match(key) else "(key)", f"only the keys {list(_REQUIRED + _OPTIONAL)}"))

    def name(key: str) -> str:
        value = raw.get(key)
        if key in raw and not (isinstance(value, str) and NAME_RE.match(value)):
            problems.append(EaselError("E_META_NAME", f"{META_FILE}: {key} is not a safe name", detail=key))
        return value if isinstance(value, str) else ""

    team, model_name, track = name("team"), name("name"), name("track")
    authors = raw.get("authors", [])
    if isinstance(authors, str):
        authors = [authors]
    if not (isinstance(authors, list) and authors and all(isinstance(a, str) and 0 < len(a) <= 100 for a in authors)
            and len(authors) <= 50):
        if "authors" in raw:
            problems.append(_schema_error("authors", "a list of 1-50 names"))
        authors = []
    texts = {}
    for key, limit in _TEXT_LIMITS.items():
        value = raw.get(key, "")
        if key in raw and not (isinstance(value, str) and value.strip() and len(value) <= limit):
            problems.append(_schema_error(key, f"text of 1-{limit} characters"))
        texts[key] = value if isinstance(value, str) else ""
    links = raw.get("links", {}) or {}
    if not (isinstance(links, dict) and len(links) <= 10 and all(
            isinstance(k, str) and NAME_RE.match(k) and isinstance(v, str) and len(v) <= 300
            and v.startswith(("https://", "http://")) for k, v in links.items())):
        problems.append(_schema_error("links", "a mapping of up to 10 names to http(s) URLs"))
        links = {}
    baseline = raw.get("baseline", False)
    if not isinstance(baseline, bool):
        problems.append(_schema_error("baseline", "true or false"))
        baseline = False

    model = raw.get("model")
    fmt = path = url = digest = None
    if "model" in raw:
        if not isinstance(model, dict):
            problems.append(_schema_error("model", "a mapping with format and path (or url and sha256)"))
        else:
            unknown = set(model) - {"format", "path", "url", "sha256"}
            if unknown:
                problems.append(_schema_error("model", "only the keys format, path, url, sha256"))
            fmt = model.get("format")
            if fmt not in FORMATS:
                problems.append(EaselError("E_FORMAT", f"{META_FILE}: model.format must be one of {FORMATS}",
                                           detail="model.format"))
            path, url, digest = model.get("path"), model.get("url"), model.get("sha256")
            if (path is None) == (url is None):
                problems.append(_schema_error("model", "exactly one of path or url"))
            if path is not None and not (isinstance(path, str) and 0 < len(path) <= 200):
                problems.append(_schema_error("model.path", "a relative path inside the submission"))
                path = None
            elif isinstance(path, str) and (path.startswith(("/", "\\")) or ".." in Path(path).parts):
                problems.append(EaselError("E_PATH_ESCAPE", f"model.path {path!r} leaves the directory",
                                           detail="model.path"))
                path = None
            if url is not None:
                if not (isinstance(url, str) and url.startswith("https://") and len(url) <= 500):
                    problems.append(_schema_error("model.url", "an https:// URL"))
                if not (isinstance(digest, str) and SHA256_RE.match(digest)):
                    problems.append(_schema_error("model.sha256", "the model's sha256 as 64 lowercase hex digits"))
    if problems:
        return None, problems
    return SubmissionMeta(team=team, model=model_name, track=track, authors=tuple(authors),
                          description=texts["description"], license=texts["license"], format=fmt,
                          path=path, url=url, sha256=digest, links=dict(links), baseline=baseline), []


def read_meta(root: Path) -> tuple[SubmissionMeta | None, list[EaselError]]:
    meta_path = root / META_FILE
    if not meta_path.is_file() or meta_path.is_symlink():
        return None, [EaselError("E_META_MISSING", f"{META_FILE} not found in {root.name}")]
    try:
        raw = load_yaml_file(meta_path, max_bytes=META_MAX_BYTES)
    except EaselError as exc:
        return None, [exc]
    return parse_meta(raw)


def check_directory_names(root: Path, meta: SubmissionMeta) -> list[EaselError]:
    """submissions/<team>/<model>/ and baselines/<model>/<track>/ must agree with the yaml."""
    root = root.resolve()
    if root.parent.parent.name == "submissions":
        if (root.parent.name, root.name) != (meta.team, meta.model):
            return [EaselError("E_META_DIR", "directory is submissions/<team>/<model> with other names")]
        if meta.baseline:
            return [_schema_error("baseline", "false outside baselines/")]
    elif root.parent.parent.name == "baselines" and (root.parent.name, root.name) != (meta.model, meta.track):
        return [EaselError("E_META_DIR", "baselines live in baselines/<model>/<track>/")]
    return []


# --- the model file ----------------------------------------------------------

def model_cache_dir() -> Path:
    """Where URL models are kept, keyed by sha256: ``<cache root>/models`` (see evaluator.cache)."""
    from .cache import cache_root

    return cache_root() / "models"


def fetch_model(url: str, sha256: str, cache_dir: Path | None = None,
                opener: Callable[[str], Any] = urllib.request.urlopen, max_bytes: int = 2 << 30) -> Path:
    """Download a model by URL into the cache, keyed and verified by its sha256.

    Returns: path of the verified file. Raises E_MODEL_URL or E_MODEL_HASH.
    """
    target = (cache_dir or model_cache_dir()) / sha256
    if target.is_file() and sha256_file(target) == sha256:
        return target
    try:
        with opener(url) as response:
            data = response.read(max_bytes + 1)
    except Exception:  # noqa: BLE001 - any network failure is the same fixable problem
        raise EaselError("E_MODEL_URL", "download failed") from None
    if len(data) > max_bytes:
        raise EaselError("E_SIZE", "downloaded model is over the size limit")
    from .fsutil import sha256_bytes

    if sha256_bytes(data) != sha256:
        raise EaselError("E_MODEL_HASH", "downloaded bytes do not match model.sha256")
    atomic_write_bytes(target, data)
    return target


def resolve_model_path(root: Path, meta: SubmissionMeta, cache_dir: Path | None = None) -> Path:
    """The model file or folder, inside the submission (or the verified download)."""
    if meta.url:
        return fetch_model(meta.url, meta.sha256, cache_dir)
    path = (root / meta.path)
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise EaselError("E_PATH_ESCAPE", "model.path resolves outside the submission", detail="model.path")
    if not path.exists():
        raise EaselError("E_MODEL_MISSING", "model.path does not exist", detail="model.path")
    return path


def model_bytes(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return path.stat().st_size


def n_model_inputs(kind: str) -> int:
    """Model inputs per track kind: (content, style) for example tracks, else one image."""
    return 2 if kind == "example" else 1


def validate_submission(root: str | Path, competition: Competition, probe: bool = True,
                        cache_dir: Path | None = None) -> Validation:
    """Everything checkable without data; collects every problem it can find.

    Order: file hygiene → submission.yaml → names/dir → track → model file →
    static model check (as data) → optional probe: load + signature check in
    the sandboxed child (the model's first and only execution here).
    """
    root = Path(root)
    result = Validation(root=root)
    if not root.is_dir():
        result.problems.append(EaselError("E_META_MISSING", f"{root} is not a directory"))
        return result
    result.problems += check_tree(root, competition.limits)
    meta, problems = read_meta(root)
    result.problems += problems
    if meta is None:
        return result
    result.meta = meta
    result.problems += check_directory_names(root, meta)
    try:
        track = competition.track(meta.track)
    except EaselError as exc:
        result.problems.append(exc)
        return result
    if result.problems:  # links or special files: do not touch the model at all
        return result
    result.content_sha256 = tree_sha256(root)
    try:
        model_path = resolve_model_path(root, meta, cache_dir)
        from .models import check_model

        check_model(meta.format, model_path)
        result.model_path, result.model_bytes = model_path, model_bytes(model_path)
        if probe:
            from .sandbox import SandboxedModel

            with SandboxedModel(model_path, meta.format, n_model_inputs(track.kind), track.image_size,
                                competition.limits, batch_size=2):
                pass  # entering loads the model, checks its signature and runs a probe batch
    except EaselError as exc:
        result.problems.append(exc)
    return result


def print_validation(v: Validation, out=sys.stdout) -> None:
    if v.ok and v.meta:
        print(f"ok: {v.meta.key} for track {v.meta.track} ({v.meta.format}, "
              f"{v.model_bytes / 2**20:.2f} MB, content sha256 {v.content_sha256[:12]})", file=out)
        return
    print(f"{len(v.problems)} problem(s) in {v.root}:", file=out)
    for p in v.problems:
        detail = f" [{p.detail}]" if p.detail else ""
        print(f"  {p.code}{detail}: {p.message}\n      fix: {p.info.hint}", file=out)


def _cmd_validate(args) -> int:
    competition = load_competition(args.competition or default_competition_path())
    v = validate_submission(args.submission_dir, competition, probe=not args.no_probe)
    print_validation(v)
    if v.ok:
        return 0
    return max(p.exit_code for p in v.problems)


def register(sub) -> None:
    p = sub.add_parser("validate", help="check a submission directory without data",
                       description="Check schema, names, files, size, track and the model's graph and "
                                   "signature. Exit 0 when valid, 2 with every problem listed.")
    p.add_argument("submission_dir", type=Path, help="submissions/<team>/<model>/")
    p.add_argument("--competition", type=Path, help="competition.yaml (default: ./competition.yaml)")
    p.add_argument("--no-probe", action="store_true",
                   help="skip loading the model in the sandbox (static checks only)")
    p.set_defaults(func=_cmd_validate)
