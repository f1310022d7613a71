"""Tests of the network builder: every preset builds and trains, exact counts, pre-activation wiring."""

from __future__ import annotations

import pytest
import torch

from ablate.errors import AblateError, ConfigError
from ablate.grammar import list_presets, parse_unit
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
    model = build_model(entry.name, depth, block=entry.block, in_channels=input_size[0], num_classes=7)
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


@pytest.mark.parametrize("block", ["basic", "bottleneck"])
def test_preactivation_units_are_identity_with_zeroed_branch(block):
    torch.manual_seed(0)
    depth = 20 if block == "basic" else 29
    model = build_model("full_preactivation", depth, block=block, downsample="zero_pad").eval()
    zero_last_branch_convs(model)
    x = torch.randn(2, model.units[2].in_channels, 8, 8)
    for unit in model.units[1:]:
        if unit.stride == 1 and unit.in_channels == unit.out_channels:
            x_in = torch.randn(2, unit.in_channels, 8, 8)
            assert torch.equal(unit(x_in), x_in)
    assert x is not None


def test_original_unit_is_relu_with_zeroed_branch():
    torch.manual_seed(0)
    model = build_model("original", 20).eval()
    zero_last_branch_convs(model)
    x = torch.randn(2, 16, 8, 8)
    for unit in model.units[:3]:
        assert torch.equal(unit(x), torch.relu(x))


def test_model_config_builds_and_rejects():
    config = ModelConfig(unit="full_preactivation", block="bottleneck", depth=164)
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
