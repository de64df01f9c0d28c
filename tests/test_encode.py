"""VideoWriter / probe / read_*: exact frame counts and rates, audio fitted to the video, NLE
profiles, atomic writes."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from render_engine.media.encode import (
    AUDIO_CHUNK,
    AUDIO_RATE,
    ENCODE_PROFILES,
    MediaError,
    VideoWriter,
    fps_fraction,
    pick_profile,
    probe,
    read_audio,
    read_frames,
)

AUDIO_FRAME_S = AUDIO_CHUNK / AUDIO_RATE


def _frames(count: int, width: int = 64, height: int = 48) -> list[np.ndarray]:
    """Frames that differ from each other (a moving bar on a colour ramp)."""
    frames = []
    for i in range(count):
        frame = np.zeros((height, width, 3), np.uint8)
        frame[..., 0] = (i * 17) % 256
        frame[..., 1] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
        frame[:, (i * 3) % width] = 255
        frames.append(frame)
    return frames


def _write(path: Path, count: int, fps: float | Fraction = 24, profile: str = "web",
           audio: tuple[np.ndarray, int] | None = None, size: tuple[int, int] = (64, 48),
           metadata: dict[str, str] | None = None) -> Path:
    with VideoWriter(path, size[0], size[1], fps, profile=profile, audio=audio,
                     metadata=metadata) as writer:
        for frame in _frames(count, *size):
            writer.write(frame)
    return path


def _tone(seconds: float, rate: int, channels: int = 1, level: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    mono = (level * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return mono if channels == 1 else np.stack([mono, -mono], axis=1)


@pytest.mark.parametrize("profile,suffix", [("web", ".mp4"), ("kdenlive", ".mp4"),
                                            ("resolve", ".mov")])
@pytest.mark.parametrize("fps,expected", [(24, Fraction(24)), (23.976, Fraction(24000, 1001)),
                                          (25.0, Fraction(25)), (29.97, Fraction(30000, 1001))])
def test_exact_frame_count_and_rate(tmp_path: Path, profile: str, suffix: str, fps: float,
                                    expected: Fraction) -> None:
    size = (320, 180) if profile == "resolve" else (64, 48)
    path = _write(tmp_path / f"clip{suffix}", 37, fps, profile, size=size)
    info = probe(path)
    assert info.frame_count == 37
    assert info.fps == expected
    assert (info.width, info.height) == size
    assert info.duration == pytest.approx(float(37 / expected))
    assert info.audio_codec is None and info.audio_duration is None


def test_frame_timestamps_are_exact_multiples_of_one_over_fps(tmp_path: Path) -> None:
    path = _write(tmp_path / "ntsc.mp4", 30, Fraction(24000, 1001))
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = sorted(frame.pts * stream.time_base for frame in container.decode(stream))
    step = Fraction(1001, 24000)
    assert [t - times[0] for t in times] == [i * step for i in range(30)]


def test_read_frames_round_trips_pixels(tmp_path: Path) -> None:
    colour = np.array([200, 40, 90], np.uint8)
    frames = [np.broadcast_to(colour, (48, 64, 3)).copy() for _ in range(5)]
    with VideoWriter(tmp_path / "flat.mp4", 64, 48, 24) as writer:
        for frame in frames:
            writer.write(frame)
    decoded = list(read_frames(tmp_path / "flat.mp4"))
    assert len(decoded) == 5
    assert decoded[0].shape == (48, 64, 3) and decoded[0].dtype == np.uint8
    assert np.abs(decoded[2][24, 32].astype(int) - colour).max() <= 4


@pytest.mark.parametrize("audio_seconds", [0.4, 3.0])
@pytest.mark.parametrize("profile,suffix", [("web", ".mp4"), ("resolve", ".mov")])
def test_audio_is_cut_or_padded_to_the_video(tmp_path: Path, audio_seconds: float,
                                              profile: str, suffix: str) -> None:
    size = (320, 180) if profile == "resolve" else (64, 48)
    path = _write(tmp_path / f"a{suffix}", 30, 24, profile, audio=(_tone(audio_seconds, 22050),
                                                                    22050), size=size)
    info = probe(path)
    video_seconds = 30 / 24
    assert info.audio_rate == AUDIO_RATE and info.audio_channels == 2
    assert abs(info.audio_duration - video_seconds) <= AUDIO_FRAME_S
    samples, rate = read_audio(path)
    assert rate == AUDIO_RATE
    assert abs(len(samples) / rate - video_seconds) <= AUDIO_FRAME_S
    if audio_seconds < video_seconds:  # the tail is silence, the start is the tone
        assert np.abs(samples[-2000:]).max() < 0.02
        assert np.abs(samples[2000:8000]).max() > 0.3


def test_resolve_profile_writes_dnxhr_and_pcm_in_mov(tmp_path: Path) -> None:
    path = _write(tmp_path / "shot.mov", 12, 24, "resolve", audio=(_tone(2.0, 48000, 2), 48000),
                  size=(320, 180))
    info = probe(path)
    assert info.codec == "dnxhd"
    assert info.pix_fmt == "yuv422p"
    assert info.audio_codec == "pcm_s16le"
    assert info.audio_duration == pytest.approx(12 / 24, abs=1 / AUDIO_RATE)
    with av.open(str(path)) as container:
        assert "mov" in container.format.name
        assert container.streams.video[0].codec_context.profile == "DNXHR HQ"


def test_resolve_profile_below_dnxhr_minimum_falls_back_to_prores(tmp_path: Path) -> None:
    assert pick_profile("resolve", 160, 90).video_codec == "prores_ks"
    info = probe(_write(tmp_path / "small.mov", 3, 24, "resolve", size=(160, 90)))
    assert info.codec == "prores" and info.frame_count == 3


def test_mono_audio_keeps_its_level_on_both_channels(tmp_path: Path) -> None:
    path = _write(tmp_path / "level.mov", 24, 24, "resolve", size=(320, 180),
                  audio=(_tone(1.0, 16000, level=0.5), 16000))
    with av.open(str(path)) as container:
        planes = np.concatenate([f.to_ndarray().reshape(-1, 2) for f in
                                 container.decode(audio=0)])
    peaks = np.abs(planes[4800:-4800].astype(np.float32) / 32768).max(axis=0)
    assert peaks == pytest.approx([0.5, 0.5], abs=0.02)


def test_container_metadata_is_written(tmp_path: Path) -> None:
    meta = {"comment": "soloreel shot cf-010", "title": "Campfire", "soloreel_shot": "cf-010"}
    for suffix, profile in ((".mp4", "web"), (".mov", "resolve")):
        info = probe(_write(tmp_path / f"m{suffix}", 2, 24, profile, metadata=meta,
                            size=(320, 180)))
        assert {k: info.metadata.get(k) for k in meta} == meta


def test_exception_inside_the_block_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "shot.mp4"
    with pytest.raises(RuntimeError, match="render crashed"), \
            VideoWriter(target, 64, 48, 24, audio=(_tone(1.0, 48000), 48000)) as writer:
        for frame in _frames(5):
            writer.write(frame)
        raise RuntimeError("render crashed")
    assert list(tmp_path.iterdir()) == []


def test_failed_rewrite_keeps_the_old_file(tmp_path: Path) -> None:
    target = _write(tmp_path / "shot.mp4", 4)
    before = target.read_bytes()
    with pytest.raises(ValueError, match="frame must be"), \
            VideoWriter(target, 64, 48, 24) as writer:
        writer.write(np.zeros((48, 64, 3), np.uint8))
        writer.write(np.zeros((10, 10, 3), np.uint8))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shot.mp4"]


def test_no_frames_is_an_error_and_no_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="no frames"), VideoWriter(tmp_path / "e.mp4", 64, 48,
                                                                   24):
        pass
    assert list(tmp_path.iterdir()) == []


def test_prores4444_keeps_alpha(tmp_path: Path) -> None:
    rgba = np.zeros((48, 64, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:24, :, 3] = 255
    with VideoWriter(tmp_path / "layer.mov", 64, 48, 24, profile="prores4444") as writer:
        writer.write(rgba)
    with av.open(str(tmp_path / "layer.mov")) as container:
        decoded = next(container.decode(video=0)).to_ndarray(format="rgba")
    assert decoded[10, 10, 3] == 255 and decoded[40, 10, 3] == 0
    assert probe(tmp_path / "layer.mov").codec == "prores"


def test_profile_and_suffix_are_checked(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="unknown encode profile"):
        VideoWriter(tmp_path / "x.mp4", 64, 48, 24, profile="vhs")
    with pytest.raises(MediaError, match=r"\.mov"):
        VideoWriter(tmp_path / "x.mp4", 320, 180, 24, profile="resolve")
    with pytest.raises(MediaError, match="even"):
        VideoWriter(tmp_path / "x.mp4", 63, 48, 24)


def test_profiles_use_the_documented_codecs() -> None:
    for name in ("web", "kdenlive"):
        profile = ENCODE_PROFILES[name]
        assert (profile.video_codec, profile.pix_fmt, profile.audio_codec, profile.suffix) == (
            "libx264", "yuv420p", "aac", ".mp4")
    resolve = ENCODE_PROFILES["resolve"]
    assert (resolve.video_codec, resolve.video_options["profile"], resolve.pix_fmt,
            resolve.audio_codec, resolve.suffix) == ("dnxhd", "dnxhr_hq", "yuv422p",
                                                     "pcm_s16le", ".mov")
    for profile in ENCODE_PROFILES.values():
        av.codec.Codec(profile.video_codec, "w")
        av.codec.Codec(profile.audio_codec, "w")


def test_fps_fraction() -> None:
    assert fps_fraction(23.976) == Fraction(24000, 1001)
    assert fps_fraction(59.94) == Fraction(60000, 1001)
    assert fps_fraction(24) == 24 and fps_fraction(12.5) == Fraction(25, 2)
    with pytest.raises(ValueError):
        fps_fraction(0)
