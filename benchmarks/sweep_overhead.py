"""Sweep overhead: the same fixed-length trials through `ablate sweep` and one after another.

Runs N trials of a fixed length (digits, pre-activation ResNet, a fixed epoch count sized so one
trial takes about 20 s on one core) twice: sequentially in this process with
`ablate.train.run_trial`, and through `ablate sweep` with `--concurrency` trials at a time, one CPU
each. It prints

    sweep efficiency = total trial training time / (sweep wall time x concurrency)

where the training time is the sum of the sweep's own `seconds` column, and, as a baseline from
the same run, the sequential wall time per trial against the sweep's. Target: >= 0.85 with
concurrency 2 on 2 idle cores.

Usage: python benchmarks/sweep_overhead.py [--trials 4] [--epochs 3] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def sweep_yaml(name: str, trials: int, epochs: int, concurrency: int, results: Path) -> str:
    return (
        f"name: {name}\n"
        "model: {unit: full_preactivation, depth: 20}\n"
        f"train: {{epochs: {epochs}, batch_size: 128, device: cpu}}\n"
        f"seeds: {trials}\n"
        f"max_concurrent_trials: {concurrency}\n"
        "resources: {cpu: 1}\n"
        f"results_dir: {results}\n"
    )


def run_sequential(trials: int, epochs: int) -> tuple[float, float]:
    """Return (wall seconds, summed epoch seconds) of the trials run one after another."""
    import torch

    from ablate.train import run_trial

    torch.set_num_threads(1)
    start = time.perf_counter()
    training = 0.0
    for seed in range(trials):
        config = {
            "model": {"unit": "full_preactivation", "depth": 20},
            "train": {"epochs": epochs, "batch_size": 128, "device": "cpu"},
            "seed": seed,
        }
        result = run_trial(config)
        training += sum(epoch["epoch_seconds"] for epoch in result.history)
    return time.perf_counter() - start, training


def run_sweep(trials: int, epochs: int, concurrency: int) -> tuple[float, float]:
    """Return (wall seconds, summed trial seconds from trials.parquet) of one `ablate sweep` run."""
    import pandas as pd

    with tempfile.TemporaryDirectory() as folder:
        results = Path(folder) / "results"
        path = Path(folder) / "sweep.yaml"
        path.write_text(sweep_yaml("overhead", trials, epochs, concurrency, results))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ablate", "sweep", str(path)], check=True, env=env, cwd=folder)
        wall = time.perf_counter() - start
        trials_table = pd.read_parquet(results / "overhead" / "trials.parquet")
        return wall, float(trials_table["seconds"].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per trial; size it to about 20 s")
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    sequential_wall, sequential_training = run_sequential(args.trials, args.epochs)
    sweep_wall, sweep_training = run_sweep(args.trials, args.epochs, args.concurrency)
    efficiency = sweep_training / (sweep_wall * args.concurrency)
    print(f"trials: {args.trials} x {args.epochs} epochs; concurrency {args.concurrency}")
    print(f"sequential: {sequential_wall:.1f} s wall, {sequential_training:.1f} s training "
          f"({sequential_wall / args.trials:.1f} s per trial)")
    print(f"sweep:      {sweep_wall:.1f} s wall, {sweep_training:.1f} s training")
    print(f"sweep efficiency = {efficiency:.2f} (target >= 0.85)")
    print(f"speed-up over sequential = {sequential_wall / sweep_wall:.2f}x (ideal {args.concurrency}x)")


if __name__ == "__main__":
    main()
