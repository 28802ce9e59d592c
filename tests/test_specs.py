"""The paper's tables as data, and name lookup."""

import pytest

import resnet


@pytest.mark.parametrize(
    "name, block, blocks",
    [
        ("resnet18", "basic", (2, 2, 2, 2)),
        ("resnet34", "basic", (3, 4, 6, 3)),
        ("resnet50", "bottleneck", (3, 4, 6, 3)),
        ("resnet101", "bottleneck", (3, 4, 23, 3)),
        ("resnet152", "bottleneck", (3, 8, 36, 3)),
    ],
)
def test_imagenet_specs_are_table_1(name, block, blocks):
    spec = resnet.get_spec(name)
    assert (spec.family, spec.block, spec.blocks_per_stage) == ("imagenet", block, blocks)
    assert spec.widths == (64, 128, 256, 512)
    assert spec.strides == (1, 2, 2, 2)
    assert spec.stage_names == ("conv2", "conv3", "conv4", "conv5")
    assert spec.default_shortcut == "B"


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110, 1202])
def test_cifar_specs_are_section_4_2(depth):
    spec = resnet.get_spec(f"resnet{depth}")
    n = (depth - 2) // 6
    assert spec.family == "cifar" and spec.block == "basic" and spec.stem == "cifar"
    assert spec.blocks_per_stage == (n, n, n)
    assert spec.widths == (16, 32, 64) and spec.strides == (1, 2, 2)
    assert spec.default_shortcut == "A"
    # The paper counts 6n conv layers in blocks + the first conv + the classifier.
    assert 2 * sum(spec.blocks_per_stage) + 2 == depth


def test_shared_depths_resolve_to_imagenet_unless_prefixed():
    assert resnet.get_spec("resnet50").family == "imagenet"
    assert resnet.get_spec("cifar_resnet50").family == "cifar"
    assert resnet.get_spec(152).family == "imagenet"


def test_spec_to_dict_is_plain_data():
    d = resnet.get_spec("resnet50").to_dict()
    assert d["blocks_per_stage"] == (3, 4, 6, 3) and d["block"] == "bottleneck"


@pytest.mark.parametrize("bad", ["resnet19", "resnet", "vgg16", "resnet21", 7, None, "cifar_resnet18"])
def test_unknown_names_list_the_valid_ones(bad):
    with pytest.raises(ValueError, match=r"Unknown ResNet .*valid: resnet18, resnet34"):
        resnet.get_spec(bad)


@pytest.mark.parametrize("bad", [19, 21, 2, 0, -4, 20.0, True])
def test_cifar_depth_must_be_6n_plus_2(bad):
    with pytest.raises(ValueError, match=r"6n\+2"):
        resnet.cifar_spec(bad)
