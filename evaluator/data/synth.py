"""Procedural "photos" and the embedded dev datasets.

A scene is a landscape: sky gradient (day, dusk or overcast), sun or moon,
clouds, layered fractal ridges with atmospheric haze, sometimes a lake that
reflects what is above it, and a foreground of houses, trees and rocks with
grain. Scenes are drawn at 2x and reduced with antialiasing. Every scene comes
from its own integer scene seed, recorded in the dataset manifest, so tests can
prove that no scene feeds both domains of a dataset.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..errors import EaselError
from .dedup import PHASH_MAX_DISTANCE, crop_hashes, has_near_duplicate
from .images import save_png
from .manifest import write_manifest
from .styles import STYLES

GENERATOR = "easel data synth"
SHOWCASE_COUNT = 8  # showcase images per showcase folder: the rows of every published grid
_SHOWCASE_INDEX = 500_000  # showcase scenes use test roles from this index up (test sets stay far below)
_SHOWCASE_TRIES = 50  # fresh scenes tried per showcase image before giving up

_SKIES = {
    # (zenith, horizon) colours
    "day": [((52, 112, 196), (176, 212, 236)), ((70, 130, 210), (200, 226, 240)),
            ((38, 96, 170), (160, 200, 228))],
    "dusk": [((44, 40, 96), (244, 148, 84)), ((70, 48, 110), (250, 180, 110)),
             ((30, 44, 90), (230, 110, 90))],
    "overcast": [((128, 136, 148), (196, 200, 204)), ((110, 118, 132), (178, 184, 190))],
}


@dataclass(frozen=True)
class DevDataset:
    """One embedded dev dataset: its id, track kind and the style of domain B."""

    id: str
    kind: str  # unpaired | paired | example
    style: str  # a key of STYLES, or "mix" for all of them in turn
    index: int  # salts scene seeds so datasets share no scenes


DEV_DATASETS: dict[str, DevDataset] = {
    "dev-ink": DevDataset("dev-ink", "unpaired", "ink", 1),
    "dev-sketch": DevDataset("dev-sketch", "paired", "sketch", 2),
    "dev-styles": DevDataset("dev-styles", "example", "mix", 3),
}


# --- noise ---------------------------------------------------------------------------

def _value_noise_2d(rng: np.random.Generator, shape: tuple[int, int], octaves: int = 4,
                    base: int = 4) -> np.ndarray:
    """float32 [H, W] fractal value noise in about [-1, 1]."""
    height, width = shape
    total = np.zeros(shape, dtype=np.float32)
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        cells = base * (2 ** octave)
        grid = rng.uniform(-1, 1, size=(cells + 1, cells + 1)).astype(np.float32)
        layer = np.asarray(Image.fromarray(grid, "F").resize((width, height), Image.Resampling.BICUBIC))
        total += amplitude * layer
        norm += amplitude
        amplitude *= 0.5
    return total / norm


def _ridge_1d(rng: np.random.Generator, width: int, octaves: int = 5, base: int = 3,
              roughness: float = 0.55) -> np.ndarray:
    """float32 [W] fractal height profile in about [-1, 1]."""
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)
    total = np.zeros(width, dtype=np.float32)
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        points = base * (2 ** octave) + 1
        knots = rng.uniform(-1, 1, size=points).astype(np.float32)
        total += amplitude * np.interp(x, np.linspace(0, 1, points), knots).astype(np.float32)
        norm += amplitude
        amplitude *= roughness
    return total / norm


def _mix(a, b, t):
    return np.asarray(a, np.float32) * (1 - t) + np.asarray(b, np.float32) * t


# --- scene layers --------------------------------------------------------------------

def _sky(rng, size, yy):
    variety = rng.choice(list(_SKIES), p=[0.5, 0.3, 0.2])
    options = _SKIES[variety]
    zenith, horizon = options[int(rng.integers(len(options)))]
    zenith = np.clip(np.array(zenith) + rng.normal(0, 10, 3), 0, 255)
    horizon = np.clip(np.array(horizon) + rng.normal(0, 10, 3), 0, 255)
    t = (yy / size) ** 0.8
    return _mix(zenith, horizon, t[..., None]), variety, horizon


def _sun(rng, img, yy, xx, size, variety, horizon_y):
    cx = rng.uniform(0.15, 0.85) * size
    cy = rng.uniform(0.08, 0.7) * horizon_y
    radius = rng.uniform(0.04, 0.08) * size
    dist = np.hypot(yy - cy, xx - cx)
    if variety == "dusk":
        colour, glow_colour = np.array((255, 214, 150)), np.array((255, 170, 110))
    elif variety == "day":
        colour, glow_colour = np.array((255, 250, 225)), np.array((255, 245, 210))
    else:  # overcast: a pale disc behind the haze, moon-like
        colour, glow_colour = np.array((236, 236, 228)), np.array((220, 220, 215))
    glow = np.exp(-np.maximum(dist - radius, 0) / (radius * 2.5))[..., None] * 0.45
    img = _mix(img, glow_colour, glow)
    disc = np.clip(radius + 0.7 - dist, 0, 1)[..., None]
    return _mix(img, colour, disc)


def _clouds(rng, img, yy, size, horizon_y, variety):
    noise = _value_noise_2d(rng, img.shape[:2], octaves=4, base=3)
    cover = rng.uniform(0.0, 0.35) if variety != "overcast" else rng.uniform(0.3, 0.6)
    density = np.clip((noise + cover - 0.15) * 3.0, 0, 1)
    density *= np.clip((horizon_y - yy) / (0.3 * size), 0, 1)  # clouds thin out near the horizon
    tint = (250, 246, 240) if variety == "day" else ((250, 190, 170) if variety == "dusk" else (215, 215, 220))
    shade = np.clip(noise * 0.5 + 0.5, 0, 1)[..., None]
    colour = _mix(np.array(tint), np.array(tint) * 0.75, shade)
    return img * (1 - density[..., None] * 0.85) + colour * density[..., None] * 0.85


def _ridges(rng, img, yy, size, horizon_y, sky_horizon):
    layers = int(rng.integers(2, 5))
    hue = rng.choice(["green", "brown", "blue", "snow"], p=[0.45, 0.25, 0.2, 0.1])
    base_colour = {"green": (60, 110, 55), "brown": (120, 92, 60),
                   "blue": (70, 90, 120), "snow": (110, 115, 125)}[hue]
    for layer in range(layers):
        depth = (layer + 1) / layers  # 1 = nearest
        amplitude = size * rng.uniform(0.06, 0.2) * (1.2 - 0.4 * depth)
        base = horizon_y - amplitude * (1.3 - depth) + layer * size * 0.04
        profile = base - amplitude * _ridge_1d(rng, img.shape[1], roughness=rng.uniform(0.45, 0.65))
        mask = np.clip(yy - profile[None, :] + 0.5, 0, 1)
        colour = np.clip(np.array(base_colour) * (0.55 + 0.5 * depth) + rng.normal(0, 12, 3), 0, 255)
        haze = (1 - depth) * 0.65
        colour = _mix(colour, sky_horizon, haze)
        texture = _value_noise_2d(rng, img.shape[:2], octaves=3, base=8)[..., None]
        shading = np.clip((yy - profile[None, :]) / (size * 0.35), 0, 1)[..., None]
        fill = colour * (1.0 + 0.18 * texture) * (1.0 - 0.25 * shading)
        if hue == "snow" and layer < layers - 1:
            cap = np.clip(1 - (yy - profile[None, :]) / (amplitude * 0.5 + 1), 0, 1)[..., None]
            fill = _mix(fill, np.array((240, 242, 248)), cap * 0.8)
        img = img * (1 - mask[..., None]) + fill * mask[..., None]
    return img


def _water(rng, img, yy, xx, size):
    level = rng.uniform(0.68, 0.82) * size
    rows = np.arange(img.shape[0])
    below = rows >= level
    if not below.any():
        return img
    mirror_rows = np.clip((2 * level - rows).astype(int), 0, img.shape[0] - 1)
    ripple = (np.sin(yy * rng.uniform(0.8, 1.4) + xx * 0.05) * 1.5).astype(int)
    cols = np.clip(np.arange(img.shape[1])[None, :] + ripple, 0, img.shape[1] - 1)
    reflected = img[mirror_rows[:, None], cols]
    water_colour = np.clip(np.array((40, 80, 110)) + rng.normal(0, 12, 3), 0, 255)
    depth = np.clip((yy - level) / (size - level + 1), 0, 1)[..., None]
    water = _mix(reflected, water_colour, 0.35 + 0.4 * depth)
    sparkle = (np.sin(xx * 0.9 + yy * 3.1) > 0.97)[..., None] * 30.0
    water = water + sparkle
    mask = np.clip(yy - level + 0.5, 0, 1)[..., None]
    return img * (1 - mask) + water * mask


def _objects(rng, img, yy, xx, size):
    count = int(rng.integers(2, 7))
    ground_top = rng.uniform(0.6, 0.78) * size
    items = sorted(((rng.uniform(ground_top, size * 0.98), rng.uniform(0.05, 0.95) * size)
                    for _ in range(count)), key=lambda item: item[0])
    for y_base, x_center in items:
        scale = (0.5 + (y_base / size)) * size * rng.uniform(0.05, 0.1)
        kind = rng.choice(["house", "tree", "pine", "rock"], p=[0.25, 0.3, 0.25, 0.2])
        if kind == "house":
            w, h = scale * rng.uniform(1.4, 2.2), scale * rng.uniform(1.0, 1.5)
            wall = np.clip(np.array((200, 170, 130)) + rng.normal(0, 25, 3), 0, 255)
            roof = np.clip(np.array((150, 50, 40)) + rng.normal(0, 25, 3), 0, 255)
            body = (np.abs(xx - x_center) < w / 2) & (yy > y_base - h) & (yy < y_base)
            img = np.where(body[..., None], wall, img)
            roof_h = h * 0.7
            roof_mask = ((yy < y_base - h + 0.5) & (yy > y_base - h - roof_h)
                         & (np.abs(xx - x_center) < (w * 0.62) * (yy - (y_base - h - roof_h)) / roof_h))
            img = np.where(roof_mask[..., None], roof, img)
            window = (np.abs(xx - x_center - w * 0.2) < w * 0.12) & (np.abs(yy - (y_base - h * 0.6)) < h * 0.15)
            img = np.where(window[..., None], np.array((60, 70, 90)), img)
            door = (np.abs(xx - x_center + w * 0.2) < w * 0.1) & (yy > y_base - h * 0.55) & (yy < y_base)
            img = np.where(door[..., None], np.array((80, 50, 30)), img)
        elif kind in ("tree", "pine"):
            trunk = (np.abs(xx - x_center) < scale * 0.15) & (yy > y_base - scale * 1.2) & (yy < y_base)
            img = np.where(trunk[..., None], np.array((90, 60, 35)), img)
            leaf = np.clip(np.array((50, 120, 50)) + rng.normal(0, 20, 3), 0, 255)
            if kind == "tree":
                cy = y_base - scale * 1.6
                canopy = np.hypot((xx - x_center) / 1.1, yy - cy) < scale * 0.9
                shade = np.clip(0.8 + (cy - yy + xx - x_center) / (scale * 4), 0.6, 1.2)[..., None]
            else:
                top = y_base - scale * 3.0
                canopy = (yy > top) & (yy < y_base - scale * 0.5) & \
                         (np.abs(xx - x_center) < (yy - top) * 0.4)
                shade = np.clip(0.8 + (xx - x_center) / (scale * 4), 0.6, 1.2)[..., None]
            img = np.where(canopy[..., None], leaf * shade, img)
        else:
            rx, ry = scale * rng.uniform(0.8, 1.5), scale * rng.uniform(0.5, 0.9)
            rock = np.hypot((xx - x_center) / rx, (yy - y_base) / ry) < 1.0
            rock &= yy < y_base + ry * 0.3
            grey = np.clip(np.array((125, 120, 115)) * rng.uniform(0.7, 1.2), 0, 255)
            shade = np.clip(1.1 - (yy - (y_base - ry)) / (2 * ry) * 0.5, 0.6, 1.2)[..., None]
            img = np.where(rock[..., None], grey * shade, img)
    return img


def render_scene(rng: np.random.Generator, size: int) -> np.ndarray:
    """Render one procedural landscape "photo".

    rng: the scene's own Generator (its seed identifies the scene).
    Returns uint8 [size, size, 3]. Drawn at 2x and reduced with a Lanczos filter.
    """
    big = int(size) * 2
    yy, xx = np.mgrid[0:big, 0:big].astype(np.float32)
    img, variety, sky_horizon = _sky(rng, big, yy)
    horizon_y = rng.uniform(0.45, 0.7) * big
    img = _sun(rng, img, yy, xx, big, variety, horizon_y)
    img = _clouds(rng, img, yy, big, horizon_y, variety)
    img = _ridges(rng, img, yy, big, horizon_y, sky_horizon)
    if rng.uniform() < 0.45:
        img = _water(rng, img, yy, xx, big)
    img = _objects(rng, img, yy, xx, big)
    # Photo-like finish: a little grain and a vignette.
    img = img + rng.normal(0, 3.0, size=img.shape[:2])[..., None]
    vignette = 1.0 - 0.18 * (((yy - big / 2) ** 2 + (xx - big / 2) ** 2) / (big * big / 2))
    img = img * vignette[..., None]
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return np.array(Image.fromarray(img).resize((size, size), Image.Resampling.LANCZOS), dtype=np.uint8)


# --- the dev datasets ----------------------------------------------------------------

def scene_seed(seed: int, dataset: DevDataset, role: int, index: int) -> int:
    """The integer that names one scene: unique per (dataset, role, index) for a given seed.

    role: 0 = train/A, 1 = train/B, 2 = test/A, 3 = test/B (an A_target reuses its A's scene).
    Showcase scenes take role 2 (showcase/A) or 3 (showcase/B) with indices from 500000 up.
    """
    return ((int(seed) * 16 + dataset.index) * 4 + role) * 1_000_000 + index


def _scene(seed_value: int, size: int) -> np.ndarray:
    return render_scene(np.random.default_rng(seed_value), size)


def _style_for(dataset: DevDataset, index: int) -> str:
    if dataset.style == "mix":
        names = sorted(STYLES)
        # index // 2: test splits alternate public/private by index, so each split gets every style.
        return names[(index // 2) % len(names)]
    return dataset.style


def _stylize(dataset: DevDataset, image: np.ndarray, scene: int, index: int) -> tuple[np.ndarray, str]:
    name = _style_for(dataset, index)
    # The texture seed derives from the scene, so A_target = style(A) exactly.
    return STYLES[name](image, np.random.default_rng([scene, 7])), name


def _build(dataset: DevDataset, root: Path, size: int, count: int, seed: int, bar: tqdm) -> dict:
    n_test = count // 2
    scenes: dict[str, int] = {}
    styles: dict[str, str] = {}

    def emit(rel: str, image: np.ndarray) -> None:
        save_png(root / rel, image)
        bar.update(1)

    for role, folder, n in ((0, "train/A", count), (1, "train/B", count),
                            (2, "test/A", n_test), (3, "test/B", n_test)):
        for i in range(n):
            name = f"{folder}/{i:04d}.png"
            sid = scene_seed(seed, dataset, role, i)
            photo = _scene(sid, size)
            scenes[name] = sid
            if folder.endswith("/B"):
                styled, style = _stylize(dataset, photo, sid, i)
                styles[name] = style
                emit(name, styled)
            else:
                emit(name, photo)
                if dataset.kind == "paired":  # train/A_target: training pairs; test/A_target: held out
                    target = f"{folder}_target/{i:04d}.png"
                    styled, style = _stylize(dataset, photo, sid, i)
                    scenes[target], styles[target] = sid, style
                    emit(target, styled)
    showcase_scenes: dict[str, int] = {}
    showcase_styles: dict[str, str] = {}
    _build_showcase(dataset, root, size, seed, showcase_scenes, showcase_styles, emit)
    return {"generator": GENERATOR, "seed": int(seed), "count": int(count), "style": dataset.style,
            "scenes": scenes, "styles": styles, "showcase_scenes": showcase_scenes,
            "showcase_styles": showcase_styles}


def _build_showcase(dataset: DevDataset, root: Path, size: int, seed: int, scenes: dict, styles: dict,
                    emit) -> None:
    # scenes / styles: receive {showcase path: scene seed / style name}; emit(rel, image) writes a file.
    """showcase/A (and showcase/B on example tracks): fresh scenes, none a near-duplicate of a test image.

    Procedural scenes never repeat, but the check is the same one `data prepare`
    applies, so the promise "no published picture shows a test image" holds by test,
    not by luck: a candidate too close to any test image is replaced by the next scene.
    """
    from .images import load_rgb_uint8

    test_hashes = np.array([crop_hashes(load_rgb_uint8(path))
                            for path in sorted(root.glob("test/*/*.png"))], dtype=np.uint64)
    folders = [(2, "showcase/A")] + ([(3, "showcase/B")] if dataset.kind == "example" else [])
    for role, folder in folders:
        index = _SHOWCASE_INDEX
        for i in range(SHOWCASE_COUNT):
            for _ in range(_SHOWCASE_TRIES):
                sid = scene_seed(seed, dataset, role, index)
                index += 1
                photo = _scene(sid, size)
                image, style = _stylize(dataset, photo, sid, i) if folder.endswith("/B") else (photo, None)
                if not has_near_duplicate(crop_hashes(image), test_hashes, PHASH_MAX_DISTANCE):
                    break
            else:
                raise EaselError("E_DATA_PREPARE", f"no showcase scene for {folder} is unlike every test image",
                                 detail=folder)
            name = f"{folder}/{i:04d}.png"
            scenes[name] = sid
            if style is not None:
                styles[name] = style
            emit(name, image)


def _files_per_dataset(kind: str, count: int) -> int:
    showcase = SHOWCASE_COUNT * (2 if kind == "example" else 1)
    return 2 * count + 2 * (count // 2) + (count + count // 2 if kind == "paired" else 0) + showcase


def synthesize(out_dir: str | Path, size: int = 64, count: int = 120, seed: int = 0,
               datasets: list[str] | None = None) -> list[Path]:
    """Write the dev datasets to ``out_dir/<dataset-id>/`` with their manifests.

    size: image side in pixels; count: train images per domain; test folders
    get count // 2 images each, split public/private by index. Paired datasets
    (dev-sketch) also get train/A_target and test/A_target: the style applied
    to the same-named train/A and test/A photo (train/B stays unpaired). Every
    dataset gets SHOWCASE_COUNT showcase/A images (example datasets also
    showcase/B style images) from scenes of their own. The same
    arguments always give byte-identical files. An existing dataset folder is
    replaced only if ``easel data synth`` made it. Returns the dataset folders.
    """
    if size < 8 or count < 2:
        raise EaselError("E_DATA_PREPARE", f"synth needs size >= 8 and count >= 2, got {size} and {count}",
                         detail="synth")
    ids = list(datasets) if datasets else list(DEV_DATASETS)
    for dataset_id in ids:
        if dataset_id not in DEV_DATASETS:
            raise EaselError("E_DATA_MISSING", f"unknown dev dataset {dataset_id!r}; known: "
                             + ", ".join(DEV_DATASETS), detail="dataset")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for dataset_id in ids:
        _check_replaceable(out_dir / dataset_id)
    total = sum(_files_per_dataset(DEV_DATASETS[d].kind, count) for d in ids)
    made = []
    with tqdm(total=total, desc="synth", unit="img", leave=False) as bar:
        for dataset_id in ids:
            dataset = DEV_DATASETS[dataset_id]
            final = out_dir / dataset_id
            # Build beside the target and swap in, so a crash never leaves a
            # half-written dataset under the real id.
            staging = out_dir / f".{dataset_id}.partial"
            shutil.rmtree(staging, ignore_errors=True)
            source = _build(dataset, staging, size, count, seed, bar)
            write_manifest(staging, dataset.kind, size, source, dataset_id=dataset_id)
            if final.exists():
                retired = out_dir / f".{dataset_id}.old-{time.time_ns()}"
                final.rename(retired)
                staging.rename(final)
                shutil.rmtree(retired, ignore_errors=True)
            else:
                staging.rename(final)
            made.append(final)
    return made


def _check_replaceable(folder: Path) -> None:
    """Refuse to replace a folder that holds anything but an earlier synth output."""
    if not folder.exists():
        return
    if folder.is_dir() and not any(folder.iterdir()):
        return
    manifest = folder / "manifest.json"
    try:
        generator = json.loads(manifest.read_text("utf-8")).get("source", {}).get("generator")
    except (OSError, ValueError, AttributeError):
        generator = None
    if generator != GENERATOR:
        raise EaselError("E_DATA_PREPARE", f"{folder} exists and was not made by `easel data synth`",
                         detail=folder.name)


__all__ = ["DEV_DATASETS", "DevDataset", "render_scene", "scene_seed", "synthesize"]
