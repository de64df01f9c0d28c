"""`soloreel script2edit SCRIPT.fountain [--production DIR] [-o EDIT.otio]`: block a screenplay
out into an edit, report what the bible lacks, and validate the result."""

from __future__ import annotations

import argparse
from pathlib import Path

import tomli_w
from rich.console import Console

from render_engine.bible import load_production
from render_engine.cli.validate import add_production_argument, find_production
from render_engine.errors import SoloreelError
from render_engine.screenplay.edit import SCRIPT_KEY
from render_engine.screenplay.errors import FountainError
from render_engine.spec import to_plain
from render_engine.timeline_io import write_timeline
from render_engine.validate import validate_timeline

FIELD_ORDER = {"name": 0, "display_name": 1, "role": 2, "description": 3}
"""Suggested bible entries print in the order a person writes them."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `script2edit` sub-command."""
    parser = sub.add_parser(
        "script2edit", help="turn a Fountain screenplay into an edit with automatic coverage",
        description="Parse a Fountain screenplay, match its characters and locations to the "
        "production bible and block every scene out into shots (establishing wide, singles, "
        "over-the-shoulder reverses, two-shots, reactions; [[shot: ...]] notes override). "
        "Prints what the bible lacks, writes the edit and validates it: exit 1 on problems.")
    parser.add_argument("script", type=Path, help="a .fountain screenplay")
    add_production_argument(parser)
    parser.add_argument("-o", "--output", type=Path, metavar="EDIT",
                        help="the edit to write (default: timelines/<script name>.otio in the "
                        "production)")
    parser.add_argument("--fps", type=float, help="frame rate (default: the production's)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Write the edit, print warnings and suggested bible entries, then validate."""
    from otio_adapters.fountain import read_from_file

    production = load_production(find_production(args, args.script), strict=True)
    if not args.script.is_file():
        raise SoloreelError(f"{args.script}: no such screenplay")
    out = Console(highlight=False, soft_wrap=True)  # warnings print even with -q
    try:
        timeline = read_from_file(str(args.script), production=production, fps=args.fps)
    except FountainError as exc:  # printed without markup: notes are [[…]]
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"error: {exc}",
                                                                     markup=False)
        return 1
    output = args.output or production.root / "timelines" / f"{args.script.stem}.otio"
    write_timeline(timeline, output)
    meta = to_plain(timeline.metadata[SCRIPT_KEY])
    for warning in meta["warnings"]:
        where = f"{args.script} line {warning['line']}" if warning["line"] else str(args.script)
        out.print(f"warning: {where}: {warning['message']}", markup=False)
    for kind, folder in (("cast", "cast"), ("sets", "sets")):
        for name, entry in meta["suggestions"][kind].items():
            ordered = dict(sorted(entry.items(), key=lambda item: FIELD_ORDER.get(item[0], 9)))
            out.print(f"suggested {folder}/{name}.toml:\n" + tomli_w.dumps(ordered).rstrip(),
                      markup=False)
    counts = meta["counts"]
    console.print(f"wrote {output}: {counts['scenes']} scene(s), {counts['shots']} shot(s), "
                  f"{counts['dialogue_blocks']} dialogue block(s)")
    problems, shots = validate_timeline(timeline, production)
    for problem in problems:
        out.print(problem.line(), markup=False)
    if problems:
        console.print(f"{len(problems)} problem(s) in {shots} shot(s); fix the script or the "
                      "bible and run again", style="red")
        return 1
    console.print(f"ok: {shots} shot(s) validate against the bible", style="green")
    return 0
