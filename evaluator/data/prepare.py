"""Turn an organizer's raw image folders into a dataset with a manifest.

Steps: decode any PIL format to RGB -> drop unreadable and tiny files ->
center-crop square and resize with antialiasing -> group near-duplicates
(crop-aware perceptual hashes, union-find over A and B together; a paired
track groups whole pairs) and keep each group's best file (lossless over
lossy, then more pixels, then more bytes, then first by name) -> seeded split
of the kept units into test, showcase and train -> refuse a test split
below the minimum -> PNGs named 0000.png... + manifest.json. Since each group
keeps one unit, no picture can straddle train, test, public, private or
showcase.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..config import DEFAULT_MIN_TEST_IMAGES
from ..errors import EaselError
from .dedup import PHASH_MAX_DISTANCE, UnionFind, crop_hashes, near_duplicate_pairs, phash64
from .images import load_rgb_uint8, save_png
from .manifest import DEFAULT_SHOWCASE, KINDS, SHOWCASE, Manifest, check_split_sizes, write_manifest

LOSSLESS_FORMATS = frozenset({"PNG", "BMP", "TIFF", "PPM", "QOI"})  # PIL format names


@dataclass(frozen=True)
class Dropped:
    domain: str  # "A" | "B"
    file: str  # path relative to that domain's source folder
    reason: str  # "unreadable" | "too small" | "near-duplicate of <file>" | "no pair" | "pair dropped"
    kept_because: str = ""  # near-duplicates: why the kept file won ("lossless", "more pixels", ...)


@dataclass
class PrepareReport:
    """What ``prepare`` kept and dropped. ``kept`` = {folder: {"train"|"public"|"private"|"showcase": n}}."""

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
        """A plain-text table: kept files per folder and split, then every dropped file with its reason."""
        lines = [f"dataset {self.manifest.dataset} ({self.manifest.kind}, {self.manifest.image_size} px)",
                 f"  {'folder':<15}{'train':>7}{'public':>8}{'private':>9}{SHOWCASE:>10}"]
        for folder, counts in self.kept.items():
            lines.append(f"  {folder:<15}{counts.get('train', 0):>7}{counts.get('public', 0):>8}"
                         f"{counts.get('private', 0):>9}{counts.get(SHOWCASE, 0):>10}")
        reasons = self.dropped_by_reason()
        lines.append(f"  dropped: {sum(reasons.values())}" + "".join(f"  {k}={v}" for k, v in reasons.items()))
        if self.dropped:
            width = max(len(f"{d.domain}:{d.file}") for d in self.dropped)
            lines.append(f"    {'file':<{width}}  reason")
            for d in self.dropped:
                because = f" (kept: {d.kept_because})" if d.kept_because else ""
                lines.append(f"    {d.domain + ':' + d.file:<{width}}  {d.reason}{because}")
        lines.append(f"  manifest sha256 {self.manifest.sha256}")
        return "\n".join(lines)


@dataclass
class _Item:
    domain: str
    name: str
    image: np.ndarray  # uint8 [size, size, 3]
    hashes: np.ndarray  # uint64 [6], crop_hashes of image
    lossless: bool  # the source file's format keeps pixels exactly
    pixels: int  # width * height of the source file
    n_bytes: int  # size of the source file

    @property
    def label(self) -> str:
        return f"{self.domain}:{self.name}"


def _quality(item: _Item) -> tuple:
    """Sort key, best first: lossless, then more pixels, then more bytes, then A before B, first by name."""
    return (not item.lossless, -item.pixels, -item.n_bytes, item.domain, item.name)


def _kept_because(best: _Item, other: _Item) -> str:
    if best.lossless != other.lossless:
        return "lossless"
    if best.pixels != other.pixels:
        return "more pixels"
    if best.n_bytes != other.n_bytes:
        return "larger file"
    return "first by name"


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


def _load_domain(domain: str, folder: Path, size: int, min_side: int,
                 dropped: list[Dropped]) -> list[_Item]:
    items: list[_Item] = []
    names = _list_images(folder)
    for name in tqdm(names, desc=f"read {domain}", unit="img", leave=False, disable=len(names) < 64):
        path = folder / name
        try:
            image = load_rgb_uint8(path)
            with Image.open(path) as probe:
                file_format = probe.format
        except (EaselError, OSError, ValueError):
            dropped.append(Dropped(domain, name, "unreadable"))
            continue
        if min(image.shape[:2]) < min_side:
            dropped.append(Dropped(domain, name, "too small"))
            continue
        square = square_resize(image, size)
        items.append(_Item(domain, name, square, crop_hashes(square), file_format in LOSSLESS_FORMATS,
                           int(image.shape[0] * image.shape[1]), path.stat().st_size))
    return items


def _keep_best_units(units: list[tuple[_Item, ...]], max_distance: int,
                     dropped: list[Dropped]) -> list[tuple[_Item, ...]]:
    """Group units (single files, or (A, B) pairs) whose files are near-duplicates; keep each group's best.

    A unit's quality is its first file's. Dropped units are recorded: their first
    file as "near-duplicate of <the kept unit's first file>", a pair's partner as
    "pair dropped". Returns the kept units in their original order.
    """
    owner = [u for u, unit in enumerate(units) for _ in unit]
    files = [item for unit in units for item in unit]
    finder = UnionFind(len(units))
    if files:
        for i, j, _ in near_duplicate_pairs(np.stack([item.hashes for item in files]), max_distance):
            finder.union(owner[i], owner[j])
    kept_ids = []
    for members in finder.groups():
        ranked = sorted(members, key=lambda u: _quality(units[u][0]))
        best = units[ranked[0]][0]
        kept_ids.append(ranked[0])
        for u in ranked[1:]:
            first = units[u][0]
            dropped.append(Dropped(first.domain, first.name, f"near-duplicate of {best.label}",
                                   _kept_because(best, first)))
            dropped.extend(Dropped(item.domain, item.name, "pair dropped") for item in units[u][1:])
    return [units[u] for u in sorted(kept_ids)]


def _split(units: list[tuple[_Item, ...]], test_fraction: float, n_showcase: int,
           seed: int) -> dict[str, list[tuple[_Item, ...]]]:
    """{"test" | "showcase" | "train": units} from a seeded permutation of the units sorted by name.

    The first round(n * test_fraction) of the permutation are held out for test
    (at least one, and one left for train, when there are two or more), the next
    ``n_showcase`` are showcase, the rest train. Each list keeps name order.
    """
    ordered = sorted(units, key=lambda unit: unit[0].name)
    n_test = int(round(len(ordered) * test_fraction))
    if test_fraction > 0 and len(ordered) >= 2:
        n_test = min(max(n_test, 1), len(ordered) - 1)
    perm = np.random.default_rng(seed).permutation(len(ordered))
    role = {int(i): "test" for i in perm[:n_test]}
    role.update({int(i): SHOWCASE for i in perm[n_test:n_test + n_showcase]})
    out: dict[str, list] = {"test": [], SHOWCASE: [], "train": []}
    for index, unit in enumerate(ordered):
        out[role.get(index, "train")].append(unit)
    return out


def _prepare_output(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise EaselError("E_DATA_PREPARE", f"{out_dir} is not empty; choose a new --out folder",
                         detail=out_dir.name)


def _pairs(domain_a: list[_Item], domain_b: list[_Item], dropped: list[Dropped]) -> list[tuple[_Item, _Item]]:
    """(A, B) units matched by file name without extension; the unmatched are dropped as "no pair"."""
    def stem(item: _Item) -> str:
        return Path(item.name).with_suffix("").as_posix()

    by_stem_b = {stem(item): item for item in domain_b}
    stems_a = {stem(item) for item in domain_a}
    dropped += [Dropped("A", i.name, "no pair") for i in domain_a if stem(i) not in by_stem_b]
    dropped += [Dropped("B", i.name, "no pair") for i in domain_b if stem(i) not in stems_a]
    return [(item, by_stem_b[stem(item)]) for item in domain_a if stem(item) in by_stem_b]


def prepare(a_dir: str | Path, b_dir: str | Path, out_dir: str | Path, size: int = 256,
            test_fraction: float = 0.2, seed: int = 0, kind: str = "unpaired",
            min_side: int = 32, min_test_images: int = DEFAULT_MIN_TEST_IMAGES, showcase: int = DEFAULT_SHOWCASE,
            max_distance: int = PHASH_MAX_DISTANCE) -> PrepareReport:
    """Build a dataset in ``out_dir`` from raw folders ``a_dir`` (inputs) and ``b_dir`` (style/targets).

    size: output side in px; test_fraction: share of each domain held out
    (split public/private by index); kind: unpaired | example (A and B split
    independently) or paired (A and B matched by file name, split as pairs;
    train/B and train/A_target both hold the training targets, test/B and
    test/A_target the held-out ones). Files smaller than ``min_side`` px are
    dropped. ``showcase`` images of A (and of B for example tracks) go to
    showcase/A (showcase/B): publishable, never scored. Near-duplicates are
    files within ``max_distance`` bits (crop-aware pHash); each group keeps one.
    Refuses (E_DATA_TOO_SMALL, before writing anything) a public or private
    test split below ``min_test_images``. Prints the summary table; returns the report.
    """
    if kind not in KINDS:
        raise EaselError("E_DATA_PREPARE", f"kind must be one of {', '.join(KINDS)}", detail="kind")
    if not 0.0 < test_fraction < 1.0:
        raise EaselError("E_DATA_PREPARE", "test fraction must be between 0 and 1", detail="test_fraction")
    if min_test_images < 1 or showcase < 0 or not 0 <= max_distance <= 64:
        raise EaselError("E_DATA_PREPARE", "need min_test_images >= 1, showcase >= 0 and a near-duplicate "
                         "distance between 0 and 64", detail="options")
    a_dir, b_dir, out_dir = Path(a_dir), Path(b_dir), Path(out_dir)
    _prepare_output(out_dir)
    dropped: list[Dropped] = []
    domain_a = _load_domain("A", a_dir, size, min_side, dropped)
    domain_b = _load_domain("B", b_dir, size, min_side, dropped)

    if kind == "paired":
        units = _keep_best_units(_pairs(domain_a, domain_b, dropped), max_distance, dropped)
        parts = _split(units, test_fraction, showcase, seed)
        folders = {"train/A": [a for a, _ in parts["train"]], "train/B": [b for _, b in parts["train"]],
                   "train/A_target": [b for _, b in parts["train"]],  # the training pairs, by file name
                   "test/A": [a for a, _ in parts["test"]], "test/B": [b for _, b in parts["test"]],
                   "test/A_target": [b for _, b in parts["test"]],
                   "showcase/A": [a for a, _ in parts[SHOWCASE]]}
    else:
        # A and B are grouped together: the same picture filed under both keeps one copy.
        units = _keep_best_units([(item,) for item in domain_a + domain_b], max_distance, dropped)
        parts_a = _split([u for u in units if u[0].domain == "A"], test_fraction, showcase, seed)
        parts_b = _split([u for u in units if u[0].domain == "B"], test_fraction,
                         showcase if kind == "example" else 0, seed + 1)
        folders = {f"{part}/{domain}": [unit[0] for unit in parts[part]]
                   for domain, parts in (("A", parts_a), ("B", parts_b)) for part in ("train", "test", SHOWCASE)}
        if kind != "example":
            folders.pop("showcase/B")

    for folder in ("train/A", "train/B", "test/A", "test/B"):
        if not folders[folder]:
            raise EaselError("E_DATA_PREPARE", f"no usable images left for {folder}", detail=folder)
    # Test files are split by index: the public half is the larger one.
    check_split_sizes({folder: {"public": (len(items) + 1) // 2, "private": len(items) // 2}
                       for folder, items in folders.items()}, min_test_images,
                      f"add images or raise --test-fraction (now {test_fraction:g}).")

    out_dir.mkdir(parents=True, exist_ok=True)
    origin: dict[str, str] = {}
    total = sum(len(items) for items in folders.values())
    with tqdm(total=total, desc="write", unit="img", leave=False, disable=total < 64) as bar:
        for folder, items in folders.items():
            for index, item in enumerate(items):
                rel = f"{folder}/{index:04d}.png"
                save_png(out_dir / rel, item.image)
                origin[rel] = item.label
                bar.update(1)
    source = {"generator": "easel data prepare", "seed": int(seed), "test_fraction": float(test_fraction),
              "min_side": int(min_side), "min_test_images": int(min_test_images), "showcase": int(showcase),
              "near_duplicate_distance": int(max_distance), "origin": origin,
              "dropped": [{"domain": d.domain, "file": d.file, "reason": d.reason,
                           **({"kept_because": d.kept_because} if d.kept_because else {})} for d in dropped]}
    manifest = write_manifest(out_dir, kind, size, source)
    report = PrepareReport(out_dir, manifest, manifest.counts(), dropped, origin)
    print(report.summary(), file=sys.stdout)
    return report


__all__ = ["DEFAULT_SHOWCASE", "Dropped", "PrepareReport", "phash64", "prepare",
           "square_resize", "PHASH_MAX_DISTANCE"]
