"""ResNet builders: a spec plus options in, a `keras.Model` out."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import keras

from resnet import specs
from resnet.blocks import BLOCKS, BlockOptions, batch_norm, conv, conv_bn_relu, relu

MIN_INPUT_SIZE = 32
POOLINGS = (None, "avg", "max")
STEM_LAYER_NAMES = ("conv1_relu", "conv1_bn", "conv1_conv")  # the stem's output, by preference
_BLOCK_OUTPUT = re.compile(r"^(conv\d+)_block(\d+)_out$")


def build_resnet(
    spec: specs.ResNetSpec | str,
    *,
    num_classes: int | None = None,
    input_shape: tuple[int | None, int | None, int] | None = None,
    include_top: bool = True,
    pooling: str | None = None,
    variant: str = "v1.5",
    shortcut: str | None = None,
    stem: str | None = None,
    padding: str = "symmetric",
    zero_init_residual: bool = False,
    fused_batch_norm: bool = True,
    conv_bias: bool = False,
    bn_epsilon: float = 1e-5,
    bn_momentum: float = 0.9,
    classifier_activation: str | None = None,
    kernel_regularizer: Any = None,
    dtype: Any = None,
    name: str | None = None,
) -> keras.Model:
    """Builds the ResNet that `spec` describes.

    Args:
      spec: A `resnet.specs.ResNetSpec` or a name for `resnet.get_spec`.
      num_classes: Classifier outputs (default 1000 for ImageNet networks, 10 for
        CIFAR networks). Ignored without a top.
      input_shape: (height, width, channels); height and width at least 32 px, or
        None for any size. Default (224, 224, 3) for the ImageNet stem, (32, 32, 3)
        for the CIFAR stem.
      include_top: Whether to end with global average pooling and the classifier.
      pooling: Without a top: None (the last feature map), "avg" or "max".
      variant: "v1", "v1.5" or "v2"; see `resnet.blocks.BlockOptions`.
      shortcut: "A", "B" or "C" (default: the spec's, B for ImageNet, A for CIFAR).
      stem: "imagenet" (7x7/2 conv, 3x3/2 max-pool) or "cifar" (3x3/1 conv, no
        pool); default: the spec's.
      padding: "symmetric" (default) or "same"; see `BlockOptions`.
      zero_init_residual: Zero-initialise the end of every residual branch.
      fused_batch_norm: BatchNorm through TensorFlow's fused kernel (same function,
        faster); False gives plain `keras.layers.BatchNormalization` layers.
      conv_bias: Give convolutions a bias.
      bn_epsilon: BatchNorm epsilon.
      bn_momentum: BatchNorm momentum (Keras convention).
      classifier_activation: Activation of the classifier; None returns logits.
      kernel_regularizer: Regularizer for every convolution and dense kernel.
      dtype: Dtype policy of every layer (e.g. "float64"); None uses the global one.
      name: Model name (default: the spec's name).

    Returns:
      The uncompiled model.

    Raises:
      ValueError: On any invalid argument, before any layer is built.
    """
    spec = specs.get_spec(spec) if not isinstance(spec, specs.ResNetSpec) else spec
    if stem is not None:
        if stem not in specs.STEMS:
            raise ValueError(f"Unknown stem {stem!r}; valid: {', '.join(map(repr, specs.STEMS))}.")
        spec = dataclasses.replace(spec, stem=stem)
    opts = BlockOptions(
        variant=variant,
        shortcut=spec.default_shortcut if shortcut is None else shortcut,
        padding=padding,
        conv_bias=conv_bias,
        bn_epsilon=bn_epsilon,
        bn_momentum=bn_momentum,
        zero_init_residual=zero_init_residual,
        fused_batch_norm=fused_batch_norm,
        kernel_regularizer=kernel_regularizer,
        dtype=dtype,
    )
    if num_classes is None:
        num_classes = 1000 if spec.family == "imagenet" else 10
    input_shape = _validated_input_shape(input_shape, spec.stem)
    if include_top and (not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1):
        raise ValueError(f"num_classes must be a positive integer; got {num_classes!r}.")
    if pooling not in POOLINGS:
        raise ValueError(f"Unknown pooling {pooling!r}; valid: {', '.join(map(repr, POOLINGS))}.")

    inputs = keras.Input(shape=input_shape, name="input", dtype=dtype)
    x = _stem(inputs, spec, opts)
    for stage, (stage_name, blocks, width, stride) in enumerate(
        zip(spec.stage_names, spec.blocks_per_stage, spec.widths, spec.strides)
    ):
        for index in range(blocks):
            x = BLOCKS[spec.block](x, width, stride if index == 0 else 1, f"{stage_name}_block{index + 1}", opts)
    if opts.preactivation:
        # Pre-activation blocks end with a bare addition: normalise once at the end.
        x = relu(batch_norm(x, "post", opts), "post_relu", opts)
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool", dtype=dtype)(x)
        x = keras.layers.Dense(
            num_classes,
            activation=classifier_activation,
            # torchvision's nn.Linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the
            # kernel, which keeps initial logits small (initial loss near ln(classes)).
            kernel_initializer=keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform"),
            kernel_regularizer=kernel_regularizer,
            name="predictions",
            dtype=dtype,
        )(x)
    elif pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool", dtype=dtype)(x)
    elif pooling == "max":
        x = keras.layers.GlobalMaxPooling2D(name="max_pool", dtype=dtype)(x)
    return keras.Model(inputs, x, name=name or spec.name)


def _validated_input_shape(input_shape, stem: str) -> tuple:
    if input_shape is None:
        return (224, 224, 3) if stem == "imagenet" else (32, 32, 3)
    shape = tuple(input_shape)
    sizes_ok = all(s is None or (isinstance(s, int) and s >= MIN_INPUT_SIZE) for s in shape[:2])
    if len(shape) != 3 or not sizes_ok or not isinstance(shape[2], int) or shape[2] < 1:
        raise ValueError(
            f"input_shape must be (height, width, channels) with height and width >= {MIN_INPUT_SIZE} "
            f"(or None) and channels >= 1; got {input_shape!r}."
        )
    return shape


def _stem(x, spec: specs.ResNetSpec, opts: BlockOptions):
    """conv1 of Table 1 (7x7/2, then a 3x3/2 max-pool), or the CIFAR 3x3/1 conv.

    The v2 CIFAR stem is a bare convolution: the first block's pre-activation
    normalises it (He et al. 2016). The ImageNet stem keeps BN and ReLU in every
    variant, so that the max-pool sees non-negative inputs and padding it with zeros
    is the same as PyTorch's padding with -inf.
    """
    if spec.stem == "cifar":
        if opts.preactivation:
            return conv(x, spec.stem_width, 3, 1, "conv1", opts)
        return conv_bn_relu(x, spec.stem_width, 3, 1, "conv1", opts)
    x = conv_bn_relu(x, spec.stem_width, 7, 2, "conv1", opts)
    if opts.padding == "symmetric":
        x = keras.layers.ZeroPadding2D(1, name="pool1_pad", dtype=opts.dtype)(x)
        return keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool", dtype=opts.dtype)(x)
    return keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool1_pool", dtype=opts.dtype)(x)


def _imagenet_builder(depth: int):
    def builder(**kwargs) -> keras.Model:
        return build_resnet(specs.IMAGENET_SPECS[depth], **kwargs)

    builder.__name__ = builder.__qualname__ = f"resnet{depth}"
    builder.__doc__ = f"""ResNet-{depth} of Table 1 (He et al. 2015).

    Args:
      **kwargs: Any keyword argument of `build_resnet` (num_classes, input_shape,
        include_top, variant, shortcut, stem, padding, zero_init_residual,
        conv_bias, ...).

    Returns:
      The uncompiled `keras.Model`.
    """
    return builder


resnet18 = _imagenet_builder(18)
resnet34 = _imagenet_builder(34)
resnet50 = _imagenet_builder(50)
resnet101 = _imagenet_builder(101)
resnet152 = _imagenet_builder(152)


def cifar_resnet(depth: int, **kwargs) -> keras.Model:
    """The paper's CIFAR-10 ResNet with `depth` = 6n+2 layers (section 4.2).

    Defaults follow the paper: 10 classes, 32x32x3 inputs, option-A shortcuts.

    Args:
      depth: 6n+2 (20, 32, 44, 56, 110, 1202, ...).
      **kwargs: Any keyword argument of `build_resnet`.

    Returns:
      The uncompiled `keras.Model`.
    """
    return build_resnet(specs.cifar_spec(depth), **kwargs)


def endpoints(model: keras.Model) -> dict[str, Any]:
    """Every stage's output tensor, keyed by the paper's stage name.

    "conv1" is the stem's output before the max-pool (112 px at 224 px input);
    "conv2" ... "conv5" are the outputs of each stage's last block (56, 28, 14, 7 px).
    Works for any functional model named the Keras-applications way, including
    `keras.applications.ResNet50`.

    Args:
      model: A functional ResNet.

    Returns:
      An ordered dict from stage name to Keras tensor.

    Raises:
      ValueError: If the model has no layers named that way.
    """
    names = [layer.name for layer in model.layers]
    stem = next((n for n in STEM_LAYER_NAMES if n in names), None)
    last_block: dict[str, str] = {}
    for layer_name in names:
        match = _BLOCK_OUTPUT.match(layer_name)
        if match:
            last_block[match.group(1)] = layer_name
    if stem is None or not last_block:
        raise ValueError(
            f"Model {model.name!r} has no stem ('conv1_relu') or block outputs ('convS_blockB_out'); "
            "endpoints need a ResNet named the Keras-applications way."
        )
    layer_names = {"conv1": stem, **dict(sorted(last_block.items(), key=lambda kv: int(kv[0][4:])))}
    return {stage: model.get_layer(layer_name).output for stage, layer_name in layer_names.items()}


def feature_extractor(model: keras.Model) -> keras.Model:
    """A model that maps the input to the dict of every stage's feature map.

    Args:
      model: A functional ResNet (see `endpoints`).

    Returns:
      A `keras.Model` sharing `model`'s layers and weights, whose output is a dict
      {"conv1": ..., "conv2": ..., ...}.
    """
    return keras.Model(model.input, endpoints(model), name=f"{model.name}_features")
