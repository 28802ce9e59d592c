"""Broken classifiers for the dynamic checks: each has one bug that a check must catch.

All but one are the reference CIFAR ResNet-8 (one basic block per stage) with one
thing changed, run on 8x8 px inputs so that the tests stay fast. Each builder returns a
fresh model; ZOO maps a name to (builder, the check that must catch it).
"""

import dataclasses

import keras
import tensorflow as tf

import resnet

NUM_CLASSES = 10
INPUT_SHAPE = (None, None, 3)  # any size: the tests use 8x8 px


def healthy() -> keras.Model:
    return resnet.cifar_resnet(8, input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES)


def _replace_layers(model: keras.Model, replace) -> keras.Model:
    """Clones `model`, letting replace(layer) return a substitute or None."""

    def clone(layer):
        substitute = replace(layer)
        return substitute if substitute is not None else layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    for target, source in zip(copy.weights, model.weights):
        target.assign(source)
    return copy


class BatchStatsAlways(keras.layers.BatchNormalization):
    """BatchNorm that ignores `training`: batch statistics even at inference."""

    def call(self, inputs, training=None, mask=None):
        return super().call(inputs, training=True, mask=mask)


class NoisyAlways(keras.layers.GaussianNoise):
    """GaussianNoise that ignores `training`: noise at inference too."""

    def call(self, inputs, training=False):
        return super().call(inputs, training=True)


class StopGradient(keras.layers.Layer):
    """Cuts the gradient: everything before it is outside the gradient path."""

    def call(self, inputs):
        return tf.stop_gradient(inputs)


class LogActivation(keras.layers.Layer):
    """log(relu(x)) without an epsilon: -inf wherever the ReLU is 0."""

    def call(self, inputs):
        return tf.math.log(tf.nn.relu(inputs))


class BatchCenteredPool(keras.layers.GlobalAveragePooling2D):
    """Global average pooling that also subtracts the batch mean, in every mode."""

    def call(self, inputs):
        pooled = super().call(inputs)
        return pooled - tf.reduce_mean(pooled, axis=0, keepdims=True)


def frozen_bn() -> keras.Model:
    """Every BatchNorm frozen (trainable=False): no gradient, inference-mode statistics."""
    model = healthy()
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    return model


def detached_stem() -> keras.Model:
    """The stem's output goes through stop_gradient: conv1 never learns."""
    model = healthy()
    x = model.get_layer("conv1_relu").output
    cut = StopGradient(name="conv1_detach")(x)
    rest = keras.Model(x, model.output)  # the network after the stem, same layers
    return keras.Model(model.input, rest(cut), name="detached")


def bn_ignores_training() -> keras.Model:
    """BatchNorm layers that use batch statistics even in inference mode."""

    def replace(layer):
        if isinstance(layer, keras.layers.BatchNormalization):
            return BatchStatsAlways.from_config(layer.get_config())
        return None

    return _replace_layers(healthy(), replace)


def softmax_head() -> keras.Model:
    """A head that outputs probabilities, fed to a from-logits loss."""
    return resnet.cifar_resnet(8, input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES, classifier_activation="softmax")


def noisy_inference() -> keras.Model:
    """Noise after the stem that ignores training=False: inference is random."""
    model = healthy()
    x = model.get_layer("conv1_relu").output
    noisy = NoisyAlways(0.5, name="conv1_noise")(x)
    rest = keras.Model(x, model.output)
    return keras.Model(model.input, rest(noisy), name="noisy")


def log_activation() -> keras.Model:
    """The stem's ReLU replaced by log(relu(x)): -inf (then NaN) on dark pixels."""

    def replace(layer):
        return LogActivation(name=layer.name) if layer.name == "conv1_relu" else None

    return _replace_layers(healthy(), replace)


def batch_mixing() -> keras.Model:
    """Pooling that subtracts the batch mean: samples depend on each other at inference."""

    def replace(layer):
        return BatchCenteredPool(name=layer.name) if layer.name == "avg_pool" else None

    return _replace_layers(healthy(), replace)


class Zeroed(keras.layers.ReLU):
    """A ReLU multiplied by an all-zero mask: nothing reaches the head."""

    def call(self, inputs):
        return super().call(inputs) * 0.0


def zeroed_features() -> keras.Model:
    """The last block's output is zeroed: the head sees only zeros and cannot fit."""

    def replace(layer):
        return Zeroed(name=layer.name) if layer.name == "conv4_block1_out" else None

    return _replace_layers(healthy(), replace)


class LyingPool(keras.layers.Layer):
    """Declares a 2x2 pooled output but returns its input unchanged."""

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (batch, height // 2, width // 2, channels)


def lying_shape() -> keras.Model:
    """A layer whose declared output shape is not what it returns (fixed 8x8 input).

    Not a ResNet: a declared shape that lies breaks most layers after it when the
    model is built, so the lie sits before global pooling, which does not care.
    """
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = LyingPool(name="lying_pool")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(NUM_CLASSES, name="predictions")(x), name="lying")


def overconfident_head() -> keras.Model:
    """Classifier kernel 30x too large: confident random guesses, loss far above ln 10."""
    model = healthy()
    kernel = model.get_layer("predictions").kernel
    kernel.assign(kernel * 30.0)
    return model


def wrong_stride() -> keras.Model:
    """Called "resnet8" but conv3 does not downsample: stage shapes differ from the spec."""
    spec = dataclasses.replace(resnet.cifar_spec(8), strides=(1, 1, 2))
    return resnet.build_resnet(spec, input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES)


# name: (builder, the check that must fail)
ZOO = {
    "frozen_bn": (frozen_bn, "gradients"),
    "detached_stem": (detached_stem, "gradients"),
    "bn_ignores_training": (bn_ignores_training, "determinism"),
    "softmax_head": (softmax_head, "initial_loss"),
    "noisy_inference": (noisy_inference, "determinism"),
    "log_activation": (log_activation, "forward"),
    "batch_mixing": (batch_mixing, "batch_independence"),
    "overconfident_head": (overconfident_head, "initial_loss"),
    "wrong_stride": (wrong_stride, "forward"),
    "zeroed_features": (zeroed_features, "overfit"),
    "lying_shape": (lying_shape, "forward"),
}
