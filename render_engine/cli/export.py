"""`soloreel export EDIT --nle resolve|kdenlive|fcp7|mlt -o FILE [--tier T|best]`: an edit for
an NLE, with a summary of the tier each shot was exported at."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from render_engine.bible import load_production
from render_engine.cli.validate import add_production_argument, find_production
from render_engine.media.encode import ENCODE_PROFILES
from render_engine.nle.export import EXPORT_TIERS, NLE_TARGETS, check_output, export_edit
from render_engine.timeline_io import read_timeline, write_timeline


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `export` sub-command."""
    parser = sub.add_parser(
        "export", help="write the edit for DaVinci Resolve, Kdenlive, FCP7 XML or MLT",
        description="Render what is missing at the tier in the NLE's media profile, then write "
        "a flattened copy (one media reference per clip, an identity marker on every shot) "
        "that `soloreel import` can bring back with every shot's spec.")
    parser.add_argument("timeline", type=Path)
    parser.add_argument("--nle", choices=sorted(NLE_TARGETS), required=True)
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help=".otio (resolve, kdenlive), .xml (fcp7) or .mlt (mlt)")
    parser.add_argument("--tier", choices=EXPORT_TIERS, default="best",
                        help="the tier to export; best (default): per clip the best tier "
                        "fresh for it (a final only when already rendered in the NLE's media "
                        "profile), else a placeholder; the summary says what each got")
    parser.add_argument("--profile", choices=sorted(p for p in ENCODE_PROFILES
                                                     if p in ("web", "kdenlive", "resolve")),
                        help="media profile (default: resolve for resolve/fcp7, kdenlive else)")
    parser.add_argument("--layers", action="store_true",
                        help="stack each shot as plate, character layers with alpha (ProRes "
                        "4444) and foreground, so one character can be adjusted in the NLE")
    parser.add_argument("--no-render", action="store_true",
                        help="export only media already rendered")
    add_production_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Export; warnings go to the console as plain sentences; exit 1 if there were any."""
    check_output(args.output, args.nle)
    production = load_production(find_production(args, args.timeline), strict=True)
    result = export_edit(read_timeline(args.timeline), production, args.nle, args.tier,
                         args.profile, render=not args.no_render, layers=args.layers)
    adapter_args = {}
    if args.nle == "mlt":  # the project's frame size: the (best) tier exported
        counts = result.tier_counts()
        tier = production.settings.tier(args.tier if args.tier != "best" else next(
            (t for t in counts if t in ("final", "proxy", "placeholder")), "placeholder"))
        adapter_args = {"width": tier.width, "height": tier.height}
    write_timeline(result.timeline, args.output, **adapter_args)
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    for warning in result.warnings:
        errors.print(f"warning: {warning}", markup=False)
    for note in result.notes:
        console.print(f"note: {note}", markup=False)
    tiers = ", ".join(f"{tier} {count}" for tier, count in result.tier_counts().items())
    console.print(f"exported {len(result.rows)} shot(s) for {args.nle} → {args.output} "
                  f"(--tier {args.tier}: {tiers or 'none'})", markup=False)
    return 1 if result.warnings else 0
