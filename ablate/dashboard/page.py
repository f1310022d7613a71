"""The self-contained HTML page: plotly.js once, figure specs as strict JSON, escaped user text.

The page must open offline and contain no `http://` or `https://` text at all:
- plotly.js (from the installed plotly package) is inlined once in the head. Its source holds
  URLs only inside string literals and comments (SVG namespaces, links, map tile servers), so
  each `http` of a URL is written `h\\x74tp`: a JavaScript string with that escape has the same
  value, and in a comment it is inert.
- Each figure is a `<script type="application/json">` block read with `JSON.parse`, so a NaN
  or infinity that slipped through would fail loudly. NaN and infinities become `null`, which
  plotly draws as a gap. `<`, `>`, `&` and the `http` of URLs are \\u-escaped inside JSON.
- Text from users (sweep name, description, labels) is HTML-escaped in the page and in plotly
  labels.
"""

from __future__ import annotations

import functools
import html
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Section", "escape_html", "figure_json", "offline_plotly_js", "render_page"]

_URL_SCHEME = re.compile(r"http(s?)://")

PLOTLY_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "showLink": False,
    "showSendToCloud": False,
    "showEditInChartStudio": False,
}


@functools.lru_cache(maxsize=1)
def offline_plotly_js() -> str:
    """Return the installed plotly.js bundle with every URL scheme escaped (see module docstring)."""
    from plotly.offline import get_plotlyjs

    source = get_plotlyjs()
    if "</script" in source.lower():
        raise RuntimeError("the installed plotly.js contains '</script' and cannot be inlined as is")
    return _URL_SCHEME.sub(r"h\\x74tp\1://", source)


def escape_html(value: Any) -> str:
    """Escape text for HTML; a URL scheme is written with a character reference, shown unchanged."""
    return _URL_SCHEME.sub(r"h&#116;tp\1://", html.escape(str(value), quote=True))


def _plain(value: Any) -> Any:
    """Convert numpy values to Python ones and every non-finite float to None."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return [_plain(item) for item in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


def figure_json(figure: Any) -> str:
    """Return a plotly figure as strict JSON that is safe inside a `<script>` element."""
    spec = figure.to_plotly_json() if hasattr(figure, "to_plotly_json") else figure
    spec = _plain({"data": spec.get("data", []), "layout": spec.get("layout", {})})
    text = json.dumps(spec, allow_nan=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return _URL_SCHEME.sub(r"h\\u0074tp\1://", text)


@dataclass
class Section:
    """One part of the page: a heading, optional HTML, figures and notes.

    Attributes:
        title: Heading text (escaped when rendered).
        html: Trusted HTML built by this package, e.g. a table whose cells are already escaped.
        figures: plotly figures, drawn in order.
        notes: Plain-text notes (escaped when rendered), e.g. why a view is missing.
    """

    title: str
    html: str = ""
    figures: Sequence[Any] = ()
    notes: Sequence[str] = ()


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1280px; color: #222; }
h1 { margin-bottom: 4px; } h2 { margin-top: 36px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #666; font-style: italic; } .plot { width: 100%; min-height: 420px; }
.facts td:first-child { font-weight: 600; }
"""

_RENDER_SCRIPT = """
(function () {
  var config = JSON.parse(document.getElementById("plotly-config").textContent);
  document.querySelectorAll("div.plot").forEach(function (div) {
    var spec = JSON.parse(document.getElementById(div.id + "-data").textContent);
    Plotly.newPlot(div, spec.data, spec.layout, config).catch(function (err) {
      console.error("figure " + div.id + " failed: " + err);
    });
  });
})();
"""


def render_page(title: str, header: str, sections: Sequence[Section]) -> str:
    """Render the whole dashboard page as one HTML string.

    Args:
        title: The page title (escaped here).
        header: Trusted HTML shown above the sections, its user text already escaped.
        sections: The page's sections in order.
    """
    body: list[str] = [header]
    figure_index = 0
    for section in sections:
        body.append(f"<section><h2>{escape_html(section.title)}</h2>")
        body.append(section.html)
        for note in section.notes:
            body.append(f'<p class="note">{escape_html(note)}</p>')
        for figure in section.figures:
            figure_id = f"figure-{figure_index}"
            figure_index += 1
            body.append(f'<div class="plot" id="{figure_id}"></div>')
            body.append(f'<script type="application/json" id="{figure_id}-data">{figure_json(figure)}</script>')
        body.append("</section>")
    config = json.dumps(PLOTLY_CONFIG)
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape_html(title)}</title>",
        f"<style>{_STYLE}</style>",
        f"<script>{offline_plotly_js()}</script>",
        "</head><body>",
        *body,
        f'<script type="application/json" id="plotly-config">{config}</script>',
        f"<script>{_RENDER_SCRIPT}</script>",
        "</body></html>",
    ])
