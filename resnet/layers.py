"""The custom layers of the reference: only what Keras does not already provide."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="resnet")
class ZeroPadShortcut(keras.layers.Layer):
    """The paper's option-A shortcut: identity, subsampled and zero-padded.

    Section 3.3 of He et al. 2015: "the shortcut still performs identity mapping, with
    extra zero entries padded for increasing dimensions", and "when the shortcuts go
    across feature maps of two sizes, they are performed with a stride of 2". So the
    layer keeps every `stride`-th pixel (starting at the first, as a 1x1 convolution
    with that stride would) and appends zero channels up to `filters`. It has no
    parameters, which is the point of option A.

    The new channels go after the existing ones. The paper does not say where they
    go; any placement is an equally valid option A, but it changes which residual
    channels the identity adds to, so implementations must agree on it to give equal
    outputs.

    Args:
      filters: Output channels; at least the input's channels.
      stride: Spatial subsampling factor (1 or 2 in a ResNet).
      **kwargs: Standard `keras.layers.Layer` arguments (name, dtype, ...).
    """

    def __init__(self, filters: int, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        if filters < 1 or stride < 1:
            raise ValueError(f"ZeroPadShortcut needs filters >= 1 and stride >= 1; got {filters}, {stride}.")
        self.filters = int(filters)
        self.stride = int(stride)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is not None and channels > self.filters:
            raise ValueError(
                f"ZeroPadShortcut cannot shrink {channels} channels to {self.filters}; "
                "option A only pads (use a projection shortcut, option B or C)."
            )

    def call(self, inputs):
        x = inputs[:, :: self.stride, :: self.stride, :] if self.stride > 1 else inputs
        extra = self.filters - ops.shape(x)[-1]
        return ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, extra]])

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        subsample = lambda size: None if size is None else -(-size // self.stride)  # noqa: E731
        return (batch, subsample(height), subsample(width), self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, stride=self.stride)
        return config


@keras.saving.register_keras_serializable(package="resnet")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` computed by TensorFlow's fused kernel.

    Keras 3 normalises with separate moment, subtract, scale and shift ops; on a CPU
    those memory-bound ops take a large share of a ResNet training step.
    `tf.raw_ops.FusedBatchNormV3` does the same arithmetic in one kernel (forward and
    gradient): ResNet-50's training step runs ~1.4x faster on 2 CPU cores
    (bench/README.md). Same weights, same configuration, same moving-average update as
    the Keras layer (biased batch variance, Keras momentum), and the Keras code path
    wherever the fused kernel does not apply: float64 (the verification's dtype),
    other axes or ranks, masks, renormalisation, synchronised BN, or another backend.
    """

    _FUSED_DTYPES = ("float16", "bfloat16", "float32")

    def _can_fuse(self, inputs, mask) -> bool:
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and self.scale
            and self.center
            and not self.renorm
            and not self.synchronized
            and keras.backend.standardize_dtype(inputs.dtype) in self._FUSED_DTYPES
            and keras.backend.standardize_dtype(self.moving_mean.dtype) == "float32"
        )

    def call(self, inputs, training=None, mask=None):
        if not self._can_fuse(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf  # only on the TensorFlow backend, checked above

        # The kernel takes float16/bfloat16 activations with float32 statistics and
        # computes in float32, as the Keras layer's upcast does.
        inputs = tf.cast(inputs, self.compute_dtype)
        if training and self.trainable:
            empty = tf.constant([], tf.float32)
            outputs, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
                x=inputs, scale=self.gamma, offset=self.beta, mean=empty, variance=empty,
                epsilon=self.epsilon, is_training=True, data_format="NHWC",
            )
            # The kernel returns the unbiased (n - 1) batch variance for the moving
            # average; Keras averages the biased one, which the kernel normalised with.
            count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:-1]), tf.float32)
            variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
            return outputs
        outputs, *_ = tf.raw_ops.FusedBatchNormV3(
            x=inputs, scale=self.gamma, offset=self.beta, mean=self.moving_mean, variance=self.moving_variance,
            epsilon=self.epsilon, is_training=False, data_format="NHWC",
        )
        return outputs
