"""The sweep dashboard: one self-contained, offline HTML page per results directory.

`write_dashboard(results_dir)` writes `results_dir/dashboard.html`. Data extraction
(`ablate.dashboard.data`, pure pandas) is kept apart from drawing (`ablate.dashboard.figures`,
plotly) and page assembly (`ablate.dashboard.page`). Importing this package does not import
plotly, torch or ray.
"""

from __future__ import annotations

from ablate.dashboard.build import DASHBOARD_FILE, build_dashboard_html, write_dashboard
from ablate.dashboard.data import PROBE_FILE

__all__ = ["DASHBOARD_FILE", "PROBE_FILE", "build_dashboard_html", "write_dashboard"]
