"""The float64 gradient checker itself: right gradients pass, wrong ones are found.

The wrong gradients are planted with tf.custom_gradient at a known element, so the
element the checker names can be compared with the one that was broken.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import verification
from verification import gradcheck


@keras.saving.register_keras_serializable(package="tests")
class CubeScale(keras.layers.Layer):
    """y = w * x**3 per channel, with a hand-written gradient.

    `bug` plants a mistake: "input" doubles d/dx at flat input element `at`,
    "weight" halves d/dw of channel `at`; None gives the right gradient.
    """

    def __init__(self, bug=None, at=0, **kwargs):
        super().__init__(**kwargs)
        self.bug, self.at = bug, at

    def build(self, input_shape):
        self.w = self.add_weight(
            shape=(input_shape[-1],), name="w", initializer=keras.initializers.RandomUniform(0.5, 1.5, seed=1)
        )

    def call(self, x):
        bug, at = self.bug, self.at

        @tf.custom_gradient
        def cube_scale(x, w):
            def grad(upstream):
                dx = upstream * 3.0 * w * x**2
                dw = tf.reduce_sum(upstream * x**3, axis=tf.range(tf.rank(x) - 1))
                if bug == "input":
                    dx = tf.reshape(dx, [-1])
                    dx = tf.reshape(tf.tensor_scatter_nd_update(dx, [[at]], [2.0 * dx[at]]), tf.shape(x))
                if bug == "weight":
                    dw = tf.tensor_scatter_nd_update(dw, [[at]], [0.5 * dw[at]])
                return dx, dw

            return w * x**3, grad

        # A tensor, not the variable: gradients reach the weight through the explicit argument.
        return cube_scale(x, tf.convert_to_tensor(self.w))

    def get_config(self):
        return {**super().get_config(), "bug": self.bug, "at": self.at}


def _inputs(shape=(2, 3, 4), seed=0):
    # Away from 0, so that the planted error (proportional to x**2) is well above atol.
    x = np.random.default_rng(seed).uniform(0.5, 1.5, shape)
    return x * np.where(np.random.default_rng(seed + 1).random(shape) < 0.5, -1.0, 1.0)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_right_custom_gradient_passes(mode):
    result = gradcheck(CubeScale(dtype="float64"), _inputs(), mode=mode)
    assert result.passed, result
    assert result.checked > 0 and result.left_out == 0
    assert result.max_abs_error < 1e-7


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_wrong_input_gradient_fails_at_the_planted_element(mode):
    at = 13  # flat index into (2, 3, 4): sample 1, row 0, channel 1
    result = gradcheck(CubeScale(bug="input", at=at, dtype="float64"), _inputs(), mode=mode)
    assert not result.passed
    assert result.worst_tensor == "input 0"
    assert result.worst_index == (1, 0, 1)
    assert "input 0 element (1, 0, 1)" in result.message
    if mode == "full":
        # The one wrong Jacobian entry is d y[13] / d x[13]: 6 w x^2 against 3 w x^2.
        assert "output element 13" in result.worst
        x = _inputs().reshape(-1)[at]
        layer = CubeScale(dtype="float64")
        layer.build((2, 3, 4))
        expected = 3.0 * layer.w.numpy()[1] * x**2
        assert result.max_abs_error == pytest.approx(expected, rel=1e-6)


def test_wrong_weight_gradient_fails_and_names_the_weight():
    # tf.test.compute_gradient would not see this: it perturbs explicit inputs only.
    result = gradcheck(CubeScale(bug="weight", at=2, dtype="float64"), _inputs(), mode="full")
    assert not result.passed
    assert result.worst_tensor.startswith("weight") and result.worst_tensor.endswith("/w'")
    assert result.worst_index == (2,)
    assert gradcheck(CubeScale(bug="weight", at=2, dtype="float64"), _inputs(), wrt="inputs", mode="full").passed


def test_float32_layer_is_checked_in_float64_and_left_unchanged():
    layer = CubeScale()
    layer.build((2, 3, 4))
    before = layer.w.numpy().copy()
    result = gradcheck(layer, _inputs().astype("float32"), mode="full")
    assert result.passed, result
    assert "float64" in result.float64 and "copied" in result.float64
    # float32 arithmetic could not reach 1e-7: the check really ran in float64.
    assert result.max_abs_error < 1e-7
    assert layer.compute_dtype == "float32" and layer.w.dtype == "float32"
    np.testing.assert_array_equal(layer.w.numpy(), before)


def test_mixed_precision_layer_is_rebuilt_in_float64_and_tf32_setting_restored():
    tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
    layer = keras.layers.Dense(3, dtype="mixed_float16")
    result = gradcheck(layer, _inputs((2, 4)).astype("float16"), mode="full")
    assert result.passed, result
    assert result.max_abs_error < 1e-7  # float16 would be off by ~1e-3
    assert layer.compute_dtype == "float16"
    assert tf.config.experimental.tensor_float_32_execution_enabled() == tf32


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_relu_fed_exact_zeros_is_not_reported_broken(mode):
    # Central differences at 0 give 0.5, TensorFlow's ReLU gradient 0: a kink.
    result = gradcheck(keras.layers.ReLU(dtype="float64"), np.zeros((2, 6)), mode=mode)
    assert result.passed, result
    assert result.kink_moves >= 1 and "kinks" in result.message


def test_max_pool_ties_are_not_reported_broken():
    # Every window is a tie: which element is the max flips with the perturbation.
    result = gradcheck(keras.layers.MaxPooling2D(2, dtype="float64"), np.ones((1, 4, 4, 2)), mode="full")
    assert result.passed, result
    assert result.kink_moves >= 1


def test_kink_detection_does_not_hide_a_wrong_relu_gradient():
    @tf.custom_gradient
    def leaky_claimed_relu(x):
        return tf.nn.relu(x), lambda upstream: upstream * tf.where(x > 0, tf.ones_like(x), 0.1 * tf.ones_like(x))

    x = _inputs((3, 4))
    result = gradcheck(leaky_claimed_relu, x, mode="full")
    assert not result.passed
    negative = np.argwhere(x < 0)
    assert list(result.worst_index) in negative.tolist()
    assert gradcheck(lambda t: tf.nn.relu(t), x, mode="full").passed


def test_batch_norm_training_mode_uses_a_random_cotangent_and_keeps_moving_statistics():
    layer = keras.layers.BatchNormalization(dtype="float64", momentum=0.5)
    x = np.random.default_rng(0).normal(2.0, 3.0, (6, 3))
    layer(x)  # build
    before = [v.numpy().copy() for v in layer.non_trainable_variables]
    result = gradcheck(layer, x, mode="full", training=True)
    assert result.passed, result
    for variable, value in zip(layer.non_trainable_variables, before):
        np.testing.assert_array_equal(variable.numpy(), value)
    # The sum of a training-mode BN's outputs is beta * batch: constant in x. A check
    # built on it cannot fail, and the checker says so rather than passing.
    vacuous = gradcheck(lambda t: tf.reduce_sum(layer(t, training=True) - layer.beta), x, mode="full")
    assert not vacuous.passed and "cannot tell" in vacuous.message


def test_inference_mode_batch_norm_weights():
    layer = keras.layers.BatchNormalization(dtype="float64")
    x = np.random.default_rng(0).normal(0.0, 1.0, (4, 3))
    layer(x)
    layer.moving_variance.assign([0.5, 2.0, 1.5])
    result = gradcheck(layer, x, mode="full", training=False, wrt="weights")
    assert result.passed, result
    assert result.details["checked_tensors"] == [f"weight {v.path!r}" for v in layer.trainable_variables]


def test_multi_input_layer_gets_its_inputs_as_a_list():
    a, b = _inputs((2, 3)), _inputs((2, 3), seed=5)
    result = gradcheck(keras.layers.Multiply(), [a.astype("float32"), b.astype("float32")], mode="full")
    assert result.passed, result
    assert result.details["checked_tensors"] == ["input 0", "input 1"]
    assert result.checked == 6 * 12  # 6 outputs x (6 + 6) input elements


def test_result_is_a_check_result_with_json_safe_figures():
    result = gradcheck(CubeScale(bug="input", at=0, dtype="float64"), _inputs(), mode="full")
    assert isinstance(result, verification.CheckResult)
    data = result.to_dict()
    assert data["passed"] is False and data["worst_index"] == [0, 0, 0] and data["mode"] == "full"
    assert data["atol"] == 1e-5 and data["rtol"] == 1e-3 and data["eps"] == pytest.approx(6.055e-6, rel=1e-3)


def test_bad_arguments_are_named():
    for kwargs, message in [
        ({"mode": "slow"}, r"mode 'slow'; valid: 'fast', 'full'"),
        ({"wrt": "bias"}, r"wrt 'bias'; valid: 'inputs', 'weights', 'all'"),
        ({"eps": -1.0}, "eps must be a positive number"),
        ({"atol": 0}, "atol must be a positive number"),
        ({"directions": 0}, "directions must be a positive integer"),
    ]:
        with pytest.raises(ValueError, match=message):
            gradcheck(CubeScale(dtype="float64"), _inputs(), **kwargs)


def test_bad_inputs_and_functions_are_named():
    with pytest.raises(ValueError, match="input 0 must be floating point; got dtype int64"):
        gradcheck(CubeScale(dtype="float64"), np.ones((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="wrt='weights' needs a Keras layer"):
        gradcheck(lambda t: t**2, _inputs(), wrt="weights")
    with pytest.raises(ValueError, match="needs float64 outputs; fn returned float32"):
        gradcheck(lambda t: tf.cast(t, tf.float32) ** 2, _inputs())
    with pytest.raises(ValueError, match="mode='full' computes the whole Jacobian"):
        gradcheck(lambda t: t * 2.0, np.ones((80, 80)), mode="full")
    with pytest.raises(ValueError, match="Keras layer or a callable"):
        gradcheck("relu", _inputs())
