"""A slate's long silences are copies of the encoder's own silent AAC frame: the soundtrack
decodes to the same sound (silence exact, speech as encoded), with every frame's timestamp in
place, and FFmpeg decodes it without a complaint."""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import numpy as np
import pytest

from render_engine.media import aac_silence
from render_engine.media.encode import AUDIO_RATE, VideoWriter, probe, read_audio

FRAMES = 24 * 6


def _soundtrack() -> np.ndarray:
    """Speech-like bursts with long exact silences between them (mono, 48 kHz)."""
    rng = np.random.default_rng(4)
    audio = np.zeros(AUDIO_RATE * 6, np.float32)
    for start, end in ((0.2, 1.1), (3.4, 4.0), (4.05, 4.5)):
        span = slice(int(start * AUDIO_RATE), int(end * AUDIO_RATE))
        t = np.arange(span.stop - span.start) / AUDIO_RATE
        audio[span] = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))
                       + 0.03 * rng.standard_normal(len(t)))
    return audio


def _write(path: Path, audio: np.ndarray) -> VideoWriter:
    picture = np.full((90, 160, 3), 70, np.uint8)
    with VideoWriter(path, 160, 90, 24, still=True, frames=FRAMES,
                     audio=(audio, AUDIO_RATE)) as writer:
        for index in range(FRAMES):
            writer.write(picture, changed=None if index == 0 else [])
    return writer


def test_silences_are_copied_and_decode_as_encoded(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    audio = _soundtrack()
    copied = _write(tmp_path / "copied.mp4", audio)
    monkeypatch.setattr(aac_silence, "MARGIN", 10_000)  # nothing long enough to skip
    encoded = _write(tmp_path / "encoded.mp4", audio)
    assert encoded.audio_frames_copied == 0
    assert copied.audio_frames_copied > 0.5 * (6 * AUDIO_RATE / 1024 - 40)
    ours, rate = read_audio(tmp_path / "copied.mp4")
    theirs, _rate = read_audio(tmp_path / "encoded.mp4")
    assert rate == AUDIO_RATE and len(ours) == len(theirs)
    assert probe(tmp_path / "copied.mp4").audio_duration == pytest.approx(6.0, abs=0.03)
    silent = slice(int(1.5 * AUDIO_RATE), int(3.0 * AUDIO_RATE))
    assert np.abs(ours[silent]).max() == 0.0
    speech = slice(int(3.4 * AUDIO_RATE), int(4.5 * AUDIO_RATE))
    error = np.sqrt(np.mean((ours[speech] - theirs[speech]) ** 2))
    level = np.sqrt(np.mean(theirs[speech] ** 2))
    assert error < 0.1 * level  # the speech after a gap, as the encoder makes it anyway
    with av.open(str(tmp_path / "copied.mp4")) as container:
        stream = container.streams.audio[0]
        pts = [p.pts for p in container.demux(stream) if p.size]
    assert all(b - a == 1024 for a, b in itertools.pairwise(pts))
    with av.open(str(tmp_path / "copied.mp4")) as container:
        stream = container.streams.audio[0]
        stream.codec_context.options = {"err_detect": "crccheck+bitstream+buffer+explode"}
        assert sum(frame.samples for frame in container.decode(stream)) >= len(ours)


def test_which_chunks_are_skipped() -> None:
    silent = np.array([False] + [True] * 12 + [False] + [True] * 8)
    copies = aac_silence.SilenceCopies(None, silent, 1024)
    before, after = aac_silence.MARGIN, aac_silence.MARGIN_AFTER
    first = [before + 1 <= i <= 12 - after for i in range(13)]  # silent 1..12
    second = [14 + before <= i <= 21 - after for i in range(13, 22)]  # silent 14..21
    assert copies.skip.tolist() == first + second
    assert sum(first) == 12 - before - after and sum(second) == 8 - before - after


def test_the_soundtrack_encoded_ahead_or_in_line_is_the_same_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A render pool's workers encode the soundtrack in line (no thread): the same bytes as a
    writer encoding it ahead on a thread of its own, silences copied either way."""
    from render_engine.media import encode

    audio = _soundtrack()
    ahead = _write(tmp_path / "ahead.mp4", audio)
    monkeypatch.setattr(encode, "AUDIO_THREAD", False)
    in_line = _write(tmp_path / "in_line.mp4", audio)
    assert ahead.audio_frames_copied == in_line.audio_frames_copied > 0
    assert (tmp_path / "ahead.mp4").read_bytes() == (tmp_path / "in_line.mp4").read_bytes()
