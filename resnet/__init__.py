"""Reference ResNets (He et al. 2015, 2016) for TensorFlow / Keras 3.

    >>> import resnet
    >>> model = resnet.resnet50()            # v1.5, shortcut B, 1000 classes, 224 px
    >>> cifar = resnet.cifar_resnet(20)      # the paper's CIFAR-10 ResNet-20
    >>> resnet.get_spec("resnet50")          # Table 1 as data

The public names are imported on first access (PEP 562), so `import resnet` and the
pure-Python modules (`resnet.cli`, `resnet.specs`, `resnet.training_config`,
`resnet.evaluation`, `resnet.data.info`) load no TensorFlow: train.py and evaluate.py
reject bad flags before paying seconds for it. `resnet.data` is lazy the same way.

The reference's custom layers (`resnet.layers`) are registered for `.keras` loading
once that module is imported: by `import resnet` itself when Keras is already imported,
else by building a model or touching any of its names. So, in a fresh process, import
keras before resnet (or import resnet.layers) before `keras.models.load_model`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

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


def _lazy_exports(package: str, exports: dict[str, str], namespace: dict):
    """PEP 562 `__getattr__` and `__dir__` for a package that imports its names on first access.

    Shared by `resnet` and `resnet.data`:
    `__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS, globals())`.

    Args:
      package: The package's `__name__`.
      exports: Public name -> the submodule of `package` that defines it (a name
        mapped to itself is that submodule).
      namespace: The package's `globals()`; a resolved name is stored there, so later
        accesses skip `__getattr__`.

    Returns:
      The package's `__getattr__` and `__dir__`.
    """

    def __getattr__(name: str):
        """Imports a public name's submodule on first access, or a submodule by its name.

        Submodules are found by name too because the eager packages used to import most
        of them as a side effect, and code relies on `import resnet; resnet.blocks`.

        Raises:
          AttributeError: If `name` is neither a public name nor a submodule.
        """
        if name in exports:
            module = importlib.import_module(f"{package}.{exports[name]}")
            value = module if exports[name] == name else getattr(module, name)
        elif not name.startswith("__") and importlib.util.find_spec(f"{package}.{name}") is not None:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__


__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS, globals())

# Loading a .keras file that holds the reference's custom layers needs them registered,
# which importing resnet.layers does. Where Keras is already imported that costs
# nothing, so `import keras, resnet; keras.models.load_model(path)` works as it did when
# this package imported everything eagerly; without Keras, `import resnet` stays light.
if "keras" in sys.modules:
    from resnet import layers  # noqa: E402, F401
