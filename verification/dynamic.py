"""Run-time checks of a classifier: what a static look at the architecture cannot see.

Each check runs the model on a small batch and returns a `CheckResult`;
`check_training` runs them all and returns a `CheckReport`:

  forward             hand-crafted inputs give finite outputs at every layer, and every
                      layer's output shape is the one it declares (and, for a ResNet
                      whose spec is known, the one the paper's table gives);
  batch_independence  in inference mode, sample i's output does not depend on sample
                      j's input (Karpathy's check); BatchNorm couples samples in
                      training mode, which is reported, not failed;
  determinism         two inference calls agree exactly, and training=True changes what
                      BatchNorm/dropout layers do (catches layers that ignore the flag);
  initial_loss        the loss of a fresh classifier is near ln(num_classes);
  gradients           every trainable variable gets a non-zero gradient from one batch,
                      no layer is frozen; gradient norms per stage;
  overfit             a few dozen steps drive the loss on one small batch near zero and
                      its accuracy to 100%.

Training-mode forward passes go through `stateless_call`, and the overfit check puts
every weight back afterwards, so no check changes the model (BatchNorm's moving
statistics included). Models are assumed to output logits (the reference's default);
pass from_logits=False for a model that ends in a softmax.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import resnet
from resnet import specs
from verification.gradcheck import is_graph_model
from verification.results import CheckReport, CheckResult

# |loss - ln C| <= 0.5 ln C: 2.30 +- 1.15 for 10 classes. Fresh CIFAR ResNets on
# N(0, 1) inputs measured 2.4-2.8 (depth 20), 2.8-3.8 (56), 4.2-6.3 (110; its residual
# stream grows with depth), and 2.30-2.32 with zero_init_residual (BUILD_NOTES.md).
INITIAL_LOSS_RTOL = 0.5
OVERFIT_STEPS = 50
OVERFIT_LEARNING_RATE = 1e-2
OVERFIT_TARGET_LOSS = 0.1
OVERFIT_MAX_SAMPLES = 16
INDEPENDENCE_SAMPLES = 4
# A variable's gradient norm below this fraction of the largest one is round-off.
NEGLIGIBLE_GRADIENT = 1e-5
# Layers whose output must change with the training flag.
TRAINING_DEPENDENT = (
    keras.layers.BatchNormalization,
    keras.layers.Dropout,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
)
_STAGE = re.compile(r"^(conv\d+)_")


def check_training(
    model: keras.Model,
    dataset_or_batch: Any,
    num_classes: int,
    *,
    from_logits: bool = True,
    spec: specs.ResNetSpec | str | None = None,
    overfit_steps: int = OVERFIT_STEPS,
    initial_loss_rtol: float = INITIAL_LOSS_RTOL,
    seed: int = 0,
) -> CheckReport:
    """Runs every dynamic check on one batch.

    Args:
      model: A Keras classifier mapping images (N, H, W, C) to (N, num_classes).
      dataset_or_batch: An (images, labels) pair of arrays/tensors, or a tf.data.Dataset
        of such batches (its first batch is used). Labels are class indices or one-hot.
      num_classes: Number of classes (at least 2).
      from_logits: Whether the model outputs logits (True) or probabilities.
      spec: The ResNet the model should be, for the per-stage shape check; default:
        the spec named by `model.name`, if any ("resnet20", ...).
      overfit_steps: Optimisation steps of the overfit check.
      initial_loss_rtol: Allowed |initial loss - ln C| as a fraction of ln C.
      seed: Seed of the random inputs and cotangents.

    Returns:
      A `CheckReport` with one result per check.

    Raises:
      ValueError: If the batch, labels, num_classes or the model's output shape are
        not usable, before any check runs.
    """
    images, labels = batch_from(dataset_or_batch, num_classes)
    _check_output_shape(model, images, num_classes)
    checks = [
        check_forward(model, images, spec=spec, seed=seed),
        check_batch_independence(model, images, seed=seed),
        check_determinism(model, images),
        check_initial_loss(model, images, labels, num_classes, from_logits=from_logits, rtol=initial_loss_rtol),
        check_gradients(model, images, labels, from_logits=from_logits),
        check_overfit(model, images, labels, steps=overfit_steps, from_logits=from_logits),
    ]
    return CheckReport(f"check_training({model.name})", checks)


def batch_from(dataset_or_batch: Any, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Validated (images, integer labels) from a batch or the first batch of a dataset.

    Args:
      dataset_or_batch: (images, labels), or a tf.data.Dataset yielding such pairs.
      num_classes: Number of classes; labels must lie in [0, num_classes).

    Returns:
      (images as float32 NHWC, labels as int64 of shape (N,)).

    Raises:
      ValueError: With what is wrong and what is valid.
    """
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2; got {num_classes!r}.")
    if isinstance(dataset_or_batch, tf.data.Dataset):
        dataset_or_batch = next(iter(dataset_or_batch.take(1)), None)
    if not isinstance(dataset_or_batch, (tuple, list)) or len(dataset_or_batch) != 2:
        raise ValueError(
            "dataset_or_batch must be an (images, labels) pair or a tf.data.Dataset of such pairs; "
            f"got {type(dataset_or_batch).__name__}."
        )
    images, labels = (np.asarray(t) for t in dataset_or_batch)
    if images.ndim != 4 or images.shape[0] < 2 or not np.issubdtype(images.dtype, np.number):
        raise ValueError(
            f"images must be numeric (N, H, W, C) with N >= 2; got shape {images.shape}, dtype {images.dtype}."
        )
    if labels.ndim == 2 and labels.shape[1] == num_classes:
        labels = labels.argmax(axis=1)  # one-hot
    if labels.shape != (images.shape[0],) or not np.all(np.equal(np.mod(labels, 1), 0)):
        raise ValueError(
            f"labels must be {images.shape[0]} class indices or one-hot rows of {num_classes}; got shape {labels.shape}."
        )
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}); got {labels.min()} .. {labels.max()}.")
    return images.astype(np.float32), labels.astype(np.int64)


def _check_output_shape(model, images, num_classes) -> None:
    declared = model.output_shape if is_graph_model(model) else None
    if isinstance(declared, tuple) and declared[-1] is not None and declared[-1] != num_classes:
        raise ValueError(f"model {model.name!r} outputs {declared[-1]} classes; num_classes is {num_classes}.")
    if images.shape[0] < 2:
        raise ValueError("check_training needs a batch of at least 2 images.")


def _inference(model, images) -> np.ndarray:
    return np.asarray(model(tf.constant(images), training=False))


def _training_call(model, images, trainable=None):
    """Training-mode outputs (batch statistics) without updating moving statistics."""
    trainable = [tf.convert_to_tensor(v) for v in model.trainable_variables] if trainable is None else trainable
    frozen = [tf.convert_to_tensor(v) for v in model.non_trainable_variables]
    outputs, _ = model.stateless_call(trainable, frozen, tf.convert_to_tensor(images), training=True)
    return outputs


def _leaf_layers(layer) -> list:
    nested = getattr(layer, "layers", None)
    if not nested:
        return [layer]
    return [leaf for sub in nested for leaf in _leaf_layers(sub)]


def check_forward(
    model: keras.Model, images: np.ndarray, *, spec: specs.ResNetSpec | str | None = None, seed: int = 0
) -> CheckResult:
    """Hand-crafted inputs: finite outputs at every layer, shapes as declared and as the spec says.

    The inputs are zeros, ones, standard normal noise, noise scaled by 100 and the
    batch itself, each in inference mode. Every layer of a functional model is looked
    at (a subclassed model: its output only).

    Args:
      model: The model.
      images: A batch of images (N, H, W, C).
      spec: The ResNet it should be (a spec or a name); default: the one `model.name`
        names, if any. Stage outputs (conv1, conv2, ...) must have the spec's sizes.
      seed: Seed of the noise inputs.

    Returns:
      The result, with the offending layers in `details`.
    """
    rng = np.random.default_rng(seed)
    batch = images[:INDEPENDENCE_SAMPLES]
    noise = rng.standard_normal(batch.shape).astype(np.float32)
    probes = {
        "zeros": np.zeros_like(batch),
        "ones": np.ones_like(batch),
        "normal": noise,
        "normal_x100": 100 * noise,
        "batch": batch,
    }
    layers, declared_shapes, probe_model = _per_layer_model(model)
    non_finite, wrong_shape = {}, {}
    for probe, x in probes.items():
        outputs = probe_model(tf.constant(x), training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        for layer, declared, output in zip(layers, declared_shapes, outputs):
            value = np.asarray(output)
            if not np.all(np.isfinite(value)) and layer.name not in non_finite:
                non_finite[layer.name] = probe
            if declared is not None and not _shape_matches(declared, value.shape):
                wrong_shape[layer.name] = {"declared": declared, "actual": value.shape}
    stage_problems, spec_used = _stage_shape_problems(model, batch, spec)
    details = {
        "non_finite": non_finite,
        "wrong_shape": wrong_shape,
        "stage_shapes": stage_problems,
        "spec": spec_used,
        "layers_checked": len(layers),
    }
    if non_finite:
        first = next(iter(non_finite))
        return CheckResult(
            "forward",
            False,
            f"NaN/Inf at {len(non_finite)} layer(s), first {first!r} (input: {non_finite[first]}).",
            details,
        )
    if wrong_shape or stage_problems:
        name, shapes = next(iter({**wrong_shape, **stage_problems}.items()))
        return CheckResult(
            "forward",
            False,
            f"output shape of {name!r} is {shapes['actual']}, expected {shapes.get('declared', shapes.get('expected'))}.",
            details,
        )
    against = f"; stage shapes as {spec_used} says" if spec_used else ""
    return CheckResult(
        "forward",
        True,
        f"{len(layers)} layer output(s) finite on {len(probes)} inputs, shapes as declared{against}.",
        details,
    )


def _per_layer_model(model):
    """(layers, their declared output shapes, a model outputting all of them).

    Every call of a layer in a functional model's own graph (a nested model counts as
    one layer); a subclassed model is looked at as a whole, with no declared shape.
    """
    if not is_graph_model(model):
        return [model], [None], model
    layers, outputs = [], []
    # Keras 3 keeps a functional model's graph as nodes by depth; inputs are deepest.
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if isinstance(node.operation, keras.layers.InputLayer):
                continue
            for output in node.outputs:
                layers.append(node.operation)
                outputs.append(output)
    return layers, [tuple(t.shape) for t in outputs], keras.Model(model.inputs, outputs)


def _shape_matches(declared, actual) -> bool:
    return len(declared) == len(actual) and all(d is None or d == a for d, a in zip(declared, actual))


def _stage_shape_problems(model, batch, spec) -> tuple[dict, str | None]:
    """Stage outputs against the spec: spatial sizes divided by the strides, widths."""
    if spec is None:
        try:
            spec = specs.get_spec(model.name)
        except ValueError:
            return {}, None
        names = {layer.name for layer in model.layers}
        spec = _with_detected_stem(spec, names)
    elif not isinstance(spec, specs.ResNetSpec):
        spec = specs.get_spec(spec)
    try:
        stages = resnet.endpoints(model)
    except ValueError:
        return {}, None
    outputs = keras.Model(model.inputs, stages)(tf.constant(batch), training=False)
    expected = expected_stage_shapes(spec, batch.shape[1], batch.shape[2])
    problems = {}
    for stage, shape in expected.items():
        actual = tuple(outputs[stage].shape[1:]) if stage in outputs else None
        if actual != shape:
            problems[stage] = {"expected": shape, "actual": actual}
    return problems, spec.name


def _with_detected_stem(spec: specs.ResNetSpec, layer_names: set) -> specs.ResNetSpec:
    # build_resnet(stem=...) keeps the spec's name: read the stem off the layers.
    stem = "imagenet" if "pool1_pool" in layer_names else "cifar"
    return dataclasses.replace(spec, stem=stem)


def expected_stage_shapes(spec: specs.ResNetSpec, height: int, width: int) -> dict[str, tuple[int, int, int]]:
    """(height, width, channels) of every stage output the paper's table implies.

    Args:
      spec: The ResNet.
      height: Input height.
      width: Input width.

    Returns:
      {"conv1": ..., "conv2": ..., ...}; conv1 is the stem convolution's output.
    """

    def down(size, stride):
        return -(-size // stride)  # symmetric or 'same' padding: ceil(size / stride)

    h, w = (down(height, 2), down(width, 2)) if spec.stem == "imagenet" else (height, width)
    shapes = {"conv1": (h, w, spec.stem_width)}
    if spec.stem == "imagenet":
        h, w = down(h, 2), down(w, 2)  # the 3x3/2 max-pool
    for stage, stride, channels in zip(spec.stage_names, spec.strides, spec.output_channels):
        h, w = down(h, stride), down(w, stride)
        shapes[stage] = (h, w, channels)
    return shapes


def check_batch_independence(model: keras.Model, images: np.ndarray, *, seed: int = 0) -> CheckResult:
    """Sample 0's output must not depend on the other samples' inputs (inference mode).

    Back-propagates a random projection of sample 0's output to the whole input
    batch; the gradient on samples 1.. must be zero. In training mode BatchNorm
    legitimately couples the samples; that coupling is measured and reported only.

    Args:
      model: The model.
      images: A batch of at least 2 images.
      seed: Seed of the random projection.

    Returns:
      The result; `details` has the cross-sample gradient in both modes.
    """
    x = tf.constant(images[:INDEPENDENCE_SAMPLES])
    rng = np.random.default_rng(seed)

    def leak(call):
        with tf.GradientTape() as tape:
            tape.watch(x)
            output = call(x)
            cotangent = tf.constant(rng.standard_normal(output.shape[1:]), output.dtype)
            objective = tf.reduce_sum(output[0] * cotangent)
        grad = tape.gradient(objective, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        grad = np.abs(np.asarray(grad))
        return float(grad[0].max()), float(grad[1:].max())

    own, cross = leak(lambda t: model(t, training=False))
    _, cross_training = leak(lambda t: _training_call(model, t))
    details = {"own_gradient": own, "cross_gradient": cross, "cross_gradient_training": cross_training}
    coupling = f"in training mode the cross-sample gradient is {cross_training:.2e} " + (
        "(BatchNorm's batch statistics couple samples: expected)" if cross_training > 0 else "(none)"
    )
    if not (math.isfinite(own) and math.isfinite(cross)):
        return CheckResult("batch_independence", False, "input gradients are not finite (NaN/Inf).", details)
    if own == 0.0:
        return CheckResult(
            "batch_independence",
            False,
            "no gradient reaches sample 0's input from its output (a stop_gradient or non-differentiable layer on the path?), so independence cannot be checked.",
            details,
        )
    if cross > 1e-7 * own:
        return CheckResult(
            "batch_independence",
            False,
            f"in inference mode sample 0's output depends on other samples (gradient {cross:.2e} vs own {own:.2e}): "
            "some layer mixes the batch (statistics over axis 0, a reshape/transpose across the batch?).",
            details,
        )
    return CheckResult("batch_independence", True, f"inference-mode outputs are per-sample; {coupling}.", details)


def check_determinism(model: keras.Model, images: np.ndarray) -> CheckResult:
    """Two inference calls agree exactly, and the training flag changes BN/dropout.

    Args:
      model: The model.
      images: A batch of images.

    Returns:
      The result; `details` names the training-dependent layers and frozen BatchNorms.
    """
    batch = images[:INDEPENDENCE_SAMPLES]
    first, second = _inference(model, batch), _inference(model, batch)
    dependent = [layer for layer in _leaf_layers(model) if isinstance(layer, TRAINING_DEPENDENT)]
    frozen_bn = [
        layer.name for layer in dependent if isinstance(layer, keras.layers.BatchNormalization) and not layer.trainable
    ]
    training = np.asarray(_training_call(model, batch))
    change = float(np.max(np.abs(training - first)))
    details = {
        "max_difference_between_inference_calls": float(np.max(np.abs(first - second))),
        "max_change_with_training_flag": change,
        "training_dependent_layers": [layer.name for layer in dependent],
        "frozen_batch_norm": frozen_bn,
    }
    if not np.array_equal(first, second, equal_nan=True):
        return CheckResult(
            "determinism",
            False,
            f"two inference calls differ by up to {details['max_difference_between_inference_calls']:.2e}: "
            "something random runs at inference (noise or dropout that ignores training=False?).",
            details,
        )
    if dependent and change == 0.0:
        why = (
            f"frozen BatchNorm runs in inference mode ({', '.join(frozen_bn[:3])}...)"
            if frozen_bn
            else "they ignore the training flag"
        )
        return CheckResult(
            "determinism",
            False,
            f"training=True and training=False give identical outputs although the model has {len(dependent)} "
            f"BatchNorm/dropout layers: {why}.",
            details,
        )
    flag = (
        f"training flag changes outputs by up to {change:.2e}"
        if dependent
        else "no BatchNorm/dropout layers, so no training flag to test"
    )
    return CheckResult("determinism", True, f"inference is deterministic; {flag}.", details)


def _loss_fn(from_logits: bool):
    return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)


def check_initial_loss(
    model: keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    *,
    from_logits: bool = True,
    rtol: float = INITIAL_LOSS_RTOL,
) -> CheckResult:
    """A fresh classifier's training loss should be near ln(num_classes).

    Uses training mode (batch statistics): a fresh model's moving statistics are still
    0 and 1, so its inference-mode outputs mean little before training. A model whose
    outputs are probabilities fed to a from-logits loss also gives about ln(C), so
    outputs that are non-negative rows summing to 1 fail on their own.

    Args:
      model: A freshly built classifier.
      images: A batch of images.
      labels: Class indices.
      num_classes: Number of classes.
      from_logits: Whether the model outputs logits.
      rtol: Allowed |loss - ln C| as a fraction of ln C.

    Returns:
      The result, with the loss and the expected value in `details`.
    """
    if not (isinstance(rtol, (int, float)) and rtol > 0):
        raise ValueError(f"initial-loss rtol must be a positive number; got {rtol!r}.")
    outputs = np.asarray(_training_call(model, images), np.float64)
    loss = float(_loss_fn(from_logits)(labels, outputs))
    expected = math.log(num_classes)
    details = {"loss": loss, "expected": expected, "tolerance": rtol * expected}
    looks_like_probabilities = bool(np.all(outputs >= 0) and np.allclose(outputs.sum(axis=-1), 1.0, atol=1e-3))
    if from_logits and looks_like_probabilities:
        return CheckResult(
            "initial_loss",
            False,
            "model outputs probabilities (non-negative rows summing to 1) but the loss takes logits: "
            "drop the final softmax (classifier_activation=None) or pass from_logits=False.",
            details,
        )
    if not abs(loss - expected) <= rtol * expected:
        return CheckResult(
            "initial_loss",
            False,
            f"initial loss {loss:.3f}, expected ln({num_classes}) = {expected:.3f} +- {rtol * expected:.3f}: "
            "the initial logits are not near uniform (classifier init too large? a wrong loss? a deep ResNet "
            "whose residual stream grows: zero_init_residual=True starts it near ln C).",
            details,
        )
    return CheckResult(
        "initial_loss",
        True,
        f"initial loss {loss:.3f} ~ ln({num_classes}) = {expected:.3f} (+- {rtol * expected:.3f}).",
        details,
    )


def stage_of(layer_name: str) -> str:
    """The paper's stage of a layer named the ResNet way ("conv3_block2_1_conv" -> "conv3").

    Args:
      layer_name: A layer name.

    Returns:
      "convS" for ResNet-named layers, the layer name itself for any other layer.
    """
    match = _STAGE.match(layer_name)
    return match.group(1) if match else layer_name


def _gradients(model, images, labels, from_logits):
    labels = np.asarray(labels)
    labels = labels.argmax(axis=-1) if labels.ndim == 2 else labels  # one-hot
    variables = list(model.trainable_variables)
    values = [tf.convert_to_tensor(v) for v in variables]
    with tf.GradientTape() as tape:
        tape.watch(values)
        loss = _loss_fn(from_logits)(labels, _training_call(model, images, values))
    return variables, tape.gradient(loss, values)


def _variable_layers(model) -> dict[int, str]:
    return {id(v): layer.name for layer in _leaf_layers(model) for v in layer.weights}


def stage_gradient_norms(model: keras.Model, images, labels, *, from_logits: bool = True) -> dict[str, float]:
    """L2 norm of the loss gradient over each stage's trainable variables.

    One training-mode forward and backward pass on the batch, without updating the
    model (moving statistics included), so it can run from a Keras callback.

    Args:
      model: A classifier; layers named the ResNet way group into "conv1", "conv2",
        ...; other layers (e.g. "predictions") are keys of their own.
      images: A batch of images.
      labels: Class indices, shape (N,), or one-hot rows.
      from_logits: Whether the model outputs logits.

    Returns:
      {stage: gradient norm}, in the order the stages first appear in the model.
    """
    variables, grads = _gradients(model, np.asarray(images, np.float32), np.asarray(labels), from_logits)
    owners = _variable_layers(model)
    squares: dict[str, float] = {}
    for variable, grad in zip(variables, grads):
        stage = stage_of(owners.get(id(variable), variable.path.split("/")[0]))
        norm = 0.0 if grad is None else float(tf.reduce_sum(tf.square(tf.cast(grad, tf.float64))))
        squares[stage] = squares.get(stage, 0.0) + norm
    return {stage: math.sqrt(total) for stage, total in squares.items()}


def check_gradients(
    model: keras.Model, images: np.ndarray, labels: np.ndarray, *, from_logits: bool = True
) -> CheckResult:
    """Every trainable variable gets a non-zero gradient; no layer is frozen.

    Args:
      model: The model.
      images: A batch of images.
      labels: Class indices.
      from_logits: Whether the model outputs logits.

    Returns:
      The result; `details` has the gradient norm of every stage and the variables
      that got none.
    """
    variables, grads = _gradients(model, images, labels, from_logits)
    dead = [v.path for v, g in zip(variables, grads) if g is None or not np.any(np.asarray(g))]
    frozen = [layer.name for layer in _leaf_layers(model) if layer.weights and not layer.trainable]
    norms = stage_gradient_norms(model, images, labels, from_logits=from_logits)
    grad_norms = {
        v.path: float(np.linalg.norm(np.asarray(g, np.float64))) for v, g in zip(variables, grads) if g is not None
    }
    largest = max(grad_norms.values(), default=0.0)
    # Round-off only, e.g. a conv bias before a training-mode BatchNorm, which subtracts
    # it again: reported, not failed (Keras applications' ResNets have such biases).
    negligible = [path for path, norm in grad_norms.items() if 0.0 < norm < NEGLIGIBLE_GRADIENT * largest]
    details = {
        "stage_gradient_norms": norms,
        "zero_gradient": dead,
        "negligible_gradient": negligible,
        "frozen_layers": frozen,
        "variables": len(variables),
    }
    if not variables:
        return CheckResult("gradients", False, "the model has no trainable variables.", details)
    problems = []
    if dead:
        problems.append(
            f"{len(dead)} trainable variable(s) get no gradient (outside the gradient path?), e.g. {dead[0]!r}"
        )
    if frozen:
        problems.append(f"{len(frozen)} layer(s) are frozen (trainable=False), e.g. {frozen[0]!r}")
    if problems:
        return CheckResult("gradients", False, "; ".join(problems) + ".", details)
    summary = ", ".join(f"{stage} {norm:.2e}" for stage, norm in norms.items())
    note = (
        f" {len(negligible)} get only round-off ({negligible[0]!r}...: a bias before BatchNorm cancels)."
        if negligible
        else ""
    )
    return CheckResult(
        "gradients",
        True,
        f"all {len(variables)} trainable variables get gradients; norms per stage: {summary}.{note}",
        details,
    )


def check_overfit(
    model: keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    steps: int = OVERFIT_STEPS,
    learning_rate: float = OVERFIT_LEARNING_RATE,
    target_loss: float = OVERFIT_TARGET_LOSS,
    from_logits: bool = True,
) -> CheckResult:
    """Adam on one small batch must drive its loss near zero and its accuracy to 100%.

    Uses at most 16 samples. The model's weights (and BN statistics) are restored
    afterwards.

    Args:
      model: The model.
      images: A batch of images.
      labels: Class indices.
      steps: Optimisation steps.
      learning_rate: Adam's learning rate.
      target_loss: The final training loss must be below this.
      from_logits: Whether the model outputs logits.

    Returns:
      The result; `details` has the loss curve.
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"overfit steps must be a positive integer; got {steps!r}.")
    x = tf.constant(images[:OVERFIT_MAX_SAMPLES])
    y = tf.constant(labels[:OVERFIT_MAX_SAMPLES])
    variables = list(model.trainable_variables)
    if not variables:
        return CheckResult("overfit", False, "the model has no trainable variables to fit with.", {})
    saved = model.get_weights()
    optimizer = keras.optimizers.Adam(learning_rate)
    loss_fn = _loss_fn(from_logits)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            outputs = model(x, training=True)
            loss = loss_fn(y, outputs)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(outputs, -1), y), tf.float32))
        return loss, accuracy

    curve, accuracy = [], 0.0
    try:
        for _ in range(steps):
            loss, accuracy = step()
            curve.append(float(loss))
    finally:
        model.set_weights(saved)
    # The loss and accuracy of the last step are those of the weights before it.
    details = {"loss_curve": curve, "final_accuracy": float(accuracy), "samples": int(x.shape[0]), "steps": steps}
    shown = ", ".join(f"{v:.3g}" for v in curve[:: max(1, steps // 10)])
    if not (curve[-1] < target_loss and float(accuracy) == 1.0):
        return CheckResult(
            "overfit",
            False,
            f"after {steps} steps on {x.shape[0]} samples: loss {curve[-1]:.3g} (target < {target_loss}), "
            f"accuracy {float(accuracy):.0%}; loss curve: {shown}.",
            details,
        )
    return CheckResult(
        "overfit", True, f"{x.shape[0]} samples fitted in {steps} steps: loss {curve[-1]:.3g}, accuracy 100%.", details
    )
