"""FusedBatchNormalization computes what keras.layers.BatchNormalization computes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import resnet


def _pair(channels=6, **kwargs):
    """A Keras BN layer and a fused one with the same random weights and statistics."""
    rng = np.random.default_rng(0)
    plain = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, **kwargs)
    fused = resnet.FusedBatchNormalization(momentum=0.9, epsilon=1e-5, **kwargs)
    shape = (2, 5, 7, channels)
    plain.build(shape)
    fused.build(shape)
    weights = [
        rng.uniform(0.5, 1.5, channels),  # gamma
        rng.normal(0, 0.2, channels),  # beta
        rng.normal(0, 0.3, channels),  # moving mean
        rng.uniform(0.5, 2.0, channels),  # moving variance
    ]
    plain.set_weights(weights)
    fused.set_weights(weights)
    x = rng.normal(1.0, 2.0, size=shape)
    return plain, fused, x


@pytest.mark.parametrize("training", [True, False])
def test_outputs_statistics_and_gradients_match_keras(training):
    plain, fused, x = _pair()
    x = tf.constant(x, tf.float32)
    cotangent = tf.random.stateless_normal(x.shape, seed=[1, 2])
    results = {}
    for name, layer in (("plain", plain), ("fused", fused)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            loss = tf.reduce_sum(y * cotangent)  # not a plain sum: BN's sum has zero gradient
        grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
        results[name] = [y, *grads, layer.moving_mean, layer.moving_variance]
    for ours, theirs in zip(results["fused"], results["plain"]):
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-4, atol=1e-5)
    moved = not np.allclose(results["plain"][-1], _pair()[0].moving_variance)
    assert moved == training  # statistics move in training mode only, in both layers


def test_float64_takes_the_keras_path_exactly():
    plain, fused, x = _pair(dtype="float64")
    for training in (True, False):
        np.testing.assert_array_equal(fused(x, training=training), plain(x, training=training))


def test_bfloat16_activations_keep_their_dtype():
    _, fused, x = _pair()
    reference = np.asarray(fused(tf.constant(x, tf.float32), training=False))
    mixed = resnet.FusedBatchNormalization(dtype="mixed_bfloat16", momentum=0.9, epsilon=1e-5)
    mixed.build(x.shape)
    mixed.set_weights(fused.get_weights())
    y = mixed(tf.constant(x, tf.bfloat16), training=False)
    assert y.dtype == tf.bfloat16
    np.testing.assert_allclose(np.asarray(tf.cast(y, tf.float32)), reference, rtol=0.05, atol=0.05)


def test_models_use_it_by_default_and_plain_keras_on_request():
    default = resnet.cifar_resnet(8)
    plain = resnet.cifar_resnet(8, fused_batch_norm=False)
    assert type(default.get_layer("conv1_bn")) is resnet.FusedBatchNormalization
    assert type(plain.get_layer("conv1_bn")) is keras.layers.BatchNormalization
    plain.set_weights(default.get_weights())
    x = np.random.default_rng(3).normal(size=(4, 32, 32, 3)).astype("float32")
    for training in (False, True):
        np.testing.assert_allclose(default(x, training=training), plain(x, training=training), rtol=1e-4, atol=1e-4)
