"""What every tier's shot movie shares: the shot's dialog mixed over the rendered range, and
writing exactly `job.frame_count` frames in the production's profile with its start timecode."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from render_engine.audio.dialog import RATE, SpokenLine, mix_dialog, spoken_lines
from render_engine.media.encode import VideoWriter, probe, timecode_at
from render_engine.render import RenderJob


def shot_dialog(job: RenderJob) -> tuple[list[SpokenLine], tuple[np.ndarray, int] | None]:
    """The shot's spoken lines (cached) and their mix over the rendered frames (None: silent)."""
    lines = spoken_lines(job.spec, job.production, job.label)
    if not lines:
        return lines, None
    return lines, (mix_dialog(lines, job.shot_seconds(0), job.frame_count / job.fps), RATE)


def write_shot_movie(job: RenderJob, frames: Iterable[np.ndarray], tier: str,
                     audio: tuple[np.ndarray, int] | None) -> int:
    """Encode `frames` to `job.out_path` (atomically, audio muxed, the first rendered frame's
    timecode) and check the file holds exactly the frames the cache entry promises."""
    metadata = {"comment": f"soloreel shot {job.spec.shot.id} tier {tier}",
                "title": job.spec.shot.id}
    with VideoWriter(job.out_path, job.width, job.height, job.fps,
                     profile=job.production.settings.encode.profile, audio=audio,
                     metadata=metadata, timecode=timecode_at(job.first, job.fps)) as writer:
        for frame in frames:
            writer.write(frame)
            job.progress(1)
    count = probe(job.out_path).frame_count
    if count != job.frame_count:
        raise RuntimeError(f"encoder wrote {count} frames, expected {job.frame_count}")
    return count
