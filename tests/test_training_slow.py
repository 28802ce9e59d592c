"""Real training runs through train.py: the smoke demo, kill and resume, distribution.

All @pytest.mark.slow (run with `python -m pytest -m slow`).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from test_training_run import tensorboard_tags

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def command(script, *args):
    return [sys.executable, os.path.join(ROOT, script), *args]


def run(script, *args, env=None, timeout=600):
    return subprocess.run(
        command(script, *args), capture_output=True, text=True, cwd=ROOT, env=env or ENV, timeout=timeout
    )


def results(model_dir):
    with open(os.path.join(model_dir, "results.json")) as stream:
        return json.load(stream)


def test_smoke_preset_trains_verifies_and_passes_its_gate(tmp_path):
    model_dir = tmp_path / "smoke"
    result = run("train.py", "--preset=smoke", f"--model_dir={model_dir}", "--noprogress")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resnet20 vs resnet20" in result.stdout and "check_dataset(training" in result.stdout
    assert "FAILED" not in result.stdout
    record = results(model_dir)
    assert record["preset"] == "smoke" and record["model"] == "resnet20" and record["dataset"] == "digits"
    assert record["test_accuracy"] >= 0.95 and record["passed"]
    assert record["steps"] == 15 * (1500 // 64)
    for name in ("model.keras", "saved_model/saved_model.pb", "checkpoints/epoch-0015.keras", "input_images.png"):
        assert os.path.exists(model_dir / name), name

    tags = tensorboard_tags(model_dir / "logs")
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate", "gradient_norm/conv3"} <= tags["tensors"]
    assert "input_images" in tags["tensors"]
    rates = []
    for path in (model_dir / "logs" / "train").iterdir():
        accumulator = event_accumulator.EventAccumulator(str(path), size_guidance={"tensors": 0})
        accumulator.Reload()
        if "epoch_learning_rate" in accumulator.Tags()["tensors"]:
            rates = [float(tf.make_ndarray(event.tensor_proto)) for event in accumulator.Tensors("epoch_learning_rate")]
    assert len(rates) == 15 and rates[-1] < rates[0] / 10  # the cosine schedule, logged per epoch

    # The same model through evaluate.py: the gate passes at the reached accuracy, fails above it.
    accuracy = record["test_accuracy"]
    passing = run("evaluate.py", f"--model_path={model_dir}", "--dataset=digits", f"--min_accuracy={accuracy:.4f}")
    assert passing.returncode == 0, passing.stderr[-2000:]
    evaluated = results(model_dir / "evaluation_test")
    assert evaluated["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    failing = run(
        "evaluate.py",
        f"--model_path={model_dir}/model.keras",
        "--dataset=digits",
        f"--min_accuracy={min(1.0, accuracy + 0.01):.4f}",
        f"--output_dir={tmp_path / 'eval'}",
    )
    assert failing.returncode == 1 and "accuracy gate FAILED" in failing.stderr.strip().splitlines()[-1]


RESUME_FLAGS = (
    "--model=resnet8",
    "--dataset=digits",
    "--epochs=4",
    "--batch_size=100",
    "--learning_rate=0.05",
    "--lr_schedule=cosine",
    "--weight_decay=5e-4",
    "--seed=7",
    "--deterministic",
    "--nopreflight",
    "--noexport",
    "--noprogress",
)


def final_weights(model_dir, epoch):
    return keras.models.load_model(os.path.join(model_dir, "checkpoints", f"epoch-{epoch:04d}.keras")).get_weights()


def test_killed_run_resumes_from_its_last_epoch_and_ends_with_the_same_weights(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    # The uninterrupted run doubles as the gate test of train.py: the gates do not
    # change training, and this short run cannot reach 0.999 nor stay within 0.001 of
    # a 0.9999 baseline, so it exits 1 with one line naming both failures.
    baseline, junit = tmp_path / "baseline.json", tmp_path / "junit.xml"
    baseline.write_text(json.dumps({"test_accuracy": 0.9999}))
    reference = run(
        "train.py",
        *RESUME_FLAGS,
        f"--model_dir={straight}",
        "--min_accuracy=0.999",
        f"--baseline={baseline}",
        "--max_drop=0.001",
        f"--junit_xml={junit}",
    )
    assert reference.returncode == 1, reference.stderr[-3000:]
    reason = reference.stderr.strip().splitlines()[-1]
    assert reason.startswith("train.py: error: accuracy gate FAILED: test accuracy ")
    assert "; baseline gate FAILED: " in reason and "--max_drop 0.0010" in reason
    assert 'failures="2"' in junit.read_text()

    process = subprocess.Popen(
        command("train.py", *RESUME_FLAGS, f"--model_dir={killed}"),
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    backup = killed / "backup" / "epoch-1.weights.h5"
    deadline = time.monotonic() + 600
    while not backup.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL  # killed mid-run, not finished
    assert not (killed / "results.json").exists()
    done = [name for name in os.listdir(killed / "backup") if not name.startswith(".")]
    assert len(done) == 1 and done[0].startswith("epoch-")
    epochs_done = int(done[0].split("-")[1].split(".")[0])

    resumed = run("train.py", *RESUME_FLAGS, f"--model_dir={killed}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    record, expected = results(killed), results(straight)
    assert record["resumed_from_epoch"] == epochs_done >= 1
    assert record["steps"] == expected["steps"] == 4 * 15
    assert len(record["history"]["loss"]) == 4 - epochs_done  # only the remaining epochs ran
    assert not (killed / "backup").exists()
    for ours, theirs in zip(final_weights(killed, 4), final_weights(straight, 4)):
        np.testing.assert_array_equal(ours, theirs)
    assert record["test_accuracy"] == expected["test_accuracy"]


DISTRIBUTED_FLAGS = (
    "--preset=smoke",
    "--model=resnet8",
    "--epochs=8",
    "--min_accuracy=0",
    "--noexport",
    "--noprogress",
)
# Distributed runs see other augmentation draws and per-replica BatchNorm statistics,
# so they match the single-device accuracy within run-to-run noise (297 test images).
TOLERANCE = 0.05


@pytest.fixture(scope="module")
def single_device(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("single")
    result = run("train.py", *DISTRIBUTED_FLAGS, f"--model_dir={model_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return results(model_dir)


def test_mirrored_on_two_logical_cpus_matches_single_device(single_device, tmp_path):
    result = run("train.py", *DISTRIBUTED_FLAGS, "--strategy=mirrored", "--cpu_replicas=2", f"--model_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    record = results(tmp_path)
    assert record["replicas"] == 2 and record["steps"] == single_device["steps"]
    assert single_device["test_accuracy"] >= 0.85
    assert abs(record["test_accuracy"] - single_device["test_accuracy"]) <= TOLERANCE


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_multi_worker_on_two_local_processes_matches_single_device(single_device, tmp_path):
    workers = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        processes.append(
            subprocess.Popen(
                command("train.py", *DISTRIBUTED_FLAGS, "--strategy=multi_worker", f"--model_dir={tmp_path}"),
                cwd=ROOT,
                env={**ENV, "TF_CONFIG": json.dumps(tf_config)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
    record = results(tmp_path)  # written by the chief (worker 0) only
    assert record["replicas"] == 2 and record["steps"] == single_device["steps"]
    assert abs(record["test_accuracy"] - single_device["test_accuracy"]) <= TOLERANCE
    assert sorted(name for name in os.listdir(tmp_path) if name.startswith(".")) == []
