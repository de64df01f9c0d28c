"""`soloreel import FILE -o EDIT`: bring an edit back from an NLE with every shot's spec.

Re-attaches specs (media path, file name, marker, position — each with its evidence), honours
trims, reorders, splits, duplicates and deletions, applies editor orders (retake / fix: /
final markers), renders only what changed, and reports the diff against the last export (what
the editor started from). `--dry-run` changes nothing on disk and prints, per clip, how it was
found, what the editor did, the orders on it and what each tier would render.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from render_engine.bible import TIERS, Production, load_production
from render_engine.cache import RenderCache
from render_engine.cli.validate import add_production_argument, find_production
from render_engine.errors import SoloreelError
from render_engine.nle.export import EXPORT_LAYOUT
from render_engine.nle.orders import Order, apply_orders
from render_engine.nle.reattach import ReattachReport, reattach
from render_engine.nle.registry import DryRegistry, ShotRegistry
from render_engine.nle.relink import relink
from render_engine.render import plan_shot
from render_engine.timeline_io import iter_shots, read_timeline, write_timeline


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `import` sub-command."""
    parser = sub.add_parser(
        "import", help="read an edit back from an NLE and re-attach every shot's spec",
        description="Read FILE (.otio, FCP7 .xml, .mlt), find each shot again by media path, "
        "file name, marker or position, apply retake/fix/final markers, render what changed "
        "and write the master edit.")
    parser.add_argument("file", type=Path)
    parser.add_argument("-o", "--output", type=Path, help="master .otio to write "
                        "(required unless --dry-run)")
    parser.add_argument("--tier", choices=TIERS, default="placeholder")
    parser.add_argument("--no-render", action="store_true", help="re-attach only")
    parser.add_argument("--dry-run", action="store_true",
                        help="change nothing; print per clip how it was found, the editor's "
                        "change, its orders and what each tier would render")
    add_production_argument(parser)
    parser.set_defaults(run=run)


def production_for(args: argparse.Namespace) -> Path:
    """-p / $SOLOREEL_PRODUCTION, else the production above the output or the input, else the
    one the input's media paths point into."""
    for path in (args.output, args.file):
        if path is None:
            continue
        try:
            return find_production(args, path)
        except SoloreelError:
            continue
    raise SoloreelError(f"{args.file}: no production given and none found above it or from "
                        "its media paths; pass --production DIR")


def run(args: argparse.Namespace, console: Console) -> int:
    """Import, apply orders, relink, write; exit 1 when clips are unknown or renders failed."""
    if args.output is None and not args.dry_run:
        raise SoloreelError("import needs -o EDIT (the master .otio to write), or --dry-run")
    production = load_production(production_for(args), strict=True)
    timeline = read_timeline(args.file, hook_function_argument_map={
        "production": str(production.root)})
    registry = DryRegistry(production.root) if args.dry_run else ShotRegistry(production.root)
    export_rows = registry.layout(EXPORT_LAYOUT)
    report = reattach(timeline, registry)
    for match in report.matched:
        record = registry.record(match.spec, reason=match.kind or "import", parent=match.parent)
        piece = (match.render_as, match.render_range, match.render_digest)
        if match.render_as and (record.get("render_as"), record.get("render_range"),
                                record.get("render_digest")) != piece:
            record["render_as"], record["render_range"], record["render_digest"] = piece
            registry.save(record)
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    if not args.dry_run:
        for line in report.lines():  # unknown clips and deletions print even with -q
            known = "left alone" not in line and not line.endswith("deleted in the editor")
            (console if known else errors).print(line, markup=False)
        for line in report.rebased:
            console.print(line, markup=False)
    orders = apply_orders(timeline, registry)
    if args.dry_run:
        relinked = relink(timeline, production, args.tier, render=False, registry=registry,
                          baseline=EXPORT_LAYOUT)
        console.print(dry_run_table(timeline, production, registry, report, orders,
                                    export_rows, args.tier), markup=False)
        for label in report.unknown:
            errors.print(f"{label}: not a soloreel shot; left alone"
                         + (f" ({report.why[label]})" if report.why.get(label) else ""),
                         markup=False)
        for shot_id in report.deleted:
            errors.print(f"{shot_id}: deleted in the editor", markup=False)
        return 1 if report.unknown or relinked.failed else 0
    for order in orders:
        console.print(f"{order.shot_id}: {order.kind} ({order.detail})", markup=False)
    from render_engine.queue.orders import queue_orders  # orders → render queue

    for line in queue_orders(timeline, production, orders, registry.final_queue()):
        console.print(line, markup=False)
    relinked = relink(timeline, production, args.tier, render=not args.no_render,
                      registry=registry, baseline=EXPORT_LAYOUT)
    for line in relinked.lines():
        console.print(line, markup=False)
    write_timeline(timeline, args.output)
    console.print(f"imported {len(report.matched)} shot(s), {len(report.unknown)} unknown → "
                  f"{args.output}")
    return 1 if report.unknown or relinked.failed else 0


def _edit_text(shot_id: str, kind: str | None, parent: str | None, source: list[int],
               track: int, record: int, rows: dict[str, dict]) -> str:
    """What the editor did to a clip, against the last export."""
    if kind in ("split", "duplicate"):
        return f"{kind} of {parent}"
    row = rows.get(shot_id)
    if row is None:
        return "new"
    done = []
    if list(row.get("source", [])) != source:
        done.append("trim")
    if row.get("track") != track or row.get("record") != record:
        done.append("moved")
    return ", ".join(done) or "—"


def _tier_cell(plan, queued: bool, tier: str) -> tuple[str, int]:
    """One tier's cell (`cached`, `linked <parent>`, `render N fr`, `renders N missing
    frames of <parent>` for a piece extended past its parent's render, which renders only the
    frames that render lacks; the final column says `queued` for shots a `final` marker asked
    for, and why a final extension renders whole) and the frames it would render."""
    if tier == "final" and not queued:
        return "—", 0
    prefix = "queued: " if tier == "final" else ""
    if plan.problem or plan.spec is None:
        reason = (plan.problem or "").rsplit(": ", 1)[-1][:60]
        return (f"{prefix}cannot plan ({reason})" if tier == "final" else "invalid"), 0
    if plan.cached is not None:
        return prefix + (f"linked {plan.spec.shot.id}" if plan.clip_spec is not None
                         else "cached"), 0
    extension = plan.extra.get("extension")
    if extension is not None:  # a piece past its parent's handles: the rest is linked
        return (f"{prefix}renders {extension.missing} missing frames of "
                f"{plan.spec.shot.id}"), extension.missing
    if plan.extra.get("extends"):
        return f"{prefix}render {plan.frames} fr whole ({plan.extra['extends']})", plan.frames
    return f"{prefix}render {plan.frames} fr", plan.frames


def dry_run_table(timeline, production: Production, registry: ShotRegistry,
                  report: ReattachReport, orders: list[Order], export_rows: list[dict],
                  tier: str) -> Table:
    """Per clip: how it was found, the editor's change, its orders, and per tier what would
    render (the final only for shots a `final` marker queued). The caption totals the renders
    the import (`--tier`) and `render --tier final --queued` would make."""
    cache = RenderCache(production.renders_dir())
    rows = {row["shot_id"]: row for row in export_rows}
    matches = {id(m.ref.clip): m for m in report.matched}
    by_shot: dict[str, list[str]] = {}
    for order in orders:
        by_shot.setdefault(order.shot_id, []).append(
            order.kind + (f": {order.note}" if order.note else ""))
    queue = set(registry.final_queue())
    table = Table(title=f"import plan ({tier} tier renders on import; finals on "
                  "render --tier final --queued)")
    for column in ("#", "clip", "shot", "found by", "edit", "orders", *TIERS):
        table.add_column(column)
    tracks = list(timeline.video_tracks())
    totals = {t: [0, 0] for t in TIERS}
    for ref in iter_shots(timeline):
        match = matches.get(id(ref.clip))
        if match is None:
            continue
        shot_id = match.spec.shot.id
        cells = []
        plans = {t: plan_shot(ref, production, cache, t) for t in TIERS}
        shown = plans[tier].shown
        record = round(ref.clip.trimmed_range_in_parent().start_time.value)
        for t in TIERS:
            text, frames = _tier_cell(plans[t], shot_id in queue, t)
            cells.append(text)
            if frames:
                totals[t][0] += 1
                totals[t][1] += frames
        evidence = Path(match.evidence).name if match.how == "media path" else match.evidence
        table.add_row(str(ref.number), ref.clip.name, shot_id,
                      f"{match.how} ({evidence})" if evidence else match.how,
                      _edit_text(shot_id, match.kind, match.parent, list(shown),
                                 tracks.index(ref.track), record, rows),
                      "; ".join(by_shot.get(shot_id, [])) or "—", *cells)
    table.caption = "would render: " + ", ".join(
        f"{t} {n} shot(s) / {f} frames" for t, (n, f) in totals.items()) + (
        f"; deleted: {', '.join(report.deleted)}" if report.deleted else "")
    return table

