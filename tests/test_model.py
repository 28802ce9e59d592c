"""The reference models: exact parameter counts, shapes, options and errors.

The expected numbers are independent of this code: torchvision's parameter counts and
the paper's (He et al. 2015) figures.
"""

import keras
import numpy as np
import pytest

import resnet

# torchvision.models.resnetXX(): v1.5, projection shortcuts (B), no conv bias.
TORCHVISION_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
}
# Section 4.2, Table 6 of the paper: parameters in millions, to the digits printed.
PAPER_CIFAR_PARAMS_M = {20: "0.27", 32: "0.46", 44: "0.66", 56: "0.85", 110: "1.7"}
# Table 1 of the paper: multiply-adds at 224 px, in units of 10^9 (v1, stride on 1x1).
PAPER_GFLOPS = {"resnet18": 1.8, "resnet34": 3.6, "resnet50": 3.8, "resnet101": 7.6, "resnet152": 11.3}


def trainable_params(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TORCHVISION_PARAMS))
def test_imagenet_parameter_counts_equal_torchvision(name):
    model = getattr(resnet, name)()
    assert trainable_params(model) == TORCHVISION_PARAMS[name]


def test_resnet50_parameter_count_equals_torchvision():
    # The default run keeps one full-size count; the rest are in the slow set.
    assert trainable_params(resnet.resnet50()) == TORCHVISION_PARAMS["resnet50"]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PAPER_GFLOPS))
def test_flops_match_table_1(name):
    macs = resnet.count_macs(getattr(resnet, name)(variant="v1"))
    # The paper truncates (ResNet-34: 3.66 G printed as 3.6): agree within 2%.
    assert macs / 1e9 == pytest.approx(PAPER_GFLOPS[name], rel=0.02)


def test_resnet50_v1_and_v1_5_flops():
    # 3.8 G in the paper for v1; NVIDIA and torchvision quote 4.09 G for v1.5.
    assert round(resnet.count_macs(resnet.resnet50(variant="v1")) / 1e9, 1) == 3.9  # 3.86 G
    assert round(resnet.count_macs(resnet.resnet50()) / 1e9, 2) == 4.09


@pytest.mark.parametrize("depth", list(PAPER_CIFAR_PARAMS_M))
def test_cifar_parameter_counts_match_the_paper(depth):
    printed = PAPER_CIFAR_PARAMS_M[depth]
    decimals = len(printed.split(".")[1])
    assert f"{trainable_params(resnet.cifar_resnet(depth)) / 1e6:.{decimals}f}" == printed


def test_stage_shapes_at_224():
    feats = resnet.endpoints(resnet.resnet50())
    assert {k: tuple(v.shape[1:]) for k, v in feats.items()} == {
        "conv1": (112, 112, 64),
        "conv2": (56, 56, 256),
        "conv3": (28, 28, 512),
        "conv4": (14, 14, 1024),
        "conv5": (7, 7, 2048),
    }


def test_feature_extractor_returns_every_stage():
    extractor = resnet.feature_extractor(resnet.resnet18(input_shape=(64, 64, 3)))
    out = extractor(np.zeros((2, 64, 64, 3), "float32"))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "conv1": (2, 32, 32, 64),
        "conv2": (2, 16, 16, 64),
        "conv3": (2, 8, 8, 128),
        "conv4": (2, 4, 4, 256),
        "conv5": (2, 2, 2, 512),
    }


def test_cifar_stage_shapes():
    feats = resnet.endpoints(resnet.cifar_resnet(20))
    assert [tuple(v.shape[1:]) for v in feats.values()] == [(32, 32, 16), (32, 32, 16), (16, 16, 32), (8, 8, 64)]


def test_layer_names_follow_the_paper():
    names = {layer.name for layer in resnet.resnet50().layers}
    for expected in ["conv1_conv", "pool1_pool", "conv2_block3_out", "conv3_block4_2_conv", "conv5_block1_0_conv", "predictions"]:
        assert expected in names
    assert "conv4_block7_out" not in names  # conv4 has 6 blocks in ResNet-50


def _strides(model, name):
    return model.get_layer(name).strides


def test_v1_strides_the_1x1_and_v1_5_the_3x3():
    v1 = resnet.resnet50(variant="v1", input_shape=(64, 64, 3))
    v15 = resnet.resnet50(input_shape=(64, 64, 3))
    assert _strides(v1, "conv3_block1_1_conv") == (2, 2) and _strides(v1, "conv3_block1_2_conv") == (1, 1)
    assert _strides(v15, "conv3_block1_1_conv") == (1, 1) and _strides(v15, "conv3_block1_2_conv") == (2, 2)


def test_shortcut_options():
    def layer_names(shortcut):
        return {layer.name for layer in resnet.resnet18(shortcut=shortcut, input_shape=(32, 32, 3)).layers}

    a, b, c = layer_names("A"), layer_names("B"), layer_names("C")
    assert "conv3_block1_0_shortcut" in a and "conv3_block1_0_conv" not in a
    assert "conv3_block1_0_conv" in b and "conv2_block1_0_conv" not in b and "conv3_block2_0_conv" not in b
    assert {"conv2_block1_0_conv", "conv3_block2_0_conv"} <= c
    # B adds exactly the three projections (and their BN) that A lacks.
    params = {s: resnet.resnet18(shortcut=s).count_params() for s in "AB"}
    projections = sum(cin * cout + 4 * cout for cin, cout in [(64, 128), (128, 256), (256, 512)])
    assert params["B"] - params["A"] == projections


def test_option_a_shortcut_is_subsampled_identity_with_zero_channels():
    layer = resnet.ZeroPadShortcut(8, 2)
    x = np.arange(2 * 4 * 4 * 3, dtype="float32").reshape(2, 4, 4, 3)
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == (2, 2, 2, 8)
    np.testing.assert_array_equal(y[..., :3], x[:, ::2, ::2, :])
    assert not y[..., 3:].any()


def test_cifar_stem_has_no_max_pool():
    model = resnet.resnet18(stem="cifar", num_classes=10, input_shape=(32, 32, 3))
    names = {layer.name for layer in model.layers}
    assert "pool1_pool" not in names
    assert model.get_layer("conv1_conv").kernel_size == (3, 3) and model.get_layer("conv1_conv").strides == (1, 1)
    assert tuple(resnet.endpoints(model)["conv5"].shape[1:]) == (4, 4, 512)


def test_conv_bias_adds_one_bias_per_conv_channel():
    without = resnet.resnet18(input_shape=(32, 32, 3))
    with_bias = resnet.resnet18(input_shape=(32, 32, 3), conv_bias=True)
    conv_channels = sum(l.filters for l in without.layers if isinstance(l, keras.layers.Conv2D))
    assert with_bias.count_params() - without.count_params() == conv_channels


def test_zero_init_residual_zeroes_the_last_bn_gamma():
    model = resnet.resnet50(zero_init_residual=True, input_shape=(32, 32, 3))
    assert not np.any(model.get_layer("conv2_block1_3_bn").gamma.numpy())
    assert np.all(model.get_layer("conv2_block1_2_bn").gamma.numpy() == 1)
    # With every branch at zero each block starts as its shortcut: a ResNet-18 block
    # without projection is then the identity followed by a ReLU.
    r18 = resnet.resnet18(zero_init_residual=True, input_shape=(32, 32, 3))
    probe = keras.Model(r18.input, [r18.get_layer("conv2_block1_out").output, r18.get_layer("pool1_pool").output])
    out, block_in = probe(np.random.default_rng(0).normal(size=(1, 32, 32, 3)).astype("float32"))
    np.testing.assert_allclose(out, block_in, atol=1e-6)


def test_v2_is_pre_activation():
    model = resnet.resnet50(variant="v2", input_shape=(32, 32, 3))
    names = {layer.name for layer in model.layers}
    assert {"conv2_block1_preact_bn", "post_bn", "post_relu"} <= names
    assert "conv2_block1_3_bn" not in names and "conv2_block1_add" not in names
    # v2 projections have no BN, so the model has fewer BN layers per projection.
    assert "conv2_block1_0_bn" not in names


@pytest.mark.parametrize("size", [32, 33, 47, 64])
def test_any_input_size_from_32_px(size):
    model = resnet.resnet18(input_shape=(size, size, 3), num_classes=7)
    out = model(np.zeros((1, size, size, 3), "float32"))
    assert tuple(out.shape) == (1, 7)


def test_symmetric_padding_matches_pytorch_convention():
    """The same weights give different outputs with TF 'same' padding at stride 2.

    A stride-2 3x3 conv on an even-sized input: PyTorch (and our default) pad one
    pixel on each side, TensorFlow's 'same' pads only bottom/right. Computed by hand
    on a one-channel ramp with an all-ones kernel, the top-left output is the sum of
    the 2x2 window of the padded corner (PyTorch) or a full 3x3 window (TF 'same').
    """
    sym = resnet.resnet18(input_shape=(32, 32, 3))
    same = resnet.resnet18(input_shape=(32, 32, 3), padding="same")
    assert "conv1_pad" in {l.name for l in sym.layers} and "conv1_pad" not in {l.name for l in same.layers}
    same.set_weights(sym.get_weights())
    x = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype("float32")
    assert not np.allclose(sym(x), same(x), atol=1e-4)

    from resnet.blocks import BlockOptions, conv

    inp = keras.Input((4, 4, 1))
    layer_out = {p: conv(inp, 1, 3, 2, f"c_{p}", BlockOptions(padding=p)) for p in ("symmetric", "same")}
    ramp = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    for padding, tensor in layer_out.items():
        m = keras.Model(inp, tensor)
        m.get_layer(f"c_{padding}_conv").set_weights([np.ones((3, 3, 1, 1), "float32")])
        top_left = float(m(ramp)[0, 0, 0, 0])
        assert top_left == (0 + 1 + 4 + 5 if padding == "symmetric" else sum([0, 1, 2, 4, 5, 6, 8, 9, 10]))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"variant": "v3"}, r"Unknown variant 'v3'; valid: 'v1', 'v1.5', 'v2'"),
        ({"shortcut": "D"}, r"Unknown shortcut 'D'; valid: 'A', 'B', 'C'"),
        ({"stem": "tiny"}, r"Unknown stem 'tiny'; valid: 'imagenet', 'cifar'"),
        ({"padding": "valid"}, r"Unknown padding 'valid'; valid: 'symmetric', 'same'"),
        ({"input_shape": (31, 64, 3)}, r"height and width >= 32"),
        ({"input_shape": (64, 64)}, r"input_shape must be \(height, width, channels\)"),
        ({"num_classes": 0}, r"num_classes must be a positive integer"),
        ({"include_top": False, "pooling": "sum"}, r"Unknown pooling 'sum'"),
    ],
)
def test_bad_arguments_name_the_valid_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        resnet.resnet18(**kwargs)


def test_bad_cifar_depth():
    with pytest.raises(ValueError, match=r"CIFAR ResNet depth must be 6n\+2 .*got 21"):
        resnet.cifar_resnet(21)


def test_headless_model_and_pooling():
    assert tuple(resnet.resnet18(include_top=False, input_shape=(64, 64, 3)).output.shape) == (None, 2, 2, 512)
    assert tuple(resnet.resnet50(include_top=False, pooling="avg", input_shape=(64, 64, 3)).output.shape) == (None, 2048)
    flexible = resnet.resnet18(include_top=False, input_shape=(None, None, 3))
    assert tuple(flexible(np.zeros((1, 96, 64, 3), "float32")).shape) == (1, 3, 2, 512)


def test_float64_models(float64):
    model = resnet.cifar_resnet(8, input_shape=(32, 32, 3))
    assert all(w.dtype == "float64" for w in model.weights)
    assert model(np.zeros((1, 32, 32, 3))).dtype == "float64"
