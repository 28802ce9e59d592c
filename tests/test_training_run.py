"""A tiny real training run through the library: files, TensorBoard, gates, NaN, weight decay."""

import dataclasses
import glob
import json
import os
import xml.etree.ElementTree as ET

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from resnet import results, training, training_config


def tiny(tmp_path, **changes):
    # 256 synthetic examples, batches of 64: 4 steps an epoch on a ResNet-8.
    base = dict(
        model="resnet8",
        dataset="synthetic",
        train_examples=256,
        batch_size=64,
        epochs=2,
        model_dir=str(tmp_path / "run"),
        progress=False,
        lr_schedule="cosine",
        learning_rate=0.05,
    )
    return training_config.TrainConfig(**(base | changes))


def tensorboard_tags(log_dir):
    tags = {"scalars": set(), "images": set(), "tensors": set()}
    for path in glob.glob(os.path.join(log_dir, "**", "events.out.tfevents.*"), recursive=True):
        accumulator = event_accumulator.EventAccumulator(path, size_guidance={"tensors": 0, "images": 0})
        accumulator.Reload()
        found = accumulator.Tags()
        tags["images"].update(found.get("images", []))
        tags["tensors"].update(found.get("tensors", []))
        tags["scalars"].update(found.get("scalars", []))
    return tags


def test_tiny_run_writes_everything_and_applies_the_gates(tmp_path):
    baseline = tmp_path / "baseline.json"
    results.write_json(baseline, {"test_accuracy": 0.99})
    junit = tmp_path / "junit.xml"
    config = tiny(tmp_path, min_accuracy=0.99, baseline=str(baseline), max_drop=0.05, junit_xml=str(junit))
    record = training.train(config)

    run = tmp_path / "run"
    saved = json.loads((run / "results.json").read_text())
    assert saved["model"] == "resnet8" and saved["dataset"] == "synthetic" and saved["seed"] == 0
    assert saved["steps"] == 8 and saved["epochs"] == 2 and saved["resumed_from_epoch"] == 0
    assert saved["config"]["batch_size"] == 64
    assert 0 <= saved["test_accuracy"] <= 1 and saved["test_loss"] > 0
    assert saved["best_eval_accuracy"] == max(saved["history"]["val_accuracy"])
    assert saved["train_images_per_second"] > 0 and saved["wall_time_s"] > 0
    assert saved["versions"]["tensorflow"] == tf.__version__
    # Random labels cannot reach 0.99: both gates fail, and say why.
    assert not record["passed"] and not saved["passed"]
    assert [gate["name"] for gate in saved["gates"]] == ["min_accuracy", "baseline"]
    assert all(not gate["passed"] for gate in saved["gates"])
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("failures") == "2"

    assert sorted(os.listdir(run / "checkpoints")) == ["epoch-0001.keras", "epoch-0002.keras"]
    assert not os.path.exists(run / "backup")  # a finished run leaves no backup to resume from
    exported = keras.models.load_model(run / "model.keras")
    images = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype("float32")
    serving = tf.saved_model.load(str(run / "saved_model"))
    np.testing.assert_allclose(serving.serve(images).numpy(), exported(images, training=False).numpy(), atol=1e-5)
    assert os.path.isfile(run / "input_images.png")
    assert not [name for name in os.listdir(run) if name.startswith(".")]  # no temporaries left

    tags = tensorboard_tags(run / "logs")
    scalars = tags["scalars"] | tags["tensors"]
    for tag in ("epoch_loss", "epoch_accuracy", "epoch_learning_rate", "gradient_norm/conv2", "gradient_norm/conv4"):
        assert tag in scalars, (tag, scalars)
    assert "input_images" in tags["tensors"] | tags["images"]
    assert {"conv1_conv/kernel/histogram", "conv1_bn/gamma/histogram"} <= scalars  # weight histograms
    # The model graph: Keras writes its conceptual graph (TensorBoard's graph plugin).
    assert "keras" in tags["tensors"]


def test_nan_loss_stops_with_a_clear_error(tmp_path):
    config = tiny(tmp_path, learning_rate=1e30, lr_schedule="constant", preflight=False, export=False, epochs=3)
    with pytest.raises(training.DivergedError, match=r"loss became (nan|inf) at step \d+; try a lower --learning_rate"):
        training.train(config)
    assert not os.path.exists(tmp_path / "run" / "results.json")


def test_weight_decay_is_an_l2_loss_on_kernels_only():
    info = type("Info", (), {"num_classes": 10, "image_shape": (32, 32, 3)})()
    model = training.build_model(training_config.TrainConfig(model="resnet8", weight_decay=1e-4), info)
    kernels = [w for w in model.trainable_weights if w.path.endswith("kernel")]
    others = [w for w in model.trainable_weights if not w.path.endswith("kernel")]
    assert len(model.losses) == len(kernels) and any("gamma" in w.path for w in others)
    expected = sum(1e-4 / 2 * float(np.sum(np.square(w.numpy()))) for w in kernels)
    np.testing.assert_allclose(float(sum(model.losses)), expected, rtol=1e-5)
    # Its gradient is weight_decay * w for every kernel and zero for BatchNorm and biases:
    # exactly the paper's SGD weight decay of 1e-4.
    with tf.GradientTape() as tape:
        penalty = tf.add_n(model.losses)
    grads = tape.gradient(penalty, model.trainable_weights)
    for weight, grad in zip(model.trainable_weights, grads):
        if weight.path.endswith("kernel"):
            np.testing.assert_allclose(grad.numpy(), 1e-4 * weight.numpy(), rtol=1e-5, atol=1e-12)
        else:
            assert grad is None or not np.any(grad.numpy())
    assert training.build_model(training_config.TrainConfig(model="resnet8", weight_decay=0.0), info).losses == []


def test_preflight_refuses_a_model_that_is_not_the_configured_one():
    from resnet import data

    config = training_config.TrainConfig(model="resnet8", dataset="synthetic", batch_size=64)
    info = data.dataset_info("synthetic")
    wrong = training.build_model(training_config.TrainConfig(model="resnet8", shortcut="B"), info)  # config says A
    batches = data.make_dataset("synthetic", "train", batch_size=64, training=True)
    with pytest.raises(training.PreflightError, match="Preflight verification failed; training not started") as error:
        training.preflight(wrong, config, batches, info)
    assert "[FAIL] shortcuts" in str(error.value)
    right = training.build_model(config, info)
    before = [w.copy() for w in right.get_weights()]
    assert "PASSED" in training.preflight(right, config, batches, info)
    for old, new in zip(before, right.get_weights()):
        np.testing.assert_array_equal(old, new)  # verification leaves the weights alone


def test_mixed_precision_and_label_smoothing_train(tmp_path):
    record = training.train(
        tiny(tmp_path, mixed_precision="mixed_bfloat16", label_smoothing=0.1, epochs=1, preflight=False, export=False)
    )
    assert np.isfinite(record["test_loss"]) and record["steps"] == 4
    restored = keras.models.load_model(tmp_path / "run" / "checkpoints" / "epoch-0001.keras")
    assert restored.get_layer("conv1_conv").dtype_policy.name == "mixed_bfloat16"
    assert restored.get_layer("conv1_conv").kernel.dtype == "float32"  # float32 master weights


def test_mixed_float16_gets_loss_scaling():
    keras.config.set_dtype_policy("mixed_float16")
    info = type("Info", (), {"num_classes": 10, "image_shape": (32, 32, 3)})()
    config = training_config.TrainConfig(model="resnet8", mixed_precision="mixed_float16")
    model = training.build_model(config, info)
    training.compile_model(model, config, total=10)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(model.optimizer.inner_optimizer, keras.optimizers.SGD)


def test_nightly_preset_runs_offline_on_a_real_format_cifar_archive(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds
    from cifar_archive import write_cifar10_archive
    from tensorflow_datasets.core.download.checksums import compute_url_info

    from resnet import data

    # A 100-image archive in CIFAR-10's binary format where a user puts the real one;
    # TFDS checks archives against the real one's sha256, so it is given this one's.
    data_dir = str(tmp_path / "tfds")
    archive = write_cifar10_archive(data.cifar10.manual_dir(data_dir), 20)
    monkeypatch.setattr(tfds.image_classification.Cifar10, "url_infos", {data.cifar10.URL: compute_url_info(archive)})
    defaults = training_config.TrainConfig().to_dict()
    explicit = dict(
        preset="nightly",
        data_dir=data_dir,
        steps=6,
        lr_boundaries=["3", "5"],
        batch_size=20,
        preflight=False,
        export=False,
        progress=False,
        model_dir=str(tmp_path / "nightly"),
        junit_xml=str(tmp_path / "nightly.xml"),
    )
    config = training_config.config_from_values(training_config.apply_preset({**defaults, **explicit}, explicit))
    assert (config.dataset, config.model, config.seed, config.deterministic) == ("cifar10", "resnet20", 1234, True)
    assert config.min_accuracy == training_config.PRESETS["nightly"]["min_accuracy"]
    training_config.validate(config)
    # Op determinism cannot be switched off again in a process: keep it out of the
    # test process (the kill-and-resume slow test runs --deterministic for real).
    record = training.train(dataclasses.replace(config, deterministic=False))
    assert record["steps"] == 6 and record["epochs"] == 2  # 5 steps an epoch; stopped at --steps
    assert record["dataset"] == "cifar10" and not record["passed"]  # 6 steps cannot reach the nightly threshold
    suite = ET.parse(tmp_path / "nightly.xml").getroot().find("testsuite")
    assert suite.get("name") == "train.resnet20.cifar10" and suite.get("failures") == "1"
