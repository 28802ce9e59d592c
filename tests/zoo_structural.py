"""A zoo of deliberately broken ResNets: realistic bugs, one block at a time.

Each `Bug` builds the torchvision-style reimplementation of `tests/reimplementations.py`
with one block (or the stem) swapped for a faulty one, and names the block where the
fault is, so that a test can demand that `verify_model` fails *and* names that block.
`numerical` says whether only the numerical comparison can see the bug (its shapes and
counts are right).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import keras
from keras import ops

import resnet
from reimplementations import ChannelPad, act, bn, functional_resnet, padded_conv, preact_basic, shortcut_branch

# A small bottleneck network, so bottleneck bugs cost little to verify: two stages of
# two bottleneck blocks on the CIFAR stem.
TINY_BOTTLENECK = resnet.ResNetSpec(
    name="tiny_bottleneck",
    depth=14,
    family="cifar",
    block="bottleneck",
    blocks_per_stage=(2, 2),
    widths=(8, 16),
    strides=(1, 2),
    stem="cifar",
    stem_width=16,
    default_shortcut="B",
)


@dataclasses.dataclass(frozen=True)
class Bug:
    """One broken ResNet.

    Attributes:
      name: Short identifier.
      description: One line: what is wrong.
      reference: What the model claims to be (a name or spec).
      block: The block (or "stem") where the bug is; the verdict must name it.
      fault: The faulty block function (signature of `reimplementations.basic`).
      options: Options for both the builder and `verify_model`.
      numerical: True if shapes and counts are right and only outputs differ.
    """

    name: str
    description: str
    reference: object
    block: str
    fault: Callable
    options: dict = dataclasses.field(default_factory=dict)
    numerical: bool = False

    def build(self) -> keras.Model:
        return functional_resnet(
            self.reference, input_shape=(32, 32, 3), block_fn={self.block: self.fault}, **self.options
        )


# --- basic-block faults -------------------------------------------------------------


def relu_before_add(x, width, stride, name, **kw):
    y = act(bn(padded_conv(x, width, 3, stride, f"{name}_c1"), f"{name}_b1"), f"{name}_r1")
    y = act(bn(padded_conv(y, width, 3, 1, f"{name}_c2"), f"{name}_b2"), f"{name}_r2")
    return keras.layers.add([y, shortcut_branch(x, width, stride, name, kw["shortcut"])])


def no_addition(x, width, stride, name, **kw):
    y = act(bn(padded_conv(x, width, 3, stride, f"{name}_c1"), f"{name}_b1"), f"{name}_r1")
    return act(bn(padded_conv(y, width, 3, 1, f"{name}_c2"), f"{name}_b2"), f"{name}_r2")


def stride_on_second_conv(x, width, stride, name, **kw):
    y = act(bn(padded_conv(x, width, 3, 1, f"{name}_c1"), f"{name}_b1"), f"{name}_r1")
    y = bn(padded_conv(y, width, 3, stride, f"{name}_c2"), f"{name}_b2")
    return act(keras.layers.add([y, shortcut_branch(x, width, stride, name, kw["shortcut"])]), f"{name}_out")


def always_project(x, width, stride, name, **kw):
    y = act(bn(padded_conv(x, width, 3, stride, f"{name}_c1"), f"{name}_b1"), f"{name}_r1")
    y = bn(padded_conv(y, width, 3, 1, f"{name}_c2"), f"{name}_b2")
    return act(keras.layers.add([y, shortcut_branch(x, width, stride, name, "C")]), f"{name}_out")


def projection_without_bn(x, width, stride, name, **kw):
    y = act(bn(padded_conv(x, width, 3, stride, f"{name}_c1"), f"{name}_b1"), f"{name}_r1")
    y = bn(padded_conv(y, width, 3, 1, f"{name}_c2"), f"{name}_b2")
    s = keras.layers.Conv2D(width, 1, stride, use_bias=False, name=f"{name}_proj")(x)
    return act(keras.layers.add([y, s]), f"{name}_out")


def tf_same_padding(x, width, stride, name, **kw):
    y = act(bn(padded_conv(x, width, 3, stride, f"{name}_c1", padding="same"), f"{name}_b1"), f"{name}_r1")
    y = bn(padded_conv(y, width, 3, 1, f"{name}_c2"), f"{name}_b2")
    return act(keras.layers.add([y, shortcut_branch(x, width, stride, name, kw["shortcut"])]), f"{name}_out")


def no_middle_relu(x, width, stride, name, **kw):
    y = bn(padded_conv(x, width, 3, stride, f"{name}_c1"), f"{name}_b1")
    y = bn(padded_conv(y, width, 3, 1, f"{name}_c2"), f"{name}_b2")
    return act(keras.layers.add([y, shortcut_branch(x, width, stride, name, kw["shortcut"])]), f"{name}_out")


def missing_last_bn(x, width, stride, name, **kw):
    y = act(bn(padded_conv(x, width, 3, stride, f"{name}_c1"), f"{name}_b1"), f"{name}_r1")
    y = padded_conv(y, width, 3, 1, f"{name}_c2")
    return act(keras.layers.add([y, shortcut_branch(x, width, stride, name, kw["shortcut"])]), f"{name}_out")


def keras_default_epsilon(x, width, stride, name, **kw):
    y = act(keras.layers.BatchNormalization(momentum=0.9)(padded_conv(x, width, 3, stride, f"{name}_c1")), f"{name}_r1")
    y = keras.layers.BatchNormalization(momentum=0.9)(padded_conv(y, width, 3, 1, f"{name}_c2"))
    return act(keras.layers.add([y, shortcut_branch(x, width, stride, name, kw["shortcut"])]), f"{name}_out")


def pytorch_momentum(x, width, stride, name, **kw):
    y = act(bn(padded_conv(x, width, 3, stride, f"{name}_c1"), f"{name}_b1", momentum=0.1), f"{name}_r1")
    y = bn(padded_conv(y, width, 3, 1, f"{name}_c2"), f"{name}_b2", momentum=0.1)
    return act(keras.layers.add([y, shortcut_branch(x, width, stride, name, kw["shortcut"])]), f"{name}_out")


def one_by_one_second_conv(x, width, stride, name, **kw):
    y = act(bn(padded_conv(x, width, 3, stride, f"{name}_c1"), f"{name}_b1"), f"{name}_r1")
    y = bn(keras.layers.Conv2D(width, 1, use_bias=False, name=f"{name}_c2")(y), f"{name}_b2")
    return act(keras.layers.add([y, shortcut_branch(x, width, stride, name, kw["shortcut"])]), f"{name}_out")


@keras.saving.register_keras_serializable(package="tests")
class FrontChannelPad(ChannelPad):
    """Option A with the zero channels in front of the existing ones."""

    def call(self, x):
        return ops.pad(x, [[0, 0], [0, 0], [0, 0], [self.extra, 0]])


def zeros_in_front(x, width, stride, name, **kw):
    y = act(bn(padded_conv(x, width, 3, stride, f"{name}_c1"), f"{name}_b1"), f"{name}_r1")
    y = bn(padded_conv(y, width, 3, 1, f"{name}_c2"), f"{name}_b2")
    s = FrontChannelPad(width - x.shape[-1])(keras.layers.MaxPooling2D(1, strides=stride)(x))
    return act(keras.layers.add([y, s]), f"{name}_out")


def average_pooled_shortcut(x, width, stride, name, **kw):
    y = act(bn(padded_conv(x, width, 3, stride, f"{name}_c1"), f"{name}_b1"), f"{name}_r1")
    y = bn(padded_conv(y, width, 3, 1, f"{name}_c2"), f"{name}_b2")
    s = ChannelPad(width - x.shape[-1])(keras.layers.AveragePooling2D(stride)(x))
    return act(keras.layers.add([y, s]), f"{name}_out")


def shortcut_after_first_conv(x, width, stride, name, **kw):
    h = act(bn(padded_conv(x, width, 3, stride, f"{name}_c1"), f"{name}_b1"), f"{name}_r1")
    y = bn(padded_conv(h, width, 3, 1, f"{name}_c2"), f"{name}_b2")
    return act(keras.layers.add([y, h]), f"{name}_out")


def relu_on_projection(x, width, stride, name, **kw):
    y = act(bn(padded_conv(x, width, 3, stride, f"{name}_c1"), f"{name}_b1"), f"{name}_r1")
    y = bn(padded_conv(y, width, 3, 1, f"{name}_c2"), f"{name}_b2")
    s = act(shortcut_branch(x, width, stride, name, "B"), f"{name}_proj_relu")
    return act(keras.layers.add([y, s]), f"{name}_out")


def stride_one(x, width, stride, name, **kw):
    """The first block of a stage forgets its stride (a later block then strides)."""
    y = act(bn(padded_conv(x, width, 3, 1, f"{name}_c1"), f"{name}_b1"), f"{name}_r1")
    y = bn(padded_conv(y, width, 3, 1, f"{name}_c2"), f"{name}_b2")
    return act(keras.layers.add([y, shortcut_branch(x, width, 1, name, kw["shortcut"])]), f"{name}_out")


# --- pre-activation (v2) faults -------------------------------------------------------


def preact_relu_after_add(x, width, stride, name, **kw):
    return act(preact_basic(x, width, stride, name, **kw), f"{name}_post_relu")


def preact_post_activation(x, width, stride, name, **kw):
    """A v1 block dropped into a v2 network."""
    y = act(bn(padded_conv(x, width, 3, stride, f"{name}_c1"), f"{name}_b1"), f"{name}_r1")
    y = bn(padded_conv(y, width, 3, 1, f"{name}_c2"), f"{name}_b2")
    return act(keras.layers.add([y, shortcut_branch(x, width, stride, name, "A")]), f"{name}_out")


# --- bottleneck faults ----------------------------------------------------------------


def _bottleneck(x, width, name, strides=(1, 1, 1), widths=None, relus=(True, True), relu_first=False, shortcut="B"):
    stride = max(strides)
    w1, w2, w3 = widths or (width, width, 4 * width)
    y = padded_conv(x, w1, 1, strides[0], f"{name}_c1")
    y = bn(y, f"{name}_b1")
    y = act(y, f"{name}_r1") if relus[0] else y
    y = bn(padded_conv(y, w2, 3, strides[1], f"{name}_c2"), f"{name}_b2")
    y = act(y, f"{name}_r2") if relus[1] else y
    y = bn(padded_conv(y, w3, 1, strides[2], f"{name}_c3"), f"{name}_b3")
    if relu_first:
        y = act(y, f"{name}_r3")
    s = shortcut_branch(x, 4 * width, stride, name, shortcut)
    out = keras.layers.add([y, s])
    return out if relu_first else act(out, f"{name}_out")


def v1_stride_in_v15(x, width, stride, name, **kw):
    return _bottleneck(x, width, name, strides=(stride, 1, 1))


def stride_on_last_1x1(x, width, stride, name, **kw):
    return _bottleneck(x, width, name, strides=(1, 1, stride))


def no_reduction(x, width, stride, name, **kw):
    return _bottleneck(x, width, name, strides=(1, stride, 1), widths=(4 * width, 4 * width, 4 * width))


def bottleneck_relu_before_add(x, width, stride, name, **kw):
    return _bottleneck(x, width, name, strides=(1, stride, 1), relu_first=True)


def bottleneck_no_relu_after_3x3(x, width, stride, name, **kw):
    return _bottleneck(x, width, name, strides=(1, stride, 1), relus=(True, False))


ZOO = [
    Bug(
        "relu_before_add",
        "basic block applies the last ReLU to the branch before the addition, none after it",
        "resnet14",
        "conv3_block2",
        relu_before_add,
    ),
    Bug(
        "no_addition",
        "a basic block without its residual addition (a plain block)",
        "resnet14",
        "conv3_block2",
        no_addition,
    ),
    Bug(
        "stride_on_second_conv",
        "basic block strides its second 3x3 instead of the first",
        "resnet14",
        "conv3_block1",
        stride_on_second_conv,
        {"shortcut": "B"},
    ),
    Bug(
        "projection_where_identity",
        "a 1x1 projection shortcut in a block whose shape does not change (option C in a B network)",
        "resnet14",
        "conv2_block2",
        always_project,
        {"shortcut": "B"},
    ),
    Bug(
        "projection_without_bn",
        "projection shortcut without its BatchNorm",
        "resnet14",
        "conv3_block1",
        projection_without_bn,
        {"shortcut": "B"},
    ),
    Bug(
        "tf_same_padding",
        "strided 3x3 with TensorFlow 'same' padding (bottom/right only) where symmetric padding was meant",
        "resnet14",
        "conv3_block1",
        tf_same_padding,
        {"shortcut": "B"},
    ),
    Bug(
        "no_middle_relu",
        "basic block without the ReLU between its two convolutions",
        "resnet14",
        "conv2_block2",
        no_middle_relu,
    ),
    Bug(
        "missing_last_bn",
        "basic block without the BatchNorm after its second convolution",
        "resnet14",
        "conv3_block2",
        missing_last_bn,
    ),
    Bug(
        "keras_default_epsilon",
        "one block's BatchNorms left at Keras' default epsilon 1e-3",
        "resnet14",
        "conv4_block1",
        keras_default_epsilon,
    ),
    Bug(
        "pytorch_momentum",
        "one block's BatchNorms use PyTorch's momentum=0.1 in Keras' convention",
        "resnet14",
        "conv2_block1",
        pytorch_momentum,
    ),
    Bug(
        "one_by_one_second_conv",
        "second convolution of a basic block is 1x1 instead of 3x3",
        "resnet14",
        "conv3_block2",
        one_by_one_second_conv,
    ),
    Bug(
        "zeros_in_front",
        "option-A shortcut pads its zero channels in front of the existing ones",
        "resnet14",
        "conv3_block1",
        zeros_in_front,
        numerical=True,
    ),
    Bug(
        "average_pooled_shortcut",
        "option-A shortcut averages 2x2 pixels instead of subsampling",
        "resnet14",
        "conv3_block1",
        average_pooled_shortcut,
        numerical=True,
    ),
    Bug(
        "shortcut_after_first_conv",
        "shortcut taken after the first conv-BN-ReLU instead of from the block input",
        "resnet14",
        "conv2_block2",
        shortcut_after_first_conv,
    ),
    Bug(
        "relu_on_projection",
        "a ReLU on the projection shortcut before the addition",
        "resnet14",
        "conv3_block1",
        relu_on_projection,
        {"shortcut": "B"},
    ),
    Bug(
        "stride_one_in_first_block",
        "first block of a stage does not stride",
        "resnet14",
        "conv3_block1",
        stride_one,
        {"shortcut": "B"},
    ),
    Bug(
        "v2_relu_after_add",
        "pre-activation block with a ReLU after the addition",
        "resnet14",
        "conv3_block2",
        preact_relu_after_add,
        {"variant": "v2"},
    ),
    Bug(
        "v2_post_activation_block",
        "a post-activation (v1) block inside a pre-activation network",
        "resnet14",
        "conv2_block2",
        preact_post_activation,
        {"variant": "v2"},
    ),
    Bug(
        "v1_stride_in_v15",
        "bottleneck strides its first 1x1 (v1) where v1.5 strides the 3x3",
        TINY_BOTTLENECK,
        "conv3_block1",
        v1_stride_in_v15,
    ),
    Bug(
        "stride_on_last_1x1",
        "bottleneck strides its last 1x1 convolution",
        TINY_BOTTLENECK,
        "conv3_block1",
        stride_on_last_1x1,
    ),
    Bug(
        "no_reduction",
        "bottleneck without the 1x1 reduction (inner width 4x too wide)",
        TINY_BOTTLENECK,
        "conv2_block2",
        no_reduction,
    ),
    Bug(
        "bottleneck_relu_before_add",
        "bottleneck applies its last ReLU before the addition",
        TINY_BOTTLENECK,
        "conv3_block2",
        bottleneck_relu_before_add,
    ),
    Bug(
        "bottleneck_no_relu_after_3x3",
        "bottleneck without the ReLU after its 3x3 convolution",
        TINY_BOTTLENECK,
        "conv2_block1",
        bottleneck_no_relu_after_3x3,
    ),
]
