"""Install the ResNet reference (`resnet`) and its checker (`verification`)."""

import re
from pathlib import Path

from setuptools import find_packages, setup

VERSION = re.search(r'__version__ = "([^"]+)"', Path("resnet/__init__.py").read_text()).group(1)

setup(
    name="resnet-reference",
    version=VERSION,
    description="Reference ResNets (He et al. 2015) for TensorFlow/Keras 3, with self-verification.",
    long_description=Path("README.md").read_text(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["resnet", "resnet.*", "verification", "verification.*"]),
    py_modules=["train", "evaluate"],
    python_requires=">=3.10",
    # Ranges we have installed and run (see BUILD_NOTES.md): TF 2.21 / Keras 3.15.
    install_requires=[
        "tensorflow>=2.20,<2.22",
        "keras>=3.10,<4",
        "tensorflow-datasets>=4.9.9,<4.10",
        # tensorflow-datasets 4.9.10 needs it to prepare a dataset but does not install it.
        "importlib_resources>=6",
        "numpy>=1.26,<3",
        "absl-py>=2.1,<3",
        "tensorboard>=2.20,<2.22",
        # The offline real dataset (the 8x8 digits scikit-learn ships).
        "scikit-learn>=1.5,<2",
    ],
    extras_require={
        "test": ["pytest>=8,<10", "pytest-xdist>=3.6,<4"],
        "gpu": ["tensorflow[and-cuda]>=2.20,<2.22"],
    },
)
