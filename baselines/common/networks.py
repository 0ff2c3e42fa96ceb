"""Building blocks both GANs use, made only of built-in Keras layers so the exported
``.keras`` file passes Easel's layer allowlist (no Lambda, no custom classes).
"""

from __future__ import annotations


def instance_norm(name: str | None = None):
    """Instance normalization as a built-in layer: GroupNormalization with one group per channel.

    With ``groups=-1`` every channel is its own group, so each image and channel
    is normalized over H and W alone (mean/variance over [H, W]), which is
    instance norm (Ulyanov et al. 2016) with a learned affine; tests check it
    against a direct computation. eps = 1e-5 as in PyTorch's InstanceNorm2d.
    """
    import keras

    return keras.layers.GroupNormalization(groups=-1, epsilon=1e-5, name=name)


def patchgan_discriminator(in_channels: int = 3, ndf: int = 32, n_layers: int = 2, name: str = "patchgan"):
    """PatchGAN discriminator (Isola et al. 2017): a map of real/fake logits, one per image patch.

    n_layers stride-2 4x4 convolutions (the first without normalization), one
    stride-1 4x4 convolution, then a 1-channel 4x4 convolution. n_layers=3 is
    the paper's 70x70 patch at 256 px; n_layers=2 (34x34) is the same fraction
    of a 64 px image. Input: float [N, H, W, in_channels] in [-1, 1] (pix2pix
    passes input and output concatenated, 6 channels). Output: float32 logits
    [N, h, w, 1] (least-squares or cross-entropy is the caller's choice).
    """
    import keras
    from keras import layers

    x = keras.Input(shape=(None, None, in_channels), name="image")
    h = layers.Conv2D(ndf, 4, strides=2, padding="same")(x)
    h = layers.LeakyReLU(0.2)(h)
    for i in range(1, n_layers):
        h = layers.Conv2D(ndf * min(2 ** i, 8), 4, strides=2, padding="same", use_bias=False)(h)
        h = instance_norm()(h)
        h = layers.LeakyReLU(0.2)(h)
    # Stride-1 layers pad by 1 like the reference implementation (4x4 kernels have no centre).
    h = layers.ZeroPadding2D(1)(h)
    h = layers.Conv2D(ndf * min(2 ** n_layers, 8), 4, padding="valid", use_bias=False)(h)
    h = instance_norm()(h)
    h = layers.LeakyReLU(0.2)(h)
    h = layers.ZeroPadding2D(1)(h)
    h = layers.Conv2D(1, 4, padding="valid")(h)
    logits = layers.Activation("linear", dtype="float32", name="logits")(h)
    return keras.Model(x, logits, name=name)
