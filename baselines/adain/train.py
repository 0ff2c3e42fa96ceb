"""Train AdaIN (Huang & Belongie 2017) on an example-track Easel dataset and export the stylizer.

    python -m baselines.adain.train --data DATA_ROOT --out runs/adain --export

Content images are train/A, style images train/B. The paper's encoder is a
fixed ImageNet VGG-19; with no pretrained network available offline, training
has two phases, both from scratch on the dev data:

    1. steps < --pretrain-steps: E and D learn to reconstruct train/A ∪ train/B,
       L_rec = |D(E(x)) − x|₁, so E's features describe these images.
    2. then E is frozen (it is the loss network, as VGG is in the paper) and only
       D learns, with t = AdaIN(E(c), E(s)) and g = D(t):
       L = L_c + λ·L_s,  L_c = ‖E(g) − t‖²,
       L_s = Σ_levels ‖μ(φ_i(g)) − μ(φ_i(s))‖² + ‖σ(φ_i(g)) − σ(φ_i(s))‖²  (paper eq. 11-12)

Adam(1e-4) as in the paper; batch 8.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `baselines` and `evaluator` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from baselines.adain.model import decoder, encoder, moments, adain, stylizer
from baselines.common import training
from baselines.common.data import StepBatcher, load_domain

EXPORT_TO = Path(__file__).resolve().parent / "anystyle" / "model.keras"
DEFAULTS = dict(dataset="dev-styles", batch_size=8, ngf=32, steps=5000, sample_every=500)
PRETRAIN_STEPS = 1500
LAMBDA_STYLE = 10.0
N_SAMPLES = 6


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m baselines.adain.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    training.add_common_flags(parser, export_to=EXPORT_TO, **DEFAULTS)
    parser.set_defaults(lr=1e-4)
    parser.add_argument("--pretrain-steps", type=int, default=PRETRAIN_STEPS,
                        help="phase 1 (autoencoder) steps before E is frozen (default %(default)s)")
    parser.add_argument("--lambda-style", type=float, default=LAMBDA_STYLE,
                        help="style loss weight λ (default %(default)s)")
    return parser


def _mse(a, b):
    import tensorflow as tf

    return tf.reduce_mean(tf.square(tf.cast(a, tf.float32) - tf.cast(b, tf.float32)))


class AdaIN:
    """Encoder, decoder and one optimizer per phase. Images float32 [batch, H, W, 3] in [-1, 1]."""

    def __init__(self, width: int, lr: float, beta1: float, policy: str, lambda_style: float, replicas: int = 1):
        self.E, self.D = encoder(width, name="E"), decoder(width, name="D")
        self.opt_rec = training.make_adam(lr, beta1, policy)
        self.opt_style = training.make_adam(lr, beta1, policy)
        self.opt_rec.build(self.E.trainable_variables + self.D.trainable_variables)
        self.opt_style.build(self.D.trainable_variables)
        self.lambda_style, self.replicas = lambda_style, replicas

    def trackables(self) -> dict:
        return {"E": self.E, "D": self.D, "opt_rec": self.opt_rec, "opt_style": self.opt_style}

    def reconstruction_step(self, content, style):
        """Phase 1: update E and D on L1 reconstruction of both domains."""
        import tensorflow as tf

        images = tf.concat([content, style], axis=0)
        variables = self.E.trainable_variables + self.D.trainable_variables
        with tf.GradientTape() as tape:
            rec = tf.reduce_mean(tf.abs(self.D(self.E(images)[-1], training=True) - images))
            scaled = self.opt_rec.scale_loss(rec / self.replicas)
        self.opt_rec.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        return {"G/rec": rec}

    def style_step(self, content, style):
        """Phase 2: update D on L_c + λ·L_s with E frozen."""
        import tensorflow as tf

        style_feats = self.E(style)
        target = adain(self.E(content)[-1], style_feats[-1])
        with tf.GradientTape() as tape:
            out_feats = self.E(self.D(target, training=True))
            content_loss = _mse(out_feats[-1], target)
            style_loss = 0.0
            for g, s in zip(out_feats, style_feats):
                (g_mean, g_std), (s_mean, s_std) = moments(g), moments(s)
                style_loss += _mse(g_mean, s_mean) + _mse(g_std, s_std)
            total = content_loss + self.lambda_style * style_loss
            scaled = self.opt_style.scale_loss(total / self.replicas)
        variables = self.D.trainable_variables
        self.opt_style.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        return {"G/content": content_loss, "G/style": style_loss, "G/total": total}


class Trainer:
    """Runs the phase the step number calls for, under a strategy."""

    def __init__(self, strategy, model: AdaIN, pretrain_steps: int):
        import tensorflow as tf

        self.strategy, self.model, self.pretrain_steps = strategy, model, pretrain_steps
        self._rec = tf.function(lambda c, s: self._run(model.reconstruction_step, c, s), reduce_retracing=True)
        self._style = tf.function(lambda c, s: self._run(model.style_step, c, s), reduce_retracing=True)

    def _run(self, fn, content, style):
        import tensorflow as tf

        losses = self.strategy.run(fn, args=(content, style))
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in losses.items()}

    def step(self, step: int, batch: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
        phase = self._rec if step < self.pretrain_steps else self._style
        return {k: float(v) for k, v in phase(*training.distribute(self.strategy, batch)).items()}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    training.refuse_mixed_runs(args.out, args.resume)
    strategy, policy = training.configure(args.seed, args.precision, not args.no_determinism, args.cpu_replicas)
    if args.batch_size % strategy.num_replicas_in_sync:
        raise SystemExit(f"--batch-size {args.batch_size} must be a multiple of the "
                         f"{strategy.num_replicas_in_sync} replicas")
    content = load_domain(args.data, args.dataset, "train", "A", args.image_size)
    style = load_domain(args.data, args.dataset, "train", "B", args.image_size)
    if content.shape[1] % 4 or content.shape[2] % 4:
        raise SystemExit(f"image size {content.shape[1]}x{content.shape[2]} is not a multiple of 4; "
                         "pass --image-size")
    total = training.total_steps(args, max(len(content), len(style)), DEFAULTS["steps"])
    batcher = StepBatcher((content, style), args.batch_size, args.seed, paired=False, flip=args.flip)
    with strategy.scope():
        model = AdaIN(args.ngf, args.lr, args.beta1, policy, args.lambda_style, strategy.num_replicas_in_sync)
    run = training.open_run(args.out, args, args.resume, **model.trackables())
    trainer = Trainer(strategy, model, args.pretrain_steps)
    generator = stylizer(model.E, model.D)
    fixed_c, fixed_s = content[:N_SAMPLES], style[::max(1, len(style) // N_SAMPLES)][:N_SAMPLES]

    def sample(step: int) -> None:
        training.save_sample_grid(Path(args.out) / "samples" / f"step_{step:06d}.png",
                                  [("content", fixed_c), ("style", fixed_s),
                                   ("output", generator([fixed_c, fixed_s], training=False))])

    started = time.monotonic()
    losses = training.train_loop(
        run, total=total, stop_after=args.stop_after, desc="adain",
        step_fn=lambda step: trainer.step(step, batcher.batch_at(step)),
        sample_fn=sample, sample_every=args.sample_every, checkpoint_every=args.checkpoint_every)
    training.finish("adain", run, total, losses, started, args.export,
                    lambda: stylizer(encoder(args.ngf), decoder(args.ngf)), generator)
    return 0


if __name__ == "__main__":
    sys.exit(main())
