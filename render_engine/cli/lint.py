"""`soloreel lint EDIT [--strict]`: continuity and framing problems of the planned cameras."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from render_engine.bible import load_production
from render_engine.cli.validate import add_production_argument, find_production
from render_engine.lint import lint_report, summary
from render_engine.timeline_io import read_timeline


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `lint` sub-command."""
    parser = sub.add_parser(
        "lint", help="continuity and framing checks over the planned cameras of an edit",
        description="Check the cameras and blocking the proxy tier plans for every shot: "
        "subjects out of frame or cut by an edge, feet cut in full shots, faces behind "
        "foreground masks, the 180-degree line crossed, flipped screen direction, jump cuts "
        "and eyelines that don't meet. Prints one line per problem (shot, time, what, fix) "
        "and a summary; exits 0, or 1 with --strict when anything was found (a problem, or "
        "a shot whose spec does not validate and so could not be checked).")
    parser.add_argument("timeline", type=Path, help="an .otio (or any OTIO-readable) timeline")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when any problem is found or a shot could not be "
                        "checked (for scripts and CI)")
    parser.add_argument("--tier", choices=["proxy"], default="proxy",
                        help="whose cameras to check (only the proxy tier plans cameras)")
    add_production_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Print each problem on its own line (and each shot skipped because its spec does not
    validate), then the count per kind; 1 under --strict when anything was found."""
    production = load_production(find_production(args, args.timeline), strict=True)
    report = lint_report(read_timeline(args.timeline), production)
    out = Console(highlight=False, soft_wrap=True, markup=False)  # problems print even with -q
    for problem in report.problems:
        out.print(problem.line(), markup=False)
    for label, reason in report.skipped:
        out.print(f"{label} skipped: {reason} (soloreel validate says how to fix it)",
                  markup=False)
    skipped = f", {len(report.skipped)} skipped" if report.skipped else ""
    if report.problems:
        console.print(f"{summary(report.problems)} in {report.shots} shot(s){skipped}",
                      markup=False, style="red")
    elif report.skipped:
        console.print(f"no problems in {report.shots} shot(s){skipped}", markup=False,
                      style="yellow")
    else:
        console.print(f"ok: {report.shots} shot(s), no continuity or framing problems",
                      markup=False, style="green")
    return 1 if args.strict and (report.problems or report.skipped) else 0
