"""`write_dashboard`: build `dashboard.html` for one sweep's results directory.

The page opens with a header: name, description, dates, versions, machines, trials by status
and compute used. Then come the leaderboard, the objective's distribution per variant, learning
curves and a pruning view. Three sections appear only when they have data: hyperparameter views
(the sweep has non-grid dimensions), the paper overlay (the config's `reference` names a table
of He et al. 2016) and the probe (trials carry `probe_*` columns or `probe.json` exists).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import pandas as pd

from ablate.atomic import write_atomically
from ablate.dashboard import data
from ablate.dashboard.page import Section, escape_html, render_page
from ablate.errors import AblateError
from ablate.results.loading import Results, load_results
from ablate.results.stats import param_columns

__all__ = ["DASHBOARD_FILE", "build_dashboard_html", "choose_baseline", "write_dashboard"]

logger = logging.getLogger(__name__)

DASHBOARD_FILE = "dashboard.html"
CURVE_METRICS = ("test_error", "train_loss")
# Columns shown elsewhere in the leaderboard, so not repeated under "parameters".
_SHOWN_PARAMS = {"param.model.unit", "param.model.block", "param.model.depth"}


def choose_baseline(results: Results, summary: pd.DataFrame, baseline: str | None) -> str | None:
    """Return the baseline variant: `baseline` if given, else the `original` preset, else the best.

    The `original` preset is used only when exactly one variant has it. None when the sweep has
    fewer than two variants.
    """
    if baseline is not None:
        from ablate.results.stats import resolve_baseline

        return resolve_baseline(results.trials, baseline)
    if len(summary) < 2:
        return None
    if "preset" in summary.columns:
        originals = summary.loc[summary["preset"] == "original", "variant"].tolist()
        if len(originals) == 1:
            return originals[0]
    return str(summary["variant"].iloc[0])


# --- formatting -----------------------------------------------------------------------------


def _number(value: Any, digits: int = 4) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return escape_html(value) if value is not None else ""
    if math.isnan(number):
        return ""
    if math.isinf(number):
        return "fail" if number > 0 else "-inf"
    return f"{number:.{digits}g}"


def _count(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(number):
        return ""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= scale:
            return f"{number / scale:.3g}{suffix}"
    return f"{number:.0f}"


def _difference(row: dict[str, Any]) -> str:
    if "mean_diff" not in row or row.get("n_pairs") is None or pd.isna(row.get("n_pairs")):
        return ""
    text = _number(row["mean_diff"], 3)
    if not pd.isna(row.get("diff_ci_low")):
        text += f" [{_number(row['diff_ci_low'], 3)}, {_number(row['diff_ci_high'], 3)}]"
    if not pd.isna(row.get("p_value")):
        text += f", p={_number(row['p_value'], 2)}"
    if row.get("note"):
        text += f" ({escape_html(row['note'])})"
    return text


def leaderboard_html(board: pd.DataFrame, baseline: str | None) -> str:
    """Render the leaderboard table; every cell is escaped here."""
    has_paper = "paper_value" in board.columns
    headers = ["#", "unit", "preset", "searched values", "weights", "multiply-adds", "n", "median",
               "mean ± std", "95% CI of mean", "min–max", "pruned / diverged / error",
               "Δ mean vs baseline [95% CI]"]
    if has_paper:
        headers.insert(8, "paper")
    params = [c for c in board.columns if c.startswith("param.") and c not in _SHOWN_PARAMS]
    rows = []
    for row in board.to_dict("records"):
        label = escape_html(row["variant"])
        unit = escape_html(row.get("unit", row["variant"]))
        if row.get("depth") is not None and not pd.isna(row.get("depth")):
            unit += f" <small>({escape_html(row.get('block') or '')} {_number(row['depth'])})</small>"
        parameters = ", ".join(f"{escape_html(c.removeprefix('param.'))}={_number(row[c])}" for c in params)
        is_baseline = row["variant"] == baseline
        preset = row.get("preset")
        preset = "" if preset is None or pd.isna(preset) else escape_html(preset)
        spread = f"{_number(row['mean'])} ± {_number(row['std'], 2)}" if not pd.isna(row["std"]) else _number(row["mean"])
        cells = [
            str(row["rank"]), f'<span title="{label}">{unit}</span>', preset,
            parameters, _count(row.get("num_parameters")), _count(row.get("macs")), str(row["n"]),
            _number(row["median"]), spread,
            f"[{_number(row['ci_low'])}, {_number(row['ci_high'])}]" if not pd.isna(row["ci_low"]) else "",
            f"{_number(row['min'])}–{_number(row['max'])}" if row["n"] else "",
            f"{row['n_pruned']} / {row['n_diverged']} / {row['n_error']}",
            "baseline" if is_baseline else _difference(row),
        ]
        if has_paper:
            cells.insert(8, _number(row.get("paper_value")))
        numeric = {0, 4, 5, 6, 7, 8, 9} | ({10} if has_paper else set())
        rows.append("<tr>" + "".join(
            f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(cells)
        ) + "</tr>")
    head = "".join(f"<th>{escape_html(h)}</th>" for h in headers)
    return f'<table class="leaderboard"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def header_html(facts: dict[str, Any], objective: str, mode: str) -> str:
    """Render the header: title, description and a table of facts; every value is escaped."""
    def joined(values: list[str]) -> str:
        return escape_html(", ".join(values)) if values else "unknown"

    counts = facts["status_counts"]
    rows = [
        ("objective", escape_html(f"{objective} ({mode})")),
        ("dates", escape_html(f"{facts['started'] or '?'} to {facts['finished'] or '?'}")),
        ("trials", escape_html(f"{facts['n_trials']}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))),
        ("compute", escape_html(f"{facts['compute_hours']:.3g} trial-hours")),
        ("machines", joined(facts["hostnames"]) + "; devices: " + joined(facts["devices"])),
        ("versions", "; ".join(f"{escape_html(name)} {joined(v)}" for name, v in facts["versions"].items())),
    ]
    if facts.get("reference"):
        rows.append(("reference", escape_html(facts["reference"])))
    table = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    description = f"<p>{escape_html(facts['description'])}</p>" if facts["description"] else ""
    return f"<h1>{escape_html(facts['name'])}</h1>{description}<table class=\"facts\">{table}</table>"


# --- page assembly --------------------------------------------------------------------------


def build_dashboard_html(results: Results, baseline: str | None = None) -> str:
    """Build the dashboard page of loaded results and return it as HTML text."""
    from ablate.dashboard import figures

    trials, config, metric = results.trials, results.config, results.objective_metric
    summary = results.summary()
    order = summary["variant"].tolist()
    colors = figures.variant_colors(order)
    baseline_label = choose_baseline(results, summary, baseline)
    comparison = results.compare(baseline_label) if baseline_label is not None else None
    dataset = (config.get("data") or {}).get("dataset") if isinstance(config.get("data"), dict) else None
    overlay = data.paper_overlay_data(trials, summary, config.get("reference"), dataset)
    board = data.leaderboard_data(summary, comparison, overlay if not overlay.empty else None)
    facts = data.header_data(trials, config, results.name)

    # Leaderboard and distribution.
    notes = ["Statistics use completed trials only; pruned trials stopped early and diverged ones "
             "have no final value, so they are counted but not averaged."]
    if baseline_label is not None:
        notes.append(f"Baseline: {baseline_label}. Δ is the mean of per-seed differences "
                     "(variant minus baseline) over seeds both completed, with a Student-t interval.")
    sections = [Section("Leaderboard", html=leaderboard_html(board, baseline_label), notes=notes)]
    items = data.distribution_data(trials, order)
    sections.append(Section(f"Distribution of {metric}", figures=[figures.distribution_figure(items, colors, metric)]
                            if items else [], notes=[] if items else ["No completed trial yet."]))

    # Learning curves and pruning.
    curve_figures, curve_notes = [], []
    for curve_metric in dict.fromkeys((metric, *CURVE_METRICS)):
        curves = data.curve_data(trials, results.epochs, curve_metric)
        if curves.empty:
            curve_notes.append(f"No per-epoch {curve_metric} recorded.")
        else:
            curve_figures.append(figures.curve_figure(curves, colors, curve_metric))
    sections.append(Section("Learning curves", figures=curve_figures, notes=curve_notes))
    if "epochs_run" in trials.columns:
        sections.append(Section("Pruning: epochs run per trial",
                                figures=[figures.pruning_figure(data.pruning_data(trials, order))]))

    sections += _hyperparameter_sections(results)
    if not overlay.empty:
        sections.append(Section(f"Paper overlay ({config.get('reference')})",
                                figures=[figures.paper_figure(overlay, metric)],
                                notes=["Paper values: He et al. 2016, Identity Mappings in Deep Residual "
                                       "Networks, median test error of 5 runs."]))
    sections += _probe_sections(results, order, colors)

    return render_page(f"ablate: {results.name}", header_html(facts, metric, results.mode), sections)


def _hyperparameter_sections(results: Results) -> list[Section]:
    from ablate.dashboard import figures

    dimensions = data.searched_dimensions(results.config)
    if not any(kind in data.NON_GRID_KINDS for kind in dimensions.values()):
        return []
    section = Section("Hyperparameters", notes=[])
    frame = data.parallel_coordinates_data(results.trials)
    if frame is None or not param_columns(results.trials):
        section.notes = ["No completed trial with parameter columns yet."]
    else:
        section.figures = [figures.parallel_figure(frame, results.objective_metric)]
    importances, note = data.importance_data(results.path, results.config.get("name"))
    if importances:
        section.figures = [*section.figures, figures.importance_figure(importances)]
    else:
        section.notes = [*section.notes, f"Parameter importance not shown: {note}."]
    return [section]


def _probe_sections(results: Results, order: list[str], colors: dict[str, str]) -> list[Section]:
    from ablate.dashboard import figures

    scalars = data.probe_scalar_data(results.trials, order)
    profiles = data.probe_profile_data(results.path, order)
    if scalars is None and not profiles:
        return []
    section = Section("Probe: signal and gradient propagation at initialization")
    if scalars is not None and not scalars.empty:
        section.figures = [figures.probe_scalar_figure(scalars, colors)]
    for quantity, profile in (profiles or {}).items():
        section.figures = [*section.figures, figures.probe_profile_figure(profile, quantity, colors)]
    return [section]


def write_dashboard(results_dir: str | Path, baseline: str | None = None) -> Path:
    """Write `dashboard.html` into a sweep's results directory and return its path.

    Safe to call while the sweep runs: it reads the trials finished so far and replaces the page
    atomically.

    Args:
        results_dir: The sweep's results directory.
        baseline: Variant label or preset name to compare against; see `choose_baseline`.

    Raises:
        AblateError: When the directory contains no trials table yet, or `baseline` matches nothing.
    """
    results = load_results(results_dir)
    if results.trials.empty:
        raise AblateError(f"{results_dir} has a trials table without rows; nothing to draw")
    page = build_dashboard_html(results, baseline)
    target = Path(results_dir) / DASHBOARD_FILE
    write_atomically(target, lambda temporary: temporary.write_text(page, encoding="utf-8"))
    logger.info("wrote %s (%d trials, %.1f MB)", target, len(results.trials), len(page) / 1e6)
    return target
