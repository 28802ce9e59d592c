"""What a spec says a ResNet must contain: per block and per component, from the paper.

Everything here is computed from the spec and the options alone, never from a built
model, so it is an independent expectation for both the user's model and ours.
Counting follows the paper: a "FLOP" is one multiply-add of a convolution or the
classifier (BN, ReLU, additions and pooling are not counted).
"""

from __future__ import annotations

import dataclasses
import math

from resnet.blocks import BlockOptions
from resnet.specs import ResNetSpec

from verification.structure import Analysis, Block, weight_size

COMPONENTS = ("conv_kernel", "conv_bias", "bn_gamma_beta", "bn_moving_stats", "projection", "other")
# Table 1 of He et al. 2015, multiply-adds x 1e9 at 224 px (the paper's numbers are v1).
TABLE1_GFLOPS = {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6, 152: 11.3}
# ResNet-50 v1.5 (stride on the 3x3): the figure NVIDIA and torchvision quote.
V15_GFLOPS = {50: 4.09}
# The paper rounds to one decimal and does not say what it counts at the edges.
TABLE1_TOLERANCE = 0.03


@dataclasses.dataclass(frozen=True)
class ExpectedBlock:
    """One residual block as the spec and options define it.

    Attributes:
      name: "conv3_block2" style name.
      stage: 0-based stage.
      index: 0-based block index inside the stage.
      in_shape: (H, W, C) in.
      out_shape: (H, W, C) out.
      convs: The residual branch's convolutions, (kernel, stride, in, out) each.
      shortcut: "identity", "zero-pad" or "projection".
      components: Parameter count per component (`COMPONENTS`).
      trainable: Trainable parameters (all but BN moving statistics).
    """

    name: str
    stage: int
    index: int
    in_shape: tuple
    out_shape: tuple
    convs: tuple
    shortcut: str
    components: dict
    trainable: int

    @property
    def stride(self) -> int:
        return max(s for _, s, _, _ in self.convs)

    @property
    def stride_position(self) -> int | None:
        """1-based index of the strided convolution in the branch, None at stride 1."""
        return next((i for i, (_, s, _, _) in enumerate(self.convs, 1) if s > 1), None)

    @property
    def macs(self) -> int:
        total, (h, w, _) = 0, self.in_shape
        for kernel, stride, cin, cout in self.convs:
            if stride > 1:
                h, w = _down(h, stride), _down(w, stride)
            total += h * w * kernel * kernel * cin * cout
        if self.shortcut == "projection":
            total += self.out_shape[0] * self.out_shape[1] * self.in_shape[-1] * self.out_shape[-1]
        return total


@dataclasses.dataclass(frozen=True)
class Plan:
    """The whole network a spec and options define, at one input shape.

    Attributes:
      spec: The spec.
      options: The block options.
      input_shape: (H, W, C).
      num_classes: Classifier outputs (None: no classifier).
      stem_out: The stem's output shape.
      blocks: Every block.
      stem_trainable: Trainable parameters of the stem.
      head_trainable: Trainable parameters after the last block.
      stem_macs: Multiply-adds of the stem.
    """

    spec: ResNetSpec
    options: BlockOptions
    input_shape: tuple
    num_classes: int | None
    stem_out: tuple
    blocks: tuple
    stem_trainable: int
    head_trainable: int
    stem_macs: int

    @property
    def trainable(self) -> int:
        return self.stem_trainable + sum(b.trainable for b in self.blocks) + self.head_trainable

    @property
    def macs(self) -> int:
        head = self.blocks[-1].out_shape[-1] * self.num_classes if self.num_classes else 0
        return self.stem_macs + sum(b.macs for b in self.blocks) + head

    @property
    def stage_counts(self) -> tuple[int, ...]:
        return tuple(self.spec.blocks_per_stage)


def _down(size: int, stride: int) -> int:
    # Symmetric padding k//2 and TensorFlow's 'same' both give ceil(size / stride).
    return -(-size // stride)


def plan(spec: ResNetSpec, options: BlockOptions, input_shape: tuple, num_classes: int | None) -> Plan:
    """The expected network: stem, blocks and head, shapes and parameter counts.

    Args:
      spec: The architecture (its `stem` already set to the one asked for).
      options: Variant, shortcut, conv bias, ... as for `resnet.build_resnet`.
      input_shape: (H, W, C) of the model's input.
      num_classes: Classifier outputs, or None for a headless model.

    Returns:
      The plan.
    """
    h, w, channels = input_shape
    bias = options.conv_bias
    preact = options.preactivation
    width = spec.stem_width
    if spec.stem == "imagenet":
        h1, w1 = _down(h, 2), _down(w, 2)
        stem_macs = h1 * w1 * 49 * channels * width
        h, w = _down(h1, 2), _down(w1, 2)
        stem_trainable = 49 * channels * width + 2 * width + (width if bias else 0)
    else:
        stem_macs = h * w * 9 * channels * width
        # The v2 CIFAR stem is a bare convolution; every other stem has BN.
        stem_trainable = 9 * channels * width + (0 if preact else 2 * width) + (width if bias else 0)
    stem_out = (h, w, width)
    blocks, cin = [], width
    for stage, (count, base, stride) in enumerate(zip(spec.blocks_per_stage, spec.widths, spec.strides)):
        for index in range(count):
            s = stride if index == 0 else 1
            convs = _branch(spec.block, options.variant, cin, base, s)
            cout = convs[-1][3]
            out_shape = (_down(h, s), _down(w, s), cout)
            blocks.append(
                _expected_block(
                    f"{spec.stage_names[stage]}_block{index + 1}", stage, index, (h, w, cin), out_shape, convs, options
                )
            )
            h, w, cin = out_shape
    head = 2 * cin if preact else 0
    if num_classes:
        head += cin * num_classes + num_classes
    return Plan(
        spec, options, tuple(input_shape), num_classes, stem_out, tuple(blocks), stem_trainable, head, stem_macs
    )


def _branch(block: str, variant: str, cin: int, width: int, stride: int) -> tuple:
    if block == "basic":
        return ((3, stride, cin, width), (3, 1, width, width))
    first, middle = (stride, 1) if variant == "v1" else (1, stride)
    return ((1, first, cin, width), (3, middle, width, width), (1, 1, width, 4 * width))


def _expected_block(name, stage, index, in_shape, out_shape, convs, options: BlockOptions) -> ExpectedBlock:
    cin, cout = in_shape[-1], out_shape[-1]
    stride = max(s for _, s, _, _ in convs)
    changes = stride != 1 or cin != cout
    if options.shortcut == "C" or (options.shortcut == "B" and changes):
        shortcut = "projection"
    else:
        shortcut = "zero-pad" if changes else "identity"
    # v1: a BN after every conv. v2: a BN on the block input and after every conv but
    # the last (the next block's pre-activation normalises the sum).
    normalised = [c[3] for c in convs[:-1]] + ([cin] if options.preactivation else [cout])
    components = {
        "conv_kernel": sum(k * k * i * o for k, _, i, o in convs),
        "conv_bias": sum(o for *_, o in convs) if options.conv_bias else 0,
        "bn_gamma_beta": 2 * sum(normalised),
        "bn_moving_stats": 2 * sum(normalised),
        "projection": 0,
        "other": 0,
    }
    trainable = components["conv_kernel"] + components["conv_bias"] + components["bn_gamma_beta"]
    if shortcut == "projection":
        # v2 projections act on the pre-activated input and have no BN.
        projection_bn = 0 if options.preactivation else cout
        components["projection"] = cin * cout + (cout if options.conv_bias else 0) + 4 * projection_bn
        trainable += cin * cout + (cout if options.conv_bias else 0) + 2 * projection_bn
    return ExpectedBlock(
        name, stage, index, tuple(in_shape), tuple(out_shape), tuple(convs), shortcut, components, trainable
    )


def found_components(analysis: Analysis, block: Block) -> dict[str, int]:
    """Parameters of a found block, per component.

    Args:
      analysis: The model's analysis.
      block: One of its blocks.

    Returns:
      Counts keyed by `COMPONENTS`; every weight of the shortcut branch counts as
      "projection", weights of layers that are not conv/BN as "other".
    """
    counts = dict.fromkeys(COMPONENTS, 0)
    seen = set()
    for i in block.nodes:
        op = analysis.nodes[i].op
        if id(op) in seen or not getattr(op, "weights", None):
            continue
        seen.add(id(op))
        if i in block.shortcut:
            counts["projection"] += sum(weight_size(v) for v in op.weights)
        elif analysis.nodes[i].kind == "conv":
            counts["conv_kernel"] += weight_size(op.kernel)
            counts["conv_bias"] += weight_size(op.bias) if op.use_bias else 0
        elif analysis.nodes[i].kind == "bn":
            counts["bn_gamma_beta"] += weight_size(op.gamma) + weight_size(op.beta)
            counts["bn_moving_stats"] += weight_size(op.moving_mean) + weight_size(op.moving_variance)
        else:
            counts["other"] += sum(weight_size(v) for v in op.weights)
    return counts


def trainable_count(model) -> int:
    """Trainable parameters of a model (each variable once)."""
    return sum(weight_size(v) for v in model.trainable_weights)


def table1_gflops(spec: ResNetSpec, options: BlockOptions) -> float | None:
    """The paper's Table 1 figure for this network, None where Table 1 does not apply.

    Table 1 counts the ImageNet networks with their ImageNet stem and option-B
    shortcuts; a CIFAR stem or projections everywhere (option C) change the count.
    """
    if spec.family != "imagenet" or spec.stem != "imagenet" or options.shortcut != "B":
        return None
    if options.variant != "v1" and spec.depth in V15_GFLOPS:
        return V15_GFLOPS[spec.depth]
    return TABLE1_GFLOPS.get(spec.depth)


def plan_at_224(spec: ResNetSpec, options: BlockOptions) -> Plan:
    """The plan at the paper's 224x224x3 with 1000 classes, for comparing with Table 1."""
    return plan(spec, options, (224, 224, 3), 1000)


def within_table1(macs: int, gflops: float) -> bool:
    """Whether a multiply-add count agrees with a Table 1 figure (in G) to 3%."""
    return math.isclose(macs / 1e9, gflops, rel_tol=TABLE1_TOLERANCE)
