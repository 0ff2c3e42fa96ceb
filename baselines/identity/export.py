"""Export the identity baseline (output = the (content) input) for every track.

    python -m baselines.identity.export

Writes ``baselines/identity/<track>/model.keras``: one Activation('linear')
layer. Example tracks get two inputs (content, style); the style is unused.
Nothing is learned, so the files depend only on the track kinds.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `baselines` and `evaluator` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

HERE = Path(__file__).resolve().parent


def identity_model(n_inputs: int = 1):
    """Keras model returning its first input unchanged: float32 [N, H, W, 3] → same."""
    import keras

    names = ("content", "style") if n_inputs == 2 else ("image",)
    inputs = [keras.Input(shape=(None, None, 3), name=name) for name in names]
    output = keras.layers.Activation("linear", name="output")(inputs[0])
    return keras.Model(inputs if n_inputs == 2 else inputs[0], output, name="identity")


def export(competition_path: str | Path | None = None, out: str | Path = HERE) -> list[Path]:
    """Write one model.keras per track of the competition; returns the paths."""
    from evaluator.config import default_competition_path, load_competition
    from evaluator.submission import n_model_inputs

    competition = load_competition(competition_path or default_competition_path())
    written = []
    for track in competition.tracks:
        path = Path(out) / track.id / "model.keras"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(".model.tmp.keras")
        identity_model(n_model_inputs(track.kind)).save(tmp)
        os.replace(tmp, path)
        written.append(path)
        print(f"identity: {track.id}: exported {path}")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m baselines.identity.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--competition", default=None, help="competition.yaml (default: the repository's)")
    parser.add_argument("--out", default=str(HERE))
    args = parser.parse_args(argv)
    export(args.competition, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
