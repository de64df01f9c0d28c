"""The final tier: Wan 2.1 through diffusers, written into the cache like any tier.

Resolves the shot's final settings (model, mode, steps — `render_engine.final.plan`), renders
its frames through the process-wide model registry (so consecutive shots with one model load
it once), resizes them to the tier's size if Wan's /16 size differs, and streams them into the
production's encode profile with the dialog muxed, exactly `job.frame_count` frames (cut plus
handles) at the timeline's fps. The manifest records model, LoRAs, seed, steps, inputs and
timings; its `cost` block refines later dry-run estimates.
"""

from __future__ import annotations

import time
from typing import Any

from render_engine.audio.dialog import RATE, mix_dialog, spoken_lines
from render_engine.final.plan import plan_final
from render_engine.final.registry import shared_registry
from render_engine.final.retime import resize_frames
from render_engine.final.shot import render_frames
from render_engine.media.encode import VideoWriter, probe, timecode_at
from render_engine.render import RenderJob


def render(job: RenderJob) -> dict[str, Any]:
    """Write the shot's final movie (handles included) to `job.out_path`; manifest details."""
    plan = plan_final(job.spec, job.production)
    lines = spoken_lines(job.spec, job.production, job.label)
    audio = (mix_dialog(lines, job.shot_seconds(0), job.frame_count / job.fps)
             if lines else None)
    shot = render_frames(job, plan, shared_registry(job.production))
    frames = resize_frames(shot.frames, job.width, job.height)
    started = time.perf_counter()
    metadata = {"comment": f"soloreel shot {job.spec.shot.id} tier final",
                "title": job.spec.shot.id}
    with VideoWriter(job.out_path, job.width, job.height, job.fps,
                     profile=job.production.settings.encode.profile,
                     audio=(audio, RATE) if audio is not None else None,
                     metadata=metadata,
                     timecode=timecode_at(job.first, job.fps)) as writer:
        for frame in frames:
            writer.write(frame)
            job.progress(1)
    info = probe(job.out_path)
    if info.frame_count != job.frame_count:
        raise RuntimeError(f"encoder wrote {info.frame_count} frames, expected {job.frame_count}")
    shot.details["stage_seconds"]["encode"] = round(time.perf_counter() - started, 4)
    return {"media_frames": info.frame_count, "dialog_lines": len(lines), **shot.details}
