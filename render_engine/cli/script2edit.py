"""`soloreel script2edit SCRIPT.fountain [--production DIR] [-o EDIT.otio] [--stubs]`: block a
screenplay out into an edit, report (or with --stubs write) what the bible lacks, and validate
the result."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w
from rich.console import Console

from render_engine.bible import Production, load_production
from render_engine.cli.validate import add_production_argument, find_production
from render_engine.errors import SoloreelError
from render_engine.scaffold import write_stubs
from render_engine.screenplay.edit import SCRIPT_KEY
from render_engine.screenplay.errors import FountainError
from render_engine.spec import to_plain
from render_engine.standin import figure_files, standin_files
from render_engine.timeline_io import write_timeline
from render_engine.validate import validate_timeline

if TYPE_CHECKING:
    import opentimelineio

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
    parser.add_argument("--stubs", action="store_true",
                        help="write the cast/NAME.toml and sets/NAME.toml files the script "
                        "needs and the bible lacks (never replacing a file; sets get a "
                        "generated stand-in plate), then block the script out against them")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Write the edit, print warnings and suggested (or, with --stubs, written) bible entries,
    then validate."""
    root = find_production(args, args.script)
    return convert_script(args.script, root, args.output, args.fps, args.stubs, console)


def _convert(script: Path, production: Production, fps: float | None
             ) -> opentimelineio.schema.Timeline:
    from otio_adapters.fountain import read_from_file

    return read_from_file(str(script), production=production, fps=fps)


def convert_script(script: Path, root: Path, output: Path | None, fps: float | None,
                   stubs: bool, console: Console) -> int:
    """`script2edit` proper (also behind `soloreel init --from`): block the screenplay out
    against the production in `root`; with `stubs`, first write the cast and set files it
    lacks (sets with a generated stand-in plate) and block it out again against them."""
    production = load_production(root, strict=True)
    if not script.is_file():
        raise SoloreelError(f"{script}: no such screenplay")
    out = Console(highlight=False, soft_wrap=True)  # warnings print even with -q
    try:
        timeline = _convert(script, production, fps)
        if stubs:
            meta = to_plain(timeline.metadata[SCRIPT_KEY])
            if _write_stubs(production, meta["suggestions"], console):
                production = load_production(root, strict=True)  # draws the stand-in plates
                timeline = _convert(script, production, fps)
    except FountainError as exc:  # printed without markup: notes are [[…]]
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"error: {exc}",
                                                                     markup=False)
        return 1
    output = output or production.root / "timelines" / f"{script.stem}.otio"
    write_timeline(timeline, output)
    meta = to_plain(timeline.metadata[SCRIPT_KEY])
    for warning in meta["warnings"]:
        where = f"{script} line {warning['line']}" if warning["line"] else str(script)
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
        hint = "" if stubs else " (--stubs writes the missing cast and set files)"
        console.print(f"{len(problems)} problem(s) in {shots} shot(s); fix the script or the "
                      f"bible and run again{hint}", style="red")
        return 1
    console.print(f"ok: {shots} shot(s) validate against the bible", style="green")
    return 0


def _write_stubs(production: Production, suggestions: dict[str, Any], console: Console) -> bool:
    """Write the suggested cast and set files that are not there yet and say what was written
    (and what was left alone); True when anything was written."""
    results = write_stubs(production.root, suggestions)
    out = Console(highlight=False, soft_wrap=True)
    for path, written in results:
        shown = path.relative_to(production.root).as_posix()
        if not written:
            out.print(f"kept {shown}: it exists already (it did not load: `soloreel validate` "
                      "says why)", markup=False)
        elif path.parent.name == "sets":
            image, _depth = standin_files(path.stem)
            out.print(f"wrote {shown}: stand-in plate sets/{image} until you set plate.image",
                      markup=False)
        else:
            out.print(f"wrote {shown}: stand-in figure cast/{figure_files(path.stem)[0]} until "
                      f"you give it a picture with `soloreel cast new {path.stem} --from "
                      "PICTURE.png`", markup=False)
    made = sum(written for _path, written in results)
    if results:
        console.print(f"{made} bible stub(s) written")
    return made > 0
