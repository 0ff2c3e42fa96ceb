"""Training data for the baselines: read a dataset root, serve deterministic batches.

A batch is a pure function of (seed, step): epoch e uses the permutation
``default_rng([seed, stream, e])`` and each image's flip comes from the same
kind of seed. So a resumed run sees exactly the batches an uninterrupted run
would have seen, with no iterator state to checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluator.errors import EaselError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def dataset_dir(data_root: str | Path, dataset_id: str) -> Path:
    """``DATA_ROOT/<dataset_id>``, refusing a missing folder with E_DATA_MISSING."""
    path = Path(data_root) / dataset_id
    if not path.is_dir():
        raise EaselError("E_DATA_MISSING", f"no dataset folder {path}", detail=dataset_id)
    return path


def image_files(folder: Path) -> list[Path]:
    """The image files of one folder (e.g. train/A), sorted by name (the dataset's own order)."""
    if not folder.is_dir():
        raise EaselError("E_DATA_MISSING", f"no folder {folder}", detail=folder.name)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise EaselError("E_DATA_MISSING", f"no images in {folder}", detail=folder.name)
    return files


def load_images(files: list[Path], size: int | None = None) -> np.ndarray:
    """Read images as the model sees them: float32 [n, H, W, 3] in [-1, 1].

    ``size`` resizes (antialiased) to size x size when the files differ from it.
    """
    from evaluator.data.images import load_rgb_uint8, to_model_range

    arrays = []
    for path in files:
        rgb = load_rgb_uint8(path)
        if size is not None and rgb.shape[:2] != (size, size):
            from PIL import Image

            rgb = np.asarray(Image.fromarray(rgb).resize((size, size), Image.Resampling.LANCZOS))
        arrays.append(to_model_range(rgb))
    return np.stack(arrays).astype(np.float32)


def load_domain(data_root: str | Path, dataset_id: str, part: str, domain: str,
               size: int | None = None, limit: int | None = None) -> np.ndarray:
    """``DATA_ROOT/<dataset_id>/<part>/<domain>/*`` as float32 [n, H, W, 3] in [-1, 1].

    ``part`` is "train" or "test" (a "split" in Easel means public/private test halves).
    """
    files = image_files(dataset_dir(data_root, dataset_id) / part / domain)
    return load_images(files[:limit] if limit else files, size)


def load_paired_train(data_root: str | Path, dataset_id: str, size: int | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Aligned training pairs of a paired dataset: train/A/x.png pairs with train/A_target/x.png.

    (train/B of a paired dataset is unpaired target-style images, as for every track kind.)
    Returns (inputs, targets), both float32 [n, H, W, 3] in [-1, 1].
    """
    root = dataset_dir(data_root, dataset_id) / "train"
    a_files = {p.name: p for p in image_files(root / "A")}
    t_files = {p.name: p for p in image_files(root / "A_target")} if (root / "A_target").is_dir() else {}
    names = sorted(a_files.keys() & t_files.keys())
    if not names:
        raise EaselError("E_DATA_MISSING", f"{root}: no training pairs (train/A_target is missing or "
                         "shares no file names with train/A)", detail=dataset_id)
    return (load_images([a_files[n] for n in names], size),
            load_images([t_files[n] for n in names], size))


def _epoch_order(n: int, seed: int, stream: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, stream, epoch]).permutation(n)


def _indices_at(n: int, batch_size: int, seed: int, stream: int, step: int) -> np.ndarray:
    """Indices of the batch at ``step``: consecutive slices of per-epoch permutations."""
    flat = np.arange(step * batch_size, (step + 1) * batch_size)
    epochs, offsets = np.divmod(flat, n)
    return np.array([_epoch_order(n, seed, stream, int(e))[o] for e, o in zip(epochs, offsets)])


def _flips_at(batch_size: int, seed: int, stream: int, step: int) -> np.ndarray:
    return np.random.default_rng([seed, stream, 1_000_003, step]).random(batch_size) < 0.5


@dataclass
class StepBatcher:
    """Deterministic batches by step number, with random horizontal flips.

    ``paired``: the same indices and flips for every array (pix2pix pairs);
    otherwise each array gets its own order (CycleGAN's unpaired domains).
    Arrays: float32 [n_i, H, W, 3]; ``batch_at`` returns a tuple of [batch_size, H, W, 3].
    """

    arrays: tuple[np.ndarray, ...]
    batch_size: int
    seed: int
    paired: bool
    flip: bool = True

    def batch_at(self, step: int) -> tuple[np.ndarray, ...]:
        out = []
        for stream, array in enumerate(self.arrays):
            key = 0 if self.paired else stream
            batch = array[_indices_at(len(array), self.batch_size, self.seed, key, step)]
            if self.flip:
                flips = _flips_at(self.batch_size, self.seed, key, step)
                batch = np.where(flips[:, None, None, None], batch[:, :, ::-1], batch)
            out.append(np.ascontiguousarray(batch, dtype=np.float32))
        return tuple(out)

    def steps_per_epoch(self) -> int:
        return max(1, max(len(a) for a in self.arrays) // self.batch_size)
