"""Networks built from unit specs: the parametric residual unit, the CIFAR-style ResNet, and
parameter, layer and multiply-add counts."""

from ablate.models.config import ModelConfig
from ablate.models.counts import count_macs, count_parameters, count_weighted_layers
from ablate.models.resnet import DepthFormula, ResNet, build_model, depth_formula, units_per_stage
from ablate.models.units import ResidualUnit, UnitOptions

__all__ = [
    "DepthFormula",
    "ModelConfig",
    "ResNet",
    "ResidualUnit",
    "UnitOptions",
    "build_model",
    "count_macs",
    "count_parameters",
    "count_weighted_layers",
    "depth_formula",
    "units_per_stage",
]
