"""Structural comparisons of a found ResNet with its plan, in plain words.

Each `check_*` compares one aspect (blocks per stage, shapes, strides, shortcuts,
activations, padding, stem, head, parameters, BN conventions) and returns a
`CheckResult` whose one-line message names every block that differs and says what the
difference means. `marks` collects, per block, which table columns differ, for the
report's per-block table.
"""

from __future__ import annotations

from collections import Counter

from resnet.blocks import BlockOptions

from verification import parameters
from verification.results import CheckResult
from verification.structure import Analysis, Block

MAX_LISTED = 4
# Known BatchNorm epsilon conventions and who uses them.
EPSILON_CONVENTIONS = {
    1e-5: "PyTorch/torchvision",
    1.001e-5: "Keras applications",
    1e-3: "Keras' default and the TF Model Garden",
}
MIN_KERAS_MOMENTUM = 0.5


def result(name: str, problems: list[str], ok: str, **details) -> CheckResult:
    """A CheckResult that passes when `problems` is empty; lists the first few otherwise."""
    if not problems:
        return CheckResult(name, True, ok, details)
    shown = "; ".join(problems[:MAX_LISTED])
    more = f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    return CheckResult(name, False, shown + more, {**details, "problems": problems})


def align(analysis: Analysis, plan: parameters.Plan) -> list[tuple[Block | None, parameters.ExpectedBlock | None]]:
    """Pairs found blocks with expected ones: stage by stage when the stages agree in
    number, else in order. Unpaired entries get None on the other side."""
    found, expected = analysis.blocks, list(plan.blocks)
    if len(analysis.stage_counts) == len(plan.stage_counts):
        pairs = []
        for stage in range(len(plan.stage_counts)):
            f = [b for b in found if b.stage == stage]
            e = [b for b in expected if b.stage == stage]
            pairs += [(f[i] if i < len(f) else None, e[i] if i < len(e) else None) for i in range(max(len(f), len(e)))]
        return pairs
    return [
        (found[i] if i < len(found) else None, expected[i] if i < len(expected) else None)
        for i in range(max(len(found), len(expected)))
    ]


def _mark(marks: dict, block: str, column: str) -> None:
    marks.setdefault(block, set()).add(column)


def branch_convs(analysis: Analysis, block: Block) -> list:
    """The convolution nodes of a block's residual branch, in order."""
    return [analysis.nodes[i] for i in block.branch if analysis.nodes[i].kind == "conv"]


def stride_position(analysis: Analysis, block: Block) -> int | None:
    """1-based index of the first strided convolution of the residual branch."""
    return next((k for k, node in enumerate(branch_convs(analysis, block), 1) if node.op.strides[0] > 1), None)


def shortcut_kind(analysis: Analysis, block: Block) -> str:
    """ "identity", "projection" (has a conv), "zero-pad" (parameter-free ops) or "other"."""
    kinds = analysis.kinds(block.shortcut)
    if "conv" in kinds:
        return "projection"
    if not kinds:
        return "identity"
    if not any(analysis.nodes[i].op.weights for i in block.shortcut if hasattr(analysis.nodes[i].op, "weights")):
        return "zero-pad"
    return "other"


def check_blocks_found(analysis: Analysis, plan: parameters.Plan, model_name: str) -> CheckResult:
    """Residual blocks per stage against the spec's."""
    expected, found = plan.stage_counts, analysis.stage_counts
    details = {"found_blocks_per_stage": found, "expected_blocks_per_stage": expected}
    if not analysis.blocks:
        return CheckResult(
            "residual_blocks",
            False,
            f"no residual additions found: model {model_name!r} is not a residual network (no Add of two tensors)",
            details,
        )
    problems = []
    names = plan.spec.stage_names
    for stage in range(max(len(found), len(expected))):
        f = found[stage] if stage < len(found) else 0
        e = expected[stage] if stage < len(expected) else 0
        if f != e:
            label = names[stage] if stage < len(names) else f"stage {stage + 1}"
            problems.append(f"{label} has {f} blocks, expected {e}")
    per_block = len(plan.blocks[0].convs)
    typical = Counter(len(branch_convs(analysis, b)) for b in analysis.blocks).most_common(1)[0][0]
    if typical != per_block:
        words = {2: "basic", 3: "bottleneck"}
        problems.insert(
            0,
            f"blocks have {typical} convolutions in their branch ({words.get(typical, 'neither basic nor bottleneck')}), "
            f"{plan.spec.name} has {per_block} ({plan.spec.block} blocks)",
        )
    elif problems:
        problems[:0] = _missing_additions(analysis, plan)
    if problems:
        problems.append(f"blocks per stage {found}, expected {expected} for {plan.spec.name}")
    return result(
        "residual_blocks",
        problems,
        f"{len(analysis.blocks)} residual blocks, per stage {found}, as {plan.spec.name}",
        **details,
    )


def _missing_additions(analysis: Analysis, plan: parameters.Plan) -> list[str]:
    """Names the expected blocks whose addition is missing: a found block whose branch
    has the convolutions of k expected blocks swallowed the first k - 1 of them."""
    problems, cursor = [], 0
    per_block = len(plan.blocks[0].convs)
    for block in analysis.blocks:
        span = max(1, len(branch_convs(analysis, block)) // per_block)
        for missing in plan.blocks[cursor : cursor + span - 1]:
            problems.append(
                f"{missing.name}: no residual addition (its convolutions run straight into the next block: a plain, non-residual block)"
            )
        cursor += span
    return problems


def check_block_shapes(pairs, marks: dict) -> CheckResult:
    """Input and output shape of every block."""
    problems = []
    for found, expected in pairs:
        if found is None or expected is None:
            name = (found or expected).name
            problems.append(f"{name}: {'extra block' if expected is None else 'missing block'}")
            _mark(marks, name, "shape")
            continue
        if found.in_shape != expected.in_shape or found.out_shape != expected.out_shape:
            problems.append(
                f"{found.name}: {found.in_shape} -> {found.out_shape}, expected {expected.in_shape} -> {expected.out_shape}"
            )
            _mark(marks, found.name, "shape")
    return result("block_shapes", problems, "every block's input and output shape as expected")


def _placement(block_type: str, position: int | None) -> str:
    if block_type != "bottleneck" or position is None:
        return ""
    return {
        1: "ResNet v1 placement (the paper, Keras applications)",
        2: "ResNet v1.5 placement (torchvision, Model Garden, NVIDIA)",
    }.get(position, "")


def check_strides(analysis: Analysis, pairs, plan: parameters.Plan, marks: dict) -> CheckResult:
    """Stride of every block and which convolution of the branch carries it."""
    problems = []
    block_type = plan.spec.block
    for found, expected in pairs:
        if found is None or expected is None:
            continue
        convs = branch_convs(analysis, found)
        position = stride_position(analysis, found)
        if found.stride != expected.stride:
            problems.append(f"{found.name}: stride {found.stride}, expected {expected.stride}")
            _mark(marks, found.name, "stride")
        elif (
            position != expected.stride_position
            and position is not None
            and expected.stride_position is not None
            and len(convs) == len(expected.convs)
        ):
            kernel = convs[position - 1].op.kernel_size[0]
            want = expected.convs[expected.stride_position - 1][0]
            words = _placement(block_type, position)
            because = f": {words}; the reference is {plan.options.variant}" if words else ""
            problems.append(
                f"{found.name}: stride 2 on conv {position} ({kernel}x{kernel}) of the branch, "
                f"expected on conv {expected.stride_position} ({want}x{want}){because}"
            )
            _mark(marks, found.name, "stride")
    return result("strides", problems, f"strides on the expected convolutions ({plan.options.variant})")


def check_shortcuts(analysis: Analysis, pairs, plan: parameters.Plan, marks: dict) -> CheckResult:
    """Identity, zero-pad or projection shortcut for every block (section 3.3)."""
    option = plan.options.shortcut
    problems = []
    for found, expected in pairs:
        if found is None or expected is None:
            continue
        kind = shortcut_kind(analysis, found)
        if kind != expected.shortcut:
            why = {
                (
                    "projection",
                    "identity",
                ): f"option {option} projects only where the shape changes; projecting everywhere is option C",
                ("identity", "projection"): f"option {option} projects here",
                ("zero-pad", "projection"): f"a parameter-free (option A) shortcut where option {option} projects",
                ("projection", "zero-pad"): "option A pads with zeros instead of projecting",
            }.get((kind, expected.shortcut), "")
            problems.append(
                f"{found.name}: {kind} shortcut, expected {expected.shortcut}" + (f" ({why})" if why else "")
            )
            _mark(marks, found.name, "shortcut")
        elif kind == "projection":
            want = ["conv"] if plan.options.preactivation else ["conv", "bn"]
            have = analysis.tokens(found.shortcut)
            if have != want:
                problems.append(f"{found.name}: projection shortcut is {'-'.join(have)}, expected {'-'.join(want)}")
                _mark(marks, found.name, "shortcut")
    return result("shortcuts", problems, f"shortcuts as option {option} (section 3.3)")


def expected_branch(convs: int, preactivation: bool) -> tuple[list[str], list[str]]:
    """Expected residual-branch and after-addition op words of a block."""
    if preactivation:
        return ["bn", "relu", "conv"] * convs, []
    return ["conv", "bn", "relu"] * (convs - 1) + ["conv", "bn"], ["relu"]


def check_activations(analysis: Analysis, pairs, plan: parameters.Plan, marks: dict) -> CheckResult:
    """The order of convolutions, BatchNorms and ReLUs in every block, and what follows the addition."""
    preact = plan.options.preactivation
    problems = []
    for found, expected in pairs:
        if found is None or expected is None:
            continue
        branch = analysis.tokens(found.branch)
        post = analysis.tokens(found.post)
        want_branch, want_post = expected_branch(len(expected.convs), preact)
        if branch == want_branch and post == want_post and "conv" not in analysis.kinds(found.pre):
            continue
        _mark(marks, found.name, "layout")
        if "conv" in analysis.kinds(found.pre):
            skipped = analysis.kinds(found.pre).count("conv")
            problems.append(
                f"{found.name}: the shortcut starts after conv {skipped} of the branch instead of at the block input"
            )
        elif not preact and not post and branch[:1] == ["bn"]:
            problems.append(
                f"{found.name}: a pre-activation (v2) block (BN-ReLU before the convolutions, nothing after the "
                f"addition); the reference is {plan.options.variant}, which normalises after each convolution"
            )
        elif not preact and not post and branch[-1:] == ["relu"] and branch[:-1] == want_branch:
            problems.append(
                f"{found.name}: ReLU before the addition instead of after it (the paper adds the shortcut, then applies the ReLU)"
            )
        elif not preact and not post and branch == want_branch:
            problems.append(f"{found.name}: no ReLU after the addition")
        elif preact and "relu" in post:
            problems.append(
                f"{found.name}: ReLU after the addition in a pre-activation block (He et al. 2016 keep the identity path free of activations)"
            )
        elif preact and branch[:1] != ["bn"]:
            problems.append(
                f"{found.name}: no pre-activation: the branch starts with {branch[0] if branch else 'nothing'}, expected BN-ReLU before the first convolution"
            )
        else:
            problems.append(
                f"{found.name}: branch {'-'.join(branch)}{' then ' + '-'.join(post) if post else ''}, "
                f"expected {'-'.join(want_branch)}{' then ' + '-'.join(want_post) if want_post else ''}"
            )
    return result(
        "activations",
        problems,
        "conv/BN/ReLU order in every block as "
        + ("pre-activation (v2)" if preact else "v1/v1.5: ReLU after the addition"),
    )


def _padding_of(analysis: Analysis, node) -> str:
    """ "symmetric", "asymmetric (top t, bottom b)" or "none" for a strided conv/pool."""
    op = node.op
    kernel, stride = op.pool_size[0] if node.kind == "maxpool" else op.kernel_size[0], op.strides[0]
    source = analysis.nodes[node.inputs[0]] if node.inputs else None
    if op.padding == "same":
        size = source.shape[0] if source is not None else None
        if size is None:
            return "TensorFlow 'same'"
        total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
        top = total // 2
        return "symmetric" if top == total - top else f"TensorFlow 'same' (top {top}, bottom {total - top})"
    if source is not None and source.kind == "pad":
        (top, bottom), (left, right) = source.op.padding
        return "symmetric" if top == bottom and left == right else f"asymmetric (top {top}, bottom {bottom})"
    return "none"


def check_padding(analysis: Analysis, pairs, plan: parameters.Plan, marks: dict) -> CheckResult:
    """Padding of strided convolutions (kernel > 1) and of the stem's max-pool."""
    want_symmetric = plan.options.padding == "symmetric"
    problems = []
    regions = [("stem", analysis.stem)] + [(found.name, found.nodes) for found, expected in pairs if found is not None]
    for region, indices in regions:
        for i in indices:
            node = analysis.nodes[i]
            if node.kind not in ("conv", "maxpool"):
                continue
            kernel = node.op.pool_size[0] if node.kind == "maxpool" else node.op.kernel_size[0]
            if node.op.strides[0] < 2 or kernel < 2:
                continue
            padding = _padding_of(analysis, node)
            if want_symmetric and padding != "symmetric":
                explain = (
                    ", which at stride 2 on an even-sized map pads only the bottom and right; the reference pads "
                    f"{kernel // 2} on every side (PyTorch, Keras applications): same weights, different outputs"
                    if padding.startswith("TensorFlow")
                    else f"; the reference pads {kernel // 2} on every side"
                )
                problems.append(f"{region}: {node.name} ({node.describe()}) has {padding} padding{explain}")
                _mark(marks, region, "padding")
            elif not want_symmetric and node.op.padding != "same":
                problems.append(
                    f"{region}: {node.name} pads explicitly, the reference uses TensorFlow 'same' (padding='same')"
                )
                _mark(marks, region, "padding")
    return result(
        "padding",
        problems,
        (
            f"strided convolutions and pooling padded {plan.options.padding}ally"
            if want_symmetric
            else "TensorFlow 'same' padding, as asked"
        ),
    )


def stem_words(analysis: Analysis) -> str:
    """The stem as words, e.g. "conv7x7/2(64)-bn-relu-maxpool3x3/2"."""
    words = []
    for i in analysis.stem:
        node = analysis.nodes[i]
        if node.kind == "maxpool":
            words.append(f"maxpool{node.op.pool_size[0]}x{node.op.pool_size[1]}/{node.op.strides[0]}")
        elif node.kind == "conv":
            words.append(f"{node.describe()}({node.op.filters})")
        elif node.kind != "pad":
            words.append(node.kind)
    return "-".join(words) or "nothing"


def check_stem(analysis: Analysis, plan: parameters.Plan) -> CheckResult:
    """The stem: 7x7/2 conv, BN, ReLU, 3x3/2 max-pool (ImageNet) or a 3x3/1 conv (CIFAR)."""
    width = plan.spec.stem_width
    if plan.spec.stem == "imagenet":
        want = f"conv7x7/2({width})-bn-relu-maxpool3x3/2"
    else:
        want = f"conv3x3({width})" + ("" if plan.options.preactivation else "-bn-relu")
    have = stem_words(analysis)
    out = analysis.nodes[analysis.blocks[0].input].shape if analysis.blocks else None
    problems = []
    if have != want:
        problems.append(f"stem: {have}, expected {want} ({plan.spec.stem} stem)")
    if out is not None and out != plan.stem_out:
        problems.append(f"stem: output {out}, expected {plan.stem_out}")
    return result("stem", problems, f"stem {want}, output {plan.stem_out}", found=have, expected=want)


def check_head(analysis: Analysis, plan: parameters.Plan) -> CheckResult:
    """After the last block: (v2: BN-ReLU,) global average pooling and the classifier."""
    have = [k for k in analysis.tokens(analysis.head) if k != "flatten"]
    post = ["bn", "relu"] if plan.options.preactivation else []
    want = post + ["gap", "dense"] if plan.num_classes else None
    # Without a classifier, any global pooling (or none: the last feature map) is a valid head.
    valid = [want] if want else [post + ["gap"], post + ["gmp"], post]
    problems = [] if have in valid else [f"head: {'-'.join(have) or 'nothing'}, expected {'-'.join(valid[0])}"]
    want = valid[0]
    return result("head", problems, f"head {'-'.join(want)}", found=have, expected=want)


def check_block_parameters(analysis: Analysis, pairs, marks: dict) -> tuple[CheckResult, dict]:
    """Parameters of every block, per component, against the spec's numbers.

    Returns:
      The result and, per block name, (found total, expected total) of all weights.
    """
    problems, totals = [], {}
    for found, expected in pairs:
        if found is None or expected is None:
            continue
        have = parameters.found_components(analysis, found)
        totals[found.name] = (sum(have.values()), sum(expected.components.values()))
        diffs = [
            f"{c} {have[c]:,}, expected {expected.components[c]:,}"
            for c in parameters.COMPONENTS
            if have[c] != expected.components[c]
        ]
        if diffs:
            problems.append(f"{found.name}: " + ", ".join(diffs))
            _mark(marks, found.name, "params")
    ok = "every block's conv kernels, conv biases, BN gamma/beta, BN statistics and projection as the spec says"
    return result("block_parameters", problems, ok), totals


def check_total_parameters(found: int, plan: parameters.Plan) -> CheckResult:
    """Trainable parameters of the whole model against the spec's."""
    expected = plan.trainable
    message = f"{found:,} trainable parameters, expected {expected:,}"
    return CheckResult(
        "total_parameters",
        found == expected,
        message + ("" if found == expected else f" ({found - expected:+,})"),
        {"found": found, "expected": expected},
    )


def check_conv_biases(analysis: Analysis, options: BlockOptions) -> CheckResult:
    """Convolutions with biases, which BatchNorm's beta makes redundant."""
    region = analysis.region_of()
    biased = [n for n in analysis.nodes if n.kind == "conv" and n.op.use_bias]
    unbiased = [n for n in analysis.nodes if n.kind == "conv" and not n.op.use_bias]
    count = sum(n.op.bias.shape[0] for n in biased)
    where = sorted(
        {region.get(n.index, "?") for n in (biased if not options.conv_bias else unbiased)},
        key=list(region.values()).index,
    )
    details = {"biased_convolutions": len(biased), "bias_parameters": count}
    if options.conv_bias == bool(biased) and (not options.conv_bias or not unbiased):
        return CheckResult(
            "conv_biases", True, f"{len(biased)} convolutions with a bias, as conv_bias={options.conv_bias}", details
        )
    listed = ", ".join(where[:MAX_LISTED]) + (" ..." if len(where) > MAX_LISTED else "")
    if not options.conv_bias:
        return CheckResult(
            "conv_biases",
            False,
            f"{len(biased)} convolutions have a bias ({count:,} parameters; in {listed}), redundant in front of BatchNorm, "
            "whose beta does the same; the reference has none (conv_bias=True describes Keras applications)",
            details,
        )
    return CheckResult(
        "conv_biases",
        False,
        f"{len(unbiased)} convolutions have no bias (in {listed}), the reference asks conv_bias=True",
        details,
    )


def check_bn_conventions(analysis: Analysis, options: BlockOptions, explicit: set[str]) -> tuple[CheckResult, float]:
    """BatchNorm epsilon and momentum: consistent, a known convention, or as asked.

    A consistent, known epsilon that differs from the default is reported, not failed
    (unless the caller asked for an epsilon explicitly), and the numerical comparison
    then uses the model's epsilon.

    Returns:
      The result and the epsilon the numerical comparison should use: the one asked
      for explicitly, else the model's most common one.
    """
    region = analysis.region_of()
    bns = [n for n in analysis.nodes if n.kind == "bn"]
    if not bns:
        return (
            CheckResult(
                "bn_conventions", False, "no BatchNormalization layers: a ResNet normalises after every convolution"
            ),
            options.bn_epsilon,
        )
    problems, notes = [], []
    epsilon = _majority(bns, "epsilon", region, "epsilon", problems)
    momentum = _majority(bns, "momentum", region, "momentum", problems)
    if "bn_epsilon" in explicit and epsilon != options.bn_epsilon:
        problems.append(f"BN epsilon {epsilon:g}, asked {options.bn_epsilon:g}")
    elif epsilon != options.bn_epsilon:
        known = next((who for value, who in EPSILON_CONVENTIONS.items() if abs(value - epsilon) < 1e-12), None)
        if known is None:
            problems.append(
                f"BN epsilon {epsilon:g} is none of the usual conventions ({', '.join(f'{v:g} {w}' for v, w in EPSILON_CONVENTIONS.items())})"
            )
        else:
            notes.append(
                f"BN epsilon {epsilon:g} ({known}'s convention), not {options.bn_epsilon:g}: outputs differ slightly; compared with the model's epsilon"
            )
    low = [n for n in bns if n.op.momentum < MIN_KERAS_MOMENTUM]
    if low:
        where = sorted({region.get(n.index, "?") for n in low}, key=list(region.values()).index)
        problems.append(
            f"BN momentum {low[0].op.momentum:g} in {', '.join(where[:MAX_LISTED])}{' ...' if len(where) > MAX_LISTED else ''}: in Keras' convention "
            f"(moving = momentum * moving + (1 - momentum) * batch) that keeps only {low[0].op.momentum:.0%} of the history; "
            "PyTorch's momentum=0.1 is Keras' 0.9"
        )
    elif "bn_momentum" in explicit and momentum != options.bn_momentum:
        problems.append(f"BN momentum {momentum:g}, asked {options.bn_momentum:g}")
    ok = f"BN epsilon {epsilon:g}, momentum {momentum:g} (Keras convention) in every layer" + (
        "; " + "; ".join(notes) if notes else ""
    )
    check = result("bn_conventions", problems, ok, epsilon=epsilon, momentum=momentum, notes=notes)
    # An epsilon asked for explicitly is what the outputs must match; otherwise the
    # model's own (most common) one, so that a convention alone does not fail twice.
    return check, options.bn_epsilon if "bn_epsilon" in explicit else epsilon


def _majority(bns, attribute: str, region: dict, label: str, problems: list) -> float:
    values = Counter(float(getattr(n.op, attribute)) for n in bns)
    common = values.most_common(1)[0][0]
    odd = [n for n in bns if float(getattr(n.op, attribute)) != common]
    for node in odd[:MAX_LISTED]:
        problems.append(
            f"{region.get(node.index, '?')}: {node.name} has BN {label} {getattr(node.op, attribute):g}, the other {len(bns) - len(odd)} BN layers {common:g}"
        )
    return common


def check_flops(macs: int | None, plan: parameters.Plan) -> CheckResult:
    """Multiply-adds against the spec's (exact) and, for ImageNet networks, Table 1."""
    convention = "multiply-adds of convolutions and classifier, the paper's 'FLOPs'"
    at224 = parameters.plan_at_224(plan.spec, plan.options).macs
    table = parameters.table1_gflops(plan.spec, plan.options)
    paper = f"; at 224 px this architecture has {at224 / 1e9:.3f} G, Table 1 says {table} G" if table else ""
    details = {"found": macs, "expected": plan.macs, "at_224": at224, "table1_gflops": table}
    if macs is None:
        return CheckResult(
            "flops",
            True,
            f"not measured: the model's input size is variable (expected {plan.macs / 1e9:.3f} G at {plan.input_shape[0]} px){paper}",
            details,
        )
    problems = []
    if macs != plan.macs:
        problems.append(
            f"{macs / 1e9:.4f} G multiply-adds at {plan.input_shape[0]}x{plan.input_shape[1]}, expected {plan.macs / 1e9:.4f} G ({convention})"
        )
    if table and not parameters.within_table1(at224, table):
        problems.append(f"at 224 px the spec gives {at224 / 1e9:.3f} G, Table 1 {table} G")
    return result(
        "flops",
        problems,
        f"{macs / 1e9:.4f} G at {plan.input_shape[0]}x{plan.input_shape[1]} as expected ({convention}){paper}",
        **details,
    )
