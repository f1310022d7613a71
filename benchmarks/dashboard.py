"""Dashboard scale benchmark: page size and build time for 500 trials x 100 epochs.

Writes synthetic results through ResultsWriter (50 variants x 10 seeds x 100 epochs, with probe
columns and profiles), builds dashboard.html, and prints size and time beside a 20-trial
baseline built in the same run. Targets: page under 10 MB, build under 10 s, and the same
trace count per figure at both sizes (traces are per variant or per status, not per trial).

    PYTHONPATH=. python benchmarks/dashboard.py
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from pathlib import Path

from ablate.dashboard import write_dashboard
from ablate.results.synthetic import write_synthetic_results


def _measure(results_dir: Path) -> tuple[float, int, int]:
    start = time.perf_counter()
    page = write_dashboard(results_dir)
    seconds = time.perf_counter() - start
    text = page.read_text(encoding="utf-8")
    blocks = re.findall(r'<script type="application/json" id="figure-\d+-data">(.*?)</script>', text, re.S)
    traces = sum(len(json.loads(block)["data"]) for block in blocks)
    return seconds, len(text.encode()), traces


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        small = write_synthetic_results(Path(tmp) / "small", n_variants=4, n_seeds=5, n_epochs=100, probe=True)
        start = time.perf_counter()
        large = write_synthetic_results(Path(tmp) / "large", n_variants=50, n_seeds=10, n_epochs=100, probe=True)
        write_seconds = time.perf_counter() - start
        small_time, small_size, small_traces = _measure(small)
        large_time, large_size, large_traces = _measure(large)

    print(f"ResultsWriter: 500 record_trial calls in {write_seconds:.1f} s "
          f"({1000 * write_seconds / 500:.0f} ms per call, each rewriting both tables)")
    print(f"{'':<22}{'trials':>8}{'build s':>10}{'page MB':>10}{'traces':>8}")
    print(f"{'baseline (4 variants)':<22}{20:>8}{small_time:>10.2f}{small_size / 1e6:>10.2f}{small_traces:>8}")
    print(f"{'large (50 variants)':<22}{500:>8}{large_time:>10.2f}{large_size / 1e6:>10.2f}{large_traces:>8}")
    print(f"ratio large/baseline: build time {large_time / small_time:.2f}x, page size {large_size / small_size:.2f}x, "
          f"traces {large_traces / small_traces:.2f}x for 25x the trials and 12.5x the variants")
    ok = large_size < 10e6 and large_time < 10.0
    print(f"targets (page < 10 MB, build < 10 s): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
