"""Save, load and export round trips give identical outputs."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import resnet


def _randomise_bn(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.1, layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, layer.moving_variance.shape))


@pytest.mark.parametrize(
    "build",
    [
        lambda: resnet.cifar_resnet(8),  # option A: the custom ZeroPadShortcut layer
        lambda: resnet.resnet18(input_shape=(32, 32, 3), num_classes=10, variant="v2"),
        lambda: resnet.resnet50(input_shape=(32, 32, 3), num_classes=10, variant="v1", padding="same", conv_bias=True),
    ],
    ids=["cifar8_option_a", "resnet18_v2", "resnet50_v1_same"],
)
def test_keras_file_round_trip(tmp_path, build):
    model = build()
    _randomise_bn(model)
    x = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(model(x), loaded(x))
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]


def test_keras_file_loads_in_a_fresh_process_after_import_resnet(tmp_path):
    # `import resnet` is lazy; with Keras already imported it registers the custom
    # layers (ZeroPadShortcut here) itself, so the usual two imports suffice.
    model = resnet.cifar_resnet(8)
    _randomise_bn(model)
    x = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", keras.ops.convert_to_numpy(model(x)))
    model.save(tmp_path / "model.keras")
    code = textwrap.dedent(f"""
        import keras
        import numpy as np
        import resnet

        loaded = keras.models.load_model({str(tmp_path / "model.keras")!r})
        x, y = np.load({str(tmp_path / "x.npy")!r}), np.load({str(tmp_path / "y.npy")!r})
        np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), y, rtol=1e-6, atol=1e-6)
        """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=root, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_saved_model_export(tmp_path):
    model = resnet.cifar_resnet(8)
    _randomise_bn(model)
    x = np.random.default_rng(2).normal(size=(3, 32, 32, 3)).astype("float32")
    model.export(str(tmp_path / "saved"))
    reloaded = tf.saved_model.load(str(tmp_path / "saved"))
    np.testing.assert_allclose(model(x), reloaded.serve(tf.constant(x)), rtol=0, atol=1e-6)


def test_zero_pad_shortcut_config_round_trip():
    layer = resnet.ZeroPadShortcut(32, 2, name="s")
    clone = resnet.ZeroPadShortcut.from_config(layer.get_config())
    assert (clone.filters, clone.stride, clone.name) == (32, 2, "s")
    with pytest.raises(ValueError, match="cannot shrink 16 channels to 8"):
        resnet.ZeroPadShortcut(8)(np.zeros((1, 4, 4, 16), "float32"))
