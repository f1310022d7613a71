"""Signal and gradient propagation through residual units at initialization, before training.

`probe_network` measures one network on one batch; `probe_unit`, `probe_model_config` and
`probe_trial_config` repeat it over seeds; `probe_config` returns the summary scalars a sweep stores
per trial; `probe_sweep` probes every network of a sweep; `write_probe_json` and `write_probe_page` store per-unit profiles.
"""

from ablate.probe.page import render_probe_page, write_probe_page
from ablate.probe.propagation import ProbeResult, probe_network
from ablate.probe.sweep import probe_sweep
from ablate.probe.variants import (
    PROBE_FILE_NAME,
    ProbeSummary,
    load_probe_batch,
    probe_config,
    probe_model_config,
    probe_trial_config,
    probe_unit,
    write_probe_json,
)

__all__ = [
    "PROBE_FILE_NAME",
    "ProbeResult",
    "ProbeSummary",
    "load_probe_batch",
    "probe_config",
    "probe_model_config",
    "probe_network",
    "probe_sweep",
    "probe_trial_config",
    "probe_unit",
    "render_probe_page",
    "write_probe_json",
    "write_probe_page",
]
