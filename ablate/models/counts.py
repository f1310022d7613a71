"""Parameter, weighted-layer and multiply-add counts of a network."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ablate.errors import AblateError
from ablate.models.resnet import ResNet

__all__ = ["count_macs", "count_macs_by_forward", "count_parameters", "count_weighted_layers"]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Return the number of parameter elements (BN running statistics excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_weighted_layers(model: nn.Module) -> int:
    """Count the weighted layers that make up a network's depth.

    For a `ResNet` these are the stem conv, the convs of every residual branch and the
    classifier. Shortcut projections and gate convs are excluded, as in He et al.'s depth
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
    are left out, as is customary for FLOP counts of CNNs. A `ResNet` is counted from its layer
    shapes without running it; any other module by one forward pass with hooks.

    Args:
        model: The network.
        input_size: (channels, height, width) of one input image.

    Raises:
        AblateError: `input_size` does not match the network's input channels.
    """
    if not isinstance(model, ResNet):
        return count_macs_by_forward(model, input_size)
    channels, height, width = input_size
    stem = model.stem[0]
    if channels != stem.in_channels:
        raise AblateError(
            f"input_size has {channels} channels, but the network takes {stem.in_channels}; "
            "pass (channels, height, width) of the network's input"
        )

    total, height, width = _conv_macs(stem, height, width)
    for unit in model.units:
        branch_height, branch_width = height, width
        for conv in _convs(unit.branch):
            macs, branch_height, branch_width = _conv_macs(conv, branch_height, branch_width)
            total += macs
        side_paths = [unit.shortcut] + ([unit.gate] if unit.gate is not None else [])
        total += sum(
            _conv_macs(conv, height, width)[0] for path in side_paths for conv in _convs(path)
        )
        height, width = branch_height, branch_width
    return total + model.fc.in_features * model.fc.out_features


def _convs(module: nn.Module) -> list[nn.Conv2d]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


def _conv_macs(conv: nn.Conv2d, height: int, width: int) -> tuple[int, int, int]:
    """Return the multiply-adds of `conv` on a height x width input, and its output size."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
    )
    out_height = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    out_width = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    macs = out_height * out_width * conv.out_channels * (conv.in_channels // conv.groups) * kh * kw
    return macs, out_height, out_width


def count_macs_by_forward(model: nn.Module, input_size: Sequence[int] = (3, 32, 32)) -> int:
    """Count conv and linear multiply-adds with hooks during one forward pass of a single image."""
    total = 0

    def count(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total += output[0].numel() * (module.in_channels // module.groups) * kh * kw
        else:
            total += output[0].numel() * module.in_features

    handles = [
        m.register_forward_hook(count)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
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
