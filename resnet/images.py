"""Turning batches of images into something a person can look at."""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np
import tensorflow as tf


def image_grid(images, *, columns: int = 8, mean=None, std=None, padding: int = 2) -> np.ndarray:
    """Tiles a batch of images into one uint8 picture.

    Args:
      images: Array-like, [N, H, W, C] with C in (1, 3).
      columns: Images per row.
      mean: Per-channel mean that was subtracted (undone before display).
      std: Per-channel standard deviation that was divided by (undone first).
      padding: Pixels of black between tiles.

    Returns:
      A [rows * (H + padding) + padding, columns * (W + padding) + padding, C] uint8
      array. Without `mean`/`std`, each image is rescaled from its own min/max, so
      normalised inputs stay visible.
    """
    batch = np.asarray(images, dtype=np.float64)
    if batch.ndim != 4 or batch.shape[-1] not in (1, 3):
        raise ValueError(f"image_grid needs images shaped [N, H, W, 1 or 3]; got {batch.shape}.")
    if std is not None:
        batch = batch * np.asarray(std, dtype=np.float64)
    if mean is not None:
        batch = batch + np.asarray(mean, dtype=np.float64)
    if mean is None and std is None:
        low = batch.min(axis=(1, 2, 3), keepdims=True)
        high = batch.max(axis=(1, 2, 3), keepdims=True)
        batch = 255.0 * (batch - low) / np.maximum(high - low, 1e-12)
    batch = np.clip(np.round(batch), 0, 255).astype(np.uint8)
    count, height, width, channels = batch.shape
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    grid = np.zeros((rows * (height + padding) + padding, columns * (width + padding) + padding, channels), np.uint8)
    for index, image in enumerate(batch):
        top = padding + (index // columns) * (height + padding)
        left = padding + (index % columns) * (width + padding)
        grid[top : top + height, left : left + width] = image
    return grid


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Writes a uint8 [H, W, C] image as PNG atomically (a temporary file, then a rename).

    Args:
      path: Destination file; its directory must exist.
      image: The picture, e.g. from `image_grid`.
    """
    path = os.fspath(path)
    data = tf.io.encode_png(tf.convert_to_tensor(image, tf.uint8)).numpy()
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".png.tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
