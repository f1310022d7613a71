"""Exact checks of `probe_network` on hand-built networks whose gradients are known in closed form."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from ablate.probe import probe_network


class _Scale(nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return self.factor * x


class _ToyNet(nn.Module):
    """A linear stem, then units that each scale their input, then a linear head."""

    def __init__(self, factors, stage_of_unit, features=6, classes=3):
        super().__init__()
        self.stem = nn.Linear(features, features)
        self.units = nn.ModuleList(_Scale(factor) for factor in factors)
        self.stage_of_unit = list(stage_of_unit)
        self.head = nn.Linear(features, classes)

    def forward(self, x):
        x = self.stem(x)
        for unit in self.units:
            x = unit(x)
        return self.head(x)


def _batch():
    generator = torch.Generator().manual_seed(0)
    return torch.randn(16, 6, generator=generator), torch.randint(0, 3, (16,), generator=generator)


def test_identity_units_give_coherence_one_no_spread():
    torch.manual_seed(0)
    model = _ToyNet([1.0] * 5, [0] * 5)
    result = probe_network(model, *_batch(), seed=0)

    np.testing.assert_allclose(result.coherence, 1.0, rtol=0, atol=1e-12)
    assert result.mean_coherence == pytest.approx(1.0, abs=1e-12)
    assert result.spread == pytest.approx(0.0, abs=1e-12)
    assert result.growth == pytest.approx(1.0, abs=1e-12)


def test_scaling_units_compound_geometrically():
    torch.manual_seed(0)
    model = _ToyNet([0.5] * 5, [0] * 5)
    result = probe_network(model, *_batch(), seed=0)

    # The gradient at unit k's input is 0.5 ** (5 - k) times the head's, and the input RMS halves
    # at each unit; the cosine ignores scale.
    np.testing.assert_allclose(result.gradient_rms[:-1] / result.gradient_rms[1:], 0.5, rtol=1e-6)
    np.testing.assert_allclose(result.activation_rms[1:] / result.activation_rms[:-1], 0.5, rtol=1e-6)
    assert result.spread == pytest.approx(4 * math.log10(2), rel=1e-6)
    assert result.growth == pytest.approx(0.5**4, rel=1e-6)
    assert result.mean_coherence == pytest.approx(1.0, abs=1e-12)


def test_coherence_reference_is_stage_last_unit():
    torch.manual_seed(0)
    model = _ToyNet([1.0] * 4, [0, 0, 1, 1])
    result = probe_network(model, *_batch(), seed=0)

    assert result.stage_of_unit == (0, 0, 1, 1)
    np.testing.assert_allclose(result.coherence, 1.0, atol=1e-12)


def test_shape_change_gives_nan_coherence():
    class Widen(nn.Module):
        def forward(self, x):
            return torch.cat([x, x], dim=1)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.units = nn.ModuleList([_Scale(1.0), Widen(), _Scale(1.0)])
            self.stage_of_unit = [0, 1, 1]
            self.head = nn.Linear(12, 3)

        def forward(self, x):
            for unit in self.units:
                x = unit(x)
            return self.head(x)

    torch.manual_seed(0)
    x, y = _batch()
    result = probe_network(Net(), x.requires_grad_(), y, seed=0)

    assert math.isnan(result.coherence[1])
    assert result.coherence[2] == pytest.approx(1.0)
    # Unit 0 is the only unit of stage 0, so nothing deeper is left to compare it with.
    assert math.isnan(result.mean_coherence)


def test_parameters_and_grads_untouched():
    torch.manual_seed(0)
    model = _ToyNet([1.0, 0.5], [0, 0])
    model.eval()
    before = [parameter.detach().clone() for parameter in model.parameters()]
    probe_network(model, *_batch(), seed=0)

    assert all(parameter.grad is None for parameter in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert not model.training


def test_caller_random_state_restored():
    model = _ToyNet([1.0], [0])
    batch = _batch()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    probe_network(model, *batch, seed=7)

    assert torch.equal(torch.rand(3), expected)
