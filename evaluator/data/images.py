"""Image helpers shared by every stage: decode, value ranges, deterministic PNGs, grids.

Every generated image is quantized to uint8 (``to_uint8``) before feature
extraction, as clean-fid does by saving PNGs, so a model's score never
depends on sub-quantum float noise.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from ..errors import EaselError
from ..fsutil import atomic_write_bytes

# Fixed zlib level: identical pixels always give identical bytes (and hashes).
PNG_COMPRESS_LEVEL = 6
_GRID_BG = (255, 255, 255)
_GRID_EMPTY = (220, 220, 220)
_GRID_PAD = 4
_GRID_LABEL_H = 14


def _flatten_to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB; transparency composited on white."""
    if image.mode == "P":
        # Palette images may carry transparency in their info; RGBA keeps it.
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # High bit-depth grayscale: scale the full range to 8 bits (PIL's own
        # conversion clips instead, which turns most 16-bit images white).
        array = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16"):
            top = 65535.0
        elif image.mode == "F":
            top = 1.0 if array.max() <= 1.0 else 255.0  # float images are [0, 1] or [0, 255]
        else:
            top = max(float(array.max()), 255.0)
        gray = np.clip(np.rint(array / top * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(gray[..., None], 3, axis=2), "RGB")
    if image.mode in ("LA", "La", "PA", "RGBa"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image).convert("RGB")
    return image.convert("RGB")


def load_rgb_uint8(path: str | os.PathLike) -> np.ndarray:
    """Decode any PIL-readable image file to RGB.

    Returns uint8 [H, W, 3]. Alpha is composited on white, grayscale and
    palette images are expanded, and the EXIF orientation is applied.
    Raises EaselError("E_DATA_IMAGE", detail=file name) when the file is
    unreadable or truncated.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            # A decompression-bomb warning becomes an error below, not log noise.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()  # force full decode so truncated files fail here
                image = ImageOps.exif_transpose(image)
                rgb = _flatten_to_rgb(image)
                array = np.array(rgb, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise EaselError("E_DATA_IMAGE", f"{path.name}: cannot decode ({type(exc).__name__})",
                         detail=path.name) from None
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise EaselError("E_DATA_IMAGE", f"{path.name}: empty image", detail=path.name)
    return array


def to_model_range(images: np.ndarray) -> np.ndarray:
    """uint8 [..., 3] in [0, 255] -> float32 [..., 3] in [-1, 1] (x / 127.5 - 1)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"expected uint8 images, got {images.dtype}")
    return (images.astype(np.float32) / np.float32(127.5) - np.float32(1.0)).astype(np.float32)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float [..., 3] in [-1, 1] -> uint8 (round((x + 1) * 127.5), clipped to [0, 255]).

    Non-finite values must be refused before this call; NaN would become 0.
    """
    scaled = (np.asarray(images, dtype=np.float64) + 1.0) * 127.5
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
    """Encode uint8 [H, W, 3] (or [H, W]) as PNG bytes with no metadata and a fixed zlib level."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"expected uint8 [H, W, 3], got {image.dtype} {image.shape}")
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL, optimize=False)
    return buffer.getvalue()


def save_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Atomically write uint8 [H, W, 3] to ``path`` as a PNG; same pixels -> same bytes.

    No fsync: dataset images are regenerated or re-verified against their manifest.
    """
    return atomic_write_bytes(path, png_bytes(image), durable=False)


def _font() -> ImageFont.ImageFont:
    return ImageFont.load_default()


def grid_image(columns: list[tuple[str, list[np.ndarray]]], scale: int = 2) -> np.ndarray:
    """Compose labelled columns of images into one uint8 [H, W, 3] grid.

    ``columns``: [(label, [uint8 [h, w, 3], ...]), ...], e.g. input | output | target.
    Each cell is the largest image's size times ``scale`` (nearest-neighbour, so
    pixels stay visible). Layout: a label row of 14 px, then one row per index;
    4 px padding around and between cells. A column shorter than the longest
    leaves grey cells. Output size:
    height = 4 + 14 + rows * (cell_h + 4), width = 4 + cols * (cell_w + 4).
    """
    if not columns:
        raise ValueError("grid needs at least one column")
    scale = max(1, int(scale))
    images = [img for _, col in columns for img in col]
    cell_h = max((img.shape[0] for img in images), default=16) * scale
    cell_w = max((img.shape[1] for img in images), default=16) * scale
    rows = max((len(col) for _, col in columns), default=0)
    width = _GRID_PAD + len(columns) * (cell_w + _GRID_PAD)
    height = _GRID_PAD + _GRID_LABEL_H + rows * (cell_h + _GRID_PAD)
    canvas = Image.new("RGB", (width, height), _GRID_BG)
    draw = ImageDraw.Draw(canvas)
    font = _font()
    for c, (label, column) in enumerate(columns):
        x = _GRID_PAD + c * (cell_w + _GRID_PAD)
        text = str(label)
        # Shorten labels that would spill into the next column.
        while text and draw.textlength(text, font=font) > cell_w:
            text = text[:-1]
        draw.text((x, _GRID_PAD // 2), text, fill=(0, 0, 0), font=font)
        for r in range(rows):
            y = _GRID_PAD + _GRID_LABEL_H + r * (cell_h + _GRID_PAD)
            if r >= len(column):
                draw.rectangle([x, y, x + cell_w - 1, y + cell_h - 1], fill=_GRID_EMPTY)
                continue
            tile = Image.fromarray(np.asarray(column[r], dtype=np.uint8))
            tile = tile.resize((tile.width * scale, tile.height * scale), Image.Resampling.NEAREST)
            canvas.paste(tile, (x, y))
    return np.array(canvas, dtype=np.uint8)


def save_grid(path: str | os.PathLike, columns: list[tuple[str, list[np.ndarray]]],
              scale: int = 2) -> Path:
    """Write ``grid_image(columns, scale)`` to ``path`` as a deterministic PNG."""
    return save_png(path, grid_image(columns, scale))
