"""The `soloreel` command line: one module per sub-command, each with `register` and `run`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from render_engine import __version__
from render_engine.cli import (
    approve,
    capture,
    cast,
    comfyui,
    demo,
    dialog,
    export,
    gc,
    init,
    lint,
    nle_import,
    plan,
    preview,
    queue,
    relink,
    render,
    script2edit,
    status,
    storyboard,
    switch,
    validate,
    voice,
)
from render_engine.errors import SoloreelError

COMMANDS = (init, validate, lint, plan, render, switch, status, gc, demo, script2edit, storyboard,
            preview, export, nle_import, relink, queue, approve,
            voice, cast, dialog, comfyui, capture)

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used by tests and the README's --help listing)."""
    parser = argparse.ArgumentParser(
        prog="soloreel",
        description="A one-person film studio inside the edit: turn every shot of an OTIO "
        "timeline into placeholders, CPU animatics and Wan 2.1 finals.",
    )
    parser.add_argument("--version", action="version", version=f"soloreel {__version__}")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    verbosity.add_argument("-v", "--verbose", action="count", default=0,
                           help="more detail (-vv for debug logging)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMANDS:
        module.register(sub)
    return parser


PIPED_WIDTH = 160
"""Columns for tables written to a file or a pipe (rich would squeeze them into 80)."""


def _piped_width() -> int | None:
    """A wide console when stdout is not a terminal and COLUMNS does not say otherwise, so a
    plan or status table saved to a log keeps its shot ids whole."""
    if os.environ.get("COLUMNS") or sys.stdout.isatty():
        return None
    return PIPED_WIDTH


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `soloreel` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose >= 2 else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # markup=False: clip names, shot ids, paths and character names are the user's text and
    # print literally ("[/x] [bold]JANE" is a name, not a style); styled output passes
    # markup=True with the user's parts escaped, or rich Text objects.
    console = Console(stderr=False, quiet=args.quiet, highlight=False, soft_wrap=True,
                      width=_piped_width(), markup=False)
    errors = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
    try:
        return int(args.run(args, console) or 0)
    except SoloreelError as exc:
        errors.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True)
        return EXIT_PROBLEMS
    except KeyboardInterrupt:
        errors.print("interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
