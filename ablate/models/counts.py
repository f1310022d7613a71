"""Parameter, weighted-layer and multiply-add counts of a network."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ablate.models.resnet import ResNet

__all__ = ["count_parameters", "count_weighted_layers", "count_macs"]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Return the number of parameter elements (BN running statistics excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_weighted_layers(model: nn.Module) -> int:
    """Count the weighted layers that make up a network's depth.

    For a `ResNet` these are the stem conv, the convs of every residual branch and the
    classifier; shortcut projections and gate convs are excluded, as in He et al.'s depth
    counts. For any other module, every conv and linear layer counts.
    """
    if not isinstance(model, ResNet):
        return sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())
    parts: list[nn.Module] = [model.stem, model.head, model.fc]
    for unit in model.units:
        parts += [unit.branch] + ([unit.prefix] if unit.prefix is not None else [])
    return sum(isinstance(m, (nn.Conv2d, nn.Linear)) for part in parts for m in part.modules())


def count_macs(model: nn.Module, input_size: Sequence[int] = (3, 32, 32)) -> int:
    """Count the multiply-accumulate operations of conv and linear layers for one image.

    Every conv counts, shortcut projections and gates included. BN, activations and additions
    are left out, as is customary for FLOP counts of CNNs.

    Args:
        model: The network.
        input_size: (channels, height, width) of one input image.
    """
    total = 0

    def count(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total += output[0].numel() * (module.in_channels // module.groups) * kh * kw
        else:
            total += output[0].numel() * module.in_features

    handles = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None else torch.float32
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_size, device=device, dtype=dtype))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return total
