"""Drawing step of the dashboard: thin plotly figures over the frames of `ablate.dashboard.data`.

Every figure has a fixed number of traces per variant (or per status), never one per trial, so
page size grows with the number of trials only through the points themselves. User strings are
HTML-escaped before they reach plotly, because plotly renders a subset of HTML in labels.
plotly is imported inside each function.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "STATUS_COLORS",
    "curve_figure",
    "distribution_figure",
    "importance_figure",
    "paper_figure",
    "parallel_figure",
    "probe_profile_figure",
    "probe_scalar_figure",
    "pruning_figure",
    "variant_colors",
]

STATUS_COLORS = {"completed": "#2ca02c", "pruned": "#ff7f0e", "diverged": "#d62728", "error": "#7f7f7f"}
_LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 50, "b": 50}, "height": 460}


def text(value: Any) -> str:
    """Escape a user string for plotly labels (plotly parses <b>, <a> and entities in text)."""
    return html.escape(str(value), quote=False)


def variant_colors(order: list[str]) -> dict[str, str]:
    """Assign each variant a color, in leaderboard order, cycling through 48 distinct colors."""
    from plotly.colors import qualitative

    palette = qualitative.Dark24 + qualitative.Light24
    return {variant: palette[i % len(palette)] for i, variant in enumerate(order)}


def _rgba(hex_color: str, alpha: float) -> str:
    hex_color = hex_color.lstrip("#")
    red, green, blue = (int(hex_color[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({red},{green},{blue},{alpha})"


def _log_scale_menu(axis: str = "yaxis", log: bool = False) -> list[dict[str, Any]]:
    """An updatemenu with buttons that switch one axis between linear and log scale."""
    return [{
        "type": "buttons", "direction": "right", "x": 1.0, "xanchor": "right", "y": 1.12,
        "yanchor": "bottom", "showactive": True, "active": 1 if log else 0,
        "buttons": [
            {"label": "linear", "method": "relayout", "args": [{f"{axis}.type": "linear"}]},
            {"label": "log", "method": "relayout", "args": [{f"{axis}.type": "log"}]},
        ],
    }]


def _nan_to_none(values: Any) -> list[float | None]:
    return [None if v is None or not math.isfinite(float(v)) else float(v) for v in values]


def _band_polygon(x: np.ndarray, low: np.ndarray, high: np.ndarray) -> tuple[list, list]:
    """Return one closed polygon per run of finite epochs, runs separated by None (gaps)."""
    finite = np.isfinite(low) & np.isfinite(high)
    xs: list = []
    ys: list = []
    start = None
    for i in range(len(x) + 1):
        if i < len(x) and finite[i]:
            start = i if start is None else start
            continue
        if start is not None:
            segment = slice(start, i)
            if xs:
                xs.append(None)
                ys.append(None)
            xs += list(x[segment]) + list(x[segment][::-1])
            ys += list(high[segment]) + list(low[segment][::-1])
            start = None
    return xs, ys


def _median_band_traces(frame: pd.DataFrame, x: str, colors: dict[str, str], hover_unit: str) -> list:
    """Return a min-max band and a median line per variant (two traces per variant)."""
    import plotly.graph_objects as go

    traces = []
    for variant, group in frame.groupby("variant", sort=False):
        color = colors.get(variant, "#444444")
        xs, ys = _band_polygon(group[x].to_numpy(), group["min"].to_numpy(float), group["max"].to_numpy(float))
        traces.append(go.Scatter(
            x=xs, y=ys, fill="toself", fillcolor=_rgba(color, 0.18), line={"width": 0},
            mode="lines", hoverinfo="skip", showlegend=False, legendgroup=text(variant),
            name=text(variant) + " (min-max)",
        ))
        traces.append(go.Scatter(
            x=group[x].tolist(), y=_nan_to_none(group["median"]), mode="lines",
            line={"color": color, "width": 2}, connectgaps=False, name=text(variant),
            legendgroup=text(variant),
            hovertemplate=f"{text(variant)}<br>{hover_unit} %{{x}}: median %{{y:.4g}}<extra></extra>",
        ))
    return traces


def distribution_figure(items: list[dict[str, Any]], colors: dict[str, str], metric: str):
    """Draw the objective per variant: a box with every seed as a point (one trace per variant)."""
    import plotly.graph_objects as go

    fig = go.Figure(layout={**_LAYOUT, "title": f"{text(metric)} per variant, every seed a point",
                            "showlegend": False, "yaxis": {"title": text(metric)}})
    for item in items:
        fig.add_trace(go.Box(
            y=item["values"], name=text(item["variant"]), boxpoints="all", jitter=0.3, pointpos=0,
            marker={"color": colors.get(item["variant"], "#444444"), "size": 7},
            customdata=[[text(seed), text(trial)] for seed, trial in zip(item["seeds"], item["trial_ids"])],
            hovertemplate="seed %{customdata[0]} (%{customdata[1]}): %{y:.4g}<extra></extra>",
        ))
    fig.update_xaxes(tickangle=-20, automargin=True)
    return fig


def curve_figure(curves: pd.DataFrame, colors: dict[str, str], metric: str):
    """Draw a metric against epoch: median line and min-max band over seeds per variant."""
    import plotly.graph_objects as go

    fig = go.Figure(layout={
        **_LAYOUT, "title": f"{text(metric)} against epoch (median, min-max band over seeds)",
        "xaxis": {"title": "epoch"}, "yaxis": {"title": text(metric)}, "updatemenus": _log_scale_menu(),
    })
    fig.add_traces(_median_band_traces(curves, "epoch", colors, "epoch"))
    return fig


def pruning_figure(trials: pd.DataFrame):
    """Draw the epochs each trial ran as bars coloured by status (one trace per status)."""
    import plotly.graph_objects as go

    fig = go.Figure(layout={
        **_LAYOUT, "title": "Epochs run per trial, by status", "barmode": "overlay",
        "xaxis": {"title": "trial (grouped by variant, leaderboard order)", "showticklabels": False,
                  "type": "category", "categoryorder": "array",
                  "categoryarray": [text(t) for t in trials["trial_id"]]},
        "yaxis": {"title": "epochs run"},
    })
    for status, group in trials.groupby("status", sort=False):
        fig.add_trace(go.Bar(
            x=[text(t) for t in group["trial_id"]], y=group["epochs_run"].tolist(), name=text(status),
            marker={"color": STATUS_COLORS.get(status, "#17becf")},
            customdata=[[text(v), text(s)] for v, s in zip(group["variant"], group.get("seed", group["trial_id"]))],
            hovertemplate="%{x}: %{y} epochs<br>%{customdata[0]}<br>seed %{customdata[1]}<extra>"
            + text(status) + "</extra>",
        ))
    return fig


def parallel_figure(frame: pd.DataFrame, metric: str):
    """Draw completed trials as parallel coordinates of their parameters, coloured by objective."""
    import plotly.graph_objects as go

    categories = frame.attrs.get("categories", {})
    dimensions = []
    for column in frame.columns:
        if column == "objective":
            continue
        dimension: dict[str, Any] = {"label": text(column.removeprefix("param.")), "values": frame[column].tolist()}
        if column in categories:
            dimension["tickvals"] = list(range(len(categories[column])))
            dimension["ticktext"] = [text(c) for c in categories[column]]
        dimensions.append(dimension)
    dimensions.append({"label": text(metric), "values": frame["objective"].tolist()})
    fig = go.Figure(layout={**_LAYOUT, "title": "Parameters of completed trials", "margin": {"l": 80, "r": 80, "t": 80, "b": 40}})
    fig.add_trace(go.Parcoords(
        dimensions=dimensions,
        line={"color": frame["objective"].tolist(), "colorscale": "Viridis_r", "showscale": True},
    ))
    return fig


def importance_figure(importances: dict[str, float]):
    """Draw Optuna's parameter importances as horizontal bars (one trace)."""
    import plotly.graph_objects as go

    names = list(importances)[::-1]
    fig = go.Figure(layout={**_LAYOUT, "title": "Parameter importance (Optuna fANOVA)",
                            "xaxis": {"title": "importance"}, "height": 120 + 40 * len(names)})
    fig.add_trace(go.Bar(x=[importances[n] for n in names], y=[text(n) for n in names], orientation="h"))
    fig.update_yaxes(automargin=True)
    return fig


def paper_figure(overlay: pd.DataFrame, metric: str):
    """Draw the measured median (min-max bars) beside the paper's value per variant (two traces)."""
    import plotly.graph_objects as go

    labels = [text(f"{p} ({d}, {ds})") for p, d, ds in zip(overlay["preset"], overlay["depth"], overlay["dataset"])]
    median = overlay["median"].to_numpy(float)
    paper = overlay["paper_value"].to_numpy(float)
    failed = ~np.isfinite(paper)
    fail_level = 20.0
    fig = go.Figure(layout={**_LAYOUT, "title": "Measured median beside the paper's value",
                            "yaxis": {"title": text(metric)}})
    fig.add_trace(go.Scatter(
        x=labels, y=_nan_to_none(median), mode="markers", name="measured median",
        marker={"size": 11, "color": "#1f77b4"},
        error_y={"type": "data", "symmetric": False,
                 "array": _nan_to_none(overlay["max"].to_numpy(float) - median),
                 "arrayminus": _nan_to_none(median - overlay["min"].to_numpy(float))},
    ))
    fig.add_trace(go.Scatter(
        x=labels, y=[fail_level if f else v for f, v in zip(failed, paper)], mode="markers+text",
        name="paper", marker={"size": 12, "symbol": ["x" if f else "diamond" for f in failed], "color": "#d62728"},
        text=["fail (>20%)" if f else "" for f in failed], textposition="top center",
    ))
    fig.update_xaxes(tickangle=-20, automargin=True)
    return fig


def probe_scalar_figure(scalars: pd.DataFrame, colors: dict[str, str]):
    """Draw each probe scalar per variant, one panel and one trace per scalar."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    columns = [c for c in scalars.columns if c != "variant"]
    fig = make_subplots(rows=1, cols=len(columns), subplot_titles=[text(c) for c in columns])
    for i, column in enumerate(columns, start=1):
        fig.add_trace(go.Bar(
            x=[text(v) for v in scalars["variant"]], y=_nan_to_none(scalars[column]), name=text(column),
            marker={"color": [colors.get(v, "#444444") for v in scalars["variant"]]}, showlegend=False,
        ), row=1, col=i)
    fig.update_layout(**_LAYOUT, title="Probe at initialization (median over trials)")
    fig.update_xaxes(tickangle=-35, automargin=True)
    return fig


def probe_profile_figure(profile: pd.DataFrame, quantity: str, colors: dict[str, str]):
    """Draw a per-unit probe profile: median and min-max band over probe seeds per variant.

    Gradient RMS spans decades down a deep network, so its axis starts in log scale.
    """
    import plotly.graph_objects as go

    log = quantity == "gradient_rms"
    fig = go.Figure(layout={
        **_LAYOUT, "title": f"{text(quantity)} per residual unit (median, min-max band over seeds)",
        "xaxis": {"title": "residual unit (input side first)"},
        "yaxis": {"title": text(quantity), "type": "log" if log else "linear"},
        "updatemenus": _log_scale_menu(log=log),
    })
    fig.add_traces(_median_band_traces(profile, "unit", colors, "unit"))
    return fig
