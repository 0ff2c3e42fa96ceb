"""Train pix2pix (Isola et al. 2017) on a paired Easel dataset and export the generator.

    python -m baselines.pix2pix.train --data DATA_ROOT --out runs/pix2pix --export

Training pairs are train/A/<name> → train/A_target/<name>. Objective (paper eq. 4):

    G* = arg min_G max_D  L_cGAN(G, D) + λ·L_L1(G),  λ = 100
    L_cGAN: D sees (input, image) pairs; cross-entropy, real → 1, G(x) → 0;
            G is trained to maximize log D(x, G(x)) (the non-saturating form)
    L_L1:   |y − G(x)|₁
    D's loss is halved; Adam(2e-4, β1 = 0.5); the learning rate decays
    linearly to 0 over the second half of training, as for CycleGAN.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `baselines` and `evaluator` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from baselines.common import training
from baselines.common.data import StepBatcher, load_paired_train
from baselines.common.networks import patchgan_discriminator
from baselines.pix2pix.model import unet_generator

EXPORT_TO = Path(__file__).resolve().parent / "photo2sketch" / "model.keras"
DEFAULTS = dict(dataset="dev-sketch", batch_size=1, ngf=16, steps=8000, sample_every=1000, flip=False)
N_DOWN = 5
LAMBDA_L1 = 100.0
N_SAMPLES = 6


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m baselines.pix2pix.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    training.add_common_flags(parser, export_to=EXPORT_TO, **DEFAULTS)
    parser.add_argument("--n-down", type=int, default=N_DOWN,
                        help="U-Net levels; image sides must be multiples of 2**n_down (default %(default)s)")
    parser.add_argument("--lambda-l1", type=float, default=LAMBDA_L1)
    parser.add_argument("--dropout", type=float, default=0.5)
    return parser


def bce(logits, target_value: float):
    """Sigmoid cross-entropy of patch logits against a constant label."""
    import tensorflow as tf

    labels = tf.fill(tf.shape(logits), tf.constant(target_value, logits.dtype))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


class Pix2Pix:
    """Generator, conditional PatchGAN and their optimizers. Build inside ``strategy.scope()``.

    Images: float32 [batch, H, W, 3] in [-1, 1].
    """

    def __init__(self, ngf: int, n_down: int, dropout: float, ndf: int, d_layers: int, lr: float,
                 beta1: float, policy: str, lambda_l1: float = LAMBDA_L1, replicas: int = 1):
        self.G = unet_generator(ngf, n_down, dropout, name="G")
        self.D = patchgan_discriminator(6, ndf, d_layers, name="D")  # sees input ⊕ image
        self.opt_G = training.make_adam(lr, beta1, policy)
        self.opt_D = training.make_adam(lr, beta1, policy)
        self.opt_G.build(self.G.trainable_variables)
        self.opt_D.build(self.D.trainable_variables)
        self.lambda_l1, self.replicas = lambda_l1, replicas

    def trackables(self) -> dict:
        return {"G": self.G, "D": self.D, "opt_G": self.opt_G, "opt_D": self.opt_D}

    def train_step(self, x, y):
        """One step on a per-replica batch (input x, target y): update D and G on the same G(x)."""
        import tensorflow as tf

        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = self.G(x, training=True)
            d_real = self.D(tf.concat([x, y], axis=-1), training=True)
            d_fake = self.D(tf.concat([x, tf.cast(fake, x.dtype)], axis=-1), training=True)

            g_gan = bce(d_fake, 1.0)
            g_l1 = tf.reduce_mean(tf.abs(y - fake))
            g_total = g_gan + self.lambda_l1 * g_l1
            d_total = 0.5 * (bce(d_real, 1.0) + bce(d_fake, 0.0))
            # Per-replica mean; the optimizers sum gradients over replicas.
            g_scaled = self.opt_G.scale_loss(g_total / self.replicas)
            d_scaled = self.opt_D.scale_loss(d_total / self.replicas)
        g_grads = g_tape.gradient(g_scaled, self.G.trainable_variables)
        d_grads = d_tape.gradient(d_scaled, self.D.trainable_variables)
        self.opt_G.apply_gradients(zip(g_grads, self.G.trainable_variables))
        self.opt_D.apply_gradients(zip(d_grads, self.D.trainable_variables))
        return {"G/gan": g_gan, "G/l1": g_l1, "G/total": g_total, "D/total": d_total}


class Trainer:
    """Runs Pix2Pix.train_step under a strategy with the learning-rate schedule."""

    def __init__(self, strategy, model: Pix2Pix):
        import tensorflow as tf

        self.strategy, self.model = strategy, model
        self._step = tf.function(self._distributed_step, reduce_retracing=True)

    def _distributed_step(self, x, y):
        import tensorflow as tf

        losses = self.strategy.run(self.model.train_step, args=(x, y))
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in losses.items()}

    def step(self, batch: tuple[np.ndarray, np.ndarray], lr: float) -> dict[str, float]:
        self.model.opt_G.learning_rate.assign(lr)
        self.model.opt_D.learning_rate.assign(lr)
        out = {k: float(v) for k, v in self._step(*training.distribute(self.strategy, batch)).items()}
        out["lr"] = lr
        return out


def build(args: argparse.Namespace, strategy, policy: str) -> Pix2Pix:
    with strategy.scope():
        return Pix2Pix(args.ngf, args.n_down, args.dropout, args.ndf, args.d_layers, args.lr, args.beta1,
                       policy, args.lambda_l1, strategy.num_replicas_in_sync)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    training.refuse_mixed_runs(args.out, args.resume)
    strategy, policy = training.configure(args.seed, args.precision, not args.no_determinism, args.cpu_replicas)
    if args.batch_size % strategy.num_replicas_in_sync:
        raise SystemExit(f"--batch-size {args.batch_size} must be a multiple of the "
                         f"{strategy.num_replicas_in_sync} replicas")
    x, y = load_paired_train(args.data, args.dataset, args.image_size)
    if x.shape[1] % 2 ** args.n_down or x.shape[2] % 2 ** args.n_down:
        raise SystemExit(f"image size {x.shape[1]}x{x.shape[2]} is not a multiple of 2**{args.n_down}; "
                         "pass --n-down or --image-size")
    total = training.total_steps(args, len(x), DEFAULTS["steps"])
    batcher = StepBatcher((x, y), args.batch_size, args.seed, paired=True, flip=args.flip)
    model = build(args, strategy, policy)
    run = training.open_run(args.out, args, args.resume, **model.trackables())
    trainer = Trainer(strategy, model)
    fixed_x, fixed_y = x[:N_SAMPLES], y[:N_SAMPLES]

    def sample(step: int) -> None:
        training.save_sample_grid(Path(args.out) / "samples" / f"step_{step:06d}.png",
                                  [("input", fixed_x), ("G(x)", model.G(fixed_x, training=False)),
                                   ("target", fixed_y)])

    started = time.monotonic()
    losses = training.train_loop(
        run, total=total, stop_after=args.stop_after, desc="pix2pix",
        step_fn=lambda step: trainer.step(batcher.batch_at(step), training.linear_decay(step, total, args.lr)),
        sample_fn=sample, sample_every=args.sample_every, checkpoint_every=args.checkpoint_every)
    training.finish("pix2pix", run, total, losses, started, args.export,
                    lambda: unet_generator(args.ngf, args.n_down, args.dropout, name="generator"), model.G)
    return 0


if __name__ == "__main__":
    sys.exit(main())
