"""pix2pix's U-Net generator (Isola et al. 2017), built-in Keras layers only."""

from __future__ import annotations

from baselines.common.networks import instance_norm


def unet_generator(ngf: int = 16, n_down: int = 5, dropout: float = 0.5, name: str = "generator"):
    """Encoder C(ngf)-C(2ngf)-... (4x4 stride-2 convs, LeakyReLU 0.2), decoder mirrored with
    4x4 stride-2 Conv2DTranspose, ReLU and skip connections (concatenation) to
    the encoder layer of the same resolution, dropout in the three innermost
    decoder blocks, tanh output.

    Widths double per level up to 8*ngf. Normalization is instance norm: the
    paper trains with batch size 1 where batch norm *is* instance norm, and
    instance norm has no train/test difference. The innermost level has no
    normalization (at 64 px with n_down=5 it is 2x2). Input float32 [N, H, W, 3]
    in [-1, 1], H and W multiples of 2**n_down; output the same shape, float32.
    """
    import keras
    from keras import layers

    x = keras.Input(shape=(None, None, 3), name="image")
    skips = []
    h = x
    for level in range(n_down):
        filters = ngf * min(2 ** level, 8)
        h = layers.Conv2D(filters, 4, strides=2, padding="same", use_bias=level in (0, n_down - 1))(h)
        if 0 < level < n_down - 1:
            h = instance_norm()(h)
        h = layers.LeakyReLU(0.2)(h)
        skips.append(h)
    skips.pop()  # the innermost activation is h itself
    for i, skip in enumerate(reversed(skips)):
        filters = ngf * min(2 ** (n_down - 2 - i), 8)
        h = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False)(h)
        h = instance_norm()(h)
        if i < 3 and dropout > 0:
            h = layers.Dropout(dropout)(h)
        h = layers.ReLU()(h)
        h = layers.Concatenate()([h, skip])
    h = layers.Conv2DTranspose(3, 4, strides=2, padding="same")(h)
    y = layers.Activation("tanh", dtype="float32", name="output")(h)
    return keras.Model(x, y, name=name)
