"""`soloreel plan EDIT`: what each shot is and its content address per tier.

Frame columns are labelled as everywhere (`render_engine.freshness`): `frames` is the cut,
`frames+handles` what a render covers."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from render_engine.bible import TIERS, Production, load_production
from render_engine.cli.validate import add_production_argument, find_production
from render_engine.errors import SoloreelError
from render_engine.freshness import CUT_FRAMES, RENDER_FRAMES, frames_note
from render_engine.hashing import shot_hash
from render_engine.render import source_frames
from render_engine.spec import ShotSpec, spec_or_error
from render_engine.timeline_io import iter_shots, read_timeline


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `plan` sub-command."""
    parser = sub.add_parser("plan", help="list the shots of an edit with their hashes per tier",
                            description="Print one row per shot: position, size, move, cast, "
                            "dialog and the content hash of each tier; frames of the cut and "
                            "frames+handles (what a render covers).")
    parser.add_argument("timeline", type=Path)
    add_production_argument(parser)
    parser.set_defaults(run=run)


def plan_table(timeline_path: Path, production: Production) -> Table:
    """The plan as a rich table (also printed by `soloreel demo`)."""
    timeline = read_timeline(timeline_path)
    table = Table(title=f"{timeline.name or timeline_path.name}: shots", show_lines=False)
    for column in ("#", "shot", CUT_FRAMES, RENDER_FRAMES, "size", "move", "cast", "lines",
                   *TIERS):
        table.add_column(column, no_wrap=column != "cast")
    fps = production.settings.production.fps
    handles = production.settings.production.handles
    notes: list[str] = []
    for ref in iter_shots(timeline):
        spec = spec_or_error(ref.clip) if ref.has_spec else None
        if spec is None:
            continue
        try:
            first, end = source_frames(ref.clip, fps, ref.label)
            cut, rendered = str(end - first), str(end - first + 2 * handles)
        except SoloreelError:
            cut = rendered = "invalid"
        hashes = []
        for tier in TIERS:
            try:
                hashes.append(shot_hash(spec, production, tier)[:8])
            except SoloreelError:
                hashes.append("invalid")
        size, note = _framed_size(spec, production)
        if note:
            notes.append(f"{spec.shot.id}: {note}")
        table.add_row(str(ref.number), spec.shot.id, cut, rendered, size,
                      spec.camera.move, ", ".join(spec.character_names()),
                      str(len(spec.dialog)), *hashes)
    table.caption = "\n".join([frames_note(handles), *notes])
    return table


def _framed_size(spec: ShotSpec, production: Production) -> tuple[str, str]:
    """The size column (`OTS→MCU` where the proxy's framing had to use another setup) and
    framing's reason ("" when the size was framed as written or cannot be framed yet)."""
    from render_engine.proxy.framing import plan_framing

    tier = production.settings.tier("proxy")
    try:
        framing = plan_framing(spec, production, tier.width, tier.height)
    except (SoloreelError, OSError, KeyError):
        return spec.shot.size, ""
    if framing.setup == spec.shot.size:
        return spec.shot.size, ""
    return f"{spec.shot.size}→{framing.setup}", framing.note


def run(args: argparse.Namespace, console: Console) -> int:
    """Print the plan table."""
    production = load_production(find_production(args, args.timeline), strict=True)
    console.print(plan_table(args.timeline, production))
    return 0
