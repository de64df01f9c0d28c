"""The creator's own take of a line, turned into the character's voice with its timing kept.

With a coqui voice-conversion model as the character's voice (`engine = "coqui"`, variant an
OpenVoice / FreeVC / kNN-VC folder or release name) and a reference WAV of the character,
the model converts the take. Otherwise, offline and instant: the take's pitch is moved to the
character's (the reference WAV's median F0, else that of the character's own engine speaking
a calibration phrase) and its formants part of the way, by PSOLA, so every pause and stress of
the performance survives. Mouth cues come from the line's text aligned to the take.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from render_engine.audio.align import align_text
from render_engine.audio.casting import voice_for
from render_engine.audio.pitch import estimate_f0
from render_engine.audio.shift import shift_pitch_formants
from render_engine.audio.voice import SpeechResult, VoiceError, get_engine
from render_engine.audio.wav import read_audio_any
from render_engine.bible import CastMember, Production, VoiceSettings

log = logging.getLogger(__name__)

CALIBRATION = "The quick brown fox jumps over the lazy dog, and then it rests by the fire."
"""A phrase with plenty of voiced sound, spoken by the character's engine to measure its F0."""
MAX_PITCH_RATIO = 2.5
FORMANT_EXPONENT = 0.25
"""Formants follow pitch by this power of the ratio: an adult's vocal tract differs less
between voices than the pitch does (×2 pitch → ×1.19 formants, about man → woman)."""
MAX_FORMANT_RATIO = 1.25
LENGTH_TOLERANCE = 0.01

_TARGETS: dict[str, float] = {}
_TARGETS_LOCK = threading.Lock()


def target_f0(voice: VoiceSettings) -> float:
    """The character's median F0: from its reference WAV, else from its engine speaking
    CALIBRATION (memoised per voice), so a take lands at the pitch the character speaks at."""
    key = voice.model_dump_json()
    with _TARGETS_LOCK:
        if key in _TARGETS:
            return _TARGETS[key]
    if voice.reference:
        samples, rate = read_audio_any(voice.reference)
    else:
        spoken = get_engine(voice.engine).synthesize(CALIBRATION, voice)
        samples, rate = spoken.samples, spoken.rate
    f0 = estimate_f0(samples, rate)
    if f0 <= 0:
        raise VoiceError(
            "the character's voice has no measurable pitch (its reference or calibration "
            "phrase is silent or unvoiced); use another reference WAV or voice"
        )
    with _TARGETS_LOCK:
        _TARGETS[key] = f0
    return f0


def shift_toward(samples: np.ndarray, rate: int, target: float) -> tuple[np.ndarray, float]:
    """The take with its median F0 moved to `target` (formants part of the way), same length.

    Returns (samples, pitch ratio applied); a take without voiced sound is returned as is.
    """
    source = estimate_f0(samples, rate)
    if source <= 0:
        log.info("take has no measurable pitch; kept as recorded")
        return np.asarray(samples, np.float32), 1.0
    ratio = float(np.clip(target / source, 1 / MAX_PITCH_RATIO, MAX_PITCH_RATIO))
    formant = float(np.clip(ratio ** FORMANT_EXPONENT, 1 / MAX_FORMANT_RATIO,
                            MAX_FORMANT_RATIO))
    return shift_pitch_formants(samples, rate, ratio, formant), ratio


def _keep_length(samples: np.ndarray, length: int) -> np.ndarray:
    """Pad or trim to `length` samples; a model that changed the length by more than 1 % is an
    error (the edit is timed to the take)."""
    if abs(samples.size - length) > max(1, LENGTH_TOLERANCE * length):
        raise VoiceError(
            f"voice conversion changed the take's length ({length} → {samples.size} samples); "
            "use a model that keeps timing (OpenVoice, FreeVC, kNN-VC)"
        )
    if samples.size < length:
        return np.pad(samples, (0, length - samples.size))
    return samples[:length]


def convert(recording_samples: np.ndarray, rate: int, member: CastMember,
            production: Production, text: str = "") -> SpeechResult:
    """The take `recording_samples` (mono float at `rate`) in `member`'s voice.

    Timing is the take's (same length, same pauses); `text`, when given, is aligned to the
    converted take for the mouth cues (without it the cues follow loudness).
    """
    samples = np.asarray(recording_samples, dtype=np.float32).reshape(-1)
    if samples.size == 0 or rate <= 0:
        raise VoiceError("the recording holds no audio; record the line again")
    voice = voice_for(member, production)
    out, out_rate = None, rate
    if voice.engine == "coqui" and _names_vc_model(voice):
        from render_engine.audio.coqui import CoquiEngine

        engine = get_engine("coqui")
        assert isinstance(engine, CoquiEngine)
        converted, out_rate = engine.convert(samples, rate, voice)
        wanted = round(samples.size * out_rate / rate)
        out = _keep_length(converted, wanted)
    else:
        out, _ = shift_toward(samples, rate, target_f0(voice))
    language = "en-us" if voice.engine != "espeak" else (voice.variant or "en-us").split("+")[0]
    alignment = align_text(text, out, out_rate, language=language)
    return SpeechResult(samples=np.asarray(out, np.float32), rate=out_rate,
                        cues=alignment.cues, phonemes=alignment.phonemes)


def _names_vc_model(voice: VoiceSettings) -> bool:
    """True when the coqui voice's variant is a voice-conversion model."""
    from render_engine.audio.coqui import model_source

    try:
        return model_source(voice.variant).is_vc
    except VoiceError:
        return False


def convert_file(path: str, member: CastMember, production: Production,
                 text: str = "") -> SpeechResult:
    """`convert` for a recording on disk (any format PyAV reads)."""
    samples, rate = read_audio_any(path)
    return convert(samples, rate, member, production, text)
