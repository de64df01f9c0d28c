"""`soloreel status EDIT`: per shot, which tiers exist, fresh or stale, and when rendered."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from render_engine.bible import TIERS, Production, load_production
from render_engine.cache import CacheEntry, RenderCache
from render_engine.cli.validate import add_production_argument, find_production
from render_engine.final.quality import draft_view
from render_engine.render import plan_shot
from render_engine.timeline_io import iter_shots, read_timeline


def latest_by_shot(cache: RenderCache) -> dict[tuple[str, str], CacheEntry]:
    """The newest cache entry per (shot id, tier), to tell stale renders from none."""
    latest: dict[tuple[str, str], CacheEntry] = {}
    for entry in cache.all_entries():
        key = (str(entry.manifest.get("shot_id", "")), entry.tier)
        if key not in latest or entry.manifest.get("created", 0) > latest[key].manifest.get(
                "created", 0):
            latest[key] = entry
    return latest


def shot_states(timeline_path: Path, production: Production) -> list[dict]:
    """One row per shot: {tier: "fresh" | "draft" | "stale" | "missing" | "invalid"} and last
    render ("draft": no full final, but a fresh `--quality draft` final is cached)."""
    timeline = read_timeline(timeline_path)
    cache = RenderCache(production.renders_dir())
    latest = latest_by_shot(cache)
    drafts = draft_view(production)
    rows = []
    for ref in iter_shots(timeline):
        if not ref.has_spec:
            continue
        row: dict = {"number": ref.number, "name": ref.clip.name, "frames": 0, "last": None}
        for tier in TIERS:
            plan = plan_shot(ref, production, cache, tier)
            if plan.problem or plan.spec is None:
                row[tier] = "invalid"
                continue
            row["id"], row["frames"] = plan.spec.shot.id, plan.end - plan.first
            old = latest.get((plan.spec.shot.id, tier))
            row[tier] = "fresh" if plan.cached else ("stale" if old else "missing")
            entry = plan.cached or old
            if tier == "final" and not plan.cached and drafts is not None:
                draft = plan_shot(ref, drafts, cache, tier)
                if draft.cached is not None:
                    row[tier], entry = "draft", draft.cached
            if entry is not None:
                created = entry.manifest.get("created", 0)
                row["last"] = max(row["last"] or 0, created)
        rows.append(row)
    return rows


STYLE = {"fresh": "green", "draft": "cyan", "stale": "yellow", "missing": "dim",
         "invalid": "red"}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `status` sub-command."""
    parser = sub.add_parser("status", help="which tiers each shot has, fresh or stale",
                            description="A table per shot: tiers present, stale or fresh, "
                            "last render time.")
    parser.add_argument("timeline", type=Path)
    parser.add_argument("--plot", type=Path, metavar="FILE",
                        help="also draw the edit's status as a picture (.png, .svg, .pdf)")
    add_production_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Print the status table."""
    production = load_production(find_production(args, args.timeline), strict=True)
    table = Table(title=f"{args.timeline.name}: render status")
    for column in ("#", "shot", "clip", *TIERS, "last render"):
        table.add_column(column)
    for row in shot_states(args.timeline, production):
        last = (dt.datetime.fromtimestamp(row["last"]).strftime("%Y-%m-%d %H:%M")
                if row["last"] else "never")
        table.add_row(str(row["number"]), Text(row.get("id", "")), Text(row["name"]),
                      *(Text(row[t], style=STYLE[row[t]]) for t in TIERS), last)
    console.print(table)
    if getattr(args, "plot", None):
        from render_engine.review.shots import collect
        from render_engine.review.status_plot import write_status_plot

        write_status_plot(collect(read_timeline(args.timeline), production), args.plot)
        console.print(f"status plot → {args.plot}", markup=False)
    return 0
