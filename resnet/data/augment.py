"""Batch-level preprocessing: normalisation and the paper's augmentation, vectorised."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf


def normalize(images, mean: Sequence[float], std: Sequence[float]) -> tf.Tensor:
    """Per-channel standardisation: (images - mean) / std, as float32.

    Computed as (images - mean) * (1 / std) with the reciprocal rounded once: a
    subtraction and a multiplication give the same bits whether XLA compiles them
    (the training pipeline) or not (evaluation), so an augmented image is exactly a
    window of the evaluation pipeline's image (what verification.check_augmentation
    relies on).

    Args:
      images: [..., C] pixels in 0-255 units (any real or integer dtype).
      mean: C per-channel means, 0-255 units.
      std: C per-channel standard deviations, 0-255 units.

    Returns:
      float32 tensor of the same shape.
    """
    images = tf.cast(images, tf.float32)
    reciprocal = 1.0 / np.asarray(std, np.float64)
    return (images - tf.constant(mean, tf.float32)) * tf.constant(reciprocal, tf.float32)


def augment_batch(images, seed, *, padding: int = 4) -> tf.Tensor:
    """The paper's CIFAR augmentation for a whole batch at once.

    Each image is zero-padded by `padding` pixels on every side, a window of the
    original size is cut at a random offset (uniform over the (2 * padding + 1) ** 2
    positions) and mirrored left-right with probability 1/2. Crop and flip are one
    gather per axis, so the cost does not grow with per-image Python or tf.data work.
    Apply it after normalisation, so the padding is the dataset mean (zero), as in
    fb.resnet.torch's CIFAR recipe.

    Args:
      images: [B, H, W, C] tensor.
      seed: Shape-[2] integer tensor; the same seed gives the same crops and flips
        (stateless random ops).
      padding: Pixels of zeros added on each side before cropping.

    Returns:
      Tensor with the shape and dtype of `images`.
    """
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4:
        raise ValueError(f"augment_batch needs images shaped [B, H, W, C]; got {images.shape}.")
    if padding < 0:
        raise ValueError(f"padding must be >= 0; got {padding}.")
    batch = tf.shape(images)[0]
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    padded = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
    # Philox named explicitly: the default algorithm differs between XLA and TF kernels,
    # and the training pipeline compiles this function with XLA.
    offset_seed, flip_seed = tf.unstack(
        tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2, alg="philox")
    )
    offsets = tf.random.stateless_uniform(
        [batch, 2], offset_seed, minval=0, maxval=2 * padding + 1, dtype=tf.int32, alg="philox"
    )
    # An integer coin: XLA and TF kernels turn random bits into floats differently.
    flip = tf.random.stateless_uniform([batch], flip_seed, minval=0, maxval=2, dtype=tf.int32, alg="philox") > 0
    rows = offsets[:, 0:1] + tf.range(height)[None, :]
    # A flipped crop reads the same columns right to left.
    forward = tf.range(width)[None, :]
    cols = offsets[:, 1:2] + tf.where(flip[:, None], width - 1 - forward, forward)
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(cropped, cols, axis=2, batch_dims=1)
