"""The CIFAR-style ResNet built from a unit spec (He et al. 2016, arXiv 1603.05027).

Stem: one 3x3 conv at the first stage's width. Stages: n units each, widths 16/32/64 by default
(times 4 at the output of bottleneck units), stride 2 at the first unit of every stage but the
first. Head: global average pooling and a linear classifier.

Pre-activation rules apply to units whose branch starts with ops before its first conv (the
prefix). Then the stem is a bare conv, and the first unit applies its prefix once and feeds it to
both paths. After the last unit the prefix ops are applied once more before pooling (the head
activation). Otherwise the stem is conv-bn-relu and nothing precedes the pooling.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ablate.errors import ConfigError
from ablate.grammar import UnitSpec, resolve_unit
from ablate.models.units import Gate, ResidualUnit, UnitOptions, make_op

__all__ = ["EXPANSION", "DepthFormula", "ResNet", "build_model", "depth_formula", "units_per_stage"]

logger = logging.getLogger(__name__)

# Output width of a unit relative to its inner width, per block.
EXPANSION = {"basic": 1, "bottleneck": 4}
Head = Literal["auto", "bn-relu", "relu", "none"]
_HEADS = ("auto", "bn-relu", "relu", "none")
_DOWNSAMPLES = ("auto", "zero_pad", "projection")
_STRIDES = ("first_conv", "conv3x3")


@dataclass(frozen=True)
class DepthFormula:
    """depth = 2 + num_stages * n * k: stem, classifier, and k convs in each of n units per stage.

    Attributes:
        k: Convs per unit.
        num_stages: Number of stages.
    """

    k: int
    num_stages: int = 3

    @property
    def step(self) -> int:
        return self.num_stages * self.k

    def __str__(self) -> str:
        return f"{self.step}n+2"

    def is_valid(self, depth: int) -> bool:
        """Check that `depth` is 2 + step * n for some n >= 1."""
        return depth >= 2 + self.step and (depth - 2) % self.step == 0

    def nearest_valid(self, depth: int) -> list[int]:
        """Return the valid depths next to `depth` (one or two values)."""
        below = 2 + self.step * ((depth - 2) // self.step)
        candidates = [below, below + self.step]
        return [d for d in candidates if d >= 2 + self.step and d != depth] or [2 + self.step]

    def units_per_stage(self, depth: int) -> int:
        """Return n for `depth`.

        Raises:
            ConfigError: `depth` does not fit; the message names the nearest valid depths.
        """
        if isinstance(depth, bool) or not isinstance(depth, int):
            raise ConfigError(f"depth must be an integer, but got {depth!r}")
        if not self.is_valid(depth):
            nearest = " or ".join(str(d) for d in self.nearest_valid(depth))
            raise ConfigError(
                f"depth {depth} does not fit units with {self.k} conv{'s' if self.k > 1 else ''}: "
                f"depth must be {self} with n >= 1; nearest valid depths: {nearest}"
            )
        return (depth - 2) // self.step


def depth_formula(spec: UnitSpec, num_stages: int = 3) -> DepthFormula:
    """Return the depth formula of networks built from `spec` (6n+2 for two convs per unit)."""
    return DepthFormula(spec.num_convs, num_stages)


def units_per_stage(spec: UnitSpec, depth: int, num_stages: int = 3) -> int:
    """Return n such that depth = 2 + num_stages * n * k; raise `ConfigError` when none exists."""
    return depth_formula(spec, num_stages).units_per_stage(depth)


class ResNet(nn.Module):
    """A CIFAR-style residual network; build it with `build_model`.

    Attributes:
        spec: The unit of every residual unit.
        preset: The preset name of `spec`, or None.
        depth: Weighted layers: stem conv, branch convs, classifier.
        block: "basic" or "bottleneck".
        stem: First conv, followed by bn-relu unless the units are pre-activated.
        units: The residual units in order.
        stage_of_unit: Stage index (0-based) of every unit.
        head: Activation after the last unit, before pooling (may be empty).
        fc: The classifier.
    """

    def __init__(
        self,
        spec: UnitSpec,
        depth: int,
        block: str,
        widths: Sequence[int],
        num_classes: int,
        in_channels: int,
        options: UnitOptions,
        head: str,
        preset: str | None = None,
    ):
        super().__init__()
        self.spec = spec
        self.preset = preset
        self.depth = depth
        self.block = block
        self.widths = tuple(widths)
        self.options = options
        n = units_per_stage(spec, depth, len(widths))
        expansion = EXPANSION[block]

        # Stem. Pre-activated units supply the stem's activation themselves.
        stem: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, 1, padding=1, bias=False)]
        if not spec.is_preactivation:
            stem += [nn.BatchNorm2d(widths[0]), nn.ReLU()]
        self.stem = nn.Sequential(*stem)

        # Stages.
        units: list[ResidualUnit] = []
        self.stage_of_unit: list[int] = []
        channels = widths[0]
        for stage, width in enumerate(widths):
            for index in range(n):
                stride = 2 if stage > 0 and index == 0 else 1
                shared = not units  # the network's first unit feeds its prefix to both paths
                unit = ResidualUnit(
                    spec, channels, width * expansion, width, stride, options, shared
                )
                units.append(unit)
                self.stage_of_unit.append(stage)
                channels = width * expansion
        self.units = nn.ModuleList(units)
        self.num_features = channels

        # Head activation, pooling and classifier.
        self.head = nn.Sequential(*self._head_ops(head, channels))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        self._initialize()

    def _head_ops(self, head: str, channels: int) -> list[nn.Module]:
        if head == "auto":
            return [make_op(op, channels) for op in self.spec.prefix]
        if head == "bn-relu":
            return [nn.BatchNorm2d(channels), nn.ReLU()]
        if head == "relu":
            return [nn.ReLU()]
        return []

    def _initialize(self) -> None:
        """He normal init (fan-out) for convs, BN weight 1 and bias 0, then each gate's own init.

        The classifier keeps PyTorch's default `nn.Linear` init, as torchvision's ResNet does.
        """
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for module in self.modules():
            if isinstance(module, Gate):
                module.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for unit in self.units:
            x = unit(x)
        x = self.head(x)
        x = self.pool(x).flatten(1)
        return self.fc(x)


def build_model(
    unit: UnitSpec | str,
    depth: int,
    *,
    block: str = "basic",
    widths: Sequence[int] = (16, 32, 64),
    num_classes: int = 10,
    in_channels: int = 3,
    downsample: str = "auto",
    stride_at: str = "first_conv",
    head: str = "auto",
    dropout_rescale: bool = False,
    shortcut_bn: str = "auto",
    gate_init: str = "he",
    gate_bn: bool = False,
) -> ResNet:
    """Build a CIFAR-style ResNet from a unit spec or preset name.

    Args:
        unit: Preset name, block-spec text, or a `UnitSpec`.
        depth: Weighted layers, 2 + 3nk for k convs per unit (6n+2 basic, 9n+2 bottleneck).
        block: "basic" (output width w) or "bottleneck" (output width 4w); also picks presets.
        widths: Inner width of each stage.
        num_classes: Classifier outputs.
        in_channels: Input image channels.
        downsample: "auto" (zero_pad for basic, projection for bottleneck), "zero_pad" or
            "projection": the shortcut where channels or resolution change.
        stride_at: "first_conv" or "conv3x3": the branch conv that carries a unit's stride.
        head: "auto" (the unit's pre-activation ops when it has them, else nothing), "bn-relu",
            "relu" or "none": the activation between the last unit and pooling.
        dropout_rescale: Whether a dropout shortcut rescales by 1/(1-p) while training.
        shortcut_bn: "auto", "always" or "never": BN after 1x1 conv shortcuts; "auto" adds it
            in post-activation units only.
        gate_init: "he" or "zeros": initialization of the gates' 1x1 conv weights.
        gate_bn: Whether a gate's 1x1 conv is followed by BN.

    Raises:
        SpecError: `unit` is neither a preset name nor a valid spec.
        ConfigError: An option is invalid or `depth` does not fit the unit.
    """
    spec, preset = resolve_unit(unit, block)
    _check_choice("downsample", downsample, _DOWNSAMPLES)
    _check_choice("stride_at", stride_at, _STRIDES)
    _check_choice("head", head, _HEADS)
    _check_choice("shortcut_bn", shortcut_bn, ("auto", "always", "never"))
    _check_choice("gate_init", gate_init, ("he", "zeros"))
    if not widths or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
        raise ConfigError(
            f"widths must be a non-empty list of positive integers, but got {list(widths)!r}"
        )
    for name, value in (("num_classes", num_classes), ("in_channels", in_channels)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, but got {value!r}")

    if downsample == "auto":
        downsample = "projection" if block == "bottleneck" else "zero_pad"
    options = UnitOptions(
        downsample=downsample,
        stride_at=stride_at,
        dropout_rescale=bool(dropout_rescale),
        shortcut_bn=shortcut_bn,
        gate_init=gate_init,
        gate_bn=bool(gate_bn),
    )
    model = ResNet(spec, depth, block, widths, num_classes, in_channels, options, head, preset)
    logger.debug("built %s ResNet-%d (%s): %s", block, depth, preset or "custom", spec)
    return model


def _check_choice(name: str, value: object, accepted: tuple[str, ...]) -> None:
    if value not in accepted:
        raise ConfigError(f"{name} must be one of {', '.join(accepted)}, but got {value!r}")
