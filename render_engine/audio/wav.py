"""WAV out (48 kHz 16-bit PCM, the rate editors expect) and any audio in, through PyAV."""

from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np

from render_engine.atomic import atomic_path
from render_engine.audio.resample import resample
from render_engine.audio.voice import VoiceError

FADE_SECONDS = 0.005


def _fade_ends(samples: np.ndarray, rate: int) -> np.ndarray:
    """Raised-cosine fade-in and fade-out of 5 ms so a clip never starts or ends on a click."""
    out = samples.copy()
    n = min(round(FADE_SECONDS * rate), out.size // 2)
    if n > 0:
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n, dtype=np.float32))
        out[:n] *= ramp
        out[-n:] *= ramp[::-1]
    return out


def write_wav(path: Path | str, samples: np.ndarray, rate: int,
              target_rate: int = 48000) -> Path:
    """Write mono float `samples` (at `rate`) as a 16-bit PCM WAV at `target_rate`.

    Resampled with libswresample, faded at both ends, clipped to [-1, 1] and written
    atomically, so an interrupted render never leaves half a WAV behind.
    """
    path = Path(path)
    audio = resample(np.asarray(samples, dtype=np.float32).reshape(-1), rate, target_rate)
    audio = _fade_ends(audio, target_rate)
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    with atomic_path(path, suffix=".wav") as tmp, wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(int(target_rate))
        out.writeframes(pcm.tobytes())
    return path


def read_audio_any(path: Path | str) -> tuple[np.ndarray, int]:
    """Decode any audio file FFmpeg reads into (float32 mono samples, rate).

    Why: recorded takes and reference voices arrive as WAV, MP3, M4A…; the caller gets one
    form. A missing or unreadable file is a VoiceError naming it.
    """
    path = Path(path)
    pcm = _read_pcm_wav(path)
    if pcm is not None:
        return pcm
    pieces: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise VoiceError(f"{path}: has no audio stream; use a WAV, MP3 or M4A file")
            stream = container.streams.audio[0]
            rate = int(stream.rate or stream.codec_context.sample_rate or 0)
            resampler = av.AudioResampler(format="fltp")  # planar float, layout kept
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    rate = out.sample_rate
                    pieces.append(out.to_ndarray().mean(axis=0))  # mono = channel average
            for out in resampler.resample(None):
                pieces.append(out.to_ndarray().mean(axis=0))
    except VoiceError:
        raise
    except (OSError, av.FFmpegError, ValueError) as error:
        raise VoiceError(
            f"{path}: cannot be read as audio ({error}); export it as a WAV or MP3"
        ) from error
    if not rate:
        raise VoiceError(f"{path}: audio has no sample rate; re-export it as a WAV")
    samples = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    return np.ascontiguousarray(samples, dtype=np.float32), int(rate)


def _read_pcm_wav(path: Path) -> tuple[np.ndarray, int] | None:
    """A 16-bit PCM WAV (what `write_wav` writes: every cached line) read directly, as
    `read_audio_any` would decode it, without starting a decoder; None for any other file."""
    if path.suffix.lower() != ".wav":
        return None
    try:
        with wave.open(str(path), "rb") as source:
            if source.getsampwidth() != 2 or source.getcomptype() != "NONE":
                return None
            channels, rate = source.getnchannels(), source.getframerate()
            data = source.readframes(source.getnframes())
    except (OSError, EOFError, wave.Error):
        return None
    samples = np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
    if channels > 1:
        samples = samples[:len(samples) // channels * channels].reshape(-1, channels).mean(1)
    return np.ascontiguousarray(samples, dtype=np.float32), int(rate)
