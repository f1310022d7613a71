"""The probe ranks the paper's residual units as its training results do, before any training.

He et al. 2016 (Tables 1 and 2, ResNet-110 on CIFAR-10) find full pre-activation best, the original
unit next, and units with a multiplicative shortcut (constant scaling by 0.5 on both paths,
dropout on the shortcut) far behind or failing to train. The margins below come from ablate's own
basic-unit ResNet-110 on digits, seeds 0-2, batch 128, measured when this test was written:

    variant              mean coherence   spread (decades)   growth
    full_preactivation   0.61             1.80               12.3
    original             0.49             1.39                7.2
    constant_scaling     0.02             4.67                0.64
    dropout_shortcut     0.03             2.82                1.5

and at depth 20: coherence 0.59, 0.48, 0.20, 0.21 and spread 1.06, 0.60, 0.37, 0.54.
"""

import numpy as np
import pytest
import torch

from ablate.probe import probe_unit

IDENTITY_UNITS = ("full_preactivation", "original")
MULTIPLICATIVE_UNITS = ("constant_scaling", "dropout_shortcut")


@pytest.fixture
def single_thread():
    # Two intra-op threads on two cores shared with other processes run this test many times
    # slower than one thread does.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _probe_means(depth: int) -> dict[str, dict[str, float]]:
    means = {}
    for name in IDENTITY_UNITS + MULTIPLICATIVE_UNITS:
        summary = probe_unit(name, depth, seeds=3, batch_size=128)
        means[name] = {scalar: summary.mean_and_std(scalar)[0] for scalar in ("mean_coherence", "spread")}
    return means


@pytest.fixture(scope="module")
def depth_110():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _probe_means(110)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_coherence_ranks_units_at_depth_110(depth_110):
    coherence = {name: values["mean_coherence"] for name, values in depth_110.items()}

    assert coherence["full_preactivation"] > coherence["original"] + 0.05
    for name in MULTIPLICATIVE_UNITS:
        assert coherence["original"] > coherence[name] + 0.3, name
        assert coherence[name] < 0.1, name
    for name in IDENTITY_UNITS:
        assert coherence[name] > 0.4, name


@pytest.mark.slow
def test_constant_scaling_spread_exceeds_identity(depth_110):
    spread = {name: values["spread"] for name, values in depth_110.items()}

    for name in IDENTITY_UNITS:
        assert spread["constant_scaling"] > spread[name] + 1.0, name


@pytest.mark.slow
def test_separation_grows_with_depth(depth_110, single_thread):
    depth_20 = _probe_means(20)

    def gap(means):
        identity = min(means[name]["mean_coherence"] for name in IDENTITY_UNITS)
        multiplicative = max(means[name]["mean_coherence"] for name in MULTIPLICATIVE_UNITS)
        return identity - multiplicative

    # Measured gaps: 0.27 at depth 20, 0.46 at depth 110.
    assert gap(depth_110) > gap(depth_20) + 0.1
    # Constant scaling's gradient spread compounds: 0.37 decades at depth 20, 4.67 at depth 110.
    assert depth_110["constant_scaling"]["spread"] > depth_20["constant_scaling"]["spread"] + 3.0


def test_probe_bit_identical_for_seed(single_thread):
    first = probe_unit("dropout_shortcut", 20, seeds=[5], batch_size=64)
    second = probe_unit("dropout_shortcut", 20, seeds=[5], batch_size=64)
    other = probe_unit("dropout_shortcut", 20, seeds=[6], batch_size=64)

    for name in ("activation_rms", "gradient_rms", "coherence"):
        np.testing.assert_array_equal(first.per_unit(name), second.per_unit(name))
    assert first.results[0].loss == second.results[0].loss
    assert not np.array_equal(first.per_unit("gradient_rms"), other.per_unit("gradient_rms"))
