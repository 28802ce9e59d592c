"""The dynamic checks: a healthy ResNet passes, each broken model of the zoo is caught.

Models are the reference CIFAR ResNet-8 on 8x8 px images (tests/zoo_dynamic.py); the
ResNet-20 at 32 px that the figures in BUILD_NOTES.md are about is in the slow set.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
import zoo_dynamic as zoo  # tests/, on the path under pytest

import resnet
import verification
from verification import dynamic

CHECKS = ["forward", "batch_independence", "determinism", "initial_loss", "gradients", "overfit"]


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return rng.standard_normal((8, 8, 8, 3)).astype("float32"), np.arange(8) % zoo.NUM_CLASSES


def run_check(name, model, images, labels):
    """Runs one dynamic check by name, as check_training would."""
    calls = {
        "forward": lambda: dynamic.check_forward(model, images),
        "batch_independence": lambda: dynamic.check_batch_independence(model, images),
        "determinism": lambda: dynamic.check_determinism(model, images),
        "initial_loss": lambda: dynamic.check_initial_loss(model, images, labels, zoo.NUM_CLASSES),
        "gradients": lambda: dynamic.check_gradients(model, images, labels),
        "overfit": lambda: dynamic.check_overfit(model, images, labels, steps=30),
    }
    return calls[name]()


def test_healthy_resnet_passes_and_is_left_unchanged(batch):
    images, labels = batch
    model = zoo.healthy()
    before = [w.copy() for w in model.get_weights()]
    report = verification.check_training(model, batch, zoo.NUM_CLASSES)
    assert report.passed, report
    assert [c.name for c in report.checks] == CHECKS
    assert all(isinstance(c, verification.CheckResult) for c in report.checks)
    # Moving statistics too: nothing a check does may leak into the model.
    for after, saved in zip(model.get_weights(), before):
        np.testing.assert_array_equal(after, saved)
    norms = report.get("gradients").details["stage_gradient_norms"]
    assert list(norms) == ["conv1", "conv2", "conv3", "conv4", "predictions"]
    assert all(value > 0 for value in norms.values())
    curve = report.get("overfit").details["loss_curve"]
    assert curve[-1] < 0.1 < curve[0]
    assert "training mode" in report.get("batch_independence").message
    assert report.get("batch_independence").details["cross_gradient_training"] > 0  # BN couples
    assert report.get("forward").details["spec"] == "resnet8"
    report.to_json()  # JSON-safe throughout


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_zoo_model_is_caught(name, batch):
    build, check = zoo.ZOO[name]
    images, labels = batch
    result = run_check(check, build(), images, labels)
    assert not result.passed, result
    assert result.name == check
    # The healthy model passes every check (test above): it is the bug that fails it.


def test_zoo_messages_say_what_is_wrong(batch):
    images, labels = batch
    assert "frozen" in dynamic.check_gradients(zoo.frozen_bn(), images, labels).message
    detached = dynamic.check_gradients(zoo.detached_stem(), images, labels)
    assert "no gradient" in detached.message and "conv1_conv/kernel" in detached.details["zero_gradient"]
    assert "ignore the training flag" in dynamic.check_determinism(zoo.bn_ignores_training(), images).message
    frozen = dynamic.check_determinism(zoo.frozen_bn(), images)
    assert not frozen.passed and "frozen BatchNorm" in frozen.message
    assert "probabilities" in dynamic.check_initial_loss(zoo.softmax_head(), images, labels, 10).message
    assert "'conv1_relu'" in dynamic.check_forward(zoo.log_activation(), images).message
    lying = dynamic.check_forward(zoo.lying_shape(), images)
    assert lying.details["wrong_shape"] == {"lying_pool": {"declared": (None, 4, 4, 4), "actual": (4, 8, 8, 4)}}
    stride = dynamic.check_forward(zoo.wrong_stride(), images)
    assert stride.details["stage_shapes"]["conv3"] == {"expected": (4, 4, 32), "actual": (8, 8, 32)}


def test_softmax_head_passes_with_from_logits_false(batch):
    images, labels = batch
    result = dynamic.check_initial_loss(zoo.softmax_head(), images, labels, 10, from_logits=False)
    assert result.passed, result


def test_initial_loss_of_uniform_logits_is_exactly_ln_classes(batch):
    images, labels = batch
    model = zoo.healthy()
    head = model.get_layer("predictions")
    head.kernel.assign(tf.zeros_like(head.kernel))  # every logit 0: softmax uniform
    result = dynamic.check_initial_loss(model, images, labels, 10)
    assert result.passed
    assert result.details["loss"] == pytest.approx(math.log(10), abs=1e-6)


def test_stage_gradient_norms_match_a_direct_computation(batch):
    images, labels = batch
    model = zoo.healthy()
    moving = model.get_layer("conv1_bn").moving_mean.numpy().copy()
    norms = verification.stage_gradient_norms(model, images, labels)
    assert verification.stage_gradient_norms(model, images, np.eye(10)[labels]) == pytest.approx(norms)  # one-hot
    np.testing.assert_array_equal(model.get_layer("conv1_bn").moving_mean.numpy(), moving)
    # Independently: a plain training step's gradients, grouped by layer name by hand.
    with tf.GradientTape() as tape:
        logits = model(images, training=True)
        loss = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        loss = tf.reduce_mean(loss)
    grads = tape.gradient(loss, model.trainable_variables)
    expected = {}
    for variable, grad in zip(model.trainable_variables, grads):
        layer = variable.path.split("/")[0]
        stage = layer.split("_")[0] if layer.startswith("conv") else layer
        expected[stage] = expected.get(stage, 0.0) + float(tf.reduce_sum(grad**2))
    assert norms == pytest.approx({k: math.sqrt(v) for k, v in expected.items()}, rel=1e-4)


def test_conv_biases_before_batch_norm_get_only_round_off(batch):
    # BatchNorm in training mode subtracts the batch mean, so a constant added before
    # it has no effect: the gradient of every conv bias is zero up to round-off.
    images, labels = batch
    model = resnet.cifar_resnet(8, input_shape=zoo.INPUT_SHAPE, conv_bias=True)
    result = dynamic.check_gradients(model, images, labels)
    assert result.passed and "round-off" in result.message
    biases = {v.path for v in model.trainable_variables if v.path.endswith("_conv/bias")}
    assert len(biases) == 7 and set(result.details["negligible_gradient"]) == biases


def test_overfit_failure_shows_the_loss_curve(batch):
    images, labels = batch
    result = dynamic.check_overfit(zoo.healthy(), images, labels, steps=2)
    assert not result.passed
    assert "loss curve" in result.message and len(result.details["loss_curve"]) == 2


def test_batch_independence_without_batch_norm_has_no_training_coupling(batch):
    images, _ = batch
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x)))
    result = dynamic.check_batch_independence(model, images)
    assert result.passed and result.details["cross_gradient_training"] == 0.0
    determinism = dynamic.check_determinism(model, images)
    assert determinism.passed and "no BatchNorm/dropout" in determinism.message


def test_expected_stage_shapes_follow_the_paper():
    # Table 1: 112, 56, 28, 14, 7 px; section 4.2: 32, 16, 8 px.
    assert dynamic.expected_stage_shapes(resnet.get_spec("resnet50"), 224, 224) == {
        "conv1": (112, 112, 64),
        "conv2": (56, 56, 256),
        "conv3": (28, 28, 512),
        "conv4": (14, 14, 1024),
        "conv5": (7, 7, 2048),
    }
    assert dynamic.expected_stage_shapes(resnet.cifar_spec(20), 32, 32) == {
        "conv1": (32, 32, 16),
        "conv2": (32, 32, 16),
        "conv3": (16, 16, 32),
        "conv4": (8, 8, 64),
    }


def test_batch_from_accepts_datasets_and_one_hot(batch):
    images, labels = batch
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
    got_images, got_labels = dynamic.batch_from(dataset, 10)
    np.testing.assert_array_equal(got_images, images[:4])
    np.testing.assert_array_equal(got_labels, labels[:4])
    _, from_one_hot = dynamic.batch_from((images, np.eye(10)[labels]), 10)
    np.testing.assert_array_equal(from_one_hot, labels)


@pytest.mark.parametrize(
    "args, message",
    [
        (lambda b: (b, 1), "num_classes must be an integer >= 2; got 1"),
        (lambda b: ((b[0], b[1] + 5), 10), r"labels must lie in \[0, 10\); got 5 .. 12"),
        (lambda b: ((b[0][0], b[1]), 10), r"images must be numeric \(N, H, W, C\) with N >= 2"),
        (lambda b: ((b[0], b[1][:3]), 10), "labels must be 8 class indices or one-hot rows of 10"),
        (lambda b: (b[0], 10), "must be an \\(images, labels\\) pair"),
        (lambda b: ((b[0], b[1] % 7), 7), "outputs 10 classes; num_classes is 7"),
    ],
)
def test_bad_input_is_named_before_any_check(args, message, batch):
    data, num_classes = args(batch)
    with pytest.raises(ValueError, match=message):
        verification.check_training(zoo.healthy(), data, num_classes)


@pytest.mark.slow
def test_cifar_resnet20_passes_check_training():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((16, 32, 32, 3)).astype("float32")
    labels = np.arange(16) % 10
    report = verification.check_training(resnet.cifar_resnet(20), (images, labels), 10)
    assert report.passed, report
    assert list(report.get("gradients").details["stage_gradient_norms"]) == [
        "conv1",
        "conv2",
        "conv3",
        "conv4",
        "predictions",
    ]
