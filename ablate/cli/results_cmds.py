"""Commands of the results group: `ablate dashboard`, `ablate ls` and `ablate summary`."""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this group's commands to the `ablate` parser."""
    dashboard = subparsers.add_parser(
        "dashboard", help="write a sweep's offline dashboard.html",
        description="Write results/<name>/dashboard.html, a self-contained page that opens offline.",
    )
    dashboard.add_argument("results_dir", help="the sweep's results directory, e.g. results/quickstart")
    dashboard.add_argument("--baseline", help="variant label or preset name to compare against "
                           "(default: the 'original' preset, else the best variant)")
    dashboard.add_argument("--open", action="store_true", help="open the page in a web browser")
    dashboard.set_defaults(func=run_dashboard)

    listing = subparsers.add_parser(
        "ls", help="list the sweeps in a results folder",
        description="List sweeps with trial counts by status and the best variant.",
    )
    listing.add_argument("root", nargs="?", default="results", help="folder of results directories (default: results)")
    listing.set_defaults(func=run_ls)

    summary = subparsers.add_parser(
        "summary", help="print per-variant statistics of a sweep",
        description="Print median, mean ± std and the 95%% bootstrap CI per variant, best first, "
        "and paired differences against a baseline when one is given.",
    )
    summary.add_argument("results_dir", help="the sweep's results directory")
    summary.add_argument("--baseline", help="variant label or preset name to compare against")
    summary.set_defaults(func=run_summary)


def run_dashboard(args: argparse.Namespace) -> int:
    """Write the dashboard and print its path."""
    from ablate.dashboard import write_dashboard

    path = write_dashboard(args.results_dir, baseline=args.baseline)
    print(path)
    if args.open:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())
    return 0


def _format(value: float) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4g}"


def run_ls(args: argparse.Namespace) -> int:
    """Print one line per sweep under the root: name, status counts, best variant."""
    from ablate.errors import AblateError
    from ablate.results import TRIALS_FILE, load_results

    root = Path(args.root)
    if not root.is_dir():
        raise AblateError(f"results folder not found: {root}; give the folder that holds results/<name>/")
    sweeps = sorted(p for p in root.iterdir() if (p / TRIALS_FILE).exists() or (p / "config.yaml").exists())
    if not sweeps:
        print(f"no sweeps in {root}")
        return 0
    for path in sweeps:
        if not (path / TRIALS_FILE).exists():
            print(f"{path.name}: no finished trial yet")
            continue
        try:
            results = load_results(path)
        except AblateError as exc:
            print(f"{path.name}: {exc}")
            continue
        counts = results.trials["status"].value_counts()
        statuses = ", ".join(f"{s} {int(counts.get(s, 0))}" for s in ("completed", "pruned", "diverged", "error"))
        summary = results.summary(n_boot=1000)
        best = "none completed"
        if not summary.empty and summary["n"].iloc[0] > 0:
            row = summary.iloc[0]
            best = (f"best {row['variant']}: median {results.objective_metric} {_format(row['median'])} "
                    f"(n={row['n']})")
        print(f"{path.name}: {len(results.trials)} trials ({statuses}); {best}")
    return 0


def run_summary(args: argparse.Namespace) -> int:
    """Print the per-variant summary and, with --baseline, the paired comparison."""
    import pandas as pd

    from ablate.results import load_results

    results = load_results(args.results_dir)
    summary = results.summary()
    # Compare first, so that an unknown baseline fails before anything is printed.
    comparison = results.compare(args.baseline) if args.baseline else None
    columns = ["variant", "n", "median", "mean", "std", "ci_low", "ci_high",
               "n_pruned", "n_diverged", "n_error"]
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 60):
        print(summary[columns].to_string(index=False))
        if comparison is not None:
            print()
            print(comparison.drop(columns="baseline").to_string(index=False))
    return 0
