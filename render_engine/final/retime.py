"""From Wan's 16 fps renders to the timeline: retiming, long-shot segments, colour matching.

Wan renders ≈5 s (81 frames) at 16 fps; a shot has an exact frame count (cut + handles) at the
production's rate. `retime` resamples a clip to exactly that count, by frame blending (cheap,
soft) or by OpenCV Farneback optical flow (sharper motion). Shots longer than one render are
planned as overlapping segments (`plan_segments`) and joined with `join_segments`, which first
matches each segment's colour to the one before over their shared frames (colour drift across
long takes is the most common complaint about Wan) and then cross-fades the overlap.
Frames here are float32 arrays in [0, 1], shaped (frames, height, width, 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from render_engine.final.latents import wan_frame_count

RetimeMethod = Literal["blend", "flow", "nearest"]


# --------------------------------------------------------------------------- retiming


def source_times(count: int, dst_fps: float, src_fps: float, offset: float = 0.0) -> np.ndarray:
    """Positions (in source frames, fractional) of `count` output frames at `dst_fps`."""
    return (np.arange(count, dtype=np.float64) / dst_fps + offset) * src_fps


def _flow_warp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """The frame a fraction `t` of the way from a to b, warping both along Farneback flow."""
    gray_a = cv2.cvtColor((a * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
    gray_b = cv2.cvtColor((b * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
    params = {"pyr_scale": 0.5, "levels": 3, "winsize": 15, "iterations": 3, "poly_n": 5,
              "poly_sigma": 1.2, "flags": 0}
    forward = cv2.calcOpticalFlowFarneback(gray_a, gray_b, None, **params)
    backward = cv2.calcOpticalFlowFarneback(gray_b, gray_a, None, **params)
    h, w = gray_a.shape
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    # pixel p of the middle frame comes from a at p - t*F and from b at p - (1-t)*B
    from_a = cv2.remap(a, grid_x - t * forward[..., 0], grid_y - t * forward[..., 1],
                       cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    from_b = cv2.remap(b, grid_x - (1 - t) * backward[..., 0],
                       grid_y - (1 - t) * backward[..., 1], cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    return (1 - t) * from_a + t * from_b


def retime(frames: np.ndarray, src_fps: float, dst_fps: float, count: int,
           method: RetimeMethod = "blend", offset: float = 0.0) -> np.ndarray:
    """Exactly `count` frames at `dst_fps` from `frames` at `src_fps` (times past the last
    source frame hold it). `offset` (seconds) shifts where output frame 0 samples."""
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim != 4 or len(frames) == 0:
        raise ValueError(f"frames must be (F, H, W, C) with F ≥ 1, got {frames.shape}")
    positions = np.clip(source_times(count, dst_fps, src_fps, offset), 0, len(frames) - 1)
    out = np.empty((count, *frames.shape[1:]), np.float32)
    for index, position in enumerate(positions):
        low = int(np.floor(position + 1e-6))
        low = min(low, len(frames) - 1)
        frac = float(position - low)
        if method == "nearest" or frac < 1e-3 or low + 1 >= len(frames):
            out[index] = frames[min(round(position), len(frames) - 1)]
        elif method == "flow":
            out[index] = _flow_warp(frames[low], frames[low + 1], frac)
        else:
            out[index] = (1 - frac) * frames[low] + frac * frames[low + 1]
    return out


def sample_frames(count: int, src_fps: float, dst_fps: float, available: int,
                  offset: float = 0.0) -> list[int]:
    """Nearest source frame index for each of `count` frames sampled at `dst_fps` (used to
    take a 16 fps control video from a timeline-rate proxy)."""
    positions = source_times(count, dst_fps, src_fps, offset)
    return [int(min(max(round(p), 0), available - 1)) for p in positions]


# --------------------------------------------------------------------------- segments


@dataclass(frozen=True)
class Segment:
    """One Wan render of a long shot: native frames [start, end), the first `overlap` shared
    with the previous segment."""

    start: int
    end: int
    overlap: int

    @property
    def frames(self) -> int:
        return self.end - self.start


def plan_segments(total: int, max_frames: int = 81, overlap: int = 9) -> list[Segment]:
    """Cover `total` native frames with renders of ≤ `max_frames` (each 4k+1), consecutive
    renders sharing `overlap` frames. One segment when the shot fits in one render."""
    if max_frames < 5 or (max_frames - 1) % 4:
        raise ValueError(f"max_frames must be 4k+1 ≥ 5, got {max_frames}")
    if not 0 < overlap < max_frames - 1:
        raise ValueError(f"overlap must be between 1 and {max_frames - 2}, got {overlap}")
    total = wan_frame_count(total)
    if total <= max_frames:
        return [Segment(0, total, 0)]
    segments = [Segment(0, max_frames, 0)]
    while segments[-1].end < total:
        start = segments[-1].end - overlap
        length = min(max_frames, wan_frame_count(max(total - start, overlap + 1)))
        if length <= overlap:
            length = wan_frame_count(overlap + 1)
        segments.append(Segment(start, start + length, overlap))
    return segments


def animate_segments(total: int, max_frames: int = 81, prev: int = 5) -> list[Segment]:
    """The segments diffusers' WanAnimatePipeline renders for `total` frames at
    `segment_frame_length=max_frames` and `prev_segment_conditioning_frames=prev`: each later
    segment starts `max_frames - prev` frames after the one before and is conditioned on its
    last `prev` frames (the pose video is padded up to the last segment's end; the output
    cut back to `total`). One segment of `total` frames when the shot fits in one render."""
    total = max(5, wan_frame_count(total))
    if total <= max_frames:
        return [Segment(0, total, 0)]
    step = max_frames - prev
    segments = [Segment(0, max_frames, 0)]
    while segments[-1].end < total:
        start = segments[-1].start + step
        segments.append(Segment(start, start + max_frames, prev))
    return segments


# --------------------------------------------------------------------------- colour


def _lab(frames: np.ndarray) -> np.ndarray:
    flat = np.clip(frames, 0, 1).astype(np.float32).reshape(-1, 1, 3)
    return cv2.cvtColor(flat, cv2.COLOR_RGB2LAB).reshape(frames.shape)


def _rgb(lab: np.ndarray) -> np.ndarray:
    flat = lab.astype(np.float32).reshape(-1, 1, 3)
    return np.clip(cv2.cvtColor(flat, cv2.COLOR_LAB2RGB).reshape(lab.shape), 0, 1)


def colour_stats(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation in CIELAB over all pixels of `frames`."""
    lab = _lab(np.asarray(frames, np.float32)).reshape(-1, 3)
    return lab.mean(axis=0), lab.std(axis=0)


def match_colour(frames: np.ndarray, source: np.ndarray, target: np.ndarray,
                 max_gain: float = 2.0) -> np.ndarray:
    """`frames` with the colour transform (Reinhard: LAB mean/std) that maps the statistics of
    `source` onto those of `target` — e.g. a new segment's first frames onto the previous
    segment's last, which show the same moment."""
    src_mean, src_std = colour_stats(source)
    dst_mean, dst_std = colour_stats(target)
    gain = np.clip(dst_std / np.maximum(src_std, 1e-3), 1 / max_gain, max_gain)
    lab = _lab(np.asarray(frames, np.float32))
    return _rgb((lab - src_mean) * gain + dst_mean)


def join_segments(segments: list[np.ndarray], overlaps: list[int],
                  colour: bool = True) -> np.ndarray:
    """One clip from consecutive segment renders: each segment is colour-matched to the joined
    clip over their shared frames, then the shared frames cross-fade linearly."""
    if not segments:
        raise ValueError("no segments to join")
    joined = np.asarray(segments[0], np.float32)
    for segment, overlap in zip(segments[1:], overlaps[1:], strict=True):
        segment = np.asarray(segment, np.float32)
        if overlap <= 0:
            joined = np.concatenate([joined, segment])
            continue
        if colour:
            segment = match_colour(segment, segment[:overlap], joined[-overlap:])
        weights = ((np.arange(overlap, dtype=np.float32) + 1) / (overlap + 1))[:, None, None, None]
        blended = (1 - weights) * joined[-overlap:] + weights * segment[:overlap]
        joined = np.concatenate([joined[:-overlap], blended, segment[overlap:]])
    return joined


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Float frames in [0, 1] → uint8 (rounded)."""
    return (np.clip(frames, 0, 1) * 255 + 0.5).astype(np.uint8)


def crop_frames(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Every frame cut to width × height around its centre (the render is at least that big:
    `latents.render_size` rounds up), so a tier size that is not a multiple of 16 keeps the
    picture's proportions; a smaller render is fitted to cover first."""
    frames = np.asarray(frames)
    h, w = frames.shape[1:3]
    if (w, h) == (width, height):
        return frames
    if w < width or h < height:
        scale = max(width / w, height / h)
        frames = resize_frames(frames, max(width, round(w * scale)), max(height, round(h * scale)))
        h, w = frames.shape[1:3]
    left, top = (w - width) // 2, (h - height) // 2
    return np.ascontiguousarray(frames[:, top:top + height, left:left + width])


def resize_frames(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Every frame resized to width × height (area filter down, cubic up)."""
    frames = np.asarray(frames)
    if frames.shape[1:3] == (height, width):
        return frames
    shrinking = width * height < frames.shape[1] * frames.shape[2]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return np.stack([cv2.resize(f, (width, height), interpolation=interpolation)
                     for f in frames])
