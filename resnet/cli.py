"""What train.py and evaluate.py share: the gate flags, errors and exit codes.

Imports only absl, so the scripts can define their flags and reject bad ones before
TensorFlow is loaded.
"""

from __future__ import annotations

import os
import sys

from absl import flags

EXIT_GATE_FAILED, EXIT_USAGE, EXIT_PREFLIGHT, EXIT_DIVERGED = 1, 2, 3, 4


def define_gate_flags(accuracy: str) -> None:
    """Defines --min_accuracy, --baseline, --max_drop and --junit_xml.

    Args:
      accuracy: What the gates compare, for the help text (e.g. "test accuracy").
    """
    flags.DEFINE_float("min_accuracy", 0.0, f"Exit 1 when the {accuracy} is below this (in [0, 1]).")
    flags.DEFINE_string(
        "baseline", None, f"An earlier results.json: exit 1 when the {accuracy} dropped more than --max_drop below its."
    )
    flags.DEFINE_float("max_drop", 0.01, "Largest accuracy drop from --baseline that passes (0.01 = 1 point).")
    flags.DEFINE_string("junit_xml", None, "Write the gates as a JUnit XML test suite to this file.")


def fail(message: str, code: int) -> None:
    """Prints `message` to stderr, prefixed with the program's name, and exits with `code`."""
    print(f"{os.path.basename(sys.argv[0])}: error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def exit_on_gates(record: dict) -> None:
    """Prints every gate's verdict; exits with EXIT_GATE_FAILED and one line if any failed.

    Args:
      record: A results record with "gates" (each with "message" and "passed") and "passed".
    """
    for gate in record["gates"]:
        print(gate["message"])
    if not record["passed"]:
        fail("; ".join(gate["message"] for gate in record["gates"] if not gate["passed"]), EXIT_GATE_FAILED)
