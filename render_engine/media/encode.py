"""Encode frames (and an optional soundtrack) to NLE-friendly files; probe and read them back.

Every tier hands numpy RGB frames to `VideoWriter`, which streams them through PyAV into a
temporary file beside the target and renames it into place only when the encode succeeded, so
the render cache never holds half a movie. Profiles match the editors soloreel round-trips with:
H.264/AAC for the web and Kdenlive, DNxHR HQ/PCM in .mov for DaVinci Resolve (the free Linux
build decodes neither H.264 nor AAC), ProRes 4444 for layers with alpha.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, VideoReformatter

from render_engine.atomic import atomic_path
from render_engine.errors import SoloreelError

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


_H264 = {"crf": "20", "preset": "veryfast", "profile": "high"}

ENCODE_PROFILES: dict[str, EncodeProfile] = {
    "web": EncodeProfile(
        name="web", suffix=".mp4", video_codec="libx264", pix_fmt="yuv420p",
        video_options=dict(_H264), audio_codec="aac", audio_format="fltp",
        audio_bit_rate=192_000, container_options={"movflags": "+faststart"},
    ),
    "kdenlive": EncodeProfile(
        name="kdenlive", suffix=".mp4", video_codec="libx264", pix_fmt="yuv420p",
        video_options=dict(_H264), audio_codec="aac", audio_format="fltp",
        audio_bit_rate=192_000, gop_seconds=1.0,
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
    ) -> None:
        """`timecode` (HH:MM:SS:FF) is the movie's start timecode, written on the video stream
        (mov/mp4 get a tmcd track) so NLEs place and conform the media by it."""
        self.path = Path(path)
        self.width = int(width)
        self.height = int(height)
        self.fps = fps_fraction(fps)
        self.profile = pick_profile(profile, self.width, self.height)
        self.metadata = {str(k): str(v) for k, v in (metadata or {}).items()}
        self.timecode = timecode
        self.frames_written = 0
        self._check_geometry()
        self._audio = resample_audio(*audio) if audio is not None else None
        self._audio_pos = 0
        self._atomic: contextlib.AbstractContextManager[Path] | None = None
        self._container: Any = None
        self._video: Any = None
        self._audio_stream: Any = None
        self._reformatter = VideoReformatter()
        self._time_base = Fraction(1) / self.fps

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
        video.options = dict(self.profile.video_options)
        self._video = video
        if self._audio is not None:
            stream = container.add_stream(self.profile.audio_codec, rate=AUDIO_RATE)
            stream.codec_context.layout = "stereo"
            stream.codec_context.format = self.profile.audio_format
            if self.profile.audio_bit_rate:
                stream.codec_context.bit_rate = self.profile.audio_bit_rate
            self._audio_stream = stream

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

    def write(self, frame: np.ndarray) -> None:
        """Encode one HxWx3 uint8 RGB frame (HxWx4 RGBA for alpha profiles)."""
        if self._container is None:
            raise RuntimeError("VideoWriter.write called outside its `with` block")
        data = np.asarray(frame)
        channels = (3, 4) if self.profile.alpha else (3,)
        if (data.dtype != np.uint8 or data.ndim != 3 or data.shape[2] not in channels
                or data.shape[:2] != (self.height, self.width)):
            raise ValueError(
                f"frame must be {self.height}x{self.width}x{'/'.join(map(str, channels))} "
                f"uint8, got {data.shape} {data.dtype}")
        source = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(data), format="rgba" if data.shape[2] == 4 else "rgb24")
        encoded = self._reformatter.reformat(
            source, format=self.profile.pix_fmt, dst_colorspace=Colorspace.ITU709,
            dst_color_range=ColorRange.MPEG)
        encoded.pts = self.frames_written
        encoded.time_base = self._time_base
        for packet in self._video.encode(encoded):
            self._container.mux(packet)
        self.frames_written += 1
        if self._audio_stream is not None:
            self._pump_audio(self._samples_at(self.frames_written), final=False)

    def _samples_at(self, frames: int) -> int:
        """Audio samples spanning the first `frames` video frames (exact rational rounding)."""
        return round(Fraction(frames) * AUDIO_RATE / self.fps)

    def _pump_audio(self, target: int, final: bool) -> None:
        """Encode soundtrack samples up to `target` (silence past the end of the audio)."""
        assert self._audio is not None
        while self._audio_pos < target:
            count = min(AUDIO_CHUNK, target - self._audio_pos)
            if count < AUDIO_CHUNK and not final:
                return
            chunk = np.zeros((2, count), np.float32)
            available = self._audio[:, self._audio_pos:self._audio_pos + count]
            chunk[:, :available.shape[1]] = available
            for packet in self._audio_stream.encode(self._audio_frame(chunk)):
                self._container.mux(packet)
            self._audio_pos += count

    def _audio_frame(self, chunk: np.ndarray) -> av.AudioFrame:
        if self.profile.audio_format == "s16":
            ints = np.round(chunk * 32767.0).astype("<i2")
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(ints.T).reshape(1, -1), format="s16", layout="stereo")
        else:
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(chunk), format=self.profile.audio_format, layout="stereo")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._audio_pos
        frame.time_base = Fraction(1, AUDIO_RATE)
        return frame

    # -- finishing -------------------------------------------------------------------------

    def _finish(self) -> None:
        if self.frames_written == 0:
            raise MediaError(f"{self.path.name}: no frames were written")
        for packet in self._video.encode(None):
            self._container.mux(packet)
        if self._audio_stream is not None:
            self._pump_audio(self._samples_at(self.frames_written), final=True)
            for packet in self._audio_stream.encode(None):
                self._container.mux(packet)
        container, self._container = self._container, None
        container.close()

    def _close_quietly(self) -> None:
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

