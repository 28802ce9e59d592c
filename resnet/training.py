"""The training library behind train.py: configuration, presets, preflight, fit, gates.

A run is described by a `TrainConfig` (one field per train.py flag). `train(config)`
builds the model and data under a `tf.distribute` strategy, runs the preflight
verification, trains with Keras `fit` and its callbacks (TensorBoard, checkpoints,
backup-and-restore, NaN guard), evaluates on the test split, exports the model and
writes results.json. The accuracy gates and JUnit XML live in `resnet.results`.

Weight decay is the paper's: an L2 penalty on convolution and dense kernels only
(never BatchNorm gamma/beta, never biases), added to the loss through each layer's
`kernel_regularizer` as `weight_decay / 2 * ||w||^2`. Its gradient is
`weight_decay * w`, which SGD with momentum then treats like any other gradient:
exactly the coupled weight decay of the paper's SGD (1e-4). Keras' optimizer
`weight_decay` argument is the decoupled kind (AdamW-style, scaled by the learning
rate and applied outside momentum), which is a different algorithm.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import resnet
from resnet import blocks, callbacks, results, schedules, specs

MIXED_PRECISION = ("none", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multi_worker")
# Batches of training data the preflight data check looks at.
PREFLIGHT_BATCHES = 3


class ConfigError(ValueError):
    """A flag value (or combination) that cannot make a run; the message is one line."""


class PreflightError(RuntimeError):
    """The model or the data failed verification before training; the message is the report."""


class DivergedError(RuntimeError):
    """The loss became NaN or infinite; training stopped."""


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
                raise ConfigError(f"--lr_boundaries must be a comma-separated list of step numbers; got {value!r}.") from None
        kwargs[key] = value
    return TrainConfig(**kwargs)


def replica_count(config: TrainConfig) -> int:
    """How many replicas the run's strategy will have, without creating it.

    Mirrored: one per GPU, or `cpu_replicas` logical CPUs without GPUs.
    Multi-worker: the workers in TF_CONFIG times each worker's local replicas.
    """
    if config.strategy == "default":
        return 1
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

    Raises:
      ConfigError: With a one-line message naming the flag, the value and what is
        valid.
    """
    from resnet import data  # data's module-level work is cheap: names and constants

    _check(config.preset is None or config.preset in PRESETS, f"Unknown --preset {config.preset!r}; valid: {', '.join(PRESETS)}.")
    try:
        specs.get_spec(config.model)
    except ValueError as error:
        raise ConfigError(f"--model: {error}") from None
    _check_choice("variant", config.variant, blocks.VARIANTS)
    if config.shortcut is not None:
        _check_choice("shortcut", config.shortcut, blocks.SHORTCUTS)
    if config.stem is not None:
        _check_choice("stem", config.stem, specs.STEMS)
    _check_choice("dataset", config.dataset, data.DATASETS)
    if config.data_dir is not None:
        _check(os.path.isdir(config.data_dir), f"--data_dir {config.data_dir!r} does not exist or is not a directory.")
    _check_choice("mixed_precision", config.mixed_precision, MIXED_PRECISION)
    _check_choice("strategy", config.strategy, STRATEGIES)
    _check_choice("lr_schedule", config.lr_schedule, schedules.SCHEDULES)
    for name in ("batch_size",):
        _check_positive_int(name, getattr(config, name))
    for name in ("epochs", "steps", "train_examples"):
        if getattr(config, name) is not None:
            _check_positive_int(name, getattr(config, name))
    _check(config.epochs is None or config.steps is None, "Give --epochs or --steps, not both.")
    _check(isinstance(config.validation_size, int) and config.validation_size >= 0,
           f"--validation_size must be an integer >= 0; got {config.validation_size!r}.")
    _check(isinstance(config.cpu_replicas, int) and config.cpu_replicas >= 0,
           f"--cpu_replicas must be an integer >= 0; got {config.cpu_replicas!r}.")
    _check(isinstance(config.seed, int) and config.seed >= 0, f"--seed must be an integer >= 0; got {config.seed!r}.")
    _check(config.weight_decay >= 0, f"--weight_decay must be >= 0; got {config.weight_decay!r}.")
    _check(0 <= config.momentum < 1, f"--momentum must be in [0, 1); got {config.momentum!r}.")
    _check(0 <= config.label_smoothing < 1, f"--label_smoothing must be in [0, 1); got {config.label_smoothing!r}.")
    _check(0 <= config.min_accuracy <= 1, f"--min_accuracy must be in [0, 1]; got {config.min_accuracy!r}.")
    _check(0 <= config.max_drop <= 1, f"--max_drop must be in [0, 1]; got {config.max_drop!r}.")
    if config.baseline is not None:
        try:
            results.read_results(config.baseline)
        except ValueError as error:
            raise ConfigError(f"--baseline: {error}") from None
    if config.strategy == "multi_worker":
        cluster = _tf_config().get("cluster", {})
        _check(bool(cluster.get("worker") or cluster.get("chief")),
               "--strategy=multi_worker needs TF_CONFIG with a cluster of workers, e.g. "
               '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}.')
    if config.cpu_replicas > 1:
        _check(config.strategy == "mirrored", f"--cpu_replicas={config.cpu_replicas} only applies to --strategy=mirrored.")
    replicas = replica_count(config)
    _check(config.batch_size % replicas == 0,
           f"--batch_size={config.batch_size} must be divisible by the {replicas} replicas of --strategy={config.strategy}.")

    try:
        info = data.dataset_info(config.dataset, data_dir=config.data_dir, validation_size=config.validation_size)
    except ValueError as error:
        raise ConfigError(f"--validation_size: {error}") from None
    spe = steps_per_epoch(config, train_size(config, info))
    _check(spe >= 1, f"--batch_size={config.batch_size} is larger than the {train_size(config, info)} training examples.")
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


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _check_choice(flag: str, value, valid: Iterable) -> None:
    valid = tuple(valid)
    _check(value in valid, f"Unknown --{flag} {value!r}; valid: {', '.join(map(str, valid))}.")


def _check_positive_int(flag: str, value) -> None:
    _check(isinstance(value, int) and not isinstance(value, bool) and value >= 1,
           f"--{flag} must be a positive integer; got {value!r}.")


# ----------------------------------------------------------------------------------
# The run.


def default_model_dir(config: TrainConfig) -> str:
    """Where a run writes when --model_dir is not given: runs/<preset or model_dataset>."""
    return os.path.join("runs", config.preset or f"{config.model}_{config.dataset}")


def make_strategy(config: TrainConfig) -> tf.distribute.Strategy:
    """The `tf.distribute` strategy --strategy asks for.

    Must run before TensorFlow initialises its devices: splitting the CPU into
    logical devices (--cpu_replicas, to test mirrored training without GPUs) and
    the multi-worker strategy both need that.
    """
    if config.strategy == "default":
        return tf.distribute.get_strategy()
    if config.strategy == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return tf.distribute.MirroredStrategy([f"/gpu:{i}" for i in range(len(gpus))])
    count = max(1, config.cpu_replicas)
    cpu = tf.config.list_physical_devices("CPU")[0]
    if count > 1:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(count)])


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files (the chief, or worker 0 without one)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def weight_decay_regularizer(weight_decay: float) -> keras.regularizers.Regularizer | None:
    """The L2 penalty whose gradient is `weight_decay * w` (SGD weight decay), or None.

    Keras' `L2(l2)` adds `l2 * sum(w**2)`, whose gradient is `2 * l2 * w`; the paper's
    weight decay of 1e-4 is therefore `L2(0.5e-4)`.
    """
    return keras.regularizers.L2(weight_decay / 2) if weight_decay else None


def build_model(config: TrainConfig, info) -> keras.Model:
    """The ResNet `config` describes, for `info`'s images and classes (uncompiled).

    Weight decay goes to every convolution and dense kernel through the builder's
    `kernel_regularizer`; BatchNorm parameters and biases get none.
    """
    return resnet.build_resnet(
        specs.get_spec(config.model),
        num_classes=info.num_classes,
        input_shape=tuple(info.image_shape),
        variant=config.variant,
        shortcut=config.shortcut,
        stem=config.stem,
        zero_init_residual=config.zero_init_residual,
        kernel_regularizer=weight_decay_regularizer(config.weight_decay),
    )


def compile_model(model: keras.Model, config: TrainConfig, total: int) -> None:
    """SGD with momentum on the configured schedule; cross-entropy on logits."""
    schedule = schedules.build_schedule(
        config.lr_schedule,
        learning_rate=config.learning_rate,
        total_steps=total,
        boundaries=config.lr_boundaries or None,
        decay_factor=config.lr_decay_factor,
        warmup_steps=config.warmup_steps,
        warmup_learning_rate=config.warmup_learning_rate,
    )
    optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=config.momentum, nesterov=config.nesterov)
    if config.mixed_precision == "mixed_float16":
        # float16 gradients underflow without loss scaling (bfloat16 has float32's range).
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    if config.label_smoothing:
        # Keras' sparse cross-entropy has no label smoothing: labels go one-hot.
        loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=config.label_smoothing)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"], jit_compile=config.jit_compile)


def _labels_for_loss(config: TrainConfig, num_classes: int):
    if not config.label_smoothing:
        return lambda images, labels: (images, labels)
    return lambda images, labels: (images, tf.one_hot(labels, num_classes))


def training_dataset(config: TrainConfig, strategy: tf.distribute.Strategy, info, *, skip_steps: int = 0):
    """The endless stream of augmented training batches `fit` consumes.

    The pass over the data is repeated rather than restarted each epoch, so the
    batch at step s is a function of the seed and s alone: a run resumed at step
    s skips exactly the batches the interrupted run had used, and (with
    --deterministic) ends with the same weights as an uninterrupted one.

    Under a mirrored strategy the pipeline yields per-replica batches
    (`input_context`). Under the multi-worker strategy Keras gets the global
    batches and splits each between the workers itself (the pipeline's DATA
    auto-sharding): Keras 3's fit cannot yet consume a per-worker distributed
    dataset there (it fails converting the per-replica values to a tensor).
    """
    from resnet import data

    to_loss = _labels_for_loss(config, info.num_classes)

    def make(input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
        # Each step takes one batch per replica this pipeline feeds (make_dataset
        # divides the global batch size by the replicas itself).
        per_step = input_context.num_replicas_in_sync // input_context.num_input_pipelines if input_context else 1
        dataset = data.make_dataset(
            config.dataset, "train", batch_size=config.batch_size, training=True, data_dir=config.data_dir, seed=config.seed,
            validation_size=config.validation_size, input_context=input_context, num_examples=config.train_examples,
        ).repeat()
        if skip_steps:
            dataset = dataset.skip(skip_steps * per_step)
        return dataset.map(to_loss, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    if config.strategy == "mirrored" and strategy.num_replicas_in_sync > 1:
        return strategy.distribute_datasets_from_function(make)
    return make()


def evaluation_dataset(config: TrainConfig, info, split: str) -> tf.data.Dataset:
    """Batches of a held-out split, normalised only; Keras distributes it if needed."""
    from resnet import data

    dataset = data.make_dataset(
        config.dataset, split, batch_size=config.batch_size, training=False, data_dir=config.data_dir,
        seed=config.seed, validation_size=config.validation_size,
    )
    return dataset.map(_labels_for_loss(config, info.num_classes))


def preflight(model: keras.Model, config: TrainConfig, dataset: tf.data.Dataset, info) -> str:
    """Verifies the model's structure and a few batches of training data.

    Verification is what a preflight is for, so `verification` is imported here and
    only here: `resnet` stays importable without it and never imports it at module
    level.

    Args:
      model: The model about to be trained (its weights are left as they were).
      config: The run; its architecture options are what the model is checked
        against.
      dataset: Un-distributed training batches (images, integer labels).
      info: The dataset's `DatasetInfo` (classes, image shape).

    Returns:
      The reports, as text.

    Raises:
      PreflightError: If either check fails; the message is the full report.
    """
    import verification

    weights = model.get_weights()  # the structural check may load weights into the model
    try:
        structure = verification.verify_model(
            model, specs.get_spec(config.model).name, variant=config.variant, shortcut=config.shortcut, stem=config.stem
        )
    finally:
        model.set_weights(weights)
    data_report = verification.check_dataset(
        dataset, info.num_classes, image_shape=tuple(info.image_shape), training=True, max_batches=PREFLIGHT_BATCHES
    )
    text = f"{structure}\n{data_report}"
    if not (structure.passed and data_report.passed):
        raise PreflightError(f"Preflight verification failed; training not started.\n{text}")
    return text


def _plain_training_batches(config: TrainConfig) -> tf.data.Dataset:
    """Un-distributed training batches for the preflight and TensorBoard's samples."""
    from resnet import data

    dataset = data.make_dataset(
        config.dataset, "train", batch_size=min(config.batch_size, 64), training=True, data_dir=config.data_dir,
        seed=config.seed, validation_size=config.validation_size, num_examples=config.train_examples,
    )
    return dataset


def _gradient_norms(model, images, labels) -> dict:
    # Per-stage gradient norms are a check of `verification`'s; imported when first
    # used, as in the preflight, so resnet/ does not import verification/ at load.
    import verification

    return verification.stage_gradient_norms(model, images, labels)


class _GradientNormProbe:
    """Computes per-stage gradient norms on a private copy of the model.

    The copy lives outside any distribution strategy and gets the live weights
    before each measurement, so measuring never touches the trained model's
    BatchNorm statistics or its distributed variables.
    """

    def __init__(self, model: keras.Model):
        self.copy = keras.models.clone_model(model)

    def __call__(self, model, images, labels) -> dict:
        self.copy.set_weights(model.get_weights())
        return _gradient_norms(self.copy, images, labels)


def _work_around_keras_multi_worker(model: keras.Model, strategy: tf.distribute.Strategy, batch) -> None:
    """Lets Keras 3's `fit` run under `MultiWorkerMirroredStrategy`.

    Keras 3.15's TensorFlow trainer fails there in two places (tensorflow/tensorflow
    issue 72388; tf_keras works): before the first step it all-reduces a
    distributed data batch to build the model symbolically, and after each step it
    all-reduces the scalar metrics with `axis=0`. Both raise. Here the model is
    built symbolically from one local batch instead, and scalar results are
    averaged over the workers with `axis=None`. Applied only under this strategy.

    Args:
      model: The compiled model.
      strategy: The multi-worker strategy it was built under.
      batch: One un-distributed (images, labels) batch, for shapes and dtypes.
    """
    from keras.src.backend.tensorflow import trainer as tf_trainer  # the code being repaired

    with strategy.scope():
        model._symbolic_build(data_batch=batch)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    original = getattr(tf_trainer.reduce_per_replica, "original", tf_trainer.reduce_per_replica)

    def reduce_per_replica(values, reduce_strategy, reduction):
        if reduction in ("auto", "mean") and isinstance(reduce_strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return tf.nest.map_structure(
                lambda v: reduce_strategy.reduce("MEAN", v, axis=None) if isinstance(v, tf.distribute.DistributedValues) else v,
                values,
            )
        return original(values, reduce_strategy, reduction)

    reduce_per_replica.original = original
    tf_trainer.reduce_per_replica = reduce_per_replica


def _atomic_export_saved_model(model: keras.Model, path: str) -> None:
    parent = os.path.dirname(os.path.abspath(path))
    temporary = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(path)}.")
    try:
        target = os.path.join(temporary, "export")
        model.export(target, format="tf_saved_model", verbose=False)
        if os.path.exists(path):
            old = os.path.join(temporary, "old")
            os.replace(path, old)
        os.replace(target, path)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _atomic_save_keras(model: keras.Model, path: str) -> None:
    callbacks._atomic_save(lambda p: model.save(p, overwrite=True), path)


def versions() -> dict:
    """Versions that make a result reproducible."""
    return {
        "python": sys.version.split()[0],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "resnet": resnet.__version__,
    }


def train(config: TrainConfig) -> dict:
    """Runs the whole job: preflight, training, evaluation, export, gates.

    Args:
      config: The run (validated here again; train.py validates it first).

    Returns:
      The content of results.json, including "gates" and "passed".

    Raises:
      ConfigError: On invalid configuration.
      PreflightError: If the model or data fail verification.
      DivergedError: If the loss became NaN or infinite.
    """
    started = time.time()
    validate(config)
    from resnet import data

    # The strategy first: it configures devices, which must happen before any op.
    strategy = make_strategy(config)
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    if config.mixed_precision != "none":
        keras.config.set_dtype_policy(config.mixed_precision)

    # Making a dataset prepares CIFAR-10 on first use; the split sizes are then the
    # prepared ones (before, dataset_info can only give the official sizes).
    sample = _plain_training_batches(config)
    info = data.dataset_info(config.dataset, data_dir=config.data_dir, validation_size=config.validation_size)
    model_dir = config.model_dir or default_model_dir(config)
    chief = is_chief(strategy)
    # Workers other than the chief write what they must (their backups) beside it.
    work_dir = model_dir if chief else os.path.join(model_dir, f".worker-{strategy.cluster_resolver.task_id}")
    os.makedirs(work_dir, exist_ok=True)
    log_dir = os.path.join(model_dir, "logs")

    spe = steps_per_epoch(config, train_size(config, info))
    total = total_steps(config, spe)
    epochs = math.ceil(total / spe)
    backup = callbacks.AtomicBackupAndRestore(os.path.join(work_dir, "backup"))
    resumed_from = backup.latest()[0]

    with strategy.scope():
        model = build_model(config, info)
        compile_model(model, config, total)
    if config.strategy == "multi_worker":
        _work_around_keras_multi_worker(model, strategy, next(iter(sample.map(_labels_for_loss(config, info.num_classes)))))
    if config.preflight:
        print(preflight(model, config, sample, info), flush=True)

    eval_split = "validation" if config.validation_size else "test"
    nan_guard = callbacks.TerminateOnNaN()
    run_callbacks: list[keras.callbacks.Callback] = [backup, nan_guard]
    if config.steps:
        run_callbacks.append(callbacks.StopAtStep(config.steps))
    if chief:
        images, labels = next(iter(sample))
        run_callbacks += [
            keras.callbacks.TensorBoard(log_dir=log_dir, histogram_freq=1, write_graph=True, update_freq="epoch"),
            callbacks.InputImages(log_dir, images, mean=info.mean, std=info.std,
                                  png_path=os.path.join(model_dir, "input_images.png")),
            callbacks.StageGradientNorms(log_dir, images, labels, _GradientNormProbe(model)),
            callbacks.AtomicModelCheckpoint(os.path.join(model_dir, "checkpoints", "epoch-{epoch:04d}.keras")),
        ]

    fit_started = time.time()
    history = model.fit(
        training_dataset(config, strategy, info, skip_steps=resumed_from * spe),
        epochs=epochs,
        steps_per_epoch=spe,
        validation_data=evaluation_dataset(config, info, eval_split),
        callbacks=run_callbacks,
        shuffle=False,  # the pipeline shuffles, seeded
        verbose=1 if config.progress else 2,
    )
    fit_seconds = time.time() - fit_started
    if nan_guard.bad_step is not None:
        raise DivergedError(
            f"Training diverged: the loss became {nan_guard.bad_loss} at step {nan_guard.bad_step}; "
            f"try a lower --learning_rate (was {config.learning_rate}) or a warm-up (--warmup_steps)."
        )

    steps_done = int(model.optimizer.iterations.numpy())
    test_loss, test_accuracy = model.evaluate(evaluation_dataset(config, info, "test"), verbose=0)
    if config.mixed_precision != "none":
        keras.config.set_dtype_policy("float32")
    eval_accuracy = history.history.get("val_accuracy", [])
    record = {
        "model": specs.get_spec(config.model).name,
        "dataset": config.dataset,
        "preset": config.preset,
        "seed": config.seed,
        "config": config.to_dict(),
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "eval_split": eval_split,
        "final_eval_accuracy": float(eval_accuracy[-1]) if eval_accuracy else None,
        "best_eval_accuracy": float(max(eval_accuracy)) if eval_accuracy else None,
        "epochs": epochs,
        "steps": steps_done,
        "steps_per_epoch": spe,
        "resumed_from_epoch": resumed_from,
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
        "replicas": strategy.num_replicas_in_sync,
        "strategy": config.strategy,
        "train_time_s": fit_seconds,
        "train_images_per_second": (steps_done - resumed_from * spe) * config.batch_size / max(fit_seconds, 1e-9),
        "wall_time_s": None,
        "versions": versions(),
        "model_dir": os.path.abspath(model_dir),
    }
    if chief and config.export:
        _atomic_save_keras(model, os.path.join(model_dir, "model.keras"))
        _atomic_export_saved_model(model, os.path.join(model_dir, "saved_model"))
    record["wall_time_s"] = time.time() - started
    finalize(record, config, model_dir, write=chief, suite=f"train.{record['model']}.{config.dataset}")
    if not chief:
        shutil.rmtree(work_dir, ignore_errors=True)  # only held this worker's backup
    return record


def finalize(record: dict, config, model_dir: str, *, write: bool, suite: str) -> None:
    """Applies the gates to `record`, then writes results.json and the JUnit XML.

    Shared by train.py and evaluate.py. Adds "gates" (one entry per gate) and
    "passed" to `record`.

    Args:
      record: The run's results; needs "test_accuracy".
      config: Anything with min_accuracy, baseline, max_drop and junit_xml.
      model_dir: Where results.json goes.
      write: Whether this process writes files (the chief).
      suite: The JUnit test-suite name.
    """
    gates = [results.accuracy_gate(record["test_accuracy"], config.min_accuracy)]
    if config.baseline:
        gates.append(results.baseline_gate(record["test_accuracy"], results.read_results(config.baseline),
                                           config.max_drop, source=config.baseline))
    record["gates"] = [dataclasses.asdict(gate) for gate in gates]
    record["passed"] = all(gate.passed for gate in gates)
    if not write:
        return
    results.write_json(os.path.join(model_dir, results.RESULTS_FILE), record)
    if config.junit_xml:
        results.write_junit_xml(
            config.junit_xml, gates, suite=suite, time_s=record.get("wall_time_s") or 0.0,
            properties={"model": record["model"], "dataset": record["dataset"],
                        "test_accuracy": f"{record['test_accuracy']:.4f}"},
        )


# ----------------------------------------------------------------------------------
# Evaluation of a saved model (evaluate.py).

EVAL_SPLITS = ("test", "validation", "train")
_CHECKPOINT = re.compile(r"^epoch-(\d+)\.keras$")


@dataclasses.dataclass
class EvalConfig:
    """Everything that defines an evaluation; evaluate.py has one flag per field."""

    model_path: str = ""
    dataset: str = "cifar10"
    data_dir: str | None = None
    split: str = "test"
    validation_size: int = 0
    batch_size: int = 256
    output_dir: str | None = None
    min_accuracy: float = 0.0
    baseline: str | None = None
    max_drop: float = 0.01
    junit_xml: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def find_model(path: str) -> tuple[str, str]:
    """Resolves what --model_path names into (file or directory, kind).

    Args:
      path: A `.keras` file, a SavedModel directory, or a training --model_dir (its
        newest checkpoint, else its model.keras).

    Returns:
      (path, "keras" or "saved_model").

    Raises:
      ConfigError: If nothing loadable is there.
    """
    if os.path.isfile(path) and path.endswith(".keras"):
        return path, "keras"
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            return path, "saved_model"
        checkpoints = os.path.join(path, "checkpoints")
        found = []
        for name in os.listdir(checkpoints) if os.path.isdir(checkpoints) else ():
            match = _CHECKPOINT.match(name)
            if match:
                found.append((int(match.group(1)), os.path.join(checkpoints, name)))
        if found:
            return max(found)[1], "keras"
        if os.path.isfile(os.path.join(path, "model.keras")):
            return os.path.join(path, "model.keras"), "keras"
    raise ConfigError(
        f"--model_path {path!r} is not a .keras file, a SavedModel directory, or a model_dir with "
        "checkpoints/epoch-N.keras or model.keras."
    )


def validate_eval(config: EvalConfig) -> tuple[str, str]:
    """Checks evaluate.py's flags; returns `find_model(config.model_path)`.

    Raises:
      ConfigError: With a one-line message.
    """
    from resnet import data

    _check(bool(config.model_path), "--model_path is required: a .keras file, a SavedModel directory or a model_dir.")
    found = find_model(config.model_path)
    _check_choice("dataset", config.dataset, data.DATASETS)
    _check_choice("split", config.split, EVAL_SPLITS)
    if config.data_dir is not None:
        _check(os.path.isdir(config.data_dir), f"--data_dir {config.data_dir!r} does not exist or is not a directory.")
    _check_positive_int("batch_size", config.batch_size)
    _check(isinstance(config.validation_size, int) and config.validation_size >= 0,
           f"--validation_size must be an integer >= 0; got {config.validation_size!r}.")
    _check(config.split != "validation" or config.validation_size > 0,
           "--split=validation needs --validation_size > 0 (the examples held out of the train split).")
    _check(0 <= config.min_accuracy <= 1, f"--min_accuracy must be in [0, 1]; got {config.min_accuracy!r}.")
    _check(0 <= config.max_drop <= 1, f"--max_drop must be in [0, 1]; got {config.max_drop!r}.")
    if config.baseline is not None:
        try:
            results.read_results(config.baseline)
        except ValueError as error:
            raise ConfigError(f"--baseline: {error}") from None
    return found


def load_predictor(path: str, kind: str):
    """A function from a batch of images to logits, for a .keras file or a SavedModel."""
    if kind == "keras":
        model = keras.models.load_model(path, compile=False)
        return lambda images: model(images, training=False), model.output_shape[-1]
    loaded = tf.saved_model.load(path)

    def predict(images):
        # Refers to `loaded` itself: its variables live only as long as it does.
        outputs = loaded.serve(images) if hasattr(loaded, "serve") else loaded.signatures["serving_default"](images)
        return next(iter(outputs.values())) if isinstance(outputs, dict) else outputs

    return predict, None


def evaluate(config: EvalConfig) -> dict:
    """Evaluates a saved model on a split: accuracy, loss, per-class accuracy, confusion.

    Writes results.json, confusion_matrix.png (and the JUnit XML, if asked) into
    --output_dir (default: `evaluation_<split>` beside the model).

    Returns:
      The content of results.json, with "gates" and "passed".

    Raises:
      ConfigError: On invalid flags, or a model that does not fit the dataset.
    """
    started = time.time()
    path, kind = validate_eval(config)
    from resnet import data

    info = data.dataset_info(config.dataset, data_dir=config.data_dir)
    predict, outputs = load_predictor(path, kind)
    _check(outputs in (None, info.num_classes),
           f"The model has {outputs} outputs but {config.dataset} has {info.num_classes} classes.")
    dataset = data.make_dataset(config.dataset, config.split, batch_size=config.batch_size, training=False,
                                data_dir=config.data_dir, validation_size=config.validation_size)
    labels, predictions, losses = [], [], []
    for images, batch_labels in dataset:
        logits = tf.cast(predict(images), tf.float32)
        losses.append(keras.losses.sparse_categorical_crossentropy(batch_labels, logits, from_logits=True).numpy())
        predictions.append(np.argmax(logits.numpy(), axis=-1))
        labels.append(batch_labels.numpy())
    labels, predictions = np.concatenate(labels), np.concatenate(predictions)
    matrix = results.confusion_matrix(labels, predictions, info.num_classes)
    # Beside the model: in the model_dir it was found in, else in the file's or
    # SavedModel's parent directory.
    found_in_model_dir = os.path.isdir(config.model_path) and kind == "keras"
    beside = config.model_path if found_in_model_dir else os.path.dirname(os.path.abspath(config.model_path))
    model_dir = config.output_dir or os.path.join(beside, f"evaluation_{config.split}")
    os.makedirs(model_dir, exist_ok=True)
    from resnet import images as image_utils

    image_utils.write_png(os.path.join(model_dir, "confusion_matrix.png"), results.confusion_image(matrix))
    record = {
        "model_path": os.path.abspath(path),
        "model_format": kind,
        "model": os.path.basename(path),
        "dataset": config.dataset,
        "split": config.split,
        "examples": int(len(labels)),
        "test_accuracy": float(np.mean(labels == predictions)),
        "test_loss": float(np.mean(np.concatenate(losses))),
        "per_class_accuracy": results.per_class_accuracy(matrix).tolist(),
        "class_names": list(info.class_names),
        "confusion_matrix": matrix.tolist(),
        "config": config.to_dict(),
        "versions": versions(),
        "wall_time_s": time.time() - started,
        "output_dir": model_dir,
    }
    record["confusion_text"] = results.format_confusion(matrix, info.class_names)
    finalize(record, config, model_dir, write=True, suite=f"evaluate.{config.dataset}.{config.split}")
    return record
