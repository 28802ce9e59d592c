"""Reference ResNets (He et al. 2015, 2016) for TensorFlow / Keras 3.

    >>> import resnet
    >>> model = resnet.resnet50()            # v1.5, shortcut B, 1000 classes, 224 px
    >>> cifar = resnet.cifar_resnet(20)      # the paper's CIFAR-10 ResNet-20
    >>> resnet.get_spec("resnet50")          # Table 1 as data

The public names are imported on first access (PEP 562), so `import resnet` and the
pure-Python modules (`resnet.cli`, `resnet.specs`, `resnet.training_config`) load no
TensorFlow: train.py and evaluate.py reject bad flags before paying seconds for it.
The reference's custom layers are registered for `.keras` loading once
`resnet.layers` is imported (building a model, or touching any of its names, does).
"""

from __future__ import annotations

import importlib
import importlib.util

__version__ = "0.1.0"

# Public name -> the submodule that defines it ("convert" is a submodule itself).
_EXPORTS = {
    "IMAGENET_SPECS": "specs",
    "ResNetSpec": "specs",
    "FusedBatchNormalization": "layers",
    "ZeroPadShortcut": "layers",
    "build_resnet": "model",
    "cifar_resnet": "model",
    "cifar_spec": "specs",
    "convert": "convert",
    "count_macs": "flops",
    "endpoints": "model",
    "feature_extractor": "model",
    "get_spec": "specs",
    "resnet18": "model",
    "resnet34": "model",
    "resnet50": "model",
    "resnet101": "model",
    "resnet152": "model",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    """Imports a public name's submodule on first access, or a submodule by its name.

    Submodules are found by name too because the eager package used to import most of
    them as a side effect, and code relies on `import resnet; resnet.blocks`.

    Raises:
      AttributeError: If `name` is neither a public name nor a submodule.
    """
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        value = module if _EXPORTS[name] == name else getattr(module, name)
    elif not name.startswith("__") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
