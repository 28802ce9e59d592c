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
    return int(sum(count_macs(layer) if isinstance(layer, keras.Model) else layer_macs(layer) for layer in model.layers))


def layer_macs(layer: keras.layers.Layer) -> int:
    """Multiply-adds of one built layer for one image: a Conv2D's or Dense's, else 0.

    Args:
      layer: A layer of a functional model with a known input size.

    Returns:
      The number of multiply-adds.

    Raises:
      ValueError: If a convolution's output size is unknown (variable input size).
    """
    if isinstance(layer, keras.layers.Conv2D):
        out_h, out_w, out_c = layer.output.shape[1:]
        if out_h is None or out_w is None:
            raise ValueError(f"Layer {layer.name!r} has an unknown output size; build the model with a fixed input_shape.")
        kernel_h, kernel_w, in_c_per_group, _ = layer.kernel.shape
        return out_h * out_w * out_c * kernel_h * kernel_w * in_c_per_group
    if isinstance(layer, keras.layers.Dense):
        return math.prod(layer.kernel.shape) * math.prod(layer.output.shape[1:-1])
    return 0
