"""CIFAR-10 through the tensorflow-datasets builder, offline when the archive is at hand."""

from __future__ import annotations

import importlib
import os
import socket
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tensorflow_datasets as tfds

ARCHIVE = "cifar-10-binary.tar.gz"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
_HOST = "www.cs.toronto.edu"


def _tfds():
    # Imported on first use: `import resnet.data` (and `import verification`) should not
    # pay for tensorflow-datasets unless CIFAR-10 is asked for.
    return importlib.import_module("tensorflow_datasets")


class CifarNotFoundError(FileNotFoundError):
    """CIFAR-10 is neither prepared nor obtainable: the message says where to put it."""


def default_data_dir() -> str:
    """TFDS's data directory when none is given ($TFDS_DATA_DIR or ~/tensorflow_datasets)."""
    return os.path.expanduser(os.fspath(_tfds().core.constants.DATA_DIR))


def manual_dir(data_dir: str | None) -> str:
    """Where the archive goes: TFDS's manual directory under `data_dir`.

    Args:
      data_dir: The TFDS data directory (None: `default_data_dir()`).

    Returns:
      `<data_dir>/downloads/manual`, the directory TFDS's download manager reads
      manually downloaded files from.
    """
    return os.path.join(data_dir or default_data_dir(), "downloads", "manual")


def builder(data_dir: str | None) -> tfds.core.DatasetBuilder:
    """The real TFDS `cifar10` builder on `data_dir` (cheap: reads no data)."""
    return _tfds().builder("cifar10", data_dir=data_dir)


def _can_download(timeout: float = 5.0) -> str | None:
    """None when the archive's host answers, else why not.

    TFDS retries a failed download for minutes; a short probe lets a machine without
    network fail at once.
    """
    try:
        socket.create_connection((_HOST, 443), timeout=timeout).close()
    except OSError as error:
        return f"{_HOST} is unreachable: {error}"
    return None


def _missing(data_dir: str | None, reason: str) -> CifarNotFoundError:
    root = data_dir or default_data_dir()
    return CifarNotFoundError(
        f"CIFAR-10 is not prepared in {root} and cannot be downloaded ({reason}); put {ARCHIVE} "
        f"(from {URL}) in {manual_dir(data_dir)} and pass --data_dir={root}."
    )


def prepare(data_dir: str | None, *, download: bool = True) -> tfds.core.DatasetBuilder:
    """Prepares CIFAR-10 with the TFDS builder unless it already is.

    The archive is taken from `manual_dir(data_dir)` when it is there (no network), and
    downloaded otherwise. TFDS checks the archive against its registered sha256 either
    way.

    Args:
      data_dir: TFDS data directory (None: `default_data_dir()`).
      download: Whether fetching the archive from the internet may be tried.

    Returns:
      The prepared builder.

    Raises:
      CifarNotFoundError: The data is not prepared, the archive is not in the manual
        directory, and it cannot be downloaded.
      ValueError: The archive in the manual directory is not the official one.
    """
    cifar = builder(data_dir)
    if cifar.is_prepared():
        return cifar
    archive = os.path.join(manual_dir(data_dir), ARCHIVE)
    if not os.path.exists(archive):
        reason = _can_download() if download else "downloading was not allowed"
        if reason:
            raise _missing(data_dir, reason)
    config = _tfds().download.DownloadConfig(manual_dir=manual_dir(data_dir))
    try:
        cifar.download_and_prepare(download_config=config)
    except OSError as error:  # requests' ConnectionError is an OSError.
        if os.path.exists(archive):
            raise
        raise _missing(data_dir, f"download failed: {error}") from error
    except Exception as error:
        if type(error).__name__ == "NonMatchingChecksumError":
            raise ValueError(
                f"{archive} is not the official CIFAR-10 archive (sha256/size differ from TFDS's "
                f"registered checksum); replace it with {URL}."
            ) from error
        raise
    return cifar


def split_size(data_dir: str | None, split: str) -> int | None:
    """Examples in a split of a prepared CIFAR-10 in `data_dir`, None if not prepared."""
    cifar = builder(data_dir)
    return cifar.info.splits[split].num_examples if cifar.is_prepared() else None


def load(split: str, start: int, stop: int, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Decodes examples [start, stop) of a CIFAR-10 split into memory.

    Args:
      split: "train" or "test" (TFDS's splits).
      start: First example, in the prepared dataset's (fixed) order.
      stop: One past the last example.
      data_dir: TFDS data directory.

    Returns:
      (uint8 images [N, 32, 32, 3], int32 labels [N]).
    """
    cifar = prepare(data_dir)
    dataset = cifar.as_dataset(f"{split}[{start}:{stop}]", as_supervised=True, batch_size=-1)
    images, labels = _tfds().as_numpy(dataset)
    return images, labels.astype(np.int32)
