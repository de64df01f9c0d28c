"""The final tier: Wan 2.1 through diffusers, written into the cache like any tier.

Resolves the shot's final settings (model, mode, steps — `render_engine.final.plan`), renders
its frames through the process-wide model registry (so consecutive shots with one model load
it once), centre-crops them to the tier's size when that is not a multiple of 16 (Wan renders
the next multiple up), and streams them into the
production's encode profile with the dialog muxed, exactly `job.frame_count` frames (cut plus
handles) at the timeline's fps. The manifest records quality (full or draft), model, LoRAs,
seed, steps, guidance, inputs and timings; its `cost` block refines later dry-run estimates.
A draft renders here too: `job.production` is then the draft view of the production
(`render_engine.final.quality.with_quality`), which `plan_final` turns into a draft plan.
"""

from __future__ import annotations

import time
from typing import Any

from render_engine.final.plan import plan_final
from render_engine.final.registry import shared_registry
from render_engine.final.retime import crop_frames
from render_engine.final.shot import render_frames
from render_engine.render import RenderJob
from render_engine.tiers.movie import shot_dialog, write_shot_movie


def render(job: RenderJob) -> dict[str, Any]:
    """Write the shot's final movie (handles included) to `job.out_path`; manifest details."""
    plan = plan_final(job.spec, job.production)
    lines, audio = shot_dialog(job)
    shot = render_frames(job, plan, shared_registry(job.production))
    frames = crop_frames(shot.frames, job.width, job.height)
    started = time.perf_counter()
    count = write_shot_movie(job, frames, "final", audio)
    shot.details["stage_seconds"]["encode"] = round(time.perf_counter() - started, 4)
    return {"media_frames": count, "dialog_lines": len(lines), **shot.details}
