"""Reference ResNets (He et al. 2015, 2016) for TensorFlow / Keras 3.

    >>> import resnet
    >>> model = resnet.resnet50()            # v1.5, shortcut B, 1000 classes, 224 px
    >>> cifar = resnet.cifar_resnet(20)      # the paper's CIFAR-10 ResNet-20
    >>> resnet.get_spec("resnet50")          # Table 1 as data
"""

from resnet import convert
from resnet.flops import count_macs
from resnet.layers import FusedBatchNormalization, ZeroPadShortcut
from resnet.model import (
    build_resnet,
    cifar_resnet,
    endpoints,
    feature_extractor,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
)
from resnet.specs import IMAGENET_SPECS, ResNetSpec, cifar_spec, get_spec

__version__ = "0.1.0"

__all__ = [
    "IMAGENET_SPECS",
    "ResNetSpec",
    "FusedBatchNormalization",
    "ZeroPadShortcut",
    "build_resnet",
    "cifar_resnet",
    "cifar_spec",
    "convert",
    "count_macs",
    "endpoints",
    "feature_extractor",
    "get_spec",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
]
