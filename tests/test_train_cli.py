"""train.py's command line: help, presets, and bad flags rejected with one clear line."""

import dataclasses
import os
import subprocess
import sys

import pytest

from resnet import training_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_train(*args, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "train.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
    )


def test_helpfull_documents_every_flag():
    result = run_train("--helpfull")  # absl exits 1 after printing help
    assert "Train a reference ResNet" in result.stdout
    for field in dataclasses.fields(training_config.TrainConfig):
        assert f"--{field.name}:" in result.stdout or f"--[no]{field.name}:" in result.stdout, field.name


def test_bad_flag_exits_2_with_one_line_before_anything_starts(tmp_path):
    # The other bad values go through the same `validate` (tested in-process below).
    result = run_train("--model=resnet21", "--batch_size=64", f"--model_dir={tmp_path / 'run'}")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("train.py: error:")]
    assert len(errors) == 1 and errors[0].startswith(
        "train.py: error: --model: Unknown ResNet 'resnet21'; valid: resnet18, "
    )
    assert not (tmp_path / "run").exists()  # nothing was started


def valid(**changes):
    return dataclasses.replace(training_config.TrainConfig(dataset="synthetic"), **changes)


@pytest.mark.parametrize(
    "changes, expected",
    [
        (dict(model="resnet21"), "Unknown ResNet 'resnet21'"),
        (dict(batch_size=0), "--batch_size must be a positive integer; got 0."),
        (dict(dataset="imagenet"), "Unknown --dataset 'imagenet'; valid: cifar10, digits, synthetic."),
        (dict(data_dir="/no/such/dir"), "--data_dir '/no/such/dir' does not exist"),
        (
            dict(strategy="mirrored", cpu_replicas=3, batch_size=64),
            "--batch_size=64 must be divisible by the 3 replicas of --strategy=mirrored.",
        ),
        (dict(strategy="tpu"), "Unknown --strategy 'tpu'; valid: default, mirrored, multi_worker."),
        (dict(strategy="multi_worker"), "--strategy=multi_worker needs TF_CONFIG"),
        (dict(cpu_replicas=2), "--cpu_replicas=2 only applies to --strategy=mirrored."),
        (dict(mixed_precision="float8"), "Unknown --mixed_precision 'float8'"),
        (dict(variant="v3"), "Unknown --variant 'v3'; valid: v1, v1.5, v2."),
        (dict(epochs=0), "--epochs must be a positive integer; got 0."),
        (dict(epochs=2, steps=10), "Give --epochs or --steps, not both."),
        (dict(min_accuracy=1.5), "--min_accuracy must be in [0, 1]; got 1.5."),
        (dict(momentum=1.0), "--momentum must be in [0, 1)"),
        (dict(weight_decay=-1e-4), "--weight_decay must be >= 0"),
        (dict(label_smoothing=1.0), "--label_smoothing must be in [0, 1)"),
        (dict(validation_size=1024), "--validation_size: validation_size must be in [0, 1024)"),
        (dict(batch_size=2048), "--batch_size=2048 is larger than the 1024 training examples."),
        (dict(steps=100, lr_boundaries=(50, 200)), "before the last of 100 steps"),
        (
            dict(baseline="/no/such/results.json"),
            "--baseline: Baseline results file '/no/such/results.json' does not exist.",
        ),
        (dict(preset="fast"), "Unknown --preset 'fast'"),
    ],
)
def test_validate_names_the_flag_and_what_is_valid(changes, expected, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(training_config.ConfigError) as error:
        training_config.validate(valid(**changes))
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_valid_configurations_pass(monkeypatch):
    training_config.validate(valid())
    training_config.validate(valid(strategy="mirrored", cpu_replicas=2, batch_size=64, steps=10, lr_boundaries=(5,)))
    monkeypatch.setenv(
        "TF_CONFIG", '{"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": {"type": "worker", "index": 0}}'
    )
    training_config.validate(valid(strategy="multi_worker", batch_size=64))
    with pytest.raises(training_config.ConfigError, match="divisible by the 2 replicas of --strategy=multi_worker"):
        training_config.validate(valid(strategy="multi_worker", batch_size=63))


def test_presets_are_valid_configurations(tmp_path):
    for name in training_config.PRESETS:
        values = training_config.apply_preset(
            {**training_config.TrainConfig().to_dict(), "preset": name}, explicit=set()
        )
        config = training_config.config_from_values(values)
        assert config.preset == name
        training_config.validate(config)  # cifar10's facts need no data on disk


def test_paper_presets_follow_section_4_2():
    paper = training_config.PRESETS["paper_resnet56"]
    assert paper["model"] == "resnet56" and paper["dataset"] == "cifar10" and paper["shortcut"] == "A"
    assert (paper["batch_size"], paper["learning_rate"], paper["momentum"], paper["weight_decay"]) == (
        128,
        0.1,
        0.9,
        1e-4,
    )
    assert (paper["steps"], paper["lr_boundaries"], paper["lr_schedule"]) == (64000, (32000, 48000), "step")
    assert "warmup_steps" not in paper
    assert (
        training_config.PRESETS["paper_resnet110"]["warmup_steps"],
        training_config.PRESETS["paper_resnet110"]["warmup_learning_rate"],
    ) == (400, 0.01)
    assert (
        training_config.PRESETS["resnet18_cifar"]["model"] == "resnet18"
        and training_config.PRESETS["resnet18_cifar"]["stem"] == "cifar"
    )
    nightly = training_config.PRESETS["nightly"]
    assert nightly["dataset"] == "cifar10" and nightly["min_accuracy"] > 0 and nightly["deterministic"]


def test_explicit_flags_override_the_preset():
    defaults = training_config.TrainConfig().to_dict()
    merged = training_config.apply_preset(
        {**defaults, "preset": "paper_resnet20", "batch_size": 64}, explicit={"batch_size"}
    )
    assert merged["batch_size"] == 64 and merged["learning_rate"] == 0.1 and merged["steps"] == 64000
    # --epochs given explicitly replaces the preset's --steps.
    merged = training_config.apply_preset({**defaults, "preset": "paper_resnet20", "epochs": 3}, explicit={"epochs"})
    assert merged["epochs"] == 3 and merged["steps"] is None
    merged = training_config.apply_preset({**defaults, "preset": "smoke", "steps": 7}, explicit={"steps"})
    assert merged["steps"] == 7 and merged["epochs"] is None
    with pytest.raises(training_config.ConfigError, match="Unknown preset"):
        training_config.apply_preset({**defaults, "preset": "nope"}, explicit=set())


def test_lr_boundaries_flag_must_be_integers():
    with pytest.raises(training_config.ConfigError, match="--lr_boundaries must be a comma-separated list"):
        training_config.config_from_values({"lr_boundaries": ["32k"]})
    assert training_config.config_from_values({"lr_boundaries": ["3", "5"]}).lr_boundaries == (3, 5)
