"""`load_results`: one sweep's results directory as pandas tables with statistics across seeds."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ablate.errors import AblateError
from ablate.results.stats import compare_variants, summarize_variants
from ablate.results.tables import CONFIG_FILE, read_tables

__all__ = ["Results", "load_results"]

logger = logging.getLogger(__name__)


@dataclass
class Results:
    """The finished trials of one sweep.

    Attributes:
        path: The results directory.
        trials: One row per finished trial (`trials.parquet`).
        epochs: One row per trial and epoch (`epochs.parquet`).
        config: The resolved sweep config from `config.yaml`; empty when the file is missing.
    """

    path: Path
    trials: pd.DataFrame
    epochs: pd.DataFrame
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The sweep's name from its config, else the directory name."""
        return str(self.config.get("name") or self.path.name)

    @property
    def objective_metric(self) -> str:
        """The metric the sweep optimizes (config `objective.metric`, default `test_error`)."""
        objective = self.config.get("objective") or {}
        if isinstance(objective, dict) and objective.get("metric"):
            return str(objective["metric"])
        if "objective_metric" in self.trials.columns and self.trials["objective_metric"].notna().any():
            return str(self.trials["objective_metric"].dropna().iloc[0])
        return "test_error"

    @property
    def mode(self) -> str:
        """"min" or "max": the direction of the objective (config `objective.mode`, default min)."""
        objective = self.config.get("objective") or {}
        mode = objective.get("mode", "min") if isinstance(objective, dict) else "min"
        return "max" if mode == "max" else "min"

    def summary(self, confidence: float = 0.95, n_boot: int = 10_000, seed: int = 0) -> pd.DataFrame:
        """Return per-variant statistics of the objective, best first.

        See `ablate.results.stats.summarize_variants` for the columns and which trials count.
        """
        return summarize_variants(
            self.trials, mode=self.mode, confidence=confidence, n_boot=n_boot, seed=seed
        )

    def compare(self, baseline: str, confidence: float = 0.95) -> pd.DataFrame:
        """Return paired differences of every variant against `baseline` over shared seeds.

        Args:
            baseline: A variant label, or a preset name that matches exactly one variant.
            confidence: Level of the interval of the mean difference.
        """
        return compare_variants(self.trials, baseline, confidence=confidence)


def read_config(results_dir: str | Path) -> dict[str, Any]:
    """Return the resolved config of a results directory, or {} when it has no `config.yaml`."""
    import yaml

    path = Path(results_dir) / CONFIG_FILE
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise AblateError(f"cannot read {path}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AblateError(f"{path} must contain a mapping, but it contains a {type(data).__name__}")
    return data


def load_results(path: str | Path) -> Results:
    """Load a sweep's results directory, including one whose sweep is still running or was killed.

    Args:
        path: The results directory (e.g. `results/<name>`).

    Returns:
        A `Results` with every trial that has finished so far.

    Raises:
        AblateError: When the directory does not exist or contains no trials table yet.
    """
    path = Path(path)
    trials, epochs = read_tables(path)
    config = read_config(path)
    logger.debug("loaded %d trials and %d epoch rows from %s", len(trials), len(epochs), path)
    return Results(path=path, trials=trials, epochs=epochs, config=config)
