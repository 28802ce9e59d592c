"""Small archives in the real CIFAR-10 binary format, for tests that run the TFDS builder.

The layout is the one `https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz` has:
a gzipped tar holding `cifar-10-batches-bin/` with `data_batch_1.bin` ...
`data_batch_5.bin`, `test_batch.bin` and `batches.meta.txt`. Each record is one label
byte followed by 3,072 image bytes: the 1,024 red values row by row, then green, then
blue.

The images are not CIFAR pictures: each class is a bright square at its own place on
noise whose per-channel mean and spread are close to CIFAR-10's, so normalisation with
CIFAR-10's statistics gives inputs near mean 0 / std 1, and a network can learn them.
"""

from __future__ import annotations

import dataclasses
import io
import os
import tarfile

import numpy as np

ARCHIVE_NAME = "cifar-10-binary.tar.gz"
TRAIN_FILES = tuple(f"data_batch_{index}.bin" for index in range(1, 6))
TEST_FILE = "test_batch.bin"
LABEL_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# CIFAR-10's training-set statistics (0-255 units), so the fake pixels look like real ones.
_MEAN = np.array([125.3, 123.0, 113.9])
_STD = np.array([63.0, 62.1, 66.7])


@dataclasses.dataclass(frozen=True)
class CifarExamples:
    """What an archive holds, in TFDS's order (train: batch 1 to 5; then test).

    Attributes:
      train_images: uint8 [5 * images_per_batch, 32, 32, 3].
      train_labels: int64 [5 * images_per_batch].
      test_images: uint8 [images_per_batch, 32, 32, 3].
      test_labels: int64 [images_per_batch].
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def cifar10_examples(images_per_batch: int, *, seed: int = 0) -> CifarExamples:
    """The images and labels `write_cifar10_archive` writes (same arguments, same arrays).

    Args:
      images_per_batch: Images in each of the six batch files.
      seed: Seed of the noise and of the labels.

    Returns:
      The examples; each batch file holds every class equally often (up to rounding).
    """
    if images_per_batch < 1:
        raise ValueError(f"images_per_batch must be >= 1; got {images_per_batch}.")
    rng = np.random.default_rng(seed)
    count = 6 * images_per_batch
    # Every batch file balanced (as far as its size allows), in a shuffled order.
    labels = np.concatenate([rng.permutation(np.arange(images_per_batch) % 10) for _ in range(6)]).astype(np.int64)
    noise = rng.normal(size=(count, 32, 32, 3)) * _STD + _MEAN
    for index, label in enumerate(labels):
        # Ten 8x8 squares on a 4x4 lattice of positions with stride 8: class k at cell k.
        top, left = 8 * (label // 4), 8 * (label % 4)
        noise[index, top : top + 8, left : left + 8] += 80.0
    images = np.clip(np.round(noise), 0, 255).astype(np.uint8)
    train = 5 * images_per_batch
    return CifarExamples(images[:train], labels[:train], images[train:], labels[train:])


def _batch_bytes(images: np.ndarray, labels: np.ndarray) -> bytes:
    # [N, H, W, C] -> [N, C, H, W] -> rows of 3,072 bytes, each after its label byte.
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)
    records = np.concatenate([labels.astype(np.uint8)[:, None], planes], axis=1)
    return records.tobytes()


def _add_file(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def write_cifar10_archive(directory: str | os.PathLike, images_per_batch: int = 20, *, seed: int = 0) -> str:
    """Writes `cifar-10-binary.tar.gz` in the real CIFAR-10 binary format.

    Args:
      directory: Where to write it (created if missing), e.g. a TFDS manual dir.
      images_per_batch: Images in each of the six batch files (real CIFAR-10: 10,000).
      seed: Passed to `cifar10_examples`, which returns the same arrays.

    Returns:
      The path of the archive.
    """
    examples = cifar10_examples(images_per_batch, seed=seed)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(os.fspath(directory), ARCHIVE_NAME)
    temporary = path + ".tmp"
    with tarfile.open(temporary, "w:gz") as archive:
        for index, name in enumerate(TRAIN_FILES):
            rows = slice(index * images_per_batch, (index + 1) * images_per_batch)
            _add_file(archive, name, _batch_bytes(examples.train_images[rows], examples.train_labels[rows]))
        _add_file(archive, TEST_FILE, _batch_bytes(examples.test_images, examples.test_labels))
        _add_file(archive, "batches.meta.txt", ("\n".join(LABEL_NAMES) + "\n").encode())
    os.replace(temporary, path)
    return path
