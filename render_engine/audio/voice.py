"""The speech contract every text-to-speech engine fulfils, and the registry that finds them.

An engine turns a line of dialogue plus a character's `VoiceSettings` into a `SpeechResult`:
mono float samples, the timed phonemes it spoke (ARPAbet) and the Rhubarb-style mouth cues
the animatic draws. Engines are looked up by the name in `VoiceSettings.engine`.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from render_engine.bible import VoiceSettings
from render_engine.errors import SoloreelError

SHAPES = "ABCDEFGHX"
"""Rhubarb's mouth shapes: A closed (P B M) … H long L, X rest."""


class VoiceError(SoloreelError):
    """Speech could not be made; the message names the problem and how to fix it."""


@dataclass(frozen=True)
class MouthCue:
    """One mouth shape held over [start, end) seconds."""

    start: float
    end: float
    shape: str

    def __post_init__(self) -> None:
        if self.shape not in SHAPES or len(self.shape) != 1:
            raise ValueError(f"mouth shape {self.shape!r} is not one of {', '.join(SHAPES)}")
        if self.end < self.start:
            raise ValueError(f"mouth cue ends ({self.end}) before it starts ({self.start})")

    @property
    def duration(self) -> float:
        """Length of the cue in seconds."""
        return self.end - self.start


@dataclass
class SpeechResult:
    """Synthesised speech: samples, timed ARPAbet phonemes and the mouth cues covering them."""

    samples: np.ndarray
    """float32 mono in [-1, 1]."""
    rate: int
    cues: list[MouthCue] = field(default_factory=list)
    phonemes: list[tuple[str, float, float]] = field(default_factory=list)
    """(ARPAbet phone, start s, end s); silences are the gaps between them."""

    @property
    def duration(self) -> float:
        """Length of the audio in seconds."""
        return len(self.samples) / self.rate


@runtime_checkable
class VoiceEngine(Protocol):
    """A text-to-speech engine: one instance per process, safe to call from several threads."""

    name: str

    def synthesize(self, text: str, voice: VoiceSettings) -> SpeechResult:
        """Speak `text` with `voice`; raise VoiceError for anything the user can fix."""
        ...


_FACTORIES: dict[str, Callable[[], VoiceEngine] | str] = {
    "espeak": "render_engine.audio.espeak:EspeakEngine",
    "piper": "render_engine.audio.piper:PiperEngine",
    "coqui": "render_engine.audio.coqui:CoquiEngine",
}
_ENGINES: dict[str, VoiceEngine] = {}
_REGISTRY_LOCK = threading.Lock()


def register_engine(name: str, factory: Callable[[], VoiceEngine]) -> None:
    """Make an engine available under `name` (tests and plugins add their own this way)."""
    with _REGISTRY_LOCK:
        _FACTORIES[name] = factory
        _ENGINES.pop(name, None)


def engine_names() -> list[str]:
    """The engine names `get_engine` accepts, sorted."""
    return sorted(_FACTORIES)


def get_engine(name: str) -> VoiceEngine:
    """The shared engine called `name`, created on first use so unused engines cost nothing."""
    with _REGISTRY_LOCK:
        if name in _ENGINES:
            return _ENGINES[name]
        factory = _FACTORIES.get(name)
        if factory is None:
            raise VoiceError(
                f"voice engine {name!r} is not available; set voice.engine to one of "
                f"{', '.join(sorted(_FACTORIES))}"
            )
        if isinstance(factory, str):
            module_name, _, attr = factory.partition(":")
            factory = getattr(importlib.import_module(module_name), attr)
        engine = factory()
        _ENGINES[name] = engine
        return engine


def synthesize(text: str, voice: VoiceSettings) -> SpeechResult:
    """Speak `text` with the engine `voice.engine` names (the one-call entry point)."""
    return get_engine(voice.engine).synthesize(text, voice)


def require_text(text: str) -> str:
    """`text` stripped; a VoiceError if nothing speakable is left (engines call this first)."""
    stripped = text.strip() if isinstance(text, str) else ""
    if not stripped:
        raise VoiceError(
            "dialogue line is empty; write the words to speak, or remove the line"
        )
    return stripped
