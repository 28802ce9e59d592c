"""Random images of any size and shape, for benchmarks and smoke runs."""

from __future__ import annotations

import numpy as np

# Fixed content per split: the pipeline's seed shuffles and augments, it does not
# change what the examples are.
_SPLIT_SEEDS = {"train": 1, "validation": 2, "test": 3}


def load(
    split: str, count: int, image_shape: tuple[int, int, int], num_classes: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Uniformly random uint8 images with uniformly random labels.

    Args:
      split: "train", "validation" or "test" (each has its own fixed content).
      count: Number of examples.
      image_shape: (height, width, channels).
      num_classes: Labels are drawn from 0 ... num_classes - 1.

    Returns:
      (uint8 images [count, *image_shape], int32 labels [count]).
    """
    rng = np.random.default_rng(_SPLIT_SEEDS[split])
    images = rng.integers(0, 256, size=(count, *image_shape), dtype=np.uint8)
    labels = rng.integers(0, num_classes, size=count, dtype=np.int32)
    return images, labels
