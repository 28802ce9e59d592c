"""Evaluate a trained ResNet: accuracy, loss, per-class accuracy, confusion matrix, gates.

    python evaluate.py --model_path=runs/smoke --dataset=digits --min_accuracy=0.95
    python evaluate.py --model_path=runs/smoke/model.keras --dataset=digits
    python evaluate.py --model_path=runs/smoke/saved_model --dataset=digits --junit_xml=eval.xml

--model_path is a .keras file, a SavedModel directory, or a train.py --model_dir (its
newest checkpoint). Writes results.json and confusion_matrix.png into --output_dir.

Exit status: 0 when every gate passed; 1 when a gate failed (accuracy below
--min_accuracy, or more than --max_drop below --baseline); 2 for invalid flags.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

EXIT_GATE_FAILED, EXIT_USAGE = 1, 2

flags.DEFINE_string(
    "model_path",
    None,
    "A .keras file, a SavedModel directory, or a train.py --model_dir "
    "(its newest checkpoints/epoch-N.keras, else model.keras).",
)
flags.DEFINE_string("dataset", "cifar10", "cifar10, digits or synthetic: the dataset the model was trained on.")
flags.DEFINE_string("data_dir", None, "Directory of the dataset (as for train.py). Must exist when given.")
flags.DEFINE_string("split", "test", "test, validation (needs --validation_size) or train.")
flags.DEFINE_integer("validation_size", 0, "Training examples held out as the validation split, as in training.")
flags.DEFINE_integer("batch_size", 256, "Evaluation batch size.")
flags.DEFINE_string(
    "output_dir",
    None,
    "Where results.json and confusion_matrix.png go " "(default: evaluation_<split> beside the model).",
)
flags.DEFINE_float("min_accuracy", 0.0, "Exit 1 when the accuracy is below this (in [0, 1]).")
flags.DEFINE_string(
    "baseline", None, "An earlier results.json: exit 1 when the accuracy dropped more than " "--max_drop below its."
)
flags.DEFINE_float("max_drop", 0.01, "Largest accuracy drop from --baseline that passes (0.01 = 1 point).")
flags.DEFINE_string("junit_xml", None, "Write the gates as a JUnit XML test suite to this file.")

FLAGS = flags.FLAGS


def fail(message: str, code: int) -> None:
    """Prints `message` to stderr, prefixed with the program's name, and exits."""
    print(f"evaluate.py: error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        fail(f"Unexpected arguments {argv[1:]}; every option is a --flag (see --helpfull).", EXIT_USAGE)
    from resnet import evaluation, training_config  # imports TensorFlow; flags are checked right after

    fields = evaluation.EvalConfig.__dataclass_fields__
    config = evaluation.EvalConfig(**{name: FLAGS[name].value for name in fields if FLAGS[name].value is not None})
    try:
        record = evaluation.evaluate(config)
    except (
        training_config.ConfigError,
        FileNotFoundError,
    ) as error:  # bad flags; data neither on disk nor downloadable
        fail(str(error), EXIT_USAGE)

    print(
        f"{record['model_path']} on {record['dataset']} {record['split']} ({record['examples']} examples): "
        f"accuracy {record['test_accuracy']:.4f}, loss {record['test_loss']:.4f}"
    )
    print(record["confusion_text"])
    print(f"confusion matrix image and results.json in {record['output_dir']}")
    for gate in record["gates"]:
        print(gate["message"])
    if not record["passed"]:
        fail("; ".join(gate["message"] for gate in record["gates"] if not gate["passed"]), EXIT_GATE_FAILED)


if __name__ == "__main__":
    app.run(main)
