"""`soloreel relink EDIT`: render only shots whose spec or range changed; report the diff."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from render_engine.bible import TIERS, load_production
from render_engine.cli.validate import add_production_argument, find_production
from render_engine.nle.relink import relink
from render_engine.timeline_io import read_timeline, write_timeline


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `relink` sub-command."""
    parser = sub.add_parser(
        "relink", help="re-render only changed shots and report the diff to the last render",
        description="Link every shot at the tier, rendering only shots whose spec or range "
        "changed; list added, removed, changed, retimed and reordered shots.")
    parser.add_argument("timeline", type=Path)
    parser.add_argument("-o", "--output", type=Path, help="default: overwrite the input")
    parser.add_argument("--tier", choices=TIERS, default="placeholder")
    add_production_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Relink, write, report; exit 1 if any shot failed."""
    production = load_production(find_production(args, args.timeline), strict=True)
    timeline = read_timeline(args.timeline)
    report = relink(timeline, production, args.tier)
    write_timeline(timeline, args.output or args.timeline)
    for line in report.lines() or ["nothing changed"]:
        console.print(line, markup=False)
    return 1 if report.failed else 0
