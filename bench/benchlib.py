"""Shared pieces of the benchmark scripts: timing, machine facts, worker processes.

Benchmarks print figures; they never assert on time. On a shared, noisy machine compare
ratios measured in one run (alternating the contenders), not absolute times.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def machine_line() -> str:
    """One line naming the machine, software and date, for the figures' caption."""
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpus = tf.config.list_physical_devices("GPU")
    return (
        f"{os.cpu_count()} CPU cores ({cpu}), {len(gpus)} GPU(s), TF {tf.__version__}, "
        f"Python {platform.python_version()}, {datetime.date.today().isoformat()}"
    )


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else 0.5 * (ordered[middle - 1] + ordered[middle])


def time_per_call(fn: Callable[[], object], *, warmup: int = 1, repeats: int = 3) -> float:
    """Median seconds per call of `fn` after `warmup` untimed calls.

    `fn` must block until its work is done (e.g. return a NumPy value).
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return median(times)


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB.

    Reads VmHWM, which a new program starts afresh: `ru_maxrss` would carry over the
    parent's peak into a worker started by fork + exec.
    """
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024.0
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def conv_gflops(*, seconds: float = 3.0, dtype: str = "float32") -> float:
    """What a large 3x3 convolution reaches on this machine, in GFLOP/s.

    The yardstick for utilisation: a ResNet's own convolutions cannot do better than
    one big, well-shaped convolution. Counts 2 FLOPs per multiply-add.

    Args:
        seconds: how long to keep calling the convolution.
        dtype: "float32" (the yardstick of the issue's utilisation figure) or
            "bfloat16" (what a mixed_bfloat16 model's convolutions run in).

    Returns:
        Billions of floating-point operations per second.
    """
    import tensorflow as tf

    x = tf.random.normal([16, 56, 56, 256], dtype=dtype)
    w = tf.random.normal([3, 3, 256, 256], dtype=dtype)
    conv = tf.function(lambda: tf.reduce_sum(tf.nn.conv2d(x, w, 1, "SAME")))
    flops = 2.0 * 16 * 56 * 56 * 256 * 3 * 3 * 256
    conv().numpy()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        conv().numpy()
        calls += 1
    return flops * calls / (time.perf_counter() - start) / 1e9


def random_batch(batch_size: int, image_size: int, num_classes: int = 1000):
    """A fixed (seed 0) batch of float32 normal images and int32 labels for timing.

    Returns:
        (images of shape [batch_size, image_size, image_size, 3], labels [batch_size]).
    """
    import numpy as np

    rng = np.random.default_rng(0)
    images = rng.normal(size=(batch_size, image_size, image_size, 3)).astype("float32")
    labels = rng.integers(0, num_classes, size=(batch_size,)).astype("int32")
    return images, labels


def compile_for_training(model, *, jit_compile: bool = False, learning_rate: float = 0.01):
    """Compiles `model` the way every benchmark trains: SGD with momentum 0.9,
    cross-entropy on logits. Returns the model."""
    import keras

    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    return model


def run_worker(script: str, args: list[str], *, timeout: float = 1200) -> dict:
    """Runs `script --worker ...` in a fresh Python process and returns its JSON line.

    A fresh process per measurement gives each one its own peak-memory figure.
    """
    completed = subprocess.run(
        [sys.executable, script, "--worker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"worker {args} failed (exit {completed.returncode}): {completed.stderr.strip()[-2000:]}")
    return json.loads(lines[-1])
