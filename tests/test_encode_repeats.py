"""Frames that repeat the previous one are written as copies, without the encoder (an intra
packet again, an H.264 all-skip picture): the movie decodes to the same pictures as encoding
every frame, in FFmpeg with strict error detection and in MLT's melt, with keyframes where
the GOP says."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from render_engine.media import h264_repeat
from render_engine.media.encode import VideoWriter, probe, read_frames

SIZE = (256, 144)


def _frames(count: int = 150) -> list[tuple[np.ndarray, list | None]]:
    """A still picture (smooth, with text-like edges) that changes in a box now and then."""
    y, x = np.mgrid[0:SIZE[1], 0:SIZE[0]]
    picture = np.stack([x * 255 // SIZE[0], y * 255 // SIZE[1], 90 + 0 * x], -1).astype(np.uint8)
    picture[40:48, 20:200] = 250
    out: list[tuple[np.ndarray, list | None]] = []
    for index in range(count):
        changed: list | None = [] if index else None
        if index % 31 == 7:
            picture = picture.copy()
            picture[60:100, 30:90] = (index * 53) % 256
            changed = [(30, 60, 90, 100)]
        out.append((picture, changed))
    return out


def _write(path: Path, profile: str, frames: list, copies: bool) -> VideoWriter:
    with VideoWriter(path, *SIZE, 24, profile=profile, still=True,
                     frames=len(frames)) as writer:
        for frame, changed in frames:
            writer.write(frame, changed=changed if copies else None)
    return writer


def _strict_decode(path: Path) -> tuple[list[np.ndarray], list[str]]:
    """Every frame, decoded with FFmpeg's strictest error detection; and its complaints."""
    complaints: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: complaints.append(record.getMessage())  # type: ignore
    logger = logging.getLogger("libav")
    logger.addHandler(handler)
    level = av.logging.get_level()
    av.logging.set_level(av.logging.WARNING)
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.codec_context.options = {"err_detect": "crccheck+bitstream+buffer+explode"}
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    finally:
        logger.removeHandler(handler)
        av.logging.set_level(level)
    return frames, complaints


@pytest.mark.parametrize("profile, suffix, gop", [
    ("web", ".mp4", 250), ("kdenlive", ".mp4", 24), ("resolve", ".mov", 1)])
def test_copies_decode_as_the_encoded_frames(tmp_path: Path, profile: str, suffix: str,
                                              gop: int) -> None:
    frames = _frames(300)
    copied = _write(tmp_path / f"copied{suffix}", profile, frames, copies=True)
    encoded = _write(tmp_path / f"encoded{suffix}", profile, frames, copies=False)
    changes = sum(1 for _f, changed in frames if changed is None or changed)
    keyframes = (300 - 1) // gop if gop > 1 else 0
    assert copied.frames_copied == 300 - changes - keyframes
    assert encoded.frames_copied == 0
    info = probe(tmp_path / f"copied{suffix}")
    assert info.frame_count == 300 and info.fps == 24
    decoded, complaints = _strict_decode(tmp_path / f"copied{suffix}")
    reference = list(read_frames(tmp_path / f"encoded{suffix}"))
    assert not complaints and len(decoded) == len(reference) == 300
    for index, ((source, changed), ours, theirs) in enumerate(zip(
            frames, decoded, reference, strict=True)):
        if changed == [] and (gop == 1 or index % gop):  # a copy: the picture before it
            assert np.array_equal(ours, decoded[index - 1]), index
        error = np.abs(ours.astype(int) - source.astype(int)).mean()
        usual = np.abs(theirs.astype(int) - source.astype(int)).mean()
        assert error <= usual + 0.25, index  # as good as encoding it (which refines a bit)
    with av.open(str(tmp_path / f"copied{suffix}")) as container:
        stream = container.streams.video[0]
        keys = [i for i, p in enumerate(container.demux(stream)) if p.size and p.is_keyframe]
    assert keys == list(range(0, 300, gop))


@pytest.mark.skipif(shutil.which("melt") is None, reason="MLT's melt is not installed")
def test_melt_plays_the_copies_as_the_encoded_frames(tmp_path: Path) -> None:
    frames = _frames(120)
    _write(tmp_path / "copied.mp4", "kdenlive", frames, copies=True)
    _write(tmp_path / "encoded.mp4", "kdenlive", frames, copies=False)
    played = []
    for name in ("copied", "encoded"):
        out = tmp_path / f"{name}.mkv"
        subprocess.run(["melt", "-quiet", str(tmp_path / f"{name}.mp4"), "-consumer",
                        f"avformat:{out}", "vcodec=ffv1", "an=1"], check=True, timeout=120,
                       capture_output=True)
        played.append(list(read_frames(out)))
    assert len(played[0]) == len(played[1]) == 120
    worst = max(np.abs(a.astype(int) - b.astype(int)).mean()
                for a, b in zip(*played, strict=True))
    assert worst < 0.5


def test_a_stream_it_cannot_rewrite_is_encoded_frame_by_frame(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    from render_engine.media import encode

    cabac = dict(encode.ENCODE_PROFILES["web"].still_video_options or {})
    cabac["x264-params"] = cabac["x264-params"].replace("cabac=0", "cabac=1")
    monkeypatch.setitem(encode.ENCODE_PROFILES, "web", encode.EncodeProfile(
        **{**encode.ENCODE_PROFILES["web"].__dict__, "still_video_options": cabac}))
    frames = _frames(60)
    writer = _write(tmp_path / "cabac.mp4", "web", frames, copies=True)
    assert writer.frames_copied == 0 and writer.frames_repeated > 50
    decoded, complaints = _strict_decode(tmp_path / "cabac.mp4")
    assert len(decoded) == 60 and not complaints


def test_exp_golomb_and_emulation_prevention_round_trip() -> None:
    rng = np.random.default_rng(5)
    values = [int(v) for v in rng.integers(0, 5000, 300)]
    signed = [int(v) for v in rng.integers(-900, 900, 300)]
    bits = h264_repeat._BitWriter()
    for u, s in zip(values, signed, strict=True):
        bits.ue(u)
        bits.se(s)
    reader = h264_repeat._Bits(bits.trailing())
    assert [(reader.ue(), reader.se()) for _ in values] == list(zip(values, signed,
                                                                    strict=True))
    for _ in range(200):
        rbsp = bytes(rng.choice([0, 0, 0, 1, 2, 3, 4, 255], int(rng.integers(1, 40))))
        payload = h264_repeat.escape(rbsp)
        assert b"\x00\x00\x00" not in payload and b"\x00\x00\x01" not in payload
        assert b"\x00\x00\x02" not in payload
        assert h264_repeat.unescape(payload) == rbsp
