"""Learning-rate schedules for training: the paper's step schedule, cosine, constant.

Every schedule is a stock `keras.optimizers.schedules` object (or a float), so it
serialises with the optimizer and is evaluated by Keras at `optimizer.iterations`,
the number of steps already taken (0 for the first step).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # keras is imported where a schedule is built: validation needs none
    import keras

SCHEDULES = ("step", "cosine", "constant")
# The paper divides the learning rate by 10 at 32k and 48k of 64k iterations: half
# and three quarters of the way through.
PAPER_DECAY_FRACTIONS = (0.5, 0.75)


def default_boundaries(total_steps: int, warmup_steps: int = 0) -> tuple[int, ...]:
    """The paper's decay points (50% and 75% of training) for `total_steps` steps.

    Points that would fall inside the warm-up or on the last step (very short runs)
    are left out.
    """
    points = sorted({round(total_steps * fraction) for fraction in PAPER_DECAY_FRACTIONS})
    return tuple(p for p in points if warmup_steps < p < total_steps)


def validate_schedule(
    name: str,
    *,
    learning_rate: float,
    total_steps: int,
    boundaries: Sequence[int] | None = None,
    decay_factor: float = 0.1,
    warmup_steps: int = 0,
    warmup_learning_rate: float | None = None,
) -> None:
    """Raises `ValueError` with a one-line reason if the arguments make no schedule.

    Args: as for `build_schedule`.
    """
    if name not in SCHEDULES:
        raise ValueError(f"Unknown learning-rate schedule {name!r}; valid: {', '.join(SCHEDULES)}.")
    if not learning_rate > 0:
        raise ValueError(f"The learning rate must be > 0; got {learning_rate!r}.")
    if total_steps < 1:
        raise ValueError(f"Training needs at least one step; got {total_steps}.")
    if not 0 < decay_factor <= 1:
        raise ValueError(f"The learning-rate decay factor must be in (0, 1]; got {decay_factor!r}.")
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(
            f"Warm-up steps must be in [0, {total_steps}) (the number of training steps); got {warmup_steps}."
        )
    if warmup_learning_rate is not None and not warmup_learning_rate > 0:
        raise ValueError(f"The warm-up learning rate must be > 0; got {warmup_learning_rate!r}.")
    if boundaries:
        steps = list(boundaries)
        if name != "step":
            raise ValueError(f"Decay boundaries only apply to the 'step' schedule; got {steps} with {name!r}.")
        if sorted(set(steps)) != steps or steps[0] <= warmup_steps or steps[-1] >= total_steps:
            raise ValueError(
                f"Decay boundaries must increase strictly, after the {warmup_steps} warm-up steps and before "
                f"the last of {total_steps} steps; got {steps}."
            )


def build_schedule(
    name: str,
    *,
    learning_rate: float,
    total_steps: int,
    boundaries: Sequence[int] | None = None,
    decay_factor: float = 0.1,
    warmup_steps: int = 0,
    warmup_learning_rate: float | None = None,
) -> keras.optimizers.schedules.LearningRateSchedule | float:
    """The learning rate as a function of the step.

    Args:
      name: "step": `learning_rate`, multiplied by `decay_factor` at each boundary
        (the paper's schedule; default boundaries at 50% and 75% of training, the
        paper's 32k and 48k of 64k). "cosine": cosine decay from `learning_rate` to
        0 at `total_steps`. "constant": `learning_rate` throughout.
      learning_rate: The peak learning rate (the paper's 0.1 at batch 128).
      total_steps: Steps the whole run takes.
      boundaries: Steps at which the "step" schedule decays: the first
        `boundaries[0]` steps use `learning_rate`, and so on.
      decay_factor: What each boundary multiplies the learning rate by.
      warmup_steps: Steps before the schedule proper starts. "step" and
        "constant" hold `warmup_learning_rate` constant during warm-up, as the
        paper's ResNet-110 does (0.01 for ~400 iterations); "cosine" ramps
        linearly from `warmup_learning_rate` to `learning_rate` (Keras'
        `CosineDecay` warm-up).
      warmup_learning_rate: Learning rate at the start of warm-up (default
        `learning_rate / 10`, the paper's 0.01 for 0.1).

    Returns:
      A `keras.optimizers.schedules.LearningRateSchedule`, or a float for an
      unchanging rate.

    Raises:
      ValueError: If the arguments make no schedule (see `validate_schedule`).
    """
    validate_schedule(
        name,
        learning_rate=learning_rate,
        total_steps=total_steps,
        boundaries=boundaries,
        decay_factor=decay_factor,
        warmup_steps=warmup_steps,
        warmup_learning_rate=warmup_learning_rate,
    )
    import keras

    warmup_lr = learning_rate / 10 if warmup_learning_rate is None else warmup_learning_rate
    if name == "cosine":
        if warmup_steps:
            return keras.optimizers.schedules.CosineDecay(
                initial_learning_rate=warmup_lr,
                decay_steps=total_steps - warmup_steps,
                warmup_target=learning_rate,
                warmup_steps=warmup_steps,
            )
        return keras.optimizers.schedules.CosineDecay(initial_learning_rate=learning_rate, decay_steps=total_steps)

    steps, values = [], []
    if warmup_steps:
        steps.append(warmup_steps)
        values.append(warmup_lr)
    values.append(learning_rate)
    if name == "step":
        for index, boundary in enumerate(boundaries or default_boundaries(total_steps, warmup_steps)):
            steps.append(boundary)
            values.append(learning_rate * decay_factor ** (index + 1))
    if not steps:
        return float(learning_rate)
    # PiecewiseConstantDecay keeps values[i] while step <= boundaries[i]; the schedule
    # is evaluated at the number of steps already taken, so "the first b steps" ends
    # at step b - 1.
    return keras.optimizers.schedules.PiecewiseConstantDecay([b - 1 for b in steps], [float(v) for v in values])
