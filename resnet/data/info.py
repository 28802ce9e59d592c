"""Static facts of the datasets: classes, image shape, split sizes, normalisation statistics."""

from __future__ import annotations

import dataclasses

DATASETS = ("cifar10", "digits", "synthetic")
SPLITS = ("train", "validation", "test")

# CIFAR-10 per-channel (R, G, B) mean and standard deviation in 0-255 units, over every
# pixel of the 50,000 training images: numpy's mean/std (population std) of the uint8
# training array cast to float64, axes (0, 1, 2). These are the pixel-level statistics;
# the often-copied std (0.2023, 0.1994, 0.2010) x 255 is the mean of per-image stds, a
# different (and smaller) number. tests/test_data_cifar_tfds.py recomputes them from
# the real archive when it is present (see BUILD_NOTES.md).
CIFAR10_MEAN = (125.306918, 122.950394, 113.865383)
CIFAR10_STD = (62.993219, 62.088708, 66.704900)
CIFAR10_SPLITS = {"train": 50_000, "test": 10_000}
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# scikit-learn's 8x8 digits, upscaled to 32x32 (bilinear) and repeated over 3 channels
# (resnet/data/digits.py). Statistics of the 1,500-image training split after that
# preprocessing, computed as for CIFAR-10; tests/test_data.py recomputes them.
DIGITS_MEAN = (77.851250, 77.851250, 77.851250)
DIGITS_STD = (82.531273, 82.531273, 82.531273)
DIGITS_SPLITS = {"train": 1_500, "test": 297}

# Synthetic images are uniform over the 256 uint8 values: mean 127.5 and
# std sqrt((256**2 - 1) / 12) exactly, in expectation.
SYNTHETIC_MEAN = (127.5, 127.5, 127.5)
SYNTHETIC_STD = (73.9003, 73.9003, 73.9003)
SYNTHETIC_SPLITS = {"train": 1_024, "test": 256}


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a training script needs to know about a dataset before it reads any.

    Attributes:
      name: One of `DATASETS`.
      num_classes: Number of labels, 0 ... num_classes - 1.
      image_shape: (height, width, channels) of the images the pipeline yields.
      mean: Per-channel mean subtracted by normalisation (0-255 units).
      std: Per-channel standard deviation divided by (0-255 units).
      split_sizes: Examples per split, e.g. {"train": 45000, "validation": 5000,
        "test": 10000}.
      class_names: Names of the labels, in label order.
    """

    name: str
    num_classes: int
    image_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    split_sizes: dict[str, int]
    class_names: tuple[str, ...] = ()


def check_name(name: str) -> None:
    """Raises ValueError unless `name` is one of `DATASETS`."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}.")


def split_sizes(sizes: dict[str, int], validation_size: int) -> dict[str, int]:
    """The split sizes after holding out `validation_size` training examples.

    Args:
      sizes: {"train": n, "test": m} as the source has them.
      validation_size: Training examples held out as "validation" (0: none).

    Returns:
      {"train": n - validation_size, "validation": validation_size, "test": m}, without
      "validation" when `validation_size` is 0.
    """
    if validation_size < 0 or validation_size >= sizes["train"]:
        raise ValueError(
            f"validation_size must be in [0, {sizes['train']}) (the training examples); got {validation_size}."
        )
    if not validation_size:
        return dict(sizes)
    return {"train": sizes["train"] - validation_size, "validation": validation_size, "test": sizes["test"]}
