"""Input pipelines: CIFAR-10 (tensorflow-datasets), scikit-learn digits, synthetic.

>>> from resnet import data
>>> info = data.dataset_info("cifar10")                  # mean/std, split sizes
>>> train = data.make_dataset("cifar10", "train", batch_size=128, training=True,
...                           validation_size=5000)      # the paper's 45k/5k

The public names are imported on first access, as in `resnet` itself: `DATASETS`,
`SPLITS` and `DatasetInfo` (`resnet.data.info`) load no TensorFlow, so flag checks can
read them; the pipelines (`dataset_info`, `make_dataset`, ...) load tf.data.
"""

from resnet import _lazy_exports

# Public name -> the submodule that defines it.
_EXPORTS = {
    "DATASETS": "info",
    "PADDING": "pipeline",
    "SPLITS": "info",
    "CifarNotFoundError": "cifar10",
    "DatasetInfo": "info",
    "augment_batch": "augment",
    "dataset_info": "pipeline",
    "load_examples": "pipeline",
    "make_dataset": "pipeline",
    "normalize": "augment",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS, globals())
