"""The training library behind train.py: strategy, model, data, preflight, fit, export.

A run is described by a `resnet.training_config.TrainConfig` (one field per train.py
flag). `train(config)`
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
import math
import os
import shutil
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

import resnet
from resnet import callbacks, results, schedules, specs
from resnet.training_config import TrainConfig, steps_per_epoch, total_steps, train_size, validate

# Batches of training data the preflight data check looks at.
PREFLIGHT_BATCHES = 3


class PreflightError(RuntimeError):
    """The model or the data failed verification before training; the message is the report."""


class DivergedError(RuntimeError):
    """The loss became NaN or infinite; training stopped."""


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
            config.dataset,
            "train",
            batch_size=config.batch_size,
            training=True,
            data_dir=config.data_dir,
            seed=config.seed,
            validation_size=config.validation_size,
            input_context=input_context,
            num_examples=config.train_examples,
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
        config.dataset,
        split,
        batch_size=config.batch_size,
        training=False,
        data_dir=config.data_dir,
        seed=config.seed,
        validation_size=config.validation_size,
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
            model, specs.get_spec(config.model), variant=config.variant, shortcut=config.shortcut, stem=config.stem
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
        config.dataset,
        "train",
        batch_size=min(config.batch_size, 64),
        training=True,
        data_dir=config.data_dir,
        seed=config.seed,
        validation_size=config.validation_size,
        num_examples=config.train_examples,
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
                lambda v: (
                    reduce_strategy.reduce("MEAN", v, axis=None)
                    if isinstance(v, tf.distribute.DistributedValues)
                    else v
                ),
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
        _work_around_keras_multi_worker(
            model, strategy, next(iter(sample.map(_labels_for_loss(config, info.num_classes))))
        )
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
            callbacks.InputImages(
                log_dir, images, mean=info.mean, std=info.std, png_path=os.path.join(model_dir, "input_images.png")
            ),
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
        "model": config.model,
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
        gates.append(
            results.baseline_gate(
                record["test_accuracy"], results.read_results(config.baseline), config.max_drop, source=config.baseline
            )
        )
    record["gates"] = [dataclasses.asdict(gate) for gate in gates]
    record["passed"] = all(gate.passed for gate in gates)
    if not write:
        return
    results.write_json(os.path.join(model_dir, results.RESULTS_FILE), record)
    if config.junit_xml:
        results.write_junit_xml(
            config.junit_xml,
            gates,
            suite=suite,
            time_s=record.get("wall_time_s") or 0.0,
            properties={
                "model": record["model"],
                "dataset": record["dataset"],
                "test_accuracy": f"{record['test_accuracy']:.4f}",
            },
        )
