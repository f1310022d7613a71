"""Commands of the grammar group: `ablate presets`, `ablate show`, `ablate enumerate`.

torch and the model code are imported inside the command functions, so that `ablate --help`
stays fast.
"""

from __future__ import annotations

import argparse
import sys

_BLOCKS = ("basic", "bottleneck")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this group's commands to the `ablate` parser."""
    presets = subparsers.add_parser(
        "presets", help="list the named residual units with their canonical text"
    )
    presets.add_argument(
        "--block", choices=_BLOCKS, help="list only presets of this block (default: both)"
    )
    presets.set_defaults(func=run_presets)

    show = subparsers.add_parser(
        "show", help="show a unit's canonical text and the network built from it (counts, layers)"
    )
    show.add_argument(
        "unit", metavar="SPEC_OR_PRESET", help="preset name or block-spec text, quoted"
    )
    show.add_argument(
        "--depth", type=int, required=True, help="weighted layers, e.g. 110 (6n+2) or 164 (9n+2)"
    )
    show.add_argument(
        "--block", choices=_BLOCKS, default="basic", help="block type (default: basic)"
    )
    show.add_argument("--classes", type=int, default=10, help="classifier outputs (default: 10)")
    show.add_argument(
        "--in-channels", type=int, default=3, help="input image channels (default: 3)"
    )
    show.add_argument(
        "--image-size",
        type=int,
        default=32,
        help="input height and width for multiply-adds (default: 32)",
    )
    show.add_argument(
        "--downsample",
        choices=("auto", "zero_pad", "projection"),
        default="auto",
        help="shortcut at dimension changes "
        "(default: auto, zero_pad for basic, projection for bottleneck)",
    )
    show.set_defaults(func=run_show)

    enumerate_ = subparsers.add_parser(
        "enumerate", help="list every unit with N bn and M relu ops placed around the weight layers"
    )
    enumerate_.add_argument("--bn", type=int, required=True, help="number of bn ops to place")
    enumerate_.add_argument("--relu", type=int, required=True, help="number of relu ops to place")
    enumerate_.add_argument(
        "--block",
        choices=_BLOCKS,
        default="basic",
        help="weight layers of this block (default: basic)",
    )
    enumerate_.add_argument(
        "--no-identical-neighbours",
        action="store_true",
        help="drop units with bn-bn or relu-relu next to each other",
    )
    enumerate_.add_argument(
        "--no-post", action="store_true", help="drop units with ops after the addition"
    )
    enumerate_.set_defaults(func=run_enumerate)


def run_presets(args: argparse.Namespace) -> int:
    from ablate.grammar import list_presets

    entries = list_presets(args.block)
    name_width = max(len(entry.name) for entry in entries)
    for entry in entries:
        print(f"{entry.name:<{name_width}}  {entry.block:<10}  {entry.spec}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from ablate.models import build_model, count_macs, count_parameters, depth_formula

    model = build_model(
        args.unit,
        args.depth,
        block=args.block,
        num_classes=args.classes,
        in_channels=args.in_channels,
        downsample=args.downsample,
    )
    formula = depth_formula(model.spec, len(model.widths))
    n = formula.units_per_stage(args.depth)
    input_size = (args.in_channels, args.image_size, args.image_size)

    print(f"unit           {model.spec}")
    print(f"preset         {model.preset or '(none)'}, block {model.block}")
    print(
        f"depth          {args.depth} = {formula} with n = {n} units per stage "
        f"({formula.k} conv{'s' if formula.k != 1 else ''} per unit)"
    )
    print(f"parameters     {count_parameters(model):,}")
    print(f"multiply-adds  {count_macs(model, input_size):,} at {'x'.join(map(str, input_size))}")
    print("layers")
    for line in describe_layers(model, args.image_size):
        print("  " + line)
    return 0


def describe_layers(model, image_size: int) -> list[str]:
    """Return a compact listing of a ResNet: stem, one line per stage, head."""
    stem = model.stem[0]
    stem_ops = " ".join(
        type(m).__name__.replace("BatchNorm2d", "bn").replace("ReLU", "relu")
        for m in model.stem[1:]
    )
    lines = [
        f"stem     conv3x3 {stem.in_channels}->{stem.out_channels}"
        + (f", {stem_ops}" if stem_ops else "")
    ]

    size = image_size
    for stage in range(len(model.widths)):
        units = [u for u, s in zip(model.units, model.stage_of_unit) if s == stage]
        first = units[0]
        size = -(-size // first.stride)
        lines.append(
            f"stage {stage + 1}  {len(units)} units, "
            f"{first.in_channels}->{first.out_channels} channels at "
            f"{size}x{size}, first shortcut: {describe_shortcut(first)}"
        )

    head_ops = [
        type(m).__name__.replace("BatchNorm2d", "bn").replace("ReLU", "relu").lower()
        for m in model.head
    ]
    head = "-".join(head_ops) + ", " if head_ops else ""
    lines.append(
        f"head     {head}global average pool, "
        f"linear {model.fc.in_features}->{model.fc.out_features}"
    )
    return lines


def describe_shortcut(unit) -> str:
    """Name the shortcut of one unit in words, e.g. `zero-pad, reads raw input`."""
    from torch import nn

    from ablate.models.units import ShortcutDropout, ZeroPadShortcut

    parts = []
    for module in unit.shortcut.modules():
        if isinstance(module, nn.Conv2d):
            parts.append(f"1x1 conv stride {module.stride[0]}")
        elif isinstance(module, nn.BatchNorm2d):
            parts.append("bn")
        elif isinstance(module, ZeroPadShortcut):
            parts.append(f"zero-pad stride {module.stride}")
        elif isinstance(module, ShortcutDropout):
            parts.append(f"dropout({module.p})")
        elif isinstance(module, nn.Identity):
            parts.append("identity")
    reads = "pre-activated input" if unit.shortcut_reads_prefix else "raw input"
    return f"{' + '.join(parts)}, reads {reads}"


def run_enumerate(args: argparse.Namespace) -> int:
    from ablate.grammar import enumerate_units, list_presets

    units = enumerate_units(
        args.bn,
        args.relu,
        args.block,
        no_identical_neighbours=args.no_identical_neighbours,
        no_post=args.no_post,
    )
    names = {entry.spec: entry.name for entry in list_presets(args.block)}
    for spec in units:
        name = names.get(spec)
        print(f"{spec}" + (f"    ({name})" if name else ""))
    print(f"{len(units)} units", file=sys.stderr)
    return 0
