"""Voice-size shifting: formants and pitch moved together by replaying audio faster/slower.

Why this way: a real formant shift needs a vocoder; replaying at `factor`× speed (resampling)
scales every frequency by `factor`, which reads on screen as a smaller (> 1) or bigger (< 1)
speaker. Engines slow their speech by the same factor first, so the words keep their pace.
"""

from __future__ import annotations

import numpy as np

from render_engine.audio.resample import resample

NEUTRAL = 1e-3


def pitch_factor(pitch: float) -> float:
    """Frequency factor for a 0–100 pitch setting on engines without a pitch control.

    50 is the voice's own pitch; 0 and 100 are half an octave down and up.
    """
    return float(2.0 ** ((pitch - 50.0) / 100.0))


def effective_factor(rate: int, factor: float) -> float:
    """The factor `shift_voice` really applies at `rate` (rates are whole numbers)."""
    if abs(factor - 1.0) < NEUTRAL:
        return 1.0
    return round(rate * factor) / rate


def shift_voice(samples: np.ndarray, rate: int, factor: float) -> np.ndarray:
    """`samples` replayed `factor`× faster, same `rate`: frequencies ×factor, length ÷factor.

    Use `effective_factor(rate, factor)` for the exact factor when moving timestamps.
    """
    if abs(factor - 1.0) < NEUTRAL:
        return np.asarray(samples, dtype=np.float32)
    return resample(samples, round(rate * factor), rate)


def shift_times(
    phones: list[tuple[str, float, float]], factor: float
) -> list[tuple[str, float, float]]:
    """Phone times after `shift_voice` with the same factor (each divided by it)."""
    if abs(factor - 1.0) < NEUTRAL:
        return list(phones)
    return [(phone, start / factor, end / factor) for phone, start, end in phones]
