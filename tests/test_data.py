"""resnet.data: dataset facts, argument errors, augmentation and pipeline behaviour.

Uses the offline datasets (scikit-learn digits, synthetic); the CIFAR-10 / TFDS path
is in test_data_cifar_tfds.py.
"""

import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

from resnet import data
from verification import check_augmentation, check_dataset, check_statistics


def _epoch(dataset):
    images, labels = zip(*dataset.as_numpy_iterator())
    return np.concatenate(images), np.concatenate(labels), [len(batch) for batch in labels]


def test_dataset_info_static_facts():
    cifar = data.dataset_info("cifar10", data_dir="/nonexistent/tfds", validation_size=5000)
    assert (cifar.num_classes, cifar.image_shape) == (10, (32, 32, 3))
    assert cifar.split_sizes == {"train": 45_000, "validation": 5_000, "test": 10_000}
    assert cifar.class_names[0] == "airplane" and len(cifar.class_names) == 10
    # Published CIFAR-10 pixel statistics (0.4914, 0.4822, 0.4465) / (0.2470, 0.2435, 0.2616).
    np.testing.assert_allclose(np.array(cifar.mean) / 255, [0.4914, 0.4822, 0.4465], atol=1e-4)
    np.testing.assert_allclose(np.array(cifar.std) / 255, [0.2470, 0.2435, 0.2616], atol=1e-4)
    assert data.dataset_info("digits").split_sizes == {"train": 1500, "test": 297}
    assert data.DATASETS == ("cifar10", "digits", "synthetic")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "imagenet"}, "Unknown dataset 'imagenet'; valid datasets: cifar10, digits, synthetic"),
        ({"split": "val"}, "Unknown split 'val'; valid splits: train, validation, test"),
        ({"batch_size": 0}, "batch_size must be a positive integer; got 0"),
        ({"batch_size": 2.5}, "batch_size must be a positive integer; got 2.5"),
        ({"split": "validation"}, "split='validation' needs validation_size > 0"),
        ({"validation_size": 1500}, "validation_size must be in [0, 1500)"),
        ({"num_examples": 0}, "num_examples must be a positive integer or None"),
        ({"batch_size": 2000}, "batch_size 2000 is larger than the 1500 examples"),
        ({"image_shape": (8, 8, 3)}, "describe the synthetic dataset only"),
    ],
)
def test_bad_arguments_fail_with_one_line(kwargs, message):
    arguments = {"name": "digits", "split": "train", "batch_size": 32, "training": True, **kwargs}
    with pytest.raises(ValueError) as error:
        data.make_dataset(arguments.pop("name"), arguments.pop("split"), **arguments)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_digits_split_is_stratified_and_complete():
    train_x, train_y = data.load_examples("digits", "train")
    test_x, test_y = data.load_examples("digits", "test")
    assert train_x.shape == (1500, 32, 32, 3) and test_x.shape == (297, 32, 32, 3)
    assert train_x.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(train_y) + np.bincount(test_y), np.bincount(load_digits().target))
    # Stratified: each class's share of the test split within one image of its share overall.
    expected = np.bincount(load_digits().target) * 297 / 1797
    assert np.all(np.abs(np.bincount(test_y) - expected) <= 1)
    # Grey images: the three channels are one.
    np.testing.assert_array_equal(train_x[..., 0], train_x[..., 2])
    # Downsampled back to 8x8, each image is its scikit-learn digit (scaled to 0-255).
    digits = load_digits()
    reference = digits.images.reshape(-1, 64) * 255 / 16
    small = train_x[:50, ..., 0].reshape(50, 8, 4, 8, 4).astype(np.float64).mean(axis=(2, 4)).reshape(50, 64)
    nearest = np.abs(small[:, None, :] - reference[None, :, :]).mean(axis=-1).argmin(axis=1)
    np.testing.assert_array_equal(digits.target[nearest], train_y[:50])


def test_stated_statistics_match_the_training_splits():
    digits = data.dataset_info("digits")
    assert check_statistics(data.load_examples("digits", "train")[0], digits.mean, digits.std, tolerance=1e-6).passed
    synthetic = data.dataset_info("synthetic", num_examples=2_000)
    result = check_statistics(
        data.load_examples("synthetic", "train", num_examples=2_000)[0], synthetic.mean, synthetic.std, tolerance=2e-3
    )
    assert result.passed, str(result)
    # The check has teeth: CIFAR-10's numbers are not the digits'.
    cifar = data.dataset_info("cifar10", data_dir="/nonexistent/tfds")
    assert not check_statistics(data.load_examples("digits", "train")[0], cifar.mean, cifar.std).passed


def test_augment_batch_is_pad_crop_flip_and_seeded():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(96, 32, 32, 3)).astype(np.float32)
    labels = np.arange(96) % 10
    augmented = data.augment_batch(images, tf.constant([1, 2], tf.int64)).numpy()
    assert augmented.shape == images.shape and augmented.dtype == np.float32
    report = check_augmentation((augmented, labels), (images, labels), padding=4)
    assert report.passed, str(report)
    again = data.augment_batch(images, tf.constant([1, 2], tf.int64)).numpy()
    other = data.augment_batch(images, tf.constant([1, 3], tf.int64)).numpy()
    np.testing.assert_array_equal(again, augmented)
    assert not np.array_equal(other, augmented)
    # The training pipeline runs it under XLA: same crops and flips, same bits.
    compiled = tf.function(data.augment_batch, jit_compile=True)
    np.testing.assert_array_equal(compiled(images, tf.constant([1, 2], tf.int64)).numpy(), augmented)
    # Independent arithmetic: padding 0 leaves each image or its mirror image.
    flipped_only = data.augment_batch(images, tf.constant([5, 6], tf.int64), padding=0).numpy()
    mirrored = np.array([np.array_equal(a, x[:, ::-1]) for a, x in zip(flipped_only, images)])
    unchanged = np.array([np.array_equal(a, x) for a, x in zip(flipped_only, images)])
    assert np.all(mirrored | unchanged) and 20 < mirrored.sum() < 76
    with pytest.raises(ValueError, match=r"\[B, H, W, C\]"):
        data.augment_batch(images[0], tf.constant([1, 2], tf.int64))


def test_training_pipeline_batches_shuffles_and_is_reproducible():
    train = data.make_dataset("digits", "train", batch_size=128, training=True, seed=3)
    images, labels, sizes = _epoch(train)
    assert sizes == [128] * (1500 // 128)  # drop_remainder
    assert train.element_spec[0].shape.as_list() == [128, 32, 32, 3] and train.element_spec[1].dtype == tf.int32
    second_epoch = _epoch(train)
    assert not np.array_equal(second_epoch[1], labels)  # reshuffled every epoch
    rebuilt = data.make_dataset("digits", "train", batch_size=128, training=True, seed=3)
    first, second = _epoch(rebuilt), _epoch(rebuilt)
    np.testing.assert_array_equal(first[0], images)  # same seed: same epochs, crops and flips
    np.testing.assert_array_equal(second[0], second_epoch[0])
    other_seed = _epoch(data.make_dataset("digits", "train", batch_size=128, training=True, seed=4))
    assert not np.array_equal(other_seed[1], labels)
    report = check_dataset(train, 10, training=True)
    assert report.passed, str(report)


def test_evaluation_pipeline_keeps_order_and_remainder():
    test = data.make_dataset("digits", "test", batch_size=128, training=False)
    images, labels, sizes = _epoch(test)
    assert sizes == [128, 128, 41]
    raw_x, raw_y = data.load_examples("digits", "test")
    info = data.dataset_info("digits")
    np.testing.assert_array_equal(labels, raw_y)
    np.testing.assert_allclose(images, (raw_x - np.array(info.mean)) / np.array(info.std), rtol=1e-6, atol=1e-6)
    report = check_dataset(test, 10)
    assert report.passed, str(report)


def test_validation_holdout_is_the_last_examples_and_disjoint():
    raw_x, raw_y = data.load_examples("digits", "train")
    held_x, held_y = data.load_examples("digits", "validation", validation_size=300)
    kept_x, _ = data.load_examples("digits", "train", validation_size=300)
    np.testing.assert_array_equal(held_x, raw_x[-300:])
    np.testing.assert_array_equal(held_y, raw_y[-300:])
    np.testing.assert_array_equal(kept_x, raw_x[:-300])
    validation = data.make_dataset("digits", "validation", batch_size=100, training=False, validation_size=300)
    assert _epoch(validation)[2] == [100, 100, 100]
    assert data.dataset_info("digits", validation_size=300).split_sizes == {
        "train": 1200,
        "validation": 300,
        "test": 297,
    }
    capped = data.make_dataset("digits", "train", batch_size=64, training=False, num_examples=100)
    assert _epoch(capped)[2] == [64, 36]


def test_input_context_shards_disjointly_with_per_replica_batches():
    epochs = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline, num_replicas_in_sync=2)
        dataset = data.make_dataset("digits", "test", batch_size=64, training=False, input_context=context)
        epochs.append(_epoch(dataset))
        assert max(epochs[-1][2]) == 32
        assert dataset.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.OFF
    raw_x, raw_y = data.load_examples("digits", "test")
    # Pipeline 0 reads examples 0, 2, 4, ...; pipeline 1 reads 1, 3, 5, ...
    np.testing.assert_array_equal(epochs[0][1], raw_y[0::2])
    np.testing.assert_array_equal(epochs[1][1], raw_y[1::2])
    assert len(epochs[0][1]) + len(epochs[1][1]) == 297
    # Training pipelines of different replicas crop and flip differently.
    context = [tf.distribute.InputContext(2, i, 2) for i in range(2)]
    first = [
        next(iter(data.make_dataset("synthetic", "train", batch_size=64, training=True, input_context=c)))[0]
        for c in context
    ]
    assert first[0].shape == (32, 32, 32, 3) and not np.array_equal(first[0], first[1])


def test_default_strategy_distributes_the_dataset():
    strategy = tf.distribute.get_strategy()
    distributed = strategy.distribute_datasets_from_function(
        lambda context: data.make_dataset("digits", "test", batch_size=100, training=False, input_context=context)
    )
    assert sum(int(labels.shape[0]) for _, labels in distributed) == 297


def test_synthetic_any_size_and_shape():
    dataset = data.make_dataset(
        "synthetic", "train", batch_size=16, training=True, num_examples=48, image_shape=(40, 24, 1)
    )
    images, labels, sizes = _epoch(dataset)
    assert images.shape == (48, 40, 24, 1) and sizes == [16, 16, 16]
    assert labels.min() >= 0 and labels.max() < 10
    assert data.dataset_info("synthetic", num_examples=48, image_shape=(40, 24, 1)).mean == (127.5,)
    test_x = data.load_examples("synthetic", "test", num_examples=48)[0]
    train_x = data.load_examples("synthetic", "train", num_examples=48)[0]
    assert not np.array_equal(test_x, train_x)


def test_missing_cifar_names_the_archive_place_and_flag(tmp_path, monkeypatch):
    monkeypatch.setattr(data.cifar10, "_can_download", lambda: "no network in this test")
    with pytest.raises(data.CifarNotFoundError) as error:
        data.make_dataset("cifar10", "train", batch_size=8, training=True, data_dir=str(tmp_path))
    message = str(error.value)
    assert "\n" not in message
    assert "put cifar-10-binary.tar.gz" in message and str(tmp_path / "downloads" / "manual") in message
    assert f"--data_dir={tmp_path}" in message and "no network in this test" in message
    assert isinstance(error.value, FileNotFoundError)


_MIRRORED_SCRIPT = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from resnet import data
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
whole = strategy.experimental_distribute_dataset(data.make_dataset("digits", "train", batch_size=128, training=True))
per_replica = strategy.distribute_datasets_from_function(
    lambda context: data.make_dataset("digits", "train", batch_size=128, training=True, input_context=context))
for distributed in (whole, per_replica):
    images, labels = next(iter(distributed))
    print([tuple(value.shape) for value in images.values])
"""


@pytest.mark.slow
def test_mirrored_strategy_with_two_replicas():
    # Logical devices must be set before TensorFlow starts: a fresh process.
    import subprocess
    import sys

    completed = subprocess.run([sys.executable, "-c", _MIRRORED_SCRIPT], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.split("\n")[:2] == ["[(64, 32, 32, 3), (64, 32, 32, 3)]"] * 2
