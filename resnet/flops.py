"""Multiply-add counts, the convention of the paper's Table 1 ("FLOPs")."""

from __future__ import annotations

import math

import keras


def count_macs(model: keras.Model) -> int:
    """Multiply-adds of a model's convolutions and dense layers for one image.

    The paper's convention: ResNet-50 has "3.8 x 10^9 FLOPs", counting one
    multiply-add as one FLOP and ignoring BatchNorm, ReLU, additions and pooling.

    Args:
      model: A functional Keras model with a known input size.

    Returns:
      The number of multiply-adds.

    Raises:
      ValueError: If a convolution's output size is unknown (variable input size).
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += count_macs(layer)
        elif isinstance(layer, keras.layers.Conv2D):
            out_h, out_w, out_c = layer.output.shape[1:]
            if out_h is None or out_w is None:
                raise ValueError(f"Layer {layer.name!r} has an unknown output size; build the model with a fixed input_shape.")
            kernel_h, kernel_w, in_c_per_group, _ = layer.kernel.shape
            total += out_h * out_w * out_c * kernel_h * kernel_w * in_c_per_group
        elif isinstance(layer, keras.layers.Dense):
            total += math.prod(layer.kernel.shape) * math.prod(layer.output.shape[1:-1])
    return int(total)
