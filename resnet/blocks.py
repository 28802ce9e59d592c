"""Residual blocks, written as functions on Keras tensors.

Blocks are built functionally, layer by layer, rather than as `Layer` subclasses, so
every convolution and BatchNorm is a named layer of the final model (Keras
applications' scheme: `conv3_block2_1_conv`). That keeps weights addressable by name
(conversion from Keras applications, feature extraction, verification), makes
`model.summary()` show the paper's structure, and leaves nothing custom to serialise.

Layer names inside a block `convS_blockB`:
  `_0_conv`, `_0_bn`   projection shortcut (options B and C)
  `_0_shortcut`        zero-padding shortcut (option A)
  `_1_*`, `_2_*`, ...  the residual branch, in order
  `_preact_bn/_relu`   pre-activation (v2 only)
  `_add`, `_out`       the residual addition and the block output (v1: a ReLU after
                       the addition; v2: the addition itself is `_out`)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras

from resnet.layers import FusedBatchNormalization, ZeroPadShortcut
from resnet.specs import PADDINGS, SHORTCUTS, VARIANTS


@dataclasses.dataclass(frozen=True)
class BlockOptions:
    """The choices that shape every layer of a ResNet, shared by all its blocks.

    Attributes:
      variant: "v1" (stride on the first 1x1 conv of a bottleneck, as in the paper),
        "v1.5" (stride on the 3x3, as in torchvision) or "v2" (pre-activation,
        He et al. 2016). Basic blocks are the same in v1 and v1.5.
      shortcut: "A" (identity, zero-padded where shapes change), "B" (projection
        where shapes change) or "C" (projection everywhere); section 3.3.
      padding: "symmetric" pads strided convolutions and the stem max-pool
        explicitly on both sides, then convolves with 'valid', as PyTorch and Keras
        applications do; "same" uses TensorFlow's 'same', which pads only the bottom
        and right at stride 2 and so gives different outputs for the same weights.
      conv_bias: Whether convolutions have a bias (redundant before BatchNorm; Keras
        applications have them).
      bn_epsilon: BatchNorm epsilon (torchvision 1e-5; Keras applications 1.001e-5).
      bn_momentum: BatchNorm moving-average momentum in Keras' convention (0.9 equals
        PyTorch's momentum=0.1).
      fused_batch_norm: Use `FusedBatchNormalization` (TensorFlow's fused kernel,
        the same function as `keras.layers.BatchNormalization` and ~1.4x faster
        ResNet-50 training on a CPU) instead of the Keras layer.
      zero_init_residual: Start each residual branch at zero: the gamma of its last
        BatchNorm (v1, v1.5), or its last convolution's kernel (v2, which has no
        BatchNorm at the end of the branch).
      kernel_regularizer: Optional regularizer for convolution and dense kernels.
      dtype: Optional dtype policy for every layer (None: Keras' global policy).
    """

    variant: str = "v1.5"
    shortcut: str = "B"
    padding: str = "symmetric"
    conv_bias: bool = False
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.9
    zero_init_residual: bool = False
    fused_batch_norm: bool = True
    kernel_regularizer: Any = None
    dtype: Any = None

    def __post_init__(self):
        for field, valid in (("variant", VARIANTS), ("shortcut", SHORTCUTS), ("padding", PADDINGS)):
            value = getattr(self, field)
            if value not in valid:
                raise ValueError(f"Unknown {field} {value!r}; valid: {', '.join(map(repr, valid))}.")

    @property
    def preactivation(self) -> bool:
        return self.variant == "v2"


def _conv_initializer():
    # He et al. 2015 (ref [13] of the paper) normal init in fan-out mode, as
    # torchvision does, so activations keep their scale through ReLU networks.
    return keras.initializers.VarianceScaling(2.0, mode="fan_out", distribution="untruncated_normal")


def conv(x, filters: int, kernel_size: int, stride: int, name: str, opts: BlockOptions, *, zero_init=False):
    """A convolution with the padding convention of `opts` (no BatchNorm).

    With symmetric padding, a strided convolution with a kernel larger than 1 pads
    kernel_size // 2 on every side and then convolves with 'valid' (PyTorch's
    `padding=k//2`). Stride-1 convolutions and 1x1 convolutions need no special
    treatment: TensorFlow's 'same' is already symmetric there.
    """
    padding = "same"
    if opts.padding == "symmetric" and stride > 1 and kernel_size > 1:
        x = keras.layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad", dtype=opts.dtype)(x)
        padding = "valid"
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=stride,
        padding=padding,
        use_bias=opts.conv_bias,
        kernel_initializer="zeros" if zero_init else _conv_initializer(),
        kernel_regularizer=opts.kernel_regularizer,
        name=f"{name}_conv",
        dtype=opts.dtype,
    )(x)


def batch_norm(x, name: str, opts: BlockOptions, *, zero_gamma=False):
    """BatchNorm over channels with the epsilon and momentum of `opts`."""
    layer = FusedBatchNormalization if opts.fused_batch_norm else keras.layers.BatchNormalization
    return layer(
        axis=-1,
        epsilon=opts.bn_epsilon,
        momentum=opts.bn_momentum,
        gamma_initializer="zeros" if zero_gamma else "ones",
        name=f"{name}_bn",
        dtype=opts.dtype,
    )(x)


def relu(x, name: str, opts: BlockOptions):
    return keras.layers.ReLU(name=name, dtype=opts.dtype)(x)


def conv_bn_relu(x, filters, kernel_size, stride, name, opts):
    x = conv(x, filters, kernel_size, stride, name, opts)
    x = batch_norm(x, name, opts)
    return relu(x, f"{name}_relu", opts)


def shortcut(x, filters: int, stride: int, name: str, opts: BlockOptions, *, projection_input=None):
    """The shortcut branch of a block (section 3.3, options A, B and C).

    Args:
      x: The block input.
      filters: Channels the block outputs.
      stride: The block's stride.
      name: The block's name prefix.
      opts: Block options; `opts.shortcut` chooses the option.
      projection_input: What a projection convolves (the pre-activated input in
        v2 blocks); defaults to `x`.

    Returns:
      The shortcut tensor, shaped like the block's output.
    """
    shape_changes = stride != 1 or x.shape[-1] != filters
    if opts.shortcut == "C" or (opts.shortcut == "B" and shape_changes):
        source = x if projection_input is None else projection_input
        y = conv(source, filters, 1, stride, f"{name}_0", opts)
        # v2 projections act on the already normalised input, so they have no BN.
        return y if opts.preactivation else batch_norm(y, f"{name}_0", opts)
    if shape_changes:
        return ZeroPadShortcut(filters, stride, name=f"{name}_0_shortcut", dtype=opts.dtype)(x)
    return x


def residual_block(x, convs, name: str, opts: BlockOptions):
    """A residual block: shortcut plus a branch of convolutions (Figure 2).

    v1/v1.5: every convolution is followed by BN, all but the last by a ReLU, and a
    ReLU follows the addition. v2 (He et al. 2016): BN and ReLU come first, applied to
    the block input, and the addition is the block output, with nothing after it.

    Args:
      x: Input tensor, NHWC.
      convs: The branch's convolutions as (filters, kernel size, stride) triples;
        the last one's filters are the block's output channels.
      name: Layer-name prefix, e.g. "conv3_block1".
      opts: Block options.

    Returns:
      The block output.
    """
    filters = convs[-1][0]
    stride = max(s for _, _, s in convs)
    if opts.preactivation:
        y = relu(batch_norm(x, f"{name}_preact", opts), f"{name}_preact_relu", opts)
        skip = shortcut(x, filters, stride, name, opts, projection_input=y)
    else:
        y = x
        skip = shortcut(x, filters, stride, name, opts)
    for index, (width, kernel_size, conv_stride) in enumerate(convs[:-1], start=1):
        y = conv_bn_relu(y, width, kernel_size, conv_stride, f"{name}_{index}", opts)
    last = f"{name}_{len(convs)}"
    _, kernel_size, conv_stride = convs[-1]
    y = conv(y, filters, kernel_size, conv_stride, last, opts, zero_init=opts.zero_init_residual and opts.preactivation)
    if opts.preactivation:
        return keras.layers.Add(name=f"{name}_out", dtype=opts.dtype)([skip, y])
    y = batch_norm(y, last, opts, zero_gamma=opts.zero_init_residual)
    y = keras.layers.Add(name=f"{name}_add", dtype=opts.dtype)([skip, y])
    return relu(y, f"{name}_out", opts)


def basic_block(x, width: int, stride: int, name: str, opts: BlockOptions):
    """Two 3x3 convolutions (Figure 5 left); outputs `width` channels.

    Args:
      x: Input tensor, NHWC.
      width: Filters of both convolutions.
      stride: Stride of the first convolution (and of the shortcut).
      name: Layer-name prefix, e.g. "conv3_block1".
      opts: Block options.

    Returns:
      The block output.
    """
    return residual_block(x, [(width, 3, stride), (width, 3, 1)], name, opts)


def bottleneck_block(x, width: int, stride: int, name: str, opts: BlockOptions):
    """1x1 reduce, 3x3, 1x1 expand (Figure 5 right); outputs 4 * `width` channels.

    v1 strides the first 1x1 convolution, as the paper and Keras applications do. v1.5
    and v2 stride the 3x3 instead (torchvision, Model Garden, NVIDIA): a strided 1x1
    drops three quarters of its input unseen, while the 3x3 sees all of it; this costs
    about 6% more FLOPs and gains about 0.5% ImageNet top-1.

    Args:
      x: Input tensor, NHWC.
      width: Filters of the 1x1 and 3x3 convolutions.
      stride: The block's stride.
      name: Layer-name prefix, e.g. "conv3_block1".
      opts: Block options.

    Returns:
      The block output.
    """
    stride_1x1, stride_3x3 = (stride, 1) if opts.variant == "v1" else (1, stride)
    return residual_block(x, [(width, 1, stride_1x1), (width, 3, stride_3x3), (4 * width, 1, 1)], name, opts)


BLOCKS = {"basic": basic_block, "bottleneck": bottleneck_block}
