"""Voice-size shifting: formants and pitch moved together by replaying audio faster/slower.

Why this way: a real formant shift needs a vocoder; replaying at `factor`× speed (resampling)
scales every frequency by `factor`, which reads on screen as a smaller (> 1) or bigger (< 1)
speaker. Engines slow their speech by the same factor first, so the words keep their pace.
"""

from __future__ import annotations

import itertools

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


UNVOICED_HOP_SECONDS = 0.01
"""Grain spacing where there is no pitch (noise, silence): copied through unchanged."""
VOICING_LEVEL, VOICING_PERIODICITY = 0.02, 0.4
"""Quieter and less periodic frames than the F0 median needs still count as voiced here: a
voiced frame left unshifted sounds at the take's own pitch."""
OCTAVE_SPAN = 1.6
MAX_GAP_FRAMES = 3
"""Unvoiced gaps this short (10 ms frames) inside voiced speech are treated as voiced."""


def _smoothed_track(samples: np.ndarray, rate: int) -> np.ndarray:
    """The F0 track with octave jumps median-filtered out and tiny voicing gaps filled."""
    from render_engine.audio.pitch import f0_track

    track = f0_track(samples, rate, min_level=VOICING_LEVEL, min_periodicity=VOICING_PERIODICITY)
    if track.size == 0:
        return track
    voiced = track > 0
    if voiced.any():  # octave errors: one speaker stays within about ±0.7 octave of the median
        median = float(np.median(track[voiced]))
        track = track.copy()
        while ((track > 0) & (track < median / OCTAVE_SPAN)).any():
            low = (track > 0) & (track < median / OCTAVE_SPAN)
            track[low] *= 2.0
        while (track > median * OCTAVE_SPAN).any():
            track[track > median * OCTAVE_SPAN] /= 2.0
    out = track.copy()
    for k in np.flatnonzero(voiced):  # median over the voiced neighbours
        window = track[max(0, k - 2):k + 3]
        out[k] = float(np.median(window[window > 0]))
    index = np.flatnonzero(voiced)
    for a, b in itertools.pairwise(index):
        if 1 < b - a <= MAX_GAP_FRAMES + 1:
            out[a + 1:b] = np.linspace(out[a], out[b], b - a + 1)[1:-1]
    return out


def _pitch_marks(samples: np.ndarray, rate: int) -> list[tuple[int, int, bool]]:
    """(centre sample, half-width, voiced) analysis marks: one per pitch period where voiced,
    snapped to the waveform's peak so that grains line up, and every 10 ms elsewhere."""
    track = _smoothed_track(samples, rate)
    hop = max(1, round(UNVOICED_HOP_SECONDS * rate))
    frame_of = max(1, round(0.01 * rate))
    marks: list[tuple[int, int, bool]] = []
    t, n = 0, samples.size
    was_voiced = False
    while t < n:
        k = min(t // frame_of, track.size - 1) if track.size else -1
        f0 = track[k] if k >= 0 else 0.0
        if f0 > 0:
            period = max(2, round(rate / f0))
            lo, hi = max(0, t - period // 4), min(n, t + period // 4 + 1)
            if not was_voiced:  # a voiced region starts: take the biggest peak of a period
                lo, hi = t, min(n, t + period)
            if hi > lo:
                t = lo + int(np.argmax(samples[lo:hi]))
            marks.append((t, period, True))
            t += period
            was_voiced = True
        else:
            marks.append((t, hop, False))
            t += hop
            was_voiced = False
    return marks


def psola(samples: np.ndarray, rate: int, pitch_ratio: float, time_ratio: float = 1.0
          ) -> np.ndarray:
    """Time-domain PSOLA: pitch × `pitch_ratio`, length × `time_ratio`, formants kept.

    Why: voice conversion must keep the performance's timing; replaying faster (shift_voice)
    would move pitch and timing together. Grains two periods long, centred on pitch marks,
    are overlap-added at the new pitch spacing; unvoiced sound is copied grain by grain.
    """
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    out_len = max(0, round(x.size * time_ratio))
    if x.size == 0 or out_len == 0:
        return np.zeros(out_len, np.float32)
    marks = _pitch_marks(x.astype(np.float32), rate)
    centres = np.asarray([m[0] for m in marks], dtype=np.float64)
    out = np.zeros(out_len + 2 * rate // 50 + 2)
    weight = np.zeros_like(out)
    pad = rate // 50 + 1
    ts = 0.0
    while ts < out_len:
        k = int(np.clip(np.searchsorted(centres, ts / time_ratio), 0, len(marks) - 1))
        if k > 0 and abs(centres[k - 1] - ts / time_ratio) < abs(centres[k] - ts / time_ratio):
            k -= 1
        centre, half, voiced = marks[k]
        half = min(half, pad - 1)
        lo, hi = centre - half, centre + half + 1
        window = np.hanning(2 * half + 3)[1:-1]
        grain = np.zeros(2 * half + 1)
        src_lo, src_hi = max(lo, 0), min(hi, x.size)
        grain[src_lo - lo:src_hi - lo] = x[src_lo:src_hi]
        at = round(ts) + pad - half
        out[at:at + grain.size] += grain * window
        weight[at:at + grain.size] += window
        ts += half / pitch_ratio if voiced else half
    result = out[pad:pad + out_len] / np.maximum(weight[pad:pad + out_len], 1.0)
    return result.astype(np.float32)


def shift_pitch_formants(samples: np.ndarray, rate: int, pitch_ratio: float,
                         formant_ratio: float = 1.0) -> np.ndarray:
    """Pitch × `pitch_ratio` and formants × `formant_ratio`, same length and timing.

    PSOLA stretches time by the formant ratio while moving pitch by what is left of the pitch
    ratio; `shift_voice` then scales every frequency by the formant ratio and brings the length
    back. The result has exactly as many samples as the input.
    """
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    factor = effective_factor(rate, formant_ratio)
    stretched = psola(samples, rate, pitch_ratio / factor, factor)
    shifted = shift_voice(stretched, rate, factor)
    if shifted.size < samples.size:
        shifted = np.pad(shifted, (0, samples.size - shifted.size))
    return np.ascontiguousarray(shifted[:samples.size], dtype=np.float32)
