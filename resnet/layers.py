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
