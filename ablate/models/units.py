"""The parametric residual unit and its shortcut pieces.

One class, `ResidualUnit`, covers every unit the grammar can describe: the ablation axes (op
order, scaling, gating, shortcut kind, ops after the join) are constructor arguments taken from a
`UnitSpec`, never subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ablate.errors import ConfigError
from ablate.grammar import Op, UnitSpec

__all__ = ["Gate", "ResidualUnit", "ShortcutDropout", "UnitOptions", "ZeroPadShortcut", "make_op"]

Downsample = Literal["zero_pad", "projection"]
StrideAt = Literal["first_conv", "conv3x3"]
ShortcutBN = Literal["auto", "always", "never"]
GateInit = Literal["he", "zeros"]


@dataclass(frozen=True)
class UnitOptions:
    """Network-wide settings of every unit, for the choices the unit spec leaves open.

    Attributes:
        downsample: Shortcut where channels or resolution change, for units whose spec shortcut
            is `id` or `dropout`. "zero_pad" subsamples and appends zero channels, with no
            parameters. "projection" is a strided 1x1 conv.
        stride_at: Which branch conv carries the stride: the first conv, or the first 3x3 conv.
            He et al.'s released code strides the first conv.
        dropout_rescale: Whether a dropout shortcut divides kept values by 1 - p during training
            (inverted dropout). Default False: He et al. 2016 describe the dropout shortcut as
            "statistically scaled" by the keep ratio, so training multiplies by a 0/1 mask and
            evaluation multiplies by 1 - p, the mask's expectation.
        shortcut_bn: Whether 1x1 conv shortcuts (projections and `conv1x1` shortcuts) get a BN:
            "auto" adds one exactly in post-activation units, as in the original ResNet; the
            released pre-activation code has none. "always" or "never" force it.
        gate_init: Initialization of the gate's 1x1 conv weight W_g. Default "he" (Kaiming
            normal, fan-out, like every conv here); "zeros" makes g = sigmoid(bias) everywhere at
            initialization. The paper does not say.
        gate_bn: Whether the gate's 1x1 conv is followed by a BN before the sigmoid (default
            False; the BN bias then carries the gate bias instead of the conv).
    """

    downsample: Downsample = "zero_pad"
    stride_at: StrideAt = "first_conv"
    dropout_rescale: bool = False
    shortcut_bn: ShortcutBN = "auto"
    gate_init: GateInit = "he"
    gate_bn: bool = False


class ZeroPadShortcut(nn.Module):
    """Parameter-free shortcut: spatial subsampling and zero channels appended (option A of He et
    al. 2015, "Deep Residual Learning for Image Recognition")."""

    def __init__(self, stride: int, extra_channels: int):
        super().__init__()
        self.stride = stride
        self.extra_channels = extra_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        # F.pad counts pairs from the last dimension: (W, W, H, H, C, C).
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))

    def extra_repr(self) -> str:
        return f"stride={self.stride}, extra_channels={self.extra_channels}"


class ShortcutDropout(nn.Module):
    """Element-wise dropout on the shortcut, with or without the 1/(1-p) rescaling."""

    def __init__(self, p: float, rescale: bool):
        super().__init__()
        self.p = p
        self.rescale = rescale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rescale:
            return F.dropout(x, self.p, self.training)
        if not self.training:
            return x * (1 - self.p)
        keep = torch.empty_like(x).bernoulli_(1 - self.p)
        return x * keep

    def extra_repr(self) -> str:
        return f"p={self.p}, rescale={self.rescale}"


class Gate(nn.Module):
    """g = sigmoid(W_g x + b_g), per channel and position; W_g is a (strided) 1x1 conv."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, bias: float, init: str, bn: bool
    ):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, stride, bias=not bn)
        self.bn = nn.BatchNorm2d(out_channels) if bn else None
        self.bias_init = bias
        self.init = init

    def reset_parameters(self) -> None:
        """Set W_g by `init` and the gate bias to its spec value; runs after the network's init."""
        if self.init == "zeros":
            nn.init.zeros_(self.conv.weight)
        else:
            nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")
        bias = self.bn.bias if self.bn is not None else self.conv.bias
        nn.init.constant_(bias, self.bias_init)
        if self.bn is not None:
            nn.init.ones_(self.bn.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.conv(x)
        if self.bn is not None:
            z = self.bn(z)
        return torch.sigmoid(z)


def make_op(op: Op, channels: int, inplace: bool = False) -> nn.Module:
    """Build a non-conv op for a tensor with `channels` channels.

    `inplace` lets a relu overwrite its input; pass it only when no other path reads that input.
    """
    if op.kind == "bn":
        return nn.BatchNorm2d(channels)
    if op.kind == "relu":
        return nn.ReLU(inplace=inplace)
    if op.kind == "dropout":
        return nn.Dropout(op.p)
    raise ValueError(f"make_op builds bn, relu and dropout ops, but got {op.kind!r}")


def _build_ops(ops: tuple[Op, ...], channels: int, fresh_input: bool) -> list[nn.Module]:
    """Build a run of non-conv ops.

    A relu works in place when its input is read by nothing else and not saved for backward: a
    bn's output, or the run's input when `fresh_input`. A relu's own output is saved by autograd,
    so a second relu in a row is not in place.
    """
    modules = []
    fresh = fresh_input
    for op in ops:
        modules.append(make_op(op, channels, inplace=fresh and op.kind == "relu"))
        fresh = op.kind == "bn"
    return modules


def _stride_index(spec: UnitSpec, stride_at: str) -> int:
    """Return the index among the branch convs of the conv that carries the stride."""
    if stride_at == "conv3x3":
        for index, conv in enumerate(spec.convs):
            if conv.kernel_size == 3:
                return index
    return 0


class ResidualUnit(nn.Module):
    """y = post(join(scale_F * F(a), scale_h * h(s))), with a = prefix(x).

    The prefix is the branch's ops before its first conv (its pre-activation). An identity or
    zero-padding shortcut h reads the raw input x, so pre-activation networks keep a clean
    identity path. A 1x1 conv shortcut (projection or `conv1x1`) reads the pre-activated input a.
    With `shared_prefix` (the first unit of a pre-activation network) every shortcut reads a.
    A gate reads the same tensor as the shortcut. He et al. gate only post-activation units,
    where that is x; for pre-activated units this choice is ours.

    Args:
        spec: The unit.
        in_channels: Input channels.
        out_channels: Output channels (the width of the last branch conv).
        inner_channels: Output channels of every branch conv but the last.
        stride: Spatial stride of the unit (1 or 2).
        options: Network-wide settings.
        shared_prefix: Whether the shortcut reads the pre-activated input even when it is an
            identity.
    """

    def __init__(
        self,
        spec: UnitSpec,
        in_channels: int,
        out_channels: int,
        inner_channels: int,
        stride: int,
        options: UnitOptions,
        shared_prefix: bool = False,
    ):
        super().__init__()
        self.spec_text = str(spec)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride

        # Residual branch: prefix ops, then convs with their ops.
        # The prefix must not overwrite x, which the identity shortcut still reads.
        self.prefix = (
            nn.Sequential(*_build_ops(spec.prefix, in_channels, False)) if spec.prefix else None
        )
        layers: list[nn.Module] = []
        channels = in_channels
        stride_conv = _stride_index(spec, options.stride_at)
        n_convs = spec.num_convs
        conv_index = 0
        run: list[Op] = []
        for op in (*spec.body, None):
            if op is not None and not op.is_conv:
                run.append(op)
                continue
            # Ops after a conv read only the conv's output, so their relus may work in place.
            layers += _build_ops(tuple(run), channels, fresh_input=True)
            run = []
            if op is None:
                break
            width = out_channels if conv_index == n_convs - 1 else inner_channels
            conv_stride = stride if conv_index == stride_conv else 1
            k = op.kernel_size
            layers.append(nn.Conv2d(channels, width, k, conv_stride, padding=k // 2, bias=False))
            channels = width
            conv_index += 1
        self.branch = nn.Sequential(*layers)

        # Shortcut.
        self.shortcut, shortcut_is_conv = self._build_shortcut(spec, options)
        self.shortcut_reads_prefix = self.prefix is not None and (shortcut_is_conv or shared_prefix)

        # Join and ops after it.
        self.branch_scale = spec.branch_scale
        self.shortcut_scale = spec.shortcut_scale
        self.exclusive_gate = spec.join == "gate"
        self.gate = None
        if spec.join != "add":
            self.gate = Gate(
                in_channels,
                out_channels,
                stride,
                spec.gate_bias,
                options.gate_init,
                options.gate_bn,
            )
        # The join returns a new tensor, so the ops after it may work in place.
        self.post = nn.Sequential(*_build_ops(spec.post, out_channels, True)) if spec.post else None

    def _build_shortcut(self, spec: UnitSpec, options: UnitOptions) -> tuple[nn.Module, bool]:
        """Return the shortcut module and whether it is a 1x1 conv."""
        bn = options.shortcut_bn == "always" or (
            options.shortcut_bn == "auto" and not spec.is_preactivation
        )
        reshapes = self.in_channels != self.out_channels or self.stride != 1
        is_conv = spec.shortcut == "conv1x1" or (reshapes and options.downsample == "projection")

        if is_conv:
            conv = nn.Conv2d(self.in_channels, self.out_channels, 1, self.stride, bias=False)
            layers: list[nn.Module] = [conv, nn.BatchNorm2d(self.out_channels)] if bn else [conv]
        elif reshapes:
            extra = self.out_channels - self.in_channels
            if extra < 0:
                raise ConfigError(
                    "zero_pad shortcuts cannot reduce channels "
                    f"({self.in_channels} -> {self.out_channels}); "
                    "use downsample: projection or non-decreasing widths"
                )
            layers = [ZeroPadShortcut(self.stride, extra)]
        else:
            layers = [nn.Identity()]

        if spec.shortcut == "dropout":
            layers.append(ShortcutDropout(spec.shortcut_dropout, options.dropout_rescale))
        shortcut = layers[0] if len(layers) == 1 else nn.Sequential(*layers)
        return shortcut, is_conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.prefix(x) if self.prefix is not None else x
        shortcut_input = a if self.shortcut_reads_prefix else x
        f = self.branch(a)
        h = self.shortcut(shortcut_input)
        if self.branch_scale != 1:
            f = f * self.branch_scale
        if self.shortcut_scale != 1:
            h = h * self.shortcut_scale

        if self.gate is None:
            y = f + h
        elif self.exclusive_gate:
            y = torch.lerp(h, f, self.gate(shortcut_input))  # g*F + (1-g)*h
        else:
            y = f + (1 - self.gate(shortcut_input)) * h

        if self.post is not None:
            y = self.post(y)
        return y

    def extra_repr(self) -> str:
        return f"{self.spec_text!r}, {self.in_channels}->{self.out_channels}, stride={self.stride}"
