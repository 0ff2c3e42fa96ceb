"""Small-width rebuilds of the TensorFlow and Keras tutorials' generators (random weights, seeded).

Each follows its tutorial's own structure (layer sequence, initializers, custom layers), with fewer
filters and levels so it runs at the tests' 32 px; the PyTorch architectures are ONNX fixtures written
by tools/export_corpus.py. Exports are the tutorials' own: ``model.save("*.keras")``, ``model.export``
(the template README's route) and ``tf.saved_model.save``.
"""

from __future__ import annotations

from pathlib import Path

SIZE = 32


# --- tensorflow.org/tutorials/generative/pix2pix ---------------------------------------------------------

def _tf_downsample(filters, size, apply_batchnorm=True):
    import tensorflow as tf

    initializer = tf.random_normal_initializer(0., 0.02)  # the tutorial's own (module init_ops_v2)
    result = tf.keras.Sequential()
    result.add(tf.keras.layers.Conv2D(filters, size, strides=2, padding="same",
                                      kernel_initializer=initializer, use_bias=False))
    if apply_batchnorm:
        result.add(tf.keras.layers.BatchNormalization())
    result.add(tf.keras.layers.LeakyReLU())
    return result


def _tf_upsample(filters, size, apply_dropout=False):
    import tensorflow as tf

    initializer = tf.random_normal_initializer(0., 0.02)
    result = tf.keras.Sequential()
    result.add(tf.keras.layers.Conv2DTranspose(filters, size, strides=2, padding="same",
                                               kernel_initializer=initializer, use_bias=False))
    result.add(tf.keras.layers.BatchNormalization())
    if apply_dropout:
        result.add(tf.keras.layers.Dropout(0.5))
    result.add(tf.keras.layers.ReLU())
    return result


def pix2pix_generator(width: int = 2):
    """The pix2pix tutorial's ``Generator()``: a U-Net on a fixed-size input (256 there, 32 here), 8 levels
    of 64..512 filters there, 5 levels of ``width``..8 ``width`` here; dropout on the first three ups."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.layers.Input(shape=[SIZE, SIZE, 3])
    w = width
    down_stack = [_tf_downsample(w, 4, apply_batchnorm=False), _tf_downsample(2 * w, 4),
                  _tf_downsample(4 * w, 4), _tf_downsample(8 * w, 4), _tf_downsample(8 * w, 4)]
    up_stack = [_tf_upsample(8 * w, 4, apply_dropout=True), _tf_upsample(4 * w, 4, apply_dropout=True),
                _tf_upsample(2 * w, 4, apply_dropout=True), _tf_upsample(w, 4)]
    last = tf.keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same",
                                           kernel_initializer=tf.random_normal_initializer(0., 0.02),
                                           activation="tanh")
    x = inputs
    skips = []
    for down in down_stack:
        x = down(x)
        skips.append(x)
    skips = reversed(skips[:-1])
    for up, skip in zip(up_stack, skips):
        x = up(x)
        x = tf.keras.layers.Concatenate()([x, skip])
    model = tf.keras.Model(inputs=inputs, outputs=last(x))
    # N(0, 0.02) weights through fresh batch norms give a flat output (std 3e-3), where a trained generator
    # spans [-1, 1]: scale the head so the exports are compared on a real image.
    last.kernel.assign(last.kernel * 100.0)
    return model


# --- tensorflow.org/tutorials/generative/cyclegan (tensorflow_examples.models.pix2pix) ------------------

def _instance_normalization_class():
    import tensorflow as tf

    class InstanceNormalization(tf.keras.layers.Layer):
        """tensorflow_examples' instance norm: a custom layer with its own scale and offset."""

        def __init__(self, epsilon=1e-5, **kwargs):
            super().__init__(**kwargs)
            self.epsilon = epsilon

        def build(self, input_shape):
            self.scale = self.add_weight(name="scale", shape=input_shape[-1:],
                                         initializer=tf.random_normal_initializer(1., 0.02), trainable=True)
            self.offset = self.add_weight(name="offset", shape=input_shape[-1:], initializer="zeros",
                                          trainable=True)

        def call(self, x):
            mean, variance = tf.nn.moments(x, axes=[1, 2], keepdims=True)
            return self.scale * ((x - mean) * tf.math.rsqrt(variance + self.epsilon)) + self.offset

        def get_config(self):
            return {**super().get_config(), "epsilon": self.epsilon}

    return InstanceNormalization


def cyclegan_tutorial_generator(width: int = 2):
    """``pix2pix.unet_generator(3, norm_type='instancenorm')`` as the CycleGAN tutorial builds it: any input
    size, instance norm through the custom layer above; 5 levels of ``width``..8 ``width`` filters here."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(1)
    instance_norm = _instance_normalization_class()
    initializer = tf.random_normal_initializer(0., 0.02)

    def down(filters, apply_norm=True):
        block = tf.keras.Sequential()
        block.add(tf.keras.layers.Conv2D(filters, 4, strides=2, padding="same",
                                         kernel_initializer=initializer, use_bias=False))
        if apply_norm:
            block.add(instance_norm())
        block.add(tf.keras.layers.LeakyReLU())
        return block

    def up(filters, apply_dropout=False):
        block = tf.keras.Sequential()
        block.add(tf.keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same",
                                                  kernel_initializer=initializer, use_bias=False))
        block.add(instance_norm())
        if apply_dropout:
            block.add(tf.keras.layers.Dropout(0.5))
        block.add(tf.keras.layers.ReLU())
        return block

    w = width
    down_stack = [down(w, apply_norm=False), down(2 * w), down(4 * w), down(8 * w), down(8 * w)]
    up_stack = [up(8 * w, apply_dropout=True), up(4 * w, apply_dropout=True), up(2 * w), up(w)]
    last = tf.keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same", kernel_initializer=initializer,
                                           activation="tanh")
    inputs = tf.keras.layers.Input(shape=[None, None, 3])
    x = inputs
    skips = []
    for block in down_stack:
        x = block(x)
        skips.append(x)
    for block, skip in zip(up_stack, reversed(skips[:-1])):
        x = tf.keras.layers.Concatenate()([block(x), skip])
    return tf.keras.Model(inputs=inputs, outputs=last(x))


# --- keras.io/examples/generative/cyclegan ------------------------------------------------------------

def keras_io_cyclegan_generator(filters: int = 2, num_residual_blocks: int = 2):
    """``get_resnet_generator`` of the keras.io CycleGAN example: a custom ``ReflectionPadding2D`` layer,
    ``GroupNormalization(groups=1)`` with ``RandomNormal(0, 0.02)`` gammas, a fixed input (256 there,
    32 here), 64 filters and 9 residual blocks there."""
    import keras
    from keras import layers, ops

    keras.utils.set_random_seed(2)

    class ReflectionPadding2D(layers.Layer):
        def __init__(self, padding=(1, 1), **kwargs):
            self.padding = tuple(padding)
            super().__init__(**kwargs)

        def call(self, input_tensor, mask=None):
            pw, ph = self.padding
            return ops.pad(input_tensor, [[0, 0], [ph, ph], [pw, pw], [0, 0]], mode="reflect")

    kernel_init = keras.initializers.RandomNormal(mean=0.0, stddev=0.02)
    gamma_init = keras.initializers.RandomNormal(mean=0.0, stddev=0.02)

    def norm():
        return layers.GroupNormalization(groups=1, gamma_initializer=gamma_init)

    def residual_block(x):
        dim = x.shape[-1]
        y = ReflectionPadding2D()(x)
        y = layers.Conv2D(dim, 3, kernel_initializer=kernel_init, padding="valid", use_bias=False)(y)
        y = layers.Activation("relu")(norm()(y))
        y = ReflectionPadding2D()(y)
        y = layers.Conv2D(dim, 3, kernel_initializer=kernel_init, padding="valid", use_bias=False)(y)
        return layers.add([x, norm()(y)])

    img = layers.Input(shape=(SIZE, SIZE, 3), name="generator_input")
    x = ReflectionPadding2D(padding=(3, 3))(img)
    x = layers.Conv2D(filters, 7, kernel_initializer=kernel_init, use_bias=False)(x)
    x = layers.Activation("relu")(norm()(x))
    for _ in range(2):  # downsampling
        filters *= 2
        x = layers.Conv2D(filters, 3, strides=2, padding="same", kernel_initializer=kernel_init, use_bias=False)(x)
        x = layers.Activation("relu")(norm()(x))
    for _ in range(num_residual_blocks):
        x = residual_block(x)
    for _ in range(2):  # upsampling
        filters //= 2
        x = layers.Conv2DTranspose(filters, 3, strides=2, padding="same", kernel_initializer=kernel_init,
                                   use_bias=False)(x)
        x = layers.Activation("relu")(norm()(x))
    x = ReflectionPadding2D(padding=(3, 3))(x)
    x = layers.Conv2D(3, 7, padding="valid")(x)
    model = keras.Model(img, layers.Activation("tanh")(x), name="generator_G")
    # RandomNormal(0, 0.02) gammas are where training starts: they shrink every activation 50-fold per
    # norm, and the untrained output is a flat 1e-10. Trained gammas sit near 1; so do these.
    for layer in model.layers:
        if isinstance(layer, layers.GroupNormalization):
            layer.gamma.assign(keras.random.uniform(layer.gamma.shape, 0.8, 1.2, seed=3))
    return model


# --- the exports ---------------------------------------------------------------------------------------

def save_keras(model, path: Path) -> Path:
    model.save(path)
    return path


def export_saved_model(model, path: Path) -> Path:
    """``model.export(path)``: what the template README recommends (serving_default, dynamic batch)."""
    model.export(str(path), verbose=False)
    return path


def tf_saved_model_save(model, path: Path) -> Path:
    """``tf.saved_model.save`` with a serving signature of dynamic batch (the model's own spatial shape)."""
    import tensorflow as tf

    spec = tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32, name="image")
    serve = tf.function(lambda image: model(image, training=False), input_signature=[spec])
    tf.saved_model.save(model, str(path), signatures={"serving_default": serve})
    return path


# name -> (builder, track to score it on, the exports a participant of that tutorial uses)
TF_ARCHITECTURES = {
    "tf_pix2pix": (pix2pix_generator, "photo2sketch", ("keras", "export", "tf_saved_model")),
    "tf_cyclegan_tutorial": (cyclegan_tutorial_generator, "photo2ink", ("export", "tf_saved_model")),
    "keras_io_cyclegan": (keras_io_cyclegan_generator, "photo2ink", ("export", "tf_saved_model")),
}
EXPORTS = {"keras": ("keras", "model.keras", save_keras), "export": ("saved_model", "model", export_saved_model),
           "tf_saved_model": ("saved_model", "model", tf_saved_model_save)}
# The ones whose `.keras` Easel refuses on purpose (a custom layer class): the refusal names the layer.
CUSTOM_LAYER = {"tf_cyclegan_tutorial": "InstanceNormalization", "keras_io_cyclegan": "ReflectionPadding2D"}
