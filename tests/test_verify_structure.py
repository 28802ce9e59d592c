"""Graph analysis and spec-derived expectations of `verification`, against known numbers."""

import keras
import pytest
from keras import ops

import resnet
from resnet.blocks import BlockOptions
from verification import diagnose, parameters, structure
from zoo_structural import TINY_BOTTLENECK

# DESIGN.md: trainable parameters with 1000 classes, no conv bias (torchvision's counts).
TORCHVISION_PARAMS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160, 152: 60_192_808}


def _analyse(model):
    with structure.graph_view(model) as view:
        return structure.analyse(view)


@pytest.mark.parametrize("depth", sorted(TORCHVISION_PARAMS))
def test_plan_counts_equal_torchvision_and_table1(depth):
    # Pure arithmetic from the spec: no model is built.
    spec = resnet.get_spec(depth)
    for variant in ("v1", "v1.5"):
        plan = parameters.plan_at_224(spec, BlockOptions(variant=variant))
        assert plan.trainable == TORCHVISION_PARAMS[depth]
        assert parameters.within_table1(plan.macs, parameters.TABLE1_GFLOPS[depth]) or variant == "v1.5"
    v1 = parameters.plan_at_224(spec, BlockOptions(variant="v1")).macs
    assert parameters.within_table1(v1, parameters.TABLE1_GFLOPS[depth])


def test_plan_resnet50_flops_v1_and_v15():
    spec = resnet.get_spec("resnet50")
    assert round(parameters.plan_at_224(spec, BlockOptions(variant="v1")).macs / 1e6) == 3858
    assert round(parameters.plan_at_224(spec, BlockOptions(variant="v1.5")).macs / 1e6) == 4089


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("resnet50", {"variant": "v1"}),
        (TINY_BOTTLENECK, {"variant": "v2", "shortcut": "C"}),
        ("resnet18", {"conv_bias": True, "padding": "same"}),
        ("resnet20", {"variant": "v2"}),
        ("resnet20", {"shortcut": "B"}),
    ],
)
def test_found_blocks_match_plan_per_component(name, kwargs):
    model = resnet.build_resnet(name, input_shape=(32, 32, 3), **kwargs)
    spec = name if isinstance(name, resnet.ResNetSpec) else resnet.get_spec(name)
    options = BlockOptions(**{"shortcut": spec.default_shortcut, **kwargs})
    plan = parameters.plan(spec, options, (32, 32, 3), model.output_shape[-1])
    analysis = _analyse(model)
    assert analysis.stage_counts == spec.blocks_per_stage
    assert [b.name for b in analysis.blocks] == [b.name for b in plan.blocks]
    # Our layer names say which block each layer belongs to: the analysis must agree.
    for block in analysis.blocks:
        assert all(analysis.nodes[i].name.startswith(block.name + "_") for i in block.nodes), block.name
    for found, expected in zip(analysis.blocks, plan.blocks):
        components = parameters.found_components(analysis, found)
        assert components == {c: expected.components[c] for c in parameters.COMPONENTS}, found.name
        assert (found.in_shape, found.out_shape) == (expected.in_shape, expected.out_shape)
    assert plan.trainable == parameters.trainable_count(model)
    assert plan.macs == resnet.count_macs(model)


def test_strides_and_shortcuts_are_read_from_the_graph():
    v1 = _analyse(resnet.resnet50(input_shape=(64, 64, 3), variant="v1"))
    v15 = _analyse(resnet.resnet50(input_shape=(64, 64, 3)))
    for analysis, position in ((v1, 1), (v15, 2)):
        strided = [b for b in analysis.blocks if b.stride == 2]
        assert [b.name for b in strided] == ["conv3_block1", "conv4_block1", "conv5_block1"]
        assert {diagnose.stride_position(analysis, b) for b in strided} == {position}
        kinds = [diagnose.shortcut_kind(analysis, b) for b in analysis.blocks]
        assert kinds == ["projection"] + ["identity"] * 2 + (["projection"] + ["identity"] * 3) + (
            ["projection"] + ["identity"] * 5
        ) + (["projection"] + ["identity"] * 2)
    cifar = _analyse(resnet.cifar_resnet(14))
    assert [diagnose.shortcut_kind(cifar, b) for b in cifar.blocks] == [
        "identity",
        "identity",
        "zero-pad",
        "identity",
        "zero-pad",
        "identity",
    ]


def test_preactivation_first_block_starts_at_the_stem_output():
    analysis = _analyse(resnet.resnet50(input_shape=(32, 32, 3), variant="v2"))
    first = analysis.blocks[0]
    assert analysis.nodes[first.input].name == "pool1_pool"
    assert analysis.tokens(first.pre) == ["bn", "relu"]  # the projection sees the pre-activation
    assert analysis.tokens(analysis.head)[:2] == ["bn", "relu"]


class _Block(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = keras.layers.Conv2D(8, 3, padding="same")

    def call(self, x):
        return ops.relu(x + self.conv(x))


def test_nested_and_subclassed_models_are_flattened_without_side_effects():
    inner_in = keras.Input((32, 32, 8))
    backbone = keras.Model(inner_in, _Block()(_Block()(inner_in)), name="backbone")
    outer_in = keras.Input((32, 32, 8))
    model = keras.Model(outer_in, keras.layers.GlobalAveragePooling2D()(backbone(outer_in)))
    layers = model._flatten_layers()
    before = [(len(l._inbound_nodes), len(l._outbound_nodes)) for l in layers]
    analysis = _analyse(model)
    assert len(analysis.blocks) == 2
    assert [analysis.tokens(b.residual) for b in analysis.blocks] == [["conv"], ["conv"]]
    assert [analysis.tokens(b.post) for b in analysis.blocks] == [["relu"], ["relu"]]
    assert [(len(l._inbound_nodes), len(l._outbound_nodes)) for l in layers] == before


def test_plain_network_has_no_blocks():
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x)))
    assert _analyse(model).blocks == []


def test_subclassed_model_needs_an_input_shape():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.block = _Block()

        def call(self, x):
            return self.block(x)

    with pytest.raises(ValueError, match="pass input_shape"):
        with structure.graph_view(Net()):
            pass
    with structure.graph_view(Net(), (32, 32, 8)) as view:
        assert len(structure.analyse(view).blocks) == 1
