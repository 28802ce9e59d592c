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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from resnet import cli  # noqa: E402

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
cli.define_gate_flags("accuracy")

FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        cli.fail(f"Unexpected arguments {argv[1:]}; every option is a --flag (see --helpfull).", cli.EXIT_USAGE)
    # evaluate() validates the flags first (pure Python: bad flags fail in a fraction of
    # a second), then loads TensorFlow and the model (registering the reference's custom
    # layers for .keras files).
    from resnet import evaluation, training_config

    fields = evaluation.EvalConfig.__dataclass_fields__
    config = evaluation.EvalConfig(**{name: FLAGS[name].value for name in fields if FLAGS[name].value is not None})
    try:
        record = evaluation.evaluate(config)
    except (
        training_config.ConfigError,
        FileNotFoundError,
    ) as error:  # bad flags; data neither on disk nor downloadable
        cli.fail(str(error), cli.EXIT_USAGE)

    print(
        f"{record['model_path']} on {record['dataset']} {record['split']} ({record['examples']} examples): "
        f"accuracy {record['test_accuracy']:.4f}, loss {record['test_loss']:.4f}"
    )
    print(record["confusion_text"])
    print(f"confusion matrix image and results.json in {record['output_dir']}")
    cli.exit_on_gates(record)


if __name__ == "__main__":
    app.run(main)
