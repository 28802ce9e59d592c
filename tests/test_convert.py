"""Keras applications, an independent implementation, agree with ours to the last digit."""

import keras
import numpy as np
import pytest

import resnet

APPLICATIONS = {"resnet50": keras.applications.ResNet50, "resnet101": keras.applications.ResNet101, "resnet152": keras.applications.ResNet152}


def _convert_and_compare(name, **app_kwargs):
    source = APPLICATIONS[name](weights=None, input_shape=(64, 64, 3), **app_kwargs)
    # Random BN statistics, so that inference-mode BN is not the identity.
    rng = np.random.default_rng(0)
    for layer in source.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.1, layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, layer.moving_variance.shape))
            layer.gamma.assign(rng.uniform(0.5, 1.5, layer.gamma.shape))
            layer.beta.assign(rng.normal(0, 0.1, layer.beta.shape))
    ours = resnet.convert.from_keras_applications(source)
    x = rng.normal(size=(2, 64, 64, 3))
    return source, ours, keras.ops.convert_to_numpy(source(x)), keras.ops.convert_to_numpy(ours(x))


def test_resnet50_logits_equal_in_float64(float64):
    source, ours, theirs_out, ours_out = _convert_and_compare("resnet50", classifier_activation=None, classes=17)
    assert ours_out.dtype == np.float64 and ours_out.shape == (2, 17)
    assert np.max(np.abs(theirs_out - ours_out)) < 1e-9
    assert np.std(ours_out) > 1e-3  # a real comparison, not of two constant outputs
    assert ours.get_layer("conv3_block1_1_conv").strides == (2, 2)  # v1
    assert ours.count_params() == source.count_params()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet101", "resnet152"])
def test_deeper_logits_equal_in_float64(float64, name):
    _, _, theirs_out, ours_out = _convert_and_compare(name, classifier_activation=None)
    assert np.max(np.abs(theirs_out - ours_out)) < 1e-9


@pytest.mark.slow
def test_headless_and_softmax_heads_are_kept(float64):
    _, ours, theirs_out, ours_out = _convert_and_compare("resnet50", include_top=False, pooling="avg")
    assert ours_out.shape == (2, 2048) and np.max(np.abs(theirs_out - ours_out)) < 1e-9
    source = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=5)
    converted = resnet.convert.from_keras_applications(source)
    assert converted.get_layer("predictions").activation.__name__ == "softmax"


def test_keras_applications_count_with_bias_and_bn_statistics():
    # The figure DESIGN.md quotes for keras.applications.ResNet50: conv biases and BN
    # moving statistics included.
    assert resnet.resnet50(variant="v1", conv_bias=True).count_params() == 25_636_712


def test_rejects_models_that_are_not_keras_resnet_v1():
    with pytest.raises(ValueError, match="not a keras.applications ResNet50/101/152"):
        resnet.convert.from_keras_applications(resnet.resnet18(input_shape=(32, 32, 3)))
    with pytest.raises(ValueError, match="needs a keras.Model; got str"):
        resnet.convert.from_keras_applications("resnet50")
