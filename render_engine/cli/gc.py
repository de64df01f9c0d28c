"""`soloreel gc`: remove cache entries no timeline of the production uses (dry run default)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from rich.console import Console

from render_engine.bible import TIERS, load_production
from render_engine.cache import RenderCache
from render_engine.errors import SoloreelError
from render_engine.render import plan_shot
from render_engine.timeline_io import iter_shots, read_timeline


def referenced_hashes(timelines: list[Path], production) -> set[tuple[str, str]]:
    """(tier, hash) of every shot of every timeline, at every tier."""
    cache = RenderCache(production.renders_dir())
    keep: set[tuple[str, str]] = set()
    for path in timelines:
        for ref in iter_shots(read_timeline(path)):
            if not ref.has_spec:
                continue
            for tier in TIERS:
                plan = plan_shot(ref, production, cache, tier)
                if plan.content_hash:
                    keep.add((tier, plan.content_hash))
    return keep


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `gc` sub-command."""
    parser = sub.add_parser("gc", help="remove renders no timeline references (dry run default)",
                            description="List (or with --delete remove) cache entries that no "
                            "timeline of the production references, and abandoned partial "
                            "renders.")
    parser.add_argument("production", type=Path, help="the production folder")
    parser.add_argument("--timeline", action="append", type=Path, default=[],
                        help="timelines to keep renders for (default: timelines/*.otio)")
    parser.add_argument("--delete", action="store_true", help="really delete")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Report (and delete) unreferenced entries."""
    production = load_production(args.production)
    timelines = args.timeline or sorted((production.root / "timelines").glob("*.otio"))
    if not timelines:
        raise SoloreelError(f"no timelines in {production.root / 'timelines'}; pass --timeline "
                            "to say which renders to keep")
    keep = referenced_hashes(timelines, production)
    cache = RenderCache(production.renders_dir())
    doomed = sorted({e.folder.parent for e in cache.all_entries()
                     if (e.tier, e.hash) not in keep})
    partial = list(cache.abandoned_staging())
    size = sum(f.stat().st_size for d in [*doomed, *partial] for f in d.rglob("*")
               if f.is_file())
    for folder in [*doomed, *partial]:
        console.print(("removing " if args.delete else "would remove ")
                      + str(folder.relative_to(production.root)), markup=False)
        if args.delete:
            shutil.rmtree(folder, ignore_errors=True)
    verb = "removed" if args.delete else "would free"
    console.print(f"{verb} {size / 1e6:.1f} MB in {len(doomed)} render(s) and {len(partial)} "
                  f"partial render(s)" + ("" if args.delete else "; run with --delete"))
    return 0
