"""Tests of the network builder: presets build and train, exact counts, pre-activation wiring."""

from __future__ import annotations

import pytest
import torch

from ablate.errors import AblateError, ConfigError
from ablate.grammar import enumerate_units, list_presets, parse_unit
from ablate.models import (
    ModelConfig,
    build_model,
    count_macs,
    count_parameters,
    count_weighted_layers,
    depth_formula,
)
from ablate.models.units import ZeroPadShortcut

PRESETS = list_presets()
PRESET_IDS = [f"{p.name}-{p.block}" for p in PRESETS]


def smallest_depth(spec) -> int:
    return 2 + 3 * spec.num_convs


@pytest.mark.parametrize("entry", PRESETS, ids=PRESET_IDS)
@pytest.mark.parametrize("input_size", [(3, 32, 32), (1, 8, 8)], ids=["3x32x32", "1x8x8"])
def test_preset_trains_one_step(entry, input_size):
    torch.manual_seed(0)
    depth = smallest_depth(entry.spec)
    model = build_model(
        entry.name, depth, block=entry.block, in_channels=input_size[0], num_classes=7
    )
    x = torch.randn(4, *input_size)
    out = model(x)
    assert out.shape == (4, 7)
    assert torch.isfinite(out).all()
    torch.nn.functional.cross_entropy(out, torch.arange(4)).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert missing == []
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("entry", PRESETS, ids=PRESET_IDS)
def test_weighted_layers_equal_depth(entry):
    for n in (1, 2):
        depth = 2 + 3 * n * entry.spec.num_convs
        model = build_model(entry.name, depth, block=entry.block)
        assert count_weighted_layers(model) == depth
        assert model.depth == depth
        assert model.preset == entry.name


@pytest.mark.parametrize(
    ("unit", "block", "depth", "expected"),
    [
        ("full_preactivation", "bottleneck", 110, 1_146_842),
        ("full_preactivation", "bottleneck", 164, 1_703_258),
        ("original", "basic", 20, 269_722),
        ("original", "basic", 32, 464_154),
        ("original", "basic", 44, 658_586),
        ("original", "basic", 56, 853_018),
        ("original", "basic", 110, 1_727_962),
    ],
)
def test_parameter_count_matches_reference(unit, block, depth, expected):
    model = build_model(unit, depth, block=block, num_classes=10, in_channels=3)
    assert count_parameters(model) == expected


def test_parameter_count_resnet1001():
    model = build_model("full_preactivation", 1001, block="bottleneck", downsample="projection")
    assert count_parameters(model) == 10_327_706
    assert count_weighted_layers(model) == 1001


def test_macs_resnet20():
    # 3x3 convs: 16 + 3 units x 2 convs per stage; 1x1 classifier 64 x 10.
    model = build_model("original", 20)
    stem = 32 * 32 * 16 * 3 * 9
    stage1 = 6 * 32 * 32 * 16 * 16 * 9
    stage2 = 16 * 16 * 32 * 16 * 9 + 5 * 16 * 16 * 32 * 32 * 9
    stage3 = 8 * 8 * 64 * 32 * 9 + 5 * 8 * 8 * 64 * 64 * 9
    assert count_macs(model, (3, 32, 32)) == stem + stage1 + stage2 + stage3 + 640


@pytest.mark.parametrize(
    ("unit", "block", "depth", "nearest"),
    [
        ("original", "basic", 100, "98 or 104"),
        ("full_preactivation", "bottleneck", 100, "92 or 101"),
        ("one_layer_preactivation", "basic", 10, "8 or 11"),
        ("original", "basic", 3, "8"),
    ],
)
def test_depth_that_does_not_fit_names_nearest(unit, block, depth, nearest):
    with pytest.raises(ConfigError, match=f"nearest valid depths: {nearest}$"):
        build_model(unit, depth, block=block)


def test_depth_formula_text():
    assert str(depth_formula(parse_unit("conv-conv + id"))) == "6n+2"
    assert str(depth_formula(parse_unit("conv1x1-conv-conv1x1 + id"))) == "9n+2"
    assert str(depth_formula(parse_unit("bn-relu-conv + id"))) == "3n+2"


def test_zero_pad_shortcut_pads_with_zeros():
    model = build_model("original", 8)
    shortcut = model.units[1].shortcut
    assert isinstance(shortcut, ZeroPadShortcut)
    assert sum(p.numel() for p in shortcut.parameters()) == 0
    x = torch.randn(2, 16, 8, 8)
    out = shortcut(x)
    assert out.shape == (2, 32, 4, 4)
    assert torch.equal(out[:, :16], x[:, :, ::2, ::2])
    assert torch.equal(out[:, 16:], torch.zeros(2, 16, 4, 4))


def zero_last_branch_convs(model):
    for unit in model.units:
        last = [m for m in unit.branch if isinstance(m, torch.nn.Conv2d)][-1]
        torch.nn.init.zeros_(last.weight)


def record_units(model, x):
    """Run `model` on `x` and return every unit's (input, output)."""
    records = []
    handles = [
        u.register_forward_hook(lambda m, i, o: records.append((i[0], o))) for u in model.units
    ]
    model(x)
    for handle in handles:
        handle.remove()
    return records


@pytest.mark.parametrize(("block", "depth"), [("basic", 20), ("bottleneck", 29)])
def test_preactivation_units_are_identity_with_zeroed_branch(block, depth):
    torch.manual_seed(0)
    model = build_model("full_preactivation", depth, block=block, downsample="zero_pad")
    zero_last_branch_convs(model)
    records = record_units(model, torch.randn(2, 3, 16, 16))
    for index, (unit, (x, y)) in enumerate(zip(model.units, records)):
        if index == 0:
            assert torch.equal(
                y, unit.shortcut(unit.prefix(x))
            )  # both paths read the activated stem
        elif unit.stride == 1 and unit.in_channels == unit.out_channels:
            assert torch.equal(y, x)
        else:
            assert torch.equal(y, unit.shortcut(x))  # zero-padded raw input


def test_original_unit_is_relu_with_zeroed_branch():
    torch.manual_seed(0)
    model = build_model("original", 20)
    zero_last_branch_convs(model)
    records = record_units(model, torch.randn(2, 3, 16, 16))
    for unit, (x, y) in zip(model.units, records):
        assert torch.equal(y, torch.relu(unit.shortcut(x)))
    assert torch.equal(records[1][1], torch.relu(records[1][0]))


def capture(module, store, key):
    return module.register_forward_hook(lambda m, i, o: store.__setitem__(key, (i[0], o)))


def test_preactivation_wiring_through_hooks():
    torch.manual_seed(0)
    model = build_model("full_preactivation", 20, downsample="projection").train()
    seen = {}
    handles = [
        capture(model.stem, seen, "stem"),
        capture(model.head, seen, "head"),
        capture(model.pool, seen, "pool"),
    ]
    for index, unit in enumerate(model.units):
        handles += [
            capture(unit, seen, ("unit", index)),
            capture(unit.shortcut, seen, ("shortcut", index)),
        ]
        handles += [
            capture(unit.prefix, seen, ("prefix", index)),
            capture(unit.branch, seen, ("branch", index)),
        ]
    model(torch.randn(4, 3, 16, 16))
    for handle in handles:
        handle.remove()

    # The stem has no activation. The first unit reads its output after the shared prefix, on
    # both paths.
    assert len(model.stem) == 1
    stem_out = seen["stem"][1]
    assert seen[("unit", 0)][0] is stem_out
    activated = seen[("prefix", 0)][1]
    assert torch.equal(activated, torch.relu(activated))
    assert seen[("branch", 0)][0] is activated
    assert seen[("shortcut", 0)][0] is activated

    for index, unit in enumerate(model.units[1:], start=1):
        unit_in = seen[("unit", index)][0]
        shortcut_in = seen[("shortcut", index)][0]
        if isinstance(unit.shortcut, torch.nn.Identity):
            assert shortcut_in is unit_in  # identity shortcuts carry the raw input
        else:
            assert isinstance(
                unit.shortcut, torch.nn.Conv2d
            )  # projection without BN (pre-activated unit)
            assert shortcut_in is seen[("prefix", index)][1]
            assert shortcut_in is seen[("branch", index)][0]

    # The last addition is followed by the head activation (BN-ReLU), then pooling.
    last_out = seen[("unit", len(model.units) - 1)][1]
    assert seen["head"][0] is last_out
    assert [type(m).__name__ for m in model.head] == ["BatchNorm2d", "ReLU"]
    assert seen["pool"][0] is seen["head"][1]
    assert torch.equal(seen["head"][1], torch.relu(model.head[0](last_out)))


def test_postactivation_network_layout():
    model = build_model("original", 20, downsample="projection")
    assert [type(m).__name__ for m in model.stem] == ["Conv2d", "BatchNorm2d", "ReLU"]
    assert len(model.head) == 0
    projection = model.units[3].shortcut
    assert [type(m).__name__ for m in projection] == ["Conv2d", "BatchNorm2d"]
    assert not model.units[0].shortcut_reads_prefix


@pytest.mark.parametrize(
    ("head", "layers"), [("none", []), ("relu", ["ReLU"]), ("bn-relu", ["BatchNorm2d", "ReLU"])]
)
def test_head_override(head, layers):
    model = build_model("full_preactivation", 8, head=head)
    assert [type(m).__name__ for m in model.head] == layers


def test_relu_only_preactivation_head_is_relu():
    model = build_model("relu_only_preactivation", 8)
    assert [type(m).__name__ for m in model.head] == ["ReLU"]
    assert len(model.stem) == 1


def unit_input(unit, size=8):
    return torch.randn(2, unit.in_channels, size, size)


def test_constant_scaling_unit():
    torch.manual_seed(0)
    model = build_model("constant_scaling", 8).eval()
    unit = model.units[0]
    x = unit_input(unit)
    assert torch.allclose(unit(x), torch.relu(0.5 * unit.branch(x) + 0.5 * x))


@pytest.mark.parametrize(
    ("name", "exclusive"), [("exclusive_gating", True), ("shortcut_only_gating", False)]
)
def test_gating_unit(name, exclusive):
    torch.manual_seed(0)
    model = build_model(name, 8, gate_init="zeros").eval()
    unit = model.units[0]
    x = unit_input(unit)
    g = torch.sigmoid(torch.tensor(-6.0))
    f = unit.branch(x)
    expected = g * f + (1 - g) * x if exclusive else f + (1 - g) * x
    assert torch.allclose(unit(x), torch.relu(expected), atol=1e-6)
    assert torch.all(unit.gate.conv.bias == -6)


def test_gate_he_init_and_bn():
    model = build_model("exclusive_gating", 8, gate_bn=True)
    gate = model.units[0].gate
    assert gate.conv.bias is None
    assert torch.all(gate.bn.bias == -6)
    assert gate.conv.weight.std() > 0


@pytest.mark.parametrize(("rescale", "kept"), [(False, 1.0), (True, 2.0)])
def test_dropout_shortcut(rescale, kept):
    torch.manual_seed(0)
    model = build_model("dropout_shortcut", 8, dropout_rescale=rescale)
    dropout = model.units[0].shortcut
    x = torch.rand(2, 16, 8, 8) + 1
    out = dropout.train()(x)
    ratio = out / x
    assert set(ratio.unique().tolist()) == {0.0, kept}
    expected_eval = 0.5 * x if not rescale else x
    assert torch.equal(dropout.eval()(x), expected_eval)


@pytest.mark.parametrize(
    ("shortcut_bn", "has_bn"), [("auto", True), ("never", False), ("always", True)]
)
def test_conv1x1_shortcut_bn(shortcut_bn, has_bn):
    model = build_model("conv1x1_shortcut", 8, shortcut_bn=shortcut_bn)
    for unit in model.units:
        modules = list(unit.shortcut.modules())
        assert any(isinstance(m, torch.nn.Conv2d) for m in modules)
        assert any(isinstance(m, torch.nn.BatchNorm2d) for m in modules) == has_bn
    assert count_weighted_layers(model) == 8


@pytest.mark.parametrize(
    ("stride_at", "strides"), [("first_conv", [2, 1, 1]), ("conv3x3", [1, 2, 1])]
)
def test_stride_placement(stride_at, strides):
    model = build_model("full_preactivation", 11, block="bottleneck", stride_at=stride_at)
    convs = [m for m in model.units[1].branch if isinstance(m, torch.nn.Conv2d)]
    assert [c.stride[0] for c in convs] == strides


def test_bottleneck_widths():
    model = build_model(
        "full_preactivation", 11, block="bottleneck", widths=(8, 16, 32), num_classes=5
    )
    convs = [m for m in model.units[0].branch if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0]) for c in convs] == [
        (8, 8, 1),
        (8, 8, 3),
        (8, 32, 1),
    ]
    assert model.fc.in_features == 128
    assert model.stage_of_unit == [0, 1, 2]


def test_init_he_fan_out():
    torch.manual_seed(0)
    model = build_model("original", 56)
    conv = model.units[-1].branch[0]
    # He normal, fan-out: std = sqrt(2 / (k * k * out_channels)) = sqrt(2 / 576).
    assert abs(conv.weight.std().item() - (2 / 576) ** 0.5) < 0.002
    bn = model.units[-1].branch[1]
    assert torch.all(bn.weight == 1)
    assert torch.all(bn.bias == 0)


def test_model_config_builds_and_rejects():
    config = ModelConfig(unit="full_preactivation", block="bottleneck", depth=164)
    spec, name = config.resolve()
    assert str(spec) == "bn-relu-conv1x1-bn-relu-conv3x3-bn-relu-conv1x1 + id"
    assert name == "full_preactivation"
    assert count_parameters(config.build(10, 3)) == 1_703_258
    with pytest.raises(ValueError, match="nearest valid depths: 98 or 104"):
        ModelConfig(unit="original", depth=100)
    with pytest.raises(ValueError, match="unknown token 'convx'"):
        ModelConfig(unit="convx + id", depth=20)
    with pytest.raises(ValueError, match="extra"):
        ModelConfig(unit="original", depth=20, widht=[1])


def test_build_model_rejects_bad_options():
    with pytest.raises(ConfigError, match="downsample must be one of"):
        build_model("original", 20, downsample="pool")
    with pytest.raises(AblateError, match="did you mean 'full_preactivation'"):
        build_model("full_preact", 20)


def test_enumerated_orderings_train():
    # Every 5th of the 210 orderings of 2 bn and 2 relu, including relu-relu runs and ops after
    # the join, which exercise the in-place relu rules.
    torch.manual_seed(0)
    units = enumerate_units(2, 2)[::5] + [parse_unit("relu-relu-conv-relu-relu + id -> relu-relu")]
    for spec in units:
        model = build_model(spec, 8, in_channels=1, widths=(4, 8, 8))
        out = model(torch.randn(2, 1, 8, 8))
        out.sum().backward()
        assert all(p.grad is not None for p in model.parameters()), str(spec)


def test_model_config_error_is_located():
    from ablate.yamlio import validate_section

    with pytest.raises(ConfigError) as info:
        validate_section(ModelConfig, {"unit": "original", "depth": 100}, prefix="model")
    assert info.value.key == "model.depth"
    assert "nearest valid depths: 98 or 104" in str(info.value)
    with pytest.raises(ConfigError) as info:
        validate_section(ModelConfig, {"unit": "conv-bn", "depth": 20}, prefix="model")
    assert info.value.key == "model.unit"
    assert "missing join" in str(info.value)


@pytest.mark.parametrize("entry", PRESETS, ids=PRESET_IDS)
def test_macs_match_forward_count(entry):
    from ablate.models.counts import count_macs_by_forward

    model = build_model(entry.name, smallest_depth(entry.spec), block=entry.block, in_channels=1)
    for size in ((1, 8, 8), (1, 9, 7)):
        assert count_macs(model, size) == count_macs_by_forward(model, size)


def test_macs_reject_wrong_channels():
    with pytest.raises(AblateError, match="input_size has 1 channels, but the network takes 3"):
        count_macs(build_model("original", 8), (1, 8, 8))
