"""`python -m resnet`: build every reference model and print its size and cost."""

from __future__ import annotations

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import resnet  # noqa: E402


def main() -> None:
    print(f"{'model':<10} {'variant':<7} {'input':>7} {'trainable params':>17} {'GFLOPs (mult-adds)':>19}")
    rows = [(f"resnet{d}", v, 224) for d in resnet.IMAGENET_SPECS for v in ("v1", "v1.5")]
    rows += [(f"resnet{d}", "v1", 32) for d in (20, 32, 44, 56, 110)]
    for name, variant, size in rows:
        model = resnet.build_resnet(name, variant=variant, input_shape=(size, size, 3))
        params = sum(math.prod(w.shape) for w in model.trainable_weights)
        print(f"{name:<10} {variant:<7} {size:>5}px {params:>17,} {resnet.count_macs(model) / 1e9:>19.3f}")


if __name__ == "__main__":
    main()
