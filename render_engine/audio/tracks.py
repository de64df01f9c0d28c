"""Dialog into the edit: one audio track per character, a clip per line, shots sized to dialog.

Every dialog line of every shot becomes an audio clip on its character's track (A1, A2…,
named after the character), linking the cached 48 kHz PCM WAV of the line. A line sits at the
shot's record time plus its offset inside the clip: origin + line.start − the clip's source
start, in whole frames, so trims at the head of a shot move its lines with the picture. A
shot's duration follows its dialog (last line's end + 0.5 s) until the editor trims it: the
duration set is recorded in the clip's metadata, and a clip whose duration no longer matches
has been trimmed by hand, so the edit wins and the lines are cut at the cut. An optional room
tone track (a quiet noise bed) fills the silence between lines. The WAVs fade in and out over
5 ms, so no cut clicks. Running it again replaces the tracks it made and nothing else.
"""

from __future__ import annotations

import math
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import opentimelineio as otio

from render_engine.audio.dialog import AUDIO_FILE, RATE, line_folder
from render_engine.audio.wav import write_wav
from render_engine.bible import Production
from render_engine.errors import SoloreelError
from render_engine.spec import ShotSpec, SpecError, spec_or_error
from render_engine.timeline_io import ShotRef, iter_shots, timeline_rate

METADATA_KEY = "soloreel_audio"
"""Metadata namespace of everything this module writes (tracks, clips, shot durations)."""
TAIL_SECONDS = 0.5
"""Picture held after the last line ends."""
ROOM_TONE_SECONDS = 10.0
ROOM_TONE_DBFS = -50.0
ROOM_TONE_VERSION = 1


@dataclass
class DialogTrackReport:
    """What `attach_dialog_tracks` did, for the command to print."""

    lines: int = 0
    tracks: list[str] = field(default_factory=list)
    resized: list[tuple[str, int, int]] = field(default_factory=list)
    """(shot label, frames before, frames after) for shots sized to their dialog."""
    kept: list[str] = field(default_factory=list)
    """Shots the editor trimmed: their duration was left alone."""
    hidden: list[str] = field(default_factory=list)
    """Lines trimmed out of the picture entirely (no clip made)."""
    room_tone: bool = False


@dataclass
class _Line:
    """One spoken line of a shot, ready to place."""

    speaker: str
    label: str
    text: str
    start: float
    """Shot time of the line (seconds from the spec's origin)."""
    samples: int
    """Length of the 48 kHz WAV in samples."""
    wav: Path
    shot_id: str
    index: int

    @property
    def duration(self) -> float:
        """Length of the line's audio in seconds."""
        return self.samples / RATE


def _wav_samples(path: Path) -> int:
    """Sample count of a cached PCM WAV (read from its header, cheap)."""
    with wave.open(str(path), "rb") as handle:
        return handle.getnframes()


def _shot_lines(ref: ShotRef, spec: ShotSpec, production: Production) -> list[_Line]:
    """Every line of one shot spoken (cached), with its WAV and length."""
    lines = []
    for index, line in enumerate(spec.dialog):
        folder = line_folder(line, production, ref.label)
        member = production.member(line.speaker)
        wav = folder / AUDIO_FILE
        lines.append(_Line(member.name, member.label, line.text, line.start,
                           _wav_samples(wav), wav, spec.shot.id, index))
    return lines


def _frames(time: otio.opentime.RationalTime, rate: float) -> int:
    """A time as whole frames at `rate` (rounded; edit times are frames)."""
    return round(time.rescaled_to(rate).value)


def _fit_duration(ref: ShotRef, spec: ShotSpec, lines: list[_Line],
                  report: DialogTrackReport) -> None:
    """Make the shot last until its dialog ends + TAIL_SECONDS, unless the editor trimmed it."""
    clip = ref.clip
    if clip.source_range is None or not lines:
        return
    rate = clip.source_range.duration.rate
    current = round(clip.source_range.duration.value)
    record = dict(clip.metadata.get(METADATA_KEY) or {})
    last_set = record.get("duration")
    if last_set is not None and (round(float(last_set)) != current
                                 or float(record.get("rate", rate)) != rate):
        report.kept.append(ref.label)
        return
    source_start = clip.source_range.start_time.to_seconds()
    end = spec.shot.origin + max(line.start + line.duration for line in lines) + TAIL_SECONDS
    wanted = max(1, math.ceil((end - source_start) * rate - 1e-6))
    if wanted != current:
        clip.source_range = otio.opentime.TimeRange(
            clip.source_range.start_time, otio.opentime.RationalTime(wanted, rate))
        report.resized.append((ref.label, current, wanted))
    clip.metadata[METADATA_KEY] = {"duration": wanted, "rate": rate}


@dataclass
class _Placed:
    """A line's clip on the record timeline, in frames."""

    line: _Line
    record: int
    skip: int
    """Frames cut from the head of the WAV (the shot's head was trimmed past the line)."""
    frames: int


def _place(ref: ShotRef, spec: ShotSpec, lines: list[_Line], rate: float,
           report: DialogTrackReport) -> list[_Placed]:
    """Where each line of a shot lands, cut to the shot's picture."""
    clip = ref.clip
    in_parent = clip.trimmed_range_in_parent()
    shot_record = _frames(in_parent.start_time, rate)
    shot_frames = _frames(in_parent.duration, rate)
    source_start = clip.trimmed_range().start_time.to_seconds()
    placed = []
    for line in lines:
        offset = round((spec.shot.origin + line.start - source_start) * rate)
        length = math.ceil(line.duration * rate - 1e-6)
        first, last = max(offset, 0), min(offset + length, shot_frames)
        if last <= first:
            report.hidden.append(f'{ref.label} dialog "{line.text[:40]}"')
            continue
        placed.append(_Placed(line, shot_record + first, first - offset, last - first))
    return placed


def _line_clip(item: _Placed, rate: float) -> otio.schema.Clip:
    """An audio clip linking the line's WAV with the WAV's true available range."""
    reference = otio.schema.ExternalReference(
        target_url=item.line.wav.resolve().as_uri(),
        available_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(0, RATE),
            otio.opentime.RationalTime(item.line.samples, RATE)))
    reference.name = f"{item.line.shot_id}-{item.line.index + 1}-{item.line.wav.parent.name[:8]}"
    text = item.line.text if len(item.line.text) <= 40 else item.line.text[:39] + "…"
    clip = otio.schema.Clip(
        name=f"{item.line.label}: {text}", media_reference=reference,
        source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(item.skip, rate),
                                             otio.opentime.RationalTime(item.frames, rate)))
    clip.metadata[METADATA_KEY] = {"role": "dialog", "speaker": item.line.speaker,
                                   "shot_id": item.line.shot_id, "line": item.line.index,
                                   "text": item.line.text}
    return clip


def _build_track(name: str, speaker: str, items: list[_Placed], rate: float
                 ) -> otio.schema.Track:
    """An audio track of gaps and line clips (items sorted, not overlapping)."""
    track = otio.schema.Track(name=name, kind=otio.schema.TrackKind.Audio)
    track.metadata[METADATA_KEY] = {"role": "dialog", "speaker": speaker}
    cursor = 0
    for item in items:
        if item.record > cursor:
            track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, rate),
                otio.opentime.RationalTime(item.record - cursor, rate))))
        track.append(_line_clip(item, rate))
        cursor = item.record + item.frames
    return track


def _assign_tracks(placed: list[_Placed]) -> list[tuple[str, str, list[_Placed]]]:
    """(track name, speaker, clips) per track: one per character in order of first line,
    more ("Jane 2") only where one character's lines overlap in time."""
    tracks: list[tuple[str, str, list[_Placed]]] = []
    order: dict[str, list[int]] = {}
    for item in sorted(placed, key=lambda p: (p.record, p.line.shot_id, p.line.index)):
        speaker = item.line.speaker
        lanes = order.setdefault(speaker, [])
        for lane in lanes:
            last = tracks[lane][2][-1]
            if last.record + last.frames <= item.record:
                tracks[lane][2].append(item)
                break
        else:
            name = item.line.label if not lanes else f"{item.line.label} {len(lanes) + 1}"
            lanes.append(len(tracks))
            tracks.append((name, speaker, [item]))
    return [tracks[lane] for lanes in order.values() for lane in lanes]


def room_tone_wav(production: Production) -> tuple[Path, int]:
    """A quiet, seeded noise bed (ROOM_TONE_SECONDS, low rumble and a little hiss) in the
    audio cache; (path, samples). Written once, atomically."""
    path = production.renders_dir() / "audio" / f"room-tone-v{ROOM_TONE_VERSION}.wav"
    count = round(ROOM_TONE_SECONDS * RATE)
    if path.is_file():
        return path, _wav_samples(path)
    rng = np.random.default_rng(20240601)
    white = rng.standard_normal(count + RATE)
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(white.size, 1.0 / RATE)
    shape = 1.0 / np.sqrt(np.maximum(freqs, 40.0))  # pink-ish: a room, not a hiss
    shape[freqs > 8000] *= 0.3
    noise = np.fft.irfft(spectrum * shape, white.size)[RATE // 2:RATE // 2 + count]
    noise *= 10 ** (ROOM_TONE_DBFS / 20) / np.sqrt(np.mean(noise**2))
    write_wav(path, noise.astype(np.float32), RATE, RATE)
    return path, count


def _room_tone_track(production: Production, frames: int, rate: float) -> otio.schema.Track:
    """Room tone clips back to back over [0, frames)."""
    path, samples = room_tone_wav(production)
    chunk = max(1, math.floor(samples / RATE * rate))
    track = otio.schema.Track(name="Room tone", kind=otio.schema.TrackKind.Audio)
    track.metadata[METADATA_KEY] = {"role": "room_tone"}
    cursor = 0
    while cursor < frames:
        length = min(chunk, frames - cursor)
        reference = otio.schema.ExternalReference(
            target_url=path.resolve().as_uri(),
            available_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, RATE),
                                                    otio.opentime.RationalTime(samples, RATE)))
        reference.name = path.name
        clip = otio.schema.Clip(name="room tone", media_reference=reference,
                                source_range=otio.opentime.TimeRange(
                                    otio.opentime.RationalTime(0, rate),
                                    otio.opentime.RationalTime(length, rate)))
        clip.metadata[METADATA_KEY] = {"role": "room_tone"}
        track.append(clip)
        cursor += length
    return track


def _remove_our_tracks(timeline: otio.schema.Timeline) -> int:
    """Drop the tracks an earlier run made; returns where the first audio track now sits."""
    stack = timeline.tracks
    for index in reversed(range(len(stack))):
        if METADATA_KEY in stack[index].metadata:
            del stack[index]
    for index, track in enumerate(stack):
        if track.kind == otio.schema.TrackKind.Audio:
            return index
    return len(stack)


def attach_dialog_tracks(timeline: otio.schema.Timeline, production: Production,
                         room_tone: bool = False) -> DialogTrackReport:
    """Put every dialog line of the edit on per-character audio tracks (see module doc).

    All lines are spoken (or found in the cache) before the timeline changes, so an error (an
    unknown character, an unreadable take) leaves the timeline as it was; it is raised as one
    SoloreelError naming the clip.
    """
    report = DialogTrackReport()
    shots: list[tuple[ShotRef, ShotSpec, list[_Line]]] = []
    for ref in iter_shots(timeline):
        if not ref.has_spec:
            continue
        try:
            spec = spec_or_error(ref.clip)
        except SpecError as exc:
            raise SoloreelError(f"{ref.label}: {exc}") from exc
        if spec is None or not spec.dialog:
            continue
        shots.append((ref, spec, _shot_lines(ref, spec, production)))
    for ref, spec, lines in shots:
        _fit_duration(ref, spec, lines, report)
    rate = timeline_rate(timeline)
    placed: list[_Placed] = []
    for ref, spec, lines in shots:
        placed += _place(ref, spec, lines, rate, report)
    report.lines = len(placed)
    at = _remove_our_tracks(timeline)
    new_tracks = [_build_track(name, speaker, items, rate)
                  for name, speaker, items in _assign_tracks(placed)]
    if room_tone:
        end = max((_frames(track.duration(), rate) for track in timeline.tracks), default=0)
        end = max([end] + [_frames(t.duration(), rate) for t in new_tracks])
        if end > 0:
            new_tracks.append(_room_tone_track(production, end, rate))
            report.room_tone = True
    for offset, track in enumerate(new_tracks):
        timeline.tracks.insert(at + offset, track)
    report.tracks = [track.name for track in new_tracks]
    return report
