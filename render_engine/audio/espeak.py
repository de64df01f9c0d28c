"""espeak-ng speech through ctypes, using the library and data the espeakng-loader wheel ships.

espeak runs in synchronous mode: `espeak_Synth` calls our callback with 22050 Hz 16-bit
chunks and the events inside them, among them one PHONEME event (IPA name, time in ms) per
phoneme, which gives the mouth cues exact timing. The library is global state, so it is
initialised once per process and every synthesis holds one lock.
"""

from __future__ import annotations

import ctypes
import re
import threading
from pathlib import Path

import numpy as np

from render_engine.audio.phonemes import timed_ipa_to_arpabet
from render_engine.audio.shift import effective_factor, shift_times, shift_voice
from render_engine.audio.visemes import cues_from_amplitude, cues_from_phonemes
from render_engine.audio.voice import SpeechResult, VoiceError, require_text
from render_engine.bible import VoiceSettings

DEFAULT_VOICE = "en-us"
BASE_WPM = 175
MIN_WPM, MAX_WPM = 80, 900
"""espeak-ng's slowest rate; above 450 wpm it speeds up with libsonic, fine to about 900."""

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS, _INIT_PHONEME_IPA, _INIT_DONT_EXIT = 0x0001, 0x0002, 0x8000
_EVENT_LIST_TERMINATED, _EVENT_PHONEME = 0, 7
_RATE, _PITCH = 1, 3
_POS_CHARACTER, _CHARS_UTF8 = 1, 1
_EE_OK, _EE_NOT_FOUND = 0, 2


class _EventId(ctypes.Union):
    _fields_ = (("number", ctypes.c_int), ("name", ctypes.c_char_p),
                ("string", ctypes.c_char * 8))


class _Event(ctypes.Structure):
    """espeak_EVENT from speak_lib.h."""

    _fields_ = (
        ("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int), ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p), ("id", _EventId),
    )


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


class _Espeak:
    """The loaded library, its sample rate and the buffers of the synthesis in progress."""

    def __init__(self) -> None:
        try:
            import espeakng_loader

            lib_path = espeakng_loader.get_library_path()
            data_path = espeakng_loader.get_data_path()
            lib = ctypes.CDLL(lib_path)
        except (ImportError, OSError, RuntimeError) as error:
            raise VoiceError(
                f"espeak-ng could not be loaded ({error}); reinstall it with "
                "`pip install --force-reinstall espeakng-loader`"
            ) from error
        lib.espeak_Initialize.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                          ctypes.c_int)
        lib.espeak_SetVoiceByName.argtypes = (ctypes.c_char_p,)
        lib.espeak_SetParameter.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int)
        lib.espeak_Synth.argtypes = (ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                                     ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                     ctypes.c_void_p, ctypes.c_void_p)
        self.lib = lib
        self.variants_dir = Path(data_path) / "voices" / "!v"
        options = _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA | _INIT_DONT_EXIT
        self.rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(),
                                          options)
        if self.rate <= 0:
            raise VoiceError(
                f"espeak-ng failed to start with data in {data_path}; reinstall it with "
                "`pip install --force-reinstall espeakng-loader`"
            )
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[str, float]] = []
        self.callback = _CALLBACK(self._on_audio)  # keep a reference: C holds the pointer
        lib.espeak_SetSynthCallback(self.callback)

    def _on_audio(self, wav: ctypes.POINTER(ctypes.c_short), count: int,
                  events: ctypes.POINTER(_Event)) -> int:
        """espeak's synth callback: keep the samples and the phoneme events; 0 = go on."""
        if count > 0 and wav:
            self.chunks.append(np.ctypeslib.as_array(wav, (count,)).copy())
        k = 0
        while events[k].type != _EVENT_LIST_TERMINATED:
            event = events[k]
            if event.type == _EVENT_PHONEME:
                name = event.id.string.decode("utf-8", errors="ignore")
                self.events.append((name, event.audio_position / 1000.0))
            k += 1
        return 0

    def variants(self) -> list[str]:
        """The voice variants (m1, f3, klatt, …) the shipped data offers."""
        return sorted(p.name for p in self.variants_dir.iterdir() if p.is_file())

    def select(self, variant: str) -> None:
        """Select 'language[+variant]'; a VoiceError naming whichever part is unknown."""
        language, _, extra = (variant or DEFAULT_VOICE).partition("+")
        if self.lib.espeak_SetVoiceByName(language.encode()) != _EE_OK:
            raise VoiceError(
                f"espeak voice language {language!r} (in voice variant {variant!r}) is not "
                "installed; use a language code such as en-us or en-gb"
            )
        if extra:
            known = self.variants()
            if extra not in known:
                common = [name for name in known if re.fullmatch(r"[fm]\d", name)]
                raise VoiceError(
                    f"espeak voice variant {extra!r} (in {variant!r}) does not exist; use one "
                    f"of {', '.join(common)} or another of the {len(known)} in "
                    f"{self.variants_dir}"
                )
            if self.lib.espeak_SetVoiceByName(f"{language}+{extra}".encode()) != _EE_OK:
                raise VoiceError(f"espeak could not select voice {variant!r}; try {language}")

    def speak(self, text: str, wpm: int, pitch: int) -> tuple[np.ndarray, list]:
        """Synthesize `text` with the selected voice: int16 samples and (IPA, seconds) events."""
        self.chunks, self.events = [], []
        self.lib.espeak_SetParameter(_RATE, wpm, 0)
        self.lib.espeak_SetParameter(_PITCH, pitch, 0)
        data = text.replace("\x00", " ").encode("utf-8")
        code = self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8,
                                     None, None)
        if code != _EE_OK:
            raise VoiceError(f"espeak-ng failed (error {code}) speaking {text[:40]!r}; "
                             "simplify the line or switch voice.engine to piper")
        samples = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)
        return samples, list(self.events)


_LOCK = threading.Lock()
_STATE: _Espeak | None = None


def _espeak() -> _Espeak:
    """The process-wide espeak, started on first use (call with _LOCK held)."""
    global _STATE
    if _STATE is None:
        _STATE = _Espeak()
    return _STATE


class EspeakEngine:
    """The "espeak" engine: robotic but instant, with real pitch and exact phoneme timing."""

    name = "espeak"

    def synthesize(self, text: str, voice: VoiceSettings) -> SpeechResult:
        """Speak `text`: variant picks language+variant, pitch is espeak's 0–100 pitch,
        speed multiplies 175 wpm (clamped to espeak's 80–900) and formant_shift resizes the
        voice (formants and pitch together, see `render_engine.audio.shift`)."""
        text = require_text(text)
        size = voice.formant_shift
        wpm = round(min(max(BASE_WPM * voice.speed / size, MIN_WPM), MAX_WPM))
        with _LOCK:
            espeak = _espeak()
            espeak.select(voice.variant)
            raw, events = espeak.speak(text, wpm, round(voice.pitch))
            rate = espeak.rate
        samples = raw.astype(np.float32) / 32768.0
        duration = len(samples) / rate
        segments = []
        for k, (name, start) in enumerate(events):
            end = events[k + 1][1] if k + 1 < len(events) else duration
            if name and end > start:
                segments.append((name, start, min(end, duration)))
        phones = timed_ipa_to_arpabet(segments)
        factor = effective_factor(rate, size)
        samples = shift_voice(samples, rate, factor)
        phones = shift_times(phones, factor)
        duration = len(samples) / rate
        cues = (cues_from_phonemes(phones, duration) if phones
                else cues_from_amplitude(samples, rate))
        return SpeechResult(samples=samples, rate=rate, cues=cues, phonemes=phones)
