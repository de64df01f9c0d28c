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
from importlib import metadata
from pathlib import Path

import numpy as np

from render_engine.audio.visemes import cues_from_amplitude
from render_engine.audio.voice import MouthCue, VoiceError, get_engine
from render_engine.audio.wav import read_audio_any, write_wav
from render_engine.bible import Production
from render_engine.errors import SoloreelError
from render_engine.hashing import canonical_json, file_digest
from render_engine.spec import DialogLine, ShotSpec

RATE = 48000
CUES_FILE = "cues.json"
AUDIO_FILE = "line.wav"


def engine_version(engine: str) -> str:
    """A version string that changes when the engine's output may change."""
    package = {"espeak": "espeakng-loader", "piper": "piper-tts", "coqui": "coqui-tts"}
    try:
        return f"{engine}-{metadata.version(package.get(engine, engine))}"
    except metadata.PackageNotFoundError:
        return f"{engine}-unknown"


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
        return len(self.samples) / self.rate


def _line_key(line: DialogLine, production: Production) -> dict:
    member = production.member(line.speaker)
    key = {"text": line.text, "voice": member.voice.model_dump(mode="json"),
           "engine": engine_version(member.voice.engine)}
    if line.recording:
        key["recording"] = file_digest(production.resolve(line.recording))
    if member.voice.reference:
        key["reference"] = file_digest(production.cast_file(member, member.voice.reference))
    return key


def speak_line(line: DialogLine, production: Production, label: str) -> SpokenLine:
    """The line's audio and cues from the cache, synthesising (or reading the take) on a miss."""
    try:
        member = production.member(line.speaker)
        key = _line_key(line, production)
    except SoloreelError as exc:
        raise SoloreelError(f"{label} dialog speaker: {exc}") from exc
    digest = hashlib.sha256(canonical_json(key).encode()).hexdigest()
    folder = production.renders_dir() / "audio" / digest
    if not (folder / CUES_FILE).is_file():
        _synthesise_into(folder, line, production, label)
    samples, rate = read_audio_any(folder / AUDIO_FILE)
    raw_cues = json.loads((folder / CUES_FILE).read_text())
    cues = [MouthCue(c["start"], c["end"], c["value"]) for c in raw_cues["mouthCues"]]
    return SpokenLine(samples, rate, cues, member.name, line.start, line.audio_only)


def _synthesise_into(folder: Path, line: DialogLine, production: Production, label: str) -> None:
    member = production.member(line.speaker)
    try:
        if line.recording:
            samples, rate = read_audio_any(production.resolve(line.recording))
            cues = cues_from_amplitude(samples, rate)
        else:
            result = get_engine(member.voice.engine).synthesize(line.text, member.voice)
            samples, rate, cues = result.samples, result.rate, result.cues
    except VoiceError as exc:
        raise SoloreelError(f'{label} dialog "{line.text[:40]}": {exc}') from exc
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


def spoken_lines(spec: ShotSpec, production: Production, label: str) -> list[SpokenLine]:
    """Every dialog line of the shot, spoken (cached)."""
    return [speak_line(line, production, label) for line in spec.dialog]


def mix_dialog(lines: list[SpokenLine], first_seconds: float, duration: float) -> np.ndarray:
    """Mix lines into one mono track covering [first_seconds, first_seconds + duration) of shot
    time, at 48 kHz; 5 ms fades keep cuts click-free."""
    total = round(duration * RATE)
    track = np.zeros(total, np.float32)
    for line in lines:
        samples = line.samples if line.rate == RATE else _resample(line.samples, line.rate)
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


def _resample(samples: np.ndarray, rate: int) -> np.ndarray:
    positions = np.arange(round(len(samples) * RATE / rate)) * (rate / RATE)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)


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
