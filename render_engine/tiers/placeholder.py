"""The placeholder tier: a slate with skeletons over the set's plate, plus the dialog audio.

A slate is a still picture but for the blocking's walks, so it is encoded as such: the
painter says where a frame changed (usually nowhere), the writer hands the encoder the previous
picture again or converts only those regions, and encodes with the profile's still-picture
settings (same codec, profile, pixel format, GOP, rate and length as every other tier's movie);
the dialog's soundtrack is encoded ahead on a second thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from render_engine.media.encode import VideoWriter, timecode_at
from render_engine.placeholder import placeholder_frames, render_error_slate
from render_engine.render import RenderJob
from render_engine.tiers.movie import shot_dialog


def render(job: RenderJob) -> dict[str, Any]:
    """Write the shot's placeholder movie (handles included) to `job.out_path`."""
    lines, audio = shot_dialog(job)
    handles = (job.shown[0] - job.first, job.end - job.shown[1])
    frames = placeholder_frames(
        job.spec, job.production, job.width, job.height, job.frame_count, job.fps, job.label,
        handles=handles, start_seconds=job.shot_seconds(0), source_first=job.first)
    metadata = {"comment": f"soloreel shot {job.spec.shot.id} tier placeholder",
                "title": job.spec.shot.id}
    with VideoWriter(job.out_path, job.width, job.height, job.fps,
                     profile=job.production.settings.encode.profile, audio=audio,
                     metadata=metadata, timecode=timecode_at(job.first, job.fps),
                     still=True, frames=job.frame_count) as writer:
        for frame, changed in frames:
            writer.write(frame, changed=changed)
            job.progress(1)
    # the writer holds the file to the `frames` declared (`VideoWriter(frames=...)`)
    return {"media_frames": writer.frames_written, "dialog_lines": len(lines)}


def write_error_slate(path: Path, width: int, height: int, frames: int, fps: float,
                      label: str, reason: str) -> None:
    """A red RENDER FAILED movie naming the shot and the reason (not a cache entry): one
    picture, converted once and encoded as a still."""
    with VideoWriter(path, width, height, fps, profile="web", still=True,
                     metadata={"comment": f"soloreel render failed: {reason}"[:500]}) as writer:
        for index, frame in enumerate(render_error_slate(width, height, frames, label, reason)):
            writer.write(frame, changed=None if index == 0 else [])
