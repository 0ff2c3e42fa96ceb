"""Write baselines/<model>/samples.png: what each committed baseline does to held-out dev images.

    python -m baselines.samples --data DATA_ROOT

For every baseline model and each of its tracks, the grid has the columns
input | output | target (paired tracks: test/A_target) or style (example
tracks: test/B, given as the style input). The first ``--n`` public test
images are used, so the grids are reproducible from the dev data.
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
    """Columns (title, float [n, H, W, 3]) for every track directory of one baseline model."""
    from baselines.common.data import load_split
    from evaluator.fsutil import load_yaml_file

    columns = []
    for sub in sorted(p.parent for p in model_dir.glob("*/submission.yaml")):
        meta = load_yaml_file(sub / "submission.yaml")
        track = competition.track(meta["track"])
        x = load_split(data_root, track.dataset, "test", "A", track.image_size, limit=n)
        inputs = [x]
        extra = []
        if track.kind == "example":
            style = load_split(data_root, track.dataset, "test", "B", track.image_size, limit=n)
            inputs.append(style)
            extra = [("style", style)]
        elif track.kind == "paired":
            extra = [("target", load_split(data_root, track.dataset, "test", "A_target", track.image_size, limit=n))]
        y = load_callable(meta["model"]["format"], sub / meta["model"]["path"])(inputs)
        columns += [(f"{track.id}", x), ("output", y), *extra]
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
