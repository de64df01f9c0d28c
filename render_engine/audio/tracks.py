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

The screenplay's own dialog tracks (DIALOG, DIALOG 2…, written by script2edit: clips with
`metadata["soloreel_dialog"]` and no media, placed by estimated line lengths) are replaced by
the character tracks, so no stale copy of the lines stays in the edit. Every audio track then
ends exactly with the picture (gaps added or trailing gaps trimmed), so a conform or preview
never runs on past the last shot in black.

`lines_past_cut` is the check behind "a line cut off by its shot is silent": it lists the lines
whose speech does not fit inside their shot's cut. `link_dialog_clip` gives a dialog or room
tone clip its WAV (the `soloreel` media linker uses it).
"""

from __future__ import annotations

import math
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import opentimelineio as otio

from render_engine.audio.dialog import AUDIO_FILE, RATE, line_cache_folder, line_folder
from render_engine.audio.wav import read_audio_any, write_wav
from render_engine.bible import Production
from render_engine.errors import SoloreelError
from render_engine.spec import (
    SHOT_ORIGIN_SECONDS,
    DialogLine,
    ShotSpec,
    SpecError,
    read_spec,
    spec_or_error,
)
from render_engine.timeline_io import ShotRef, iter_shots, timeline_rate

METADATA_KEY = "soloreel_audio"
"""Metadata namespace of everything this module writes (tracks, clips, shot durations)."""
TAIL_SECONDS = 0.5
"""Picture held after the last line ends."""
ROOM_TONE_SECONDS = 10.0
ROOM_TONE_DBFS = -50.0
ROOM_TONE_VERSION = 1
SCRIPT_DIALOG_KEY = "soloreel_dialog"
"""Metadata key of the screenplay's dialog clips (`render_engine.screenplay.edit.DIALOG_KEY`)."""
SPEECH_LEVEL = 0.01
"""Sample level (-40 dBFS) above which a line's audio counts as speech, not its silent tail."""
CUT_TOLERANCE_SECONDS = 0.01
"""Speech lost at a cut below this is not reported (a fraction of a frame)."""


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
    cut: list[str] = field(default_factory=list)
    """Lines partly outside a shot the editor trimmed (heard up to the cut)."""
    replaced: list[str] = field(default_factory=list)
    """The screenplay's dialog tracks (or clips) the character tracks replaced."""
    overruns: list[str] = field(default_factory=list)
    """Other audio tracks whose clips run on past the picture (left as the editor made them)."""
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
        if first > offset or last < offset + length:
            lost = (first - offset + offset + length - last) / rate
            report.cut.append(f'{ref.label} dialog "{line.text[:40]}": {lost:.2f} s of it '
                              "falls outside the trimmed shot")
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


def _gap(frames: int, rate: float) -> otio.schema.Gap:
    """A gap of `frames` at `rate`."""
    return otio.schema.Gap(source_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(frames, rate)))


def is_script_dialog_clip(item: otio.core.Composable) -> bool:
    """True for a dialog clip the screenplay adapter wrote (`metadata["soloreel_dialog"]`)."""
    return isinstance(item, otio.schema.Clip) and SCRIPT_DIALOG_KEY in item.metadata


def _remove_replaced_tracks(timeline: otio.schema.Timeline, rate: float,
                            report: DialogTrackReport) -> int:
    """Drop the tracks an earlier run made and the screenplay's dialog tracks (a track that
    mixes the screenplay's lines with other clips keeps the others: each line becomes a gap);
    returns where the first audio track now sits."""
    stack = timeline.tracks
    for index in reversed(range(len(stack))):
        track = stack[index]
        if METADATA_KEY in track.metadata:
            del stack[index]
            continue
        if track.kind != otio.schema.TrackKind.Audio:
            continue
        clips = [item for item in track if isinstance(item, otio.schema.Clip)]
        script = [clip for clip in clips if is_script_dialog_clip(clip)]
        if not script:
            continue
        if len(script) == len(clips):
            report.replaced.insert(0, track.name or f"audio track {index}")
            del stack[index]
            continue
        for position in reversed(range(len(track))):
            item = track[position]
            if is_script_dialog_clip(item):
                frames = _frames(item.duration(), rate)
                del track[position]
                track.insert(position, _gap(frames, rate))
        report.replaced.insert(0, f"{track.name}: {len(script)} screenplay line(s)")
    for index, track in enumerate(stack):
        if track.kind == otio.schema.TrackKind.Audio:
            return index
    return len(stack)


def picture_frames(timeline: otio.schema.Timeline, rate: float | None = None) -> int:
    """How long the picture runs: the longest video track, in frames at `rate` (the edit's)."""
    rate = rate or timeline_rate(timeline)
    return max((_frames(track.duration(), rate) for track in timeline.video_tracks()),
               default=0)


def end_with_picture(track: otio.schema.Track, frames: int, rate: float) -> int:
    """Make an audio track last exactly `frames`: a gap appended when it is shorter, trailing
    gaps shortened or dropped when it is longer. Clips are never cut; returns the frames its
    clips still run past the picture (0 when the track now ends with it)."""
    length = _frames(track.duration(), rate)
    if length < frames:
        track.append(_gap(frames - length, rate))
        return 0
    while length > frames and len(track) and isinstance(track[-1], otio.schema.Gap):
        tail = _frames(track[-1].duration(), rate)
        keep = tail - (length - frames)
        del track[-1]
        if keep > 0:
            track.append(_gap(keep, rate))
        length = _frames(track.duration(), rate)
    return max(0, length - frames)


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
    at = _remove_replaced_tracks(timeline, rate, report)
    end = picture_frames(timeline, rate)
    new_tracks = [_build_track(name, speaker, items, rate)
                  for name, speaker, items in _assign_tracks(placed)]
    if room_tone and end > 0:
        new_tracks.append(_room_tone_track(production, end, rate))
        report.room_tone = True
    for offset, track in enumerate(new_tracks):
        timeline.tracks.insert(at + offset, track)
    if end > 0:
        for track in timeline.audio_tracks():
            past = end_with_picture(track, end, rate)
            if past:
                report.overruns.append(f"{track.name}: runs {past / rate:.2f} s past the "
                                       "picture; trim it in the edit")
    report.tracks = [track.name for track in new_tracks]
    return report


# --------------------------------------------------------------------------- lines past the cut


@dataclass(frozen=True)
class LinePastCut:
    """A dialog line whose speech does not fit inside its shot: the part outside is silent."""

    label: str
    """The shot as `shot N "NAME" @ TC`."""
    shot_id: str
    line: int
    """Index of the line in the shot's dialog."""
    speaker: str
    text: str
    after_cut: float
    """Seconds of speech after the shot's last frame."""
    before_cut: float = 0.0
    """Seconds of speech before the shot's first frame (a head trim into the line)."""

    def message(self) -> str:
        """One line for a report: what is lost and the fix."""
        text = self.text if len(self.text) <= 40 else self.text[:39] + "…"
        lost = []
        if self.after_cut > 0:
            lost.append(f"ends {self.after_cut:.2f} s after the cut")
        if self.before_cut > 0:
            lost.append(f"starts {self.before_cut:.2f} s before the shot")
        return (f'{self.label} dialog[{self.line}] {self.speaker} "{text}" '
                f"{' and '.join(lost)}: that speech is silent — fix: run `soloreel dialog` "
                "(shots follow their lines), lengthen the shot, or move the line's start")


def _speech_span(wav: Path) -> tuple[float, float]:
    """(first, last) second of a WAV where its level reaches SPEECH_LEVEL; (0, 0) if silent."""
    samples, rate = read_audio_any(wav)
    loud = np.flatnonzero(np.abs(samples) >= SPEECH_LEVEL)
    if loud.size == 0:
        return 0.0, 0.0
    return float(loud[0]) / rate, float(loud[-1] + 1) / rate


def lines_past_cut(timeline: otio.schema.Timeline, production: Production,
                   speak: bool = True) -> list[LinePastCut]:
    """Every dialog line whose speech runs past its shot's cut (or starts before the shot's
    first frame), in edit order.

    Why: the proxy, the preview and the `soloreel dialog` tracks all cut a line at its shot's
    cut, so speech outside the shot is silently lost ("…midnight"). The speech is measured on
    the line's spoken WAV (silence at its ends does not count); lines are spoken (cached) when
    `speak`, else lines not spoken yet are skipped. Lines that cannot be spoken (an unknown
    speaker, a missing take) are skipped: validate reports those itself.
    """
    found: list[LinePastCut] = []
    for ref in iter_shots(timeline):
        clip = ref.clip
        if not ref.has_spec or clip.source_range is None:
            continue
        try:
            spec = spec_or_error(clip)
        except SpecError:
            continue
        if spec is None or not spec.dialog:
            continue
        shown = clip.trimmed_range()
        head = shown.start_time.to_seconds()
        tail = head + shown.duration.to_seconds()
        for index, line in enumerate(spec.dialog):
            try:
                if speak:
                    folder = line_folder(line, production, ref.label)
                else:
                    folder = line_cache_folder(line, production, ref.label)
                wav = folder / AUDIO_FILE
                if not wav.is_file():
                    continue
                first, last = _speech_span(wav)
            except SoloreelError:
                continue
            if last <= first:
                continue
            begin = spec.shot.origin + line.start
            after = begin + last - tail
            before = head - (begin + first)
            if after > CUT_TOLERANCE_SECONDS or before > CUT_TOLERANCE_SECONDS:
                found.append(LinePastCut(
                    ref.label, spec.shot.id, index, line.speaker, line.text,
                    round(max(after, 0.0), 3), round(max(before, 0.0), 3)))
    return found


# --------------------------------------------------------------------------- linking dialog clips


_SHOT_INDEX: dict[int, tuple[otio.core.Composition, dict[str, ShotSpec]]] = {}


def _root(item: otio.core.Composable) -> otio.core.Composable:
    """The outermost composition holding `item` (a timeline's stack)."""
    while item.parent() is not None:
        item = item.parent()
    return item


def _shot_specs(root: otio.core.Composable) -> dict[str, ShotSpec]:
    """Shot id → ShotSpec of every clip under `root`, built once per edit being linked."""
    cached = _SHOT_INDEX.get(id(root))
    if cached is not None and cached[0] is root:
        return cached[1]
    specs: dict[str, ShotSpec] = {}
    clips = root.find_clips() if isinstance(root, otio.core.Composition) else []
    for clip in clips:
        try:
            spec = read_spec(clip)
        except Exception:  # a broken spec is validate's business, not the linker's
            continue
        if spec is not None:
            specs.setdefault(spec.shot.id, spec)
    _SHOT_INDEX.clear()
    if isinstance(root, otio.core.Composition):
        _SHOT_INDEX[id(root)] = (root, specs)
    return specs


def dialog_clip_line(clip: otio.schema.Clip) -> tuple[DialogLine, str] | None:
    """The DialogLine a dialog clip speaks and the clip's kind ("script" for the screenplay's
    clips, "dialog" for `soloreel dialog`'s); None for any other clip.

    The shot's spec is preferred (it knows a recorded take); the clip's own metadata is used
    when the shot is not in the edit or its line has changed since.
    """
    ours = clip.metadata.get(METADATA_KEY)
    if ours is not None and str(ours.get("role")) == "dialog":
        shot_id, kind = str(ours.get("shot_id", "")), "dialog"
        meta = {"speaker": ours.get("speaker"), "text": ours.get("text")}
        wanted = ours.get("line")
    elif SCRIPT_DIALOG_KEY in clip.metadata:
        meta = dict(clip.metadata[SCRIPT_DIALOG_KEY])
        shot_id, kind, wanted = str(meta.get("shot", "")), "script", None
    else:
        return None
    speaker, text = str(meta.get("speaker") or ""), str(meta.get("text") or "")
    spec = _shot_specs(_root(clip)).get(shot_id)
    if spec is not None:
        lines = list(enumerate(spec.dialog))
        if wanted is not None:
            lines.sort(key=lambda pair: pair[0] != int(wanted))
        for _index, line in lines:
            if line.speaker == speaker and line.text == text:
                return line, kind
    try:
        line = DialogLine.model_validate({
            "speaker": speaker, "text": text,
            "parenthetical": str(meta.get("parenthetical") or "")})
    except Exception as exc:
        raise SoloreelError(f'dialog clip "{clip.name}": its metadata is not a dialog line '
                            f"({exc.__class__.__name__}); run soloreel dialog again") from None
    return line, kind


def link_dialog_clip(clip: otio.schema.Clip, production: Production) -> bool:
    """Link a dialog clip (the screenplay's or `soloreel dialog`'s) to its line's spoken WAV,
    speaking it if it is not cached, and a room tone clip to the room tone; False (clip
    untouched) for any other clip.

    The screenplay's clips start their source at the shot origin (SHOT_ORIGIN_SECONDS), so the
    WAV's available range starts there too; `soloreel dialog`'s clips start at 0. The clip's
    source range is kept: the edit decides what is heard.
    """
    ours = clip.metadata.get(METADATA_KEY) or {}
    if str(ours.get("role", "")) == "room_tone":
        path, samples = room_tone_wav(production)
        start = 0
    else:
        found = dialog_clip_line(clip)
        if found is None:
            return False
        line, kind = found
        wav = line_folder(line, production, f'dialog clip "{clip.name}"') / AUDIO_FILE
        path, samples = wav, _wav_samples(wav)
        start = round(SHOT_ORIGIN_SECONDS * RATE) if kind == "script" else 0
    reference = otio.schema.ExternalReference(
        target_url=path.resolve().as_uri(),
        available_range=otio.opentime.TimeRange(otio.opentime.RationalTime(start, RATE),
                                                otio.opentime.RationalTime(samples, RATE)))
    reference.name = f"line-{path.parent.name[:8]}" if path.name == AUDIO_FILE else path.name
    clip.media_reference = reference
    return True
