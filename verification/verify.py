"""`verify_model`: is this Keras model the ResNet it claims to be, block by block?"""

from __future__ import annotations

import dataclasses

import keras

import resnet
from resnet.blocks import BlockOptions
from resnet.model import MIN_INPUT_SIZE
from resnet.specs import STEMS, ResNetSpec

from verification import diagnose, equivalence, parameters, structure
from verification.report import BlockRow, Report
from verification.results import CheckResult


def resolve_reference(reference, stem: str | None) -> ResNetSpec:
    """The spec for a reference name (or spec), with `stem` applied.

    Raises:
      ValueError: For an unknown name, a non-spec object or an unknown stem.
    """
    if isinstance(reference, ResNetSpec):
        spec = reference
    elif isinstance(reference, (str, int)) and not isinstance(reference, bool):
        spec = resnet.get_spec(reference)
    else:
        raise ValueError(
            f"reference must be a name such as 'resnet50' or a ResNetSpec; got {type(reference).__name__}."
        )
    if stem is not None:
        if stem not in STEMS:
            raise ValueError(f"Unknown stem {stem!r}; valid: {', '.join(map(repr, STEMS))}.")
        spec = dataclasses.replace(spec, stem=stem)
    return spec


def verify_model(
    model,
    reference,
    *,
    variant: str = "v1.5",
    shortcut: str | None = None,
    stem: str | None = None,
    padding: str = "symmetric",
    conv_bias: bool = False,
    bn_epsilon: float | None = None,
    bn_momentum: float | None = None,
    numerical: bool = True,
    input_shape: tuple | None = None,
    seed: int = 0,
) -> Report:
    """Checks a Keras model against a reference ResNet, block by block.

    Args:
      model: Any `keras.Model` (functional, nested, or made of subclassed block
        layers) that claims to be the reference.
      reference: A name for `resnet.get_spec` ("resnet50", "resnet20", ...) or a spec.
      variant: "v1", "v1.5" or "v2", as for `resnet.build_resnet`.
      shortcut: "A", "B" or "C" (default: the spec's).
      stem: "imagenet" or "cifar" (default: the spec's).
      padding: "symmetric" or "same".
      conv_bias: Whether convolutions should have biases.
      bn_epsilon: BN epsilon expected. None: 1e-5, but another consistent, known
        convention (1.001e-5 Keras applications, 1e-3 Model Garden) is reported
        rather than failed.
      bn_momentum: BN momentum expected (Keras convention). None: any value of at
        least 0.5 used consistently.
      numerical: Also compare outputs with the reference's in float64 (builds the
        reference at the model's input size; a few seconds for ImageNet depths).
      input_shape: (H, W, C) to analyse at; needed for subclassed models without a
        known input, otherwise the model's own (a variable size becomes the
        reference's default, 224 or 32 px).
      seed: Seed of the random weights and images of the numerical comparison.

    Returns:
      The report; `report.passed` is the verdict.

    Raises:
      ValueError: On a non-Keras model, an unknown reference or option, or an input
        shape that is too small or unknown; before any heavy work.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"verify_model needs a keras.Model; got {type(model).__name__}.")
    spec = resolve_reference(reference, stem)
    options = BlockOptions(
        variant=variant,
        shortcut=spec.default_shortcut if shortcut is None else shortcut,
        padding=padding,
        conv_bias=bool(conv_bias),
        bn_epsilon=1e-5 if bn_epsilon is None else float(bn_epsilon),
        bn_momentum=0.9 if bn_momentum is None else float(bn_momentum),
    )
    explicit = {name for name, value in (("bn_epsilon", bn_epsilon), ("bn_momentum", bn_momentum)) if value is not None}
    shape = _input_shape(model, spec, input_shape)
    option_dict = {
        "variant": options.variant,
        "shortcut": options.shortcut,
        "stem": spec.stem,
        "padding": options.padding,
        "conv_bias": options.conv_bias,
        "bn_epsilon": options.bn_epsilon,
    }
    title = f"{model.name} vs {spec.name} ({options.variant}, shortcut {options.shortcut}, {spec.stem} stem, {options.padding} padding, conv_bias={options.conv_bias})"
    report = Report(title, reference=spec.name, options=option_dict)
    with structure.graph_view(model, shape) as view:
        analysis = structure.analyse(view)
        head = analysis.weighted(analysis.head, "dense")
        num_classes = head[-1].op.units if head else None
        plan = parameters.plan(spec, options, shape, num_classes)
        report.checks.append(diagnose.check_blocks_found(analysis, plan, model.name))
        if not analysis.blocks:
            return report
        marks: dict[str, set] = {}
        pairs = diagnose.align(analysis, plan)
        block_params, totals = diagnose.check_block_parameters(analysis, pairs, marks)
        bn_check, epsilon = diagnose.check_bn_conventions(analysis, options, explicit)
        report.checks += [
            diagnose.check_stem(analysis, plan),
            diagnose.check_block_shapes(pairs, marks),
            diagnose.check_strides(analysis, pairs, plan, marks),
            diagnose.check_shortcuts(analysis, pairs, plan, marks),
            diagnose.check_activations(analysis, pairs, plan, marks),
            diagnose.check_padding(analysis, pairs, plan, marks),
            diagnose.check_head(analysis, plan),
            block_params,
            diagnose.check_total_parameters(parameters.trainable_count(model), plan),
            diagnose.check_conv_biases(analysis, options),
            bn_check,
            diagnose.check_flops(_macs(view), plan),
        ]
        report.notes += bn_check.details.get("notes", [])
        report.rows = _rows(analysis, pairs, marks, totals)
        if numerical:
            report.checks.append(_numerical(view, analysis, pairs, spec, options, epsilon, shape, head, seed))
    return report


def _input_shape(model, spec: ResNetSpec, input_shape) -> tuple:
    shape = tuple(input_shape) if input_shape is not None else structure.model_input_shape(model)
    if shape is None:
        raise ValueError(
            f"Cannot tell the input shape of model {model.name!r}; pass input_shape=(height, width, channels)."
        )
    default = 224 if spec.stem == "imagenet" else 32
    shape = tuple(default if s is None else s for s in shape[:2]) + tuple(shape[2:])
    if len(shape) != 3 or any(not isinstance(s, int) or s < MIN_INPUT_SIZE for s in shape[:2]) or shape[2] is None:
        raise ValueError(
            f"A ResNet input must be (height, width, channels) with height and width >= {MIN_INPUT_SIZE}; got {shape}."
        )
    return shape


def _macs(view) -> int | None:
    try:
        return resnet.count_macs(view)
    except ValueError:  # a variable input size: count_macs cannot see spatial sizes
        return None


def _rows(analysis, pairs, marks, totals) -> list[BlockRow]:
    rows = []
    for found, expected in pairs:
        name = (found or expected).name
        where = ""
        if found is not None:
            position = diagnose.stride_position(analysis, found)
            convs = diagnose.branch_convs(analysis, found)
            where = (
                f" @ conv{position} ({convs[position - 1].op.kernel_size[0]}x{convs[position - 1].op.kernel_size[0]})"
                if position
                else ""
            )
        expected_where = ""
        if expected is not None and expected.stride_position:
            k = expected.convs[expected.stride_position - 1][0]
            expected_where = f" @ conv{expected.stride_position} ({k}x{k})"
        have, want = totals.get(name, (None, None))
        rows.append(
            BlockRow(
                block=name,
                in_shape=found.in_shape if found else None,
                out_shape=found.out_shape if found else None,
                stride=f"{found.stride}{where}" if found else "-",
                expected_stride=f"{expected.stride}{expected_where}" if expected else "-",
                params=have if found else None,
                expected_params=sum(expected.components.values()) if expected else None,
                shortcut=diagnose.shortcut_kind(analysis, found) if found else "-",
                expected_shortcut=expected.shortcut if expected else "-",
                differs=sorted(marks.get(name, ())) if found and expected else ["shape"],
            )
        )
    return rows


def _numerical(view, analysis, pairs, spec, options, epsilon, shape, head, seed) -> CheckResult:
    """Builds the float64 reference matching the model's head and compares outputs."""
    kwargs = {}
    if head:
        activation = keras.activations.serialize(head[-1].op.activation)
        kwargs.update(
            num_classes=head[-1].op.units, classifier_activation=None if activation == "linear" else activation
        )
    else:
        kinds = analysis.kinds(analysis.head)
        kwargs.update(include_top=False, pooling="avg" if "gap" in kinds else "max" if "gmp" in kinds else None)
    try:
        reference = resnet.build_resnet(
            spec,
            input_shape=equivalence.comparison_shape(shape),
            variant=options.variant,
            shortcut=options.shortcut,
            padding=options.padding,
            conv_bias=options.conv_bias,
            bn_epsilon=epsilon,
            dtype="float64",
            **kwargs,
        )
        ref_analysis = structure.analyse(reference)
        by_name = {block.name: block for block in ref_analysis.blocks}
        block_pairs = [(found, by_name.get(expected.name) if expected else None) for found, expected in pairs]
        return equivalence.compare(view, analysis, reference, ref_analysis, block_pairs, seed=seed)
    except Exception as error:  # noqa: BLE001 - report, do not crash, on a model we cannot run
        return CheckResult(
            "numerical_equivalence", False, f"could not compare outputs: {type(error).__name__}: {error}"
        )
