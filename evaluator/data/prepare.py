"""Turn an organizer's raw image folders into a dataset with a manifest.

Steps: decode any PIL format to RGB -> drop unreadable and tiny files ->
center-crop square and resize with antialiasing -> remove near-duplicates by
perceptual hash (within a domain keep the first by name; across domains a
test image never has a twin in train) -> seeded split of the sorted names ->
PNGs named 0000.png... + manifest.json.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..errors import EaselError
from .images import load_rgb_uint8, save_png
from .manifest import KINDS, Manifest, write_manifest

PHASH_MAX_DISTANCE = 4  # Hamming distance (of 64 bits) at or below which two images are twins


@dataclass(frozen=True)
class Dropped:
    domain: str  # "A" | "B"
    file: str  # path relative to that domain's source folder
    reason: str  # "unreadable" | "too small" | "near-duplicate of <file>" | "no pair" | "pair dropped"


@dataclass
class PrepareReport:
    """What ``prepare`` kept and dropped. ``kept`` = {folder: {"train"|"public"|"private": n}}."""

    out_dir: Path
    manifest: Manifest
    kept: dict[str, dict[str, int]]
    dropped: list[Dropped] = field(default_factory=list)
    origin: dict[str, str] = field(default_factory=dict)  # "train/A/0000.png" -> "A:source/name.jpg"

    def dropped_by_reason(self) -> dict[str, int]:
        """{reason kind: count}; every "near-duplicate of X" counts as "near-duplicate"."""
        table: dict[str, int] = {}
        for item in self.dropped:
            key = "near-duplicate" if item.reason.startswith("near-duplicate") else item.reason
            table[key] = table.get(key, 0) + 1
        return dict(sorted(table.items()))

    def summary(self) -> str:
        """A plain-text table: kept files per folder and split, dropped files per reason."""
        lines = [f"dataset {self.manifest.dataset} ({self.manifest.kind}, {self.manifest.image_size} px)",
                 f"  {'folder':<15}{'train':>7}{'public':>8}{'private':>9}"]
        for folder, counts in self.kept.items():
            lines.append(f"  {folder:<15}{counts.get('train', 0):>7}{counts.get('public', 0):>8}"
                         f"{counts.get('private', 0):>9}")
        reasons = self.dropped_by_reason()
        lines.append(f"  dropped: {sum(reasons.values())}" + "".join(f"  {k}={v}" for k, v in reasons.items()))
        lines.append(f"  manifest sha256 {self.manifest.sha256}")
        return "\n".join(lines)


@dataclass
class _Item:
    domain: str
    name: str
    image: np.ndarray  # uint8 [size, size, 3]
    phash: int


def _list_images(folder: Path) -> list[str]:
    if not folder.is_dir():
        raise EaselError("E_DATA_PREPARE", f"{folder} is not a folder", detail=folder.name)
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and not p.is_symlink() and not any(part.startswith(".") for part in
                                                                  p.relative_to(folder).parts))


def square_resize(image: np.ndarray, size: int) -> np.ndarray:
    """Center-crop uint8 [H, W, 3] to a square and resize to uint8 [size, size, 3] (Lanczos, antialiased)."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    crop = Image.fromarray(image[top:top + side, left:left + side])
    if side != size:
        crop = crop.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0 if side > 3 * size else None)
    return np.array(crop, dtype=np.uint8)


def phash64(image: np.ndarray) -> int:
    """64-bit perceptual hash (imagehash.phash) of uint8 [H, W, 3] as an int."""
    import imagehash  # only prepare needs it

    bits = imagehash.phash(Image.fromarray(image)).hash.ravel()
    return int("".join("1" if b else "0" for b in bits), 2)


def _popcount(values: np.ndarray) -> np.ndarray:
    """Bit counts of uint64 [n]."""
    as_bytes = values.astype(">u8").view(np.uint8).reshape(-1, 8)
    return np.unpackbits(as_bytes, axis=1).sum(axis=1)


def _first_twin(h: int, pool: list[_Item]) -> _Item | None:
    """The first item of ``pool`` whose phash is within PHASH_MAX_DISTANCE of ``h``."""
    if not pool:
        return None
    hashes = np.array([item.phash for item in pool], dtype=np.uint64)
    close = np.nonzero(_popcount(hashes ^ np.uint64(h)) <= PHASH_MAX_DISTANCE)[0]
    return pool[int(close[0])] if close.size else None


def _load_domain(domain: str, folder: Path, size: int, min_side: int,
                 dropped: list[Dropped]) -> list[_Item]:
    items: list[_Item] = []
    names = _list_images(folder)
    for name in tqdm(names, desc=f"read {domain}", unit="img", leave=False, disable=len(names) < 64):
        try:
            image = load_rgb_uint8(folder / name)
        except EaselError:
            dropped.append(Dropped(domain, name, "unreadable"))
            continue
        if min(image.shape[:2]) < min_side:
            dropped.append(Dropped(domain, name, "too small"))
            continue
        square = square_resize(image, size)
        phash = phash64(square)
        twin = _first_twin(phash, items)
        if twin is not None:
            # Sorted order decides which twin survives, so reruns agree.
            dropped.append(Dropped(domain, name, f"near-duplicate of {domain}:{twin.name}"))
            continue
        items.append(_Item(domain, name, square, phash))
    return items


def _split(names: list[str], test_fraction: float, seed: int) -> tuple[set[str], set[str]]:
    """(train, test) name sets from a seeded permutation of the sorted names."""
    ordered = sorted(names)
    n_test = int(round(len(ordered) * test_fraction))
    if test_fraction > 0 and len(ordered) >= 2:
        n_test = min(max(n_test, 1), len(ordered) - 1)
    perm = np.random.default_rng(seed).permutation(len(ordered))
    test = {ordered[i] for i in perm[:n_test]}
    return set(ordered) - test, test


def _prepare_output(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise EaselError("E_DATA_PREPARE", f"{out_dir} is not empty; choose a new --out folder",
                         detail=out_dir.name)


def prepare(a_dir: str | Path, b_dir: str | Path, out_dir: str | Path, size: int = 256,
            test_fraction: float = 0.2, seed: int = 0, kind: str = "unpaired",
            min_side: int = 32) -> PrepareReport:
    """Build a dataset in ``out_dir`` from raw folders ``a_dir`` (inputs) and ``b_dir`` (style/targets).

    size: output side in px; test_fraction: share of each domain held out
    (split public/private by index); kind: unpaired | example (A and B split
    independently) or paired (A and B matched by file name, split as pairs;
    train/B and train/A_target both hold the training targets, test/B and
    test/A_target the held-out ones). Files smaller
    than ``min_side`` px are dropped. Prints a summary table; returns the report.
    """
    if kind not in KINDS:
        raise EaselError("E_DATA_PREPARE", f"kind must be one of {', '.join(KINDS)}", detail="kind")
    if not 0.0 < test_fraction < 1.0:
        raise EaselError("E_DATA_PREPARE", "test fraction must be between 0 and 1", detail="test_fraction")
    a_dir, b_dir, out_dir = Path(a_dir), Path(b_dir), Path(out_dir)
    _prepare_output(out_dir)
    dropped: list[Dropped] = []
    domain_a = _load_domain("A", a_dir, size, min_side, dropped)
    domain_b = _load_domain("B", b_dir, size, min_side, dropped)

    if kind == "paired":
        by_stem_b = {Path(item.name).with_suffix("").as_posix(): item for item in domain_b}
        stems_a = {Path(item.name).with_suffix("").as_posix() for item in domain_a}
        for item in domain_a:
            if Path(item.name).with_suffix("").as_posix() not in by_stem_b:
                dropped.append(Dropped("A", item.name, "no pair"))
        for item in domain_b:
            if Path(item.name).with_suffix("").as_posix() not in stems_a:
                dropped.append(Dropped("B", item.name, "no pair"))
        pairs = [(item, by_stem_b[Path(item.name).with_suffix("").as_posix()]) for item in domain_a
                 if Path(item.name).with_suffix("").as_posix() in by_stem_b]
        train_keys, test_keys = _split([a.name for a, _ in pairs], test_fraction, seed)
        train_pairs = [p for p in pairs if p[0].name in train_keys]
        test_pairs = [p for p in pairs if p[0].name in test_keys]
        train_pool = [x for pair in train_pairs for x in pair]
        kept_test = []
        for a_item, b_item in test_pairs:
            twin = _first_twin(a_item.phash, train_pool) or _first_twin(b_item.phash, train_pool)
            if twin is not None:
                reason = f"near-duplicate of {twin.domain}:{twin.name}"
                dropped += [Dropped("A", a_item.name, reason), Dropped("B", b_item.name, "pair dropped")]
            else:
                kept_test.append((a_item, b_item))
        folders = {"train/A": [a for a, _ in train_pairs], "train/B": [b for _, b in train_pairs],
                   "train/A_target": [b for _, b in train_pairs],  # the training pairs, by file name
                   "test/A": [a for a, _ in kept_test], "test/B": [b for _, b in kept_test],
                   "test/A_target": [b for _, b in kept_test]}
    else:
        train_a, test_a = _split([i.name for i in domain_a], test_fraction, seed)
        train_b, test_b = _split([i.name for i in domain_b], test_fraction, seed + 1)
        folders = {"train/A": [i for i in domain_a if i.name in train_a],
                   "train/B": [i for i in domain_b if i.name in train_b]}
        train_pool = folders["train/A"] + folders["train/B"]
        for folder, domain, test_names in (("test/A", domain_a, test_a), ("test/B", domain_b, test_b)):
            kept = []
            for item in domain:
                if item.name not in test_names:
                    continue
                # Within a domain twins are already gone; this catches the same
                # picture filed under both A and B.
                twin = _first_twin(item.phash, train_pool)
                if twin is not None:
                    dropped.append(Dropped(item.domain, item.name, f"near-duplicate of {twin.domain}:{twin.name}"))
                else:
                    kept.append(item)
            folders[folder] = kept

    for folder in ("train/A", "train/B", "test/A", "test/B"):
        if not folders[folder]:
            raise EaselError("E_DATA_PREPARE", f"no usable images left for {folder}", detail=folder)

    out_dir.mkdir(parents=True, exist_ok=True)
    origin: dict[str, str] = {}
    total = sum(len(items) for items in folders.values())
    with tqdm(total=total, desc="write", unit="img", leave=False, disable=total < 64) as bar:
        for folder, items in folders.items():
            for index, item in enumerate(items):
                rel = f"{folder}/{index:04d}.png"
                save_png(out_dir / rel, item.image)
                origin[rel] = f"{item.domain}:{item.name}"
                bar.update(1)
    source = {"generator": "easel data prepare", "seed": int(seed), "test_fraction": float(test_fraction),
              "min_side": int(min_side), "phash_max_distance": PHASH_MAX_DISTANCE, "origin": origin,
              "dropped": [{"domain": d.domain, "file": d.file, "reason": d.reason} for d in dropped]}
    manifest = write_manifest(out_dir, kind, size, source)
    report = PrepareReport(out_dir, manifest, manifest.counts(), dropped, origin)
    print(report.summary(), file=sys.stdout)
    return report


__all__ = ["Dropped", "PrepareReport", "prepare", "square_resize", "phash64", "PHASH_MAX_DISTANCE"]

