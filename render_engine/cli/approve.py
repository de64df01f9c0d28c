"""`soloreel approve EDIT --shots …`: pin each shot's keyframe into its spec (or retake it).

Approving pins the shot's cached keyframe (`render --tier final --quality keyframe`) by its
PNG's SHA-256 as `render.final.keyframe`, so the shot's final starts from that exact image and
its cache key covers it (`render_engine.final.keyframes`). `--retake` draws a new seed and keeps
the current keyframe as an alternate; `--alternate N` approves alternate N again (with its
seed); `--clear` lifts an approval; `--list` prints every shot's keyframe state. The edit is
written atomically (`timeline_io.write_timeline`) and only when something changed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from render_engine.bible import load_production
from render_engine.cache import RenderCache
from render_engine.cli.validate import add_production_argument, find_production
from render_engine.errors import SoloreelError
from render_engine.final import keyframes
from render_engine.render import source_frames
from render_engine.spec import spec_or_error, write_spec
from render_engine.timeline_io import ShotRef, iter_shots, read_timeline, write_timeline


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `approve` sub-command."""
    parser = sub.add_parser(
        "approve", help="approve shots' keyframes: their finals start from that frame",
        description="Pin each selected shot's keyframe (render --tier final --quality "
        "keyframe first) into its spec by content hash; its final then starts from it.")
    parser.add_argument("timeline", type=Path)
    parser.add_argument("--shots", metavar="SEL",
                        help="shot numbers (3,5-9) or shot ids (s01-002,s01-003); all if left out")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--retake", action="store_true",
                        help="draw a new seed; the current keyframe is kept as an alternate")
    action.add_argument("--alternate", type=int, metavar="N",
                        help="approve alternate keyframe N again (`--list` numbers them)")
    action.add_argument("--clear", action="store_true", help="lift the approval")
    action.add_argument("--list", action="store_true",
                        help="list each shot's keyframe, approval and alternates")
    add_production_argument(parser)
    parser.set_defaults(run=run)


def select(refs: list[ShotRef], text: str | None) -> list[ShotRef]:
    """The shots `--shots` names: numbers and ranges (as `render --shots`) or shot ids."""
    if not text:
        return refs
    from render_engine.cli.render import parse_shot_selection

    try:
        numbers = parse_shot_selection(text)
    except SoloreelError:
        numbers = None
    if numbers is not None:
        chosen = [r for r in refs if r.number in numbers]
    else:
        ids = {part.strip() for part in text.split(",") if part.strip()}
        chosen = [r for r in refs if (spec := spec_or_error(r.clip)) and spec.shot.id in ids]
    if not chosen:
        raise SoloreelError(f"--shots {text}: no shot of the edit matches; use clip numbers "
                            "(soloreel plan EDIT lists them) or shot ids")
    return chosen


def run(args: argparse.Namespace, console: Console) -> int:
    """Approve, retake, clear or list the selected shots' keyframes."""
    production = load_production(find_production(args, args.timeline), strict=True)
    cache = RenderCache(production.renders_dir())
    timeline = read_timeline(args.timeline)
    refs = select([r for r in iter_shots(timeline) if r.has_spec], args.shots)
    fps = production.settings.production.fps
    table = Table(title=f"{args.timeline.name}: keyframes")
    for column in ("#", "shot", "seed", "keyframe", "approved", "alternates", "done"):
        table.add_column(column)
    changed = failed = 0
    for ref in refs:
        spec = spec_or_error(ref.clip)
        assert spec is not None
        shown = source_frames(ref.clip, fps, ref.label)
        detail = ""
        try:
            if args.list:
                pass
            elif args.retake:
                result = keyframes.retake(spec, production, cache, shown)
            elif args.clear:
                result = keyframes.clear(spec)
            else:
                result = keyframes.approve(spec, production, cache, shown, ref.label,
                                           args.alternate)
            if not args.list:
                detail = result.detail
                if result.spec != spec:
                    write_spec(ref.clip, result.spec)
                    spec, changed = result.spec, changed + 1
        except SoloreelError as exc:
            failed += 1
            detail = f"failed: {exc}"
            Console(stderr=True, highlight=False, soft_wrap=True).print(
                f"failed: {ref.label}: {exc}", markup=False)
        entry = keyframes.current_keyframe(spec, production, cache, shown)
        state = spec.render.final.keyframe
        alternates = ", ".join(f"{n}: {t.sha256[:12]} seed {t.seed}" for n, t in enumerate(
            state.alternates if state else [], start=1))
        table.add_row(str(ref.number), spec.shot.id, str(spec.seed),
                      entry.manifest.get("keyframe_sha256", "")[:12] if entry else "not rendered",
                      (state.sha256 or "")[:12] if state else "", alternates or "—", detail)
    if changed:
        write_timeline(timeline, args.timeline)
    console.print(table)
    if changed:
        console.print(f"{changed} shot(s) changed → {args.timeline}", markup=False)
    return 1 if failed else 0
