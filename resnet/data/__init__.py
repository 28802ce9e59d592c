"""Input pipelines: CIFAR-10 (tensorflow-datasets), scikit-learn digits, synthetic.

>>> from resnet import data
>>> info = data.dataset_info("cifar10")                  # mean/std, split sizes
>>> train = data.make_dataset("cifar10", "train", batch_size=128, training=True,
...                           validation_size=5000)      # the paper's 45k/5k
"""

from resnet.data.augment import augment_batch, normalize
from resnet.data.cifar10 import CifarNotFoundError
from resnet.data.info import DATASETS, SPLITS, DatasetInfo
from resnet.data.pipeline import PADDING, dataset_info, load_examples, make_dataset

__all__ = [
    "DATASETS",
    "PADDING",
    "SPLITS",
    "CifarNotFoundError",
    "DatasetInfo",
    "augment_batch",
    "dataset_info",
    "load_examples",
    "make_dataset",
    "normalize",
]
