"""The placeholder tier: a slate with skeletons over the set's plate, plus the dialog audio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from render_engine.audio.dialog import RATE, mix_dialog, spoken_lines
from render_engine.media.encode import VideoWriter, probe, timecode_at
from render_engine.placeholder import render_error_slate, render_placeholder_frames
from render_engine.render import RenderJob


def render(job: RenderJob) -> dict[str, Any]:
    """Write the shot's placeholder movie (handles included) to `job.out_path`."""
    lines = spoken_lines(job.spec, job.production, job.label)
    first_seconds = job.shot_seconds(0)
    audio = mix_dialog(lines, first_seconds, job.frame_count / job.fps) if lines else None
    handles = (job.shown[0] - job.first, job.end - job.shown[1])
    frames = render_placeholder_frames(
        job.spec, job.production, job.width, job.height, job.frame_count, job.fps, job.label,
        handles=handles, start_seconds=first_seconds)
    metadata = {"comment": f"soloreel shot {job.spec.shot.id} tier placeholder",
                "title": job.spec.shot.id}
    profile = job.production.settings.encode.profile
    with VideoWriter(job.out_path, job.width, job.height, job.fps, profile=profile,
                     audio=(audio, RATE) if audio is not None else None,
                     metadata=metadata,
                     timecode=timecode_at(job.first, job.fps)) as writer:
        for frame in frames:
            writer.write(frame)
            job.progress(1)
    info = probe(job.out_path)
    if info.frame_count != job.frame_count:
        raise RuntimeError(f"encoder wrote {info.frame_count} frames, expected {job.frame_count}")
    return {"media_frames": info.frame_count, "dialog_lines": len(lines)}


def write_error_slate(path: Path, width: int, height: int, frames: int, fps: float,
                      label: str, reason: str) -> None:
    """A red RENDER FAILED movie naming the shot and the reason (not a cache entry)."""
    with VideoWriter(path, width, height, fps, profile="web",
                     metadata={"comment": f"soloreel render failed: {reason}"[:500]}) as writer:
        for frame in render_error_slate(width, height, frames, label, reason):
            writer.write(frame)
