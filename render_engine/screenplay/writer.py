"""Timeline → Fountain: regenerate a screenplay from an edit.

The script is written in `Coverage: manual` with one `[[shot: …]]` note per shot that spells
out its size, subjects, move, angle, length, id and seed, so reading it back gives the same
shots. Dialogue comes from each clip's ShotSpec, so lines changed in the edit land in the
script. Text the edit can't hold (action, transitions, sections, notes) comes back from what
the reader kept beside each clip; clips from elsewhere (no such record) still come out as
scenes (one per marker, or per run of clips on one set) with their prompt as action.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import opentimelineio as otio

from render_engine.bible import slugify
from render_engine.screenplay.casting import LIGHTING_WORDS
from render_engine.screenplay.edit import SCENE_KEY, SCRIPT_KEY
from render_engine.screenplay.model import plain_text
from render_engine.screenplay.parser import split_heading, time_of_day
from render_engine.screenplay.source import (
    action_source,
    cue_source,
    shot_note_source,
    speech_source,
)
from render_engine.spec import DialogLine, ShotSpec, spec_or_error, to_plain
from render_engine.timeline_io import timeline_rate


@dataclass
class _Shot:
    clip: otio.schema.Clip
    spec: ShotSpec
    frames: int
    start: int
    script: dict[str, Any]


@dataclass
class _SceneOut:
    heading: str
    number: str | None
    record: dict[str, Any]
    shots: list[_Shot] = field(default_factory=list)


def _meta(item: Any, key: str) -> dict[str, Any]:
    value = to_plain(item.metadata.get(key)) if key in item.metadata else None
    return value if isinstance(value, dict) else {}


def _shots(track: otio.schema.Track, rate: float) -> list[_Shot]:
    shots = []
    for clip in track.find_clips(shallow_search=True):
        spec = spec_or_error(clip)
        if spec is None or clip.source_range is None:
            continue
        start = round(clip.trimmed_range_in_parent().start_time.rescaled_to(rate).value)
        frames = round(clip.source_range.duration.rescaled_to(rate).value)
        shots.append(_Shot(clip, spec, frames, start, _meta(clip, SCRIPT_KEY)))
    return shots


def _scenes(track: otio.schema.Track, shots: list[_Shot], rate: float) -> list[_SceneOut]:
    markers = sorted(
        ((round(m.marked_range.start_time.rescaled_to(rate).value), m) for m in track.markers),
        key=lambda pair: pair[0])
    scenes: list[_SceneOut] = []
    current: _SceneOut | None = None
    current_marker = None
    for shot in shots:
        marker = None
        for start, candidate in markers:
            if start <= shot.start:
                marker = candidate
        key = (shot.spec.set, shot.spec.lighting)
        if current is not None and marker is current_marker and key == (
                current.shots[0].spec.set, current.shots[0].spec.lighting):
            current.shots.append(shot)
            continue
        record = _meta(marker, SCENE_KEY) if marker is not None else {}
        if marker is not None:
            heading = str(record.get("heading") or marker.name)
            number = record.get("number")
        else:
            heading = "INT. " + shot.spec.set.replace("-", " ").upper()
            number = None
        if current is not None and marker is current_marker:  # same heading, new set/lighting
            current.record = {k: v for k, v in current.record.items() if k != "after"}
        current = _SceneOut(heading, str(number) if number else None, record, [shot])
        current_marker = marker
        scenes.append(current)
    return scenes


def _safe_label(label: str) -> bool:
    """A label a shot note can carry as one word and read back as the same character."""
    return bool(re.fullmatch(r"[^\W_][\w'.-]*", label)) and label == label.upper()


def _labels(shots: list[_Shot], known: dict[str, Any]) -> dict[str, str]:
    """Cast name → how the script spells it (as the reader labelled it, else its first cue),
    else the name upper-cased."""
    labels = {str(k): str(v) for k, v in known.items() if _safe_label(str(v))}
    for shot in shots:
        for block in shot.script.get("blocks") or []:
            lines = block.get("lines") or []
            dialog = shot.spec.dialog
            if block.get("speakers"):
                continue  # a joint cue (ANNA AND BEN, BOTH) spells nobody's name alone
            if lines and isinstance(lines[0], int) and 0 <= lines[0] < len(dialog):
                cue = str(block.get("cue") or "")
                if _safe_label(cue):
                    labels.setdefault(dialog[lines[0]].speaker, cue)
    return labels


def _title_page(timeline: otio.schema.Timeline) -> list[str]:
    meta = _meta(timeline, SCRIPT_KEY)
    pairs = meta.get("title_page")
    page = [(str(p[0]), str(p[1])) for p in pairs if isinstance(p, list) and len(p) == 2] \
        if isinstance(pairs, list) else []
    if not page and timeline.name:
        page = [("Title", timeline.name)]
    page = [(k, v) for k, v in page if k.strip().lower() != "coverage"] + [("Coverage", "manual")]
    lines = []
    for key, value in page:
        parts = str(value).split("\n")
        if len(parts) == 1:
            lines.append(f"{key}: {parts[0]}")
        else:
            lines.append(f"{key}:")
            lines += ["    " + part for part in parts]
    return lines


def _duration_token(frames: int, rate: float) -> str:
    seconds = frames / rate
    if abs(round(seconds, 3) * rate - frames) < 1e-6:
        return f"{round(seconds, 3):g}s"
    return f"{frames}f"


def _note(shot: _Shot, rate: float, labels: dict[str, str]) -> str:
    spec = shot.spec

    def label(name: str) -> str:
        return labels.get(name) or name.upper()

    subjects = [label(s) for s in spec.shot.subjects]
    over = None
    if spec.shot.size == "OTS" and len(subjects) == 2:
        over, subjects = subjects[0], subjects[1:]
    extras = [_duration_token(shot.frames, rate), f"id={spec.shot.id}", f"seed={spec.seed}"]
    if not spec.dialog and spec.shot.subjects:
        moods = {c.expression for c in spec.characters if c.name in spec.shot.subjects}
        mood = moods.pop() if len(moods) == 1 else "neutral"
        if mood != "neutral" and re.fullmatch(r"[\w' -]+", mood):
            extras.append(f"({mood})")
    return shot_note_source(spec.shot.size, subjects, over, spec.camera.move,
                            spec.camera.amount, spec.shot.angle, spec.camera.handheld, extras)


def _valid_blocks(blocks: Any, count: int) -> list[dict[str, Any]] | None:
    if not isinstance(blocks, list):
        return None
    seen: list[int] = []
    for block in blocks:
        lines = block.get("lines") if isinstance(block, dict) else None
        if not isinstance(lines, list) or not all(isinstance(i, int) for i in lines):
            return None
        seen += lines
    return blocks if seen == list(range(count)) else None


def _regroup(dialog: list[DialogLine], labels: dict[str, str]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for index, line in enumerate(dialog):
        last = blocks[-1] if blocks else None
        if last is not None and last["speaker"] == line.speaker \
                and last["audio_only"] == line.audio_only:
            last["lines"].append(index)
            continue
        cue = labels.get(line.speaker) or line.speaker.upper()
        dual = bool(last and dialog[last["lines"][0]].start == line.start)
        blocks.append({"cue": cue, "extensions": ["V.O."] if line.audio_only else [],
                       "lines": [index], "dual": dual, "speaker": line.speaker,
                       "audio_only": line.audio_only})
    return blocks


def _block_text(block: dict[str, Any], dialog: list[DialogLine]) -> str:
    cue = str(block.get("cue") or "").strip() or dialog[block["lines"][0]].speaker.upper()
    extensions = [str(e) for e in block.get("extensions") or []]
    first_line = "@" + cue if block.get("forced") else cue_source(cue)
    lines = [first_line + "".join(f" ({e})" for e in extensions)
             + (" ^" if block.get("dual") else "")]
    raw = list(block.get("raw") or [])
    lyrics = set(block.get("lyrics") or [])
    pauses = {p[0]: str(p[1]) for p in block.get("pauses") or []
              if isinstance(p, list) and len(p) == 2}
    voices = block.get("speakers")
    step = len(voices) if isinstance(voices, list) and voices else 1
    said = block["lines"][::step]  # a joint cue's line is in `lines` once per voice
    for position, index in enumerate(said):
        line = dialog[index]
        previous = said[position - 1] if position else None
        if index in pauses:
            lines.append(pauses[index])
        elif previous is not None and not line.parenthetical and index not in lyrics \
                and previous not in lyrics:
            lines.append("(beat)")  # keeps two spoken lines of one speech apart
        if line.parenthetical:
            lines.append(f"({line.parenthetical})")
        text = line.text
        if position < len(raw) and " ".join(plain_text(str(raw[position])).split()) == text:
            text = str(raw[position])
        if index in lyrics:
            lines += ["~" + part for part in text.split("\n")]
        else:
            lines.append(speech_source(text))
    lines += [str(t) for t in block.get("tail") or []]
    notes = [str(n) for n in block.get("notes") or []]
    if notes:
        lines.append(" ".join(f"[[{n}]]" for n in notes))
    return "\n".join(lines)


def _scene_text(scene: _SceneOut, previous_time: str | None, rate: float,
                labels: dict[str, str]) -> tuple[list[str], str | None]:
    heading = scene.heading
    if scene.record.get("forced") or not heading.strip():
        heading = "." + (heading.strip() or "SCENE")
    if scene.number:
        heading += f" #{scene.number}#"
    out = [heading]
    _prefix, location, time, _number = split_heading(scene.heading, True)
    canonical = time_of_day(time)
    if canonical == "CONTINUOUS":
        canonical = previous_time
    first = scene.shots[0].spec
    notes = []
    if first.set != slugify(location):
        notes.append(f"[[set: {first.set}]]")
    default_light = canonical.lower() if canonical in LIGHTING_WORDS else None
    if first.lighting != default_light and first.lighting:
        notes.append(f"[[lighting: {first.lighting}]]")
    if notes:
        out.append(" ".join(notes))
    for shot in scene.shots:
        before = [str(b) for b in shot.script.get("before") or []]
        if not shot.script and shot.spec.prompt.strip():
            before.append(action_source(" ".join(shot.spec.prompt.split())))
        out += before
        out.append(_note(shot, rate, labels))
        dialog = shot.spec.dialog
        blocks = _valid_blocks(shot.script.get("blocks"), len(dialog)) or _regroup(dialog, labels)
        inner = [(int(i[0]), str(i[1])) for i in shot.script.get("inner") or []
                 if isinstance(i, list) and len(i) == 2 and isinstance(i[0], int)]
        for index, block in enumerate(blocks):
            out += [text for at, text in inner if at == index]
            if block["lines"] or block.get("tail"):
                out.append(_block_text(block, dialog))
        out += [text for at, text in inner if at >= len(blocks)]
    out += [str(a) for a in scene.record.get("after") or []]
    return out, canonical or previous_time


def timeline_to_fountain(timeline: otio.schema.Timeline) -> str:
    """The Fountain screenplay of an edit (see the module docstring)."""
    rate = timeline_rate(timeline)
    meta = _meta(timeline, SCRIPT_KEY)
    paragraphs = ["\n".join(_title_page(timeline))]
    paragraphs += [str(p) for p in meta.get("prologue") or []]
    all_shots: list[_Shot] = []
    previous_time: str | None = None
    for track in timeline.video_tracks():
        shots = _shots(track, rate)
        all_shots += shots
        labels = _labels(all_shots, meta.get("labels") or {})
        for scene in _scenes(track, shots, rate):
            text, previous_time = _scene_text(scene, previous_time, rate, labels)
            paragraphs += text
        break  # the picture edit is the first video track
    return "\n\n".join(p for p in paragraphs if p.strip()) + "\n"

