"""Training and inference throughput of our ResNet-50 against Keras applications'.

    python bench/model_throughput.py [--batch_size=16] [--image_size=224] [--rounds=3]
    python bench/model_throughput.py --precision=mixed_bfloat16

Both models are ResNet-50 v1 (the architecture Keras applications implements) with
logits out, the same optimizer (SGD, momentum 0.9), loss, batch and precision. Runs
alternate between the two in each round, so that machine noise hits both alike; the
figure that matters is the ratio ours / theirs measured in the same run. Peak memory
of a training step is measured in a fresh process per model. Utilisation is training
FLOPs per second (3 x forward multiply-adds x 2 per image) over what one large float32
convolution reaches on this machine in the same run; with --precision=mixed_bfloat16
the same figure is also given against a large bfloat16 convolution, which is what the
model's convolutions then run in.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import benchlib  # noqa: E402

CONTENDERS = ("ours", "keras_applications")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def build(contender: str, image_size: int, jit_compile: bool, precision: str):
    import keras

    import resnet

    keras.config.set_dtype_policy(precision)  # global, and the same for both contenders
    shape = (image_size, image_size, 3)
    if contender == "ours":
        model = resnet.resnet50(variant="v1", input_shape=shape)
    else:
        model = keras.applications.ResNet50(weights=None, input_shape=shape, classifier_activation=None)
    benchlib.compile_for_training(model, jit_compile=jit_compile, learning_rate=0.01)
    return model


def measure_memory(contender: str, batch_size: int, image_size: int, jit_compile: bool, precision: str) -> dict:
    """Worker: peak RSS after building the model, and after training steps."""
    model = build(contender, image_size, jit_compile, precision)
    images, labels = benchlib.random_batch(batch_size, image_size)
    built = benchlib.peak_rss_mib()
    for _ in range(2):
        model.train_on_batch(images, labels)
    return {"contender": contender, "rss_built_mib": built, "rss_peak_mib": benchlib.peak_rss_mib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per contender per round")
    parser.add_argument("--jit_compile", action="store_true", help="compile both with XLA")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32", help="Keras dtype policy of both models")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--contender", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        import json

        print(json.dumps(measure_memory(args.contender, args.batch_size, args.image_size, args.jit_compile, args.precision)))
        return

    import tensorflow as tf

    import resnet

    print(benchlib.machine_line())
    print(f"ResNet-50 v1, {args.image_size} px, batch {args.batch_size}, {args.precision}, XLA {'on' if args.jit_compile else 'off'}")
    yardsticks = ["float32"] + (["bfloat16"] if args.precision == "mixed_bfloat16" else [])
    conv_before = {dtype: benchlib.conv_gflops(dtype=dtype) for dtype in yardsticks}
    models = {c: build(c, args.image_size, args.jit_compile, args.precision) for c in CONTENDERS}
    images, labels = benchlib.random_batch(args.batch_size, args.image_size)
    macs = resnet.count_macs(models["ours"])
    # predict reads a one-batch dataset with tf.data autotuning off: given the NumPy
    # array, Keras' adapter builds an autotuned pipeline whose background thread competes
    # for the cores and makes predict's time per call jump by ~50% (0.43 vs 0.66 s
    # measured on 2 cores), whichever model runs.
    no_autotune = tf.data.Options()
    no_autotune.autotune.enabled = False
    predict_input = tf.data.Dataset.from_tensors(images).with_options(no_autotune)
    calls = {
        "train step": lambda m: (lambda: m.train_on_batch(images, labels)),
        "predict": lambda m: (lambda: m.predict(predict_input, verbose=0)),
        "compiled call": lambda m: (lambda f=tf.function(lambda x: m(x, training=False)): f(images).numpy()),
    }
    results = {(kind, c): [] for kind in calls for c in CONTENDERS}
    for kind, make_call in calls.items():
        bound = {c: make_call(models[c]) for c in CONTENDERS}
        for c in CONTENDERS:
            bound[c]()  # warm-up: tracing and first-call allocation
        for round_index in range(args.rounds):
            order = CONTENDERS if round_index % 2 == 0 else CONTENDERS[::-1]
            for c in order:
                seconds = benchlib.time_per_call(bound[c], warmup=0, repeats=args.steps)
                results[(kind, c)].append(args.batch_size / seconds)
    conv_peak = {dtype: max(conv_before[dtype], benchlib.conv_gflops(dtype=dtype)) for dtype in yardsticks}

    print(", ".join(f"large {dtype} conv reaches {gflops:.1f} GFLOP/s" for dtype, gflops in conv_peak.items()))
    print(f"ResNet-50 v1 forward = {macs / 1e9:.3f} G mult-adds/image; utilisation against the {' / '.join(yardsticks)} conv")
    print(f"{'measure':<15} {'ours img/s':>11} {'keras img/s':>12} {'ours/keras':>11} {'util ours':>15} {'util keras':>15}")
    for kind in calls:
        ours = benchlib.median(results[(kind, "ours")])
        theirs = benchlib.median(results[(kind, "keras_applications")])
        flops_per_image = (6 if kind == "train step" else 2) * macs

        def util(images_per_s: float) -> str:
            return " / ".join(f"{images_per_s * flops_per_image / (gflops * 1e9):.1%}" for gflops in conv_peak.values())

        print(f"{kind:<15} {ours:>11.2f} {theirs:>12.2f} {ours / theirs:>11.3f} {util(ours):>15} {util(theirs):>15}")
    del models
    for c in CONTENDERS:
        worker_args = ["--contender", c, "--batch_size", str(args.batch_size), "--image_size", str(args.image_size), "--precision", args.precision]
        memory = benchlib.run_worker(__file__, worker_args + (["--jit_compile"] if args.jit_compile else []))
        print(f"peak RSS, training step, {c:<19}: {memory['rss_peak_mib']:8.0f} MiB (after build: {memory['rss_built_mib']:.0f} MiB)")


if __name__ == "__main__":
    main()
