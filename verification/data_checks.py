"""Checks of input pipelines: what the network is fed, not how it is built.

Every function takes either a `tf.data.Dataset` of (images, labels) batches or a pair
of arrays, and returns a `CheckResult` or a `CheckReport`. None of them trusts the
pipeline's own code: augmentation is checked by finding each augmented image inside
a zero-padded clean image, labels by looking images up in the raw source, overlap by
hashing pixels.
"""

from __future__ import annotations

import collections
import hashlib
import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from resnet import data
from resnet.images import image_grid, write_png
from verification.results import CheckReport, CheckResult


def collect(source, max_batches: int | None = None) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Reads a pipeline (or a pair of arrays) into numpy.

    Args:
      source: A `tf.data.Dataset` yielding (images, labels) batches, or a pair
        (images [N, H, W, C], labels [N]).
      max_batches: Read at most this many batches (None: all).

    Returns:
      (images, labels, batch sizes). An array pair counts as one batch.
    """
    if isinstance(source, tf.data.Dataset):
        if max_batches is not None:
            source = source.take(max_batches)
        images, labels = [], []
        for batch_images, batch_labels in source.as_numpy_iterator():
            images.append(batch_images)
            labels.append(batch_labels)
        if not images:
            raise ValueError("The dataset yielded no batches; nothing to check.")
        return np.concatenate(images), np.concatenate(labels), [len(batch) for batch in labels]
    images, labels = source
    images, labels = np.asarray(images), np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"images and labels differ in length: {len(images)} vs {len(labels)}.")
    return images, labels, [len(labels)]


def _digest(image: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()


def _structure(images, labels, batch_sizes, image_shape, training) -> CheckResult:
    problems = []
    if images.dtype != np.float32:
        problems.append(f"images are {images.dtype}, expected float32")
    if images.ndim != 4 or tuple(images.shape[1:]) != tuple(image_shape):
        problems.append(f"images are {tuple(images.shape)}, expected [batch, {', '.join(map(str, image_shape))}]")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        problems.append(f"labels are {labels.dtype} {tuple(labels.shape)}, expected integer [batch]")
    if training and len(set(batch_sizes)) > 1:
        problems.append(f"training batches differ in size {sorted(set(batch_sizes))} (drop_remainder expected)")
    message = "; ".join(problems) or (
        f"{len(batch_sizes)} batches of float32 images {tuple(images.shape[1:])} and {labels.dtype} labels"
    )
    details = {
        "image_dtype": str(images.dtype),
        "image_shape": images.shape[1:],
        "label_dtype": str(labels.dtype),
        "batch_sizes": sorted(set(batch_sizes)),
    }
    return CheckResult("structure", not problems, message, details)


def _finite(images) -> CheckResult:
    bad = int(np.size(images) - np.count_nonzero(np.isfinite(images)))
    message = "every pixel is finite" if not bad else f"{bad} pixels are NaN or infinite"
    return CheckResult("finite", bad == 0, message, {"non_finite": bad})


def _label_range(labels, num_classes) -> CheckResult:
    low, high = int(labels.min()), int(labels.max())
    passed = low >= 0 and high < num_classes
    message = f"labels span [{low}, {high}]" + ("" if passed else f", outside the valid [0, {num_classes - 1}]")
    return CheckResult("label_range", passed, message, {"min": low, "max": high, "num_classes": num_classes})


def _class_balance(labels, num_classes, min_class_share) -> CheckResult:
    counts = np.bincount(np.clip(labels, 0, None).astype(np.int64), minlength=num_classes)[:num_classes]
    shares = counts / max(len(labels), 1)
    floor = min_class_share / num_classes
    missing = [int(label) for label in np.flatnonzero(counts == 0)]
    rare = [int(label) for label in np.flatnonzero(shares < floor)]
    passed = not rare
    if missing:
        message = f"classes {missing} never occur in {len(labels)} labels"
    elif rare:
        message = f"classes {rare} have under {floor:.1%} of the labels (uniform: {1 / num_classes:.1%})"
    else:
        message = f"every class has {shares.min():.1%} to {shares.max():.1%} of {len(labels)} labels"
    return CheckResult("class_balance", passed, message, {"counts": counts, "missing": missing})


def _normalised(images, mean_tolerance, std_tolerance) -> CheckResult:
    axes = tuple(range(images.ndim - 1))
    mean = images.mean(axis=axes, dtype=np.float64)
    std = images.std(axis=axes, dtype=np.float64)
    passed = bool(np.all(np.abs(mean) <= mean_tolerance) and np.all(np.abs(std - 1) <= std_tolerance))
    low, high = float(images.min()), float(images.max())
    message = f"per-channel mean {np.round(mean, 3).tolist()}, std {np.round(std, 3).tolist()}, values in [{low:.3g}, {high:.3g}]"
    if not passed:
        hint = ""
        if high > 20:
            hint = " (raw 0-255 pixels? normalisation missing)"
        elif np.all(std < 0.2):
            hint = " (normalised twice, or scaled by 255 after normalising?)"
        message += f"; expected |mean| <= {mean_tolerance} and std within 1 +- {std_tolerance}{hint}"
    return CheckResult("normalised", passed, message, {"mean": mean, "std": std, "min": low, "max": high})


def _repeatable(dataset, max_batches, training, first) -> CheckResult:
    again, _, _ = collect(dataset, max_batches)
    same = again.shape == first.shape and np.array_equal(again, first)
    if training:
        message = (
            "two epochs differ (reshuffled / re-augmented)"
            if not same
            else "two epochs are identical: no shuffling or augmentation"
        )
        return CheckResult("varies_between_epochs", not same, message)
    message = (
        "two passes give identical batches"
        if same
        else "two passes differ: random augmentation or shuffling is on at test time"
    )
    return CheckResult("deterministic", same, message)


def check_dataset(
    dataset,
    num_classes: int,
    *,
    image_shape: Sequence[int] = (32, 32, 3),
    training: bool = False,
    max_batches: int | None = 50,
    mean_tolerance: float = 0.25,
    std_tolerance: float = 0.25,
    min_class_share: float = 0.5,
    title: str | None = None,
) -> CheckReport:
    """Checks what a pipeline yields: structure, labels, value range, determinism.

    Args:
      dataset: `tf.data.Dataset` of (images, labels) batches, or a pair of arrays (then
        the pass-to-pass check is skipped and reported as not run).
      num_classes: Labels must lie in [0, num_classes).
      image_shape: Expected (height, width, channels) of every image.
      training: True for a training pipeline (equal batch sizes; two epochs must
        differ), False for evaluation (two passes must be identical: no random
        augmentation or shuffling at test time).
      max_batches: Batches read per pass (None: all).
      mean_tolerance: Largest |per-channel mean| accepted after normalisation.
      std_tolerance: Largest |per-channel std - 1| accepted.
      min_class_share: Each class must have at least this fraction of the uniform
        share (1 / num_classes) of the labels read.
      title: Title of the report.

    Returns:
      A `CheckReport` with checks structure, finite, label_range, class_balance,
      normalised and deterministic (or varies_between_epochs when training).
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1; got {num_classes}.")
    images, labels, batch_sizes = collect(dataset, max_batches)
    report = CheckReport(title or f"check_dataset({'training' if training else 'evaluation'}, {len(labels)} examples)")
    report.checks.append(_structure(images, labels, batch_sizes, image_shape, training))
    report.checks.append(_finite(images))
    report.checks.append(_label_range(labels, num_classes))
    report.checks.append(_class_balance(labels, num_classes, min_class_share))
    report.checks.append(_normalised(images, mean_tolerance, std_tolerance))
    if isinstance(dataset, tf.data.Dataset):
        report.checks.append(_repeatable(dataset, max_batches, training, images))
    return report


def _window(padded: np.ndarray, top: int, left: int, height: int, width: int, flip: bool) -> np.ndarray:
    window = padded[top : top + height, left : left + width]
    return window[:, ::-1] if flip else window


def _find_window(image, clean_images, index, padding):
    """(clean index, dy, dx, flip) such that image is that window of the padded clean image."""
    height, width = image.shape[:2]
    for flip in (False, True):
        unflipped = image[:, ::-1] if flip else image
        for dy in range(2 * padding + 1):
            for dx in range(2 * padding + 1):
                # A crop at (dy, dx) holds the clean image's centre [p, H - p) at
                # [2p - dy, H - dy): always inside the crop, whatever the offset.
                key = _digest(unflipped[2 * padding - dy : height - dy, 2 * padding - dx : width - dx])
                for candidate in index.get(key, ()):
                    padded = np.pad(clean_images[candidate], [(padding, padding), (padding, padding), (0, 0)])
                    if np.array_equal(_window(padded, dy, dx, height, width, flip), image):
                        return candidate, dy, dx, flip
    return None


def check_augmentation(
    augmented,
    clean,
    *,
    padding: int = 4,
    max_batches: int | None = 4,
    flip_fraction: tuple[float, float] = (0.25, 0.75),
    min_offsets: int = 5,
) -> CheckReport:
    """Checks the pad / random-crop / flip invariants against the un-augmented images.

    Every augmented image must be exactly a window of one clean image zero-padded by
    `padding` pixels, possibly mirrored left-right, and keep that image's label. The
    clean images must be normalised the same way (the pipeline with training=False);
    matching is exact, by hashing the clean images' centres.

    Args:
      augmented: Dataset or (images, labels) after augmentation.
      clean: Dataset or (images, labels) of the same examples without augmentation.
      padding: Zero padding on each side before the crop.
      max_batches: Augmented batches to read (the clean source is read whole).
      flip_fraction: Accepted range of the fraction of mirrored images.
      min_offsets: Vertical and horizontal offsets must each take at least this many of
        the 2 * padding + 1 possible values (when enough images are read).

    Returns:
      A `CheckReport`: crop_is_padded_window, labels_unchanged, flip_fraction,
      offsets_vary.
    """
    images, labels, _ = collect(augmented, max_batches)
    clean_images, clean_labels, _ = collect(clean)
    height, width = clean_images.shape[1:3]
    if height <= 2 * padding or width <= 2 * padding:
        raise ValueError(f"Images of {height}x{width} are too small to check a padding of {padding}.")
    index = collections.defaultdict(list)
    for position, image in enumerate(clean_images):
        index[_digest(image[padding : height - padding, padding : width - padding])].append(position)
    matches = [_find_window(image, clean_images, index, padding) for image in images]
    unmatched = [i for i, match in enumerate(matches) if match is None]
    found = [(i, match) for i, match in enumerate(matches) if match is not None]
    report = CheckReport(f"check_augmentation({len(images)} images, padding {padding})")
    report.checks.append(
        CheckResult(
            "crop_is_padded_window",
            not unmatched,
            f"{len(found)} of {len(images)} images are a window of a zero-padded clean image (optionally mirrored)"
            + (f"; not found: images {unmatched[:10]}" if unmatched else ""),
            {"unmatched": unmatched},
        )
    )
    changed = [i for i, (source, *_rest) in found if labels[i] != clean_labels[source]]
    report.checks.append(
        CheckResult(
            "labels_unchanged",
            bool(found) and not changed,
            (
                (
                    f"labels of {len(changed)} of {len(found)} matched images differ from their source's: {changed[:10]}"
                    if changed
                    else f"all {len(found)} matched images keep their source's label"
                )
                if found
                else "no image matched"
            ),
            {"changed": changed},
        )
    )
    flips = np.array([match[3] for _, match in found], dtype=bool)
    fraction = float(flips.mean()) if len(flips) else float("nan")
    low, high = flip_fraction
    report.checks.append(
        CheckResult(
            "flip_fraction",
            bool(len(flips)) and low <= fraction <= high,
            f"{fraction:.1%} of {len(flips)} images mirrored (accepted {low:.0%} to {high:.0%})",
            {"fraction": fraction},
        )
    )
    dys = collections.Counter(match[1] for _, match in found)
    dxs = collections.Counter(match[2] for _, match in found)
    needed = min(min_offsets, 2 * padding + 1, len(found))
    report.checks.append(
        CheckResult(
            "offsets_vary",
            bool(found) and len(dys) >= needed and len(dxs) >= needed,
            f"{len(dys)} distinct vertical and {len(dxs)} horizontal crop offsets of {2 * padding + 1} (need {needed})",
            {"vertical": dict(sorted(dys.items())), "horizontal": dict(sorted(dxs.items()))},
        )
    )
    return report


def check_no_overlap(first, second, *, names: tuple[str, str] = ("train", "test"), allowed: int = 0) -> CheckResult:
    """Checks that no image of one split occurs in the other (exact pixel hashes).

    Args:
      first: Dataset or (images, labels), un-augmented (e.g. the training split read
        with training=False, or the raw arrays).
      second: Dataset or (images, labels), preprocessed the same way.
      names: What to call the two in the message.
      allowed: Shared images tolerated (for a dataset known to hold a few).

    Returns:
      `CheckResult` "no_overlap"; details list the shared positions in `second`.
    """
    first_images, _, _ = collect(first)
    second_images, _, _ = collect(second)
    seen = {_digest(image) for image in first_images}
    shared = [i for i, image in enumerate(second_images) if _digest(image) in seen]
    message = (
        f"none of {len(second_images)} {names[1]} images is among {len(first_images)} {names[0]} images"
        if not shared
        else f"{len(shared)} of {len(second_images)} {names[1]} images also occur in {names[0]}"
    )
    return CheckResult("no_overlap", len(shared) <= allowed, message, {"shared": shared[:100], "count": len(shared)})


def check_labels_against_source(dataset, source_images, source_labels, mean, std) -> CheckResult:
    """Checks each image's label against the raw data it came from.

    Images are de-normalised with `mean`/`std`, rounded to uint8 and looked up in the
    raw source by exact pixels; this catches a permutation of the labels (such as
    "shifted by one, modulo the classes") that range and balance checks cannot see.

    Args:
      dataset: Un-augmented dataset or (images, labels), normalised with mean/std.
      source_images: Raw uint8 images [N, H, W, C], e.g. as in the archive.
      source_labels: Their labels [N].
      mean: Per-channel mean the pipeline subtracted (0-255 units).
      std: Per-channel std it divided by.

    Returns:
      `CheckResult` "labels_match_source".
    """
    images, labels, _ = collect(dataset)
    raw = np.round(images.astype(np.float64) * np.asarray(std) + np.asarray(mean))
    raw = np.clip(raw, 0, 255).astype(np.uint8)
    truth = {_digest(image): int(label) for image, label in zip(np.asarray(source_images, np.uint8), source_labels)}
    found = [(truth.get(_digest(image)), int(label)) for image, label in zip(raw, labels)]
    missing = sum(expected is None for expected, _ in found)
    wrong = sum(expected is not None and expected != label for expected, label in found)
    passed = not missing and not wrong
    message = (
        f"all {len(found)} labels equal the source's"
        if passed
        else f"{wrong} of {len(found)} labels differ from the source's; {missing} images not found in the source"
    )
    return CheckResult("labels_match_source", passed, message, {"wrong": wrong, "missing": missing})


def check_statistics(images, mean, std, *, tolerance: float = 1e-3) -> CheckResult:
    """Recomputes per-channel mean/std of raw training images and compares to the stated ones.

    Args:
      images: Raw training images [N, H, W, C] in 0-255 units.
      mean: The per-channel mean the pipeline uses.
      std: The per-channel std the pipeline uses.
      tolerance: Largest accepted relative difference.

    Returns:
      `CheckResult` "normalisation_statistics" with both sets of numbers.
    """
    images = np.asarray(images)
    axes = tuple(range(images.ndim - 1))
    measured_mean = images.mean(axis=axes, dtype=np.float64)
    # Two-pass std in float64: the one-pass formula loses digits over 50M pixels.
    measured_std = np.sqrt(((images.astype(np.float64) - measured_mean) ** 2).mean(axis=axes))
    mean_error = np.abs(measured_mean - np.asarray(mean)) / np.maximum(np.abs(measured_mean), 1e-12)
    std_error = np.abs(measured_std - np.asarray(std)) / measured_std
    passed = bool(np.all(mean_error <= tolerance) and np.all(std_error <= tolerance))
    message = (
        f"measured mean {np.round(measured_mean, 4).tolist()} std {np.round(measured_std, 4).tolist()} over "
        f"{len(images)} images; stated mean {list(mean)} std {list(std)}"
    )
    return CheckResult(
        "normalisation_statistics",
        passed,
        message,
        {
            "measured_mean": measured_mean,
            "measured_std": measured_std,
            "max_relative_error": float(max(mean_error.max(), std_error.max())),
        },
    )


def write_augmentation_preview(
    dataset,
    png_path: str | os.PathLike,
    *,
    logdir: str | os.PathLike | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    count: int = 32,
    columns: int = 8,
    step: int = 0,
) -> CheckResult:
    """Writes a grid of what the network sees as a PNG and, optionally, to TensorBoard.

    Args:
      dataset: Dataset or (images, labels) of (augmented) training images.
      png_path: PNG file to write (atomically).
      logdir: TensorBoard log directory; the grid goes there as image "input_grid".
      mean: Per-channel mean to add back for display (0-255 units).
      std: Per-channel std to multiply back.
      count: Images in the grid.
      columns: Images per row.
      step: TensorBoard step.

    Returns:
      `CheckResult` "augmentation_preview": passes when the grid was written and is not
      blank (a constant picture means the images are all the same value).
    """
    if isinstance(dataset, tf.data.Dataset):
        dataset = dataset.unbatch().take(count).batch(count)
    images, labels, _ = collect(dataset)
    grid = image_grid(images[:count], columns=columns, mean=mean, std=std)
    write_png(png_path, grid)
    if logdir is not None:
        writer = tf.summary.create_file_writer(os.fspath(logdir))
        with writer.as_default():
            tf.summary.image(
                "input_grid",
                grid[None],
                step=step,
                description=f"first {min(count, len(images))} training inputs; labels {labels[:count].tolist()}",
            )
        writer.close()
    tiles = image_grid(images[:count], columns=columns, mean=mean, std=std, padding=0)
    blank = int(tiles.max()) == int(tiles.min())
    where = f"{os.fspath(png_path)}" + (f" and TensorBoard {os.fspath(logdir)}" if logdir is not None else "")
    message = f"{min(count, len(images))} images written to {where}" + ("; but the grid is blank" if blank else "")
    return CheckResult(
        "augmentation_preview",
        not blank,
        message,
        {"png": os.fspath(png_path), "logdir": None if logdir is None else os.fspath(logdir), "grid_shape": grid.shape},
    )


def _prefixed(prefix: str, report: CheckReport) -> list[CheckResult]:
    return [
        CheckResult(f"{prefix}.{check.name}", check.passed, check.message, check.details) for check in report.checks
    ]


def check_input_pipeline(
    name: str,
    *,
    data_dir: str | None = None,
    batch_size: int = 128,
    validation_size: int = 0,
    evaluation_split: str = "test",
    num_examples: int | None = None,
    max_batches: int = 20,
    png_path: str | os.PathLike | None = None,
    logdir: str | os.PathLike | None = None,
) -> CheckReport:
    """Runs every data check on the pipelines `resnet.data.make_dataset` builds.

    The training pipeline (augmented) and the evaluation split are checked with
    `check_dataset`; augmentation against the same training examples without it;
    train/evaluation overlap and labels on the raw examples; and, with `png_path`, a
    preview grid is written.

    Args:
      name: A dataset of `resnet.data.DATASETS`.
      data_dir: TFDS data directory (CIFAR-10).
      batch_size: Batch size of the pipelines checked.
      validation_size: As in `make_dataset`.
      evaluation_split: "test" or "validation".
      num_examples: As in `make_dataset` (caps every split read).
      max_batches: Batches read by the statistics checks.
      png_path: Where to write the preview grid (None: no preview).
      logdir: TensorBoard directory for the preview.

    Returns:
      One `CheckReport`; check names are prefixed "train.", "evaluation.",
      "augmentation.".
    """
    common = {"data_dir": data_dir, "validation_size": validation_size, "num_examples": num_examples}
    info = data.dataset_info(name, data_dir=data_dir, validation_size=validation_size)
    train = data.make_dataset(name, "train", batch_size=batch_size, training=True, **common)
    evaluation = data.make_dataset(name, evaluation_split, batch_size=batch_size, training=False, **common)
    raw_train = data.load_examples(name, "train", **common)
    raw_evaluation = data.load_examples(name, evaluation_split, **common)
    shape = info.image_shape
    report = CheckReport(f"check_input_pipeline({name}, train vs {evaluation_split})")
    report.checks += _prefixed(
        "train", check_dataset(train, info.num_classes, image_shape=shape, training=True, max_batches=max_batches)
    )
    report.checks += _prefixed(
        "evaluation", check_dataset(evaluation, info.num_classes, image_shape=shape, max_batches=max_batches)
    )
    # Augmentation on the first 2,048 training examples: every augmented image is looked
    # up among the clean ones, which must all be in memory as float32.
    subset = {**common, "num_examples": min(num_examples or 2048, 2048)}
    augmented = data.make_dataset(name, "train", batch_size=batch_size, training=True, **subset)
    clean = data.make_dataset(name, "train", batch_size=batch_size, training=False, **subset)
    report.checks += _prefixed("augmentation", check_augmentation(augmented, clean, max_batches=2))
    report.checks.append(check_no_overlap(raw_train, raw_evaluation, names=("train", evaluation_split)))
    report.checks.append(check_labels_against_source(evaluation, *raw_evaluation, info.mean, info.std))
    if png_path is not None:
        report.checks.append(write_augmentation_preview(train, png_path, logdir=logdir, mean=info.mean, std=info.std))
    return report
