"""Results of sweeps: the tables a sweep writes, `load_results`, and statistics across seeds.

Importing this package does not import torch or ray.
"""

from __future__ import annotations

from ablate.results.loading import Results, load_results, read_config
from ablate.results.stats import (
    bootstrap_mean_ci,
    compare_variants,
    paired_difference,
    resolve_baseline,
    summarize_variants,
    variant_labels,
)
from ablate.results.tables import EPOCHS_FILE, TRIALS_FILE, ResultsWriter, provenance, read_tables

__all__ = [
    "EPOCHS_FILE",
    "TRIALS_FILE",
    "Results",
    "ResultsWriter",
    "bootstrap_mean_ci",
    "compare_variants",
    "load_results",
    "paired_difference",
    "provenance",
    "read_config",
    "read_tables",
    "resolve_baseline",
    "summarize_variants",
    "variant_labels",
]
