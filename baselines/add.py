"""Put the baselines on a track: create their submission folders, train or fit those that learn, score them.

    easel baselines add TRACK --data DATA_ROOT [--quick | --steps N] [--force]

The track must be in competition.yaml. For its kind, the baselines are:

| kind | baselines |
| --- | --- |
| unpaired | identity, color_transfer (fitted), cyclegan (trained) |
| paired | identity, color_transfer (fitted), pix2pix (trained) |
| example | identity, color_transfer (per style image), adain (trained) |

Each goes to ``baselines/<model>/<TRACK>/`` (``submission.yaml`` with ``team: baseline``,
``baseline: true``, and the model), trained by the same scripts and recipes as the
committed ones (baselines/README.md: the recipes' steps and wall times), on the track's
dataset at its image size. ``--quick`` trains tiny networks for a few steps (for tests
and a first look: the numbers mean nothing); ``--steps N`` keeps the recipe and changes
only its length. Then every new folder is evaluated on the public split like any
submission, each result written to ``--results`` and one line per baseline printed.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent

# Tiny networks for a few steps: what the tests' own training runs use.
QUICK = {
    "cyclegan": ["--steps", "4", "--n-blocks", "1", "--ngf", "4", "--ndf", "4", "--d-layers", "1",
                 "--batch-size", "2", "--sample-every", "2", "--checkpoint-every", "100"],
    "pix2pix": ["--steps", "4", "--n-down", "3", "--ngf", "4", "--ndf", "4", "--d-layers", "1",
                "--batch-size", "2", "--sample-every", "2", "--checkpoint-every", "100"],
    "adain": ["--steps", "4", "--pretrain-steps", "2", "--ngf", "4", "--batch-size", "2",
              "--sample-every", "2", "--checkpoint-every", "100"],
}


@dataclass(frozen=True)
class Baseline:
    """One reference model: the track kinds it serves, how its folder's model is made, its public metadata."""

    name: str
    kinds: tuple[str, ...]
    model_format: str        # keras | saved_model
    model_path: str          # inside the submission folder
    description: str
    links: dict


BASELINES = (
    Baseline("identity", ("unpaired", "paired", "example"), "keras", "model.keras",
             "Returns its (content) input unchanged: the floor every track reports.", {}),
    Baseline("color_transfer", ("unpaired", "paired", "example"), "saved_model", "model",
             "Reinhard et al. (2001) colour transfer in l-alpha-beta space: each image takes the lab mean and "
             "standard deviation of the training target domain (or, on example tracks, of the given style "
             "image). Classical, not learned; fitted by baselines/color_transfer/fit.py.",
             {"paper": "https://doi.org/10.1109/38.946629"}),
    Baseline("cyclegan", ("unpaired",), "keras", "model.keras",
             "CycleGAN (Zhu et al. 2017): ResNet generator, PatchGAN, least-squares GAN, cycle and identity "
             "losses, image pool of 50, linear learning-rate decay; trained by baselines/cyclegan/train.py.",
             {"paper": "https://arxiv.org/abs/1703.10593"}),
    Baseline("pix2pix", ("paired",), "keras", "model.keras",
             "pix2pix (Isola et al. 2017): U-Net generator, conditional PatchGAN, adversarial + 100 x L1 loss; "
             "trained by baselines/pix2pix/train.py.", {"paper": "https://arxiv.org/abs/1611.07004"}),
    Baseline("adain", ("example",), "keras", "model.keras",
             "AdaIN arbitrary style transfer (Huang and Belongie 2017): encoder, adaptive instance normalization "
             "of the content features to the style image's statistics, decoder; encoder trained from scratch, "
             "then frozen as the loss network. Trained by baselines/adain/train.py.",
             {"paper": "https://arxiv.org/abs/1703.06868"}),
)


def baselines_for(kind: str) -> list[Baseline]:
    """The baselines a track of ``kind`` gets, in the order they are made and listed."""
    return [b for b in BASELINES if kind in b.kinds]


def _train(name: str) -> Callable[[list[str]], int]:
    if name == "cyclegan":
        from baselines.cyclegan.train import main
    elif name == "pix2pix":
        from baselines.pix2pix.train import main
    else:
        from baselines.adain.train import main
    return main


def make_model(baseline: Baseline, track, data_root: Path, folder: Path, runs: Path, quick: bool,
               steps: int | None) -> tuple[str, str]:
    """Write ``baseline``'s model for ``track`` into ``folder``; returns (what was done, for the log;
    the sentence submission.yaml's description adds about it)."""
    if baseline.name == "identity":
        from baselines.identity.export import identity_model
        from evaluator.submission import n_model_inputs

        identity_model(n_model_inputs(track.kind)).save(folder / baseline.model_path)
        return "exported (nothing to learn)", ""
    if baseline.name == "color_transfer":
        from baselines.color_transfer.fit import fit_track, record_stats

        stats = fit_track(track, data_root, folder / baseline.model_path)
        record_stats(folder.parent / "stats.json", {track.id: stats})  # baselines/color_transfer/stats.json
        if track.kind == "example":
            return "exported (fits each style image)", ""
        return "fitted on train/B", f" Fitted to dataset {track.dataset} (train/B)."
    run = runs / track.id / baseline.name
    if run.exists():
        shutil.rmtree(run)  # a fresh run each time: the training scripts refuse to mix runs
    argv = ["--data", str(data_root), "--dataset", track.dataset, "--out", str(run),
            "--image-size", str(track.image_size), "--export", str(folder / baseline.model_path)]
    if quick:
        argv += QUICK[baseline.name]
    elif steps is not None:
        argv += ["--steps", str(steps)]
    code = _train(baseline.name)(argv)
    if code != 0 or not (folder / baseline.model_path).is_file():
        from evaluator.errors import EaselError

        raise EaselError("E_INTERNAL", f"training {baseline.name} for {track.id} did not export a model",
                         detail=baseline.name)
    length = ("quick mode: tiny networks for a few steps, not a real baseline" if quick
              else f"the committed recipe for {steps} steps" if steps is not None
              else "the committed recipe (baselines/README.md)")
    return f"trained, {length}; run folder {run}", f" Trained on dataset {track.dataset} with {length}."


def write_meta(baseline: Baseline, track, folder: Path, note: str) -> None:
    """submission.yaml of a baseline folder (the same schema as a participant's)."""
    import yaml

    from evaluator.fsutil import atomic_write_text

    doc = {"team": "baseline", "name": baseline.name, "track": track.id, "baseline": True,
           "authors": ["Easel maintainers"], "description": baseline.description + note, "license": "Apache-2.0",
           **({"links": baseline.links} if baseline.links else {}),
           "model": {"format": baseline.model_format, "path": baseline.model_path}}
    header = "# A baseline: scored and listed like any submission, marked as a baseline.\n"
    atomic_write_text(folder / "submission.yaml", header + yaml.safe_dump(doc, sort_keys=False, width=100))


def add_baselines(track_id: str, data_root: str | Path, competition, baselines_dir: str | Path = HERE,
                  runs: str | Path = "runs/baselines", results: str | Path | None = None, quick: bool = False,
                  steps: int | None = None, force: bool = False, score: bool = True) -> list[tuple[Path, object]]:
    """Create, train or fit, and score the baselines of ``track_id`` (a track of ``competition``).

    Returns [(folder, Result | None)] in :func:`baselines_for` order (None when ``score`` is False).
    A folder that exists is refused (E_BASELINE_EXISTS) unless ``force``; each folder is built
    beside its place and renamed into it, so a failed training leaves no half folder.
    """
    from evaluator.errors import ConfigError, EaselError

    track = next((t for t in competition.tracks if t.id == track_id), None)
    if track is None:
        raise ConfigError(f"competition.yaml has no track {track_id!r}; its tracks are: "
                          f"{', '.join(t.id for t in competition.tracks)}. Add the track there first.")
    data_root, baselines_dir, runs = Path(data_root), Path(baselines_dir), Path(runs)
    chosen = baselines_for(track.kind)
    existing = [b.name for b in chosen if (baselines_dir / b.name / track.id).exists()]
    if existing and not force:
        raise EaselError("E_BASELINE_EXISTS", f"baselines/{existing[0]}/{track.id}/ already exists",
                         detail=f"{existing[0]}/{track.id}")
    made = []
    for number, baseline in enumerate(chosen, start=1):
        folder = baselines_dir / baseline.name / track.id
        staging = folder.with_name(f".{track.id}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        print(f"[{number}/{len(chosen)}] {baseline.name} on {track.id} ({track.kind}, dataset {track.dataset})",
              flush=True)
        try:
            how, note = make_model(baseline, track, data_root, staging, runs, quick, steps)
            write_meta(baseline, track, staging, note)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
        print(f"    {folder}: {how}", flush=True)
        made.append(folder)
    if not score:
        return [(folder, None) for folder in made]
    return [(folder, score_folder(folder, track, data_root, competition, results)) for folder in made]


def score_folder(folder: Path, track, data_root: Path, competition, results: str | Path | None):
    """Evaluate one baseline folder on the public split; writes ``<results>/<track>/<model>.json``."""
    from evaluator.evaluate import evaluate_submission, summary_line
    from evaluator.fsutil import atomic_write_json

    result = evaluate_submission(folder, data_root, competition, split="public")
    if results is not None:
        atomic_write_json(Path(results) / track.id / f"{folder.parent.name}.json", result.to_json())
    print(summary_line(result), flush=True)
    return result
