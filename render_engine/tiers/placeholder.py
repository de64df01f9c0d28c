"""The placeholder tier: a slate with skeletons over the set's plate, plus the dialog audio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from render_engine.media.encode import VideoWriter
from render_engine.placeholder import render_error_slate, render_placeholder_frames
from render_engine.render import RenderJob
from render_engine.tiers.movie import shot_dialog, write_shot_movie


def render(job: RenderJob) -> dict[str, Any]:
    """Write the shot's placeholder movie (handles included) to `job.out_path`."""
    lines, audio = shot_dialog(job)
    handles = (job.shown[0] - job.first, job.end - job.shown[1])
    frames = render_placeholder_frames(
        job.spec, job.production, job.width, job.height, job.frame_count, job.fps, job.label,
        handles=handles, start_seconds=job.shot_seconds(0))
    count = write_shot_movie(job, frames, "placeholder", audio)
    return {"media_frames": count, "dialog_lines": len(lines)}


def write_error_slate(path: Path, width: int, height: int, frames: int, fps: float,
                      label: str, reason: str) -> None:
    """A red RENDER FAILED movie naming the shot and the reason (not a cache entry)."""
    with VideoWriter(path, width, height, fps, profile="web",
                     metadata={"comment": f"soloreel render failed: {reason}"[:500]}) as writer:
        for frame in render_error_slate(width, height, frames, label, reason):
            writer.write(frame)
