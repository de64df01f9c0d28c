"""`soloreel import FILE -o EDIT`: bring an edit back from an NLE with every shot's spec.

Re-attaches specs (media path, marker, position), honours trims, reorders, splits, duplicates
and deletions, applies editor orders (retake / fix: / final markers), renders only what
changed, and reports the diff against the last render.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from render_engine.bible import TIERS, load_production
from render_engine.cli.validate import add_production_argument, find_production
from render_engine.nle.orders import apply_orders
from render_engine.nle.reattach import reattach
from render_engine.nle.registry import ShotRegistry
from render_engine.nle.relink import relink
from render_engine.timeline_io import read_timeline, write_timeline


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `import` sub-command."""
    parser = sub.add_parser(
        "import", help="read an edit back from an NLE and re-attach every shot's spec",
        description="Read FILE (.otio, FCP7 .xml, .mlt), find each shot again by media path, "
        "marker or position, apply retake/fix/final markers, render what changed and write "
        "the master edit.")
    parser.add_argument("file", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True, help="master .otio to write")
    parser.add_argument("--tier", choices=TIERS, default="placeholder")
    parser.add_argument("--no-render", action="store_true", help="re-attach only")
    add_production_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Import, apply orders, relink, write; exit 1 when clips are unknown or renders failed."""
    production = load_production(find_production(args, args.output), strict=True)
    timeline = read_timeline(args.file, hook_function_argument_map={
        "production": str(production.root)})
    registry = ShotRegistry(production.root)
    report = reattach(timeline, registry)
    for match in report.matched:
        registry.record(match.spec, reason=match.kind or "import", parent=match.parent)
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    for line in report.lines():  # unknown clips and deletions print even with -q
        known = not line.endswith(("left alone", "deleted in the editor"))
        (console if known else errors).print(line, markup=False)
    for order in apply_orders(timeline, registry):
        console.print(f"{order.shot_id}: {order.kind} ({order.detail})", markup=False)
    relinked = relink(timeline, production, args.tier, render=not args.no_render)
    for line in relinked.lines():
        console.print(line, markup=False)
    write_timeline(timeline, args.output)
    console.print(f"imported {len(report.matched)} shot(s), {len(report.unknown)} unknown → "
                  f"{args.output}")
    return 1 if report.unknown or relinked.failed else 0
