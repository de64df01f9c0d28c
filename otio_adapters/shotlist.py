"""OTIO adapter `soloreel_shotlist`: an edit as a shot-list spreadsheet (CSV), and back.

Writing gives the creator (and a crew) a printable list of every shot with its size, move, cast
and dialog. Reading turns a planning spreadsheet into an edit whose clips carry ShotSpecs, so
shots can be planned in any spreadsheet program before a screenplay exists.

Loaded by OTIO by file path: imports of our own code are absolute.
"""

from __future__ import annotations

import csv
import io

import opentimelineio as otio

from render_engine.errors import SoloreelError
from render_engine.spec import (
    SHOT_ORIGIN_SECONDS,
    DialogLine,
    ShotSpec,
    spec_or_error,
    write_spec,
)
from render_engine.timeline_io import iter_shots

COLUMNS = ("number", "shot_id", "clip_name", "record_in", "record_out", "frames", "size",
           "angle", "move", "set", "lighting", "characters", "dialog", "seed", "prompt")


def _dialog_text(spec: ShotSpec) -> str:
    return " | ".join(f"{line.speaker.upper()}: {line.text}" for line in spec.dialog)


def write_to_string(input_otio, **_kwargs) -> str:
    """One CSV row per shot with a ShotSpec, in timeline order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for ref in iter_shots(input_otio):
        spec = spec_or_error(ref.clip) if ref.has_spec else None
        if spec is None:
            continue
        duration = ref.clip.source_range.duration if ref.clip.source_range else None
        frames = round(duration.rescaled_to(ref.rate).value) if duration else 0
        end = ref.record_start + otio.opentime.RationalTime(frames, ref.rate)
        writer.writerow([
            ref.number, spec.shot.id, ref.clip.name, ref.timecode,
            otio.opentime.to_timecode(end, ref.rate), frames, spec.shot.size, spec.shot.angle,
            spec.camera.move, spec.set, spec.lighting or "", ";".join(spec.character_names()),
            _dialog_text(spec), spec.seed, spec.prompt,
        ])
    return out.getvalue()


def _parse_dialog(cell: str, row: int) -> list[DialogLine]:
    lines = []
    for part in filter(None, (p.strip() for p in cell.split("|"))):
        speaker, sep, text = part.partition(":")
        if not sep or not text.strip():
            raise SoloreelError(
                f'shot list row {row} dialog: "{part}" is not "SPEAKER: text"; write each line '
                'as NAME: words, lines separated by |')
        lines.append(DialogLine(speaker=speaker.strip().lower(), text=text.strip()))
    return lines


def read_from_string(input_str: str, fps: float = 24, **_kwargs) -> otio.schema.Timeline:
    """A timeline with one clip per row; rows need at least shot_id, frames, size and set."""
    reader = csv.DictReader(io.StringIO(input_str.lstrip("\ufeff")))
    missing = {"shot_id", "frames", "set"} - set(reader.fieldnames or ())
    if missing:
        raise SoloreelError(f"shot list: missing column(s) {', '.join(sorted(missing))}; "
                            f"expected columns: {', '.join(COLUMNS)}")
    timeline = otio.schema.Timeline(name="shot list")
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    for row_number, row in enumerate(reader, start=2):
        try:
            frames = int(row["frames"])
            if frames <= 0:
                raise ValueError
        except (TypeError, ValueError):
            raise SoloreelError(f'shot list row {row_number} frames: "{row["frames"]}" is not '
                                "a positive whole number of frames") from None
        names = [n.strip().lower() for n in (row.get("characters") or "").split(";")
                 if n.strip()]
        spacing = 1.4
        characters = [
            {"name": name, "position": ((i - (len(names) - 1) / 2) * spacing, 3.5)}
            for i, name in enumerate(names)
        ]
        raw = {
            "shot": {"id": row["shot_id"].strip(), "size": (row.get("size") or "MS").strip(),
                     "angle": (row.get("angle") or "eye").strip()},
            "set": row["set"].strip(),
            "lighting": (row.get("lighting") or "").strip() or None,
            "camera": {"move": (row.get("move") or "static").strip()},
            "characters": characters,
            "dialog": [d.model_dump() for d in _parse_dialog(row.get("dialog") or "",
                                                             row_number)],
            "seed": int(row.get("seed") or 0),
            "prompt": row.get("prompt") or "",
        }
        try:
            spec = ShotSpec.model_validate(raw)
        except Exception as exc:  # pydantic's message names the field
            raise SoloreelError(f"shot list row {row_number}: {exc}") from exc
        clip = otio.schema.Clip(
            name=(row.get("clip_name") or "").strip() or spec.shot.id,
            source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(SHOT_ORIGIN_SECONDS * fps, fps),
                otio.opentime.RationalTime(frames, fps)),
        )
        write_spec(clip, spec)
        track.append(clip)
    return timeline
