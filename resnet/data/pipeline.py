"""`dataset_info` and `make_dataset`: the input pipelines training and evaluation use."""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from resnet.data import cifar10, digits, synthetic
from resnet.data.augment import augment_batch, normalize
from resnet.data.info import (
    CIFAR10_CLASSES,
    CIFAR10_MEAN,
    CIFAR10_SPLITS,
    CIFAR10_STD,
    DIGITS_MEAN,
    DIGITS_SPLITS,
    DIGITS_STD,
    SPLITS,
    SYNTHETIC_MEAN,
    SYNTHETIC_SPLITS,
    SYNTHETIC_STD,
    DatasetInfo,
    check_name,
    split_sizes,
)

PADDING = 4  # The paper's 4-pixel padding before the random 32x32 crop.


def dataset_info(
    name: str,
    *,
    data_dir: str | None = None,
    validation_size: int = 0,
    image_shape: tuple[int, int, int] | None = None,
    num_examples: int | None = None,
) -> DatasetInfo:
    """Static facts of a dataset, without preparing or reading it.

    Args:
      name: One of `DATASETS`.
      data_dir: TFDS data directory of CIFAR-10; where a prepared copy is found, its
        split sizes are reported (else the official 50,000 / 10,000).
      validation_size: Training examples held out as "validation".
      image_shape: Synthetic only: (height, width, channels); default (32, 32, 3).
      num_examples: Synthetic only: the size of every split.

    Returns:
      The `DatasetInfo`.
    """
    check_name(name)
    if name != "synthetic" and (image_shape is not None or num_examples is not None):
        raise ValueError(f"image_shape and num_examples describe the synthetic dataset only; got name={name!r}.")
    if name == "cifar10":
        prepared = cifar10.builder(data_dir)
        sizes = dict(CIFAR10_SPLITS)
        if prepared.is_prepared():
            sizes = {split: prepared.info.splits[split].num_examples for split in sizes}
        return DatasetInfo(
            name, 10, (32, 32, 3), CIFAR10_MEAN, CIFAR10_STD, split_sizes(sizes, validation_size), CIFAR10_CLASSES
        )
    if name == "digits":
        classes = tuple(str(digit) for digit in range(10))
        return DatasetInfo(
            name, 10, (32, 32, 3), DIGITS_MEAN, DIGITS_STD, split_sizes(DIGITS_SPLITS, validation_size), classes
        )
    shape = tuple(image_shape or (32, 32, 3))
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"image_shape must be (height, width, channels) of positive sizes; got {image_shape}.")
    sizes = {"train": num_examples + validation_size, "test": num_examples} if num_examples else SYNTHETIC_SPLITS
    channels = shape[2]
    return DatasetInfo(
        name,
        10,
        shape,
        SYNTHETIC_MEAN[:1] * channels,
        SYNTHETIC_STD[:1] * channels,
        split_sizes(sizes, validation_size),
        tuple(str(label) for label in range(10)),
    )


def _check_arguments(split: str, batch_size: int, validation_size: int, num_examples: int | None) -> None:
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; valid splits: {', '.join(SPLITS)}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")
    if split == "validation" and validation_size < 1:
        raise ValueError("split='validation' needs validation_size > 0 (e.g. 5000, the paper's 45k/5k split).")
    if num_examples is not None and num_examples < 1:
        raise ValueError(f"num_examples must be a positive integer or None; got {num_examples!r}.")


@functools.lru_cache(maxsize=8)
def _cached_examples(
    name: str, split: str, data_dir: str | None, validation_size: int, num_examples: int | None, image_shape
) -> tuple[tf.Tensor, tf.Tensor]:
    # Decoded once per process and kept in host memory (CIFAR-10's training split is
    # 150 MB as uint8), so later epochs and later make_dataset calls decode nothing.
    images, labels = load_examples(
        name,
        split,
        data_dir=data_dir,
        validation_size=validation_size,
        num_examples=num_examples,
        image_shape=image_shape,
    )
    with tf.device("/cpu:0"):
        return tf.constant(images), tf.constant(labels)


def load_examples(
    name: str,
    split: str,
    *,
    data_dir: str | None = None,
    validation_size: int = 0,
    num_examples: int | None = None,
    image_shape: tuple[int, int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The raw examples of a split, before any preprocessing, in their fixed order.

    Arguments are those of `make_dataset`. "validation" is the last `validation_size`
    examples of the source's training split, "train" the ones before them.

    Returns:
      (uint8 images [N, H, W, C], int32 labels [N]).
    """
    check_name(name)
    _check_arguments(split, 1, validation_size, num_examples)
    if name == "synthetic":
        info = dataset_info(name, validation_size=validation_size, image_shape=image_shape, num_examples=num_examples)
        return synthetic.load(split, info.split_sizes[split], info.image_shape, info.num_classes)
    if name == "cifar10":
        cifar10.prepare(data_dir)  # Heavy only the first time; split sizes come from it.
    info = dataset_info(name, data_dir=data_dir, validation_size=validation_size)
    source = "test" if split == "test" else "train"
    start = info.split_sizes["train"] if split == "validation" else 0
    stop = start + info.split_sizes[split]
    if num_examples is not None:
        stop = min(stop, start + num_examples)
    if name == "cifar10":
        return cifar10.load(source, start, stop, data_dir)
    images, labels = digits.load(source)
    return images[start:stop], labels[start:stop]


@functools.lru_cache(maxsize=None)
def _training_transform(mean: tuple[float, ...], std: tuple[float, ...]):
    # XLA fuses cast, normalisation, padding, crop and flip into one pass over the
    # batch: about 3.5x fewer CPU-seconds per image than the same ops run one by one
    # (BUILD_NOTES.md). One function per statistics, so every pipeline of a process
    # reuses its compilation.
    def transform(batch, seed):
        return augment_batch(normalize(batch, mean, std), seed, padding=PADDING)

    return tf.function(transform, jit_compile=True)


def _augmentation_seed(seed: int | None, pipeline_id: int) -> int | None:
    # Each input pipeline of a distributed run needs its own crops and flips.
    if seed is None:
        return None
    return int(np.random.SeedSequence([seed, pipeline_id]).generate_state(1)[0])


def make_dataset(
    name: str,
    split: str,
    *,
    batch_size: int,
    training: bool,
    data_dir: str | None = None,
    seed: int | None = 0,
    validation_size: int = 0,
    input_context: tf.distribute.InputContext | None = None,
    num_examples: int | None = None,
    image_shape: tuple[int, int, int] | None = None,
) -> tf.data.Dataset:
    """A batched tf.data pipeline of normalised images and integer labels.

    The split is decoded once into host memory; every later step works on whole
    batches (gather by shuffled indices, normalise, augment), so no per-example op
    runs after the first decode.

    Args:
      name: One of `DATASETS`: "cifar10" (TFDS; needs the archive or network),
        "digits" (scikit-learn, offline) or "synthetic".
      split: "train", "validation" (needs `validation_size` > 0) or "test".
      batch_size: Global batch size; per replica with `input_context`.
      training: True: shuffle (seeded, reshuffled every epoch), pad-4 / random crop /
        random flip, drop the last partial batch. False: normalise only, keep it.
      data_dir: TFDS data directory for CIFAR-10 (the archive goes in
        `<data_dir>/downloads/manual`).
      seed: Seed of shuffling and augmentation; None: different every run.
      validation_size: Training examples held out as "validation" (5000 gives the
        paper's 45k/5k split); the same examples every time.
      input_context: From `tf.distribute.Strategy.distribute_datasets_from_function`:
        this pipeline reads every `num_input_pipelines`-th example, and batches of
        `get_per_replica_batch_size(batch_size)`.
      num_examples: Keep only the first `num_examples` of the split (synthetic: the
        split's size).
      image_shape: Synthetic only: (height, width, channels), default (32, 32, 3).

    Returns:
      A `tf.data.Dataset` of (float32 images [B, H, W, C], int32 labels [B]), not
      repeated: one pass is one epoch.

    Raises:
      ValueError: Unknown dataset or split, bad sizes.
      resnet.data.CifarNotFoundError: CIFAR-10 is missing and cannot be downloaded.
    """
    check_name(name)
    _check_arguments(split, batch_size, validation_size, num_examples)
    info = dataset_info(
        name,
        data_dir=data_dir,
        validation_size=validation_size,
        image_shape=image_shape,
        num_examples=num_examples if name == "synthetic" else None,
    )
    images, labels = _cached_examples(
        name, split, data_dir, validation_size, num_examples, None if image_shape is None else tuple(image_shape)
    )
    count = int(images.shape[0])
    pipelines, pipeline_id = 1, 0
    if input_context is not None:
        pipelines, pipeline_id = input_context.num_input_pipelines, input_context.input_pipeline_id
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    mine = len(range(pipeline_id, count, pipelines))
    if training and mine < batch_size:
        raise ValueError(
            f"batch_size {batch_size} is larger than the {mine} examples of {name} {split!r} this pipeline reads; "
            "training drops partial batches, so it would yield nothing."
        )

    mean, std = info.mean, info.std
    indices = tf.data.Dataset.range(count)
    if pipelines > 1:
        indices = indices.shard(pipelines, pipeline_id)
    if training:
        indices = indices.shuffle(mine, seed=seed, reshuffle_each_iteration=True)
    indices = indices.batch(batch_size, drop_remainder=training)

    def clean(index):
        return normalize(tf.gather(images, index), mean, std), tf.gather(labels, index)

    if training:
        # Dataset.random gives each batch its own stateless seed: reproducible under
        # `seed`, different in every epoch.
        seeds = tf.data.Dataset.random(seed=_augmentation_seed(seed, pipeline_id), rerandomize_each_iteration=True)
        batches = tf.data.Dataset.zip(indices, seeds.batch(2))
        transform = _training_transform(tuple(mean), tuple(std))

        def augmented(index, batch_seed):
            return transform(tf.gather(images, index), batch_seed), tf.gather(labels, index)

        dataset = batches.map(augmented, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        dataset = indices.map(clean, num_parallel_calls=tf.data.AUTOTUNE)

    options = tf.data.Options()
    options.deterministic = True
    # With an input context the sharding above is the whole story; without one, a
    # multi-worker strategy splits every batch between workers (DATA), since the data
    # live in memory, not in files that could be divided.
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF
        if input_context is not None
        else tf.data.experimental.AutoShardPolicy.DATA
    )
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)
