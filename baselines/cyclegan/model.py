"""CycleGAN's ResNet generator (Johnson et al. 2016 as used by Zhu et al. 2017), built-in layers only."""

from __future__ import annotations

from baselines.common.networks import instance_norm


def resnet_generator(ngf: int = 16, n_blocks: int = 6, name: str = "generator"):
    """c7s1-ngf, d2ngf, d4ngf, n_blocks x R4ngf, u2ngf, ungf, c7s1-3 + tanh.

    Input float32 [N, H, W, 3] in [-1, 1] with H, W multiples of 4; output
    float32 [N, H, W, 3] in [-1, 1] (the tanh runs in float32 even under
    mixed precision). Padding is zero padding ('same'): reflection padding is
    not a built-in Keras layer, and Easel accepts built-in layers only.
    """
    import keras
    from keras import layers

    def conv_norm_relu(h, filters, kernel, strides=1, transpose=False):
        conv = layers.Conv2DTranspose if transpose else layers.Conv2D
        h = conv(filters, kernel, strides=strides, padding="same", use_bias=False)(h)
        h = instance_norm()(h)
        return layers.ReLU()(h)

    x = keras.Input(shape=(None, None, 3), name="image")
    h = conv_norm_relu(x, ngf, 7)
    h = conv_norm_relu(h, ngf * 2, 3, strides=2)
    h = conv_norm_relu(h, ngf * 4, 3, strides=2)
    for _ in range(n_blocks):
        r = conv_norm_relu(h, ngf * 4, 3)
        r = layers.Conv2D(ngf * 4, 3, padding="same", use_bias=False)(r)
        r = instance_norm()(r)
        h = layers.Add()([h, r])
    h = conv_norm_relu(h, ngf * 2, 3, strides=2, transpose=True)
    h = conv_norm_relu(h, ngf, 3, strides=2, transpose=True)
    h = layers.Conv2D(3, 7, padding="same")(h)
    y = layers.Activation("tanh", dtype="float32", name="output")(h)
    return keras.Model(x, y, name=name)
