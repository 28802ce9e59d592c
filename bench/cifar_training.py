"""CIFAR-sized training throughput with the input pipeline attached.

    python bench/cifar_training.py [--examples=1024] [--rounds=2]

For CIFAR ResNet-20 and ResNet-18 (CIFAR stem), on synthetic 32x32 data, images/s of
`model.fit` over one epoch fed by:
  * resnet.data's batch-level pipeline (the one train.py uses), float32, XLA off;
  * the per-example-map pipeline of bench/input_pipeline.py, same settings;
  * resnet.data's pipeline with XLA on (`--jit_compile`);
  * resnet.data's pipeline with mixed_bfloat16 and mixed_float16 (`--mixed_precision`).
The first two alternate within one process; each other setting runs in its own process
(dtype policies are global). Speed-ups are relative to the first line of each model.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import benchlib  # noqa: E402

MODELS = {"resnet20": {}, "resnet18_cifar": {"stem": "cifar"}}
SETTINGS = [("float32", False), ("float32", True), ("mixed_bfloat16", False), ("mixed_float16", False)]
# float16 has no fast CPU kernels (measured: about 100x slower than float32), so that
# setting is timed on one batch only, to keep the script's run time bounded.
SLOW_ON_CPU = {"mixed_float16"}


def measure(model_name: str, policy: str, jit_compile: bool, examples: int, batch_size: int, rounds: int) -> dict:
    """Worker: median images/s of one-epoch `fit`s per pipeline."""
    import keras

    import resnet
    from input_pipeline import per_example_pipeline
    from resnet import data

    keras.config.set_dtype_policy(policy)
    spec = "resnet20" if model_name == "resnet20" else "resnet18"
    model = resnet.build_resnet(spec, num_classes=10, input_shape=(32, 32, 3), **MODELS[model_name])
    benchlib.compile_for_training(model, jit_compile=jit_compile, learning_rate=0.1)
    pipelines = {"resnet.data": data.make_dataset("synthetic", "train", batch_size=batch_size, training=True, num_examples=examples)}
    if policy == "float32" and not jit_compile:
        info = data.dataset_info("synthetic", num_examples=examples)
        images, labels = data.load_examples("synthetic", "train", num_examples=examples)
        pipelines["per-example map"] = per_example_pipeline(images, labels, info.mean, info.std, batch_size=batch_size, seed=0)
    for dataset in pipelines.values():
        model.fit(dataset.take(1), epochs=1, verbose=0)  # trace and warm up
    rates = {name: [] for name in pipelines}
    steps = examples // batch_size
    for _ in range(rounds):
        for name, dataset in pipelines.items():
            start = time.perf_counter()
            model.fit(dataset, epochs=1, verbose=0)
            rates[name].append(steps * batch_size / (time.perf_counter() - start))
    return {name: benchlib.median(values) for name, values in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1024, help="synthetic training examples per epoch")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--timeout", type=float, default=600, help="seconds after which a setting is stopped and reported as such")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        config = json.loads(args.worker)
        print(json.dumps(measure(config["model"], config["policy"], config["jit"], args.examples, args.batch_size, args.rounds)))
        return

    import tensorflow as tf

    gpu = bool(tf.config.list_physical_devices("GPU"))
    print(benchlib.machine_line(), flush=True)
    print(f"synthetic 32x32 data, {args.examples} examples/epoch, batch {args.batch_size}, median of {args.rounds} epochs")
    print("| model | pipeline | precision | XLA | images/s | vs. first line |\n|---|---|---|---|---|---|")
    for model_name in args.models.split(","):
        baseline = None
        for policy, jit in SETTINGS:
            config = json.dumps({"model": model_name, "policy": policy, "jit": jit})
            examples, rounds = (args.batch_size, 1) if policy in SLOW_ON_CPU and not gpu else (args.examples, args.rounds)
            worker_args = [config, "--examples", str(examples), "--batch_size", str(args.batch_size), "--rounds", str(rounds)]
            try:
                rates = benchlib.run_worker(__file__, worker_args, timeout=args.timeout)
            except subprocess.TimeoutExpired:
                print(f"| {model_name} | resnet.data | {policy} | {'on' if jit else 'off'} | < {examples * rounds / args.timeout:.2g} | no result in {args.timeout:.0f} s |", flush=True)
                continue
            for pipeline, rate in rates.items():
                baseline = baseline or rate
                print(f"| {model_name} | {pipeline} | {policy} | {'on' if jit else 'off'} | {rate:,.0f} | {rate / baseline:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
