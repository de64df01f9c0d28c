"""Rhubarb-style mouth cues (shapes A–H, X) from timed phonemes, or from loudness alone.

`cues_from_phonemes` implements the rules in REFERENCE.md (Rhubarb Lip Sync's): each ARPAbet
phone allows some shapes and the one closest to the previous shape wins; P, B and M close the
lips (A) 40–120 ms before their onset; diphthongs move between two shapes; long pauses rest
(X). `cues_from_amplitude` is the fallback for audio without phonemes (a recorded line).
Both return contiguous cues covering [0, duration], each held at least two frames.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from render_engine.audio.cue_timing import finalize, shape_distance
from render_engine.audio.voice import MouthCue

ANY = ("*",)
"""Options marker: the phone takes whatever shape the mouth is already in."""

CLOSURE_MIN, CLOSURE_MAX = 0.04, 0.12
LONG_VOWEL = 0.2
"""AH, AY, AW and L get their long-form shape from this duration on (seconds)."""
SHORT_PAUSE = 0.15
"""Pauses inside speech shorter than this hold the current shape instead of resting (X)."""

_SIMPLE: dict[str, tuple[str, ...]] = {
    "AA": ("D",), "AE": ("C",), "EH": ("C",), "IY": ("B",), "IH": ("B",), "AO": ("E",),
    "ER": ("E",), "UW": ("F",), "UH": ("F",), "W": ("F",), "M": ("A",), "F": ("G",),
    "V": ("G",), "K": ("B", "C", "E", "F", "H"), "G": ("B", "C", "E", "F", "H"),
    "N": ("B", "C", "F", "H"), "NG": ("B", "C", "E", "F"), "R": ("B", "E", "F"),
    "Y": ("B", "C", "F"), "HH": ANY, "P": ANY, "B": ANY,
    **{phone: ("B", "F") for phone in ("T", "D", "CH", "JH", "TH", "DH", "S", "Z", "SH", "ZH")},
}
_DIPHTHONGS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "EY": (("C",), ("B",)), "AY": (("C",), ("B",)), "OW": (("E",), ("F",)),
    "AW": (("C",), ("E",)), "OY": (("E",), ("B",)),
}
BILABIALS = frozenset({"P", "B", "M"})


@dataclass
class _Span:
    start: float
    end: float
    options: tuple[str, ...]
    kind: str = "phone"  # "phone", "pause" or "closure"


def phone_options(phone: str, duration: float) -> list[tuple[float, tuple[str, ...]]]:
    """The allowed shapes of one ARPAbet phone, as (fraction of its time, options) parts.

    Why parts: diphthongs move between two shapes (EY is C then B), so they take two.
    Unknown phones allow any shape (they hold the mouth still rather than guess).
    """
    phone = phone.rstrip("012").upper()
    long_form = duration >= LONG_VOWEL
    if phone == "AH":
        return [(1.0, ("D",) if long_form else ("C",))]
    if phone == "L":
        return [(1.0, ("H",) if long_form else ("B", "E", "F", "H"))]
    if phone in _DIPHTHONGS:
        first, second = _DIPHTHONGS[phone]
        if phone in ("AY", "AW") and long_form:
            first = ("D",)
        return [(0.5, first), (0.5, second)]
    return [(1.0, _SIMPLE.get(phone, ANY))]


def _spans(phonemes: Sequence[tuple[str, float, float]], duration: float) -> list[_Span]:
    """Phones and the pauses between them as spans covering [0, duration]."""
    spans: list[_Span] = []
    cursor = 0.0
    for phone, start, end in sorted(phonemes, key=lambda p: p[1]):
        start, end = max(float(start), cursor), min(float(end), duration)
        if end <= start:
            continue
        if start > cursor:
            short = bool(spans) and start - cursor < SHORT_PAUSE
            spans.append(_Span(cursor, start, ANY if short else ("X",), kind="pause"))
        if phone.rstrip("012").upper() in BILABIALS:
            _add_closure(spans, start)
        at, covered = start, 0.0
        parts = phone_options(phone, end - start)
        for index, (fraction, options) in enumerate(parts):
            covered += fraction
            part_end = end if index == len(parts) - 1 else start + covered * (end - start)
            spans.append(_Span(at, part_end, options))
            at = part_end
        cursor = end
    if cursor < duration or not spans:
        spans.append(_Span(cursor, max(duration, cursor), ("X",), kind="pause"))
    return spans


def _add_closure(spans: list[_Span], onset: float) -> None:
    """Close the lips (A) for 40–120 ms before a P/B/M, taken from the span before it.

    A pause may give all of its time; a phone keeps at least a quarter of its own.
    """
    if not spans or spans[-1].options == ("A",) or spans[-1].kind == "closure":
        return
    prev = spans[-1]
    available = prev.end - prev.start
    limit = available if prev.kind == "pause" else 0.75 * available
    length = min(CLOSURE_MAX, max(CLOSURE_MIN, available / 2), limit)
    if length <= 0:
        return
    prev.end = onset - length
    if prev.end - prev.start <= 1e-9:
        spans.pop()
    spans.append(_Span(onset - length, onset, ("A",), kind="closure"))


def _choose(spans: list[_Span]) -> list[str]:
    """Pick each span's shape: the allowed one closest to the shape before it."""
    chosen: list[str | None] = []
    prev: str | None = None
    for span in spans:
        if span.options == ANY:
            chosen.append(prev)
            continue
        reference = prev if prev is not None else "X"
        shape = min(span.options, key=lambda s: (shape_distance(reference, s),
                                                  span.options.index(s)))
        chosen.append(shape)
        prev = shape
    resolved: list[str] = []
    following = "X"
    for shape in reversed(chosen):  # leading "any" spans take the next shape
        following = shape if shape is not None else following
        resolved.append(following)
    return resolved[::-1]


def cues_from_phonemes(
    phonemes: Sequence[tuple[str, float, float]], duration: float, fps: float = 24.0
) -> list[MouthCue]:
    """Mouth cues for `duration` seconds of speech from (ARPAbet, start, end) phones.

    Gaps between phones are silence. Cues are contiguous, cover [0, duration] and hold each
    shape at least two frames at `fps`.
    """
    if duration <= 0:
        return []
    spans = _spans(phonemes, duration)
    shapes = _choose(spans)
    bounds = [0.0] + [span.end for span in spans]
    bounds[-1] = duration
    return finalize(bounds, shapes, fps)


def cues_from_amplitude(samples: np.ndarray, rate: int, fps: float = 24.0) -> list[MouthCue]:
    """Mouth cues from loudness only: quiet → X, then B, C, D as the voice gets louder.

    Why: audio that arrives without phonemes (a recorded take, a cloned voice) still needs
    a mouth that opens on the words and rests in the pauses.
    """
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    duration = len(samples) / rate
    if duration <= 0:
        return []
    hop = max(1, rate // 100)
    frames = max(1, int(np.ceil(len(samples) / hop)))
    padded = np.zeros(frames * hop + 2 * hop, np.float32)
    padded[hop:hop + len(samples)] = samples
    energy = np.square(padded).reshape(-1, hop).mean(axis=1)
    rms = np.sqrt(np.convolve(energy, np.ones(3) / 3, mode="valid"))[:frames]
    reference = max(float(np.percentile(rms, 95)), 0.5 * float(rms.max()))
    if reference < 1e-4:
        return finalize([0.0, duration], ["X"], fps)
    level = rms / reference
    shapes = np.where(level < 0.12, "X", np.where(level < 0.35, "B",
                                                   np.where(level < 0.65, "C", "D")))
    bounds = [min(k * hop / rate, duration) for k in range(frames)] + [duration]
    return finalize(bounds, [str(s) for s in shapes], fps)


def to_rhubarb_json(cues: Sequence[MouthCue], sound_file: str, duration: float) -> str:
    """The cues as Rhubarb Lip Sync's JSON, so tools that read Rhubarb files can use them."""
    document = {
        "metadata": {"soundFile": str(sound_file), "duration": round(float(duration), 3)},
        "mouthCues": [
            {"start": round(cue.start, 3), "end": round(cue.end, 3), "value": cue.shape}
            for cue in cues
        ],
    }
    return json.dumps(document, indent=2)
