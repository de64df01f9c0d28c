"""`soloreel demo [FOLDER]`: set up the demo production in a folder, voice it, render it.

The folder may be anywhere (`soloreel demo ~/campfire`): the tour in the README works on such
a copy, so nothing tracked in a checkout changes. A current, painted demo in the checkout
(after `make demo`) is copied with its render cache; otherwise the art is painted. The
screenplay's edit, `timelines/campfire.otio`, is never rewritten: the edit the demo renders —
shots fitted to their spoken lines, one audio track per character, room tone, media linked —
is written beside it as `timelines/campfire.linked.otio`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from render_engine.audio.tracks import attach_dialog_tracks
from render_engine.bible import TIERS, load_production
from render_engine.cache import RenderCache
from render_engine.cli.plan import plan_table
from render_engine.cli.render import render_plans, summarise
from render_engine.demo.production import EDIT_FILE, SOURCE_DEMO, copy_demo, ensure_demo
from render_engine.render import plan_shot
from render_engine.render_pool import default_jobs
from render_engine.review.preview import render_preview
from render_engine.review.shots import collect
from render_engine.timeline_io import iter_shots, read_timeline, write_timeline
from render_engine.validate import validate_timeline

LINKED_SUFFIX = ".linked.otio"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `demo` sub-command."""
    parser = sub.add_parser(
        "demo", help="set up, voice and render the demo production (campfire scene)",
        description="Put the demo production in FOLDER (copied from a painted demo in the "
        "checkout, else painted), validate its edit, speak its dialog (shots fitted to their "
        "lines, a track per character, room tone), render a tier and conform it into one "
        "movie. The screenplay's edit is left as written; the rendered edit is "
        "timelines/campfire.linked.otio.")
    parser.add_argument("folder", type=Path, nargs="?", default=Path("timelines/campfire"),
                        help="where the demo production goes (default: timelines/campfire); "
                        "e.g. ~/campfire for a copy of your own to try the tour in")
    parser.add_argument("--tier", choices=TIERS, default="proxy",
                        help="tier to render (default: proxy, the CPU animatic)")
    parser.set_defaults(run=run)


def linked_edit(folder: Path) -> Path:
    """The edit `soloreel demo` renders and links: the screenplay's edit with its dialog."""
    edit = Path(folder) / EDIT_FILE
    return edit.with_name(edit.stem + LINKED_SUFFIX)


def _set_up(folder: Path, console: Console) -> None:
    """Copy the checkout's painted demo into `folder`, or paint it there."""
    if copy_demo(SOURCE_DEMO, folder):
        console.print(f"copied the painted demo from {SOURCE_DEMO} to {folder}", markup=False)
        return
    with console.status("painting the demo production's art…"):
        painted = ensure_demo(folder)
    console.print(("painted" if painted else "using") + f" demo art in {folder}", markup=False)


def run(args: argparse.Namespace, console: Console) -> int:
    """Set up, validate, voice, plan, render, conform."""
    folder = Path(args.folder).expanduser()
    _set_up(folder, console)
    production = load_production(folder, strict=True)
    edit = folder / EDIT_FILE
    timeline = read_timeline(edit)
    problems, shots = validate_timeline(timeline, production)
    for problem in problems:
        console.print(problem.line(), markup=False)
    if problems:
        return 1
    console.print(f"{edit}: {shots} shots validate cleanly against the bible", markup=False)
    with console.status("speaking the dialog…"):
        voiced = attach_dialog_tracks(timeline, production, room_tone=True)
    console.print(f"{voiced.lines} line(s) spoken onto {', '.join(voiced.tracks)}; "
                  f"{len(voiced.resized)} shot(s) fitted to their dialog", markup=False)
    linked = linked_edit(folder)
    write_timeline(timeline, linked)
    console.print(plan_table(linked, production))
    tier = args.tier
    cache = RenderCache(production.renders_dir())
    plans = [plan_shot(ref, production, cache, tier) for ref in iter_shots(timeline)
             if ref.has_spec]
    render_plans(plans, tier, production, cache, console, default_jobs(tier))
    write_timeline(timeline, linked)
    code = summarise(plans, linked, console)
    if code != 0:
        return code
    movie = folder / f"campfire_{tier}.mp4"
    review = collect(read_timeline(linked), production)
    with console.status(f"conforming the {tier} animatic into one movie…"):
        render_preview(review, tier, movie, profile="web")
    console.print(f"[bold]the {tier} animatic: {escape(str(movie))}[/] ({review.frames} "
                  f"frames, dialog included); the linked edit: {escape(str(linked))}",
                  markup=True)
    return 0
