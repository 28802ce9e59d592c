"""How training-step time and memory grow with batch size and depth, on this machine.

    python bench/scaling.py [--batch_image_size=64] [--depth_image_size=224] [--depth_batch=4]

Two sweeps, each configuration in a fresh process (so its peak memory is its own):
ResNet-50 v1.5 at batch 1, 2, 4, ..., 128; and ResNet-18 ... ResNet-152 at one batch
size. Float32, SGD with momentum, XLA off. Prints step time, images/s and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import benchlib  # noqa: E402


def measure(depth: int, batch_size: int, image_size: int, steps: int) -> dict:
    """Worker: one configuration's median step time and peak RSS."""
    import resnet

    model = resnet.build_resnet(f"resnet{depth}", input_shape=(image_size, image_size, 3))
    benchlib.compile_for_training(model, jit_compile=False, learning_rate=0.01)
    images, labels = benchlib.random_batch(batch_size, image_size)
    seconds = benchlib.time_per_call(lambda: model.train_on_batch(images, labels), warmup=1, repeats=steps)
    return {"depth": depth, "batch_size": batch_size, "image_size": image_size, "step_s": seconds, "peak_rss_mib": benchlib.peak_rss_mib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch_image_size", type=int, default=64, help="input size of the batch sweep")
    parser.add_argument("--batch_sizes", default="1,2,4,8,16,32,64,128")
    parser.add_argument("--depth_image_size", type=int, default=224, help="input size of the depth sweep")
    parser.add_argument("--depth_batch", type=int, default=4)
    parser.add_argument("--depths", default="18,34,50,101,152")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--depth", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batch_size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--image_size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.depth, args.batch_size, args.image_size, args.steps)))
        return

    print(benchlib.machine_line())
    sweeps = [
        (f"batch sweep: ResNet-50 v1.5, {args.batch_image_size} px", [(50, int(b), args.batch_image_size) for b in args.batch_sizes.split(",")]),
        (f"depth sweep: batch {args.depth_batch}, {args.depth_image_size} px", [(int(d), args.depth_batch, args.depth_image_size) for d in args.depths.split(",")]),
    ]
    for title, configs in sweeps:
        print(title)
        print(f"  {'depth':>5} {'batch':>5} {'px':>4} {'step s':>8} {'img/s':>8} {'peak RSS MiB':>13}")
        for depth, batch_size, image_size in configs:
            worker_args = ["--depth", str(depth), "--batch_size", str(batch_size), "--image_size", str(image_size), "--steps", str(args.steps)]
            r = benchlib.run_worker(__file__, worker_args)
            print(f"  {depth:>5} {batch_size:>5} {image_size:>4} {r['step_s']:>8.3f} {batch_size / r['step_s']:>8.1f} {r['peak_rss_mib']:>13.0f}", flush=True)


if __name__ == "__main__":
    main()
