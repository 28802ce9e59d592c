"""`identify`: which reference configuration is this model closest to?"""

from __future__ import annotations

import dataclasses
from collections import Counter

import keras

import resnet
from resnet.specs import IMAGENET_SPECS, ResNetSpec, cifar_spec

from verification import diagnose, structure
from verification.report import Report
from verification.verify import verify_model


@dataclasses.dataclass
class Identification:
    """The closest reference configuration and what still differs from it.

    Attributes:
      reference: Name to pass to `verify_model` ("resnet50", "resnet20",
        "cifar_resnet50"), or None when the model has no residual blocks.
      options: variant, shortcut, stem, padding, conv_bias and bn_epsilon, as read
        from the model (all of them, defaults included).
      differences: One line per failed check of `verify_model` with those options
        (empty: the model is exactly that configuration, structurally).
      report: That structural report (None without residual blocks).
    """

    reference: str | None
    options: dict
    differences: list[str]
    report: Report | None = None

    @property
    def exact(self) -> bool:
        return self.reference is not None and not self.differences

    def describe(self) -> str:
        """ "resnet50, v1, conv_bias=True": the architecture options that are not the
        reference's defaults, after the depth and variant."""
        if self.reference is None:
            return "not a ResNet"
        spec = resnet.get_spec(self.reference)
        o = self.options
        parts = [self.reference, o["variant"]]
        if o["shortcut"] != spec.default_shortcut:
            parts.append(f"shortcut={o['shortcut']}")
        if o["stem"] != spec.stem:
            parts.append(f"stem={o['stem']}")
        if o["padding"] != "symmetric":
            parts.append(f"padding={o['padding']}")
        if o["conv_bias"]:
            parts.append("conv_bias=True")
        # The BN epsilon is a convention, not part of the architecture: it is in
        # `options` (and passed on to the structural check), not in the name.
        return ", ".join(parts)

    def __str__(self) -> str:
        if not self.differences:
            return self.describe()
        return f"{self.describe()}; differences: " + "; ".join(self.differences)


def identify(model, *, input_shape: tuple | None = None) -> Identification:
    """Finds the reference configuration closest to `model`.

    Reads depth (block type and blocks per stage), variant (pre-activation, stride
    placement), shortcut option, stem, padding, conv biases and BN epsilon from the
    graph, then verifies the model structurally against that configuration, so that
    what is left is listed as differences.

    Args:
      model: Any `keras.Model`.
      input_shape: As for `verify_model`, for models without a known input.

    Returns:
      The identification; `str()` of it reads like "resnet50, v1, conv_bias=True".

    Raises:
      ValueError: If `model` is not a `keras.Model` or its input shape is unknown.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"identify needs a keras.Model; got {type(model).__name__}.")
    shape = input_shape or structure.model_input_shape(model)
    if shape is not None:
        # A variable size: any size works for reading the structure.
        shape = tuple(224 if s is None else s for s in shape[:2]) + tuple(shape[2:])
    with structure.graph_view(model, shape) as view:
        analysis = structure.analyse(view)
        if not analysis.blocks:
            return Identification(None, {}, [f"model {model.name!r} has no residual additions: it is not a ResNet"])
        options = _read_options(analysis)
    spec, name = _closest_spec(analysis, options["stem"])
    report = verify_model(model, spec, numerical=False, input_shape=shape, **options)
    return Identification(name, options, [check.message for check in report.failures], report)


def _read_options(analysis: structure.Analysis) -> dict:
    blocks = analysis.blocks
    convs = [n for n in analysis.nodes if n.kind == "conv"]
    bns = [n for n in analysis.nodes if n.kind == "bn"]
    preact = sum(analysis.tokens(b.branch)[:1] == ["bn"] for b in blocks) > len(blocks) / 2
    positions = Counter(diagnose.stride_position(analysis, b) for b in blocks if b.stride > 1)
    bottleneck = Counter(len(diagnose.branch_convs(analysis, b)) for b in blocks).most_common(1)[0][0] == 3
    if preact:
        variant = "v2"
    elif bottleneck and positions and positions.most_common(1)[0][0] == 1:
        variant = "v1"
    else:
        variant = "v1.5"  # basic blocks are the same in v1 and v1.5
    kinds = [diagnose.shortcut_kind(analysis, b) for b in blocks]
    shortcut = "A" if "zero-pad" in kinds else "C" if all(k == "projection" for k in kinds) else "B"
    stem_words = diagnose.stem_words(analysis)
    stem = "imagenet" if "maxpool" in stem_words or "conv7x7" in stem_words else "cifar"
    strided = [n for n in analysis.nodes if n.kind == "conv" and n.op.strides[0] > 1 and n.op.kernel_size[0] > 1]
    same = any(n.op.padding == "same" for n in strided)
    epsilon = Counter(float(n.op.epsilon) for n in bns).most_common(1)[0][0] if bns else 1e-5
    return {
        "variant": variant,
        "shortcut": shortcut,
        "stem": stem,
        "padding": "same" if same else "symmetric",
        "conv_bias": sum(n.op.use_bias for n in convs) > len(convs) / 2,
        "bn_epsilon": epsilon,
    }


def _closest_spec(analysis: structure.Analysis, stem: str) -> tuple[ResNetSpec, str]:
    """The spec with the same block type whose blocks per stage are nearest."""
    counts = analysis.stage_counts
    bottleneck = Counter(len(diagnose.branch_convs(analysis, b)) for b in analysis.blocks).most_common(1)[0][0] == 3
    block = "bottleneck" if bottleneck else "basic"
    candidates = [(spec, spec.name) for spec in IMAGENET_SPECS.values() if spec.block == block]
    if block == "basic":
        n = max(1, round(sum(counts) / 3))
        cifar = cifar_spec(6 * n + 2)
        candidates.append((cifar, f"cifar_{cifar.name}" if cifar.depth in IMAGENET_SPECS else cifar.name))

    def distance(candidate) -> tuple:
        spec = candidate[0]
        expected = spec.blocks_per_stage
        length = max(len(expected), len(counts))
        pad = lambda c: tuple(c) + (0,) * (length - len(c))  # noqa: E731
        # Prefer the family whose stem the model has when counts tie.
        return sum(abs(a - b) for a, b in zip(pad(expected), pad(counts))), spec.stem != stem

    return min(candidates, key=distance)
