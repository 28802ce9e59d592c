"""Correct ResNets written in other styles than `resnet/`, for false-alarm tests.

`functional_resnet` is a functional model built the torchvision way (a `make_layer`
loop, "layer1_0_conv1" names, `Activation("relu")` layers, shortcut built after the
branch, padding written as explicit pairs, option A from a strided 1x1 max-pool plus
a channel pad). `subclassed_resnet` is made of `keras.layers.Layer` subclasses
(`BasicBlock`, `Bottleneck`) whose `call` uses `keras.ops`, stacked in a
`keras.Sequential`. Neither shares code with `resnet.blocks`.

`functional_resnet` takes `block_fn` overrides so that the broken-ResNet zoo can swap
one block for a faulty one.
"""

from __future__ import annotations

import keras
from keras import ops

import resnet

EPS = 1e-5


def padded_conv(x, filters, kernel, stride, name, *, bias=False, padding="symmetric"):
    """A convolution padded like PyTorch's padding=kernel//2 (or TF 'same')."""
    if stride > 1 and kernel > 1 and padding == "symmetric":
        p = kernel // 2
        x = keras.layers.ZeroPadding2D(((p, p), (p, p)), name=f"{name}_zp")(x)
        return keras.layers.Conv2D(filters, kernel, stride, padding="valid", use_bias=bias, name=name)(x)
    return keras.layers.Conv2D(filters, kernel, stride, padding="same", use_bias=bias, name=name)(x)


def bn(x, name, epsilon=EPS, momentum=0.9):
    return keras.layers.BatchNormalization(epsilon=epsilon, momentum=momentum, name=name)(x)


def act(x, name):
    return keras.layers.Activation("relu", name=name)(x)


@keras.saving.register_keras_serializable(package="tests")
class ChannelPad(keras.layers.Layer):
    """Appends zero channels (option A's padding), after a strided max-pool subsamples."""

    def __init__(self, extra: int, **kwargs):
        super().__init__(**kwargs)
        self.extra = extra

    def call(self, x):
        return ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, self.extra]])

    def get_config(self):
        return {**super().get_config(), "extra": self.extra}


def shortcut_branch(x, out_channels, stride, name, shortcut):
    """The shortcut of one block: identity, option A, or a 1x1 projection with BN."""
    in_channels = x.shape[-1]
    changes = stride != 1 or in_channels != out_channels
    if shortcut == "C" or (shortcut == "B" and changes):
        y = keras.layers.Conv2D(out_channels, 1, stride, use_bias=False, name=f"{name}_downsample_conv")(x)
        return bn(y, f"{name}_downsample_bn")
    if not changes:
        return x
    if stride > 1:
        x = keras.layers.MaxPooling2D(1, strides=stride, name=f"{name}_subsample")(x)
    return ChannelPad(out_channels - in_channels, name=f"{name}_chanpad")(x)


def basic(x, width, stride, name, variant="v1.5", shortcut="B", padding="symmetric"):
    y = act(bn(padded_conv(x, width, 3, stride, f"{name}_conv1", padding=padding), f"{name}_bn1"), f"{name}_relu1")
    y = bn(padded_conv(y, width, 3, 1, f"{name}_conv2", padding=padding), f"{name}_bn2")
    s = shortcut_branch(x, width, stride, name, shortcut)
    return act(keras.layers.add([y, s], name=f"{name}_sum"), f"{name}_relu2")


def bottleneck(x, width, stride, name, variant="v1.5", shortcut="B", padding="symmetric"):
    s1, s3 = (stride, 1) if variant == "v1" else (1, stride)
    y = act(bn(padded_conv(x, width, 1, s1, f"{name}_conv1", padding=padding), f"{name}_bn1"), f"{name}_relu1")
    y = act(bn(padded_conv(y, width, 3, s3, f"{name}_conv2", padding=padding), f"{name}_bn2"), f"{name}_relu2")
    y = bn(padded_conv(y, 4 * width, 1, 1, f"{name}_conv3", padding=padding), f"{name}_bn3")
    s = shortcut_branch(x, 4 * width, stride, name, shortcut)
    return act(keras.layers.add([y, s], name=f"{name}_sum"), f"{name}_relu3")


def preact_basic(x, width, stride, name, variant="v2", shortcut="A", padding="symmetric"):
    """He et al. 2016: BN-ReLU first; projections see the pre-activated input, identity
    and option-A shortcuts the raw input; nothing after the addition."""
    pre = act(bn(x, f"{name}_bn0"), f"{name}_relu0")
    changes = stride != 1 or x.shape[-1] != width
    if shortcut == "C" or (shortcut == "B" and changes):
        s = keras.layers.Conv2D(width, 1, stride, use_bias=False, name=f"{name}_downsample_conv")(pre)
    else:
        s = shortcut_branch(x, width, stride, name, "A")
    y = padded_conv(pre, width, 3, stride, f"{name}_conv1", padding=padding)
    y = act(bn(y, f"{name}_bn1"), f"{name}_relu1")
    y = padded_conv(y, width, 3, 1, f"{name}_conv2", padding=padding)
    return keras.layers.add([s, y], name=f"{name}_sum")


def functional_resnet(
    reference,
    *,
    input_shape=(32, 32, 3),
    num_classes=10,
    variant="v1.5",
    shortcut=None,
    stem=None,
    padding="symmetric",
    block_fn=None,
    stem_fn=None,
):
    """A correct ResNet, built torchvision-style.

    Args:
      reference: A name for `resnet.get_spec`, or a spec.
      input_shape: (H, W, C).
      num_classes: Classifier outputs.
      variant: "v1", "v1.5" or "v2" (v2: basic blocks and the CIFAR stem only).
      shortcut: "A", "B" or "C" (default: the spec's).
      stem: "imagenet" or "cifar" (default: the spec's).
      padding: "symmetric" or "same".
      block_fn: Optional {"layerS_B" or "convS_blockB": function} overriding a block
        (same signature as `basic`), for the broken-ResNet zoo.
      stem_fn: Optional replacement stem, `stem_fn(x) -> x`.

    Returns:
      The functional model.
    """
    spec = reference if isinstance(reference, resnet.ResNetSpec) else resnet.get_spec(reference)
    shortcut = shortcut or spec.default_shortcut
    stem = stem or spec.stem
    preact = variant == "v2"
    block_fn = block_fn or {}
    inputs = keras.Input(input_shape)
    if stem_fn is not None:
        x = stem_fn(inputs)
    elif stem == "imagenet":
        x = act(bn(padded_conv(inputs, spec.stem_width, 7, 2, "conv1", padding=padding), "bn1"), "relu")
        if padding == "symmetric":
            x = keras.layers.MaxPooling2D(3, 2, name="maxpool")(
                keras.layers.ZeroPadding2D(((1, 1), (1, 1)), name="maxpool_zp")(x)
            )
        else:
            x = keras.layers.MaxPooling2D(3, 2, padding="same", name="maxpool")(x)
    elif preact:
        x = padded_conv(inputs, spec.stem_width, 3, 1, "conv1")
    else:
        x = act(bn(padded_conv(inputs, spec.stem_width, 3, 1, "conv1"), "bn1"), "relu")
    make = preact_basic if preact else basic if spec.block == "basic" else bottleneck
    for stage, (count, width, stride) in enumerate(zip(spec.blocks_per_stage, spec.widths, spec.strides)):
        for index in range(count):
            name = f"layer{stage + 1}_{index}"
            fn = block_fn.get(f"conv{stage + 2}_block{index + 1}", make)
            x = fn(x, width, stride if index == 0 else 1, name, variant=variant, shortcut=shortcut, padding=padding)
    if preact:
        x = act(bn(x, "final_bn"), "final_relu")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, name="fc")(x), name=f"torchstyle_{spec.name}")


class BasicBlock(keras.layers.Layer):
    """Two 3x3 convs with BN; ReLU after the addition; projection where shapes change."""

    expansion = 1

    def __init__(self, in_channels, width, stride=1, variant="v1.5", **kwargs):
        super().__init__(**kwargs)
        out = width * self.expansion
        self.pad = keras.layers.ZeroPadding2D(1) if stride > 1 else None
        self.conv1 = keras.layers.Conv2D(width, 3, stride, padding="valid" if stride > 1 else "same", use_bias=False)
        self.bn1 = keras.layers.BatchNormalization(epsilon=EPS, momentum=0.9)
        self.conv2 = keras.layers.Conv2D(out, 3, 1, padding="same", use_bias=False)
        self.bn2 = keras.layers.BatchNormalization(epsilon=EPS, momentum=0.9)
        self.down = None
        if stride != 1 or in_channels != out:
            self.down = [
                keras.layers.Conv2D(out, 1, stride, use_bias=False),
                keras.layers.BatchNormalization(epsilon=EPS, momentum=0.9),
            ]

    def call(self, x, training=None):
        y = self.pad(x) if self.pad is not None else x
        y = ops.relu(self.bn1(self.conv1(y), training=training))
        y = self.bn2(self.conv2(y), training=training)
        identity = x if self.down is None else self.down[1](self.down[0](x), training=training)
        return ops.relu(y + identity)


class Bottleneck(keras.layers.Layer):
    """1x1, 3x3, 1x1 with BN; the stride on the 3x3 (v1.5) or the first 1x1 (v1)."""

    expansion = 4

    def __init__(self, in_channels, width, stride=1, variant="v1.5", **kwargs):
        super().__init__(**kwargs)
        out = width * self.expansion
        s1, s3 = (stride, 1) if variant == "v1" else (1, stride)
        self.conv1 = keras.layers.Conv2D(width, 1, s1, use_bias=False)
        self.bn1 = keras.layers.BatchNormalization(epsilon=EPS, momentum=0.9)
        self.pad = keras.layers.ZeroPadding2D(1) if s3 > 1 else None
        self.conv2 = keras.layers.Conv2D(width, 3, s3, padding="valid" if s3 > 1 else "same", use_bias=False)
        self.bn2 = keras.layers.BatchNormalization(epsilon=EPS, momentum=0.9)
        self.conv3 = keras.layers.Conv2D(out, 1, use_bias=False)
        self.bn3 = keras.layers.BatchNormalization(epsilon=EPS, momentum=0.9)
        self.down = None
        if stride != 1 or in_channels != out:
            self.down = [
                keras.layers.Conv2D(out, 1, stride, use_bias=False),
                keras.layers.BatchNormalization(epsilon=EPS, momentum=0.9),
            ]

    def call(self, x, training=None):
        y = ops.relu(self.bn1(self.conv1(x), training=training))
        y = self.conv2(self.pad(y) if self.pad is not None else y)
        y = ops.relu(self.bn2(y, training=training))
        y = self.bn3(self.conv3(y), training=training)
        identity = x if self.down is None else self.down[1](self.down[0](x), training=training)
        return ops.relu(y + identity)


def subclassed_resnet(reference, *, input_shape=(32, 32, 3), num_classes=10, variant="v1.5", stem=None):
    """A correct ResNet (option B) as a `keras.Sequential` of subclassed block layers.

    Args:
      reference: A name for `resnet.get_spec`, or a spec.
      input_shape: (H, W, C).
      num_classes: Classifier outputs.
      variant: "v1" or "v1.5".
      stem: "imagenet" or "cifar" (default: the spec's).

    Returns:
      The `keras.Sequential` model.
    """
    spec = reference if isinstance(reference, resnet.ResNetSpec) else resnet.get_spec(reference)
    stem = stem or spec.stem
    block_cls = BasicBlock if spec.block == "basic" else Bottleneck
    layers = [keras.Input(input_shape)]
    if stem == "imagenet":
        channels = spec.stem_width
        layers += [
            keras.layers.ZeroPadding2D(3),
            keras.layers.Conv2D(channels, 7, 2, use_bias=False),
            keras.layers.BatchNormalization(epsilon=EPS, momentum=0.9),
            keras.layers.ReLU(),
            keras.layers.ZeroPadding2D(1),
            keras.layers.MaxPooling2D(3, 2),
        ]
    else:
        channels = spec.stem_width
        layers += [
            keras.layers.Conv2D(channels, 3, padding="same", use_bias=False),
            keras.layers.BatchNormalization(epsilon=EPS, momentum=0.9),
            keras.layers.ReLU(),
        ]
    for count, width, stride in zip(spec.blocks_per_stage, spec.widths, spec.strides):
        for index in range(count):
            layers.append(block_cls(channels, width, stride if index == 0 else 1, variant=variant))
            channels = width * block_cls.expansion
    layers += [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(num_classes)]
    return keras.Sequential(layers, name=f"subclassed_{spec.name}")
