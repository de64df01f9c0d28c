"""A split piece or trim that outgrew its parent's render: render only the missing frames.

An editor who drags a split piece past the parent render's handles asks for frames the parent
never rendered. Those frames belong to the same shot (same spec, same camera move, the move's
clock being the parent's cut), so instead of rendering the piece whole as a new shot we render
just the missing head and/or tail segment at their true source frames — camera, blocking, walk
and lips evaluated there, exactly as a render of the parent with longer handles would — and
join them with the parent's frames into one new cache entry covering the extended range.

The join copies the parent's compressed packets (`av_interleaved_write_frame` through PyAV's
`mux`), the FFmpeg concat demuxer's approach (https://ffmpeg.org/ffmpeg-formats.html#concat):
every segment starts on a keyframe and was written by the same encoder with the same options,
so the parameter sets (`extradata`) match and the packets decode as one stream. When they do
not match (another encoder build, another profile) the parent's frames are decoded and
re-encoded instead; either way only the missing frames are *rendered*. The dialog is mixed and
encoded again over the whole range (seconds of audio; AAC frames cannot be cut sample-exactly).
Everything is written inside the cache's staging folder, so a kill leaves no entry behind.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from render_engine.atomic import atomic_path, write_text_atomic
from render_engine.cache import CacheEntry, RenderCache
from render_engine.media.encode import (
    AUDIO_CHUNK,
    AUDIO_RATE,
    CONTAINER_FORMATS,
    VideoWriter,
    fps_fraction,
    pick_profile,
    probe,
    resample_audio,
    timecode_at,
)
from render_engine.render import RenderJob

EXTENDABLE_TIERS = ("placeholder", "proxy")
"""Tiers whose frames are a pure function of (spec, source frame, the move's cut): a missing
segment rendered alone equals those frames of a longer render. The final tier's diffusion
denoises a whole window at once, so its frames depend on their neighbours: it renders whole."""
FINAL_WHOLE_REASON = "final renders whole: a diffusion window is one piece, not frames"


@dataclass(frozen=True)
class Extension:
    """How a piece's frames extend a cached render of its parent."""

    base: tuple[int, int]
    """The parent render's [first, end) (handles included)."""
    move: tuple[int, int]
    """The parent's cut, [first, end): the camera move's clock (progress 0..1 over it)."""
    first: int
    end: int
    """The extended render's [first, end)."""

    @property
    def missing(self) -> int:
        """Frames the extension renders (the extended range less the parent's frames)."""
        return (self.end - self.first) - (self.base[1] - self.base[0])

    def segments(self) -> list[tuple[int, int]]:
        """The missing [first, end) segments: head, then tail (either may be absent)."""
        parts = []
        if self.first < self.base[0]:
            parts.append((self.first, self.base[0]))
        if self.base[1] < self.end:
            parts.append((self.base[1], self.end))
        return parts


def find_extension(cache: RenderCache, tier: str, content_hash: str, need: tuple[int, int],
                   move: tuple[int, int] | None, handles: int) -> Extension | None:
    """The extension of a cached render of `content_hash` that covers `need` (a piece's
    frames, handles included), when one overlaps or touches it; None when nothing cached is
    adjacent (the piece then renders as a shot of its own) or the tier cannot join segments.

    The base is the render sharing the most frames with `need` (fewest frames to render);
    `move` is the parent's cut (else the base's range less its handles)."""
    if tier not in EXTENDABLE_TIERS:
        return None
    best: tuple[int, CacheEntry] | None = None
    for entry in cache.entries(tier, content_hash):
        shared = min(entry.end, need[1]) - max(entry.first, need[0])
        if shared < 0 or entry.covers(*need):
            continue
        if best is None or shared > best[0]:
            best = (shared, entry)
    if best is None:
        return None
    entry = best[1]
    recorded = entry.manifest.get("move")
    if move is None and isinstance(recorded, list) and len(recorded) == 2:
        move = (int(recorded[0]), int(recorded[1]))
    if move is None:
        move = (entry.first + handles, entry.end - handles)
    return Extension((entry.first, entry.end), move, min(entry.first, need[0]),
                     max(entry.end, need[1]))


def base_entry(cache: RenderCache, tier: str, content_hash: str,
               base: tuple[int, int]) -> CacheEntry | None:
    """The parent's cached render an extension joins, if it is still there (gc may have
    removed it since planning: the caller then renders the whole range)."""
    for entry in cache.entries(tier, content_hash):
        if (entry.first, entry.end) == base:
            return entry
    return None


# -- rendering the missing segments ------------------------------------------------------------


def _placeholder_segment(job: RenderJob, base: CacheEntry, segment: tuple[int, int],
                         folder: Path) -> int:
    """Paint a placeholder segment as the parent's render would have painted those frames
    (its slate, its handles, frame indices counted from its first frame) and encode it with
    the parent's still-picture settings, so its packets join the parent's."""
    from render_engine.placeholder import _Shot

    fps = job.fps
    handles = (max(0, job.shown[0] - base.first), max(0, base.end - job.shown[1]))
    shot = _Shot(job.spec, job.production, job.width, job.height, base.end - base.first, fps,
                 job.label, handles, (base.first - job.first) / fps + job.shot_seconds(0),
                 base.first)
    count = segment[1] - segment[0]
    with VideoWriter(folder / job.out_path.name, job.width, job.height, fps,
                     profile=job.production.settings.encode.profile,
                     metadata=_metadata(job), timecode=timecode_at(segment[0], fps),
                     still=True, frames=count) as writer:
        for source in range(*segment):
            writer.write(shot.paint(source - base.first))
            job.progress(1)
    return count


def _proxy_segment(job: RenderJob, base: CacheEntry, segment: tuple[int, int],
                   folder: Path) -> int:
    """Composite a proxy segment at its true source frames (the parent's move clock) and
    write its movie, pose control movie and pose.json."""
    from render_engine.audio.dialog import spoken_lines
    from render_engine.proxy.poses import PoseJsonWriter, pose_frame
    from render_engine.proxy.shot import ShotFrames
    from render_engine.tiers.proxy import POSE_JSON, POSE_PROFILE, POSE_VIDEO

    lines = spoken_lines(job.spec, job.production, job.label)
    shot = ShotFrames(job.spec, job.production, job.width, job.height, job.fps, base.first,
                      job.shown, lines)
    timecode = timecode_at(segment[0], job.fps)
    with (VideoWriter(folder / job.out_path.name, job.width, job.height, job.fps,
                      profile=job.production.settings.encode.profile,
                      metadata=_metadata(job), timecode=timecode) as movie,
          VideoWriter(folder / POSE_VIDEO, job.width, job.height, job.fps,
                      profile=POSE_PROFILE, timecode=timecode) as poses,
          PoseJsonWriter(folder / POSE_JSON, job.width, job.height) as pose_json):
        for source in range(*segment):
            frame = shot.frame(source - base.first)
            movie.write(frame.rgb)
            poses.write(pose_frame(job.width, job.height, frame.people))
            pose_json.write(frame.people)
            job.progress(1)
    return segment[1] - segment[0]


def _metadata(job: RenderJob) -> dict[str, str]:
    return {"comment": f"soloreel shot {job.spec.shot.id} tier {job.tier}",
            "title": job.spec.shot.id}


# -- joining ----------------------------------------------------------------------------------


def _video_stream(container: Any) -> Any:
    return container.streams.video[0]


def _joinable(parts: list[Path]) -> bool:
    """Whether the parts' video packets can be copied into one stream: one codec, size,
    pixel format, time base and identical parameter sets in every part."""
    keys = set()
    for part in parts:
        with av.open(str(part)) as container:
            stream = _video_stream(container)
            ctx = stream.codec_context
            keys.add((ctx.name, ctx.width, ctx.height, ctx.format.name if ctx.format else None,
                      stream.time_base, bytes(ctx.extradata or b"")))
    return len(keys) == 1


def _encoded_audio(stream: Any, samples: np.ndarray, total: int, fmt: str) -> Iterator[Any]:
    """Encode (2, N) float samples, cut or padded with silence to `total`, in AUDIO_CHUNKs."""
    for start in range(0, total, AUDIO_CHUNK):
        count = min(AUDIO_CHUNK, total - start)
        chunk = np.zeros((2, count), np.float32)
        available = samples[:, start:start + count]
        chunk[:, :available.shape[1]] = available
        if fmt == "s16":
            ints = np.round(chunk * 32767.0).astype("<i2")
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(ints.T).reshape(1, -1),
                                               format="s16", layout="stereo")
        else:
            frame = av.AudioFrame.from_ndarray(chunk, format=fmt, layout="stereo")
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        frame.time_base = Fraction(1, AUDIO_RATE)
        yield from stream.encode(frame)
    yield from stream.encode(None)


def join_movies(parts: list[Path], out: Path, fps: float, profile_name: str,
                audio: tuple[np.ndarray, int] | None, metadata: dict[str, str],
                timecode: str) -> str:
    """Write `parts` one after another into `out` (atomically), the soundtrack `audio` under
    them; "copy" when the video packets were copied, "reencode" when the parts' streams
    differ and their frames had to be decoded and encoded again."""
    if not _joinable(parts):
        _reencode(parts, out, fps, profile_name, audio, metadata, timecode)
        return "reencode"
    rate = fps_fraction(fps)
    frames = 0
    with atomic_path(out) as tmp:
        options = {}
        fmt = CONTAINER_FORMATS[out.suffix.lower()]
        if fmt in ("mp4", "mov"):
            options["movflags"] = "+faststart+use_metadata_tags"
        with av.open(str(tmp), "w", format=fmt, options=options) as output:
            output.metadata.update(metadata)
            inputs = [av.open(str(part)) for part in parts]
            try:
                template = _video_stream(inputs[0])
                video = output.add_stream_from_template(template)
                video.metadata["timecode"] = timecode
                sound = None
                width, height = template.codec_context.width, template.codec_context.height
                profile = pick_profile(profile_name, width, height)
                if audio is not None:
                    sound = output.add_stream(profile.audio_codec, rate=AUDIO_RATE)
                    sound.codec_context.layout = "stereo"
                    sound.codec_context.format = profile.audio_format
                    if profile.audio_bit_rate:
                        sound.codec_context.bit_rate = profile.audio_bit_rate
                for container in inputs:
                    stream = _video_stream(container)
                    offset = round(Fraction(frames, 1) / rate / stream.time_base)
                    count = 0
                    for packet in container.demux(stream):
                        if packet.size == 0 or packet.dts is None:
                            continue  # the demuxer's end-of-stream packet
                        packet.pts = (packet.pts or 0) + offset
                        packet.dts = packet.dts + offset
                        packet.stream = video
                        output.mux(packet)
                        count += 1
                    frames += count
                if sound is not None and audio is not None:
                    samples = resample_audio(*audio)
                    total = round(Fraction(frames * AUDIO_RATE, 1) / rate)
                    for packet in _encoded_audio(sound, samples, total, profile.audio_format):
                        output.mux(packet)
            finally:
                for container in inputs:
                    container.close()
    return "copy"


def _reencode(parts: list[Path], out: Path, fps: float, profile: str,
              audio: tuple[np.ndarray, int] | None, metadata: dict[str, str],
              timecode: str) -> None:
    """Decode every part and encode the frames again into one movie (the fallback join)."""
    info = probe(parts[0])
    with VideoWriter(out, info.width, info.height, fps, profile=profile, audio=audio,
                     metadata=metadata, timecode=timecode) as writer:
        for part in parts:
            with av.open(str(part)) as container:
                for frame in container.decode(video=0):
                    writer.write(frame.to_ndarray(format="rgb24"))


def _join_pose_json(parts: list[Path], out: Path) -> None:
    frames: list[Any] = []
    for part in parts:
        frames.extend(json.loads(part.read_text(encoding="utf-8")))
    write_text_atomic(out, json.dumps(frames))


def render_extended(job: RenderJob, base: CacheEntry, extension: Extension) -> dict[str, Any]:
    """Render `job` (the extended range [first, end), its move clock `job.shown`) as the
    parent's render `base` plus only the missing segments; returns the manifest details a tier
    renderer returns, and `frames_rendered` / `extended_from` / `join` saying what happened."""
    from render_engine.tiers.movie import shot_dialog

    folder = job.out_path.parent
    segments = extension.segments()
    rendered = 0
    pieces: dict[tuple[int, int], Path] = {}
    for segment in segments:
        segment_dir = folder / f".segment-f{segment[0]}_{segment[1]}"
        segment_dir.mkdir()
        if job.tier == "placeholder":
            rendered += _placeholder_segment(job, base, segment, segment_dir)
        else:
            rendered += _proxy_segment(job, base, segment, segment_dir)
        pieces[segment] = segment_dir
    order = sorted([*pieces, extension.base])

    def folder_of(span: tuple[int, int]) -> Path:
        return base.folder if span == extension.base else pieces[span]

    lines, audio = shot_dialog(job)
    profile = job.production.settings.encode.profile
    timecode = timecode_at(job.first, job.fps)
    join = join_movies([folder_of(s) / (base.media.name if s == extension.base
                                        else job.out_path.name) for s in order],
                       job.out_path, job.fps, profile, audio, _metadata(job), timecode)
    details: dict[str, Any] = {"dialog_lines": len(lines)}
    if job.tier == "proxy":
        from render_engine.tiers.proxy import POSE_JSON, POSE_VIDEO

        join_movies([folder_of(s) / POSE_VIDEO for s in order], folder / POSE_VIDEO, job.fps,
                    "control", None, {"title": f"{job.spec.shot.id} pose"}, timecode)
        _join_pose_json([folder_of(s) / POSE_JSON for s in order], folder / POSE_JSON)
        details.update({"pose_video": POSE_VIDEO, "pose_json": POSE_JSON})
    for segment_dir in pieces.values():
        for path in segment_dir.iterdir():
            path.unlink()
        with contextlib.suppress(OSError):
            segment_dir.rmdir()
    count = probe(job.out_path).frame_count
    if count != job.frame_count:
        raise RuntimeError(f"joined movie has {count} frames, expected {job.frame_count}")
    details.update({"media_frames": count, "frames_rendered": rendered,
                    "extended_from": list(extension.base), "move": list(job.shown),
                    "join": join})
    return details
