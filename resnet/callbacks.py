"""Keras callbacks for training runs: atomic checkpoints and backups, TensorBoard extras.

Where Keras has the callback, these subclass it and change only what the run needs:
Keras' `ModelCheckpoint` and `BackupAndRestore` write their files in place, so a
run killed while saving leaves a truncated file behind (and `BackupAndRestore`
writes its weights and its epoch number as two files, which a kill can leave out
of step). Here every file is written under a temporary name and renamed.
"""

from __future__ import annotations

import glob
import os
import re
import tempfile
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from resnet import images as image_utils

_BACKUP_PATTERN = re.compile(r"^epoch-(\d+)\.weights\.h5$")


def _atomic_save(save: Callable[[str], None], path: str) -> None:
    """Calls `save(temporary)` for a temporary file beside `path`, then renames it to `path`."""
    directory, name = os.path.split(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    # Keras picks the format from the suffix (.keras, .weights.h5): keep it.
    suffix = ".weights.h5" if name.endswith(".weights.h5") else os.path.splitext(name)[1]
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=f".tmp{suffix}")
    os.close(handle)
    try:
        save(temporary)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`keras.callbacks.ModelCheckpoint` that writes atomically and keeps the last few.

    Args:
      filepath: As for `ModelCheckpoint`, e.g. "ckpt/epoch-{epoch:04d}.keras".
      max_to_keep: Checkpoints matching `filepath`'s directory and suffix to keep
        (oldest deleted first); None keeps all.
      **kwargs: Passed to `ModelCheckpoint`.
    """

    def __init__(self, filepath: str, *, max_to_keep: int | None = 3, **kwargs):
        super().__init__(filepath, **kwargs)
        self.max_to_keep = max_to_keep

    def _save_model(self, epoch, batch, logs):
        filepath = self._get_file_path(epoch, batch, logs)
        if not self._should_save_model(epoch, batch, logs, filepath):
            return
        if self.save_weights_only:
            _atomic_save(lambda path: self.model.save_weights(path, overwrite=True), filepath)
        else:
            _atomic_save(lambda path: self.model.save(path, overwrite=True), filepath)
        if self.max_to_keep:
            directory, name = os.path.split(filepath)
            suffix = ".weights.h5" if name.endswith(".weights.h5") else os.path.splitext(name)[1]
            saved = sorted(
                (
                    p
                    for p in glob.glob(os.path.join(directory, f"*{suffix}"))
                    if not os.path.basename(p).startswith(".")
                ),
                key=os.path.getmtime,
            )
            for old in saved[: -self.max_to_keep]:
                os.unlink(old)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` whose backup is one atomically written file.

    The backup after epoch N is `backup_dir/epoch-N.weights.h5` (model and
    optimizer state; N epochs done), written under a temporary name and renamed,
    and the epoch is read from the file name, so the weights and the epoch always
    agree. A run killed at any moment resumes from the last completed epoch.
    """

    def __init__(self, backup_dir: str):
        super().__init__(backup_dir, save_freq="epoch", delete_checkpoint=True)

    def latest(self) -> tuple[int, str | None]:
        """The last completed epoch backed up and its file: (0, None) when there is none."""
        best = (0, None)
        for name in os.listdir(self.backup_dir) if os.path.isdir(self.backup_dir) else ():
            match = _BACKUP_PATTERN.match(name)
            if match and int(match.group(1)) > best[0]:
                best = (int(match.group(1)), os.path.join(self.backup_dir, name))
        return best

    def on_train_begin(self, logs=None):
        # A run killed while saving leaves its temporary file (never read); clear it.
        for name in os.listdir(self.backup_dir) if os.path.isdir(self.backup_dir) else ():
            if name.startswith(".") and name.endswith(".tmp.weights.h5"):
                os.unlink(os.path.join(self.backup_dir, name))
        self._load_model()

    def _load_model(self):
        epoch, path = self.latest()
        if path is None:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(path)
        self.model._initial_epoch = epoch  # what Keras' BackupAndRestore sets, read by fit()

    def _save_model(self):
        previous = self.latest()[1]
        path = os.path.join(self.backup_dir, f"epoch-{self._current_epoch}.weights.h5")
        _atomic_save(lambda p: self.model.save_weights(p, overwrite=True), path)
        if previous and previous != path:
            os.unlink(previous)


class StopAtStep(keras.callbacks.Callback):
    """Stops training once the optimizer has taken `steps` steps (for `--steps`)."""

    def __init__(self, steps: int):
        super().__init__()
        self.steps = steps

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) >= self.steps:
            self.model.stop_training = True


class TerminateOnNaN(keras.callbacks.TerminateOnNaN):
    """Keras' `TerminateOnNaN` that remembers where the loss went bad.

    Attributes:
      bad_step: The optimizer step at which the loss was NaN or infinite, or None.
      bad_loss: That loss.
    """

    def __init__(self):
        super().__init__(raise_error=False)
        self.bad_step = None
        self.bad_loss = None

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss) and self.bad_step is None:
            self.bad_step = int(self.model.optimizer.iterations.numpy())
            self.bad_loss = float(loss)
        super().on_batch_end(batch, logs)


class InputImages(keras.callbacks.Callback):
    """Writes a grid of the (augmented) images the network trains on to TensorBoard.

    Args:
      log_dir: The TensorBoard log directory (images go to its `train` run).
      images: A batch of network inputs, normalised as the model sees them.
      mean: Per-channel mean the pipeline subtracted (undone for display).
      std: Per-channel standard deviation the pipeline divided by.
      png_path: If set, the grid is also written there as a PNG.
    """

    def __init__(self, log_dir: str, images, *, mean=None, std=None, png_path: str | None = None):
        super().__init__()
        self.log_dir = log_dir
        self.grid = image_utils.image_grid(np.asarray(images)[:32], mean=mean, std=std)
        self.png_path = png_path

    def on_train_begin(self, logs=None):
        writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "train"))
        with writer.as_default():
            tf.summary.image("input_images", self.grid[None], step=0)
        writer.close()
        if self.png_path:
            image_utils.write_png(self.png_path, self.grid)


class StageGradientNorms(keras.callbacks.Callback):
    """Writes the gradient norm of each stage's weights to TensorBoard after every epoch.

    The norms come from `norms_fn(model, images, labels)`, on the same fixed batch
    every time, so the curves are comparable between epochs.

    Args:
      log_dir: The TensorBoard log directory (scalars go to its `train` run).
      images: The fixed batch of inputs.
      labels: Their labels.
      norms_fn: Returns {stage name: gradient norm}.
    """

    def __init__(self, log_dir: str, images, labels, norms_fn: Callable[..., dict]):
        super().__init__()
        self.log_dir = log_dir
        self.images = images
        self.labels = labels
        self.norms_fn = norms_fn
        self._writer = None

    def on_train_begin(self, logs=None):
        self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "train"))

    def on_epoch_end(self, epoch, logs=None):
        norms = self.norms_fn(self.model, self.images, self.labels)
        with self._writer.as_default():
            for stage, norm in norms.items():
                tf.summary.scalar(f"gradient_norm/{stage}", float(norm), step=epoch)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
