"""manifest.json: every dataset file's sha256 and split, and the dataset's own hash.

Format (schema 1)::

    {"schema": 1, "dataset": "dev-ink", "kind": "unpaired", "image_size": 64,
     "source": {...free metadata...},
     "files": {"train/A/0000.png": {"sha256": "..."},
               "test/A/0000.png": {"sha256": "...", "split": "public"}, ...},
     "sha256": sha256(canonical_json(files))}

:meth:`Manifest.from_json` is the one check of the file (schema 1 and its own sha256), on
the shared :class:`~evaluator.schema.Checker`: a refusal is E_DATA_MANIFEST naming the key
path (``manifest.json: files.test/A/0003.png.split: expected 'public' or 'private', got
None``) and, as its detail, the dataset file at fault (``manifest.json`` for the file's
own keys), which the PR comment shows.

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
from ..schema import Checker
from ..vocab import HEX64_RE, TEST_SPLITS

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
_KEYS = ("schema", "dataset", "kind", "image_size", "files", "sha256")
_HEX = "a sha256 hex digest"
_MAX_DATASET_NAME = 255  # the dataset's folder name (an id when evaluation opens it: open_dataset)


def split_for_index(index: int) -> str:
    """The split of the test image at position ``index``: even -> public, odd -> private.

    Interleaving (rather than first half / second half) keeps both splits
    spread over the whole test set when files are ordered by anything.
    """
    return SPLITS[int(index) % 2]


def _manifest_checker(source: str) -> Checker:
    """The manifest's checker: E_DATA_MANIFEST, detail ``manifest.json`` unless a file entry names its file."""
    return Checker(source, "E_DATA_MANIFEST", detail=MANIFEST_NAME)


@dataclass(frozen=True)
class FileEntry:
    """One dataset file: its sha256 and its split (public | private for test/* files, showcase for
    showcase/*, None for train files)."""

    sha256: str
    split: str | None = None

    @classmethod
    def check(cls, c: Checker, raw: Any, rel: str, path: str) -> "FileEntry":
        """The entry of dataset file ``rel`` (a safe relative path) at key path ``path``; a refusal
        carries ``rel`` as its detail."""
        c = c.with_detail(rel)
        c.mapping(raw, path, ("sha256",), ("split",))
        sha = c.match(raw["sha256"], f"{path}.sha256", HEX64_RE, _HEX)
        split = raw.get("split")
        if rel.startswith("test/"):
            if "split" not in raw:
                c.fail(f"{path}.split", "'public' or 'private' (every test file has a split)")
            c.choice(split, f"{path}.split", SPLITS)
        elif split != _fixed_split(rel):
            c.fail(f"{path}.split", f"{_fixed_split(rel)!r} (a showcase file)" if _fixed_split(rel)
                   else "no split (a train file)", split)
        return cls(sha, split)

    def to_json(self) -> dict:
        return {"sha256": self.sha256} if self.split is None else {"sha256": self.sha256, "split": self.split}

    to_dict = to_json  # the name files_dict() and older callers use


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
        """The files table as manifest.json holds it (sorted by path): what ``sha256`` hashes."""
        return {path: entry.to_json() for path, entry in sorted(self.files.items())}

    @classmethod
    def from_json(cls, raw: Any, source: str = MANIFEST_NAME) -> "Manifest":
        """Check a decoded manifest.json (schema 1, and its ``sha256`` against its files table);
        the record, or E_DATA_MANIFEST naming the key path, e.g. ``manifest.json:
        files.test/A/0003.png.split: expected 'public' or 'private', got None``.

        The refusal's detail is the dataset file at fault (``test/A/0003.png``), or
        ``manifest.json`` for the manifest's own keys and for a path outside the dataset;
        the PR comment shows it. This is the one check of manifest.json.
        """
        c = _manifest_checker(source)
        c.mapping(raw, "", _KEYS, ("source",))
        c.choice(raw["schema"], "schema", (SCHEMA,))
        dataset = c.text(raw["dataset"], "dataset", _MAX_DATASET_NAME)
        kind = c.choice(raw["kind"], "kind", KINDS)
        image_size = c.count(raw["image_size"], "image_size", least=1)
        declared = c.match(raw["sha256"], "sha256", HEX64_RE, _HEX)
        source_meta = raw.get("source", {})
        if not isinstance(source_meta, dict):
            c.fail("source", "a mapping (free metadata about where the images came from)", source_meta)
        if not isinstance(raw["files"], dict):
            c.fail("files", "a mapping of dataset paths to file entries", raw["files"])
        files: dict[str, FileEntry] = {}
        for rel, entry in sorted(raw["files"].items(), key=lambda item: str(item[0])):
            if not _safe_relpath(rel) or rel == MANIFEST_NAME:
                c.fail("files.(key)", "relative paths inside the dataset (no '..', no leading '/', not "
                                      "manifest.json itself)", rel)
            files[rel] = FileEntry.check(c, entry, rel, f"files.{rel}")
        manifest = cls(dataset=dataset, kind=kind, image_size=image_size, sha256=declared, files=files,
                       source=source_meta)
        actual = files_sha256(manifest.files_dict())
        if actual != declared:
            c.fail("sha256", f"the sha256 of the files table ({actual[:12]}...: a file was added, removed, "
                             "re-hashed or moved between splits)", declared)
        return manifest

    @classmethod
    def load(cls, path: str | Path) -> "Manifest":
        """Read and check a manifest.json (:meth:`from_json`); E_DATA_MISSING when there is no file."""
        path = Path(path)
        if not path.is_file():
            raise EaselError("E_DATA_MISSING", f"{path} not found", detail=path.parent.name)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            _manifest_checker(str(path)).fail("(file)", "valid UTF-8 JSON", "undecodable bytes")
        return cls.from_json(raw, str(path))

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
    """A dataset that does not match its manifest (a file changed, missing or extra): not a schema fault."""
    return EaselError("E_DATA_MANIFEST", message, detail=detail)


def _safe_relpath(rel: Any) -> bool:
    if not isinstance(rel, str) or not rel or "\\" in rel or "\0" in rel:
        return False
    parts = PurePosixPath(rel).parts
    return not rel.startswith("/") and ".." not in parts and "." not in parts and rel == "/".join(parts)


def parse_manifest(raw: Any) -> Manifest:
    """Check a decoded manifest.json: :meth:`Manifest.from_json`."""
    return Manifest.from_json(raw)


def declared_sha256(manifest_path: str | Path) -> str:
    """The dataset hash a manifest declares, after checking it against the manifest's own files table,
    without the rest of the schema (enough to bind a result to its data; :func:`read_manifest` reads it all).

    manifest.json holds ``"sha256": sha256(canonical_json(files))``; a
    manifest edited by hand without updating it is refused (E_DATA_MANIFEST).
    """
    path = Path(manifest_path)
    if not path.is_file():
        raise EaselError("E_DATA_MISSING", f"manifest not found: {path}", detail=MANIFEST_NAME)
    c = _manifest_checker(str(path))
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        c.fail("(file)", "valid UTF-8 JSON", "undecodable bytes")
    c.mapping(raw, "", ("sha256", "files"), _KEYS + ("source",))
    declared = c.match(raw["sha256"], "sha256", HEX64_RE, _HEX)
    if not isinstance(raw["files"], dict):
        c.fail("files", "a mapping of dataset paths to file entries", raw["files"])
    actual = files_sha256(raw["files"])
    if actual != declared:
        c.fail("sha256", f"the sha256 of the files table ({actual[:12]}...)", declared)
    return declared


def read_manifest(dataset_dir: str | Path) -> Manifest:
    """Load and self-check ``dataset_dir/manifest.json`` without hashing the data files."""
    dataset_dir = Path(dataset_dir)
    if not dataset_dir.is_dir():
        raise EaselError("E_DATA_MISSING", f"{dataset_dir / MANIFEST_NAME} not found", detail=dataset_dir.name)
    return Manifest.load(dataset_dir / MANIFEST_NAME)


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
