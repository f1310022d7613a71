"""Published CIFAR test errors (percent, median of 5 runs) that a dashboard shows beside measured ones.

Source: He, Zhang, Ren, Sun, "Identity Mappings in Deep Residual Networks", ECCV 2016
(arXiv 1603.05027), Tables 1-3. A sweep names the table with its config key `reference`.
`FAIL` marks runs the paper reports as failing to train (test error above 20%).
"""

from __future__ import annotations

import math

__all__ = ["FAIL", "PAPER_TABLES", "paper_value"]

FAIL = math.inf
"""A run the paper reports as a failure (test error above 20%)."""

# Keys: (dataset, preset, depth). Table 1 is ResNet-110 on CIFAR-10 with shortcut variants; gate
# values are for bias init -6, the value the grammar's gating presets use.
# NOTE: rows without a preset are not listed: Table 1's gate bias inits 0 to -5 and -7, the
# shortcut-only gate with bias 0 and the plain net, and Table 3's original unit with one conv (9.90).
PAPER_TABLES: dict[str, dict[tuple[str, str, int], float]] = {
    "he2016_table1": {
        ("cifar10", "original", 110): 6.61,
        ("cifar10", "constant_scaling", 110): 12.35,
        ("cifar10", "constant_scaling_shortcut_only", 110): FAIL,
        ("cifar10", "exclusive_gating", 110): 8.70,
        ("cifar10", "shortcut_only_gating", 110): 6.91,
        ("cifar10", "conv1x1_shortcut", 110): 12.22,
        ("cifar10", "dropout_shortcut", 110): FAIL,
    },
    "he2016_table2": {
        ("cifar10", "original", 110): 6.61,
        ("cifar10", "bn_after_addition", 110): 8.17,
        ("cifar10", "relu_before_addition", 110): 7.84,
        ("cifar10", "relu_only_preactivation", 110): 6.71,
        ("cifar10", "full_preactivation", 110): 6.37,
        ("cifar10", "original", 164): 5.93,
        ("cifar10", "bn_after_addition", 164): 6.50,
        ("cifar10", "relu_before_addition", 164): 6.14,
        ("cifar10", "relu_only_preactivation", 164): 5.91,
        ("cifar10", "full_preactivation", 164): 5.46,
    },
    "he2016_table3": {
        ("cifar10", "one_layer_preactivation", 110): 8.91,
        ("cifar10", "original", 110): 6.61,
        ("cifar10", "full_preactivation", 110): 6.37,
        ("cifar10", "original", 164): 5.93,
        ("cifar10", "full_preactivation", 164): 5.46,
        ("cifar10", "original", 1001): 7.61,
        ("cifar10", "full_preactivation", 1001): 4.92,
        ("cifar100", "original", 164): 25.16,
        ("cifar100", "full_preactivation", 164): 24.33,
        ("cifar100", "original", 1001): 27.82,
        ("cifar100", "full_preactivation", 1001): 22.71,
    },
}


def paper_value(reference: str, dataset: str | None, preset: str | None, depth: object) -> float | None:
    """Return the paper's test error for one variant, `FAIL` for a reported failure, else None."""
    table = PAPER_TABLES.get(reference)
    if table is None or preset is None or dataset is None:
        return None
    try:
        depth = int(depth)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return table.get((str(dataset).lower().replace("-", ""), preset, depth))
