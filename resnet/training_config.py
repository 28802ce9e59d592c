"""Training-run configuration: the flags as a dataclass, presets, and their validation.

`TrainConfig` has one field per train.py flag. `PRESETS` are named sets of flag
values (the smoke demo, the paper's CIFAR recipes, the nightly regression job);
`apply_preset` merges one under the flags given explicitly. `validate` checks a
configuration before anything heavy starts and raises `ConfigError` with a one-line
message naming the flag, the value and what is valid.

This module imports no TensorFlow (train.py validates its flags before loading it);
the few checks that need it import it where they run.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

from resnet import results, schedules, specs
from resnet.data import info as data_info

MIXED_PRECISION = ("none", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multi_worker")


class ConfigError(ValueError):
    """A flag value (or combination) that cannot make a run; the message is one line."""


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a training run; train.py has one flag per field.

    See train.py's `--helpfull` for the meaning of each field.
    """

    model: str = "resnet20"
    variant: str = "v1.5"
    shortcut: str | None = None
    stem: str | None = None
    zero_init_residual: bool = False
    dataset: str = "cifar10"
    data_dir: str | None = None
    validation_size: int = 0
    train_examples: int | None = None
    model_dir: str | None = None
    epochs: int | None = None
    steps: int | None = None
    batch_size: int = 128
    learning_rate: float = 0.1
    lr_schedule: str = "step"
    lr_boundaries: tuple[int, ...] = ()
    lr_decay_factor: float = 0.1
    warmup_steps: int = 0
    warmup_learning_rate: float | None = None
    weight_decay: float = 1e-4
    momentum: float = 0.9
    nesterov: bool = False
    label_smoothing: float = 0.0
    mixed_precision: str = "none"
    jit_compile: bool = False
    strategy: str = "default"
    cpu_replicas: int = 0
    seed: int = 0
    deterministic: bool = False
    preflight: bool = True
    min_accuracy: float = 0.0
    baseline: str | None = None
    max_drop: float = 0.01
    junit_xml: str | None = None
    export: bool = True
    progress: bool = True
    preset: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# The number of epochs when neither --epochs nor --steps is given.
DEFAULT_EPOCHS = 10


def _paper_cifar(depth: int) -> dict:
    """The paper's CIFAR-10 recipe (section 4.2) for ResNet-`depth`."""
    preset = dict(
        model=f"resnet{depth}",
        dataset="cifar10",
        shortcut="A",
        batch_size=128,
        learning_rate=0.1,
        lr_schedule="step",
        lr_boundaries=(32000, 48000),
        lr_decay_factor=0.1,
        steps=64000,
        weight_decay=1e-4,
        momentum=0.9,
    )
    if depth == 110:
        # "we use 0.01 to warm up the training until the training error is below 80%
        # (about 400 iterations), and then go back to 0.1".
        preset.update(warmup_steps=400, warmup_learning_rate=0.01)
    return preset


# Named sets of flag values; flags given on the command line override them.
PRESETS: dict[str, dict[str, Any]] = {
    # The one-command demo: offline, about two minutes on 2 CPU cores.
    "smoke": dict(
        model="resnet20",
        dataset="digits",
        epochs=15,
        batch_size=64,
        learning_rate=0.1,
        lr_schedule="cosine",
        warmup_steps=20,
        weight_decay=5e-4,
        momentum=0.9,
        seed=0,
        min_accuracy=0.95,
    ),
    **{f"paper_resnet{d}": _paper_cifar(d) for d in (20, 32, 44, 56, 110)},
    # ImageNet ResNet-18 with the 3x3 CIFAR stem (no 7x7/2 conv, no max-pool) on
    # CIFAR-10, trained with the paper's CIFAR recipe.
    "resnet18_cifar": {**_paper_cifar(20), "model": "resnet18", "stem": "cifar", "shortcut": "B"},
    # The nightly regression job: the paper's ResNet-20 recipe, a fixed seed,
    # deterministic ops, and a threshold below the paper's 91.25% with room for
    # run-to-run noise.
    "nightly": {**_paper_cifar(20), "seed": 1234, "deterministic": True, "min_accuracy": 0.90},
}


def apply_preset(values: Mapping[str, Any], explicit: Iterable[str]) -> dict:
    """Merges `values["preset"]`'s flag values under the explicitly given flags.

    Args:
      values: Flag name -> value, defaults included.
      explicit: Names of the flags given on the command line; they win over the
        preset. `--epochs` and `--steps` are one choice: giving either explicitly
        drops the preset's other one.

    Returns:
      The merged values.

    Raises:
      ConfigError: On an unknown preset, or both --epochs and --steps given.
    """
    explicit = set(explicit)
    merged = dict(values)
    if "epochs" in explicit and "steps" in explicit and values.get("epochs") and values.get("steps"):
        raise ConfigError("Give --epochs or --steps, not both.")
    name = values.get("preset")
    if not name:
        return merged
    if name not in PRESETS:
        raise ConfigError(f"Unknown preset {name!r}; valid: {', '.join(PRESETS)}.")
    for key, value in PRESETS[name].items():
        if key in explicit:
            continue
        if key in ("epochs", "steps") and explicit & {"epochs", "steps"}:
            continue
        merged[key] = value
    return merged


def config_from_values(values: Mapping[str, Any]) -> TrainConfig:
    """A `TrainConfig` from flag values; unknown keys are ignored, empty strings mean None."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            continue
        if value == "" and fields[key].default is None:
            value = None
        if key == "lr_boundaries":
            try:
                value = tuple(int(v) for v in value or ())
            except (TypeError, ValueError):
                raise ConfigError(
                    f"--lr_boundaries must be a comma-separated list of step numbers; got {value!r}."
                ) from None
        kwargs[key] = value
    return TrainConfig(**kwargs)


def replica_count(config: TrainConfig) -> int:
    """How many replicas the run's strategy will have, without creating it.

    Mirrored: one per GPU, or `cpu_replicas` logical CPUs without GPUs.
    Multi-worker: the workers in TF_CONFIG times each worker's local replicas.
    """
    if config.strategy == "default":
        return 1
    import tensorflow as tf  # only distributed runs need the device count

    local = len(tf.config.list_physical_devices("GPU")) or max(1, config.cpu_replicas)
    if config.strategy == "mirrored":
        return local
    cluster = _tf_config().get("cluster", {})
    return (len(cluster.get("worker", [])) + len(cluster.get("chief", []))) * local


def _tf_config() -> dict:
    text = os.environ.get("TF_CONFIG", "")
    try:
        data = json.loads(text) if text else {}
    except json.JSONDecodeError as error:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({error}); --strategy=multi_worker needs it.") from None
    return data if isinstance(data, dict) else {}


def steps_per_epoch(config: TrainConfig, train_size: int) -> int:
    """Full global batches in one pass over the training examples."""
    return train_size // config.batch_size


def train_size(config: TrainConfig, info) -> int:
    """Examples the run trains on: `info`'s train split, capped by --train_examples.

    `info` is `data.dataset_info(..., validation_size=config.validation_size)`, whose
    train split already excludes the validation examples.
    """
    size = info.split_sizes["train"]
    return min(size, config.train_examples) if config.train_examples else size


def total_steps(config: TrainConfig, spe: int) -> int:
    """Optimizer steps of the whole run."""
    return config.steps if config.steps else spe * (config.epochs or DEFAULT_EPOCHS)


def validate(config: TrainConfig) -> None:
    """Checks every flag value before anything heavy starts.

    The checks that need only this module's pure-Python imports run first, so that
    train.py rejects most bad flags without loading TensorFlow; the replica count of a
    distributed strategy and the dataset's size (and the checks that depend on them)
    come after, as finding those loads TensorFlow.

    Raises:
      ConfigError: With a one-line message naming the flag, the value and what is
        valid.
    """
    check(
        config.preset is None or config.preset in PRESETS,
        f"Unknown --preset {config.preset!r}; valid: {', '.join(PRESETS)}.",
    )
    try:
        specs.get_spec(config.model)
    except ValueError as error:
        raise ConfigError(f"--model: {error}") from None
    check_choice("variant", config.variant, specs.VARIANTS)
    if config.shortcut is not None:
        check_choice("shortcut", config.shortcut, specs.SHORTCUTS)
    if config.stem is not None:
        check_choice("stem", config.stem, specs.STEMS)
    check_choice("dataset", config.dataset, data_info.DATASETS)
    if config.data_dir is not None:
        check(os.path.isdir(config.data_dir), f"--data_dir {config.data_dir!r} does not exist or is not a directory.")
    check_choice("mixed_precision", config.mixed_precision, MIXED_PRECISION)
    check_choice("strategy", config.strategy, STRATEGIES)
    check_choice("lr_schedule", config.lr_schedule, schedules.SCHEDULES)
    for name in ("batch_size",):
        check_positive_int(name, getattr(config, name))
    for name in ("epochs", "steps", "train_examples"):
        if getattr(config, name) is not None:
            check_positive_int(name, getattr(config, name))
    check(config.epochs is None or config.steps is None, "Give --epochs or --steps, not both.")
    check(
        isinstance(config.validation_size, int) and config.validation_size >= 0,
        f"--validation_size must be an integer >= 0; got {config.validation_size!r}.",
    )
    check(
        isinstance(config.cpu_replicas, int) and config.cpu_replicas >= 0,
        f"--cpu_replicas must be an integer >= 0; got {config.cpu_replicas!r}.",
    )
    check(isinstance(config.seed, int) and config.seed >= 0, f"--seed must be an integer >= 0; got {config.seed!r}.")
    check(config.weight_decay >= 0, f"--weight_decay must be >= 0; got {config.weight_decay!r}.")
    check(0 <= config.momentum < 1, f"--momentum must be in [0, 1); got {config.momentum!r}.")
    check(0 <= config.label_smoothing < 1, f"--label_smoothing must be in [0, 1); got {config.label_smoothing!r}.")
    validate_gates(config)
    if config.strategy == "multi_worker":
        cluster = _tf_config().get("cluster", {})
        check(
            bool(cluster.get("worker") or cluster.get("chief")),
            "--strategy=multi_worker needs TF_CONFIG with a cluster of workers, e.g. "
            '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}.',
        )
    if config.cpu_replicas > 1:
        check(
            config.strategy == "mirrored", f"--cpu_replicas={config.cpu_replicas} only applies to --strategy=mirrored."
        )

    # From here on TensorFlow is loaded: by a distributed strategy's device count, and
    # by dataset_info (tf.data; CIFAR-10's prepared split sizes come from tensorflow-datasets).
    from resnet import data

    replicas = replica_count(config)
    check(
        config.batch_size % replicas == 0,
        f"--batch_size={config.batch_size} must be divisible by the {replicas} replicas of --strategy={config.strategy}.",
    )

    try:
        info = data.dataset_info(config.dataset, data_dir=config.data_dir, validation_size=config.validation_size)
    except ValueError as error:
        raise ConfigError(f"--validation_size: {error}") from None
    spe = steps_per_epoch(config, train_size(config, info))
    check(
        spe >= 1, f"--batch_size={config.batch_size} is larger than the {train_size(config, info)} training examples."
    )
    try:
        schedules.validate_schedule(
            config.lr_schedule,
            learning_rate=config.learning_rate,
            total_steps=total_steps(config, spe),
            boundaries=config.lr_boundaries,
            decay_factor=config.lr_decay_factor,
            warmup_steps=config.warmup_steps,
            warmup_learning_rate=config.warmup_learning_rate,
        )
    except ValueError as error:
        raise ConfigError(f"Learning-rate flags: {error}") from None


def validate_gates(config) -> None:
    """Checks the gate flags train.py and evaluate.py share (--min_accuracy, --max_drop, --baseline).

    Args:
      config: A config with `min_accuracy`, `max_drop` and `baseline` fields.

    Raises:
      ConfigError: With a one-line message.
    """
    check(0 <= config.min_accuracy <= 1, f"--min_accuracy must be in [0, 1]; got {config.min_accuracy!r}.")
    check(0 <= config.max_drop <= 1, f"--max_drop must be in [0, 1]; got {config.max_drop!r}.")
    if config.baseline is not None:
        try:
            results.read_results(config.baseline)
        except ValueError as error:
            raise ConfigError(f"--baseline: {error}") from None


def check(condition: bool, message: str) -> None:
    """Raises `ConfigError(message)` unless `condition`."""
    if not condition:
        raise ConfigError(message)


def check_choice(flag: str, value, valid: Iterable) -> None:
    """Checks that --`flag`'s `value` is one of `valid`."""
    valid = tuple(valid)
    check(value in valid, f"Unknown --{flag} {value!r}; valid: {', '.join(map(str, valid))}.")


def check_positive_int(flag: str, value) -> None:
    """Checks that --`flag`'s `value` is an integer >= 1."""
    check(
        isinstance(value, int) and not isinstance(value, bool) and value >= 1,
        f"--{flag} must be a positive integer; got {value!r}.",
    )
