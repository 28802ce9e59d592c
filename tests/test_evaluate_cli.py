"""evaluate.py: loading .keras / SavedModel / model_dir, the figures it reports, its gate."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import keras
import numpy as np
import pytest

import resnet
from resnet import data, evaluation, training_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def saved_model(tmp_path):
    keras.utils.set_random_seed(3)
    model = resnet.build_resnet("resnet8", num_classes=10)
    path = tmp_path / "model.keras"
    model.save(path)
    return model, path


def expected_figures(model):
    labels, predictions = [], []
    for images, batch_labels in data.make_dataset("synthetic", "test", batch_size=100, training=False):
        predictions.append(np.argmax(model(images, training=False).numpy(), axis=-1))
        labels.append(batch_labels.numpy())
    return np.concatenate(labels), np.concatenate(predictions)


def test_evaluate_reports_accuracy_per_class_and_confusion(saved_model, tmp_path):
    model, path = saved_model
    record = evaluation.evaluate(
        evaluation.EvalConfig(
            model_path=str(path), dataset="synthetic", batch_size=64, output_dir=str(tmp_path / "eval")
        )
    )
    labels, predictions = expected_figures(model)
    assert record["examples"] == len(labels) == 256
    assert record["test_accuracy"] == pytest.approx(np.mean(labels == predictions))
    matrix = np.array(record["confusion_matrix"])
    assert matrix.sum() == 256 and np.trace(matrix) == np.sum(labels == predictions)
    for cls in range(10):
        assert matrix[cls].sum() == np.sum(labels == cls)
        if matrix[cls].sum():
            assert record["per_class_accuracy"][cls] == pytest.approx(np.mean(predictions[labels == cls] == cls))
    saved = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert saved["test_accuracy"] == record["test_accuracy"] and saved["passed"]
    assert os.path.isfile(tmp_path / "eval" / "confusion_matrix.png")


def test_savedmodel_and_model_dir_give_the_same_figures(saved_model, tmp_path):
    model, path = saved_model
    model.export(str(tmp_path / "saved"), format="tf_saved_model", verbose=False)
    run = tmp_path / "run"
    os.makedirs(run / "checkpoints")
    keras.models.clone_model(model).save(run / "checkpoints" / "epoch-0002.keras")  # an older, different model
    model.save(run / "checkpoints" / "epoch-0010.keras")  # the newest by epoch, not by name order
    figures = [
        evaluation.evaluate(
            evaluation.EvalConfig(model_path=str(p), dataset="synthetic", output_dir=str(tmp_path / f"e{i}"))
        )
        for i, p in enumerate([path, tmp_path / "saved", run])
    ]
    assert figures[1]["model_format"] == "saved_model"
    assert figures[2]["model_path"].endswith("epoch-0010.keras")
    for other in figures[1:]:
        assert other["confusion_matrix"] == figures[0]["confusion_matrix"]
        assert other["test_loss"] == pytest.approx(figures[0]["test_loss"], rel=1e-4)


def test_evaluate_rejects_what_it_cannot_use(saved_model, tmp_path):
    _, path = saved_model
    with pytest.raises(
        training_config.ConfigError, match="is not a .keras file, a SavedModel directory, or a model_dir"
    ):
        evaluation.validate_eval(evaluation.EvalConfig(model_path=str(tmp_path / "nothing")))
    with pytest.raises(training_config.ConfigError, match="--split=validation needs --validation_size > 0"):
        evaluation.validate_eval(evaluation.EvalConfig(model_path=str(path), dataset="synthetic", split="validation"))
    with pytest.raises(training_config.ConfigError, match="Unknown --split 'dev'; valid: test, validation, train."):
        evaluation.validate_eval(evaluation.EvalConfig(model_path=str(path), dataset="synthetic", split="dev"))
    keras.utils.set_random_seed(0)
    resnet.build_resnet("resnet8", num_classes=5).save(tmp_path / "five.keras")
    with pytest.raises(training_config.ConfigError, match="The model has 5 outputs but synthetic has 10 classes."):
        evaluation.evaluate(evaluation.EvalConfig(model_path=str(tmp_path / "five.keras"), dataset="synthetic"))


def test_cli_gate_exit_codes_and_junit(saved_model, tmp_path):
    _, path = saved_model
    base = [sys.executable, os.path.join(ROOT, "evaluate.py"), f"--model_path={path}", "--dataset=synthetic"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    junit = tmp_path / "eval.xml"
    failing = subprocess.run(
        [*base, "--min_accuracy=0.9", f"--junit_xml={junit}", f"--output_dir={tmp_path / 'a'}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert failing.returncode == 1, failing.stderr
    errors = [line for line in failing.stderr.splitlines() if line.startswith("evaluate.py: error:")]
    assert len(errors) == 1 and "accuracy gate FAILED" in errors[0] and "< --min_accuracy 0.9000" in errors[0]
    assert "confusion" not in failing.stderr and "true \\ predicted" in failing.stdout
    assert ET.parse(junit).getroot().find("testsuite").get("failures") == "1"
    accuracy = json.loads((tmp_path / "a" / "results.json").read_text())["test_accuracy"]
    passing = subprocess.run(
        [*base, f"--min_accuracy={accuracy}", f"--output_dir={tmp_path / 'b'}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert passing.returncode == 0, passing.stderr
    assert f"accuracy gate passed: test accuracy {accuracy:.4f} >= --min_accuracy" in passing.stdout
