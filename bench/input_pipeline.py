"""Images per second of the CIFAR-10 training input pipeline, next to a per-example version.

    python bench/input_pipeline.py                      # generated 60k-image archive, TFDS
    python bench/input_pipeline.py --source=cifar10 --data_dir=~/tensorflow_datasets
    python bench/input_pipeline.py --source=synthetic   # no TFDS at all

Both pipelines start from the same decoded uint8 arrays in memory and do the same work
per epoch: shuffle, normalise, pad 4 / random 32x32 crop / random flip, batch 128.
`resnet.data.make_dataset` does it on whole batches (gather by shuffled indices, one
gather per axis for crop + flip); the other is the textbook `map(per-example fn)` then
`batch`. Epochs of the two alternate, so load from other processes hits both alike;
the figures are medians. The one-off decode (TFDS reads and decodes the PNGs of the
prepared dataset into memory) is timed on its own.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path[:0] = [os.path.dirname(__file__), os.path.join(os.path.dirname(__file__), "..", "tests")]

import benchlib  # noqa: E402
import tensorflow as tf  # noqa: E402

from resnet import data  # noqa: E402


def per_example_pipeline(images, labels, mean, std, *, batch_size: int, seed: int) -> tf.data.Dataset:
    """The same preprocessing written one example at a time."""

    def augment(image, label):
        image = data.normalize(image, mean, std)
        image = tf.image.pad_to_bounding_box(image, 4, 4, 40, 40)
        image = tf.image.random_crop(image, [32, 32, 3])
        return tf.image.random_flip_left_right(image), label

    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(len(labels), seed=seed)
    dataset = dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def epoch_rate(dataset: tf.data.Dataset) -> tuple[float, float]:
    """Images per wall-clock second and per CPU second (all threads) of one pass.

    On a machine shared with other jobs the wall-clock rate says as much about the
    neighbours as about the pipeline; the CPU-time rate is what the pipeline costs.
    """
    count, start, cpu = 0, time.perf_counter(), time.process_time()
    for images, _ in dataset:
        count += int(images.shape[0])
    return count / (time.perf_counter() - start), count / (time.process_time() - cpu)


def prepare_generated_archive(data_dir: str, images_per_batch: int) -> None:
    """Prepares a generated archive of the real format with the real TFDS builder."""
    import tensorflow_datasets as tfds
    from cifar_archive import write_cifar10_archive
    from tensorflow_datasets.core.download.checksums import compute_url_info

    archive = write_cifar10_archive(data.cifar10.manual_dir(data_dir), images_per_batch)
    # TFDS expects the real archive's sha256; register this one's instead (as the tests do).
    tfds.image_classification.Cifar10.url_infos = {data.cifar10.URL: compute_url_info(archive)}
    data.cifar10.prepare(data_dir, download=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=("archive", "cifar10", "synthetic"), default="archive")
    parser.add_argument("--data_dir", default=None, help="TFDS data_dir holding a prepared CIFAR-10 (--source=cifar10)")
    parser.add_argument("--images_per_batch", type=int, default=10_000, help="per batch file of the generated archive")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3, help="epochs of each pipeline, alternating")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        name, data_dir = ("synthetic", None) if args.source == "synthetic" else ("cifar10", args.data_dir)
        if args.source == "archive":
            data_dir = scratch
            start = time.perf_counter()
            prepare_generated_archive(data_dir, args.images_per_batch)
            print(f"TFDS prepare of the generated archive: {time.perf_counter() - start:.1f} s")
        extra = {"num_examples": 50_000} if name == "synthetic" else {}
        start = time.perf_counter()
        images, labels = data.load_examples(name, "train", data_dir=data_dir, **extra)
        decode = time.perf_counter() - start
        print(
            f"decode {len(labels)} training images into memory (once per process): {decode:.2f} s, "
            f"{len(labels) / decode:,.0f} images/s"
        )
        info = data.dataset_info(name, data_dir=data_dir, **extra)
        ours = data.make_dataset(name, "train", batch_size=args.batch_size, training=True, data_dir=data_dir, **extra)
        theirs = per_example_pipeline(images, labels, info.mean, info.std, batch_size=args.batch_size, seed=0)
        epoch_rate(ours.take(5)), epoch_rate(theirs.take(5))  # trace both before timing
        rates = {"batch-level (resnet.data)": [], "per-example map": []}
        for _ in range(args.rounds):
            rates["batch-level (resnet.data)"].append(epoch_rate(ours))
            rates["per-example map"].append(epoch_rate(theirs))

    print(
        f"\n{benchlib.machine_line()}; source {args.source}, {len(labels)} images, batch {args.batch_size}, "
        f"median of {args.rounds} alternating epochs"
    )
    print("| pipeline | images/s (wall) | images per CPU-second | epochs (wall images/s) |")
    print("|---|---|---|---|")
    medians = {}
    for label, values in rates.items():
        medians[label] = [benchlib.median([v[i] for v in values]) for i in (0, 1)]
        print(
            f"| {label} | {medians[label][0]:,.0f} | {medians[label][1]:,.0f} | "
            f"{', '.join(f'{v[0]:,.0f}' for v in values)} |"
        )
    ours, theirs = medians["batch-level (resnet.data)"], medians["per-example map"]
    print(f"batch-level / per-example: {ours[0] / theirs[0]:.1f}x wall-clock, {ours[1] / theirs[1]:.1f}x CPU time")


if __name__ == "__main__":
    main()
