"""Fundamental-frequency estimates of speech: a per-frame track and its median.

The median tells characters' voices apart (tests, voice conversion targets); the track drives
the pitch shifter of the offline voice conversion (`render_engine.audio.shift`).
"""

from __future__ import annotations

import numpy as np

FRAME_SECONDS, HOP_SECONDS = 0.04, 0.01


def f0_track(samples: np.ndarray, rate: int, fmin: float = 60.0, fmax: float = 500.0,
             min_level: float = 0.1, min_periodicity: float = 0.5) -> np.ndarray:
    """F0 (Hz) of each 10 ms frame (frame k starts at k × 10 ms); 0.0 where unvoiced.

    A frame is voiced when it is loud (RMS ≥ `min_level` × the loudest frame's) and periodic
    (normalised autocorrelation peak ≥ `min_periodicity`). The shortest lag within 90 % of
    the best peak wins, which avoids the usual octave-down errors. Why per frame: pitch
    shifting needs the period at every moment, not only the median.
    """
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    frame, hop = int(FRAME_SECONDS * rate), int(HOP_SECONDS * rate)
    if x.size < frame or frame < 4:
        return np.zeros(0)
    count = 1 + (x.size - frame) // hop
    track = np.zeros(count)
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop][:count]
    frames = frames - frames.mean(axis=1, keepdims=True)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    loud = rms >= min_level * rms.max() if rms.max() > 0 else np.zeros_like(rms, bool)
    if not loud.any():
        return track
    frames = frames[loud] * np.hanning(frame)
    size = 1 << int(np.ceil(np.log2(2 * frame)))
    spectrum = np.fft.rfft(frames, size, axis=1)
    acf = np.fft.irfft(np.abs(spectrum) ** 2, size, axis=1)[:, :frame]
    window_acf = np.fft.irfft(np.abs(np.fft.rfft(np.hanning(frame), size)) ** 2, size)[:frame]
    acf = acf / np.maximum(acf[:, :1], 1e-12) / np.maximum(window_acf / window_acf[0], 1e-3)
    lo, hi = int(rate / fmax), min(int(rate / fmin), frame - 1)
    region = acf[:, lo:hi + 1]
    best = region.max(axis=1)
    voiced = best >= min_periodicity
    if not voiced.any():
        return track
    region, best = region[voiced], best[voiced]
    first = np.argmax(region >= 0.9 * best[:, None], axis=1)
    lags = []
    for row, k in zip(region, first, strict=True):  # climb to the local peak from there
        while k + 1 < row.size and row[k + 1] > row[k]:
            k += 1
        lags.append(lo + k)
    loud_index = np.flatnonzero(loud)[voiced]
    track[loud_index] = rate / np.asarray(lags, dtype=np.float64)
    return track


def estimate_f0(samples: np.ndarray, rate: int, fmin: float = 60.0,
                fmax: float = 500.0) -> float:
    """Median F0 (Hz) over voiced frames (see `f0_track`); 0.0 if none is voiced."""
    track = f0_track(samples, rate, fmin, fmax)
    voiced = track[track > 0]
    return float(np.median(voiced)) if voiced.size else 0.0
