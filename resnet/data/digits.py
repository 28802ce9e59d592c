"""scikit-learn's 8x8 digits as a small real dataset that needs no download."""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

TEST_SIZE = 297  # 1,797 images: 1,500 train, 297 test.
SPLIT_SEED = 0


@functools.lru_cache(maxsize=1)
def _all_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    # Imported here: scikit-learn is needed only by this dataset.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # Pixel values are 0..16; scale to 0..255, upscale 4x, repeat to RGB.
    small = digits.images.astype(np.float32)[..., None] * (255.0 / 16.0)
    large = tf.image.resize(small, (32, 32), method="bilinear").numpy()
    images = np.repeat(np.clip(np.round(large), 0, 255).astype(np.uint8), 3, axis=-1)
    labels = digits.target.astype(np.int32)
    # Stratified, seeded: every class keeps its share in both splits, and the split is
    # the same on every machine (numpy's RandomState sequence is frozen).
    train_x, test_x, train_y, test_y = train_test_split(
        images, labels, test_size=TEST_SIZE, stratify=labels, random_state=SPLIT_SEED
    )
    return {"train": (train_x, train_y), "test": (test_x, test_y)}


def load(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The digits of one split, preprocessed to CIFAR's format.

    Args:
      split: "train" (1,500 images) or "test" (297 images).

    Returns:
      (uint8 images [N, 32, 32, 3], int32 labels [N]).
    """
    return _all_splits()[split]
