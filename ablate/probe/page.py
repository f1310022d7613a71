"""The probe page: a table of summary scalars and per-unit profiles, one line and band per variant.

The page is drawn by the dashboard's page writer (`ablate.dashboard.page.render_page`), so it opens
offline with plotly.js inlined once, and user strings are escaped the same way as in the dashboard.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ablate.dashboard.page import Section, escape_html, render_page
from ablate.probe.variants import ProbeSummary

__all__ = ["render_probe_page", "write_probe_page"]

# Plotly's default qualitative palette (plotly.colors.qualitative.Plotly), as RGB triples.
_PALETTE = [
    (99, 110, 250), (239, 85, 59), (0, 204, 150), (171, 99, 250), (255, 161, 90),
    (25, 211, 243), (255, 102, 146), (182, 232, 128), (255, 151, 255), (254, 203, 82),
]  # fmt: skip

# (per-unit array, y-axis title, log axis)
_PANELS = [
    ("gradient_rms", "gradient RMS at unit input", True),
    ("coherence", "gradient coherence with stage's last unit", False),
    ("activation_rms", "activation RMS at unit input", True),
]


def _finite_or_none(values: np.ndarray) -> list[float | None]:
    return [float(value) if np.isfinite(value) else None for value in values]


def _band_outline(units: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> tuple[list, list]:
    """Return the outline of the min-max band, one closed polygon per run of finite units.

    Polygons are separated by None, so that a `fill="toself"` trace leaves the gaps unfilled.
    """
    xs: list = []
    ys: list = []
    finite = np.isfinite(lower) & np.isfinite(upper)
    start = 0
    while start < len(units):
        if not finite[start]:
            start += 1
            continue
        stop = start
        while stop < len(units) and finite[stop]:
            stop += 1
        run = slice(start, stop)
        xs += units[run].tolist() + units[run][::-1].tolist() + [None]
        ys += upper[run].tolist() + lower[run][::-1].tolist() + [None]
        start = stop
    return xs, ys


def _band_traces(summary: ProbeSummary, array_name: str, color_index: int, axis: str, log: bool) -> list[dict]:
    """Build the band (min to max over seeds) and the centre line of one variant in one panel."""
    values = summary.per_unit(array_name)
    units = np.arange(1, values.shape[1] + 1)
    # Units without a value in some seed (no coherence at a stage's first unit) become gaps, so no
    # line or band joins two stages.
    values = np.where(np.isfinite(values).all(axis=0), values, np.nan)
    # A log axis shows the geometric mean; a linear one the arithmetic mean.
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = np.exp(np.log(values).mean(axis=0)) if log else values.mean(axis=0)
    red, green, blue = _PALETTE[color_index % len(_PALETTE)]
    axes = {"xaxis": f"x{axis}", "yaxis": f"y{axis}", "legendgroup": f"variant{color_index}"}

    band_x, band_y = _band_outline(units, values.min(axis=0), values.max(axis=0))
    band = {**axes, "x": band_x, "y": band_y, "mode": "lines", "line": {"width": 0}, "fill": "toself",
            "fillcolor": f"rgba({red},{green},{blue},0.2)", "showlegend": False, "hoverinfo": "skip"}  # fmt: skip
    line = {**axes, "x": units.tolist(), "y": _finite_or_none(centre), "mode": "lines",
            "name": escape_html(summary.label), "line": {"color": f"rgb({red},{green},{blue})", "width": 2},
            "showlegend": axis == "",
            "hovertemplate": f"unit %{{x}}: %{{y:.3g}}<extra>{escape_html(summary.label)}</extra>"}  # fmt: skip
    return [band, line]


def _figure(summaries: Sequence[ProbeSummary]) -> dict:
    data = []
    layout: dict = {
        "height": 900,
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": 1.06},
        "margin": {"t": 60, "l": 70, "r": 20, "b": 50},
    }
    panel_height = 1 / len(_PANELS)
    for panel, (array_name, title, log) in enumerate(_PANELS):
        axis = "" if panel == 0 else str(panel + 1)
        for index, summary in enumerate(summaries):
            data.extend(_band_traces(summary, array_name, index, axis, log))
        top = 1 - panel * panel_height
        layout[f"yaxis{axis}"] = {"title": {"text": title}, "type": "log" if log else "linear",
                                  "domain": [top - panel_height + 0.06, top], "anchor": f"x{axis}"}  # fmt: skip
        layout[f"xaxis{axis}"] = {"anchor": f"y{axis}"}
        if axis:
            layout[f"xaxis{axis}"]["matches"] = "x"
        if panel == len(_PANELS) - 1:
            layout[f"xaxis{axis}"]["title"] = {"text": "residual unit (1 = first)"}
    return {"data": data, "layout": layout}


def _summary_table(summaries: Sequence[ProbeSummary]) -> str:
    header = "".join(
        f"<th>{name}</th>"
        for name in ("variant", "unit", "block", "depth", "seeds", "coherence", "spread (decades)", "growth")
    )
    rows = []
    for summary in summaries:
        cells = [summary.label, summary.unit, summary.block, str(summary.depth), str(len(summary.seeds))]
        for name, digits in (("mean_coherence", 3), ("spread", 2), ("growth", 2)):
            mean, std = summary.mean_and_std(name)
            cells.append(f"{mean:.{digits}f} ± {std:.{digits}f}")
        rows.append("<tr>" + "".join(f"<td>{escape_html(cell)}</td>" for cell in cells) + "</tr>")
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def render_probe_page(summaries: Sequence[ProbeSummary], title: str = "Signal propagation at initialization") -> str:
    """Render the probe page: a table of summary scalars and per-unit profiles with bands over seeds."""
    header = f"""<h1>{escape_html(title)}</h1>
<p>Per residual unit, at initialization, on one training batch per seed, with batch normalization
in training mode: the RMS of the loss gradient at the unit's input, its cosine similarity with the
gradient at the input of the last unit of the same stage, and the RMS of the unit's input. Lines
are means over seeds (geometric on log axes); bands span the minimum and maximum over seeds.
Spread is log10(max/min) of the gradient RMS over units; growth is the last unit's input RMS over
the first's.</p>"""
    sections = [
        Section("Summary (mean ± std over seeds)", html=_summary_table(summaries)),
        Section("Per-unit profiles", figures=[_figure(summaries)]),
    ]
    return render_page(title, header, sections)


def write_probe_page(path: str | Path, summaries: Sequence[ProbeSummary], title: str | None = None) -> Path:
    """Write `render_probe_page` to `path`, creating its folder; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_probe_page(summaries, title) if title else render_probe_page(summaries)
    path.write_text(text, encoding="utf-8")
    return path
