"""Signal and gradient propagation through the residual units of one network at initialization.

With identity shortcuts and nothing after the addition, x_L = x_l + sum_i F(x_i), so the loss
gradient at a unit's input x_l contains the gradient at any deeper unit's input x_L unchanged (He
et al. 2016, "Identity Mappings in Deep Residual Networks", eq. 5). A multiplicative shortcut or an
op after the addition breaks that term, and the damage compounds with depth. `probe_network`
measures this on one batch, before any training. Per unit it records the RMS of the unit's input
and the RMS of the loss gradient at that input. It also records the cosine similarity between that
gradient and the gradient at the input of the last unit of the same stage.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ProbeResult", "probe_network"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeResult:
    """Per-unit measurements of one network on one batch, and their summary scalars.

    Attributes:
        activation_rms: RMS of each unit's input activations, in unit order.
        gradient_rms: RMS of the loss gradient with respect to each unit's input.
        coherence: Cosine similarity between the gradient at each unit's input and the gradient at
            the input of the last unit of its stage. NaN where the two inputs differ in shape (the
            first unit of a stage that changes the resolution or width reads the previous stage's
            output).
        stage_of_unit: Stage index of each unit.
        mean_coherence: Mean of `coherence` over the units that have a deeper reference, that is
            without the NaN entries and without each stage's last unit (1 by definition).
        spread: log10(max / min) of `gradient_rms`, in decades.
        growth: Activation RMS at the last unit's input divided by that at the first unit's input.
        loss: Cross-entropy loss of the batch.
    """

    activation_rms: np.ndarray
    gradient_rms: np.ndarray
    coherence: np.ndarray
    stage_of_unit: tuple[int, ...]
    mean_coherence: float
    spread: float
    growth: float
    loss: float


def probe_network(model: nn.Module, batch_x: torch.Tensor, batch_y: torch.Tensor, seed: int) -> ProbeResult:
    """Run one forward and backward pass of cross-entropy loss and measure every residual unit.

    The model runs in training mode, so batch normalization uses the batch statistics and dropout
    is active, as in the first training step. Random ops in the forward pass draw from the global
    torch generator seeded with `seed`; the caller's generator state is restored afterwards. The
    model's parameters and their `.grad` are left unchanged, but BN running statistics advance by
    one batch, as they would in training.

    Args:
        model: A network with `units` (the residual units in order, each taking and returning one
            tensor) and `stage_of_unit` (the stage index of each unit), as `ablate.models`
            builds them.
        batch_x: Normalized input images, shape (N, C, H, W), on the model's device.
        batch_y: Class labels, shape (N,).
        seed: Seed of the random ops in the forward pass (dropout).

    Returns:
        The per-unit measurements and their summary scalars.
    """
    units = list(model.units)
    stage_of_unit = tuple(int(stage) for stage in model.stage_of_unit)
    if not units:
        raise ValueError("the model has no residual units to probe")
    if len(stage_of_unit) != len(units):
        raise ValueError(f"stage_of_unit has {len(stage_of_unit)} entries for {len(units)} units")

    unit_inputs: list[torch.Tensor | None] = [None] * len(units)

    def capture(index: int):
        def hook(_module: nn.Module, args: tuple) -> None:
            unit_inputs[index] = args[0]

        return hook

    handles = [unit.register_forward_pre_hook(capture(index)) for index, unit in enumerate(units)]
    was_training = model.training
    # NOTE: the CUDA branch (forking the GPU generator) has not run in this repository's tests,
    # which are CPU-only.
    devices = [batch_x.device] if batch_x.device.type == "cuda" else []
    try:
        model.train()
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            logits = model(batch_x)
        loss = F.cross_entropy(logits, batch_y)
        missing = [index for index, tensor in enumerate(unit_inputs) if tensor is None]
        if missing:
            raise ValueError(f"units {missing} did not run in the forward pass")
        # autograd.grad rather than backward(): the gradients at the unit inputs are the same, and
        # the parameters' .grad stays untouched.
        gradients = torch.autograd.grad(loss, unit_inputs)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)

    return _summarize(unit_inputs, gradients, stage_of_unit, float(loss.detach()))


def _rms(tensor: torch.Tensor) -> float:
    return float(tensor.detach().double().square().mean().sqrt())


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    a = a.detach().double().flatten()
    b = b.detach().double().flatten()
    denominator = a.norm() * b.norm()
    if denominator == 0:
        return math.nan
    return float(a @ b / denominator)


def _summarize(
    inputs: list[torch.Tensor], gradients: tuple[torch.Tensor, ...], stage_of_unit: tuple[int, ...], loss: float
) -> ProbeResult:
    activation_rms = np.array([_rms(tensor) for tensor in inputs])
    gradient_rms = np.array([_rms(gradient) for gradient in gradients])

    last_of_stage = {stage: index for index, stage in enumerate(stage_of_unit)}
    coherence = np.full(len(inputs), math.nan)
    with_reference = np.zeros(len(inputs), dtype=bool)
    for index, stage in enumerate(stage_of_unit):
        reference = last_of_stage[stage]
        if gradients[index].shape != gradients[reference].shape:
            continue
        # The reference unit compares with itself; 1 exactly rather than 1 up to rounding.
        coherence[index] = 1.0 if index == reference else _cosine(gradients[index], gradients[reference])
        with_reference[index] = index != reference

    usable = with_reference & np.isfinite(coherence)
    mean_coherence = float(coherence[usable].mean()) if usable.any() else math.nan
    # A unit whose gradient vanished entirely has an unbounded spread.
    spread = float(np.log10(gradient_rms.max() / gradient_rms.min())) if gradient_rms.min() > 0 else math.inf
    growth = float(activation_rms[-1] / activation_rms[0]) if activation_rms[0] > 0 else math.inf
    return ProbeResult(
        activation_rms=activation_rms,
        gradient_rms=gradient_rms,
        coherence=coherence,
        stage_of_unit=stage_of_unit,
        mean_coherence=mean_coherence,
        spread=spread,
        growth=growth,
        loss=loss,
    )
