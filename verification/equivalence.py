"""Numerical equivalence: the user's model computes what the reference computes.

The reference is built in float64 and given random weights, including random BN
statistics (so inference-mode BN is not the identity). Its weights go into a float64
copy of the user's model, layer by layer, matched by place in the graph (stem, each
block's branch and shortcut, head, in order) and by shape. Both run on the same
random images in inference mode, and every matched layer's output is compared in the
user's graph order, so the report names the first layer that differs, not only the
logits. This catches what shapes and counts cannot: a ReLU on the wrong side of the
addition, a stride on the wrong convolution, asymmetric padding, a wrong epsilon.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from verification.results import CheckResult
from verification.structure import Analysis, Node

# float64 rounding stays near 1e-13 relative through a ResNet-152; a BN epsilon of
# 1.001e-5 instead of 1e-5 moves outputs by about 5e-9.
RELATIVE_TOLERANCE = 1e-10
BATCH = 2
# Convolutions and global pooling do not care about the input size, so large inputs
# are compared at this size instead (a multiple of 32 keeps every stride-2 layer's
# input even, as at 224 px, so TensorFlow 'same' padding stays just as asymmetric).
COMPARE_SIZE = 64


def comparison_shape(shape: tuple) -> tuple:
    """The input shape to compare outputs at: 64 px for inputs that are larger
    multiples of 32 (224 px: 12 times less compute), otherwise the model's own."""
    height, width, channels = shape
    if height > COMPARE_SIZE and width > COMPARE_SIZE and height % 32 == 0 and width % 32 == 0:
        return (COMPARE_SIZE, COMPARE_SIZE, channels)
    return tuple(shape)


@dataclasses.dataclass(frozen=True)
class Pair:
    """A user node and the reference node it should equal, with a place label."""

    user: Node
    reference: Node
    where: str


class TransferError(ValueError):
    """The user's model cannot take the reference's weights (layers do not line up)."""


def _weighted(analysis: Analysis, indices) -> list[Node]:
    return analysis.weighted(sorted(indices))


def match_layers(user: Analysis, reference: Analysis, block_pairs) -> list[Pair]:
    """Pairs the weighted layers and block outputs of two analysed ResNets.

    Args:
      user: The user's model's analysis.
      reference: The reference's analysis.
      block_pairs: (user block, reference block) in order, as aligned.

    Returns:
      Pairs in the user's graph order.

    Raises:
      TransferError: If a region's weighted layers differ in number, kind or shape.
    """
    regions = [("stem", user.stem, reference.stem), ("head", user.head, reference.head)]
    for mine, theirs in block_pairs:
        if mine is None or theirs is None:
            raise TransferError(f"block {(mine or theirs).name} exists in only one model")
        regions.append((f"{mine.name} residual branch", mine.branch, theirs.branch))
        regions.append((f"{mine.name} shortcut", mine.shortcut, theirs.shortcut))
    pairs = []
    for where, mine, theirs in regions:
        a, b = _weighted(user, mine), _weighted(reference, theirs)
        if [n.kind for n in a] != [n.kind for n in b]:
            raise TransferError(
                f"{where}: layers {'-'.join(n.kind for n in a) or 'none'}, reference {'-'.join(n.kind for n in b) or 'none'}"
            )
        for x, y in zip(a, b):
            if _shapes(x) != _shapes(y):
                raise TransferError(f"{where}: {x.name} has weights {_shapes(x)}, reference {y.name} {_shapes(y)}")
            pairs.append(Pair(x, y, where))
    for mine, theirs in block_pairs:
        pairs.append(Pair(user.nodes[mine.output], reference.nodes[theirs.output], f"{mine.name} output"))
    covered = {id(p.user.op) for p in pairs}
    stray = [n for n in user.nodes if getattr(n.op, "weights", None) and n.kind != "input" and id(n.op) not in covered]
    if stray:
        raise TransferError(
            f"layer {stray[0].name} ({type(stray[0].op).__name__}) has weights the reference has no place for"
        )
    return sorted(pairs, key=lambda p: p.user.index)


def _shapes(node: Node) -> tuple:
    op = node.op
    if node.kind == "bn":
        return (op.moving_mean.shape[0],)
    return tuple(op.kernel.shape)


def randomize(model: keras.Model, seed: int) -> None:
    """Random BN statistics, gammas, betas and biases, so that no layer is the identity."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            size = layer.moving_mean.shape
            layer.moving_mean.assign(rng.normal(0, 0.1, size))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, size))
            layer.gamma.assign(rng.uniform(0.5, 1.5, size))
            layer.beta.assign(rng.normal(0, 0.1, size))
        elif getattr(layer, "use_bias", False) and getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(0, 0.1, layer.bias.shape))


def float64_copy(view: keras.Model, input_shape: tuple) -> tuple[keras.Model, list, dict]:
    """A float64 copy of a flat functional model, with the same weights, on inputs of
    `input_shape`.

    Returns:
      The copy; for every non-input node of `view` in `read_nodes` order, the copy's
      output tensor (for probing); and the copied layers keyed by id of the original.

    Raises:
      ValueError: If a layer cannot be rebuilt from its config.
    """
    copies: dict[int, keras.layers.Layer] = {}
    outputs: list = []

    def replay(op):
        target = op
        if isinstance(op, keras.layers.Layer):
            if id(op) not in copies:
                config = op.get_config()
                config["dtype"] = "float64"
                # Every weight is overwritten below: skip drawing random initial values.
                config.update({key: "zeros" for key in config if key.endswith("_initializer")})
                try:
                    copies[id(op)] = type(op).from_config(config)
                except Exception as error:  # noqa: BLE001 - user layers can raise anything
                    raise ValueError(f"cannot rebuild layer {op.name!r} in float64 from its config ({error})") from None
            target = copies[id(op)]

        def call(*args, **kwargs):
            out = target(*args, **kwargs)
            outputs.append(out)
            return out

        return call

    inputs = keras.Input(shape=input_shape, dtype="float64")
    copy = keras.Model(inputs, view._run_through_graph([inputs], operation_fn=replay))
    originals = {id(layer): layer for layer in view._flatten_layers(include_self=False)}
    for key, new in copies.items():
        new.set_weights(originals[key].get_weights())
    return copy, outputs, copies


def _transfer(pair: Pair, target) -> None:
    source = pair.reference.op
    if pair.user.kind == "bn":
        values = {
            "gamma": source.gamma,
            "beta": source.beta,
            "moving_mean": source.moving_mean,
            "moving_variance": source.moving_variance,
        }
        for name, value in values.items():
            if getattr(target, name, None) is not None and value is not None:
                getattr(target, name).assign(value)
        return
    target.kernel.assign(source.kernel)
    if getattr(target, "use_bias", False):
        target.bias.assign(source.bias if source.use_bias else np.zeros(target.bias.shape))


def compare(
    view: keras.Model, user: Analysis, reference: keras.Model, ref_analysis: Analysis, block_pairs, *, seed: int = 0
) -> CheckResult:
    """Runs both models on the same images with the same weights and compares.

    Args:
      view: The user's model as a flat functional model (see `structure.graph_view`).
      user: Its analysis.
      reference: The reference model, built in float64 at `comparison_shape` of the
        user's input shape.
      ref_analysis: The reference's analysis.
      block_pairs: Aligned (user block, reference block) pairs.
      seed: Seed for the random weights and images.

    Returns:
      The "numerical_equivalence" result.
    """
    name = "numerical_equivalence"
    try:
        pairs = match_layers(user, ref_analysis, block_pairs)
    except TransferError as error:
        return CheckResult(name, False, f"weights cannot be transferred by graph position: {error}")
    randomize(reference, seed)
    for pair in pairs:
        # The reference has no bias where the user has none: keep both at zero.
        ref_op = pair.reference.op
        if pair.user.kind == "conv" and ref_op.use_bias and not pair.user.op.use_bias:
            ref_op.bias.assign(np.zeros(ref_op.bias.shape))
    try:
        copy, outputs, copy_layer = float64_copy(view, tuple(reference.input_shape[1:]))
    except ValueError as error:
        return CheckResult(name, False, f"could not compare: {error}")
    non_input = [n for n in user.nodes if n.kind != "input"]
    tensor_of = {node.index: outputs[k] for k, node in enumerate(non_input)}
    for pair in pairs:
        if pair.user.kind in ("conv", "bn", "dense"):
            _transfer(pair, copy_layer[id(pair.user.op)])
    images = np.random.default_rng(seed + 1).normal(size=(BATCH, *reference.input_shape[1:]))
    # One pass per model: every matched layer's output, then the model's output.
    mine = keras.Model(copy.input, [tensor_of[p.user.index] for p in pairs] + [copy.output])(images, training=False)
    theirs = keras.Model(reference.input, [p.reference.tensor for p in pairs] + [reference.output])(
        images, training=False
    )
    logits = _difference(keras.ops.convert_to_numpy(mine[-1]), keras.ops.convert_to_numpy(theirs[-1]))
    details = {
        "compared_layers": len(pairs),
        "output_relative_difference": logits,
        "tolerance": RELATIVE_TOLERANCE,
        "dtype": "float64",
        "mode": "inference",
        "input_shape": tuple(reference.input_shape[1:]),
    }
    for pair, a, b in zip(pairs, mine, theirs):
        a, b = keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)
        diff = _difference(a, b)
        if diff is None or diff > RELATIVE_TOLERANCE:
            what = (
                f"output {a.shape[1:]}, reference {b.shape[1:]}" if diff is None else f"relative difference {diff:.2e}"
            )
            details.update(first_difference=pair.user.name, where=pair.where)
            output = "different shapes" if logits is None else f"{logits:.2e}"
            return CheckResult(
                name,
                False,
                f"first difference at {pair.user.name} ({pair.where}): {what}; model outputs differ by {output}",
                details,
            )
    if logits is None or logits > RELATIVE_TOLERANCE:
        return CheckResult(
            name, False, f"outputs differ (relative {logits}) although every matched layer agrees", details
        )
    return CheckResult(
        name,
        True,
        f"{len(pairs)} layer outputs and the model output equal the reference's in float64, inference mode (max relative difference {logits:.1e})",
        details,
    )


def _difference(a: np.ndarray, b: np.ndarray) -> float | None:
    """Largest absolute difference relative to the reference's largest value; None if shapes differ."""
    if a.shape != b.shape:
        return None
    scale = max(float(np.max(np.abs(b))), 1e-30) if b.size else 1.0
    return float(np.max(np.abs(a - b))) / scale if a.size else 0.0
