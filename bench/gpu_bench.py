"""Accelerator figures: ResNet-50 at 224 px and ResNet-18 (CIFAR stem) with its pipeline.

    bash bench/gpu.sh                 # on a machine with a GPU
    bash bench/gpu.sh --cpu_dry_run   # the same code paths, tiny sizes, on the CPU

Prints, one line each:
  * ResNet-50 v1.5 training images/s at 224 px, batch 256, for float32 and
    mixed_bfloat16, XLA off and on (synthetic tensors already on the device);
  * ResNet-18 (CIFAR stem) training images/s at 32 px fed by the full tf.data training
    pipeline on synthetic data (decode-free: augment, batch, prefetch);
  * that pipeline's images/s alone, and whether it keeps up with training.
Each configuration runs in a fresh process, since the dtype policy is global.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import benchlib  # noqa: E402


def resnet50_images_per_second(batch_size: int, image_size: int, policy: str, jit_compile: bool, steps: int) -> float:
    import keras
    import tensorflow as tf

    import resnet

    keras.config.set_dtype_policy(policy)
    model = benchlib.compile_for_training(resnet.resnet50(input_shape=(image_size, image_size, 3)), jit_compile=jit_compile, learning_rate=0.1)
    images = tf.random.normal([batch_size, image_size, image_size, 3])
    labels = tf.random.uniform([batch_size], 0, 1000, tf.int32)
    dataset = tf.data.Dataset.from_tensors((images, labels)).repeat()
    model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)  # compile and warm up
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    return batch_size * steps / (time.perf_counter() - start)


def cifar_resnet18(batch_size: int, steps: int, policy: str, jit_compile: bool) -> dict:
    import keras

    import resnet
    from resnet import data

    keras.config.set_dtype_policy(policy)
    model = benchlib.compile_for_training(
        resnet.resnet18(stem="cifar", num_classes=10, input_shape=(32, 32, 3)), jit_compile=jit_compile, learning_rate=0.1
    )
    examples = batch_size * (steps + 2)
    dataset = data.make_dataset("synthetic", "train", batch_size=batch_size, training=True, num_examples=examples)
    start = time.perf_counter()
    batches = sum(1 for _ in dataset)
    pipeline = batches * batch_size / (time.perf_counter() - start)
    model.fit(dataset.take(2), epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(dataset, epochs=1, verbose=0)
    training = batches * batch_size / (time.perf_counter() - start)
    return {"pipeline": pipeline, "training": training}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu_dry_run", action="store_true", help="tiny sizes on the CPU, to test this script")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    dry = args.cpu_dry_run
    sizes = {"batch": 4 if dry else 256, "image": 64 if dry else 224, "steps": 2 if dry else 30, "cifar_batch": 16 if dry else 512, "cifar_steps": 3 if dry else 60}
    if args.worker:
        config = json.loads(args.worker)
        if config["kind"] == "resnet50":
            value = resnet50_images_per_second(sizes["batch"], sizes["image"], config["policy"], config["jit"], sizes["steps"])
            print(json.dumps({"images_per_second": value}))
        else:
            print(json.dumps(cifar_resnet18(sizes["cifar_batch"], sizes["cifar_steps"], config["policy"], config["jit"])))
        return

    print(benchlib.machine_line() + (" (CPU dry run: tiny sizes)" if dry else ""))
    extra = ["--cpu_dry_run"] if dry else []
    for policy in ("float32", "mixed_bfloat16"):
        for jit in (False, True):
            config = json.dumps({"kind": "resnet50", "policy": policy, "jit": jit})
            r = benchlib.run_worker(__file__, [config, *extra])
            print(f"ResNet-50 v1.5 {sizes['image']}px batch {sizes['batch']} {policy:<15} XLA {'on ' if jit else 'off'}: {r['images_per_second']:9.1f} img/s", flush=True)
    policy = "mixed_bfloat16"
    r = benchlib.run_worker(__file__, [json.dumps({"kind": "cifar", "policy": policy, "jit": True}), *extra])
    keeps_up = "keeps up" if r["pipeline"] >= r["training"] else "is the bottleneck"
    print(f"ResNet-18 CIFAR stem, 32px batch {sizes['cifar_batch']}, {policy}, XLA on, full pipeline: {r['training']:9.1f} img/s")
    print(f"input pipeline alone: {r['pipeline']:9.1f} img/s -> the pipeline {keeps_up}")


if __name__ == "__main__":
    main()
