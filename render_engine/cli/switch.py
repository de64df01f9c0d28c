"""`soloreel switch EDIT --tier T -o OUT`: make T the active media of every clip that has it."""

from __future__ import annotations

import argparse
from pathlib import Path

import opentimelineio as otio
from rich.console import Console

from render_engine.bible import TIERS
from render_engine.spec import NAMESPACE
from render_engine.timeline_io import iter_shots, read_timeline, write_timeline


def switch_tier(timeline: otio.schema.Timeline, tier: str) -> tuple[int, list[str]]:
    """Set the active reference key to `tier` where the clip has it; only that key changes.
    Returns (clips switched, labels of soloreel clips that lack the tier)."""
    switched, missing = 0, []
    for ref in iter_shots(timeline):
        if NAMESPACE not in ref.clip.metadata:
            continue
        if tier in ref.clip.media_references():
            ref.clip.active_media_reference_key = tier
            switched += 1
        else:
            missing.append(ref.label)
    return switched, missing


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `switch` sub-command."""
    parser = sub.add_parser("switch", help="make one tier the active media of every clip",
                            description="Swap every clip whose tier exists to that tier; "
                            "report the clips that do not have it yet.")
    parser.add_argument("timeline", type=Path)
    parser.add_argument("--tier", choices=TIERS, required=True)
    parser.add_argument("-o", "--output", type=Path,
                        help="edit to write (default: overwrite the input)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Switch, write, report; exit 1 when some clips lack the tier."""
    timeline = read_timeline(args.timeline)
    switched, missing = switch_tier(timeline, args.tier)
    write_timeline(timeline, args.output or args.timeline)
    for label in missing:
        console.print(f"{label}: no {args.tier} media yet (kept its current tier)",
                      markup=False)
    console.print(f"switched {switched} clip(s) to {args.tier}; {len(missing)} without it")
    return 1 if missing else 0
