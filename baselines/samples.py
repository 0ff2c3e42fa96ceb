"""Write baselines/<model>/samples.png: what each committed baseline does to the dev showcase images.

    python -m baselines.samples --data DATA_ROOT

For every baseline model and each of its tracks, the grid has the columns
input | (style, on example tracks) | output | ideal, on the dataset's showcase
images (never a test split: the only images Easel publishes). "ideal" is the
dev style function applied to the input, the oracle of `make demo`. The first
``--n`` showcase images are used, so the grids are reproducible from the dev data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `baselines` and `evaluator` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

HERE = Path(__file__).resolve().parent


def load_callable(fmt: str, path: Path):
    """Our own committed models (trusted): a function list[float32 [n, H, W, 3]] → float32 [n, H, W, 3]."""
    if fmt == "keras":
        import keras

        model = keras.saving.load_model(path, safe_mode=True, compile=False)
        return lambda inputs: np.asarray(model(inputs if len(inputs) > 1 else inputs[0], training=False))
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    names = sorted(serve.structured_input_signature[1])
    order = ["content", "style"] if len(names) == 2 else names

    def call(inputs):
        out = serve(**{name: tf.constant(x) for name, x in zip(order, inputs)})
        return next(iter(out.values())).numpy()
    return call


def model_grid(model_dir: Path, data_root: Path, competition, n: int) -> list[tuple[str, np.ndarray]]:
    """Columns (title, float [n, H, W, 3] in [-1, 1]) for every track directory of one baseline model."""
    from evaluator.data.images import to_model_range
    from evaluator.data.manifest import open_dataset
    from evaluator.evaluate import test_set
    from evaluator.fsutil import load_yaml_file
    from evaluator.gallery import showcase_columns
    from evaluator.oracle import StyleOracle

    columns = []
    for sub in sorted(p.parent for p in model_dir.glob("*/submission.yaml")):
        meta = load_yaml_file(sub / "submission.yaml")
        track = competition.track(meta["track"])
        data_dir, manifest = open_dataset(data_root, track.dataset)
        shown = [(title, to_model_range(images[:n])) for title, images in showcase_columns(data_dir, manifest, track)]
        inputs = [images for _, images in shown]
        oracle = StyleOracle(data_dir, manifest, test_set(manifest, track, "public"), track)
        y = load_callable(meta["model"]["format"], sub / meta["model"]["path"])(inputs)
        columns += [(track.id, shown[0][1]), *shown[1:], ("output", y), ("ideal", oracle.predict(inputs))]
    return columns


def main(argv: list[str] | None = None) -> int:
    from baselines.common.training import save_sample_grid
    from evaluator.config import default_competition_path, load_competition

    parser = argparse.ArgumentParser(prog="python -m baselines.samples", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="dataset root of the dev data")
    parser.add_argument("--competition", default=None)
    parser.add_argument("--n", type=int, default=5, help="images per column (default %(default)s)")
    parser.add_argument("--model", action="append", help="only these baselines (repeatable)")
    args = parser.parse_args(argv)
    competition = load_competition(args.competition or default_competition_path())
    for model_dir in sorted(p for p in HERE.iterdir() if p.is_dir() and any(p.glob("*/submission.yaml"))):
        if args.model and model_dir.name not in args.model:
            continue
        path = save_sample_grid(model_dir / "samples.png", model_grid(model_dir, Path(args.data), competition, args.n),
                                scale=1)
        print(f"samples: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
