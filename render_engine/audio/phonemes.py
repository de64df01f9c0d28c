"""espeak-style IPA → ARPAbet, keeping each phone's time span.

Both engines speak through espeak-ng's English phonemes: espeak reports one IPA string per
phoneme event ("ˈæ", "ɑːɹ"), piper one codepoint per alignment step ("ˈ", "ɑ", "ː"). The
mouth-shape rules are written for ARPAbet, so both are tokenised here with one table:
stress marks join the phone after them, length marks and diacritics the phone before,
spaces and punctuation are silences (they break phones apart and are left out).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

TimedPhone = tuple[str, float, float]

IPA_TO_ARPABET: dict[str, str] = {
    # diphthongs and affricates first in spirit: tokenisation is longest-match
    "tʃ": "CH", "dʒ": "JH", "eɪ": "EY", "aɪ": "AY", "ɔɪ": "OY", "oʊ": "OW", "əʊ": "OW",
    "aʊ": "AW",
    # vowels
    "ɑ": "AA", "ɒ": "AA", "a": "AA", "æ": "AE", "ɛ": "EH", "e": "EH", "ʌ": "AH", "ə": "AH",
    "ɐ": "AH", "ɪ": "IH", "ᵻ": "IH", "ɨ": "IH", "i": "IY", "ɔ": "AO", "o": "OW", "ʊ": "UH",
    "u": "UW", "ɯ": "UW", "y": "UW", "ɜ": "ER", "ɚ": "ER", "ɝ": "ER",
    # consonants
    "p": "P", "b": "B", "t": "T", "d": "D", "k": "K", "g": "G", "ɡ": "G", "f": "F", "v": "V",
    "θ": "TH", "ð": "DH", "s": "S", "z": "Z", "ʃ": "SH", "ʒ": "ZH", "h": "HH", "ç": "HH",
    "x": "HH", "m": "M", "ɱ": "M", "n": "N", "ŋ": "NG", "l": "L", "ɫ": "L", "ɹ": "R", "r": "R",
    "ɾ": "D", "ʔ": "T", "j": "Y", "w": "W", "ʍ": "W",
}
_MAX_KEY = max(len(key) for key in IPA_TO_ARPABET)
_STRESS = frozenset("ˈˌ")
_TRAILING = frozenset("ːˑʰʲˤ˞")
_SEPARATORS = frozenset("^$_#|‖↓↑")


def _kind(char: str) -> str:
    """'stress', 'trailing', 'separator' or 'base' for one IPA codepoint."""
    if char in _STRESS:
        return "stress"
    if char in _TRAILING or unicodedata.combining(char):
        return "trailing"
    if char in _SEPARATORS or char.isspace() or unicodedata.category(char).startswith("P"):
        return "separator"
    return "base"


def _timed_chars(segments: Sequence[TimedPhone]) -> list[tuple[str, float, float]]:
    """Spread each segment's time over its characters.

    A one-character segment keeps its own span (piper times every codepoint). Inside a longer
    segment (espeak's "ˈɑːɹ") the span is shared by the base characters; marks take no time.
    """
    chars: list[tuple[str, float, float]] = []
    for text, start, end in segments:
        text = unicodedata.normalize("NFD", text)
        if len(text) <= 1:
            chars.extend((char, start, end) for char in text)
            continue
        bases = sum(1 for char in text if _kind(char) == "base") or 1
        step = (end - start) / bases
        cursor = start
        for char in text:
            width = step if _kind(char) == "base" else 0.0
            chars.append((char, cursor, cursor + width))
            cursor += width
    return chars


def timed_ipa_to_arpabet(segments: Sequence[TimedPhone]) -> list[TimedPhone]:
    """ARPAbet phones with times from timed IPA segments (espeak events or piper alignments).

    Why: the viseme rules need each phone's start and end; silences (spaces, punctuation,
    pauses) are dropped so that they show up as gaps between phones.
    """
    chars = _timed_chars(segments)
    phones: list[list] = []  # [phone, start, end]
    pending_start: float | None = None  # a stress mark waiting for its vowel
    last_joinable = False  # may a trailing mark extend phones[-1]?
    i = 0
    while i < len(chars):
        char, start, end = chars[i]
        kind = _kind(char)
        if kind == "separator":
            pending_start, last_joinable = None, False
            i += 1
            continue
        if kind == "stress":
            pending_start = start if pending_start is None else pending_start
            i += 1
            continue
        if kind == "trailing":
            if last_joinable:
                phones[-1][2] = max(phones[-1][2], end)
            i += 1
            continue
        match_len, phone = 1, IPA_TO_ARPABET.get(char)
        for length in range(_MAX_KEY, 1, -1):
            window = chars[i:i + length]
            if len(window) == length and all(_kind(c[0]) == "base" for c in window):
                key = "".join(c[0] for c in window)
                if key in IPA_TO_ARPABET:
                    match_len, phone = length, IPA_TO_ARPABET[key]
                    break
        span_end = chars[i + match_len - 1][2]
        span_start = start if pending_start is None else pending_start
        if phone is None:  # unknown symbol: part of the sound before it
            if last_joinable:
                phones[-1][2] = max(phones[-1][2], span_end)
        else:
            phones.append([phone, span_start, span_end])
            last_joinable = True
        pending_start = None
        i += match_len
    return [(phone, float(start), float(end)) for phone, start, end in phones]


def ipa_to_arpabet(ipa: str) -> list[str]:
    """The ARPAbet phones of an IPA string ("ˈæpəl" → AE P AH L), for logs and tests."""
    return [phone for phone, _, _ in timed_ipa_to_arpabet([(ipa, 0.0, float(len(ipa)))])]
