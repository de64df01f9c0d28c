"""espeak-ng speech through ctypes, using the library and data the espeakng-loader wheel ships.

espeak runs in synchronous mode: `espeak_Synth` calls our callback with 22050 Hz 16-bit
chunks and the events inside them, among them one PHONEME event (IPA name, time in ms) per
phoneme, which gives the mouth cues exact timing.

The same text, voice and settings must give the same samples in any order and any process
(the samples are cached under a content hash). espeak-ng keeps its synthesiser state in C
statics that neither `espeak_Terminate` nor a new voice resets (wave phase, flutter, echo and
resonator memories, the last voice variant's settings), and seeds its noise from the clock:
the ranger's line came out one sample shorter after Jane's. So every utterance runs in a
freshly loaded copy of the library (a private file loaded, used and unloaded again: its
statics start from the file's initial values each time, about 10 ms), with espeak's random
generator and libc's seeded to `SEED`, and the voice and every parameter set before speaking.
"""

from __future__ import annotations

import _ctypes
import atexit
import contextlib
import ctypes
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from render_engine.audio.phonemes import timed_ipa_to_arpabet
from render_engine.audio.shift import effective_factor, shift_times, shift_voice
from render_engine.audio.visemes import cues_from_amplitude, cues_from_phonemes
from render_engine.audio.voice import SpeechResult, VoiceError, require_text
from render_engine.bible import VoiceSettings

log = logging.getLogger(__name__)

DEFAULT_VOICE = "en-us"
BASE_WPM = 175
MIN_WPM, MAX_WPM = 80, 900
"""espeak-ng's slowest rate; above 450 wpm it speeds up with libsonic, fine to about 900."""
SEED = 1
"""The seed of espeak's noise generator (breath, frication) and of libc's `rand` (the
speechPlayer variants use it) before every utterance: the noise is part of the voice."""

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS, _INIT_PHONEME_IPA, _INIT_DONT_EXIT = 0x0001, 0x0002, 0x8000
_EVENT_LIST_TERMINATED, _EVENT_PHONEME = 0, 7
_RATE, _VOLUME, _PITCH, _RANGE, _PUNCTUATION, _CAPITALS, _WORDGAP = 1, 2, 3, 4, 5, 6, 7
_PARAMETERS = {_VOLUME: 100, _RANGE: 50, _PUNCTUATION: 0, _CAPITALS: 0, _WORDGAP: 0}
"""espeak's defaults for the parameters soloreel does not vary, set before every utterance."""
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


def _unload(handle: int) -> None:
    """dlclose a library handle (FreeLibrary on Windows)."""
    close = getattr(_ctypes, "dlclose", None) or _ctypes.FreeLibrary
    close(handle)


def _still_loaded(path: Path) -> bool:
    """Whether the library file is still mapped (RTLD_NOLOAD opens only a loaded library)."""
    noload = getattr(os, "RTLD_NOLOAD", None)
    if noload is None:
        return True  # cannot tell: assume it is, and load the next utterance from a new copy
    try:
        probe = ctypes.CDLL(str(path), mode=noload | os.RTLD_LAZY)
    except OSError:
        return False
    _unload(probe._handle)
    return True


class _Espeak:
    """The shipped library and data, and the samples and events of the utterance in progress.

    `utterance()` loads a private copy of the library afresh, initialises and seeds it, and
    unloads it again afterwards, so no synthesiser state survives from one line to the next.
    """

    def __init__(self) -> None:
        try:
            import espeakng_loader

            self.source = Path(espeakng_loader.get_library_path())
            self.data_path = str(espeakng_loader.get_data_path())
        except (ImportError, OSError, RuntimeError) as error:
            raise VoiceError(
                f"espeak-ng could not be loaded ({error}); reinstall it with "
                "`pip install --force-reinstall espeakng-loader`"
            ) from error
        self.variants_dir = Path(self.data_path) / "voices" / "!v"
        self.folder: Path | None = None
        self.private = self._copy()
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[str, float]] = []
        self.callback = _CALLBACK(self._on_audio)  # keep a reference: C holds the pointer
        with self.utterance():  # fails here, once, if the library or its data are broken
            pass

    def _copy(self) -> Path:
        """A private copy of the library file: no other user of libespeak-ng in the process
        holds it open, so unloading it really unloads it. On Linux an anonymous in-memory
        file (nothing is left on disk, even after a kill); elsewhere a temporary folder
        removed at exit."""
        try:
            data = self.source.read_bytes()
            if hasattr(os, "memfd_create") and Path("/proc/self/fd").is_dir():
                descriptor = os.memfd_create("soloreel-libespeak-ng")
                with os.fdopen(descriptor, "wb", closefd=False) as handle:
                    handle.write(data)
                return Path(f"/proc/self/fd/{descriptor}")
            if self.folder is None or not self.folder.is_dir():
                self.folder = Path(tempfile.mkdtemp(prefix="soloreel-espeak-"))
                atexit.register(shutil.rmtree, self.folder, ignore_errors=True)
            path = self.folder / f"libespeak-ng-{len(list(self.folder.iterdir()))}.so"
            path.write_bytes(data)
            return path
        except OSError as error:
            raise VoiceError(f"espeak-ng could not be prepared ({error}); check the "
                             "temporary folder (TMPDIR) has room") from error

    @contextlib.contextmanager
    def utterance(self) -> Iterator[ctypes.CDLL]:
        """A freshly loaded, initialised and seeded espeak for one utterance (hold _LOCK)."""
        if not self.private.is_file():  # a temporary folder cleaned by someone else
            self.private = self._copy()
        try:
            lib = ctypes.CDLL(str(self.private), mode=getattr(os, "RTLD_LOCAL", 0))
        except OSError as error:
            raise VoiceError(
                f"espeak-ng could not be loaded ({error}); reinstall it with "
                "`pip install --force-reinstall espeakng-loader`"
            ) from error
        try:
            self._declare(lib)
            options = _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA | _INIT_DONT_EXIT
            self.rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0,
                                              self.data_path.encode(), options)
            if self.rate <= 0:
                raise VoiceError(
                    f"espeak-ng failed to start with data in {self.data_path}; reinstall it "
                    "with `pip install --force-reinstall espeakng-loader`"
                )
            lib.espeak_SetSynthCallback(self.callback)
            _seed(lib)
            yield lib
        finally:
            try:
                lib.espeak_Terminate()
            finally:
                handle = lib._handle
                del lib
                _unload(handle)
                if _still_loaded(self.private):  # e.g. a platform that never unloads
                    log.debug("espeak-ng stayed loaded; the next line loads a new copy")
                    self.private = self._copy()

    @staticmethod
    def _declare(lib: ctypes.CDLL) -> None:
        """The argument types of the functions we call."""
        lib.espeak_Initialize.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                          ctypes.c_int)
        lib.espeak_SetVoiceByName.argtypes = (ctypes.c_char_p,)
        lib.espeak_SetParameter.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int)
        lib.espeak_Synth.argtypes = (ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                                     ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                     ctypes.c_void_p, ctypes.c_void_p)

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

    def select(self, lib: ctypes.CDLL, variant: str) -> None:
        """Select 'language[+variant]'; a VoiceError naming whichever part is unknown."""
        language, _, extra = (variant or DEFAULT_VOICE).partition("+")
        if lib.espeak_SetVoiceByName(language.encode()) != _EE_OK:
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
            if lib.espeak_SetVoiceByName(f"{language}+{extra}".encode()) != _EE_OK:
                raise VoiceError(f"espeak could not select voice {variant!r}; try {language}")

    def speak(self, variant: str, text: str, wpm: int, pitch: int
              ) -> tuple[np.ndarray, list[tuple[str, float]]]:
        """Synthesize `text` in a fresh espeak with `variant` selected and every parameter
        set: int16 samples and (IPA, seconds) events."""
        with self.utterance() as lib:
            self.select(lib, variant)
            for parameter, value in {**_PARAMETERS, _RATE: wpm, _PITCH: pitch}.items():
                lib.espeak_SetParameter(parameter, value, 0)
            self.chunks, self.events = [], []
            data = text.replace("\x00", " ").encode("utf-8")
            code = lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8,
                                    None, None)
            if code != _EE_OK:
                raise VoiceError(f"espeak-ng failed (error {code}) speaking {text[:40]!r}; "
                                 "simplify the line or switch voice.engine to piper")
            samples = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)
            events = list(self.events)
            self.chunks, self.events = [], []
        return samples, events


def _seed(lib: ctypes.CDLL) -> None:
    """Seed espeak's noise generator (espeak-ng ≥ 1.52; older ones use libc's `rand`) and
    libc's `rand` (speechPlayer variants) to SEED."""
    seed = getattr(lib, "espeak_ng_SetRandSeed", None)
    if seed is not None:
        seed.argtypes = (ctypes.c_long,)
        seed(SEED)
    with contextlib.suppress(OSError, AttributeError, TypeError):  # no libc to reach
        ctypes.CDLL(None).srand(ctypes.c_uint(SEED))


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
            raw, events = espeak.speak(voice.variant, text, wpm, round(voice.pitch))
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
