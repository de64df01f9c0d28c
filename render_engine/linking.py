"""Linking one clip outside a CLI run (the OTIO media linker path), with cached bible loads."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import opentimelineio as otio

from render_engine.bible import TIERS, Production, load_production
from render_engine.cache import RenderCache
from render_engine.errors import SoloreelError
from render_engine.render import ShotPlan, link_plan, plan_shot
from render_engine.timeline_io import ShotRef, timeline_rate

log = logging.getLogger("soloreel.linker")

_PRODUCTIONS: dict[Path, tuple[tuple, Production]] = {}


def _signature(root: Path) -> tuple:
    files = [root / "soloreel.toml", *sorted(root.glob("cast/*.toml")),
             *sorted(root.glob("sets/*.toml"))]
    return tuple((str(p), p.stat().st_mtime_ns) for p in files if p.exists())


def cached_production(root: Path | str) -> Production:
    """Load a production once per process, reloading when a bible file changes."""
    root = Path(root).resolve()
    signature = _signature(root)
    cached = _PRODUCTIONS.get(root)
    if cached is None or cached[0] != signature:
        cached = (signature, load_production(root, strict=True))
        _PRODUCTIONS[root] = cached
    return cached[1]


def clip_ref(clip: otio.schema.Clip) -> ShotRef:
    """A ShotRef for a clip found on its own (number and record time from its track)."""
    track = clip.parent()
    number, record, rate = 0, otio.opentime.RationalTime(0, 24), 24.0
    if track is not None:
        clips = list(track.find_clips(shallow_search=True))
        number = next((i for i, c in enumerate(clips, 1) if c is clip), 0)
        timeline = track.parent().parent() if track.parent() is not None else None
        if isinstance(timeline, otio.schema.Timeline):
            rate = timeline_rate(timeline)
            start = timeline.global_start_time or otio.opentime.RationalTime(0, rate)
        else:
            start = otio.opentime.RationalTime(0, rate)
        try:
            record = start + clip.trimmed_range_in_parent().start_time.rescaled_to(rate)
        except Exception:
            record = start
    return ShotRef(number, clip, track, record, rate)


def link_clip(clip: otio.schema.Clip, production_dir: Path | str, tier: str = "placeholder",
              render: bool = True) -> ShotPlan:
    """Render the clip's tier if it is missing (and `render`), then attach every cached tier."""
    if tier not in TIERS:
        raise SoloreelError(f'unknown tier "{tier}"; choose one of {", ".join(TIERS)}')
    production = cached_production(production_dir)
    cache = RenderCache(production.renders_dir())
    holding = cache.rendering() if render else contextlib.nullcontext()
    with holding:  # gc --delete waits: what is found cached here stays until linked
        plan = plan_shot(clip_ref(clip), production, cache, tier)
        if plan.problem:
            log.warning("%s", plan.problem)
            return plan
        link_plan(plan, production, cache, render)
    if plan.error:
        log.warning("%s: render failed: %s", plan.ref.label, plan.error)
    active = plan.extra.get("active")
    if plan.spec is not None and active != tier:
        log.warning("%s: no %s media; %s", plan.ref.label, tier,
                    f"showing {active}" if active else "nothing rendered yet")
    return plan


def link_audio_clip(clip: otio.schema.Clip, production_dir: Path | str) -> bool:
    """Link a dialog or room tone clip to its WAV (`render_engine.audio.tracks.link_dialog_clip`),
    speaking the line if it is not cached; False when the clip is neither."""
    from render_engine.audio.tracks import link_dialog_clip

    return link_dialog_clip(clip, cached_production(production_dir))
