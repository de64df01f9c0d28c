"""Compose a timeline into one movie: video tracks bottom to top over black, audio mixed.

Clips are opaque unless their media has alpha; dissolves fade the incoming clip in over the
outgoing one; gaps show what is below (black at the bottom); a clip whose media is missing
shows a MISSING MEDIA slate. Audio of every clip (of video and audio tracks) is summed with
the dissolves' cross-fades and clipped to [-1, 1] — except that when the edit's dialog is on
audio tracks (`soloreel dialog`'s character tracks, or the screenplay's DIALOG tracks linked by
the `soloreel` media linker), the shots' own sound (the animatics' spoken lines) is left out,
so no line is heard twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import opentimelineio as otio

from render_engine.conform.layout import Segment, reference_path, track_segments
from render_engine.conform.sources import FrameSource, audio_at_output_rate, missing_slate
from render_engine.media.encode import AUDIO_RATE, VideoWriter, probe


def timeline_rate(timeline: otio.schema.Timeline) -> float:
    """The edit's frame rate (global start time, else the first clip's)."""
    if timeline.global_start_time is not None:
        return timeline.global_start_time.rate
    return next((c.source_range.duration.rate for c in timeline.find_clips()
                 if c.source_range is not None), 24.0)


def frame_size(layers: list[list[Segment]]) -> tuple[int, int]:
    """The first existing media file's frame size, else 1280x720."""
    for segments in layers:
        for segment in segments:
            if segment.path is not None and segment.path.is_file():
                info = probe(segment.path)
                return info.width, info.height
    return 1280, 720


def _frames(layers: list[list[Segment]], total: int, width: int,
            height: int) -> Iterator[np.ndarray]:
    sources: dict[Path, FrameSource] = {}
    slates: dict[str, np.ndarray] = {}
    for t in range(total):
        canvas = np.zeros((height, width, 3), np.float32)
        for segments in layers:
            for segment in segments:
                if not segment.start <= t < segment.end:
                    continue
                if segment.path is not None and segment.path.is_file():
                    source = sources.setdefault(segment.path,
                                                FrameSource(segment.path, width, height))
                    image = source.frame(max(0, t + segment.offset))
                else:
                    key = segment.label + str(segment.path)
                    if key not in slates:
                        slates[key] = missing_slate(width, height, segment.label, segment.path)
                    image = slates[key]
                alpha = np.float32(segment.opacity(t))
                if image.shape[2] == 4:
                    alpha = alpha * image[..., 3:4].astype(np.float32) / 255.0
                    image = image[..., :3]
                if np.all(alpha >= 1.0):
                    canvas = image.astype(np.float32)
                else:
                    canvas = canvas * (1.0 - alpha) + image.astype(np.float32) * alpha
        yield np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


def mix_audio(tracks: list[list[Segment]], total: int, fps: float) -> np.ndarray | None:
    """Every segment's audio placed at its record time, cross-faded and summed (mono)."""
    length = round(total * AUDIO_RATE / fps)
    mix = np.zeros(length, np.float32)
    heard = False
    cache: dict[Path, np.ndarray | None] = {}
    for segments in tracks:
        for segment in segments:
            if segment.path is None or not segment.path.is_file():
                continue
            if segment.path not in cache:
                cache[segment.path] = audio_at_output_rate(segment.path)
            samples = cache[segment.path]
            if samples is None:
                continue
            out0 = round(segment.start * AUDIO_RATE / fps)
            out1 = min(length, round(segment.end * AUDIO_RATE / fps))
            src0 = round((segment.start + segment.offset) * AUDIO_RATE / fps)
            count = max(0, min(out1 - out0, len(samples) - src0))
            if count <= 0 or src0 < 0:
                continue
            piece = samples[src0:src0 + count].copy()
            frames_at = segment.start + np.arange(count) * fps / AUDIO_RATE
            gain = np.array([segment.ramp(f, segment.fade_in, True)
                             * segment.ramp(f, segment.fade_out, False) for f in frames_at[::64]],
                            np.float32)
            piece *= np.repeat(gain, 64)[:count]
            mix[out0:out0 + count] += piece
            heard = True
    return np.clip(mix, -1.0, 1.0) if heard else None


def dialog_on_tracks(timeline: otio.schema.Timeline) -> bool:
    """True when an audio track holds a dialog clip whose media file exists: the edit's lines
    are on tracks, and the shots' own dialog would double them."""
    from render_engine.audio.tracks import METADATA_KEY, SCRIPT_DIALOG_KEY

    for track in timeline.audio_tracks():
        for clip in track.find_clips():
            ours = clip.metadata.get(METADATA_KEY) or {}
            if str(ours.get("role", "")) != "dialog" and SCRIPT_DIALOG_KEY not in clip.metadata:
                continue
            path = reference_path(clip)
            if path is not None and path.is_file():
                return True
    return False


def conform(timeline: otio.schema.Timeline, path: Path | str, width: int | None = None,
            height: int | None = None, fps: float | None = None,
            profile: str | None = None) -> Path:
    """Write the timeline's active media as one movie at `path` (atomically)."""
    path = Path(path)
    rate = float(fps or timeline_rate(timeline))
    video = [track_segments(t, rate) for t in timeline.video_tracks()]
    audio = [track_segments(t, rate) for t in timeline.audio_tracks()]
    if not (width and height):
        width, height = frame_size(video)
    total = round(timeline.duration().rescaled_to(rate).value)
    if total <= 0:
        raise ValueError("the timeline is empty: nothing to conform")
    voices = [] if dialog_on_tracks(timeline) else video
    soundtrack = mix_audio(voices + audio, total, rate)
    chosen = profile or ("resolve" if path.suffix.lower() == ".mov" else "web")
    with VideoWriter(path, int(width), int(height), rate, profile=chosen,
                     audio=(soundtrack, AUDIO_RATE) if soundtrack is not None else None,
                     metadata={"comment": f"soloreel conform of {timeline.name}"}) as writer:
        for frame in _frames(video, total, int(width), int(height)):
            writer.write(frame)
    return path
