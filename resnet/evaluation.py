"""Evaluation of a saved model (evaluate.py): accuracy, loss, per-class accuracy, confusion.

Loads a `.keras` file, a SavedModel or a training model_dir's newest checkpoint,
evaluates it on a dataset split, and writes results.json and a confusion-matrix PNG,
with the same gates and JUnit XML as training (`resnet.training.finalize`).

`EvalConfig`, `find_model` and `validate_eval` need no TensorFlow: this module imports
Keras, TensorFlow and the modules that load them inside the functions that use them,
so evaluate.py rejects bad flags before paying seconds for them.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time

import numpy as np

from resnet import results
from resnet.data import info as data_info
from resnet.training_config import ConfigError, check, check_choice, check_positive_int, validate_gates

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
    check(bool(config.model_path), "--model_path is required: a .keras file, a SavedModel directory or a model_dir.")
    found = find_model(config.model_path)
    check_choice("dataset", config.dataset, data_info.DATASETS)
    check_choice("split", config.split, EVAL_SPLITS)
    if config.data_dir is not None:
        check(os.path.isdir(config.data_dir), f"--data_dir {config.data_dir!r} does not exist or is not a directory.")
    check_positive_int("batch_size", config.batch_size)
    check(
        isinstance(config.validation_size, int) and config.validation_size >= 0,
        f"--validation_size must be an integer >= 0; got {config.validation_size!r}.",
    )
    check(
        config.split != "validation" or config.validation_size > 0,
        "--split=validation needs --validation_size > 0 (the examples held out of the train split).",
    )
    validate_gates(config)
    return found


def load_predictor(path: str, kind: str):
    """A function from a batch of images to logits, for a .keras file or a SavedModel."""
    if kind == "keras":
        import keras

        from resnet import layers  # noqa: F401 - registers the reference's custom layers for loading

        model = keras.models.load_model(path, compile=False)
        return lambda images: model(images, training=False), model.output_shape[-1]
    import tensorflow as tf

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
    # Only valid flags pay for loading TensorFlow.
    import keras
    import tensorflow as tf

    from resnet import data
    from resnet import images as image_utils
    from resnet.training import finalize, versions

    info = data.dataset_info(config.dataset, data_dir=config.data_dir)
    predict, outputs = load_predictor(path, kind)
    check(
        outputs in (None, info.num_classes),
        f"The model has {outputs} outputs but {config.dataset} has {info.num_classes} classes.",
    )
    dataset = data.make_dataset(
        config.dataset,
        config.split,
        batch_size=config.batch_size,
        training=False,
        data_dir=config.data_dir,
        validation_size=config.validation_size,
    )
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
