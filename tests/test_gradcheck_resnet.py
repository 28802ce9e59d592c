"""Float64 gradient checks of every custom layer and block type of `resnet/`.

Blocks are built in float32 (the default) and checked by `verification.gradcheck`,
which rebuilds them in float64; w.r.t. inputs and weights, in training mode (batch
statistics) and inference mode (moving statistics, randomised so that BN is not the
identity).
"""

import keras
import numpy as np
import pytest

import resnet
from resnet.blocks import BlockOptions, basic_block, bottleneck_block
from verification import gradcheck

BLOCKS = {
    # name: (block function, input channels, width, stride, options)
    "basic_A_stride2": (basic_block, 2, 4, 2, BlockOptions(shortcut="A")),
    "basic_B_stride2": (basic_block, 2, 4, 2, BlockOptions(shortcut="B")),
    "basic_C_identity": (basic_block, 4, 4, 1, BlockOptions(shortcut="C")),
    "basic_same_padding": (basic_block, 2, 4, 2, BlockOptions(padding="same", conv_bias=True)),
    "bottleneck_v1": (bottleneck_block, 4, 2, 2, BlockOptions(variant="v1")),
    "bottleneck_v1.5": (bottleneck_block, 4, 2, 2, BlockOptions(variant="v1.5")),
    "preact_basic_A": (basic_block, 2, 4, 2, BlockOptions(variant="v2", shortcut="A")),
    "preact_bottleneck_B": (bottleneck_block, 4, 2, 2, BlockOptions(variant="v2")),
}


def randomize(model: keras.Model, seed: int = 0) -> keras.Model:
    """Random weights everywhere, BN statistics included, so no layer is trivial."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape = tuple(variable.shape)
        if variable.path.endswith(("moving_variance", "gamma")):
            value = rng.uniform(0.5, 1.5, shape)
        else:
            value = rng.normal(0.0, 0.5, shape)
        variable.assign(value.astype(variable.dtype))
    return model


def block_model(name: str) -> tuple[keras.Model, np.ndarray]:
    block, channels, width, stride, opts = BLOCKS[name]
    inputs = keras.Input((4, 4, channels))
    model = keras.Model(inputs, block(inputs, width, stride, "conv2_block1", opts))
    x = np.random.default_rng(1).normal(0.0, 1.0, (2, 4, 4, channels))
    return randomize(model), x


@pytest.mark.parametrize("name", list(BLOCKS))
def test_block_gradients(name):
    model, x = block_model(name)
    for training in (True, False):  # batch statistics, then moving statistics
        result = gradcheck(model, x, wrt="all", mode="fast", training=training)
        assert result.passed, (training, result)
        # Every trainable weight and the input were perturbed.
        assert len(result.details["checked_tensors"]) == 1 + len(model.trainable_weights)
        assert result.checked + result.left_out == 3 * len(result.details["checked_tensors"])
        assert "clone_model" in result.float64


def test_basic_block_full_jacobian():
    model, x = block_model("basic_A_stride2")
    result = gradcheck(model, x[:1], wrt="inputs", mode="full", training=False)
    assert result.passed, result
    assert result.checked == (4 * 4 * 2) * (2 * 2 * 4)


@pytest.mark.parametrize("stride, filters", [(2, 4), (1, 3)])
def test_zero_pad_shortcut_full_jacobian(stride, filters):
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 2))
    result = gradcheck(resnet.ZeroPadShortcut(filters, stride), x, mode="full")
    assert result.passed, result
    out = 2 * (4 // stride) ** 2 * filters
    assert result.checked == out * x.size


def test_zero_pad_shortcut_with_a_wrong_gradient_would_be_caught():
    # Outputs the pixels one row down, but back-propagates as if it had not moved:
    # a gradient indexing bug. The checker must see that the two disagree.
    class OffByOne(resnet.ZeroPadShortcut):
        def call(self, inputs):
            right = super().call(inputs)
            wrong = super().call(keras.ops.roll(inputs, 1, axis=1))
            return keras.ops.stop_gradient(wrong - right) + right

    x = np.random.default_rng(0).normal(size=(1, 4, 4, 2))
    result = gradcheck(OffByOne(4, 2, dtype="float64"), x, mode="full")
    assert not result.passed and result.worst_tensor == "input 0"


def _tiny_spec(stem: str) -> resnet.ResNetSpec:
    return resnet.ResNetSpec(
        name="tiny", depth=4, family=stem, block="basic", blocks_per_stage=(1,), widths=(4,),
        strides=(1,), stem=stem, stem_width=4, default_shortcut="B",
    )  # fmt: skip


@pytest.mark.parametrize("stem, last_layer", [("imagenet", "pool1_pool"), ("cifar", "conv1_relu")])
def test_stem_gradients(stem, last_layer):
    full = resnet.build_resnet(_tiny_spec(stem), input_shape=(None, None, 3), include_top=False)
    model = randomize(keras.Model(full.input, full.get_layer(last_layer).output))
    x = np.random.default_rng(2).normal(size=(2, 8, 8, 3))
    for training in (True, False):
        result = gradcheck(model, x, mode="fast", training=training)
        assert result.passed, (training, result)


def test_whole_cifar_resnet8():
    model = randomize(resnet.cifar_resnet(8, input_shape=(None, None, 3)), seed=3)
    x = np.random.default_rng(3).normal(size=(2, 8, 8, 3))
    for training in (True, False):
        result = gradcheck(model, x, mode="fast", training=training)
        assert result.passed, (training, result)
        assert len(result.details["checked_tensors"]) == 1 + len(model.trainable_weights)
