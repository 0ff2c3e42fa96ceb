"""Train CycleGAN (Zhu et al. 2017) on an unpaired Easel dataset and export the A→B generator.

    python -m baselines.cyclegan.train --data DATA_ROOT --out runs/cyclegan --export

Notation follows the paper: X = domain A (photos), Y = domain B (the style).
G: X→Y is the submitted generator, F: Y→X its inverse, D_Y tells real y from
G(x), D_X tells real x from F(y). Losses (paper eq. 1-3 and section 7.1):

    L_GAN  least squares: D pushes D(real)→1 and D(fake)→0; G pushes D(fake)→1
    L_cyc  λ·(|F(G(x)) − x|₁ + |G(F(y)) − y|₁),  λ = 10
    L_idt  0.5·λ·(|G(y) − y|₁ + |F(x) − x|₁)
    D is trained on a history of 50 generated images (Shrivastava et al. 2017),
    with its loss halved; Adam(2e-4, β1 = 0.5); the learning rate stays
    constant for the first half of training and decays linearly to 0.
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
from baselines.common.data import StepBatcher, load_domain
from baselines.common.networks import patchgan_discriminator
from baselines.cyclegan.model import resnet_generator

EXPORT_TO = Path(__file__).resolve().parent / "photo2ink" / "model.keras"
DEFAULTS = dict(dataset="dev-ink", batch_size=1, ngf=16, steps=12000, sample_every=1000)
N_BLOCKS = 6
LAMBDA_CYCLE = 10.0
LAMBDA_IDENTITY = 0.5  # times LAMBDA_CYCLE
POOL_SIZE = 50
N_SAMPLES = 6


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m baselines.cyclegan.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    training.add_common_flags(parser, export_to=EXPORT_TO, **DEFAULTS)
    parser.add_argument("--n-blocks", type=int, default=N_BLOCKS, help="residual blocks (default %(default)s)")
    parser.add_argument("--lambda-cycle", type=float, default=LAMBDA_CYCLE)
    parser.add_argument("--lambda-identity", type=float, default=LAMBDA_IDENTITY,
                        help="identity loss weight as a fraction of --lambda-cycle (default %(default)s)")
    parser.add_argument("--pool-size", type=int, default=POOL_SIZE)
    return parser


class ImagePool:
    """History of generated images for the discriminators (Shrivastava et al. 2017).

    Until full, every new image is stored and returned. Then each new image is,
    with probability 1/2, swapped for a random stored one (which is returned)
    or returned as is. The buffer and its random generator are TensorFlow
    state, so a checkpoint captures them and resumed runs draw the same numbers.
    """

    def __init__(self, size: int, image_shape: tuple[int, int, int], seed: int):
        import tensorflow as tf

        self.size = size
        self.images = tf.Variable(tf.zeros((max(size, 1), *image_shape)), trainable=False, name="pool")
        self.count = tf.Variable(0, dtype=tf.int64, trainable=False, name="pool_count")
        self.rng = tf.random.Generator.from_seed(seed)

    def trackables(self) -> dict:
        return {"images": self.images, "count": self.count, "rng": self.rng}

    def query(self, batch: np.ndarray) -> np.ndarray:
        """batch: float32 [n, H, W, 3] of fresh fakes → [n, H, W, 3] drawn from the history."""
        if self.size == 0:
            return batch
        stored, count = self.images.numpy(), int(self.count.numpy())
        out = []
        for image in batch:
            if count < self.size:
                stored[count] = image
                count += 1
                out.append(image)
                continue
            swap, where = self.rng.uniform([2]).numpy()
            if swap < 0.5:
                index = min(int(where * self.size), self.size - 1)
                out.append(stored[index].copy())
                stored[index] = image
            else:
                out.append(image)
        self.images.assign(stored)
        self.count.assign(count)
        return np.stack(out)


def mse(prediction, target_value: float):
    """Least-squares GAN loss: mean (D(·) − target)² over patches and batch."""
    import tensorflow as tf

    return tf.reduce_mean(tf.square(prediction - target_value))


def l1(a, b):
    import tensorflow as tf

    return tf.reduce_mean(tf.abs(a - b))


class CycleGAN:
    """The four networks, two optimizers and the two halves of one training step.

    Images: float32 [batch, H, W, 3] in [-1, 1]. Build inside ``strategy.scope()``.
    """

    def __init__(self, ngf: int, n_blocks: int, ndf: int, d_layers: int, lr: float, beta1: float,
                 policy: str, lambda_cycle: float = LAMBDA_CYCLE, lambda_identity: float = LAMBDA_IDENTITY,
                 replicas: int = 1):
        self.G = resnet_generator(ngf, n_blocks, name="G_x2y")
        self.F = resnet_generator(ngf, n_blocks, name="F_y2x")
        self.D_X = patchgan_discriminator(3, ndf, d_layers, name="D_x")
        self.D_Y = patchgan_discriminator(3, ndf, d_layers, name="D_y")
        self.opt_G = training.make_adam(lr, beta1, policy)
        self.opt_D = training.make_adam(lr, beta1, policy)
        self.g_vars = self.G.trainable_variables + self.F.trainable_variables
        self.d_vars = self.D_X.trainable_variables + self.D_Y.trainable_variables
        # Slots exist before a checkpoint restore, so resuming restores Adam's moments too.
        self.opt_G.build(self.g_vars)
        self.opt_D.build(self.d_vars)
        self.lambda_cycle, self.lambda_identity = lambda_cycle, lambda_identity
        self.replicas = replicas

    def trackables(self) -> dict:
        return {"G": self.G, "F": self.F, "D_X": self.D_X, "D_Y": self.D_Y,
                "opt_G": self.opt_G, "opt_D": self.opt_D}

    def generator_step(self, real_x, real_y):
        """Update G and F on L_GAN + L_cyc + L_idt; returns (losses, fake_x, fake_y)."""
        import tensorflow as tf

        lam, lam_idt = self.lambda_cycle, self.lambda_cycle * self.lambda_identity
        with tf.GradientTape() as tape:
            fake_y = self.G(real_x, training=True)
            cycled_x = self.F(fake_y, training=True)
            fake_x = self.F(real_y, training=True)
            cycled_y = self.G(fake_x, training=True)
            same_y = self.G(real_y, training=True)
            same_x = self.F(real_x, training=True)

            gan_G = mse(self.D_Y(fake_y, training=True), 1.0)
            gan_F = mse(self.D_X(fake_x, training=True), 1.0)
            cycle = lam * (l1(cycled_x, real_x) + l1(cycled_y, real_y))
            identity = lam_idt * (l1(same_y, real_y) + l1(same_x, real_x))
            total = gan_G + gan_F + cycle + identity
            # Per-replica mean; the optimizer sums gradients over replicas.
            scaled = self.opt_G.scale_loss(total / self.replicas)
        grads = tape.gradient(scaled, self.g_vars)
        self.opt_G.apply_gradients(zip(grads, self.g_vars))
        losses = {"G/gan_G": gan_G, "G/gan_F": gan_F, "G/cycle": cycle, "G/identity": identity, "G/total": total}
        return losses, fake_x, fake_y

    def discriminator_step(self, real_x, real_y, fake_x, fake_y):
        """Update D_X and D_Y: real → 1, (pooled) fake → 0, each loss halved as in the paper."""
        import tensorflow as tf

        with tf.GradientTape() as tape:
            d_x = 0.5 * (mse(self.D_X(real_x, training=True), 1.0) + mse(self.D_X(fake_x, training=True), 0.0))
            d_y = 0.5 * (mse(self.D_Y(real_y, training=True), 1.0) + mse(self.D_Y(fake_y, training=True), 0.0))
            scaled = self.opt_D.scale_loss((d_x + d_y) / self.replicas)
        grads = tape.gradient(scaled, self.d_vars)
        self.opt_D.apply_gradients(zip(grads, self.d_vars))
        return {"D/x": d_x, "D/y": d_y}


class Trainer:
    """Wires a CycleGAN to a strategy, the image pools and the learning-rate schedule."""

    def __init__(self, strategy, model: CycleGAN, pool_x: ImagePool, pool_y: ImagePool):
        import tensorflow as tf

        self.strategy, self.model, self.pool_x, self.pool_y = strategy, model, pool_x, pool_y
        self._g = tf.function(self._generator_step, reduce_retracing=True)
        self._d = tf.function(self._discriminator_step, reduce_retracing=True)

    def _mean(self, per_replica: dict) -> dict:
        """Per-replica batch means → the global batch mean."""
        import tensorflow as tf

        return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in per_replica.items()}

    def _generator_step(self, real_x, real_y):
        losses, fake_x, fake_y = self.strategy.run(self.model.generator_step, args=(real_x, real_y))
        return self._mean(losses), self.strategy.gather(fake_x, axis=0), self.strategy.gather(fake_y, axis=0)

    def _discriminator_step(self, real_x, real_y, fake_x, fake_y):
        return self._mean(self.strategy.run(self.model.discriminator_step, args=(real_x, real_y, fake_x, fake_y)))

    def step(self, batch: tuple[np.ndarray, np.ndarray], lr: float) -> dict[str, float]:
        """One paper step on a global batch (x, y): update G and F, then D_X and D_Y on pooled fakes."""
        self.model.opt_G.learning_rate.assign(lr)
        self.model.opt_D.learning_rate.assign(lr)
        real_x, real_y = training.distribute(self.strategy, batch)
        g_losses, fake_x, fake_y = self._g(real_x, real_y)
        pooled = (self.pool_x.query(fake_x.numpy()), self.pool_y.query(fake_y.numpy()))
        pooled_x, pooled_y = training.distribute(self.strategy, pooled)
        d_losses = self._d(real_x, real_y, pooled_x, pooled_y)
        out = {k: float(v) for k, v in {**g_losses, **d_losses}.items()}
        out["lr"] = lr
        return out


def build(args: argparse.Namespace, strategy, policy: str, image_shape: tuple[int, int, int]):
    """The model (in the strategy's scope) and the two image pools."""
    with strategy.scope():
        model = CycleGAN(args.ngf, args.n_blocks, args.ndf, args.d_layers, args.lr, args.beta1, policy,
                         args.lambda_cycle, args.lambda_identity, strategy.num_replicas_in_sync)
    pool_x = ImagePool(args.pool_size, image_shape, args.seed + 1)
    pool_y = ImagePool(args.pool_size, image_shape, args.seed + 2)
    return model, pool_x, pool_y


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    training.refuse_mixed_runs(args.out, args.resume)
    strategy, policy = training.configure(args.seed, args.precision, not args.no_determinism, args.cpu_replicas)
    if args.batch_size % strategy.num_replicas_in_sync:
        raise SystemExit(f"--batch-size {args.batch_size} must be a multiple of the "
                         f"{strategy.num_replicas_in_sync} replicas")
    x = load_domain(args.data, args.dataset, "train", "A", args.image_size)
    y = load_domain(args.data, args.dataset, "train", "B", args.image_size)
    total = training.total_steps(args, max(len(x), len(y)), DEFAULTS["steps"])
    batcher = StepBatcher((x, y), args.batch_size, args.seed, paired=False, flip=args.flip)
    model, pool_x, pool_y = build(args, strategy, policy, x.shape[1:])
    run = training.open_run(args.out, args, args.resume, **model.trackables(),
                            pool_x=pool_x.trackables(), pool_y=pool_y.trackables())
    trainer = Trainer(strategy, model, pool_x, pool_y)
    fixed = x[:N_SAMPLES]

    def sample(step: int) -> None:
        fake = model.G(fixed, training=False)
        training.save_sample_grid(Path(args.out) / "samples" / f"step_{step:06d}.png",
                                  [("input", fixed), ("G(x)", fake), ("F(G(x))", model.F(fake, training=False))])

    started = time.monotonic()
    losses = training.train_loop(
        run, total=total, stop_after=args.stop_after, desc="cyclegan",
        step_fn=lambda step: trainer.step(batcher.batch_at(step), training.linear_decay(step, total, args.lr)),
        sample_fn=sample, sample_every=args.sample_every, checkpoint_every=args.checkpoint_every)
    training.finish("cyclegan", run, total, losses, started, args.export,
                    lambda: resnet_generator(args.ngf, args.n_blocks, name="generator"), model.G)
    return 0


if __name__ == "__main__":
    sys.exit(main())
