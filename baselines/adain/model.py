"""AdaIN arbitrary style transfer (Huang & Belongie 2017), built-in Keras layers and ops only.

    t = AdaIN(E(c), E(s)) = σ(E(s)) · (E(c) − μ(E(c))) / σ(E(c)) + μ(E(s))
    output = D(t)

E is a small convolutional encoder trained from scratch on the dev data (the
paper uses a fixed ImageNet VGG-19, which this offline project cannot fetch);
D mirrors it with nearest-neighbour upsampling. The exported model takes
content then style, float32 NHWC in [-1, 1], and returns the stylized content
in [-1, 1] (Easel's example-track contract). AdaIN is written with keras.ops
(Mean, Sqrt, Square), all on Easel's Keras allowlist: no Lambda, no custom class.
"""

from __future__ import annotations

EPS = 1e-5  # variance floor inside the square root (the paper's implementation uses 1e-5)
N_LEVELS = 3  # encoder feature maps used by the style loss: full, 1/2 and 1/4 resolution


def moments(features):
    """Per-image, per-channel mean and standard deviation over H, W: two [N, 1, 1, C] tensors."""
    from keras import ops

    mean = ops.mean(features, axis=(1, 2), keepdims=True)
    std = ops.sqrt(ops.mean(ops.square(features - mean), axis=(1, 2), keepdims=True) + EPS)
    return mean, std


def adain(content, style):
    """AdaIN of content features [N, h, w, C] to style features [N, h', w', C]: same shape as content."""
    c_mean, c_std = moments(content)
    s_mean, s_std = moments(style)
    return (content - c_mean) / c_std * s_std + s_mean


def encoder(width: int = 32, name: str = "encoder"):
    """Image [N, H, W, 3] in [-1, 1] → N_LEVELS ReLU feature maps at 1, 1/2 and 1/4 resolution.

    Channels width, 2·width, 4·width; H and W must be multiples of 4. The last
    map is the one AdaIN works on; all of them carry the style statistics.
    """
    import keras
    from keras import layers

    x = keras.Input(shape=(None, None, 3), name="image")
    h = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
    f1 = layers.Conv2D(width, 3, padding="same", activation="relu")(h)
    h = layers.Conv2D(width * 2, 3, strides=2, padding="same", activation="relu")(f1)
    f2 = layers.Conv2D(width * 2, 3, padding="same", activation="relu")(h)
    h = layers.Conv2D(width * 4, 3, strides=2, padding="same", activation="relu")(f2)
    f3 = layers.Conv2D(width * 4, 3, padding="same", activation="relu")(h)
    return keras.Model(x, [f1, f2, f3], name=name)


def decoder(width: int = 32, name: str = "decoder"):
    """Features [N, H/4, W/4, 4·width] → image [N, H, W, 3] in [-1, 1] (tanh in float32)."""
    import keras
    from keras import layers

    t = keras.Input(shape=(None, None, width * 4), name="features")
    h = layers.Conv2D(width * 2, 3, padding="same", activation="relu")(t)
    h = layers.UpSampling2D(2, interpolation="nearest")(h)
    h = layers.Conv2D(width * 2, 3, padding="same", activation="relu")(h)
    h = layers.Conv2D(width, 3, padding="same", activation="relu")(h)
    h = layers.UpSampling2D(2, interpolation="nearest")(h)
    h = layers.Conv2D(width, 3, padding="same", activation="relu")(h)
    h = layers.Conv2D(3, 3, padding="same")(h)
    y = layers.Activation("tanh", dtype="float32", name="output")(h)
    return keras.Model(t, y, name=name)


def stylizer(enc, dec, name: str = "adain"):
    """The submitted model: (content, style) [N, H, W, 3] each → D(AdaIN(E(c), E(s))) [N, H, W, 3]."""
    import keras

    content = keras.Input(shape=(None, None, 3), name="content")
    style = keras.Input(shape=(None, None, 3), name="style")
    return keras.Model([content, style], dec(adain(enc(content)[-1], enc(style)[-1])), name=name)
