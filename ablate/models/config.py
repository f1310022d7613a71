"""`ModelConfig`: the `model` section of a trial or sweep YAML, validated with the grammar."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core.core_schema import ValidationInfo

from ablate.errors import AblateError
from ablate.grammar import UnitSpec, resolve_unit
from ablate.models.resnet import ResNet, build_model, units_per_stage

__all__ = ["ModelConfig"]


class ModelConfig(BaseModel):
    """The network of a trial.

    Attributes:
        unit: Preset name (see `ablate presets`) or block-spec text.
        block: "basic" (two 3x3 convs per preset unit) or "bottleneck" (1x1-3x3-1x1, width x4).
        widths: Inner width of each stage.
        depth: Weighted layers; must be 2 + len(widths) * n * k for k convs per unit.
        downsample: "auto", "zero_pad" or "projection"; see `build_model`.
        stride_at: "first_conv" or "conv3x3".
        head: "auto", "bn-relu", "relu" or "none".
        dropout_rescale: Whether a dropout shortcut rescales by 1/(1-p) while training.
        shortcut_bn: "auto", "always" or "never": BN after 1x1 conv shortcuts.
        gate_init: "he" or "zeros": initialization of gate conv weights.
        gate_bn: Whether gate convs are followed by BN.
    """

    model_config = ConfigDict(extra="forbid")

    unit: str
    block: Literal["basic", "bottleneck"] = "basic"
    widths: list[int] = [16, 32, 64]
    depth: int
    downsample: Literal["auto", "zero_pad", "projection"] = "auto"
    stride_at: Literal["first_conv", "conv3x3"] = "first_conv"
    head: Literal["auto", "bn-relu", "relu", "none"] = "auto"
    dropout_rescale: bool = False
    shortcut_bn: Literal["auto", "always", "never"] = "auto"
    gate_init: Literal["he", "zeros"] = "he"
    gate_bn: bool = False

    @field_validator("unit")
    @classmethod
    def _check_unit(cls, value: str) -> str:
        try:
            resolve_unit(value)
        except AblateError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("widths")
    @classmethod
    def _check_widths(cls, value: list[int]) -> list[int]:
        if not value or any(w < 1 for w in value):
            raise ValueError("widths must be a non-empty list of positive integers")
        return value

    @field_validator("depth")
    @classmethod
    def _check_depth(cls, value: int, info: ValidationInfo) -> int:
        if "unit" not in info.data or "widths" not in info.data:
            return value  # the unit or widths already failed; that error is reported
        spec, _ = resolve_unit(info.data["unit"], info.data.get("block", "basic"))
        try:
            units_per_stage(spec, value, len(info.data["widths"]))
        except AblateError as exc:
            raise ValueError(str(exc)) from None
        return value

    def resolve(self) -> tuple[UnitSpec, str | None]:
        """Return the unit spec (its `str` is the canonical text) and its preset name or None."""
        return resolve_unit(self.unit, self.block)

    def build(self, num_classes: int = 10, in_channels: int = 3) -> ResNet:
        """Build the network for a dataset with `num_classes` classes and `in_channels` channels."""
        return build_model(
            self.unit,
            self.depth,
            block=self.block,
            widths=tuple(self.widths),
            num_classes=num_classes,
            in_channels=in_channels,
            downsample=self.downsample,
            stride_at=self.stride_at,
            head=self.head,
            dropout_rescale=self.dropout_rescale,
            shortcut_bn=self.shortcut_bn,
            gate_init=self.gate_init,
            gate_bn=self.gate_bn,
        )
