"""Calibrate `data prepare`'s near-duplicate threshold (run by hand: `python benchmarks/near_duplicates.py`).

Positives: each base image against an edited copy of itself (JPEG re-encoded
at quality 30-90, resized to 50 %/75 %/150 %, cropped to 90 % (centre and
corner), hue/saturation shifts, brightness +-10 %, and two edits combined).
Negatives: every pair of different base images. Both go through what
`prepare` does before hashing (square crop, resize to --size) and are compared
by the Hamming distance of their 64-bit perceptual hashes.

With --plain, the whole-image pHash alone (as prepare did before) for comparison.

Prints, per threshold, the miss rate (edited copies not detected) and the
false-alarm rate (unrelated pairs flagged), each with its count, and the
threshold that `prepare` uses by default (PHASH_MAX_DISTANCE).

Base images: procedural landscapes (`render_scene`, which resemble each other
far more than real photos do, so false alarms are pessimistic), or with
--images DIR the organizer's own photos.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluator.data.dedup import PHASH_MAX_DISTANCE, crop_hashes, hash_distance  # noqa: E402
from evaluator.data.prepare import square_resize  # noqa: E402
from evaluator.data.synth import render_scene  # noqa: E402


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _resize(image: Image.Image, factor: float) -> Image.Image:
    return image.resize((max(8, round(image.width * factor)), max(8, round(image.height * factor))),
                        Image.Resampling.BICUBIC)


def _crop(image: Image.Image, share: float, corner: bool) -> Image.Image:
    w, h = round(image.width * share), round(image.height * share)
    left, top = (0, 0) if corner else ((image.width - w) // 2, (image.height - h) // 2)
    return image.crop((left, top, left + w, top + h))


def _hue(image: Image.Image, shift: int) -> Image.Image:
    hsv = np.array(image.convert("HSV"), dtype=np.int16)
    hsv[..., 0] = (hsv[..., 0] + shift) % 256
    return Image.fromarray(hsv.astype(np.uint8), "HSV").convert("RGB")


EDITS = {
    "jpeg q90": lambda im: _jpeg(im, 90),
    "jpeg q50": lambda im: _jpeg(im, 50),
    "jpeg q30": lambda im: _jpeg(im, 30),
    "resize 50%": lambda im: _resize(im, 0.5),
    "resize 75%": lambda im: _resize(im, 0.75),
    "resize 150%": lambda im: _resize(im, 1.5),
    "crop 90% centre": lambda im: _crop(im, 0.9, corner=False),
    "crop 90% corner": lambda im: _crop(im, 0.9, corner=True),
    "hue +8": lambda im: _hue(im, 8),
    "saturation x1.2": lambda im: ImageEnhance.Color(im).enhance(1.2),
    "brightness x0.9": lambda im: ImageEnhance.Brightness(im).enhance(0.9),
    "brightness x1.1": lambda im: ImageEnhance.Brightness(im).enhance(1.1),
    "crop 90% + jpeg q30": lambda im: _jpeg(_crop(im, 0.9, corner=True), 30),
    "resize 50% + brightness x1.1": lambda im: ImageEnhance.Brightness(_resize(im, 0.5)).enhance(1.1),
}


def _hash(image: Image.Image, size: int) -> np.ndarray:
    return crop_hashes(square_resize(np.asarray(image.convert("RGB"), dtype=np.uint8), size))


def _distance(a: np.ndarray, b: np.ndarray, plain: bool) -> int:
    """prepare's crop-aware distance, or (plain) the whole-image pHash distance alone."""
    return bin(int(a[0]) ^ int(b[0])).count("1") if plain else hash_distance(a, b)


def _bases(args) -> list[Image.Image]:
    if args.images:
        paths = sorted(p for p in Path(args.images).rglob("*") if p.is_file())[:args.count]
        return [Image.open(p).convert("RGB") for p in paths]
    return [Image.fromarray(render_scene(np.random.default_rng(10_000 + i), args.base_size))
            for i in range(args.count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=120, help="base images (default 120)")
    parser.add_argument("--base-size", type=int, default=256, help="side of the procedural base images (px)")
    parser.add_argument("--size", type=int, default=256, help="prepare's --size: side hashed (px)")
    parser.add_argument("--images", type=Path, help="calibrate on these photos instead of procedural scenes")
    parser.add_argument("--max-threshold", type=int, default=16)
    parser.add_argument("--plain", action="store_true", help="whole-image pHash only (what prepare used before)")
    args = parser.parse_args(argv)

    bases = _bases(args)
    base_hashes = [_hash(im, args.size) for im in bases]
    edited = {name: [_hash(edit(im), args.size) for im in bases] for name, edit in EDITS.items()}
    per_edit = {name: np.array([_distance(h, e, args.plain) for h, e in zip(base_hashes, hashes)])
                for name, hashes in edited.items()}
    positives = np.concatenate(list(per_edit.values()))
    negatives = np.array([_distance(base_hashes[i], base_hashes[j], args.plain)
                          for i in range(len(bases)) for j in range(i + 1, len(bases))])

    source = f"photos in {args.images}" if args.images else "procedural scenes"
    method = "whole-image pHash" if args.plain else "crop-aware pHash (6 hashes per image)"
    print(f"{method}; {len(bases)} base images ({source}), hashed at {args.size} px; "
          f"{positives.size} edited copies, {negatives.size} unrelated pairs\n")
    print("| edit | median distance | max distance |\n|---|---:|---:|")
    for name, dist in per_edit.items():
        print(f"| {name} | {np.median(dist):.0f} | {dist.max()} |")
    print(f"\nunrelated pairs: min distance {negatives.min()}, 1st percentile "
          f"{np.percentile(negatives, 1):.0f}, median {np.median(negatives):.0f}\n")
    print("| threshold | miss rate | false-alarm rate |\n|---:|---:|---:|")
    for threshold in range(0, args.max_threshold + 1):
        missed = int((positives > threshold).sum())
        alarms = int((negatives <= threshold).sum())
        mark = "  <- default" if threshold == PHASH_MAX_DISTANCE and not args.plain else ""
        print(f"| {threshold} | {missed / positives.size:.2%} ({missed}) | "
              f"{alarms / negatives.size:.3%} ({alarms}) |{mark}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
