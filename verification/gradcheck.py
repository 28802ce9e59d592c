"""Float64 gradient checks by central differences, for layers, blocks and small models.

`gradcheck` compares the gradients TensorFlow computes (reverse mode, what training
uses) with central finite differences, in float64 on the CPU with TensorFloat-32 off.
It perturbs the layer's trainable weights as well as its inputs: `tf.test.compute_gradient`
only perturbs explicit inputs, so a wrong weight gradient would slip through it.

Two modes, after torch.autograd.gradcheck:
  "full"  the whole Jacobian, column by column, for small inputs;
  "fast"  a few random Gaussian directions per tensor: the analytic directional
          derivative u^T J v (one vector-Jacobian product per cotangent u) against the
          numeric Jacobian-vector product (f(x + h v) - f(x - h v)) / 2h projected on
          u. Cheap enough for whole blocks and small whole models.

Central differences are wrong across a kink (a ReLU input at 0, a max-pool tie). Each
difference is also taken at half the step: on a smooth function the two one-sided
slopes differ by h * f'', which halves with the step, and the two central differences
agree; across a kink neither holds. When a kink spoils a difference by more than the
tolerance, the check moves the whole point (inputs and weights) by a small random
jitter, far larger than the step, and starts again; whatever still sits on a kink
after a few moves is left out and counted in the result. The kink test looks at the
numeric side only, so it cannot hide a wrong analytic gradient.

The result is vacuous, and reported as a failure, when every derivative is ~0: the
sum of a training-mode BatchNorm's outputs, for example, does not depend on its
input at all; the check therefore always projects outputs on a random cotangent.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from verification.results import CheckResult

MODES = ("fast", "full")
WRT = ("inputs", "weights", "all")
DEFAULT_ATOL = 1e-5  # torch.autograd.gradcheck's defaults
DEFAULT_RTOL = 1e-3
# eps^(1/3) balances the O(h^2) truncation error of central differences against
# their O(eps/h) round-off: ~6.1e-6 in float64.
DEFAULT_EPS = float(np.finfo(np.float64).eps) ** (1.0 / 3.0)
FAST_DIRECTIONS = 3
# The full Jacobian costs two evaluations per element: keep it to small problems.
FULL_MAX_ELEMENTS = 4096
FULL_MAX_JACOBIAN = 4_000_000
# Elements searched per-element to name the worst one after a fast check fails.
LOCALIZE_MAX_ELEMENTS = 1024
KINK_MOVES = 3
# Size of a move away from kinks, relative to a tensor's magnitude: far beyond the
# finite-difference step (~6e-6), small enough to stay near the point asked for.
KINK_JITTER = 1e-3


@dataclasses.dataclass
class GradcheckResult(CheckResult):
    """What `gradcheck` found.

    Attributes:
      mode: "fast" or "full".
      max_abs_error: Largest |analytic - numeric| over what was checked.
      max_rel_error: Largest |analytic - numeric| / max(|analytic|, |numeric|).
      worst: Where the worst disagreement (relative to the tolerance) is, in words:
        which input or weight, which element.
      worst_tensor: Name of that input ("input 0") or weight ("weight 'b_1_conv/kernel'").
      worst_index: Index of the element in that tensor (None when a fast check passed,
        or when it failed on a tensor too large to search element by element).
      checked: Number of derivatives compared (Jacobian entries in full mode,
        directional derivatives in fast mode).
      left_out: Jacobian columns (full) or directions (fast) left out because their
        finite differences straddled a kink even after moving away from it.
      kink_moves: How many times the point was jittered away from kinks.
      float64: How the computation was put in float64.
      eps, atol, rtol: The relative step and tolerances used.
    """

    mode: str = "fast"
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    worst: str = ""
    worst_tensor: str = ""
    worst_index: tuple | None = None
    checked: int = 0
    left_out: int = 0
    kink_moves: int = 0
    float64: str = ""
    eps: float = DEFAULT_EPS
    atol: float = DEFAULT_ATOL
    rtol: float = DEFAULT_RTOL


@dataclasses.dataclass
class _Problem:
    """A pure float64 function of a list of tensors, and the point to check it at."""

    names: list[str]
    point: list[np.ndarray]
    wrt: list[int]
    forward: Callable
    vjp: Callable
    float64: str


@dataclasses.dataclass
class _Comparison:
    """Analytic against numeric derivatives, with where each one comes from."""

    analytic: np.ndarray
    numeric: np.ndarray
    tensor: np.ndarray  # index into _Problem.names
    element: np.ndarray  # flat element index in that tensor (-1: a whole direction)
    output: np.ndarray  # flat output index (-1: projected on a cotangent)
    left_out: int
    kinked: bool


def gradcheck(
    fn: Callable | keras.layers.Layer,
    inputs: Any,
    *,
    wrt: str = "all",
    mode: str = "fast",
    eps: float | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    seed: int = 0,
    training: bool | None = None,
    directions: int = FAST_DIRECTIONS,
) -> GradcheckResult:
    """Checks the gradients of a layer, block, model or function in float64.

    Args:
      fn: A Keras layer or model (rebuilt in float64 with its weights copied, unless
        it already is float64), or a callable on float64 tensors, `fn(*inputs)`.
      inputs: A tensor/array, or a list of them. A Keras layer given a list gets the
        list as its one argument (Keras' convention for multi-input layers).
      wrt: "inputs", "weights" (the layer's trainable weights) or "all".
      mode: "fast" (random directional derivatives) or "full" (whole Jacobian).
      eps: Relative finite-difference step (default eps^(1/3) of float64, ~6e-6); the
        step of a tensor is eps * max(1, max|tensor|).
      atol: Absolute tolerance (default 1e-5).
      rtol: Relative tolerance (default 1e-3): passes when
        |analytic - numeric| <= atol + rtol * |numeric| everywhere.
      seed: Seed of the random cotangents, directions and jitters.
      training: Passed to a Keras layer's call (BatchNorm: batch statistics if True).
        Moving statistics never change during the check.
      directions: Random directions per tensor in fast mode.

    Returns:
      A `GradcheckResult`; `.passed` says whether every derivative agreed.

    Raises:
      ValueError: On an invalid argument, or when `fn` cannot be run in float64.
    """
    _validate(mode, wrt, eps, atol, rtol, directions)
    eps = DEFAULT_EPS if eps is None else float(eps)
    atol = DEFAULT_ATOL if atol is None else float(atol)
    rtol = DEFAULT_RTOL if rtol is None else float(rtol)
    with _float64_cpu():
        problem = _prepare(fn, _as_float64_arrays(inputs), wrt, training)
        if mode == "full":
            _check_full_size(problem)
        rng = np.random.default_rng(seed)
        compare = _compare_full if mode == "full" else _compare_fast
        point, moves = problem.point, 0
        while True:
            comparison = compare(problem, point, eps, atol, rtol, rng, directions)
            if not comparison.kinked or moves == KINK_MOVES:
                break
            point, moves = _jitter(point, rng), moves + 1
        return _result(problem, point, comparison, mode, moves, eps, atol, rtol, rng)


def _validate(mode, wrt, eps, atol, rtol, directions) -> None:
    if mode not in MODES:
        raise ValueError(f"Unknown gradcheck mode {mode!r}; valid: {', '.join(map(repr, MODES))}.")
    if wrt not in WRT:
        raise ValueError(f"Unknown wrt {wrt!r}; valid: {', '.join(map(repr, WRT))}.")
    for name, value in (("eps", eps), ("atol", atol), ("rtol", rtol)):
        if value is not None and not (isinstance(value, (int, float)) and value > 0):
            raise ValueError(f"gradcheck {name} must be a positive number or None; got {value!r}.")
    if not isinstance(directions, int) or directions < 1:
        raise ValueError(f"gradcheck directions must be a positive integer; got {directions!r}.")


@contextlib.contextmanager
def _float64_cpu():
    """CPU, TensorFloat-32 off (it would round float32 matmuls on GPUs to 10 bits)."""
    tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
    tf.config.experimental.enable_tensor_float_32_execution(False)
    try:
        with tf.device("/CPU:0"):
            yield
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(tf32)


def _as_float64_arrays(inputs) -> list[np.ndarray]:
    items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if not items:
        raise ValueError("gradcheck needs at least one input tensor; got an empty list.")
    arrays = []
    for index, item in enumerate(items):
        try:
            array = np.asarray(item)
        except Exception as error:  # symbolic Keras tensors cannot become arrays
            raise ValueError(
                f"gradcheck input {index} must be a concrete tensor or array; got {type(item).__name__}."
            ) from error
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"gradcheck input {index} must be floating point; got dtype {array.dtype}.")
        arrays.append(array.astype(np.float64))
    return arrays


def _prepare(fn, inputs: list[np.ndarray], wrt: str, training) -> _Problem:
    """Turns `fn` into a pure float64 function of [inputs..., trainable weights...]."""
    n_inputs = len(inputs)
    if isinstance(fn, keras.layers.Layer):
        layer, float64 = as_float64_layer(fn, inputs)
        weights = list(layer.trainable_variables)
        # Fixed values: BatchNorm's moving statistics must not drift between evaluations.
        frozen = [tf.constant(v.numpy()) for v in layer.non_trainable_variables]
        kwargs = {} if training is None else {"training": training}

        def call(state):
            args = state[0] if n_inputs == 1 else list(state[:n_inputs])
            outputs, _ = layer.stateless_call(list(state[n_inputs:]), frozen, args, **kwargs)
            return outputs

        names = [f"input {i}" for i in range(n_inputs)] + [f"weight {v.path!r}" for v in weights]
        point = inputs + [np.asarray(v.numpy(), np.float64) for v in weights]
    elif callable(fn):
        if training is not None:
            raise ValueError("gradcheck's training= applies to Keras layers; bind it in your callable instead.")
        if wrt == "weights":
            raise ValueError("gradcheck wrt='weights' needs a Keras layer; a plain callable has only inputs.")
        weights, float64 = [], "called on float64 inputs (a plain callable: it must compute in float64)"

        def call(state):
            return fn(*state)

        names, point = [f"input {i}" for i in range(n_inputs)], inputs
    else:
        raise ValueError(f"gradcheck fn must be a Keras layer or a callable; got {type(fn).__name__}.")
    if wrt == "weights" and not weights:
        raise ValueError(f"gradcheck wrt='weights': {getattr(fn, 'name', fn)!r} has no trainable weights.")
    chosen = {"inputs": range(n_inputs), "weights": range(n_inputs, len(point)), "all": range(len(point))}[wrt]

    def forward(state):
        flat = [tf.reshape(t, [-1]) for t in tf.nest.flatten(call(state))]
        return tf.concat(flat, axis=0)

    def vjp(state, cotangent):
        with tf.GradientTape() as tape:
            tape.watch(state)
            output = forward(state)
        return tape.gradient(
            output, state, output_gradients=cotangent, unconnected_gradients=tf.UnconnectedGradients.ZERO
        )

    forward_fn, vjp_fn = tf.function(forward), tf.function(vjp)
    first = forward_fn([tf.constant(p) for p in point])
    if first.dtype != tf.float64:
        raise ValueError(
            f"gradcheck needs float64 outputs; fn returned {first.dtype.name}. Pass the Keras layer itself "
            "(gradcheck rebuilds it in float64) or a callable that computes in float64."
        )
    return _Problem(names, point, list(chosen), forward_fn, vjp_fn, float64)


def as_float64_layer(layer: keras.layers.Layer, inputs: Sequence[np.ndarray] | None = None):
    """A float64 copy of a Keras layer or model, with the same weight values.

    Functional and Sequential models are cloned layer by layer with
    `keras.models.clone_model`; any other layer is rebuilt from its config with a
    float64 dtype policy, built by calling it once on `inputs`. The original is not
    changed.

    Args:
      layer: The layer or model.
      inputs: Example inputs (needed to build a plain layer).

    Returns:
      (the float64 layer, a sentence saying how it was made).

    Raises:
      ValueError: If the layer cannot be rebuilt (no usable `get_config`).
    """
    if not layer.built:
        # Build the original first (in its own dtype) so there are weights to copy.
        _call_once(layer, [np.asarray(x).astype(layer.compute_dtype) for x in inputs or []])
    if layer.compute_dtype == "float64" and all(v.dtype == "float64" for v in layer.weights):
        return layer, f"{layer.name!r} already computes in float64"
    try:
        if isinstance(layer, keras.Model) and is_graph_model(layer):
            copy = _clone_graph_float64(layer)
            how = "cloned with keras.models.clone_model, every layer from its config with dtype float64"
        else:
            copy = _from_config_float64(layer)
            if not copy.built:
                _call_once(copy, list(inputs or []))
            how = "rebuilt from its config with dtype float64"
    except (NotImplementedError, TypeError) as error:
        raise ValueError(
            f"gradcheck cannot rebuild {layer.__class__.__name__} {layer.name!r} in float64 ({error}); "
            "give it a get_config, or build it with dtype='float64' and pass that."
        ) from error
    if [tuple(v.shape) for v in copy.weights] != [tuple(v.shape) for v in layer.weights]:
        raise ValueError(f"gradcheck: the float64 rebuild of {layer.name!r} has different weights from the original.")
    for target, source in zip(copy.weights, layer.weights):
        target.assign(np.asarray(source.numpy(), np.float64))
    return copy, f"{how}; its {len(layer.weights)} weights copied (cast to float64)"


def _call_once(layer, inputs: list) -> None:
    if not inputs:
        raise ValueError(f"gradcheck needs example inputs to build {layer.name!r}.")
    layer(inputs[0] if len(inputs) == 1 else inputs)


def is_graph_model(model: keras.layers.Layer) -> bool:
    """Whether `model` is a functional or Sequential model (a graph of layers).

    Args:
      model: A layer or model.

    Returns:
      True for models whose layers form a graph that can be cloned and inspected.
    """
    return isinstance(model, keras.Model) and isinstance(model, keras.Sequential) or hasattr(model, "_nodes_by_depth")


def _from_config_float64(layer):
    return layer.__class__.from_config({**layer.get_config(), "dtype": "float64"})


def _clone_graph_float64(model: keras.Model) -> keras.Model:
    def clone(layer):
        if isinstance(layer, keras.Model) and is_graph_model(layer):
            return _clone_graph_float64(layer)
        return _from_config_float64(layer)

    inputs = [keras.Input(batch_shape=tuple(x.shape), dtype="float64") for x in model.inputs]
    return keras.models.clone_model(model, clone_function=clone, input_tensors=inputs if len(inputs) > 1 else inputs[0])


def _check_full_size(problem: _Problem) -> None:
    elements = sum(problem.point[i].size for i in problem.wrt)
    outputs = int(problem.forward([tf.constant(p) for p in problem.point]).shape[0])
    if elements > FULL_MAX_ELEMENTS or elements * outputs > FULL_MAX_JACOBIAN:
        raise ValueError(
            f"gradcheck mode='full' computes the whole Jacobian ({outputs} outputs x {elements} elements); "
            f"valid: at most {FULL_MAX_ELEMENTS} elements and {FULL_MAX_JACOBIAN} entries. Use mode='fast' "
            "or smaller inputs."
        )


def _step(array: np.ndarray, eps: float) -> float:
    return eps * max(1.0, float(np.max(np.abs(array))) if array.size else 1.0)


def _tolerance(numeric, atol, rtol):
    return atol + rtol * np.abs(numeric)


def _evaluate(problem: _Problem, point: list[np.ndarray]) -> np.ndarray:
    return problem.forward([tf.constant(p) for p in point]).numpy()


def _shifted(point, tensor, delta):
    moved = list(point)
    moved[tensor] = point[tensor] + delta
    return moved


def _unit_gaussian(rng, shape) -> np.ndarray:
    vector = rng.standard_normal(shape)
    return vector / max(np.linalg.norm(vector), np.finfo(np.float64).tiny)


def _compare_fast(problem, point, eps, atol, rtol, rng, directions) -> _Comparison:
    """Directional derivatives u^T J v: one VJP per cotangent u, two evaluations per v."""
    y0 = _evaluate(problem, point)
    rows = []  # (analytic, numeric, tensor, kinked)
    for _ in range(directions):
        u = _unit_gaussian(rng, y0.shape)
        grads = problem.vjp([tf.constant(p) for p in point], tf.constant(u))
        s0 = float(u @ y0)
        for tensor in problem.wrt:
            v = _unit_gaussian(rng, point[tensor].shape)
            h = _step(point[tensor], eps)
            projected = lambda delta, t=tensor: float(u @ _evaluate(problem, _shifted(point, t, delta)))  # noqa: E731
            numeric, kinked = _central_difference(projected, h * v, s0, h, atol, rtol)
            rows.append((float(np.sum(grads[tensor].numpy() * v)), float(numeric), tensor, bool(kinked)))
    kept = [r for r in rows if not r[3]]
    return _Comparison(
        analytic=np.array([r[0] for r in kept]),
        numeric=np.array([r[1] for r in kept]),
        tensor=np.array([r[2] for r in kept], dtype=int),
        element=np.full(len(kept), -1),
        output=np.full(len(kept), -1),
        left_out=len(rows) - len(kept),
        kinked=len(kept) < len(rows),
    )


def _compare_full(problem, point, eps, atol, rtol, rng, directions) -> _Comparison:
    """Every Jacobian entry: analytic rows by VJPs, numeric columns by differences."""
    del rng, directions  # the full Jacobian needs neither
    y0 = _evaluate(problem, point)
    state = [tf.constant(p) for p in point]
    analytic_rows = [
        [g.numpy().reshape(-1) for g in _pick(problem.vjp(state, tf.constant(np.eye(1, y0.size, i)[0])), problem.wrt)]
        for i in range(y0.size)
    ]
    parts, left_out = [], 0
    for position, tensor in enumerate(problem.wrt):
        h = _step(point[tensor], eps)
        analytic = np.stack([row[position] for row in analytic_rows])  # (outputs, elements)
        for element in range(point[tensor].size):
            delta = np.zeros(point[tensor].size)
            delta[element] = h
            delta = delta.reshape(point[tensor].shape)
            at = lambda d, t=tensor: _evaluate(problem, _shifted(point, t, d))  # noqa: E731
            numeric, kinked = _central_difference(at, delta, y0, h, atol, rtol)
            if np.any(kinked):
                left_out += 1
                continue
            parts.append((analytic[:, element], numeric, tensor, element))
    outputs = np.arange(y0.size)
    return _Comparison(
        analytic=np.concatenate([p[0] for p in parts]) if parts else np.zeros(0),
        numeric=np.concatenate([p[1] for p in parts]) if parts else np.zeros(0),
        tensor=np.concatenate([np.full(y0.size, p[2]) for p in parts]) if parts else np.zeros(0, int),
        element=np.concatenate([np.full(y0.size, p[3]) for p in parts]) if parts else np.zeros(0, int),
        output=np.concatenate([outputs for _ in parts]) if parts else np.zeros(0, int),
        left_out=left_out,
        kinked=left_out > 0,
    )


def _central_difference(evaluate, delta, center, h, atol, rtol):
    """Central difference along `delta` (of size h), and where it straddles a kink.

    Args:
      evaluate: Maps a perturbation to the outputs (an array, or a float).
      delta: The perturbation at full step.
      center: The outputs at the point itself.
      h: The step size.
      atol, rtol: The tolerances the derivative will be judged by.

    Returns:
      (numeric derivative, boolean kink mask), both shaped like the outputs.
    """
    plus, minus = evaluate(delta), evaluate(-delta)
    half_plus, half_minus = evaluate(delta / 2), evaluate(-delta / 2)
    numeric = (plus - minus) / (2 * h)
    tolerance = _tolerance(numeric, atol, rtol)
    # One-sided slopes differ by h * f'' on a smooth function, so halving the step
    # halves the gap; across a kink the gap is the jump in slope and does not halve.
    gap = np.abs(plus - 2 * center + minus) / h
    gap_half = np.abs(half_plus - 2 * center + half_minus) / (h / 2)
    smooth = (gap <= tolerance) | (np.abs(gap_half - gap / 2) <= 0.1 * gap + tolerance)
    # A kink between h/2 and h spoils the full step only: the two steps then disagree.
    agree = np.abs(numeric - (half_plus - half_minus) / h) <= tolerance
    return numeric, ~(smooth & agree)


def _pick(items, indices):
    return [items[i] for i in indices]


def _jitter(point: list[np.ndarray], rng) -> list[np.ndarray]:
    """Moves every tensor (inputs and weights) a little, off ReLU zeros and pool ties."""
    return [
        p + KINK_JITTER * max(1.0, float(np.max(np.abs(p))) if p.size else 1.0) * rng.standard_normal(p.shape)
        for p in point
    ]


def _result(problem, point, comparison: _Comparison, mode, moves, eps, atol, rtol, rng) -> GradcheckResult:
    common = dict(
        mode=mode,
        left_out=comparison.left_out,
        kink_moves=moves,
        float64=problem.float64,
        eps=eps,
        atol=atol,
        rtol=rtol,
        checked=int(comparison.analytic.size),
    )
    moved = f"; moved {moves}x off kinks" if moves else ""
    excluded = f"; {comparison.left_out} left out at kinks" if comparison.left_out else ""
    if comparison.analytic.size == 0:
        return GradcheckResult(
            "gradcheck",
            False,
            f"nothing could be checked: every difference straddled a kink{moved}{excluded}",
            **common,
        )
    error = np.abs(comparison.analytic - comparison.numeric)
    scale = np.maximum(np.abs(comparison.analytic), np.abs(comparison.numeric))
    relative = np.divide(error, scale, out=np.zeros_like(error), where=scale > 0)
    ratio = error / _tolerance(comparison.numeric, atol, rtol)
    worst = int(np.argmax(ratio))
    passed = bool(ratio[worst] <= 1.0)
    tensor = int(comparison.tensor[worst])
    index, output = None, None
    if mode == "full":
        index = _unravel(int(comparison.element[worst]), point[tensor].shape)
        output = int(comparison.output[worst])
    elif not passed:
        index = _localize(problem, point, tensor, eps, atol, rtol, rng)
    where = problem.names[tensor] + ("" if index is None else f" element {index}")
    if output is not None:
        where += f" (output element {output})"
    summary = (
        f"max abs error {error.max():.2e}, max rel error {relative.max():.2e} over {error.size} "
        f"{'Jacobian entries' if mode == 'full' else 'directional derivatives'}{moved}{excluded}"
    )
    vacuous = np.all(scale <= atol)
    if vacuous:
        passed = False
        summary = (
            f"every derivative is ~0 (<= atol): the check cannot tell a right gradient from a wrong one; {summary}"
        )
    elif not passed:
        summary = (
            f"gradient wrong at {where}: analytic {comparison.analytic[worst]:.6g} vs numeric "
            f"{comparison.numeric[worst]:.6g}; {summary}"
        )
    return GradcheckResult(
        "gradcheck",
        passed,
        summary,
        details={"tensors": problem.names, "checked_tensors": [problem.names[i] for i in problem.wrt]},
        max_abs_error=float(error.max()),
        max_rel_error=float(relative.max()),
        worst=where,
        worst_tensor=problem.names[tensor],
        worst_index=index,
        **common,
    )


def _unravel(flat: int, shape) -> tuple:
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def _localize(problem, point, tensor, eps, atol, rtol, rng) -> tuple | None:
    """Names the worst element of a tensor whose directional derivative failed.

    Compares each element's gradient of a random projection u^T f with its own
    central difference. Tensors above LOCALIZE_MAX_ELEMENTS are searched on a random
    subset of that many elements.
    """
    size = point[tensor].size
    elements = (
        np.arange(size) if size <= LOCALIZE_MAX_ELEMENTS else rng.choice(size, LOCALIZE_MAX_ELEMENTS, replace=False)
    )
    y0 = _evaluate(problem, point)
    u = _unit_gaussian(rng, y0.shape)
    gradient = problem.vjp([tf.constant(p) for p in point], tf.constant(u))[tensor].numpy().reshape(-1)
    h = _step(point[tensor], eps)
    worst, worst_ratio = None, -1.0
    for element in elements:
        delta = np.zeros(size)
        delta[element] = h
        delta = delta.reshape(point[tensor].shape)
        numeric = (
            float(u @ _evaluate(problem, _shifted(point, tensor, delta)))
            - float(u @ _evaluate(problem, _shifted(point, tensor, -delta)))
        ) / (2 * h)
        ratio = abs(gradient[element] - numeric) / _tolerance(numeric, atol, rtol)
        if ratio > worst_ratio:
            worst, worst_ratio = int(element), ratio
    return _unravel(worst, point[tensor].shape)
