"""Link placeholders for a generated 100-shot timeline: shots/second for the first link (every
shot renders), and the relink of the unchanged timeline as a ratio of the first link."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.production import make_edit, make_production
from render_engine.bible import load_production
from render_engine.cache import RenderCache
from render_engine.render import link_plan, plan_shot
from render_engine.timeline_io import iter_shots, read_timeline


def link_all(edit: Path, root: Path) -> tuple[float, int]:
    """Plan + link every shot at the placeholder tier; (seconds, shots rendered)."""
    started = time.perf_counter()
    production = load_production(root)
    cache = RenderCache(production.renders_dir())
    rendered = 0
    for ref in iter_shots(read_timeline(edit)):
        plan = link_plan(plan_shot(ref, production, cache, "placeholder"), production, cache,
                         render=True)
        if plan.error or plan.problem:
            raise RuntimeError(plan.error or plan.problem)
        rendered += plan.result is not None
    return time.perf_counter() - started, rendered


def main(quick: bool = False) -> None:
    """Print shots/s of the first link and the relink/first-link time ratio."""
    shots, frames = (20, 24) if quick else (100, 48)
    with tempfile.TemporaryDirectory() as tmp:
        root = make_production(Path(tmp) / "bench")
        edit = make_edit(root, shots, frames)
        handles = load_production(root).settings.production.handles
        first, rendered = link_all(edit, root)
        again, rerendered = link_all(edit, root)
    encoded = shots * (frames + 2 * handles)
    print(f"link placeholders: {shots} shots x {frames} frames (+{handles}+{handles} handles) "
          "at 640x360, H.264")
    print(f"  first link   {first:7.2f} s  {shots / first:7.1f} shots/s  "
          f"{encoded / first:7.0f} frames/s rendered+encoded  ({rendered} rendered)")
    print(f"  relink       {again:7.3f} s  {shots / again:7.1f} shots/s  ({rerendered} rendered)")
    print(f"  relink / first link = {again / first:.4f}  "
          f"(first link is {first / again:.0f}x the unchanged relink)")
