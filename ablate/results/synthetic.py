"""Synthetic sweep results with the real table schema, for tests, benchmarks and dashboard demos.

`write_synthetic_results` writes a results directory through `ResultsWriter`, the same path a
sweep takes, with completed, pruned, diverged and failed trials, a searched learning rate, and
optionally probe columns and a `probe.json`. The numbers are made up; nothing is trained.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ablate.results.tables import ResultsWriter, provenance

__all__ = ["SYNTHETIC_UNITS", "write_synthetic_results"]

# (preset, canonical unit text, final test error in percent around which seeds scatter)
SYNTHETIC_UNITS = (
    ("original", "conv-bn-relu-conv-bn + id -> relu", 6.6),
    ("full_preactivation", "bn-relu-conv-bn-relu-conv + id", 6.4),
    ("bn_after_addition", "conv-bn-relu-conv + id -> bn-relu", 8.2),
    ("relu_before_addition", "conv-bn-relu-conv-bn-relu + id", 7.8),
    ("relu_only_preactivation", "relu-conv-bn-relu-conv-bn + id", 6.7),
    ("constant_scaling", "conv-bn-relu-conv-bn*0.5 + id*0.5 -> relu", 12.4),
)


def _curve(final_error: float, epochs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(1, epochs + 1) / epochs
    test_error = final_error + (90.0 - final_error) * np.exp(-6.0 * t) + rng.normal(0, 0.3, epochs)
    train_loss = 0.05 + 2.25 * np.exp(-5.0 * t) + rng.normal(0, 0.02, epochs).clip(-0.04)
    return test_error, train_loss


def write_synthetic_results(
    results_dir: str | Path,
    *,
    n_variants: int = 4,
    n_seeds: int = 5,
    n_epochs: int = 10,
    depth: int = 110,
    reference: str | None = "he2016_table2",
    searched_lr: bool = True,
    probe: bool = False,
    name: str = "synthetic",
    description: str = "Synthetic results for tests",
    seed: int = 0,
) -> Path:
    """Write a synthetic sweep to `results_dir` and return the directory.

    Variants cycle through `SYNTHETIC_UNITS` (then repeat with another depth label). Trial
    statuses: the last seed of the second variant diverges, the last seed of the third is pruned
    at half the epochs, and the first seed of the fourth fails with an error.
    """
    import yaml

    results_dir = Path(results_dir)
    rng = np.random.default_rng(seed)
    writer = ResultsWriter(results_dir)
    meta = provenance(device="cpu")
    config = {
        "name": name, "description": description, "reference": reference,
        "data": {"dataset": "cifar10"},
        "model": {"unit": {"grid": [u for _, u, _ in SYNTHETIC_UNITS[:n_variants]]}, "depth": depth},
        "train": {"epochs": n_epochs, "lr": {"loguniform": [0.01, 0.3]} if searched_lr else 0.1},
        "seeds": n_seeds, "objective": {"metric": "test_error", "mode": "min"}, "probe": probe,
    }
    (results_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    profiles: dict[str, dict[str, list[list[float]]]] = {}
    for v in range(n_variants):
        preset, unit, final_error = SYNTHETIC_UNITS[v % len(SYNTHETIC_UNITS)]
        variant_depth = depth + 6 * (v // len(SYNTHETIC_UNITS))
        variant = f"unit={unit}, depth={variant_depth}"
        lr = float(np.exp(rng.uniform(math.log(0.01), math.log(0.3))))
        for s in range(n_seeds):
            status, epochs_run, error = "completed", n_epochs, None
            if v == 1 and s == n_seeds - 1:
                status, epochs_run = "diverged", max(2, n_epochs // 3)
            elif v == 2 and s == n_seeds - 1:
                status, epochs_run = "pruned", max(1, n_epochs // 2)
            elif v == 3 and s == 0:
                status, epochs_run, error = "error", 0, "RuntimeError: CUDA out of memory"
            test_error, train_loss = _curve(final_error, n_epochs, rng)
            epochs = [
                {"epoch": e + 1, "train_loss": float(train_loss[e]), "train_error": float(test_error[e] * 0.7),
                 "test_loss": float(test_error[e] / 30.0), "test_error": float(test_error[e]),
                 "lr": lr, "epoch_seconds": 1.0, "status": "running"}
                for e in range(epochs_run)
            ]
            if status == "diverged":
                epochs[-1].update(train_loss=math.nan, test_error=math.nan, test_loss=math.inf)
            if epochs:
                epochs[-1]["status"] = "completed" if status == "completed" else status
            last = epochs[-1] if epochs else {}
            finite = [e["test_error"] for e in epochs if math.isfinite(e["test_error"])]
            row = {
                "trial_id": f"t{v:03d}_{s:02d}", "status": status, "seed": s, "unit": unit,
                "preset": preset, "block": "basic", "depth": variant_depth, "variant": variant,
                "param.model.unit": unit, "param.train.lr": lr, "epochs_run": epochs_run,
                "max_epochs": n_epochs, "objective": last.get("test_error", math.nan),
                "objective_metric": "test_error", "final_test_error": last.get("test_error", math.nan),
                "best_test_error": min(finite) if finite else math.nan,
                "final_test_loss": last.get("test_loss", math.nan),
                "final_train_loss": last.get("train_loss", math.nan),
                "final_train_error": last.get("train_error", math.nan), "final_val_error": math.nan,
                "num_parameters": 1_727_962 + 1000 * v, "macs": 253_000_000 + 10_000 * v,
                "seconds": float(epochs_run), "error": error, **meta,
                "started_at": f"2024-05-01T10:{v % 60:02d}:{s % 60:02d}+00:00",
                "finished_at": f"2024-05-01T11:{v % 60:02d}:{s % 60:02d}+00:00",
            }
            if probe:
                row.update(probe_coherence=0.9 - 0.1 * v, probe_spread=1.0 + v, probe_growth=0.5 * v)
            writer.record_trial(row, epochs)
        if probe:
            units = 3 * 18 if variant_depth >= 110 else 9
            decay = 0.02 * (v % len(SYNTHETIC_UNITS))
            profiles[variant] = {
                key: [list(np.exp(-decay * np.arange(units)) * (1 + 0.05 * rng.normal(size=units)))
                      for _ in range(3)]
                for key in ("gradient_rms", "coherence", "activation_rms")
            }
    if probe:
        (results_dir / "probe.json").write_text(json.dumps(profiles), encoding="utf-8")
    return results_dir
