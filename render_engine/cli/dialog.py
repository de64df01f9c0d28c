"""`soloreel dialog EDIT [-o OUT]`: the edit's dialog as per-character audio tracks."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from render_engine.audio.tracks import attach_dialog_tracks
from render_engine.bible import load_production
from render_engine.cli.validate import add_production_argument, find_production
from render_engine.timeline_io import read_timeline, write_timeline


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `dialog` sub-command."""
    parser = sub.add_parser(
        "dialog", help="put every dialog line on per-character audio tracks",
        description="Speak every dialog line of the edit (cached) and lay the 48 kHz WAVs on "
        "one audio track per character; shots last as long as their dialog unless trimmed "
        "by hand. Tracks from an earlier run and the screenplay's DIALOG tracks are replaced, "
        "and every audio track ends with the picture.")
    parser.add_argument("timeline", type=Path)
    parser.add_argument("-o", "--output", type=Path,
                        help="edit to write (default: overwrite the input)")
    parser.add_argument("--room-tone", action=argparse.BooleanOptionalAction, default=True,
                        help="add a quiet room-tone bed under the dialog (default: yes)")
    add_production_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Attach the tracks, write the edit, summarise what changed."""
    production = load_production(find_production(args, args.timeline), strict=True)
    timeline = read_timeline(args.timeline)
    report = attach_dialog_tracks(timeline, production, room_tone=args.room_tone)
    output = args.output or args.timeline
    write_timeline(timeline, output)
    for label, before, after in report.resized:
        console.print(f"{label}: {before} → {after} frames (follows its dialog)", markup=False)
    for label in report.kept:
        console.print(f"{label}: trimmed by hand, kept", markup=False)
    for line in report.hidden:
        console.print(f"{line}: outside the trimmed shot, left out", markup=False)
    for line in report.cut:
        console.print(line, markup=False)
    for name in report.replaced:
        console.print(f"replaced the screenplay's {name} (by the character tracks)",
                      markup=False)
    for line in report.overruns:
        console.print(f"warning: {line}", markup=False)
    console.print(f"{report.lines} line(s) on {len(report.tracks)} track(s) "
                  f"({', '.join(report.tracks) or 'none'}) → {output}", markup=False)
    return 0
