"""Where a training step's time goes: convolutions, BatchNorm, ReLU, additions, optimizer.

    python bench/step_profile.py [--model=resnet50] [--variant=v1] [--batch_size=16]

Profiles two training steps with TensorFlow's profiler and sums the time of every op by
what it does. TensorFlow is told to run one op at a time (inter-op parallelism 1), so
that op times add up to the step instead of overlapping; each op still uses every core.
The last lines compare the convolutions' own FLOP rate with a large convolution measured
in the same run: the utilisation the step would reach if everything but the
convolutions were free, next to the one it reaches.
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import benchlib  # noqa: E402

PARTS = (
    "convolutions, forward",
    "convolutions, input gradients",
    "convolutions, filter gradients",
    "BatchNorm (+ReLU fused by oneDNN)",
    "BatchNorm gradients",
    "ReLU and ReLU gradients",
    "residual additions, gradient sums",
    "optimizer update",
    "everything else",
)


def part_of(op_name: str, op_type: str) -> str:
    """Which of PARTS an op (profiler event "name:type") belongs to."""
    if op_name.startswith(("sgd/", "SGD/")):
        return "optimizer update"
    if "Conv2DBackpropInput" in op_type:
        return "convolutions, input gradients"
    if "Conv2DBackpropFilter" in op_type:
        return "convolutions, filter gradients"
    if "Conv2D" in op_type:
        return "convolutions, forward"
    if "FusedBatchNormGrad" in op_type:
        return "BatchNorm gradients"
    if "FusedBatchNorm" in op_type:
        return "BatchNorm (+ReLU fused by oneDNN)"
    if op_type in ("Relu", "ReluGrad"):
        return "ReLU and ReLU gradients"
    if op_type in ("AddV2", "AddN") and "_bn" not in op_name:  # BN's own adds update moving statistics
        return "residual additions, gradient sums"
    return "everything else"


def op_seconds(logdir: str) -> collections.Counter:
    """Seconds per PART summed over the op events of the profile in `logdir`."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    path = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True))[-1]
    space = xplane_pb2.XSpace()
    with open(path, "rb") as stream:
        space.ParseFromString(stream.read())
    seconds = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                op_name, _, op_type = name.rpartition(":")
                if op_name and "::" not in name and " " not in op_type:  # ops are "name:Type", runtime events not
                    seconds[part_of(op_name, op_type)] += event.duration_ps * 1e-12
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--variant", default="v1")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=2, help="profiled steps")
    args = parser.parse_args()

    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(1)
    import resnet

    print(benchlib.machine_line())
    model = resnet.build_resnet(args.model, variant=args.variant, input_shape=(args.image_size,) * 2 + (3,))
    benchlib.compile_for_training(model)
    images, labels = benchlib.random_batch(args.batch_size, args.image_size, model.output_shape[-1])
    conv_before = benchlib.conv_gflops()
    step_s = benchlib.time_per_call(lambda: model.train_on_batch(images, labels), warmup=2, repeats=3)
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        for _ in range(args.steps):
            model.train_on_batch(images, labels)
        profiled_s = (time.perf_counter() - start) / args.steps
        tf.profiler.experimental.stop()
        seconds = op_seconds(logdir)
    conv_peak = max(conv_before, benchlib.conv_gflops())

    from resnet.flops import layer_macs

    macs = resnet.count_macs(model) * args.batch_size
    stem_macs = next(count for count in map(layer_macs, model.layers) if count) * args.batch_size
    flops = {  # 2 FLOPs per multiply-add; the stem's input needs no gradient
        "convolutions, forward": 2 * macs,
        "convolutions, input gradients": 2 * (macs - stem_macs),
        "convolutions, filter gradients": 2 * macs,
    }
    per_step = {part: seconds[part] / args.steps for part in PARTS}
    ops_total = sum(per_step.values())
    print(f"{args.model} {args.variant}, {args.image_size} px, batch {args.batch_size}, float32, ops one at a time")
    print(f"step {step_s:.3f} s unprofiled, {profiled_s:.3f} s profiled; large float32 conv {conv_peak:.1f} GFLOP/s")
    print("| part | s/step | share of op time | GFLOP/s |\n|---|---|---|---|")
    for part in PARTS:
        rate = f"{flops[part] / per_step[part] / 1e9:.0f}" if part in flops and per_step[part] else ""
        print(f"| {part} | {per_step[part]:.3f} | {per_step[part] / ops_total:.1%} | {rate} |")
    conv_s = sum(per_step[part] for part in flops)
    training_flops = 6 * macs  # the definition: 3 x forward multiply-adds x 2
    print(f"| all ops | {ops_total:.3f} | 100% | |")
    print(f"convolutions alone: {training_flops / conv_s / 1e9:.0f} GFLOP/s = {training_flops / conv_s / 1e9 / conv_peak:.1%} of the large conv")
    print(f"whole step:         {training_flops / step_s / 1e9:.0f} GFLOP/s = {training_flops / step_s / 1e9 / conv_peak:.1%} of the large conv")


if __name__ == "__main__":
    main()
