"""What a run leaves behind for people and CI: results.json, accuracy gates, JUnit XML.

The gates, the baseline comparison and the confusion matrix are plain arithmetic on
numbers a run measured (numpy, no TensorFlow), so they are cheap to test exhaustively.
Every file is written atomically (a temporary file in the same directory, then a
rename), so a killed run never leaves a half-written file for CI to trip over.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

RESULTS_FILE = "results.json"
# The accuracy a results.json reports, which gates and baselines compare.
ACCURACY_KEY = "test_accuracy"


@dataclasses.dataclass(frozen=True)
class GateResult:
    """The verdict of one gate.

    Attributes:
      name: Identifier, e.g. "min_accuracy" (the JUnit test-case name).
      passed: Whether the run passed it.
      message: One line for a person: the figures compared, and the verdict.
    """

    name: str
    passed: bool
    message: str


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Writes `data` to `path` through a temporary file and a rename.

    Args:
      path: Destination; its directory is created if needed.
      data: The file's content.
    """
    path = os.path.abspath(os.fspath(path))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def write_json(path: str | os.PathLike, data: Mapping[str, Any]) -> None:
    """Writes `data` as indented JSON, atomically; NaN and infinities become strings."""
    atomic_write_bytes(path, (json.dumps(json_safe(data), indent=2, sort_keys=True) + "\n").encode())


def read_results(path: str | os.PathLike) -> dict:
    """Reads a results.json and checks that it reports an accuracy.

    Args:
      path: A results.json written by train.py or evaluate.py.

    Returns:
      Its content.

    Raises:
      ValueError: If the file is missing, is not JSON, or has no accuracy.
    """
    try:
        with open(path) as stream:
            data = json.load(stream)
    except FileNotFoundError:
        raise ValueError(f"Baseline results file {os.fspath(path)!r} does not exist.") from None
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"Cannot read results file {os.fspath(path)!r}: {error}.") from None
    accuracy = data.get(ACCURACY_KEY) if isinstance(data, dict) else None
    if not isinstance(accuracy, (int, float)) or isinstance(accuracy, bool) or not math.isfinite(accuracy):
        raise ValueError(f"Results file {os.fspath(path)!r} has no numeric {ACCURACY_KEY!r}.")
    return data


def accuracy_gate(accuracy: float, min_accuracy: float) -> GateResult:
    """Passes when `accuracy >= min_accuracy` (a NaN accuracy never passes).

    Args:
      accuracy: The measured accuracy, in [0, 1].
      min_accuracy: The threshold (0 passes every finite accuracy).
    """
    passed = math.isfinite(accuracy) and accuracy >= min_accuracy
    relation = ">=" if passed else "<"
    verdict = "passed" if passed else "FAILED"
    return GateResult(
        "min_accuracy",
        passed,
        f"accuracy gate {verdict}: test accuracy {accuracy:.4f} {relation} --min_accuracy {min_accuracy:.4f}",
    )


def baseline_gate(
    accuracy: float, baseline: Mapping[str, Any], max_drop: float, *, source: str = "baseline"
) -> GateResult:
    """Passes unless accuracy fell more than `max_drop` below a baseline's.

    Args:
      accuracy: The measured accuracy.
      baseline: An earlier results.json's content (see `read_results`).
      max_drop: The largest drop allowed, in accuracy units (0.01 = 1 point).
      source: Where the baseline came from, for the message.
    """
    reference = float(baseline[ACCURACY_KEY])
    drop = reference - accuracy
    passed = math.isfinite(accuracy) and drop <= max_drop
    verdict = "passed" if passed else "FAILED"
    return GateResult(
        "baseline",
        passed,
        f"baseline gate {verdict}: test accuracy {accuracy:.4f} vs {reference:.4f} in {source} "
        f"(drop {drop:+.4f}, --max_drop {max_drop:.4f})",
    )


def junit_xml(
    gates: Iterable[GateResult], *, suite: str, time_s: float = 0.0, properties: Mapping[str, Any] | None = None
) -> bytes:
    """A JUnit XML report with one test case per gate, as CI systems display them.

    Args:
      gates: The verdicts; each becomes a <testcase>, failed ones with a <failure>.
      suite: The test-suite name (e.g. "train.resnet20.digits").
      time_s: Wall time of the run, reported on the suite.
      properties: Figures to attach as <property> elements (model, accuracy, ...).

    Returns:
      The document, UTF-8 encoded.
    """
    gates = list(gates)
    failures = sum(not gate.passed for gate in gates)
    root = ET.Element("testsuites", tests=str(len(gates)), failures=str(failures))
    node = ET.SubElement(
        root, "testsuite", name=suite, tests=str(len(gates)), failures=str(failures), errors="0", time=f"{time_s:.3f}"
    )
    if properties:
        props = ET.SubElement(node, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", name=str(key), value=str(value))
    for gate in gates:
        case = ET.SubElement(node, "testcase", classname=suite, name=gate.name, time="0")
        if gate.passed:
            ET.SubElement(case, "system-out").text = gate.message
        else:
            ET.SubElement(case, "failure", message=gate.message, type="AccuracyRegression").text = gate.message
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def write_junit_xml(path: str | os.PathLike, gates: Iterable[GateResult], **kwargs) -> None:
    """Writes `junit_xml(gates, **kwargs)` to `path` atomically."""
    atomic_write_bytes(path, junit_xml(gates, **kwargs))


def confusion_matrix(labels, predictions, num_classes: int) -> np.ndarray:
    """Counts [true class, predicted class] over a split.

    Args:
      labels: True labels, integers in [0, num_classes).
      predictions: Predicted labels, the same length.
      num_classes: Size of the matrix.

    Returns:
      An int64 [num_classes, num_classes] matrix; row i sums to the examples of class i.
    """
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (np.asarray(labels, np.int64), np.asarray(predictions, np.int64)), 1)
    return matrix


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
    """Recall of each class (diagonal over row sums); NaN for a class with no examples."""
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / np.maximum(totals, 1), np.nan)


def format_confusion(matrix: np.ndarray, class_names: Sequence[str] = ()) -> str:
    """The confusion matrix and per-class accuracy as a text table (rows: true class)."""
    names = [str(n) for n in class_names] if len(class_names) == len(matrix) else [str(i) for i in range(len(matrix))]
    width = max(5, max(len(n) for n in names), len(str(int(matrix.max(initial=0)))) + 1)
    accuracy = per_class_accuracy(matrix)
    lines = ["true \\ predicted".ljust(width + 2) + "".join(n[:width].rjust(width + 1) for n in names) + "  accuracy"]
    for name, row, acc in zip(names, matrix, accuracy):
        lines.append(
            name[:width].ljust(width + 2) + "".join(str(int(c)).rjust(width + 1) for c in row) + f"  {acc:8.4f}"
        )
    return "\n".join(lines)


def confusion_image(matrix: np.ndarray, *, cell: int = 16) -> np.ndarray:
    """A heat map of the row-normalised confusion matrix: uint8 [H, W, 3], rows true classes.

    Each cell is `cell` pixels square; brightness is the fraction of the true class
    predicted as that column (white 1, black 0), so a good classifier shows a
    bright diagonal.
    """
    totals = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    levels = np.round(255 * matrix / totals).astype(np.uint8)
    big = np.kron(levels, np.ones((cell, cell), np.uint8))
    return np.repeat(big[..., None], 3, axis=-1)


def json_safe(value: Any) -> Any:
    """Converts numpy scalars/arrays, tuples, sets and NaN/inf into JSON-safe values."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
