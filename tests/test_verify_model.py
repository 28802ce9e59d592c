"""verify_model: built-in models, Keras applications, re-implementations and the bug zoo."""

import json

import keras
import pytest

import resnet
import verification
from reimplementations import functional_resnet, subclassed_resnet
from verification.results import CheckReport
from zoo_structural import TINY_BOTTLENECK, ZOO


def _failures(report):
    return " | ".join(c.message for c in report.failures)


@pytest.mark.parametrize("variant", ["v1", "v1.5", "v2"])
@pytest.mark.parametrize("shortcut", ["A", "B", "C"])
def test_cifar_reference_passes_every_variant_and_shortcut(variant, shortcut):
    model = resnet.cifar_resnet(8, variant=variant, shortcut=shortcut)
    report = verification.verify_model(model, "resnet8", variant=variant, shortcut=shortcut)
    assert report.passed, _failures(report)
    assert report.get("numerical_equivalence").details["compared_layers"] > 10


@pytest.mark.parametrize(
    "name, size, kwargs",
    [
        (TINY_BOTTLENECK, 32, {"variant": "v1"}),
        (TINY_BOTTLENECK, 40, {"variant": "v2", "shortcut": "C"}),
        (TINY_BOTTLENECK, 64, {"stem": "imagenet", "padding": "same", "conv_bias": True}),
        ("resnet14", 40, {"stem": "imagenet", "shortcut": "B"}),
        ("resnet20", 48, {}),
        ("resnet18", 32, {"variant": "v1"}),
    ],
)
def test_reference_passes_at_other_sizes_and_options(name, size, kwargs):
    # TINY_BOTTLENECK: bottleneck blocks at a fraction of ResNet-50's cost.
    model = resnet.build_resnet(name, input_shape=(size, size, 3), num_classes=7, **kwargs)
    report = verification.verify_model(model, name, **kwargs)
    assert report.passed, _failures(report)


def test_training_preflight_call():
    model = resnet.cifar_resnet(20, variant="v2", shortcut="B")
    report = verification.verify_model(model, "resnet20", variant="v2", shortcut="B", stem="cifar")
    assert report.passed and isinstance(report, CheckReport)


def test_keras_applications_resnet50_passes_as_v1_with_biases_and_fails_the_default():
    app = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10)
    described = verification.verify_model(app, "resnet50", variant="v1", conv_bias=True)
    assert described.passed, _failures(described)
    # The epsilon convention is reported, not failed.
    assert any("1.001e-05" in note and "Keras applications" in note for note in described.notes)
    exact = verification.verify_model(
        app, "resnet50", variant="v1", conv_bias=True, bn_epsilon=1.001e-5, numerical=False
    )
    assert exact.passed and not exact.notes

    default = verification.verify_model(app, "resnet50")
    assert not default.passed
    strides = default.get("strides")
    assert not strides.passed and "conv3_block1" in strides.message and "v1 placement" in strides.message
    biases = default.get("conv_biases")
    assert not biases.passed and "53 convolutions have a bias" in biases.message
    assert default.get("numerical_equivalence").details["first_difference"] == "conv3_block1_1_conv"


def test_explicit_epsilon_is_enforced_structurally_and_numerically():
    model = resnet.cifar_resnet(8, bn_epsilon=1.001e-5)
    assert verification.verify_model(model, "resnet8").passed
    strict = verification.verify_model(model, "resnet8", bn_epsilon=1e-5)
    assert not strict.get("bn_conventions").passed
    numerical = strict.get("numerical_equivalence")
    assert not numerical.passed and numerical.details["first_difference"] == "conv1_bn"


@pytest.mark.slow
@pytest.mark.parametrize(
    "app, name", [(keras.applications.ResNet101, "resnet101"), (keras.applications.ResNet152, "resnet152")]
)
def test_keras_applications_deeper(app, name):
    model = app(weights=None, input_shape=(64, 64, 3), classes=10)
    assert verification.verify_model(model, name, variant="v1", conv_bias=True).passed
    default = verification.verify_model(model, name)
    assert "v1 placement" in default.get("strides").message and not default.get("conv_biases").passed


@pytest.mark.slow
@pytest.mark.parametrize(
    "build",
    [
        lambda: functional_resnet("resnet50", input_shape=(64, 64, 3)),
        lambda: subclassed_resnet("resnet50", variant="v1"),
    ],
)
def test_resnet50_reimplementations(build):
    model = build()
    variant = "v1" if model.name.startswith("subclassed") else "v1.5"
    report = verification.verify_model(model, "resnet50", variant=variant)
    assert report.passed, _failures(report)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"])
@pytest.mark.parametrize("variant", ["v1", "v1.5", "v2"])
def test_full_size_reference_passes(name, variant):
    report = verification.verify_model(resnet.build_resnet(name, variant=variant), name, variant=variant)
    assert report.passed, _failures(report)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
@pytest.mark.parametrize("variant", ["v1", "v2"])
@pytest.mark.parametrize("shortcut", ["A", "C"])
@pytest.mark.parametrize("size", [64, 96])
def test_imagenet_reference_passes_every_shortcut(name, variant, shortcut, size):
    model = resnet.build_resnet(name, variant=variant, shortcut=shortcut, input_shape=(size, size, 3))
    report = verification.verify_model(model, name, variant=variant, shortcut=shortcut)
    assert report.passed, _failures(report)


def test_verification_leaves_the_model_as_it_was():
    model = subclassed_resnet("resnet8")
    weights = [w.copy() for w in model.get_weights()]
    nodes = [len(layer._inbound_nodes) for layer in model._flatten_layers()]
    assert verification.verify_model(model, "resnet8", shortcut="B").passed
    assert all((a == b).all() for a, b in zip(weights, model.get_weights()))
    assert [len(layer._inbound_nodes) for layer in model._flatten_layers()] == nodes


@pytest.mark.parametrize(
    "build, reference, options",
    [
        (lambda: functional_resnet("resnet14"), "resnet14", {}),
        (
            lambda: functional_resnet("resnet14", shortcut="B", padding="same"),
            "resnet14",
            {"shortcut": "B", "padding": "same"},
        ),
        (lambda: functional_resnet("resnet14", variant="v2"), "resnet14", {"variant": "v2"}),
        (lambda: functional_resnet(TINY_BOTTLENECK, variant="v1"), TINY_BOTTLENECK, {"variant": "v1"}),
        (
            lambda: functional_resnet("resnet14", stem="imagenet", input_shape=(64, 64, 3)),
            "resnet14",
            {"stem": "imagenet"},
        ),
        (lambda: subclassed_resnet("resnet14"), "resnet14", {"shortcut": "B"}),
        (lambda: subclassed_resnet(TINY_BOTTLENECK, variant="v1"), TINY_BOTTLENECK, {"variant": "v1"}),
        (
            lambda: subclassed_resnet(TINY_BOTTLENECK, stem="imagenet", input_shape=(64, 64, 3)),
            TINY_BOTTLENECK,
            {"stem": "imagenet"},
        ),
    ],
)
def test_correct_reimplementations_pass(build, reference, options):
    report = verification.verify_model(build(), reference, **options)
    assert report.passed, _failures(report)
    assert report.get("numerical_equivalence").passed


@pytest.mark.parametrize("bug", ZOO, ids=[bug.name for bug in ZOO])
def test_zoo_bug_is_caught_and_its_block_named(bug):
    report = verification.verify_model(bug.build(), bug.reference, numerical=bug.numerical, **bug.options)
    assert not report.passed, bug.description
    assert any(bug.block in check.message for check in report.failures), _failures(report)
    structural = [c for c in report.failures if c.name != "numerical_equivalence"]
    # Bugs marked numerical have right shapes and counts: only the outputs show them.
    assert bool(structural) != bug.numerical, _failures(report)


@pytest.mark.parametrize(
    "name",
    ["relu_before_add", "tf_same_padding", "v1_stride_in_v15", "shortcut_after_first_conv"],
)
def test_numerical_comparison_alone_finds_structural_bugs(name):
    bug = next(b for b in ZOO if b.name == name)
    report = verification.verify_model(bug.build(), bug.reference, **bug.options)
    check = report.get("numerical_equivalence")
    assert not check.passed and bug.block in check.details["where"], check.message


def test_report_table_json_and_text():
    bug = next(b for b in ZOO if b.name == "v1_stride_in_v15")
    report = verification.verify_model(bug.build(), bug.reference, **bug.options)
    text = str(report)
    assert "FAILED" in text and "params found / expected" in text
    row = next(line for line in text.splitlines() if line.startswith("conv3_block1"))
    assert "2 @ conv1 (1x1) (2 @ conv2 (3x3)) *" in row
    data = json.loads(json.dumps(report.to_dict()))
    assert data["passed"] is False and data["reference"] == "tiny_bottleneck"
    assert [b["block"] for b in data["blocks"]] == ["conv2_block1", "conv2_block2", "conv3_block1", "conv3_block2"]
    assert data["blocks"][2]["differs"] == ["stride"]
    assert {c["name"] for c in data["checks"]} >= {"strides", "block_parameters", "flops", "numerical_equivalence"}


def test_wrong_family_and_variant_are_said_in_plain_words():
    v2 = verification.verify_model(resnet.cifar_resnet(8, variant="v2"), "resnet8", numerical=False)
    assert "conv2_block1: a pre-activation (v2) block" in v2.get("activations").message
    bottleneck = verification.verify_model(resnet.build_resnet(TINY_BOTTLENECK), "resnet8", numerical=False)
    message = bottleneck.get("residual_blocks").message
    assert message.startswith("blocks have 3 convolutions in their branch (bottleneck), resnet8 has 2 (basic blocks)")


def test_numerical_can_be_turned_off():
    report = verification.verify_model(resnet.cifar_resnet(8), "resnet8", numerical=False)
    assert report.passed and "numerical_equivalence" not in [c.name for c in report.checks]


def test_not_a_resnet_gets_a_verdict():
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x)), name="plain")
    report = verification.verify_model(model, "resnet20")
    assert not report.passed
    assert "no residual additions" in report.get("residual_blocks").message


@pytest.mark.parametrize(
    "model, reference, kwargs, message",
    [
        ("not a model", "resnet20", {}, "needs a keras.Model; got str"),
        (None, "resnet21", {}, "Unknown ResNet 'resnet21'"),
        (None, 3.5, {}, "reference must be a name"),
        (None, "resnet20", {"variant": "v3"}, "Unknown variant 'v3'"),
        (None, "resnet20", {"stem": "tiny"}, "Unknown stem 'tiny'"),
    ],
)
def test_bad_input_is_refused_in_one_line(model, reference, kwargs, message):
    model = resnet.cifar_resnet(8) if model is None else model
    with pytest.raises(ValueError, match=message) as error:
        verification.verify_model(model, reference, **kwargs)
    assert "\n" not in str(error.value)


def test_too_small_input_is_refused():
    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    with pytest.raises(ValueError, match="height and width >= 32"):
        verification.verify_model(model, "resnet20")


class _TensorFlowBlock(keras.layers.Layer):
    """A block whose call uses a raw TensorFlow op, which symbolic tracing cannot follow."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = keras.layers.Conv2D(3, 3, padding="same")

    def call(self, x):
        import tensorflow as tf

        return tf.nn.relu(x + self.conv(x))


def test_untraceable_model_gets_a_one_line_error():
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, _TensorFlowBlock()(inputs), name="tf_ops")
    with pytest.raises(ValueError, match="Cannot trace model 'tf_ops' symbolically") as error:
        verification.verify_model(model, "resnet8")
    assert "\n" not in str(error.value)
