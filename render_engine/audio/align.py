"""Phoneme timing for audio we did not synthesise with timings: a cloned voice, a recorded take.

The text is spoken once more by espeak, whose phoneme events are exact. Both renderings are
turned into frame features (10 ms hop: cepstra of a mel spectrum, loudness and onset strength,
each normalised per utterance so two different voices become comparable), aligned by dynamic
time warping, and espeak's phoneme times are carried through the warp onto the other audio.
The mouth cues then follow the Rhubarb rules as for any synthesised line. When the text gives
espeak nothing to say, or the audio is silent, the loudness fallback is used instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from render_engine.audio.resample import resample
from render_engine.audio.visemes import cues_from_amplitude, cues_from_phonemes
from render_engine.audio.voice import MouthCue, VoiceError, get_engine
from render_engine.bible import VoiceSettings

log = logging.getLogger(__name__)

RATE = 16000
HOP = 160
"""10 ms frames at RATE."""
WINDOW = 400
MEL_BANDS = 26
CEPSTRA = 12
SILENCE_DB = 35.0
"""Frames this far below the loudest frame count as silence for the loudness feature."""
LOUDNESS_WEIGHT, ONSET_WEIGHT = 2.0, 1.0
MIN_PHONE = 0.015
"""Shortest phone after warping (seconds): a squeezed phone still shows."""


@dataclass
class Alignment:
    """Phones carried onto the target audio, its mouth cues, and how the cues were made."""

    phonemes: list[tuple[str, float, float]]
    cues: list[MouthCue]
    method: str
    """"dtw" (espeak phonemes warped onto the audio) or "amplitude" (loudness only)."""


def _mel_filters(bands: int, size: int, rate: int) -> np.ndarray:
    """Triangular mel filters over the rfft bins of a `size`-point FFT (bands × bins)."""
    def mel(hz: np.ndarray) -> np.ndarray:
        """Hz to mel."""
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    def hz(m: np.ndarray) -> np.ndarray:
        """Mel to Hz."""
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    edges = hz(np.linspace(mel(np.array(60.0)), mel(np.array(rate / 2 * 0.95)), bands + 2))
    bins = np.fft.rfftfreq(size, 1.0 / rate)
    filters = np.zeros((bands, bins.size))
    for k in range(bands):
        lo, mid, hi = edges[k], edges[k + 1], edges[k + 2]
        rising = (bins - lo) / max(mid - lo, 1e-9)
        falling = (hi - bins) / max(hi - mid, 1e-9)
        filters[k] = np.clip(np.minimum(rising, falling), 0.0, None)
    return filters


_FILTERS = _mel_filters(MEL_BANDS, 512, RATE)
_DCT = np.cos(np.pi / MEL_BANDS * (np.arange(MEL_BANDS) + 0.5)[None, :]
              * np.arange(1, CEPSTRA + 1)[:, None])


def features(samples: np.ndarray, rate: int) -> np.ndarray:
    """Per-10 ms-frame features for alignment (frames × dims), normalised per utterance.

    Why these: cepstra (without c0) describe the vowel/consonant colour independent of loudness
    and, after mean/variance normalisation, largely of the speaker; loudness and its rise
    (onsets) pin word starts and pauses, where two voices agree most.
    """
    x = resample(np.asarray(samples, np.float32).reshape(-1), rate, RATE).astype(np.float64)
    count = max(1, int(np.ceil(x.size / HOP)))
    padded = np.zeros(count * HOP + WINDOW, np.float64)
    padded[WINDOW // 2:WINDOW // 2 + x.size] = x
    frames = np.lib.stride_tricks.sliding_window_view(padded, WINDOW)[::HOP][:count]
    frames = (frames - frames.mean(axis=1, keepdims=True)) * np.hanning(WINDOW)
    power = np.abs(np.fft.rfft(frames, 512, axis=1)) ** 2
    mel_db = 10.0 * np.log10(power @ _FILTERS.T + 1e-10)
    energy_db = 10.0 * np.log10(power.sum(axis=1) + 1e-10)
    loud = np.clip(energy_db - (energy_db.max() - SILENCE_DB), 0.0, None) / SILENCE_DB
    cepstra = mel_db @ _DCT.T
    cepstra = (cepstra - cepstra.mean(axis=0)) / (cepstra.std(axis=0) + 1e-6)
    onset = np.clip(np.diff(loud, prepend=loud[:1]), 0.0, None)
    onset = onset / (onset.max() + 1e-9)
    return np.column_stack([cepstra / np.sqrt(CEPSTRA), LOUDNESS_WEIGHT * loud,
                            ONSET_WEIGHT * onset])


def dtw_path(cost: np.ndarray) -> np.ndarray:
    """The cheapest monotonic path through a cost matrix (n × m) from (0, 0) to (n-1, m-1).

    Steps are (1, 1), (1, 0) and (0, 1), the diagonal counted twice as in the symmetric
    form, so the path does not prefer diagonals for being shorter. Filled by anti-diagonals
    (vectorised), backtracked from the end. Returns (k × 2) index pairs.
    """
    n, m = cost.shape
    total = np.full((n + 1, m + 1), np.inf)
    total[0, 0] = 0.0
    for diagonal in range(2, n + m + 1):
        i = np.arange(max(1, diagonal - m), min(n, diagonal - 1) + 1)
        j = diagonal - i
        c = cost[i - 1, j - 1]
        total[i, j] = np.minimum(total[i - 1, j - 1] + 2.0 * c,
                                 np.minimum(total[i - 1, j], total[i, j - 1]) + c)
    path = [(n - 1, m - 1)]
    i, j = n, m
    while (i, j) != (1, 1):
        options = ((total[i - 1, j - 1], i - 1, j - 1), (total[i - 1, j], i - 1, j),
                   (total[i, j - 1], i, j - 1))
        _, i, j = min(options, key=lambda item: item[0])
        path.append((i - 1, j - 1))
    return np.asarray(path[::-1], dtype=np.int64)


def warp_function(reference: tuple[np.ndarray, int], target: tuple[np.ndarray, int]
                  ) -> Callable[[float], float]:
    """A monotonic map from reference seconds to target seconds, by DTW of the features of
    the two (samples, rate) renderings."""
    ref_f, tgt_f = features(*reference), features(*target)
    squared = ((ref_f**2).sum(axis=1)[:, None] + (tgt_f**2).sum(axis=1)[None, :]
               - 2.0 * ref_f @ tgt_f.T)
    cost = np.sqrt(np.clip(squared, 0.0, None))
    path = dtw_path(cost)
    # Each reference frame maps to the middle of the target frames it was matched with.
    ref_frames = np.arange(ref_f.shape[0])
    sums = np.bincount(path[:, 0], weights=path[:, 1], minlength=ref_frames.size)
    counts = np.bincount(path[:, 0], minlength=ref_frames.size)
    mapped = sums / np.maximum(counts, 1)
    mapped = np.maximum.accumulate(mapped)
    ref_seconds = (ref_frames + 0.5) * HOP / RATE
    tgt_seconds = (mapped + 0.5) * HOP / RATE
    ref_end = reference[0].size / reference[1]
    tgt_end = target[0].size / target[1]
    xs = np.concatenate([[0.0], ref_seconds, [ref_end]])
    ys = np.concatenate([[0.0], np.minimum(tgt_seconds, tgt_end), [tgt_end]])

    def warp(t: float) -> float:
        """Reference seconds → target seconds."""
        return float(np.interp(t, xs, ys))

    return warp


def keep_every_phone(phones: list[tuple[str, float, float]], duration: float
                     ) -> list[tuple[str, float, float]]:
    """Warped phones made monotonic, each at least MIN_PHONE long, inside [0, duration].

    Why: where the warp squeezes several phones onto one instant (a mumble, a noisy take) they
    would vanish, and with them a P or M the mouth must close for; pushed apart they keep
    their order and a visible length.
    """
    spread: list[list] = []
    cursor = 0.0
    for phone, start, end in phones:
        start = max(start, cursor)
        end = max(end, start + MIN_PHONE)
        spread.append([phone, start, end])
        cursor = end
    limit = duration
    for item in reversed(spread):  # pull back whatever was pushed past the end
        item[2] = min(item[2], limit)
        item[1] = min(item[1], item[2] - MIN_PHONE)
        limit = item[1]
    return [(phone, max(start, 0.0), max(end, 0.0)) for phone, start, end in spread]


def _espeak_reference(text: str, language: str) -> tuple[np.ndarray, int, list]:
    """The text spoken by espeak (plain voice of `language`): samples, rate, ARPAbet phones."""
    result = get_engine("espeak").synthesize(text, VoiceSettings(engine="espeak",
                                                                 variant=language))
    return result.samples, result.rate, result.phonemes


def align_text(text: str, samples: np.ndarray, rate: int, language: str = "en-us",
               fps: float = 24.0) -> Alignment:
    """Timed phonemes and mouth cues for `samples` speaking `text`.

    The text's espeak phonemes are time-warped onto the audio (DTW of the two renderings'
    features); with no text, no phonemes or no sound, the cues come from loudness alone.
    """
    samples = np.asarray(samples, np.float32).reshape(-1)
    duration = samples.size / rate if rate else 0.0
    if duration <= 0:
        return Alignment([], [], "amplitude")
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    phones: list[tuple[str, float, float]] = []
    if text and text.strip() and peak > 1e-4:
        try:
            ref_samples, ref_rate, ref_phones = _espeak_reference(text, language)
        except VoiceError as error:  # an odd language or text: the loudness fallback serves
            log.info("no espeak reference for alignment (%s); using loudness", error)
            ref_phones = []
        if ref_phones:
            warp = warp_function((ref_samples, ref_rate), (samples, rate))
            phones = keep_every_phone([(p, warp(s), warp(e)) for p, s, e in ref_phones],
                                      duration)
    if not phones:
        return Alignment([], cues_from_amplitude(samples, rate, fps), "amplitude")
    return Alignment(phones, cues_from_phonemes(phones, duration, fps), "dtw")
