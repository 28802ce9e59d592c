"""Shared test set-up: quiet TensorFlow, a clean Keras state per test."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Every test starts with float32 and the default policy, whatever the last one did."""
    keras.backend.clear_session()
    keras.config.set_floatx("float32")
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_floatx("float32")
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def float64():
    """Builds models in float64 for the duration of a test."""
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    yield
