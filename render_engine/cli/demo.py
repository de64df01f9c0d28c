"""`soloreel demo [FOLDER]`: paint the demo production if needed, validate it, show its plan."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from render_engine.bible import TIERS, load_production
from render_engine.cache import RenderCache
from render_engine.cli.plan import plan_table
from render_engine.cli.render import render_plans, summarise
from render_engine.demo.production import EDIT_FILE, ensure_demo
from render_engine.render import plan_shot
from render_engine.review.preview import render_preview
from render_engine.review.shots import collect
from render_engine.timeline_io import iter_shots, read_timeline, write_timeline
from render_engine.validate import validate_timeline


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `demo` sub-command."""
    parser = sub.add_parser(
        "demo", help="set up and check the demo production (campfire scene)",
        description="Paint the demo production's art (first run only), validate its edit, "
        "print the plan of its shots and render them.")
    parser.add_argument("folder", type=Path, nargs="?", default=Path("timelines/campfire"),
                        help="where the demo production lives (default: timelines/campfire)")
    parser.add_argument("--tier", choices=TIERS, default="proxy",
                        help="tier to render (default: proxy, the CPU animatic)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Paint, validate, plan."""
    with console.status("painting the demo production's art…"):
        painted = ensure_demo(args.folder)
    console.print(("painted" if painted else "using") + f" demo art in {args.folder}")
    production = load_production(args.folder, strict=True)
    edit = args.folder / EDIT_FILE
    problems, shots = validate_timeline(read_timeline(edit), production)
    for problem in problems:
        console.print(problem.line(), markup=False)
    if problems:
        return 1
    console.print(f"{edit}: {shots} shots validate cleanly against the bible")
    console.print(plan_table(edit, production))
    tier = args.tier
    cache = RenderCache(production.renders_dir())
    timeline = read_timeline(edit)
    plans = [plan_shot(ref, production, cache, tier) for ref in iter_shots(timeline)
             if ref.has_spec]
    render_plans(plans, tier, production, cache, console)
    linked = edit.with_name(f"{edit.stem}.linked.otio")
    write_timeline(timeline, linked)
    code = summarise(plans, linked, console)
    if code != 0:
        return code
    movie = args.folder / f"campfire_{tier}.mp4"
    review = collect(read_timeline(linked), production)
    with console.status(f"conforming the {tier} animatic into one movie…"):
        render_preview(review, tier, movie, profile="web")
    console.print(f"[bold]the {tier} animatic: {escape(str(movie))}[/] ({review.frames} "
                  f"frames, dialog included); the linked edit: {escape(str(linked))}",
                  markup=True)
    return 0
