"""verification.data_checks against deliberately broken pipelines: each bug is caught.

Every broken pipeline differs from a correct one (which passes) by one planted bug.
The data are the real scikit-learn digits, preprocessed by resnet.data.
"""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from resnet import data
from verification import (
    check_augmentation,
    check_dataset,
    check_input_pipeline,
    check_labels_against_source,
    check_no_overlap,
    write_augmentation_preview,
)

INFO = data.dataset_info("digits")


@pytest.fixture(scope="module")
def digits():
    return data.load_examples("digits", "train"), data.load_examples("digits", "test")


def _pipeline(images, labels, transform, batch_size=128):
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size).map(transform)


def _normalise(images, labels):
    return data.normalize(images, INFO.mean, INFO.std), labels


def _random_seed():
    return tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int64)


def _augment(images, labels):
    return data.augment_batch(data.normalize(images, INFO.mean, INFO.std), _random_seed()), labels


def _failed(report):
    return sorted(check.name for check in report.failures)


def _clean(images, labels):
    return data.normalize(images, INFO.mean, INFO.std).numpy(), labels


def test_correct_pipelines_pass(digits):
    (train_x, train_y), (test_x, test_y) = digits
    test = _pipeline(test_x, test_y, _normalise)
    train = tf.data.Dataset.from_tensor_slices((train_x, train_y)).shuffle(1500).batch(128, drop_remainder=True)
    train = train.map(_augment)
    for report in (
        check_dataset(test, 10),
        check_dataset(train, 10, training=True),
        check_augmentation(train, _clean(train_x, train_y), max_batches=2),
    ):
        assert report.passed, str(report)
    assert check_no_overlap(_pipeline(train_x, train_y, _normalise), test).passed
    assert check_labels_against_source(test, test_x, test_y, INFO.mean, INFO.std).passed


def test_labels_shifted_by_one_are_caught(digits):
    _, (test_x, test_y) = digits
    shifted = _pipeline(test_x, test_y, lambda x, y: (_normalise(x, y)[0], y + 1))
    report = check_dataset(shifted, 10)
    assert _failed(report) == ["class_balance", "label_range"]
    assert "outside the valid [0, 9]" in report.get("label_range").message
    assert "classes [0] never occur" in report.get("class_balance").message
    # Shifted modulo 10 the labels keep range and balance; only the source knows better.
    rotated = _pipeline(test_x, test_y, lambda x, y: (_normalise(x, y)[0], (y + 1) % 10))
    assert check_dataset(rotated, 10).passed
    result = check_labels_against_source(rotated, test_x, test_y, INFO.mean, INFO.std)
    assert not result.passed and result.details["wrong"] == 297 and result.details["missing"] == 0


def test_images_left_in_0_255_are_caught(digits):
    _, (test_x, test_y) = digits
    raw = _pipeline(test_x, test_y, lambda x, y: (tf.cast(x, tf.float32), y))
    report = check_dataset(raw, 10)
    assert _failed(report) == ["normalised"]
    assert "normalisation missing" in report.get("normalised").message


def test_normalisation_applied_twice_is_caught(digits):
    _, (test_x, test_y) = digits
    twice = _pipeline(test_x, test_y, lambda x, y: (data.normalize(_normalise(x, y)[0], INFO.mean, INFO.std), y))
    report = check_dataset(twice, 10)
    assert _failed(report) == ["normalised"]
    assert "normalised twice" in report.get("normalised").message


def test_random_augmentation_at_test_time_is_caught(digits):
    _, (test_x, test_y) = digits
    report = check_dataset(_pipeline(test_x, test_y, _augment), 10)
    assert _failed(report) == ["deterministic"]
    assert "at test time" in report.get("deterministic").message


def test_train_test_overlap_is_caught(digits):
    (train_x, train_y), (test_x, test_y) = digits
    leaked_x = np.concatenate([test_x, train_x[100:110]])
    leaked_y = np.concatenate([test_y, train_y[100:110]])
    train = _pipeline(train_x, train_y, _normalise)
    result = check_no_overlap(train, _pipeline(leaked_x, leaked_y, _normalise))
    assert not result.passed and result.details["count"] == 10
    assert result.details["shared"] == list(range(297, 307))


def test_training_pipeline_without_shuffle_or_augmentation_is_caught(digits):
    (train_x, train_y), _ = digits
    frozen = tf.data.Dataset.from_tensor_slices((train_x, train_y)).batch(100, drop_remainder=True).map(_normalise)
    assert _failed(check_dataset(frozen, 10, training=True)) == ["varies_between_epochs"]
    ragged = tf.data.Dataset.from_tensor_slices((train_x, train_y)).shuffle(1500).batch(128).map(_augment)
    report = check_dataset(ragged, 10, training=True)
    assert _failed(report) == ["structure"] and "drop_remainder" in report.get("structure").message


def test_wrong_dtype_shape_and_nan_are_caught(digits):
    _, (test_x, test_y) = digits
    as_uint8 = _pipeline(test_x, test_y, lambda x, y: (x, y))
    assert "structure" in _failed(check_dataset(as_uint8, 10))
    assert "structure" in _failed(check_dataset(_pipeline(test_x, test_y, _normalise), 10, image_shape=(28, 28, 1)))

    def with_nan(images, labels):
        images = _normalise(images, labels)[0]
        return tf.tensor_scatter_nd_update(images, [[0, 5, 5, 1]], [float("nan")]), labels

    report = check_dataset(_pipeline(test_x, test_y, with_nan), 10)
    assert "finite" in _failed(report) and report.get("finite").details["non_finite"] == 3  # one per batch


@pytest.mark.parametrize(
    "bug, failed",
    [
        # Labels permuted inside the batch while augmenting.
        (lambda x, y: (data.augment_batch(x, _random_seed()), tf.roll(y, 1, axis=0)), ["labels_unchanged"]),
        # Pad-and-resize instead of pad-and-crop: not a window of the padded image.
        (
            lambda x, y: (tf.image.resize(tf.pad(x, [[0, 0], [4, 4], [4, 4], [0, 0]]), (32, 32)), y),
            ["crop_is_padded_window", "flip_fraction", "labels_unchanged", "offsets_vary"],
        ),
        # Every image mirrored, never shifted.
        (lambda x, y: (tf.reverse(x, [2]), y), ["flip_fraction", "offsets_vary"]),
        # One crop offset for the whole batch (tf.image.random_crop on a batch).
        (
            lambda x, y: (tf.image.random_crop(tf.pad(x, [[0, 0], [4, 4], [4, 4], [0, 0]]), tf.shape(x)), y),
            ["flip_fraction", "offsets_vary"],
        ),
    ],
    ids=["labels_changed", "resized_not_cropped", "always_flipped", "one_offset_per_batch"],
)
def test_augmentation_bugs_are_caught(digits, bug, failed):
    (train_x, train_y), _ = digits
    clean = _clean(train_x[:256], train_y[:256])
    broken = tf.data.Dataset.from_tensor_slices(clean).batch(128).map(bug)
    assert _failed(check_augmentation(broken, clean, max_batches=1)) == failed


def test_preview_is_written_as_png_and_to_tensorboard(digits, tmp_path):
    (train_x, train_y), _ = digits
    fixed_seed = tf.constant([1, 2], tf.int64)
    train = tf.data.Dataset.from_tensor_slices((train_x[:64], train_y[:64])).batch(16)
    train = train.map(lambda x, y: (data.augment_batch(_normalise(x, y)[0], fixed_seed), y))
    result = write_augmentation_preview(
        train, tmp_path / "grid.png", logdir=tmp_path / "tb", mean=INFO.mean, std=INFO.std, count=24, columns=6
    )
    assert result.passed, str(result)
    png = tf.io.decode_png(tf.io.read_file(str(tmp_path / "grid.png"))).numpy()
    assert png.shape == (4 * 34 + 2, 6 * 34 + 2, 3)
    # Tiles are the un-normalised inputs: the first and the 24th (row 4, column 6), by hand.
    images = np.concatenate([x for x, _ in train.as_numpy_iterator()])
    pixels = np.clip(np.round(images * np.array(INFO.std) + np.array(INFO.mean)), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(png[2:34, 2:34], pixels[0])
    np.testing.assert_array_equal(png[3 * 34 + 2 : 4 * 34, 5 * 34 + 2 : 6 * 34], pixels[23])
    events = glob.glob(os.path.join(tmp_path, "tb", "events.out.tfevents.*"))
    values = [
        value for path in events for event in tf.compat.v1.train.summary_iterator(path) for value in event.summary.value
    ]
    assert [value.tag for value in values] == ["input_grid"]
    # TensorBoard stores [width, height, encoded PNG]; the PNG is the same grid.
    stored = tf.make_ndarray(values[0].tensor)
    np.testing.assert_array_equal(tf.io.decode_png(stored[2]).numpy(), png)
    blank = tf.data.Dataset.from_tensors((tf.zeros([8, 32, 32, 3]), tf.zeros([8], tf.int32)))
    assert not write_augmentation_preview(blank, tmp_path / "blank.png", mean=INFO.mean, std=INFO.std).passed


def test_input_pipeline_report_on_digits(tmp_path):
    report = check_input_pipeline(
        "digits",
        batch_size=64,
        num_examples=256,
        max_batches=4,
        png_path=tmp_path / "inputs.png",
        logdir=tmp_path / "tb",
    )
    assert report.passed, str(report)
    names = [check.name for check in report.checks]
    assert {
        "train.varies_between_epochs",
        "evaluation.deterministic",
        "augmentation.crop_is_padded_window",
        "no_overlap",
        "labels_match_source",
        "augmentation_preview",
    } <= set(names)
    assert (tmp_path / "inputs.png").exists()
