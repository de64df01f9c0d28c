"""`soloreel storyboard EDIT -o board.html|.pdf|.png`: look at the edit before rendering more."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from render_engine.bible import load_production
from render_engine.cli.validate import add_production_argument, find_production
from render_engine.errors import SoloreelError
from render_engine.review.contact_sheet import write_pdf, write_png
from render_engine.review.shots import collect
from render_engine.review.storyboard import write_storyboard
from render_engine.timeline_io import read_timeline

SUFFIXES = (".html", ".htm", ".pdf", ".png")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `storyboard` sub-command."""
    parser = sub.add_parser(
        "storyboard", help="a storyboard page (.html, with animatic) or contact sheet (.pdf/.png)",
        description="Write the edit as a self-contained storyboard page with an animatic "
        "player (.html), or as a printable contact sheet (.pdf, .png): one panel per shot with "
        "its frames, size, move, cast, dialog, length, tiers present/stale and final cost.")
    parser.add_argument("timeline", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="board.html, sheet.pdf or sheet.png")
    parser.add_argument("--per-page", type=int, default=6,
                        help="panels per contact-sheet page (default 6)")
    parser.add_argument("--embed", action="store_true",
                        help="inline the page's stills as data URIs (one file to mail around)")
    add_production_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Write the page or sheet."""
    suffix = args.output.suffix.lower()
    if suffix not in SUFFIXES:
        raise SoloreelError(f"{args.output}: write a {', '.join(SUFFIXES)} file")
    production = load_production(find_production(args, args.timeline), strict=True)
    review = collect(read_timeline(args.timeline), production)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".html", ".htm"):
        write_storyboard(review, args.output, embed=args.embed)
        console.print(f"{len(review.shots)} panels → {args.output} (open it in a browser)")
    elif suffix == ".pdf":
        pages = write_pdf(review, args.output, args.per_page)
        console.print(f"{len(review.shots)} panels on {pages} page(s) → {args.output}")
    else:
        written = write_png(review, args.output, args.per_page)
        console.print(f"{len(review.shots)} panels on {len(written)} page(s) → "
                      + ", ".join(map(str, written)))
    return 0
