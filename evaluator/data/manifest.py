"""manifest.json: every dataset file's sha256 and split, and the dataset's own hash.

Format (schema 1)::

    {"schema": 1, "dataset": "dev-ink", "kind": "unpaired", "image_size": 64,
     "source": {...free metadata...},
     "files": {"train/A/0000.png": {"sha256": "..."},
               "test/A/0000.png": {"sha256": "...", "split": "public"}, ...},
     "sha256": sha256(canonical_json(files))}

Paired datasets also hold ``train/A_target`` (the target of the same-named
``train/A`` image) and ``test/A_target``. Every ``test/*`` file carries a
split; files with the same name in ``test/A``, ``test/B`` and ``test/A_target`` share it. Evaluation refuses a
dataset whose files do not match (``verify_dataset``).

``showcase/A`` (and, for example tracks, ``showcase/B``) hold the showcase
images, split ``showcase``: never scored, disjoint from and near-duplicate-free
against every test split, and the only images any published picture is made of.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from tqdm import tqdm

from ..error_text import is_name
from ..errors import EaselError
from ..fsutil import atomic_write_json, canonical_json, sha256_bytes, sha256_file
from ..vocab import TEST_SPLITS

SCHEMA = 1
MANIFEST_NAME = "manifest.json"
KINDS = ("unpaired", "paired", "example")
SPLITS = TEST_SPLITS
SHOWCASE = "showcase"  # the split (and top folder) of the publishable images
DEFAULT_SHOWCASE = 8  # showcase images per showcase folder that `data prepare` sets aside by default
FOLDERS = ("train/A", "train/B", "train/A_target", "test/A", "test/B", "test/A_target",
           "showcase/A", "showcase/B")
_DATASET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
_PROGRESS_MIN_FILES = 256  # smaller sets verify in well under a second: no bar


def split_for_index(index: int) -> str:
    """The split of the test image at position ``index``: even -> public, odd -> private.

    Interleaving (rather than first half / second half) keeps both splits
    spread over the whole test set when files are ordered by anything.
    """
    return SPLITS[int(index) % 2]


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    split: str | None = None  # public | private for test/* files, showcase for showcase/*, None for train

    def to_dict(self) -> dict:
        return {"sha256": self.sha256} if self.split is None else {"sha256": self.sha256, "split": self.split}


@dataclass
class Manifest:
    """A parsed manifest.json. ``files`` maps relative posix paths to entries."""

    dataset: str
    kind: str
    image_size: int
    sha256: str
    files: dict[str, FileEntry]
    source: dict[str, Any] = field(default_factory=dict)

    def paths(self, folder: str, split: str | None = None) -> list[str]:
        """Sorted relative paths directly inside ``folder`` (e.g. "test/A").

        split: "public" | "private" | "showcase" keeps only that split; None or "all" keeps every file.
        """
        if split not in (None, "all", SHOWCASE) and split not in SPLITS:
            raise ValueError(f"split must be public, private, showcase or all, got {split!r}")
        prefix = folder.rstrip("/") + "/"
        return sorted(path for path, entry in self.files.items()
                      if path.startswith(prefix) and "/" not in path[len(prefix):]
                      and (split in (None, "all") or entry.split == split))

    def files_dict(self) -> dict[str, dict]:
        return {path: entry.to_dict() for path, entry in sorted(self.files.items())}

    @classmethod
    def from_json(cls, raw: Any) -> "Manifest":
        """The record of a decoded manifest.json, checked (:func:`parse_manifest`: schema and own sha256).

        Its refusals name the file at fault as their detail (a test file without a split, a
        path outside the dataset), which the PR comment shows; so this schema stays its own
        rather than a key-path :class:`~evaluator.schema.Checker`.
        """
        return parse_manifest(raw)

    def to_json(self) -> dict:
        return {"schema": SCHEMA, "dataset": self.dataset, "kind": self.kind,
                "image_size": self.image_size, "source": self.source,
                "files": self.files_dict(), "sha256": self.sha256}

    def counts(self) -> dict[str, dict[str, int]]:
        """{folder: {"train" | "public" | "private" | "showcase": number of files}} for the summary tables."""
        table: dict[str, dict[str, int]] = {}
        for path, entry in self.files.items():
            folder = path.rsplit("/", 1)[0]
            bucket = table.setdefault(folder, {})
            key = entry.split or "train"
            bucket[key] = bucket.get(key, 0) + 1
        return dict(sorted(table.items()))


def files_sha256(files: Mapping[str, Mapping[str, Any]]) -> str:
    """The dataset hash: sha256 of canonical_json of the files table (dicts)."""
    return sha256_bytes(canonical_json(dict(files)).encode("utf-8"))


def _scan(dataset_dir: Path) -> list[str]:
    """Sorted relative posix paths of every file under the dataset, manifest.json excepted."""
    found = []
    for path in dataset_dir.rglob("*"):
        if path.is_file() or path.is_symlink():
            rel = path.relative_to(dataset_dir).as_posix()
            if rel != MANIFEST_NAME:
                found.append(rel)
    return sorted(found)


def _test_splits(paths: list[str], given: Mapping[str, str] | None) -> dict[str, str]:
    """Split per test file name: from ``given`` (name -> split) or by index in the sorted names."""
    names = sorted({p.rsplit("/", 1)[1] for p in paths if p.startswith("test/")})
    if given is not None:
        splits = {}
        for name in names:
            split = given.get(name)
            if split not in SPLITS:
                raise EaselError("E_DATA_MANIFEST", f"no public/private split given for test file {name}",
                                 detail=name)
            splits[name] = split
        return splits
    return {name: split_for_index(i) for i, name in enumerate(names)}


def write_manifest(dataset_dir: str | Path, kind: str, image_size: int, source: Mapping[str, Any],
                   splits: Mapping[str, str] | None = None, dataset_id: str | None = None) -> Manifest:
    """Hash every file under ``dataset_dir`` and write its manifest.json atomically.

    splits: optional {file name ("0003.png"): "public" | "private"} for test files;
    by default the index rule (``split_for_index`` over sorted test file names).
    dataset_id defaults to the folder's name. Returns the written Manifest.
    """
    dataset_dir = Path(dataset_dir)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    paths = _scan(dataset_dir)
    test_splits = _test_splits(paths, splits)
    files = {}
    for rel in tqdm(paths, desc="hash", unit="file", leave=False, disable=len(paths) < _PROGRESS_MIN_FILES):
        split = test_splits[rel.rsplit("/", 1)[1]] if rel.startswith("test/") else _fixed_split(rel)
        files[rel] = FileEntry(sha256_file(dataset_dir / rel), split)
    manifest = Manifest(dataset=dataset_id or dataset_dir.name, kind=kind, image_size=int(image_size),
                        sha256="", files=files, source=dict(source))
    manifest.sha256 = files_sha256(manifest.files_dict())
    atomic_write_json(dataset_dir / MANIFEST_NAME, manifest.to_json())
    return manifest


def _fixed_split(rel: str) -> str | None:
    """The split a non-test file must carry: showcase for showcase/*, none for train files."""
    return SHOWCASE if rel.startswith(SHOWCASE + "/") else None


def _bad(message: str, detail: str) -> EaselError:
    return EaselError("E_DATA_MANIFEST", message, detail=detail)


def _safe_relpath(rel: Any) -> bool:
    if not isinstance(rel, str) or not rel or "\\" in rel or "\0" in rel:
        return False
    parts = PurePosixPath(rel).parts
    return not rel.startswith("/") and ".." not in parts and "." not in parts and rel == "/".join(parts)


def parse_manifest(raw: Any) -> Manifest:
    """Check a decoded manifest.json against schema 1 and its own sha256; return the Manifest."""
    if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
        raise _bad("manifest.json: not a schema-1 manifest", MANIFEST_NAME)
    for key, kind in (("dataset", str), ("kind", str), ("image_size", int), ("files", dict), ("sha256", str)):
        if not isinstance(raw.get(key), kind) or isinstance(raw.get(key), bool):
            raise _bad(f"manifest.json: key {key!r} missing or not a {kind.__name__}", MANIFEST_NAME)
    if raw["kind"] not in KINDS:
        raise _bad(f"manifest.json: kind must be one of {', '.join(KINDS)}", MANIFEST_NAME)
    files: dict[str, FileEntry] = {}
    for rel, entry in sorted(raw["files"].items()):
        if not _safe_relpath(rel) or rel == MANIFEST_NAME:
            raise _bad("manifest.json lists a path outside the dataset", MANIFEST_NAME)
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str) \
                or not re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]) or set(entry) - {"sha256", "split"}:
            raise _bad(f"manifest.json: entry for {rel} is malformed", rel)
        split = entry.get("split")
        if rel.startswith("test/") and split not in SPLITS:
            raise _bad(f"manifest.json: test file {rel} has no public/private split", rel)
        if not rel.startswith("test/") and split != _fixed_split(rel):
            expected = f"split {_fixed_split(rel)!r}" if _fixed_split(rel) else "no split"
            raise _bad(f"manifest.json: file {rel} must carry {expected}", rel)
        files[rel] = FileEntry(entry["sha256"], split)
    manifest = Manifest(dataset=raw["dataset"], kind=raw["kind"], image_size=raw["image_size"],
                        sha256=raw["sha256"], files=files,
                        source=raw.get("source") if isinstance(raw.get("source"), dict) else {})
    if files_sha256(manifest.files_dict()) != manifest.sha256:
        raise _bad("manifest.json: the files table does not match the manifest's sha256", MANIFEST_NAME)
    return manifest


def declared_sha256(manifest_path: str | Path) -> str:
    """The dataset hash a manifest declares, after checking it against the manifest's own files table,
    without the rest of the schema (enough to bind a result to its data; :func:`read_manifest` reads it all).

    manifest.json holds ``"sha256": sha256(canonical_json(files))``; a
    manifest edited by hand without updating it is refused (E_DATA_MANIFEST).
    """
    path = Path(manifest_path)
    if not path.is_file():
        raise EaselError("E_DATA_MISSING", f"manifest not found: {path}", detail=MANIFEST_NAME)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        declared, files = raw["sha256"], raw["files"]
    except (ValueError, KeyError, TypeError):
        raise EaselError("E_DATA_MANIFEST", f"{path}: not a dataset manifest", detail=MANIFEST_NAME) from None
    if not isinstance(files, dict) or files_sha256(files) != declared:
        raise EaselError("E_DATA_MANIFEST", f"{path}: its sha256 does not match its files table",
                         detail=MANIFEST_NAME)
    return declared


def read_manifest(dataset_dir: str | Path) -> Manifest:
    """Load and self-check ``dataset_dir/manifest.json`` without hashing the data files."""
    dataset_dir = Path(dataset_dir)
    path = dataset_dir / MANIFEST_NAME
    if not dataset_dir.is_dir() or not path.is_file():
        raise EaselError("E_DATA_MISSING", f"{path} not found", detail=dataset_dir.name)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        raise _bad("manifest.json is not valid JSON", MANIFEST_NAME) from None
    return parse_manifest(raw)


def verify_dataset(dataset_dir: str | Path) -> Manifest:
    """Check every file of a dataset against its manifest; return the Manifest.

    Raises EaselError("E_DATA_MISSING") when the folder or manifest.json is
    absent, and EaselError("E_DATA_MANIFEST", detail=relative path) naming the
    first file (in sorted path order) that is changed, missing or extra.
    """
    dataset_dir = Path(dataset_dir)
    manifest = read_manifest(dataset_dir)
    on_disk = set(_scan(dataset_dir))
    listed = set(manifest.files)
    missing, extra = listed - on_disk, on_disk - listed
    to_hash = sorted(listed & on_disk)
    # Missing and extra files are known without hashing; report whichever
    # problem comes first in path order, hashing only up to that point.
    first_structural = min(missing | extra, default=None)
    total_bytes = sum((dataset_dir / rel).stat().st_size for rel in to_hash)
    with tqdm(total=total_bytes, desc=f"verify {manifest.dataset}", unit="B", unit_scale=True, leave=False,
              disable=len(to_hash) < _PROGRESS_MIN_FILES) as bar:
        for rel in to_hash:
            if first_structural is not None and first_structural < rel:
                break
            path = dataset_dir / rel
            if path.is_symlink() or sha256_file(path) != manifest.files[rel].sha256:
                raise _bad(f"{rel}: content does not match manifest.json", rel)
            bar.update(path.stat().st_size)
    if first_structural in missing:
        raise _bad(f"{first_structural}: listed in manifest.json but missing", first_structural)
    if first_structural in extra:
        raise _bad(f"{first_structural}: extra file not listed in manifest.json", first_structural)
    return manifest


def check_split_sizes(counts: Mapping[str, Mapping[str, int]], minimum: int, advice: str,
                      splits: tuple[str, ...] = SPLITS) -> None:
    """Refuse (E_DATA_TOO_SMALL) a test folder whose public or private split holds fewer than ``minimum`` files.

    counts: {folder: {split: n}} as ``Manifest.counts`` gives; only test/* folders
    are checked, for each of ``splits``. advice: what to change, ends the message.
    """
    for folder, by_split in sorted(counts.items()):
        if not folder.startswith("test/"):
            continue
        for split in splits:
            n = by_split.get(split, 0)
            if n < minimum:
                raise EaselError("E_DATA_TOO_SMALL", f"{folder} {split} split has {n} image(s), fewer than the "
                                 f"minimum of {minimum} test images per split; {advice}",
                                 detail=f"{folder}:{split}",
                                 facts={"folder": folder, "split": split, "count": int(n), "minimum": int(minimum)}
                                 if is_name(folder) else {})


TOO_SMALL_ADVICE = ("rebuild it from more images or with another --test-fraction (`easel data prepare`), "
                    "or lower the track's min_test_images in competition.yaml.")


def check_min_test_images(manifest: Manifest, minimum: int, splits: tuple[str, ...] = SPLITS) -> None:
    """Refuse a dataset whose test folders hold fewer than ``minimum`` images in any of ``splits``."""
    check_split_sizes(manifest.counts(), minimum, TOO_SMALL_ADVICE, splits)


def open_dataset(data_root: str | Path, dataset_id: str) -> tuple[Path, Manifest]:
    """Verify ``data_root/dataset_id`` against its manifest and return (folder, Manifest)."""
    if not isinstance(dataset_id, str) or not _DATASET_ID.match(dataset_id):
        raise EaselError("E_DATA_MISSING", f"not a dataset id: {dataset_id!r}", detail="dataset")
    folder = Path(data_root) / dataset_id
    manifest = verify_dataset(folder)
    if manifest.dataset != dataset_id:
        raise _bad(f"manifest.json names dataset {manifest.dataset!r}, folder is {dataset_id!r}", MANIFEST_NAME)
    return folder, manifest
