"""The learning-rate schedules: the paper's steps, warm-up, cosine, and their errors."""

import keras
import numpy as np
import pytest

from resnet import schedules


def rates(schedule, steps):
    if isinstance(schedule, float):
        return [schedule] * len(steps)
    return [float(keras.ops.convert_to_numpy(schedule(step))) for step in steps]


def test_paper_schedule_divides_by_ten_at_32k_and_48k():
    schedule = schedules.build_schedule("step", learning_rate=0.1, total_steps=64000, boundaries=[32000, 48000])
    # The schedule is evaluated at the number of steps already taken: step 31999 is the
    # 32,000th step, the last at 0.1.
    got = rates(schedule, [0, 31999, 32000, 47999, 48000, 63999])
    np.testing.assert_allclose(got, [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-6)


def test_default_boundaries_are_the_papers_fractions():
    assert schedules.default_boundaries(64000) == (32000, 48000)
    schedule = schedules.build_schedule("step", learning_rate=0.2, total_steps=100)
    np.testing.assert_allclose(rates(schedule, [49, 50, 74, 75]), [0.2, 0.02, 0.02, 0.002], rtol=1e-6)
    # Too short for both decays: the points inside the warm-up or at the end go.
    assert schedules.default_boundaries(2) == (1,)
    assert schedules.default_boundaries(8, warmup_steps=5) == (6,)


def test_resnet110_warmup_is_constant_then_the_step_schedule():
    schedule = schedules.build_schedule(
        "step",
        learning_rate=0.1,
        total_steps=64000,
        boundaries=[32000, 48000],
        warmup_steps=400,
        warmup_learning_rate=0.01,
    )
    np.testing.assert_allclose(
        rates(schedule, [0, 399, 400, 31999, 32000, 48000]), [0.01, 0.01, 0.1, 0.1, 0.01, 0.001], rtol=1e-6
    )


def test_cosine_decays_to_zero_and_warms_up_linearly():
    plain = schedules.build_schedule("cosine", learning_rate=0.1, total_steps=100)
    np.testing.assert_allclose(rates(plain, [0, 50, 100]), [0.1, 0.05, 0.0], atol=1e-6)
    warm = schedules.build_schedule("cosine", learning_rate=0.1, total_steps=110, warmup_steps=10)
    got = rates(warm, [0, 5, 10, 60, 110])
    np.testing.assert_allclose(got, [0.01, 0.055, 0.1, 0.05, 0.0], atol=1e-6)


def test_constant_schedule():
    assert schedules.build_schedule("constant", learning_rate=0.05, total_steps=10) == 0.05
    warm = schedules.build_schedule("constant", learning_rate=0.05, total_steps=10, warmup_steps=2)
    np.testing.assert_allclose(rates(warm, [0, 1, 2, 9]), [0.005, 0.005, 0.05, 0.05], rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(name="linear"), "Unknown learning-rate schedule 'linear'; valid: step, cosine, constant"),
        (dict(learning_rate=0.0), "learning rate must be > 0"),
        (dict(total_steps=0), "at least one step"),
        (dict(boundaries=[60, 50]), "must increase strictly"),
        (dict(boundaries=[50, 100]), "before the last of 100 steps"),
        (dict(warmup_steps=100), "Warm-up steps must be in [0, 100)"),
        (dict(warmup_steps=10, boundaries=[5, 50]), "after the 10 warm-up steps"),
        (dict(name="cosine", boundaries=[50]), "only apply to the 'step' schedule"),
        (dict(decay_factor=2.0), "decay factor must be in (0, 1]"),
    ],
)
def test_invalid_schedules_say_what_is_wrong(kwargs, message):
    arguments = dict(name="step", learning_rate=0.1, total_steps=100) | kwargs
    name = arguments.pop("name")
    with pytest.raises(ValueError) as error:
        schedules.build_schedule(name, **arguments)
    assert message in str(error.value)
    assert "\n" not in str(error.value)
