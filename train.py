"""Train a reference ResNet: preflight verification, Keras fit, accuracy gates.

    python train.py --preset=smoke                      # offline demo, ~2 min on 2 CPU cores
    python train.py --preset=paper_resnet20 --data_dir=DIR
    python train.py --preset=nightly --baseline=last/results.json --junit_xml=nightly.xml

A preset is a named set of flag values (--preset=smoke, paper_resnet20/32/44/56/110,
resnet18_cifar, nightly); flags given on the command line override it.

Writes into --model_dir: TensorBoard logs (logs/), a checkpoint per epoch
(checkpoints/), the backup a killed run resumes from (backup/), input_images.png,
model.keras, saved_model/ and results.json.

Exit status: 0 when every gate passed; 1 when a gate failed (test accuracy below
--min_accuracy, or more than --max_drop below --baseline); 2 for invalid flags;
3 when the preflight verification failed; 4 when the loss became NaN.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from resnet import cli  # noqa: E402

flags.DEFINE_string(
    "preset",
    None,
    "Named set of flag values: smoke, paper_resnet20, paper_resnet32, "
    "paper_resnet44, paper_resnet56, paper_resnet110, resnet18_cifar, nightly. "
    "Flags given explicitly override it.",
)
# Model.
flags.DEFINE_string(
    "model",
    "resnet20",
    "resnet18/34/50/101/152 (Table 1) or resnetN with N = 6n+2 "
    "(CIFAR networks: resnet20, resnet32, ..., resnet1202).",
)
flags.DEFINE_string(
    "variant",
    "v1.5",
    "v1 (stride on the first 1x1 of a bottleneck, the paper), v1.5 " "(stride on the 3x3) or v2 (pre-activation).",
)
flags.DEFINE_string("shortcut", None, "Shortcut option A, B or C (default: A for CIFAR networks, B for ImageNet ones).")
flags.DEFINE_string("stem", None, "imagenet (7x7/2 conv + max-pool) or cifar (3x3/1 conv); default: the model's.")
flags.DEFINE_bool("zero_init_residual", False, "Zero-initialise the last BatchNorm gamma of each residual branch.")
# Data.
flags.DEFINE_string(
    "dataset", "cifar10", "cifar10, digits (offline: scikit-learn's 8x8 digits at 32x32x3) or synthetic."
)
flags.DEFINE_string(
    "data_dir",
    None,
    "TFDS data directory for cifar10 (offline: put cifar-10-binary.tar.gz "
    "in <data_dir>/downloads/manual). Must exist when given.",
)
flags.DEFINE_integer(
    "validation_size",
    0,
    "Training examples held out for validation (the paper's 45k/5k split: "
    "5000); 0 evaluates on the test split after each epoch.",
)
flags.DEFINE_integer("train_examples", None, "Train on only the first N training examples (quick runs).")
flags.DEFINE_string(
    "model_dir",
    None,
    "Where checkpoints, TensorBoard logs, exports and results.json go "
    "(default runs/<preset> or runs/<model>_<dataset>). Rerunning with the same directory "
    "resumes an interrupted run.",
)
# Schedule and optimiser.
flags.DEFINE_integer("epochs", None, "Passes over the training data (default 10); give this or --steps.")
flags.DEFINE_integer("steps", None, "Optimizer steps in total (the paper: 64000); give this or --epochs.")
flags.DEFINE_integer("batch_size", 128, "Global batch size, split over the replicas.")
flags.DEFINE_float("learning_rate", 0.1, "Peak learning rate (the paper: 0.1 at batch 128).")
flags.DEFINE_string(
    "lr_schedule",
    "step",
    "step (divide by 1/--lr_decay_factor at --lr_boundaries, the " "paper's), cosine (to zero), or constant.",
)
flags.DEFINE_list(
    "lr_boundaries",
    [],
    "Steps at which the step schedule decays (default 50% and 75% of " "training, the paper's 32k and 48k of 64k).",
)
flags.DEFINE_float("lr_decay_factor", 0.1, "What each step-schedule boundary multiplies the learning rate by.")
flags.DEFINE_integer(
    "warmup_steps",
    0,
    "Warm-up steps: constant --warmup_learning_rate for step/constant (the "
    "paper's ResNet-110: 400 at 0.01), a linear ramp to --learning_rate for cosine.",
)
flags.DEFINE_float("warmup_learning_rate", None, "Learning rate during warm-up (default --learning_rate / 10).")
flags.DEFINE_float(
    "weight_decay",
    1e-4,
    "SGD weight decay on convolution and dense kernels only (never "
    "BatchNorm): an L2 loss of weight_decay/2 * ||w||^2, gradient weight_decay * w.",
)
flags.DEFINE_float("momentum", 0.9, "SGD momentum.")
flags.DEFINE_bool("nesterov", False, "Nesterov momentum.")
flags.DEFINE_float("label_smoothing", 0.0, "Label smoothing in [0, 1).")
# Performance and distribution.
flags.DEFINE_string(
    "mixed_precision",
    "none",
    "none, mixed_float16 (GPUs; with loss scaling) or mixed_bfloat16 (GPUs, and CPUs with AMX: 1.4-2.6x measured).",
)
flags.DEFINE_bool("jit_compile", False, "Compile the training step with XLA.")
flags.DEFINE_string(
    "strategy",
    "default",
    "default (one device), mirrored (all GPUs of this machine, or "
    "--cpu_replicas logical CPUs) or multi_worker (the cluster in TF_CONFIG).",
)
flags.DEFINE_integer(
    "cpu_replicas",
    0,
    "With --strategy=mirrored and no GPU: split the CPU into this many "
    "logical devices (to test distribution on CPU).",
)
# Reproducibility.
flags.DEFINE_integer("seed", 0, "Seed of weights, data order and augmentation.")
flags.DEFINE_bool("deterministic", False, "Deterministic TensorFlow ops (bit-identical reruns; slower).")
# Checks and gates.
flags.DEFINE_bool(
    "preflight",
    True,
    "Verify the model's structure and a few data batches before training; "
    "refuse to train on a failure. --nopreflight skips it.",
)
cli.define_gate_flags("test accuracy")
flags.DEFINE_bool("export", True, "Export model.keras and saved_model/ at the end.")
flags.DEFINE_bool("progress", True, "Progress bars (--noprogress: one line per epoch).")

FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        cli.fail(f"Unexpected arguments {argv[1:]}; every option is a --flag (see --helpfull).", cli.EXIT_USAGE)
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TensorFlow's export chatter, not ours
    # The flags are checked before any device, data or model is touched, and before
    # `resnet.training` loads TensorFlow: most bad flags fail in a fraction of a second.
    from resnet import training_config

    values = {name: FLAGS[name].value for name in training_config.TrainConfig.__dataclass_fields__}
    explicit = {name for name in values if FLAGS[name].present}
    try:
        config = training_config.config_from_values(training_config.apply_preset(values, explicit))
        training_config.validate(config)
    except (training_config.ConfigError, ValueError) as error:
        cli.fail(str(error), cli.EXIT_USAGE)

    from resnet import training

    try:
        record = training.train(config)
    except training.PreflightError as error:
        cli.fail(str(error), cli.EXIT_PREFLIGHT)
    except training.DivergedError as error:
        cli.fail(str(error), cli.EXIT_DIVERGED)
    except FileNotFoundError as error:  # e.g. CIFAR-10 neither on disk nor downloadable
        cli.fail(str(error), cli.EXIT_USAGE)

    print(
        f"{record['model']} on {record['dataset']}: test accuracy {record['test_accuracy']:.4f}, "
        f"{record['steps']} steps, {record['wall_time_s']:.0f} s; results in {record['model_dir']}"
    )
    cli.exit_on_gates(record)


if __name__ == "__main__":
    app.run(main)
