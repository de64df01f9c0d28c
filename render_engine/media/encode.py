"""Encode frames (and an optional soundtrack) to NLE-friendly files; probe and read them back.

Every tier hands numpy RGB frames to `VideoWriter`, which streams them through PyAV into a
temporary file beside the target and renames it into place only when the encode succeeded, so
the render cache never holds half a movie. Profiles match the editors soloreel round-trips with:
H.264/AAC for the web and Kdenlive, DNxHR HQ/PCM in .mov for DaVinci Resolve (the free Linux
build decodes neither H.264 nor AAC), ProRes 4444 for layers with alpha.

Pictures that barely change from frame to frame (the placeholder's slates) take a faster road
with the same codec, profile, pixel format and GOP: `still=True` picks the profile's
still-picture encoder settings, and `write(frame, changed=boxes)` converts to the encoder's
pixel format only the regions that changed since the previous frame (the picture handed to the
encoder is exactly what converting the whole frame gives).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import cv2
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, VideoReformatter

from render_engine.atomic import atomic_path
from render_engine.errors import SoloreelError
from render_engine.media.aac_silence import SilenceCopies, silent_chunks
from render_engine.media.repeats import RepeatMuxer

AUDIO_RATE = 48000
"""Every soundtrack is written at 48 kHz stereo, the rate NLEs and broadcast expect."""
AUDIO_CHUNK = 1024
"""Samples per audio frame handed to the encoder (AAC's frame size)."""

_BT709 = 1  # ITU-R BT.709 in FFmpeg's colour enums (primaries, transfer and matrix alike).
_TV_RANGE = 1  # "MPEG" / limited range.

CONTAINER_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
"""File suffix → FFmpeg muxer name."""

_NATIVE_MOV_TAGS = frozenset({
    "title", "comment", "artist", "album", "description", "copyright", "date", "genre",
    "composer", "synopsis",
})
"""Metadata keys the mov/mp4 muxer writes as classic QuickTime tags; any other key needs
`movflags=use_metadata_tags` to survive."""


class MediaError(SoloreelError):
    """A media file that cannot be written or read as asked."""


@dataclass(frozen=True)
class EncodeProfile:
    """How one kind of deliverable is encoded: codecs, pixel/sample formats, container options."""

    name: str
    suffix: str
    """The container's usual file suffix."""
    video_codec: str
    pix_fmt: str
    video_options: dict[str, str] = field(default_factory=dict)
    audio_codec: str = "aac"
    audio_format: str = "fltp"
    """The sample format the audio encoder takes."""
    audio_bit_rate: int | None = None
    container_options: dict[str, str] = field(default_factory=dict)
    gop_seconds: float | None = None
    """Keyframe interval in seconds (None: the encoder's default); short GOPs scrub faster."""
    alpha: bool = False
    """Whether `write` accepts RGBA frames and keeps the alpha channel."""
    suffixes: tuple[str, ...] = (".mp4", ".mov", ".m4v", ".mkv")
    """File suffixes whose container can hold these codecs."""
    min_size: tuple[int, int] = (2, 2)
    """Smallest (width, height) the video encoder accepts."""
    fallback: str | None = None
    """The profile used instead when the frame is smaller than `min_size`."""
    still_video_options: dict[str, str] | None = None
    """Encoder options for pictures that barely change between frames (`VideoWriter(still=
    True)`): the same codec, profile and GOP, tuned for speed on static content. None: the
    profile's `video_options`."""
    still_audio_options: dict[str, str] = field(default_factory=dict)
    """Audio encoder options with `still=True` (a slate's reference dialog): the same codec,
    rate and bit rate, a faster search."""


_H264 = {"crf": "20", "preset": "veryfast", "profile": "high"}
_H264_STILL = {"qp": "20", "preset": "ultrafast", "profile": "high", "forced-idr": "1",
               "x264-params": "cabac=0:8x8dct=1:deblock=0,0:threads=1:sync-lookahead=0"}
"""H.264 High for slates: a constant QP needs no lookahead (x264 then skips its half-size
analysis of every frame), the ultrafast search finds the unchanged macroblocks just as well,
8x8 transforms + the deblocking filter keep it High profile and the text clean. CAVLC and one
thread keep the stream one whose repeated frames `media.repeats` writes as all-skip pictures
without the encoder (and the render pool keeps every core busy with a shot of its own)."""
_AAC_STILL = {"aac_coder": "fast", "aac_ms": "1", "aac_is": "0", "aac_pns": "0",
              "aac_tns": "0"}
"""AAC-LC at the profile's bit rate with FFmpeg's fast coder and mid/side stereo (dialog is
mono on both channels), without intensity stereo, noise substitution and temporal noise
shaping (tools for music at low rates): about 3x the speed of the default two-loop search on
speech, which encodes at only ~14x real time on the dev machine."""

ENCODE_PROFILES: dict[str, EncodeProfile] = {
    "web": EncodeProfile(
        name="web", suffix=".mp4", video_codec="libx264", pix_fmt="yuv420p",
        video_options=dict(_H264), audio_codec="aac", audio_format="fltp",
        audio_bit_rate=192_000, container_options={"movflags": "+faststart"},
        still_video_options=dict(_H264_STILL), still_audio_options=dict(_AAC_STILL),
    ),
    "kdenlive": EncodeProfile(
        name="kdenlive", suffix=".mp4", video_codec="libx264", pix_fmt="yuv420p",
        video_options=dict(_H264), audio_codec="aac", audio_format="fltp",
        audio_bit_rate=192_000, gop_seconds=1.0, still_video_options=dict(_H264_STILL),
        still_audio_options=dict(_AAC_STILL),
    ),
    "control": EncodeProfile(
        name="control", suffix=".mp4", video_codec="libx264", pix_fmt="yuv420p",
        video_options={"crf": "16", "preset": "ultrafast"}, audio_codec="aac",
        audio_format="fltp",
    ),
    "resolve": EncodeProfile(
        name="resolve", suffix=".mov", video_codec="dnxhd", pix_fmt="yuv422p",
        video_options={"profile": "dnxhr_hq"}, audio_codec="pcm_s16le", audio_format="s16",
        suffixes=(".mov", ".mkv"), min_size=(256, 120), fallback="prores422hq",
    ),
    "prores422hq": EncodeProfile(
        name="prores422hq", suffix=".mov", video_codec="prores_ks", pix_fmt="yuv422p10le",
        video_options={"profile": "hq", "vendor": "apl0"}, audio_codec="pcm_s16le",
        audio_format="s16", suffixes=(".mov", ".mkv"),
    ),
    "prores4444": EncodeProfile(
        name="prores4444", suffix=".mov", video_codec="prores_ks", pix_fmt="yuva444p10le",
        video_options={"profile": "4444", "vendor": "apl0", "alpha_bits": "16"},
        audio_codec="pcm_s16le", audio_format="s16", alpha=True, suffixes=(".mov", ".mkv"),
    ),
}
"""Encode profiles by name. "resolve" falls back to ProRes 422 HQ below DNxHR's 256x120 minimum
(Resolve reads both); "prores4444" keeps an alpha channel for character layers; "control" is
for pose control videos (flat colours on black: the fastest preset, a low CRF keeps the lines)."""


def fps_fraction(fps: float | int | Fraction) -> Fraction:
    """The exact frame rate as a Fraction; 23.976/29.97/59.94 become the NTSC x/1001 rates.

    Timestamps are integers at time base 1/fps, so the rate must be exact: a float 23.976 would
    drift against the true 24000/1001 by a frame every ~17 minutes.
    """
    if isinstance(fps, Fraction):
        rate = fps
    elif isinstance(fps, int):
        rate = Fraction(fps)
    else:
        value = float(fps)
        rate = Fraction(value).limit_denominator(1001)
        for base in (24, 30, 48, 60, 120):
            if abs(value - base * 1000 / 1001) < 5e-3:
                rate = Fraction(base * 1000, 1001)
                break
    if rate <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return rate


def timecode_at(frame: int, fps: float | int | Fraction) -> str:
    """SMPTE non-drop timecode HH:MM:SS:FF of source frame `frame` at `fps`.

    Frames are counted at the nominal (rounded) rate, as NLEs do for non-drop timecode, so
    every tier's movie of a shot, which starts at the same source frame, gets the same start
    timecode and an editor (or Resolve's conform) can line proxy and final up by it.
    """
    if frame < 0:
        raise ValueError(f"timecode of a negative frame ({frame})")
    base = max(1, round(float(fps_fraction(fps))))
    seconds, frames = divmod(int(frame), base)
    minutes, secs = divmod(seconds, 60)
    hours, mins = divmod(minutes, 60)
    return f"{hours % 24:02d}:{mins:02d}:{secs:02d}:{frames:02d}"


def pick_profile(name: str, width: int, height: int) -> EncodeProfile:
    """The profile `name` for a width x height video, following its fallback when too small."""
    if name not in ENCODE_PROFILES:
        raise MediaError(
            f'unknown encode profile "{name}"; known: {", ".join(sorted(ENCODE_PROFILES))}')
    profile = ENCODE_PROFILES[name]
    while profile.fallback and (width < profile.min_size[0] or height < profile.min_size[1]):
        profile = ENCODE_PROFILES[profile.fallback]
    return profile


def _planar_audio(samples: np.ndarray) -> np.ndarray:
    """(N,) or (N, channels) samples → contiguous (channels, N) float32."""
    data = np.asarray(samples, dtype=np.float32)
    if data.ndim == 1:
        data = data[None, :]
    elif data.ndim == 2 and data.shape[1] in (1, 2):
        data = data.T
    else:
        raise ValueError(f"audio must be (N,) or (N, 1|2) samples, got shape {data.shape}")
    return np.ascontiguousarray(data)


def resample_audio(samples: np.ndarray, rate: int) -> np.ndarray:
    """Mono or stereo float samples at any rate → (2, N) float32 stereo at 48 kHz.

    PyAV's AudioResampler does the rate conversion; mono is duplicated onto both channels
    afterwards at full level (FFmpeg's own upmix would pan it 3 dB down).
    """
    planar = _planar_audio(samples)
    if rate <= 0:
        raise ValueError(f"audio rate must be positive, got {rate}")
    channels = planar.shape[0]
    if rate != AUDIO_RATE and planar.shape[1]:
        layout = "mono" if channels == 1 else "stereo"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=AUDIO_RATE)
        frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout=layout)
        frame.sample_rate = rate
        frame.pts = 0
        frame.time_base = Fraction(1, rate)
        parts = [f.to_ndarray() for f in resampler.resample(frame) + resampler.resample(None)]
        planar = (np.concatenate(parts, axis=1) if parts
                  else np.zeros((channels, 0), np.float32)).astype(np.float32)
    if channels == 1:
        planar = np.repeat(planar, 2, axis=0)
    return np.ascontiguousarray(np.clip(planar, -1.0, 1.0))


Box = tuple[int, int, int, int]
"""A region of a frame: (x0, y0, x1, y1) in pixels, the end exclusive."""

_REGIONAL_FORMATS = frozenset({"yuv420p", "yuv422p"})
"""Pixel formats `write(frame, changed=...)` converts region by region (8-bit planar YUV)."""
_REACH = 4
"""Pixels around a changed region whose converted values may change with it: swscale's 4:2:0
chroma filter reads a luma row beyond the pair each chroma row covers."""
_WINDOW_MARGIN = 8
"""Pixels of context converted around the region copied (its reach included), so the
filter's taps find the same neighbours as in the whole frame."""
_WINDOW_QUANTUM = 32
"""Windows are rounded up to a multiple of this size, so a handful of swscale contexts (each
costly to set up) serve a whole shot."""
_WINDOW_CALL = 12_000
"""What one more swscale call costs, in pixels converted (about 50 µs on the dev machine):
nearby regions are converted in one window when that is cheaper."""
_WINDOW_CONTEXTS = 96
"""swscale contexts kept per thread, by window size (least recently used dropped)."""

CHANGED_BANDS = 8
"""Horizontal bands `changed_regions` bounds a frame's changes in (a box per band)."""
CHANGED_MOST = 0.4
"""Share of the frame above which `changed_regions` gives up: converting the whole frame
then costs about what the windows and the copy of the previous picture do."""


def changed_regions(frame: np.ndarray, previous: np.ndarray | None,
                    bands: int = CHANGED_BANDS, most: float = CHANGED_MOST
                    ) -> list[Box] | None:
    """Boxes holding every pixel where `frame` differs from `previous` (two H x W x C uint8
    pictures), for `VideoWriter.write(frame, changed=...)`: the bounds of the differing
    pixels in each of `bands` horizontal bands, [] when nothing changed, and None (convert
    the whole frame) without a previous frame of that shape or when the boxes cover more
    than `most` of the frame. Found by comparing the two pictures byte for byte, so no
    changed pixel is ever left out: the movie encoded is the one whole-frame conversion
    gives, at a fraction of the conversion where little moves (a still camera's animatic,
    a pose control video: skeletons on black)."""
    if previous is None or previous.shape != frame.shape or frame.ndim != 3:
        return None
    height, width, channels = frame.shape
    differs = cv2.compare(np.ascontiguousarray(frame).reshape(height, -1),
                          np.ascontiguousarray(previous).reshape(height, -1), cv2.CMP_NE)
    boxes: list[Box] = []
    area, step = 0, -(-height // max(1, bands))
    for top in range(0, height, step):
        x, y, w, h = cv2.boundingRect(differs[top:top + step])
        if w and h:
            box = (x // channels, top + y, -(-(x + w) // channels), top + y + h)
            boxes.append(box)
            area += (box[2] - box[0]) * (box[3] - box[1])
    return None if area > most * width * height else boxes


_REGIONAL_EXACT: dict[tuple[int, int, str], bool] = {}
"""Per (width, height, pix_fmt): whether converting windows gives exactly the whole frame's
conversion (checked once per process; a False sends every frame through whole)."""


_THREAD = threading.local()


SWSCALE_THREADS = 1
"""Threads per swscale context. One: the frames are small, the render pool keeps every core
busy with a shot of its own, and a context without worker threads survives a fork (PyAV's
default, 0, gives each context a thread pool that a forked child does not have)."""
_INHERITED: list[object] = []
"""swscale contexts a forked child inherited: kept, never used nor freed."""


def _forget_window_contexts() -> None:
    """In a forked child: set aside the swscale contexts inherited from the parent. A context
    owns worker threads, which a fork does not copy: using it, or freeing it (which joins
    them), would wait for them forever."""
    contexts = getattr(_THREAD, "contexts", None)
    if contexts:
        _INHERITED.append(contexts)
    _THREAD.contexts = None


os.register_at_fork(after_in_child=_forget_window_contexts)


def _window_contexts() -> OrderedDict[tuple[int, int, str], VideoReformatter]:
    """This thread's swscale contexts for windows, by (width, height, pix_fmt): shared by the
    writers of every shot (setting one up costs as much as converting a frame)."""
    contexts = getattr(_THREAD, "contexts", None)
    if contexts is None:
        contexts = _THREAD.contexts = OrderedDict()
    return contexts


def _plane_views(frame: av.VideoFrame) -> list[np.ndarray]:
    """Writable numpy views of a planar frame's planes (line padding cut off)."""
    return [np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[
        :, :plane.width] for plane in frame.planes]


def _span(lo: int, hi: int, limit: int) -> tuple[int, int]:
    """(start, length) of a window over [lo, hi) with _WINDOW_MARGIN of context on each side
    (or the frame's edge, where the whole frame's conversion has its edge too)."""
    start, end = max(0, lo - _WINDOW_MARGIN), min(limit, hi + _WINDOW_MARGIN)
    length = min(limit, -(-(end - start) // _WINDOW_QUANTUM) * _WINDOW_QUANTUM)
    return min(start, limit - length), length


class _RegionalConverter:
    """Convert only the changed regions of an RGB frame into a copy of the previous picture.

    Each region is widened to whole chroma samples, converted by swscale inside a window with
    a margin of context (at even offsets, so the chroma pairs line up with the whole frame's),
    and only its inside is copied: the result is bit-identical to converting the whole frame,
    which `exact` checks once per frame size before this is trusted.
    """

    def __init__(self, width: int, height: int, pix_fmt: str) -> None:
        self.width, self.height, self.pix_fmt = width, height, pix_fmt

    def _convert(self, rgb: np.ndarray) -> av.VideoFrame:
        contexts = _window_contexts()
        key = (rgb.shape[1], rgb.shape[0], self.pix_fmt)
        context = contexts.pop(key, None) or VideoReformatter()
        contexts[key] = context
        while len(contexts) > _WINDOW_CONTEXTS:
            contexts.popitem(last=False)
        source = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        return context.reformat(source, format=self.pix_fmt, dst_colorspace=Colorspace.ITU709,
                                dst_color_range=ColorRange.MPEG, threads=SWSCALE_THREADS)

    def patch(self, previous: av.VideoFrame, frame: np.ndarray,
              boxes: Sequence[Box]) -> av.VideoFrame:
        """A new picture: `previous` with `boxes` of `frame` converted into it."""
        picture = av.VideoFrame(self.width, self.height, self.pix_fmt)
        picture.colorspace, picture.color_range = previous.colorspace, previous.color_range
        planes = _plane_views(picture)
        for dst, src in zip(planes, _plane_views(previous), strict=True):
            dst[:] = src
        steps = [(self.width // p.shape[1], self.height // p.shape[0]) for p in planes]
        for x0, y0, x1, y1 in self._regions(boxes):
            wx, ww = _span(x0, x1, self.width)
            wy, wh = _span(y0, y1, self.height)
            window = _plane_views(self._convert(frame[wy:wy + wh, wx:wx + ww]))
            for dst, src, (sx, sy) in zip(planes, window, steps, strict=True):
                dst[y0 // sy:y1 // sy, x0 // sx:x1 // sx] = src[
                    (y0 - wy) // sy:(y1 - wy) // sy, (x0 - wx) // sx:(x1 - wx) // sx]
        return picture

    def _regions(self, boxes: Sequence[Box]) -> list[Box]:
        """The regions to copy: each box widened by the filter's reach to whole chroma
        samples, and regions joined where one window costs less than two."""
        regions = []
        for box in boxes:
            x0 = max(0, (int(box[0]) - _REACH) & ~1)
            y0 = max(0, (int(box[1]) - _REACH) & ~1)
            x1 = min(self.width, (int(box[2]) + _REACH + 1) & ~1)
            y1 = min(self.height, (int(box[3]) + _REACH + 1) & ~1)
            if x0 < x1 and y0 < y1:
                regions.append(((x0, y0, x1, y1), self._cost(x0, y0, x1, y1)))
        merged = True
        while merged and len(regions) > 1:
            merged = False
            for i, j in itertools.combinations(range(len(regions)), 2):
                (a, cost_a), (b, cost_b) = regions[i], regions[j]
                union = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                cost = self._cost(*union)
                if cost < cost_a + cost_b:
                    regions[i] = (union, cost)
                    del regions[j]
                    merged = True
                    break
        return [region for region, _cost in regions]

    def _cost(self, x0: int, y0: int, x1: int, y1: int) -> int:
        """What converting a region's window costs, in pixels (a call costs _WINDOW_CALL)."""
        return (_span(x0, x1, self.width)[1] * _span(y0, y1, self.height)[1]
                + _WINDOW_CALL)

    def exact(self) -> bool:
        """Whether patching gives the whole frame's conversion at this size (checked once)."""
        key = (self.width, self.height, self.pix_fmt)
        if key not in _REGIONAL_EXACT:
            rng = np.random.default_rng(0)
            before = rng.integers(0, 256, (self.height, self.width, 3), dtype=np.uint8)
            after = before.copy()
            w, h = self.width, self.height
            boxes = [(0, 0, 3, 5), (w - 5, h - 3, w, h), (w // 3 & ~1, h // 3 & ~1,
                     w // 2 & ~1, h // 2 & ~1), (w // 2 + 3 | 1, 1, w - 3 | 1, h // 4 | 1)]
            for x0, y0, x1, y1 in boxes:
                after[y0:y1, x0:x1] = rng.integers(0, 256, (y1 - y0, x1 - x0, 3), np.uint8)
            whole = self._convert(after)
            patched = self.patch(self._convert(before), after, boxes)
            _REGIONAL_EXACT[key] = all(
                np.array_equal(a, b)
                for a, b in zip(_plane_views(patched), _plane_views(whole), strict=True))
        return _REGIONAL_EXACT[key]


AUDIO_THREAD = True
"""Whether a writer with its frame count declared encodes the soundtrack ahead on a thread of
its own (the same packets either way). Worth it with a core to spare; a render pool's worker,
every core busy with a shot, sets it off: the thread would only add switching."""


class _AudioAhead:
    """Encode a whole soundtrack on its own thread (PyAV lets go of the GIL while encoding):
    the picture's thread takes the packets chunk by chunk where it would have encoded them, so
    the file is byte for byte the one encoding in line gives, in about the time of the video
    alone on a machine with a core to spare."""

    def __init__(self, chunks: Iterator[tuple[int, list[Any]]],
                 flush: Callable[[], list[Any]]) -> None:
        self._chunks = chunks
        self._flush_encoder = flush
        self._done: list[tuple[int, list[Any]]] = []
        """(samples, packets) per chunk encoded and not taken yet, in order."""
        self._flush: list[Any] | None = None
        self._error: BaseException | None = None
        self._cancelled = False
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="audio-ahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for samples, packets in self._chunks:
                if self._cancelled:
                    return
                with self._ready:
                    self._done.append((samples, packets))
                    self._ready.notify()
            flush = self._flush_encoder()
            with self._ready:
                self._flush = flush
                self._ready.notify()
        except BaseException as exc:  # handed to the picture's thread
            with self._ready:
                self._error = exc
                self._ready.notify()

    def take(self, samples: int) -> list[Any]:
        """The packets the next chunk (of `samples` samples) gave, waiting for them."""
        with self._ready:
            while not self._done and self._error is None and self._flush is None:
                self._ready.wait()
            if self._error is not None:
                raise self._error
            if not self._done:
                raise MediaError("the soundtrack ran out before the declared frames")
            count, packets = self._done.pop(0)
        if count != samples:
            raise MediaError(f"audio chunk of {count} samples where {samples} were due")
        return packets

    def take_flush(self) -> list[Any]:
        """The encoder's last packets, once every chunk was taken."""
        with self._ready:
            while self._flush is None and self._error is None:
                self._ready.wait()
            if self._error is not None:
                raise self._error
            assert self._flush is not None
            flush = self._flush
        self._thread.join()
        return flush

    def cancel(self) -> None:
        """Stop early (the movie is being discarded) and wait for the thread."""
        self._cancelled = True
        self._thread.join()


class VideoWriter:
    """Stream RGB frames (and mux an optional soundtrack) into a movie file, atomically.

    Use as a context manager. Frames are encoded as they arrive; frame i gets pts i at time
    base 1/fps. On a clean exit the audio is cut or padded with silence to the video's
    duration, the encoders are flushed and the temporary file is renamed onto `path`; on an
    exception the temporary file is deleted and `path` is left untouched.
    """

    def __init__(
        self,
        path: Path | str,
        width: int,
        height: int,
        fps: float | Fraction,
        profile: str = "web",
        audio: tuple[np.ndarray, int] | None = None,
        metadata: dict[str, str] | None = None,
        timecode: str | None = None,
        still: bool = False,
        frames: int | None = None,
    ) -> None:
        """`timecode` (HH:MM:SS:FF) is the movie's start timecode, written on the video stream
        (mov/mp4 get a tmcd track) so NLEs place and conform the media by it. `still`: the
        pictures barely change from frame to frame (slates), so encode with the profile's
        `still_video_options` where it has them. `frames`: how many frames will be written,
        when known up front; the soundtrack is then encoded ahead on another thread (the same
        packets, muxed at the same points: the same file), and writing another count is an
        error."""
        self.path = Path(path)
        self.width = int(width)
        self.height = int(height)
        self.fps = fps_fraction(fps)
        self.profile = pick_profile(profile, self.width, self.height)
        self.metadata = {str(k): str(v) for k, v in (metadata or {}).items()}
        self.timecode = timecode
        self.still = still
        self.frames_written = 0
        self.regions_converted = 0
        """Frames converted region by region (`write(..., changed=...)`), not whole."""
        self.frames_repeated = 0
        """Frames handed to the encoder as the previous picture again (`changed=[]`)."""
        self._repeats: RepeatMuxer | None = None
        """With `still`: writes unchanged frames as copies, without the encoder."""
        self._check_geometry()
        self._audio = resample_audio(*audio) if audio is not None else None
        self._audio_pos = 0
        self.frames_expected = frames
        self._ahead: _AudioAhead | None = None
        self._chunk_source: Iterator[tuple[int, list[Any]]] | None = None
        """With `frames` declared: the soundtrack's (samples, packets) chunk by chunk, taken
        in line or by `_ahead`."""
        self._silence: SilenceCopies | None = None
        self._atomic: contextlib.AbstractContextManager[Path] | None = None
        self._container: Any = None
        self._video: Any = None
        self._audio_stream: Any = None
        self._reformatter = VideoReformatter()
        self._time_base = Fraction(1) / self.fps
        self._previous: av.VideoFrame | None = None
        """The last picture handed to the encoder (regional profiles only)."""
        self._regional: _RegionalConverter | None = None
        self._regional_ok = (self.profile.pix_fmt in _REGIONAL_FORMATS
                             and self.width % 2 == 0 and self.height % 2 == 0)

    # -- setup -----------------------------------------------------------------------------

    def _check_geometry(self) -> None:
        suffix = self.path.suffix.lower()
        if suffix not in self.profile.suffixes:
            raise MediaError(
                f"{self.path.name}: the {self.profile.name} profile writes "
                f"{' or '.join(self.profile.suffixes)} files, not {suffix or 'no suffix'}")
        min_w, min_h = self.profile.min_size
        if self.width < min_w or self.height < min_h:
            raise MediaError(f"{self.profile.name} needs at least {min_w}x{min_h} frames, got "
                             f"{self.width}x{self.height}")
        chroma = self.profile.pix_fmt
        if ("420" in chroma and (self.width % 2 or self.height % 2)) or (
                "422" in chroma and self.width % 2):
            raise MediaError(f"{chroma} needs even frame sizes, got {self.width}x{self.height}")

    def _container_options(self) -> dict[str, str]:
        fmt = CONTAINER_FORMATS[self.path.suffix.lower()]
        if fmt not in ("mp4", "mov"):
            return {}  # the profiles' container options are all mov/mp4 flags
        options = dict(self.profile.container_options)
        if set(self.metadata) - _NATIVE_MOV_TAGS:
            flags = options.get("movflags", "")
            options["movflags"] = f"{flags}+use_metadata_tags"
        return options

    def _open(self, tmp: Path) -> None:
        fmt = CONTAINER_FORMATS[self.path.suffix.lower()]
        container = av.open(str(tmp), "w", format=fmt, options=self._container_options())
        self._container = container
        container.metadata.update(self.metadata)
        video = container.add_stream(self.profile.video_codec, rate=self.fps)
        video.width = self.width
        video.height = self.height
        video.pix_fmt = self.profile.pix_fmt
        if self.timecode:
            video.metadata["timecode"] = self.timecode
        ctx = video.codec_context
        ctx.time_base = self._time_base
        ctx.colorspace = _BT709
        ctx.color_primaries = _BT709
        ctx.color_trc = _BT709
        ctx.color_range = _TV_RANGE
        if self.profile.gop_seconds:
            ctx.gop_size = max(1, round(float(self.fps) * self.profile.gop_seconds))
        options = self.profile.video_options
        if self.still and self.profile.still_video_options is not None:
            options = self.profile.still_video_options
        video.options = dict(options)
        self._video = video
        if self.still:
            self._repeats = RepeatMuxer(container, video, self.profile.video_codec,
                                        ctx.gop_size if self.profile.gop_seconds else None,
                                        self._time_base)
        if self._audio is not None:
            stream = container.add_stream(self.profile.audio_codec, rate=AUDIO_RATE)
            stream.codec_context.layout = "stereo"
            stream.codec_context.format = self.profile.audio_format
            if self.profile.audio_bit_rate:
                stream.codec_context.bit_rate = self.profile.audio_bit_rate
            if self.still and self.profile.still_audio_options:
                stream.options = dict(self.profile.still_audio_options)
            self._audio_stream = stream
            if self.frames_expected:
                total = self._samples_at(self.frames_expected)
                if self.still and self.profile.audio_codec == "aac":
                    self._silence = SilenceCopies(
                        stream, silent_chunks(self._audio, total, AUDIO_CHUNK), AUDIO_CHUNK)
                self._chunk_source = self._encoded_chunks(total)
                if AUDIO_THREAD:
                    self._ahead = _AudioAhead(self._chunk_source, self._encode_flush)

    def __enter__(self) -> VideoWriter:
        """Open the temporary file and the encoders."""
        if self._atomic is not None:
            raise RuntimeError("VideoWriter is already open")
        atomic = atomic_path(self.path)
        tmp = atomic.__enter__()
        try:
            self._open(tmp)
        except BaseException:
            self._close_quietly()
            atomic.__exit__(*sys.exc_info())
            raise
        self._atomic = atomic
        return self

    # -- writing ---------------------------------------------------------------------------

    def write(self, frame: np.ndarray, changed: Sequence[Box] | None = None) -> None:
        """Encode one HxWx3 uint8 RGB frame (HxWx4 RGBA for alpha profiles).

        `changed` is a promise that outside these boxes (x0, y0, x1, y1) `frame` equals the
        previous frame written: only they are converted to the encoder's pixel format (a slate
        whose counters tick converts a few thousand pixels a frame, not the whole picture).
        The picture encoded is the same either way. None: the whole frame is converted.
        """
        if self._container is None:
            raise RuntimeError("VideoWriter.write called outside its `with` block")
        if self.frames_expected is not None and self.frames_written >= self.frames_expected:
            raise MediaError(f"{self.path.name}: more frames than the {self.frames_expected} "
                             "declared")
        data = np.asarray(frame)
        channels = (3, 4) if self.profile.alpha else (3,)
        if (data.dtype != np.uint8 or data.ndim != 3 or data.shape[2] not in channels
                or data.shape[:2] != (self.height, self.width)):
            raise ValueError(
                f"frame must be {self.height}x{self.width}x{'/'.join(map(str, channels))} "
                f"uint8, got {data.shape} {data.dtype}")
        regional = self._regional_converter() if changed is not None else None
        repeats = self._repeats
        if (regional is not None and self._previous is not None and not changed
                and repeats is not None and repeats.copy(self.frames_written)):
            self._advance()  # the previous frame again, as a copy: no encoder
            return
        if regional is not None and self._previous is not None and not changed:
            encoded = self._previous  # the same picture again: nothing to convert
            self.frames_repeated += 1
        elif regional is not None and self._previous is not None:
            encoded = regional.patch(self._previous, data, changed or ())
            self.regions_converted += 1
        else:
            source = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(data), format="rgba" if data.shape[2] == 4 else "rgb24")
            encoded = self._reformatter.reformat(
                source, format=self.profile.pix_fmt, dst_colorspace=Colorspace.ITU709,
                dst_color_range=ColorRange.MPEG, threads=SWSCALE_THREADS)
        if self._regional_ok:
            self._previous = encoded
        encoded.pts = self.frames_written
        encoded.time_base = self._time_base
        if repeats is not None:
            encoded.pict_type = (av.video.frame.PictureType.I
                                 if repeats.keyframe_due(self.frames_written)
                                 else av.video.frame.PictureType.NONE)
            repeats.encoded(self.frames_written, self._video.encode(encoded))
        else:
            for packet in self._video.encode(encoded):
                self._container.mux(packet)
        self._advance()

    def _advance(self) -> None:
        """One more frame written: the soundtrack follows it."""
        self.frames_written += 1
        if self._audio_stream is not None:
            self._pump_audio(self._samples_at(self.frames_written), final=False)

    @property
    def audio_frames_copied(self) -> int:
        """AAC frames of long silences written as copies (`media.aac_silence`)."""
        return self._silence.copied if self._silence is not None else 0

    @property
    def frames_copied(self) -> int:
        """Frames written as a copy of the previous one without the encoder (`still=True`:
        an intra packet again, or an H.264 all-skip picture; see `media.repeats`)."""
        return self._repeats.copied if self._repeats is not None else 0

    def _regional_converter(self) -> _RegionalConverter | None:
        """The region-by-region converter, if this profile and frame size allow one."""
        if self._regional is None and self._regional_ok:
            regional = _RegionalConverter(self.width, self.height, self.profile.pix_fmt)
            if regional.exact():
                self._regional = regional
            else:
                self._regional_ok = False
        return self._regional

    def _samples_at(self, frames: int) -> int:
        """Audio samples spanning the first `frames` video frames (exact rational rounding,
        half to even as `round` does, in integers: this runs every frame)."""
        whole, rest = divmod(frames * AUDIO_RATE * self.fps.denominator, self.fps.numerator)
        twice = 2 * rest
        if twice > self.fps.numerator or (twice == self.fps.numerator and whole % 2):
            whole += 1
        return whole

    def _pump_audio(self, target: int, final: bool) -> None:
        """Encode (or, encoded ahead, take) and mux soundtrack samples up to `target` (silence
        past the end of the audio): whole chunks only, the last partial one when `final`."""
        assert self._audio is not None
        while self._audio_pos < target:
            count = min(AUDIO_CHUNK, target - self._audio_pos)
            if count < AUDIO_CHUNK and not final:
                return
            if self._ahead is not None:
                packets = self._ahead.take(count)
            elif self._chunk_source is not None:
                samples, packets = next(self._chunk_source, (0, []))
                if samples != count:
                    raise MediaError(f"audio chunk of {samples} samples where {count} were due")
            else:
                packets = self._audio_stream.encode(self._chunk_frame(self._audio_pos, count))
            for packet in packets:
                self._container.mux(packet)
            self._audio_pos += count

    def _encoded_chunks(self, total: int) -> Iterator[tuple[int, list[Any]]]:
        """(samples, packets) for each chunk of a `total`-sample soundtrack, in the chunks
        `_pump_audio` muxes: whole AUDIO_CHUNKs, then the rest. With `still`, long silences
        are copies of the encoder's silent frame (`media.aac_silence`)."""
        for index, start in enumerate(range(0, total, AUDIO_CHUNK)):
            count = min(AUDIO_CHUNK, total - start)
            if self._silence is not None and self._silence.skipped(index):
                yield count, []
                continue
            packets = list(self._audio_stream.encode(self._chunk_frame(start, count)))
            yield count, (self._silence.after(index, packets) if self._silence is not None
                          else packets)

    def _encode_flush(self) -> list[Any]:
        """The audio encoder's last packets (and any copies they precede)."""
        packets = list(self._audio_stream.encode(None))
        return self._silence.after(None, packets) if self._silence is not None else packets

    def _chunk_frame(self, start: int, count: int) -> av.AudioFrame:
        """`count` samples of the soundtrack from `start`, silence past its end."""
        assert self._audio is not None
        chunk = np.zeros((2, count), np.float32)
        available = self._audio[:, start:start + count]
        chunk[:, :available.shape[1]] = available
        return self._audio_frame(chunk, start)

    def _audio_frame(self, chunk: np.ndarray, start: int) -> av.AudioFrame:
        if self.profile.audio_format == "s16":
            ints = np.round(chunk * 32767.0).astype("<i2")
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(ints.T).reshape(1, -1), format="s16", layout="stereo")
        else:
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(chunk), format=self.profile.audio_format, layout="stereo")
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        frame.time_base = Fraction(1, AUDIO_RATE)
        return frame

    # -- finishing -------------------------------------------------------------------------

    def _finish(self) -> None:
        if self.frames_written == 0:
            raise MediaError(f"{self.path.name}: no frames were written")
        if self.frames_expected is not None and self.frames_written != self.frames_expected:
            raise MediaError(f"{self.path.name}: {self.frames_written} frames written, "
                             f"{self.frames_expected} declared")
        if self._repeats is not None:
            self._repeats.finish(self._video.encode(None))
        else:
            for packet in self._video.encode(None):
                self._container.mux(packet)
        if self._audio_stream is not None:
            self._pump_audio(self._samples_at(self.frames_written), final=True)
            flush = (self._ahead.take_flush() if self._ahead is not None
                     else self._encode_flush() if self._chunk_source is not None
                     else self._audio_stream.encode(None))
            for packet in flush:
                self._container.mux(packet)
        container, self._container = self._container, None
        container.close()

    def _close_quietly(self) -> None:
        if self._ahead is not None:
            self._ahead.cancel()
        container, self._container = self._container, None
        if container is not None:
            with contextlib.suppress(Exception):
                container.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Finish and publish the file, or discard it if the block raised."""
        atomic, self._atomic = self._atomic, None
        if atomic is None:
            return
        if exc_type is not None:
            self._close_quietly()
            atomic.__exit__(exc_type, exc, tb)
            return
        try:
            self._finish()
        except BaseException:
            self._close_quietly()
            atomic.__exit__(*sys.exc_info())
            raise
        atomic.__exit__(None, None, None)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class MediaInfo:
    """What `probe` learns about a movie file."""

    path: Path
    frame_count: int
    """Video frames, counted exactly (one demuxed packet per frame)."""
    fps: Fraction
    width: int
    height: int
    codec: str
    """Video codec name as FFmpeg's decoder reports it (h264, dnxhd, prores…)."""
    pix_fmt: str
    audio_codec: str | None = None
    audio_rate: int | None = None
    audio_channels: int | None = None
    audio_duration: float | None = None
    """Seconds of audio (None without an audio stream)."""
    metadata: dict[str, str] = field(default_factory=dict)
    """Container tags, keys lower-cased (Matroska stores them upper-case)."""
    timecode: str | None = None
    """The start timecode (from the container, the video stream or a tmcd track), if any."""

    @property
    def duration(self) -> float:
        """Seconds of video: frame_count / fps."""
        return float(self.frame_count / self.fps)


def _open_for_reading(path: Path | str) -> Any:
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path} does not exist")
    try:
        return av.open(str(path))
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: not a readable media file ({exc})") from exc


def _stream_rate(stream: Any) -> Fraction:
    for rate in (stream.average_rate, stream.base_rate, stream.guessed_rate):
        if rate:
            return Fraction(rate)
    raise MediaError("video stream has no frame rate")


def _audio_seconds(container: Any, stream: Any) -> float:
    """The audio stream's duration: from the header when known, else summed packet durations."""
    if stream.duration is not None and stream.time_base:
        return float(stream.duration * stream.time_base)
    total = 0
    container.seek(0)
    for packet in container.demux(stream):
        if packet.size and packet.duration:
            total += packet.duration
    return float(total * stream.time_base)


def _timecode_tag(container: Any) -> str | None:
    """The first `timecode` tag of the container or any of its streams."""
    for tags in [container.metadata, *(stream.metadata for stream in container.streams)]:
        for key, value in tags.items():
            if str(key).lower() == "timecode" and value:
                return str(value)
    return None


def probe(path: Path | str) -> MediaInfo:
    """Describe a movie file: exact video frame count, exact fps, sizes, codecs, audio, tags.

    The frame count demuxes the video packets (no decoding), so it is exact yet fast.
    """
    with _open_for_reading(path) as container:
        if not container.streams.video:
            raise MediaError(f"{path}: no video stream")
        video = container.streams.video[0]
        ctx = video.codec_context
        info: dict[str, Any] = {
            "path": Path(path), "fps": _stream_rate(video), "width": ctx.width,
            "height": ctx.height, "codec": ctx.name,
            "pix_fmt": ctx.pix_fmt or (ctx.format.name if ctx.format else ""),
            "metadata": {str(k).lower(): str(v) for k, v in container.metadata.items()},
        }
        if container.streams.audio:
            audio = container.streams.audio[0]
            info.update(
                audio_codec=audio.codec_context.name, audio_rate=audio.codec_context.sample_rate,
                audio_channels=audio.codec_context.channels,
                audio_duration=_audio_seconds(container, audio))
        info["timecode"] = _timecode_tag(container)
        container.seek(0)
        count = sum(1 for packet in container.demux(video) if packet.size)
    return MediaInfo(frame_count=count, **info)


def read_frames(path: Path | str) -> Iterator[np.ndarray]:
    """Decode the first video stream as HxWx3 uint8 RGB frames, one at a time."""
    with _open_for_reading(path) as container:
        if not container.streams.video:
            raise MediaError(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            yield frame.to_ndarray(format="rgb24")


def read_audio(path: Path | str) -> tuple[np.ndarray, int]:
    """Decode the first audio stream as float32 mono (the channels' mean) and its sample rate."""
    with _open_for_reading(path) as container:
        if not container.streams.audio:
            raise MediaError(f"{path}: no audio stream")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        expected = (round(stream.duration * stream.time_base * rate)
                    if stream.duration is not None and stream.time_base else None)
        resampler: av.AudioResampler | None = None
        parts: list[np.ndarray] = []
        for frame in container.decode(stream):
            if resampler is None:
                resampler = av.AudioResampler(format="fltp", layout=frame.layout.name, rate=rate)
            parts += [out.to_ndarray() for out in resampler.resample(frame)]
        if resampler is not None:
            parts += [out.to_ndarray() for out in resampler.resample(None)]
    if not parts:
        return np.zeros(0, np.float32), rate
    mono = np.concatenate(parts, axis=1).mean(axis=0).astype(np.float32)
    if expected is not None:
        mono = mono[:expected]  # drop the encoder's padding of the last (AAC) frame
    return mono, rate

