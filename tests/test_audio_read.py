"""Cached lines are read straight from their 16-bit WAVs, to the very samples FFmpeg decodes;
other files still go through FFmpeg."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

import render_engine.audio.wav as wav


@pytest.mark.parametrize("channels", [1, 2])
def test_pcm_wavs_read_directly_match_ffmpeg(tmp_path: Path, channels: int,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    pcm = rng.integers(-32768, 32767, (24000, channels), dtype=np.int16)
    path = tmp_path / "line.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(24000)
        out.writeframes(pcm.tobytes())
    direct = wav.read_audio_any(path)
    monkeypatch.setattr(wav, "_read_pcm_wav", lambda _path: None)
    decoded = wav.read_audio_any(path)
    assert direct[1] == decoded[1] == 24000
    assert direct[0].shape == decoded[0].shape == (24000,)
    assert np.abs(direct[0] - decoded[0]).max() < 1e-6


def test_other_files_are_decoded_by_ffmpeg(tmp_path: Path) -> None:
    tone = (0.3 * np.sin(np.arange(48000) / 5.0)).astype(np.float32)
    wav.write_wav(tmp_path / "t.wav", tone, 48000)
    import av

    with av.open(str(tmp_path / "t.m4a"), "w") as container:  # AAC: not a PCM WAV
        stream = container.add_stream("aac", rate=48000)
        stream.codec_context.layout = "mono"
        for start in range(0, 48000, 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = 48000, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    assert wav._read_pcm_wav(tmp_path / "t.m4a") is None
    samples, rate = wav.read_audio_any(tmp_path / "t.m4a")
    assert rate == 48000 and abs(len(samples) - 48000) < 2048
