"""The paper's architecture tables as data.

Table 1 of He et al. 2015 ("Deep Residual Learning for Image Recognition") for the
ImageNet networks, and section 4.2 for the CIFAR-10 networks of depth 6n+2. A spec
says *what* a network is (block type, blocks per stage, widths, strides, stem);
`resnet.model.build_resnet` turns it into a Keras model.
"""

from __future__ import annotations

import dataclasses
import re

BLOCK_TYPES = ("basic", "bottleneck")
# Output channels of a block divided by its width (torchvision's `expansion`).
EXPANSION = {"basic": 1, "bottleneck": 4}
STEMS = ("imagenet", "cifar")
# The builders' other architecture choices (`resnet.blocks.BlockOptions` checks them).
# They live here, beside STEMS, so that train.py can check its flags without Keras.
VARIANTS = ("v1", "v1.5", "v2")
SHORTCUTS = ("A", "B", "C")
PADDINGS = ("symmetric", "same")
# "resnet50", "resnet20", "cifar_resnet50": an optional CIFAR prefix and a depth.
_NAME_PATTERN = re.compile(r"^(cifar_)?resnet(\d+)$")


@dataclasses.dataclass(frozen=True)
class ResNetSpec:
    """One ResNet architecture, as the paper's tables describe it.

    Attributes:
      name: Canonical name, e.g. "resnet50" or "resnet20" (CIFAR).
      depth: Number of weighted layers the paper counts (convolutions plus the
        classifier, projections excluded).
      family: "imagenet" (Table 1) or "cifar" (section 4.2).
      block: "basic" (two 3x3 convs) or "bottleneck" (1x1, 3x3, 1x1).
      blocks_per_stage: Residual blocks in each stage, e.g. (3, 4, 6, 3).
      widths: Bottleneck width of each stage (output channels are
        `width * expansion`).
      strides: Stride of the first block of each stage.
      stem: "imagenet" (7x7/2 conv + 3x3/2 max-pool) or "cifar" (3x3/1 conv).
      stem_width: Output channels of the stem convolution.
      default_shortcut: The paper's shortcut option for this family ("B" for
        ImageNet, "A" for CIFAR).
    """

    name: str
    depth: int
    family: str
    block: str
    blocks_per_stage: tuple[int, ...]
    widths: tuple[int, ...]
    strides: tuple[int, ...]
    stem: str
    stem_width: int
    default_shortcut: str

    def __post_init__(self):
        if self.block not in BLOCK_TYPES:
            raise ValueError(f"Unknown block type {self.block!r}; valid: {', '.join(BLOCK_TYPES)}.")
        if self.stem not in STEMS:
            raise ValueError(f"Unknown stem {self.stem!r}; valid: {', '.join(STEMS)}.")
        if not len(self.blocks_per_stage) == len(self.widths) == len(self.strides):
            raise ValueError(
                "blocks_per_stage, widths and strides must have one entry per stage; got "
                f"{len(self.blocks_per_stage)}, {len(self.widths)} and {len(self.strides)}."
            )
        if any(n < 1 for n in self.blocks_per_stage):
            raise ValueError(f"Every stage needs at least one block; got {self.blocks_per_stage}.")

    @property
    def expansion(self) -> int:
        """Output channels of a block per unit of width (1 basic, 4 bottleneck)."""
        return EXPANSION[self.block]

    @property
    def stage_names(self) -> tuple[str, ...]:
        """The paper's stage names: conv2_x, conv3_x, ... as "conv2", "conv3", ..."""
        return tuple(f"conv{i + 2}" for i in range(len(self.widths)))

    @property
    def output_channels(self) -> tuple[int, ...]:
        """Channels each stage outputs."""
        return tuple(w * self.expansion for w in self.widths)

    def to_dict(self) -> dict:
        """The spec as plain, JSON-safe data."""
        return dataclasses.asdict(self)


def _imagenet(depth: int, block: str, blocks: tuple[int, ...]) -> ResNetSpec:
    return ResNetSpec(
        name=f"resnet{depth}",
        depth=depth,
        family="imagenet",
        block=block,
        blocks_per_stage=blocks,
        widths=(64, 128, 256, 512),
        strides=(1, 2, 2, 2),
        stem="imagenet",
        stem_width=64,
        default_shortcut="B",
    )


# Table 1 of the paper: depth -> (block type, blocks in conv2_x .. conv5_x).
IMAGENET_SPECS: dict[int, ResNetSpec] = {
    18: _imagenet(18, "basic", (2, 2, 2, 2)),
    34: _imagenet(34, "basic", (3, 4, 6, 3)),
    50: _imagenet(50, "bottleneck", (3, 4, 6, 3)),
    101: _imagenet(101, "bottleneck", (3, 4, 23, 3)),
    152: _imagenet(152, "bottleneck", (3, 8, 36, 3)),
}

# Section 4.2: the depths the paper trains on CIFAR-10.
PAPER_CIFAR_DEPTHS = (20, 32, 44, 56, 110, 1202)


def cifar_spec(depth: int) -> ResNetSpec:
    """The paper's CIFAR-10 ResNet of `depth` = 6n+2 layers (section 4.2).

    Three stages of n basic blocks with 16, 32 and 64 filters on 32, 16 and 8 px
    maps, after a 3x3 convolution with 16 filters.

    Args:
      depth: 6n+2 for some n >= 1 (8, 14, 20, 32, 44, 56, 110, 1202, ...).

    Returns:
      The spec.

    Raises:
      ValueError: If `depth` is not of the form 6n+2.
    """
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 8 or (depth - 2) % 6:
        raise ValueError(
            f"CIFAR ResNet depth must be 6n+2 with n >= 1 (e.g. 20, 32, 44, 56, 110, 1202); got {depth!r}."
        )
    n = (depth - 2) // 6
    return ResNetSpec(
        name=f"resnet{depth}",
        depth=depth,
        family="cifar",
        block="basic",
        blocks_per_stage=(n, n, n),
        widths=(16, 32, 64),
        strides=(1, 2, 2),
        stem="cifar",
        stem_width=16,
        default_shortcut="A",
    )


def get_spec(name: str | int) -> ResNetSpec:
    """Looks up a ResNet by name.

    "resnet18", "resnet34", "resnet50", "resnet101" and "resnet152" are the ImageNet
    networks of Table 1. Any other "resnetN" with N = 6n+2 is the CIFAR network of
    section 4.2 ("resnet20", "resnet110", ...). "cifar_resnetN" always means the CIFAR
    network, for the depths both families share (50 and 152 are both 6n+2).

    Args:
      name: A name as above, or a depth (an int is read as "resnet{depth}").

    Returns:
      The spec.

    Raises:
      ValueError: If the name is not one of the above.
    """
    text = f"resnet{name}" if isinstance(name, int) and not isinstance(name, bool) else name
    match = _NAME_PATTERN.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"Unknown ResNet {name!r}; {_valid_names()}.")
    cifar_prefix, depth = match.group(1), int(match.group(2))
    if not cifar_prefix and depth in IMAGENET_SPECS:
        return IMAGENET_SPECS[depth]
    try:
        return cifar_spec(depth)
    except ValueError:
        raise ValueError(f"Unknown ResNet {name!r}; {_valid_names()}.") from None


def _valid_names() -> str:
    imagenet = ", ".join(f"resnet{d}" for d in IMAGENET_SPECS)
    return f"valid: {imagenet}, or resnetN / cifar_resnetN with N = 6n+2 (resnet20, resnet56, resnet110, ...)"
