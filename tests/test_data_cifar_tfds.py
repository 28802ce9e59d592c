"""CIFAR-10 through the real tensorflow-datasets builder, offline.

A small archive in the real binary format (tests/cifar_archive.py) goes where a user
puts the real one, `<data_dir>/downloads/manual/cifar-10-binary.tar.gz`, and
`resnet.data` prepares it with TFDS's own `cifar10` builder. The one substitution:
TFDS checks the archive against the registered sha256 of the real CIFAR-10 archive,
so while preparing, the builder's `url_infos` holds our archive's checksum instead.
"""

import hashlib
import os

import numpy as np
import pytest
import tensorflow_datasets as tfds
from tensorflow_datasets.core.download.checksums import compute_url_info

from cifar_archive import cifar10_examples, write_cifar10_archive
from resnet import data
from verification import (
    check_augmentation,
    check_dataset,
    check_labels_against_source,
    check_no_overlap,
    check_statistics,
)

PER_BATCH = 20  # 100 training and 20 test images.


def _prepare(data_dir, archive):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tfds.image_classification.Cifar10, "url_infos", {data.cifar10.URL: compute_url_info(archive)})
        # Preparation happens inside make_dataset, as in a user's first run.
        return data.make_dataset("cifar10", "test", batch_size=8, training=False, data_dir=data_dir)


@pytest.fixture(scope="module")
def tiny_cifar(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    archive = write_cifar10_archive(data.cifar10.manual_dir(data_dir), PER_BATCH)
    _prepare(data_dir, archive)
    return data_dir


def _by_pixels(images, labels):
    return sorted((hashlib.sha1(image.tobytes()).hexdigest(), int(label)) for image, label in zip(images, labels))


def test_archive_is_prepared_by_the_tfds_builder(tiny_cifar):
    builder = tfds.builder("cifar10", data_dir=tiny_cifar)
    assert builder.is_prepared() and builder.info.splits["train"].num_examples == 100
    assert data.dataset_info("cifar10", data_dir=tiny_cifar).split_sizes == {"train": 100, "test": 20}
    assert data.dataset_info("cifar10", data_dir=tiny_cifar, validation_size=10).split_sizes == {
        "train": 90,
        "validation": 10,
        "test": 20,
    }
    assert builder.info.features["label"].names[0] == "airplane"
    # Same images with the same labels as the archive holds (TFDS stores them in its own order).
    expected = cifar10_examples(PER_BATCH)
    train = data.load_examples("cifar10", "train", data_dir=tiny_cifar)
    test = data.load_examples("cifar10", "test", data_dir=tiny_cifar)
    assert train[0].shape == (100, 32, 32, 3) and train[0].dtype == np.uint8
    assert _by_pixels(*train) == _by_pixels(expected.train_images, expected.train_labels)
    assert _by_pixels(*test) == _by_pixels(expected.test_images, expected.test_labels)


def test_pipelines_pass_the_data_checks(tiny_cifar):
    info = data.dataset_info("cifar10", data_dir=tiny_cifar)
    examples = cifar10_examples(PER_BATCH)
    train = data.make_dataset("cifar10", "train", batch_size=20, training=True, data_dir=tiny_cifar)
    clean = data.make_dataset("cifar10", "train", batch_size=20, training=False, data_dir=tiny_cifar)
    test = data.make_dataset("cifar10", "test", batch_size=8, training=False, data_dir=tiny_cifar)
    reports = [
        check_dataset(train, 10, training=True),
        check_dataset(test, 10),
        check_augmentation(train, clean, max_batches=5),
    ]
    for report in reports:
        assert report.passed, str(report)
    assert check_labels_against_source(test, examples.test_images, examples.test_labels, info.mean, info.std).passed
    assert check_labels_against_source(clean, examples.train_images, examples.train_labels, info.mean, info.std).passed
    assert check_no_overlap(clean, test).passed


def test_validation_holdout_is_disjoint_and_complete(tiny_cifar):
    def labels_and_keys(split, validation_size):
        dataset = data.make_dataset(
            "cifar10", split, batch_size=7, training=False, data_dir=tiny_cifar, validation_size=validation_size
        )
        return {image.tobytes() for images, _ in dataset.as_numpy_iterator() for image in images}

    everything = labels_and_keys("train", 0)
    kept, held = labels_and_keys("train", 10), labels_and_keys("validation", 10)
    assert len(kept) == 90 and len(held) == 10 and not kept & held and kept | held == everything
    assert labels_and_keys("validation", 10) == held  # deterministic


def test_an_archive_that_is_not_cifar10_is_rejected(tmp_path):
    data_dir = str(tmp_path)
    write_cifar10_archive(data.cifar10.manual_dir(data_dir), 2)
    with pytest.raises(ValueError, match="is not the official CIFAR-10 archive") as error:
        data.make_dataset("cifar10", "train", batch_size=2, training=True, data_dir=data_dir)
    assert "\n" not in str(error.value)


REAL_DATA_DIR = os.environ.get("RESNET_CIFAR10_DATA_DIR")


@pytest.mark.slow
@pytest.mark.skipif(not REAL_DATA_DIR, reason="set RESNET_CIFAR10_DATA_DIR to a TFDS data_dir with the real archive")
def test_stated_cifar10_statistics_are_those_of_the_real_training_split():
    info = data.dataset_info("cifar10", data_dir=REAL_DATA_DIR)
    images, labels = data.load_examples("cifar10", "train", data_dir=REAL_DATA_DIR)
    assert images.shape == (50_000, 32, 32, 3) and np.all(np.bincount(labels) == 5000)
    result = check_statistics(images, info.mean, info.std, tolerance=1e-6)
    assert result.passed, str(result)
