"""`python -m verification`: verify a saved Keras model, or every built-in reference.

    python -m verification --model=my_resnet.keras --reference=resnet50 [--variant=v1]
        [--shortcut=B] [--stem=imagenet] [--padding=symmetric] [--conv_bias]
        [--bn_epsilon=1e-5] [--no_numerical] [--json=report.json]
    python -m verification            # self-verification: every built-in model
    python -m verification --references=resnet18,resnet50   # some of them

Exit status: 0 when everything passes, 1 when a check fails, 2 on bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The self-verification set: Table 1's networks at the paper's 224 px, and the
# paper's CIFAR networks at 32 px.
BUILT_IN = (
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
    "resnet110",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m verification", description="Check a Keras ResNet against the paper, block by block."
    )
    parser.add_argument(
        "--model", help="path of a saved .keras model; without it, verify every built-in reference model"
    )
    parser.add_argument(
        "--reference", help="what the model claims to be, e.g. resnet50 or resnet20 (default: identify it)"
    )
    parser.add_argument("--variant", default="v1.5", help="v1, v1.5 (default) or v2")
    parser.add_argument("--shortcut", default=None, help="A, B or C (default: the reference's)")
    parser.add_argument("--stem", default=None, help="imagenet or cifar (default: the reference's)")
    parser.add_argument("--padding", default="symmetric", help="symmetric (default) or same")
    parser.add_argument("--conv_bias", action="store_true", help="convolutions should have biases")
    parser.add_argument("--bn_epsilon", type=float, default=None, help="BN epsilon to insist on")
    parser.add_argument("--no_numerical", action="store_true", help="skip the float64 comparison of outputs")
    parser.add_argument("--json", help="also write the report(s) as JSON to this path")
    parser.add_argument(
        "--references",
        default=",".join(BUILT_IN),
        help="without --model: comma-separated built-in models to verify (default: all of them)",
    )
    return parser


def _verify_file(args) -> int:
    import keras

    import resnet.layers  # noqa: F401 - registers the reference's custom layers for loading
    import verification
    from resnet import results

    if not args.model.endswith(".keras") or not os.path.isfile(args.model):
        print(f"error: --model must be an existing .keras file; got {args.model!r}", file=sys.stderr)
        return 2
    try:
        if args.reference is not None:
            verification.verify.resolve_reference(args.reference, args.stem)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        model = keras.saving.load_model(args.model, compile=False)
    except Exception as error:  # noqa: BLE001 - any loading failure is bad input
        print(f"error: cannot load {args.model!r}: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    try:
        reference = args.reference
        if reference is None:
            found = verification.identify(model)
            if found.reference is None:
                print(f"{model.name}: FAIL: {found}")
                return 1
            reference = found.reference
            print(f"identified as {found.describe()}")
        report = verification.verify_model(
            model,
            reference,
            variant=args.variant,
            shortcut=args.shortcut,
            stem=args.stem,
            padding=args.padding,
            conv_bias=args.conv_bias,
            bn_epsilon=args.bn_epsilon,
            numerical=not args.no_numerical,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report)
    if args.json:
        results.write_json(args.json, report.to_dict())
    return 0 if report.passed else 1


def _verify_built_in(args) -> int:
    import resnet
    import verification
    from resnet import results

    names = [n.strip() for n in args.references.split(",") if n.strip()]
    try:
        for name in names:
            resnet.get_spec(name)
    except ValueError as error:
        print(f"error: --references: {error}", file=sys.stderr)
        return 2
    reports, failed = [], 0
    for name in names:
        start = time.perf_counter()
        model = resnet.build_resnet(name)
        report = verification.verify_model(model, name, numerical=not args.no_numerical)
        flops = report.get("flops").details.get("found") or 0
        total = report.get("total_parameters").details["found"]
        verdict = "PASS" if report.passed else "FAIL: " + "; ".join(c.message for c in report.failures)
        print(
            f"{name:<10} {verdict:<4}  {total:>11,} params  {flops / 1e9:7.3f} GFLOPs at {model.input_shape[1]} px  "
            f"{len(report.checks)} checks  {time.perf_counter() - start:5.1f} s",
            flush=True,
        )
        failed += not report.passed
        reports.append(report.to_dict())
    if args.json:
        results.write_json(args.json, {"passed": not failed, "models": reports})
    return 1 if failed else 0


def main(argv=None) -> int:
    """Runs the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    return _verify_file(args) if args.model else _verify_built_in(args)


if __name__ == "__main__":
    sys.exit(main())
