"""`soloreel demo [FOLDER]`: paint the demo production if needed, validate it, show its plan."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from render_engine.bible import load_production
from render_engine.cli.plan import plan_table
from render_engine.demo.production import EDIT_FILE, ensure_demo
from render_engine.timeline_io import read_timeline
from render_engine.validate import validate_timeline


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `demo` sub-command."""
    parser = sub.add_parser(
        "demo", help="set up and check the demo production (campfire scene)",
        description="Paint the demo production's art (first run only), validate its edit and "
        "print the plan of its shots.")
    parser.add_argument("folder", type=Path, nargs="?", default=Path("timelines/campfire"),
                        help="where the demo production lives (default: timelines/campfire)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Paint, validate, plan."""
    with console.status("painting the demo production's art…"):
        painted = ensure_demo(args.folder)
    console.print(("painted" if painted else "using") + f" demo art in {args.folder}")
    production = load_production(args.folder)
    edit = args.folder / EDIT_FILE
    problems, shots = validate_timeline(read_timeline(edit), production)
    for problem in problems:
        console.print(problem.line(), markup=False)
    if problems:
        return 1
    console.print(f"{edit}: {shots} shots validate cleanly against the bible")
    console.print(plan_table(edit, production))
    return 0
