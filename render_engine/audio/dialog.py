"""A shot's dialog as audio: each line spoken once (cached by content), then mixed at its time.

Lines are cached under `renders/audio/<hash>/` (48 kHz PCM WAV + Rhubarb-style mouth cues),
keyed by the text, the speaker's voice settings and the engine's version, so the same line is
never synthesised twice and a changed voice re-speaks only that character's lines.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from render_engine.audio.casting import style_reference, voice_for
from render_engine.audio.conversion import convert
from render_engine.audio.coqui import model_identity
from render_engine.audio.resample import resample
from render_engine.audio.voice import MouthCue, SpeechResult, VoiceError, get_engine
from render_engine.audio.wav import read_audio_any, write_wav
from render_engine.bible import CastMember, Production
from render_engine.errors import SoloreelError
from render_engine.hashing import canonical_json, file_digest
from render_engine.spec import DialogLine, ShotSpec
from render_engine.versions import voice_engine_version

RATE = 48000
CUES_FILE = "cues.json"
AUDIO_FILE = "line.wav"


def engine_version(engine: str) -> str:
    """A version string that changes when the engine's output may change
    (`render_engine.versions.voice_engine_version`)."""
    return voice_engine_version(engine)


@dataclass(frozen=True)
class SpokenLine:
    """One line's audio and mouth cues (times relative to the line's own start)."""

    samples: np.ndarray
    rate: int
    cues: list[MouthCue]
    speaker: str
    start: float
    """Shot time (seconds from the spec's origin) where the line begins."""
    audio_only: bool

    @property
    def duration(self) -> float:
        """Length of the line's audio in seconds."""
        return len(self.samples) / self.rate


CONVERSION_VERSION = 1
"""Bumped when the offline voice conversion or the text aligner changes its output."""


def _line_key(line: DialogLine, production: Production) -> dict:
    member = production.member(line.speaker)
    key = {"text": line.text, "voice": member.voice.model_dump(mode="json"),
           "engine": engine_version(member.voice.engine)}
    if line.recording:
        try:
            recording = production.resolve(line.recording)
        except SoloreelError as exc:
            raise SoloreelError(f"recording: {exc}") from exc
        if not recording.is_file():
            raise SoloreelError(f"recording {line.recording} does not exist; record the take "
                                "or fix the path (relative to the production)")
        key["recording"] = file_digest(recording)
        key["conversion"] = CONVERSION_VERSION
    if member.voice.reference:
        try:
            reference = production.cast_file(member, member.voice.reference)
        except SoloreelError as exc:
            raise SoloreelError(f"cast/{member.name}.toml voice.reference: {exc}") from exc
        if not reference.is_file():
            raise SoloreelError(f"{member.name}'s voice.reference {member.voice.reference} "
                                "does not exist; record the character or remove the field")
        key["reference"] = file_digest(reference)
    if member.voice.engine == "coqui":
        voice = voice_for(member, production)
        key["model"] = model_identity(voice.variant)
        key["aligner"] = CONVERSION_VERSION
        style = style_reference(voice, line.parenthetical)
        if style is not None:
            key["style"] = file_digest(style)
    return key


def line_cache_folder(line: DialogLine, production: Production, label: str) -> Path:
    """Where the line's WAV and cues are cached (or will be), without speaking it.

    Lets checks that only need a line's length (`lines_past_cut`) use what is already spoken;
    raises SoloreelError naming the clip (`label`) for an unknown speaker or a missing take.
    """
    try:
        production.member(line.speaker)
    except SoloreelError as exc:
        raise SoloreelError(f"{label} dialog speaker: {exc}") from exc
    try:
        key = _line_key(line, production)
    except SoloreelError as exc:  # VoiceError included
        raise SoloreelError(f'{label} dialog "{line.text[:40]}": {exc}') from exc
    digest = hashlib.sha256(canonical_json(key).encode()).hexdigest()
    return production.renders_dir() / "audio" / digest


def line_folder(line: DialogLine, production: Production, label: str) -> Path:
    """The cache folder holding the line's WAV and cues, made now if it is missing.

    Why a folder per line: the edit links the WAV itself (audio tracks), and the proxy reads
    the cues beside it; both stay valid as long as the line, voice and engine do.
    """
    folder = line_cache_folder(line, production, label)
    if not (folder / CUES_FILE).is_file():
        _synthesise_into(folder, line, production, label)
    return folder


def speak_line(line: DialogLine, production: Production, label: str) -> SpokenLine:
    """The line's audio and cues from the cache, synthesising (or converting the take) on a
    miss."""
    folder = line_folder(line, production, label)
    member = production.member(line.speaker)
    samples, rate = read_audio_any(folder / AUDIO_FILE)
    raw_cues = json.loads((folder / CUES_FILE).read_text())
    cues = [MouthCue(c["start"], c["end"], c["value"]) for c in raw_cues["mouthCues"]]
    return SpokenLine(samples, rate, cues, member.name, line.start, line.audio_only)


def _synthesise_into(folder: Path, line: DialogLine, production: Production, label: str) -> None:
    member = production.member(line.speaker)
    try:
        result = synthesise_line(line, member, production)
    except VoiceError as exc:
        raise SoloreelError(f'{label} dialog "{line.text[:40]}": {exc}') from exc
    samples, rate, cues = result.samples, result.rate, result.cues
    folder.parent.mkdir(parents=True, exist_ok=True)
    staged = folder.parent / f".tmp-{folder.name}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    staged.mkdir()
    try:
        write_wav(staged / AUDIO_FILE, samples, rate, RATE)
        duration = len(samples) / rate
        payload = {"metadata": {"soundFile": AUDIO_FILE, "duration": round(duration, 4)},
                   "mouthCues": [{"start": round(c.start, 4), "end": round(c.end, 4),
                                  "value": c.shape} for c in cues]}
        (staged / CUES_FILE).write_text(json.dumps(payload))
        try:
            os.rename(staged, folder)
        except OSError:
            if not (folder / CUES_FILE).is_file():
                raise
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def synthesise_line(line: DialogLine, member: CastMember, production: Production
                    ) -> SpeechResult:
    """Speak one line in the member's voice: the take converted when the line has one, else
    the member's engine reading the text (coqui gets a take matching the parenthetical)."""
    if line.recording:
        samples, rate = read_audio_any(production.resolve(line.recording))
        return convert(samples, rate, member, production, text=line.text)
    voice = voice_for(member, production)
    engine = get_engine(voice.engine)
    if voice.engine == "coqui":
        style = style_reference(voice, line.parenthetical)
        return engine.synthesize(line.text, voice, style_reference=style)  # type: ignore[call-arg]
    return engine.synthesize(line.text, voice)


def spoken_lines(spec: ShotSpec, production: Production, label: str) -> list[SpokenLine]:
    """Every dialog line of the shot, spoken (cached)."""
    return [speak_line(line, production, label) for line in spec.dialog]


def mix_dialog(lines: list[SpokenLine], first_seconds: float, duration: float) -> np.ndarray:
    """Mix lines into one mono track covering [first_seconds, first_seconds + duration) of shot
    time, at 48 kHz; 5 ms fades keep cuts click-free."""
    total = round(duration * RATE)
    track = np.zeros(total, np.float32)
    for line in lines:
        samples = resample(line.samples, line.rate, RATE)
        offset = round((line.start - first_seconds) * RATE)
        lo, hi = max(0, offset), min(total, offset + len(samples))
        if hi > lo:
            track[lo:hi] += samples[lo - offset:hi - offset]
    fade = min(total // 2, RATE // 200)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        track[:fade] *= ramp
        track[-fade:] *= ramp[::-1]
    return np.clip(track, -1.0, 1.0)


def mouth_shape(lines: list[SpokenLine], speaker: str, shot_seconds: float) -> str:
    """The speaker's mouth shape at a moment of shot time ("X" when silent or off-line)."""
    for line in lines:
        if line.speaker != speaker or line.audio_only:
            continue
        t = shot_seconds - line.start
        if 0 <= t < line.duration:
            for cue in line.cues:
                if cue.start <= t < cue.end:
                    return cue.shape
    return "X"


def dialog_seconds(lines: list[SpokenLine]) -> float:
    """Shot time at which the last line ends (for durations that follow the dialog)."""
    return max((line.start + line.duration for line in lines), default=0.0)
