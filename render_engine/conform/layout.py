"""Where each clip of a track shows in record frames, including the overlap of dissolves.

A dissolve (OTIO Transition) of in/out offsets i/o at a cut R makes the outgoing clip run on
until R+o and the incoming one start at R-i; the incoming clip's picture fades in over
[R-i, R+o) on top of the outgoing one, and their sounds cross-fade over the same frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import opentimelineio as otio


@dataclass
class Segment:
    """One clip's appearance on a track."""

    start: int
    end: int
    """Record frames [start, end) from the start of the timeline."""
    offset: int
    """Media file frame index shown at record frame t is t + offset."""
    path: Path | None
    """The media file; None or missing means a MISSING MEDIA slate."""
    label: str
    fade_in: tuple[int, int] | None = None
    fade_out: tuple[int, int] | None = None

    def ramp(self, t: float, fade: tuple[int, int] | None, rising: bool) -> float:
        """0..1 gain of a fade at frame t (1 outside the fade)."""
        if fade is None or not fade[0] <= t < fade[1]:
            return 1.0
        x = (t - fade[0] + 0.5) / (fade[1] - fade[0])
        return x if rising else 1.0 - x

    def opacity(self, t: int) -> float:
        """How much of this clip's picture shows over what is below it at frame t."""
        return self.ramp(t, self.fade_in, True)


def _frames(time: otio.opentime.RationalTime, rate: float) -> int:
    return round(time.rescaled_to(rate).value)


def reference_path(clip: otio.schema.Clip) -> Path | None:
    """The local file of the clip's active reference (None when it has none)."""
    url = getattr(clip.media_reference, "target_url", "") or ""
    parsed = urlparse(url)
    if parsed.scheme not in ("", "file") or not url:
        return None
    return Path(unquote(parsed.path))


def track_segments(track: otio.schema.Track, rate: float) -> list[Segment]:
    """The clips of a track as segments, in order (gaps are simply absent)."""
    children = list(track)
    segments: list[Segment] = []
    for index, item in enumerate(children):
        if not isinstance(item, otio.schema.Clip) or not item.enabled:
            continue
        placed = track.range_of_child_at_index(index)
        start = _frames(placed.start_time, rate)
        end = start + _frames(placed.duration, rate)
        available = item.media_reference.available_range
        media_start = _frames(available.start_time, rate) if available is not None else 0
        offset = _frames(item.source_range.start_time, rate) - media_start - start
        segment = Segment(start, end, offset, reference_path(item), item.name)
        before = children[index - 1] if index else None
        after = children[index + 1] if index + 1 < len(children) else None
        if isinstance(before, otio.schema.Transition):
            head, tail = _frames(before.in_offset, rate), _frames(before.out_offset, rate)
            segment.start = start - head
            segment.fade_in = (start - head, start + tail)
        if isinstance(after, otio.schema.Transition):
            head, tail = _frames(after.in_offset, rate), _frames(after.out_offset, rate)
            segment.end = end + tail
            segment.fade_out = (end - head, end + tail)
        segments.append(segment)
    return segments
