"""`soloreel status EDIT`: per shot, which tiers exist, fresh or stale, and when rendered.

The states come from `render_engine.freshness` — the function the plot, the storyboard, the
contact sheet, `preview` and `render --dry-run` use too — so every tool says the same thing.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from render_engine.bible import TIERS, Production, load_production
from render_engine.cli.validate import add_production_argument, find_production
from render_engine.freshness import Freshness
from render_engine.timeline_io import iter_shots, read_timeline


def shot_states(timeline_path: Path, production: Production) -> list[dict]:
    """One row per shot: {tier: "fresh" | "draft" | "keyframe" | "stale" | "missing" |
    "invalid"}, the reasons of stale/invalid tiers ("notes"), frames of the cut, the last
    render time and the keyframe's approval ("approval": "approved <sha>" or "", with
    "alternates") ("draft": no full final, but a fresh `--quality draft` final is cached;
    "keyframe": no full final nor draft, but a fresh `--quality keyframe` still is)."""
    timeline = read_timeline(timeline_path)
    freshness = Freshness(production)
    rows = []
    for ref in iter_shots(timeline):
        if not ref.has_spec:
            continue
        row: dict = {"number": ref.number, "name": ref.clip.name, "frames": 0, "last": None,
                     "notes": []}
        for tier, state in freshness.states(ref).items():
            row[tier] = state.state
            if state.plan is not None and state.plan.spec is not None:
                row["id"] = state.plan.spec.shot.id
                kept = state.plan.spec.render.final.keyframe
                row["approval"] = (f"approved {kept.sha256[:12]}" if kept and kept.sha256
                                   else "")
                row["alternates"] = len(kept.alternates) if kept else 0
                row["frames"] = state.shown[1] - state.shown[0]
            if state.reason and (state.state == "stale" or not row["notes"]):
                row["notes"].append(f"{tier} {state.state}: {state.reason}")
            if state.last_render is not None:
                row["last"] = max(row["last"] or 0, state.last_render)
        rows.append(row)
    return rows


STYLE = {"fresh": "green", "draft": "cyan", "keyframe": "magenta", "stale": "yellow",
         "missing": "dim", "invalid": "red"}


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
    for column in ("#", "shot", "clip", *TIERS, "keyframe", "last render"):
        table.add_column(column)
    rows = shot_states(args.timeline, production)
    for row in rows:
        last = (dt.datetime.fromtimestamp(row["last"]).strftime("%Y-%m-%d %H:%M")
                if row["last"] else "never")
        table.add_row(str(row["number"]), Text(row.get("id", "")), Text(row["name"]),
                      *(Text(row[t], style=STYLE[row[t]]) for t in TIERS),
                      Text(row.get("approval") or "—", style="green" if row.get("approval")
                           else "dim")
                      + Text(f" +{row['alternates']} alt" if row.get("alternates") else ""),
                      last)
    console.print(table)
    for row in rows:  # why a tier is stale (changed, or the cut outgrew its render)
        for note in row["notes"]:
            console.print(f"{row.get('id') or row['name']}: {note}", markup=False)
    if getattr(args, "plot", None):
        from render_engine.review.shots import collect
        from render_engine.review.status_plot import write_status_plot

        write_status_plot(collect(read_timeline(args.timeline), production), args.plot)
        console.print(f"status plot → {args.plot}", markup=False)
    return 0
