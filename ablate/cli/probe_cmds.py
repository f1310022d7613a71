"""Commands of the probe group: `ablate probe`, signal propagation at initialization.

`ablate probe UNIT... --depth N` probes preset names or spec texts. `ablate probe FILE.yaml` probes
each distinct network of a sweep's search space. Both print mean ± std over seeds per variant and
can write an HTML page of the per-unit profiles.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]

_YAML_SUFFIXES = (".yaml", ".yml")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this group's commands to the `ablate` parser."""
    parser = subparsers.add_parser(
        "probe",
        help="measure signal and gradient propagation of unit variants at initialization",
        description=(
            "Probe residual-unit variants at initialization on one batch of real data per seed: "
            "per unit, the input RMS, the loss-gradient RMS at the input and the gradient's cosine "
            "with the stage's last unit. Prints mean ± std over seeds of the mean coherence, the "
            "gradient spread (decades) and the activation growth."
        ),
    )
    parser.add_argument(
        "units",
        nargs="+",
        metavar="UNIT_OR_YAML",
        help="preset names or unit spec texts (quote them), or one search-space YAML file",
    )
    parser.add_argument("--depth", type=int, help="network depth (required unless a YAML file is given)")
    parser.add_argument("--block", choices=("basic", "bottleneck"), default="basic", help="weight layers of a unit: basic (3x3, 3x3) or bottleneck (1x1, 3x3, 1x1)")
    parser.add_argument("--dataset", default="digits", help="dataset whose training split gives the batches")
    parser.add_argument("--seeds", type=int, default=3, help="initializations per variant, seeds 0..K-1 (default 3)")
    parser.add_argument("--batch-size", type=int, default=128, help="images per probe batch (default 128)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--output", type=Path, metavar="FILE.html", help="write an HTML page of per-unit profiles")
    parser.set_defaults(func=run_probe)


def run_probe(args: argparse.Namespace) -> int:
    """Probe the requested variants, print the summary table and write the page if requested."""
    from ablate.errors import AblateError

    yaml_files = [text for text in args.units if text.lower().endswith(_YAML_SUFFIXES)]
    if yaml_files and len(args.units) > 1:
        raise AblateError(f"a search-space file ({yaml_files[0]}) must be the only argument of ablate probe")
    if args.output is not None and args.output.suffix.lower() not in (".html", ".htm"):
        raise AblateError(f"invalid --output {args.output}: the page is HTML, use a name ending in .html")

    if yaml_files:
        summaries, title = _probe_search_space(Path(yaml_files[0]), args)
    else:
        summaries, title = _probe_units(args), None

    _print_table(summaries)
    if args.output is not None:
        from ablate.probe import write_probe_page

        path = write_probe_page(args.output, summaries, title)
        print(f"wrote {path}")
    return 0


def _probe_units(args: argparse.Namespace) -> list:
    from ablate.errors import AblateError
    from ablate.grammar import resolve_unit
    from ablate.probe import probe_unit

    if args.depth is None:
        raise AblateError("missing --depth: give the network depth, e.g. --depth 110 (basic) or --depth 164 (bottleneck)")
    labels = []
    for text in args.units:
        spec, preset_name = resolve_unit(text, block=args.block)
        label = preset_name or str(spec)
        if label not in labels:
            labels.append(label)
    return [
        probe_unit(
            label,
            args.depth,
            block=args.block,
            data=args.dataset,
            seeds=args.seeds,
            batch_size=args.batch_size,
            device=args.device,
        )
        for label in labels
    ]


def _probe_search_space(path: Path, args: argparse.Namespace) -> tuple[list, str]:
    from ablate.errors import AblateError
    from ablate.probe import probe_sweep
    from ablate.sweep import load_sweep

    if args.depth is not None:
        raise AblateError(f"--depth does not apply to {path}: the search space sets model.depth")
    plan = load_sweep(path)
    summaries = probe_sweep(plan, args.seeds, batch_size=args.batch_size, device=args.device)
    return summaries, f"Signal propagation at initialization: {plan.name}"


def _print_table(summaries: list) -> None:
    label_width = max([len("variant")] + [len(summary.label) for summary in summaries])
    header = f"{'variant':<{label_width}}  {'block':<10}  {'depth':>5}  {'coherence':>15}  {'spread':>13}  {'growth':>15}  {'seconds':>7}"
    print(header)
    print("-" * len(header))
    for summary in summaries:
        coherence = "{:.3f} ± {:.3f}".format(*summary.mean_and_std("mean_coherence"))
        spread = "{:.2f} ± {:.2f}".format(*summary.mean_and_std("spread"))
        growth = "{:.3g} ± {:.2g}".format(*summary.mean_and_std("growth"))
        print(
            f"{summary.label:<{label_width}}  {summary.block:<10}  {summary.depth:>5}  {coherence:>15}  "
            f"{spread:>13}  {growth:>15}  {summary.seconds:>7.1f}"
        )
    seeds = summaries[0].seeds if summaries else []
    seed_word = "seed" if len(seeds) == 1 else "seeds"
    print(f"mean ± std over {len(seeds)} {seed_word}; spread in decades (log10 max/min gradient RMS)")
