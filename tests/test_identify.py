"""identify(): the closest reference configuration, read back from the graph."""

import keras
import pytest

import resnet
import verification
from reimplementations import functional_resnet, subclassed_resnet
from zoo_structural import ZOO


def test_keras_applications_resnet50_is_v1_with_conv_biases():
    found = verification.identify(keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3)))
    assert str(found) == "resnet50, v1, conv_bias=True"
    assert found.exact and found.options["shortcut"] == "B" and found.options["bn_epsilon"] == 1.001e-5


@pytest.mark.parametrize(
    "name, kwargs, expected",
    [
        ("resnet18", {"input_shape": (32, 32, 3)}, "resnet18, v1.5"),
        (
            "resnet18",
            {"input_shape": (32, 32, 3), "stem": "cifar", "variant": "v2", "shortcut": "C", "padding": "same"},
            "resnet18, v2, shortcut=C, stem=cifar, padding=same",
        ),
        ("resnet20", {}, "resnet20, v1.5"),
        ("resnet56", {"variant": "v2", "shortcut": "B"}, "resnet56, v2, shortcut=B"),
        ("cifar_resnet50", {"conv_bias": True}, "cifar_resnet50, v1.5, conv_bias=True"),
    ],
)
def test_reference_models_are_identified_exactly(name, kwargs, expected):
    found = verification.identify(resnet.build_resnet(name, **kwargs))
    assert str(found) == expected
    assert found.exact


def test_bn_epsilon_is_read_but_not_part_of_the_name():
    found = verification.identify(resnet.cifar_resnet(8, bn_epsilon=1e-3))
    assert str(found) == "resnet8, v1.5" and found.options["bn_epsilon"] == 1e-3 and found.exact


def test_other_styles_are_identified():
    assert str(verification.identify(subclassed_resnet("resnet14"))) == "resnet14, v1.5, shortcut=B"
    assert str(verification.identify(functional_resnet("resnet20", variant="v2"))) == "resnet20, v2"


def test_a_buggy_model_is_identified_with_its_differences():
    bug = next(b for b in ZOO if b.name == "relu_before_add")
    found = verification.identify(bug.build())
    assert found.reference == "resnet14" and not found.exact
    assert any("conv3_block2: ReLU before the addition" in line for line in found.differences)


def test_a_missing_block_gives_the_nearest_depth():
    # ResNet-50 with one block fewer in conv4 is still closest to ResNet-50.
    spec = resnet.get_spec("resnet50")
    short = resnet.ResNetSpec(**{**spec.to_dict(), "blocks_per_stage": (3, 4, 5, 3)})
    found = verification.identify(resnet.build_resnet(short, input_shape=(32, 32, 3)))
    assert found.reference == "resnet50"
    assert any("conv4 has 5 blocks, expected 6" in line for line in found.differences)


def test_not_a_resnet():
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(keras.layers.Conv2D(4, 3)(inputs))))
    found = verification.identify(model)
    assert found.reference is None and not found.exact
    assert "not a ResNet" in str(found)


def test_non_keras_object_is_refused():
    with pytest.raises(ValueError, match="identify needs a keras.Model; got dict"):
        verification.identify({})
