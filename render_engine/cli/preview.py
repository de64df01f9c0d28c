"""`soloreel preview EDIT -o cut.mp4 --tier proxy`: the whole edit as one movie at a tier."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from render_engine.bible import TIERS, load_production
from render_engine.cli.validate import add_production_argument, find_production
from render_engine.review.preview import PreviewRefused, render_preview, stale_problems
from render_engine.review.shots import collect
from render_engine.timeline_io import read_timeline


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `preview` sub-command."""
    parser = sub.add_parser(
        "preview", help="the whole edit as one movie at a tier (falling back per shot)",
        description="Conform the edit into one movie at the asked tier. A shot missing that "
        "tier uses its best tier present, marked by a corner burn-in (shot id and tier); a "
        "shot with no media at all shows a card. Exact length in frames, audio in sync. Stale "
        "renders (the shot changed, or the cut outgrew its render) are never used silently: a "
        "shot with nothing fresh shows its stale render burnt in STALE, with a warning naming "
        "it and the frames held; --strict refuses such a preview instead.")
    parser.add_argument("timeline", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="movie to write (.mp4, .mov or .mkv)")
    parser.add_argument("--tier", choices=TIERS, default="proxy")
    parser.add_argument("--size", metavar="WxH",
                        help="frame size (default: the tier's resolution in the production)")
    parser.add_argument("--strict", action="store_true",
                        help="refuse (exit 1, nothing written) when a shot would show a stale "
                        "or short render")
    add_production_argument(parser)
    parser.set_defaults(run=run)


def _size(text: str | None) -> tuple[int | None, int | None]:
    if not text:
        return None, None
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f'--size "{text}" is not WIDTHxHEIGHT') from None
    return width, height


def run(args: argparse.Namespace, console: Console) -> int:
    """Render the preview with a progress bar; report the fallbacks."""
    production = load_production(find_production(args, args.timeline), strict=True)
    review = collect(read_timeline(args.timeline), production, costs=False)
    if getattr(args, "strict", False):  # refuse before the progress bar starts
        shown, _passed = stale_problems(review, args.tier)
        if shown:
            raise PreviewRefused(list(shown.values()))
    width, height = _size(args.size)
    profile = "web" if args.output.suffix.lower() in (".mp4", ".m4v") else (
        production.settings.encode.profile)
    columns = (TextColumn("preview"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, disable=console.quiet) as bar:
        task = bar.add_task("preview", total=review.frames)
        result = render_preview(review, args.tier, args.output, width, height, profile,
                                progress=lambda n: bar.advance(task, n),
                                strict=getattr(args, "strict", False))
    for shot_id, tier in result.used.items():
        if tier != args.tier:
            console.print(f"{shot_id}: {tier or 'no media'} instead of {args.tier}",
                          markup=False)
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    for warning in result.warnings:
        errors.print(f"warning: {warning}", markup=False)
    console.print(f"{result.frames} frames ({result.frames / review.fps:.2f} s) → {args.output}")
    return 0
