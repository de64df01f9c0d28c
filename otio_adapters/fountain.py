"""OTIO adapter `fountain`: a Fountain screenplay read as an edit, and an edit written back.

Reading parses the script, matches its speakers and locations to a production's bible (when
one is given) and blocks every scene out into shots with automatic coverage: clips with full
ShotSpecs on V1, dialog lines on DIALOG, scene markers. Writing regenerates a screenplay whose
shot notes give the same shots back. See docs/fountain.md.

    otioconvert -i script.fountain -o edit.otio [-a production=DIR] [-a fps=25]
    otioconvert -i edit.otio -o script.fountain

Every failure is one `FountainError` (a SoloreelError) naming the script line where it can.
Loaded by OTIO by file path: imports of our code are absolute.
"""

from __future__ import annotations

import os
from pathlib import Path

import opentimelineio as otio

from render_engine.bible import Production, load_production
from render_engine.errors import SoloreelError
from render_engine.screenplay.edit import screenplay_to_timeline
from render_engine.screenplay.errors import FountainError
from render_engine.screenplay.writer import timeline_to_fountain


def _production(value: object) -> Production | None:
    if isinstance(value, Production):
        return value
    chosen = value or os.environ.get("SOLOREEL_PRODUCTION")
    if not chosen:
        return None
    try:
        return load_production(str(chosen), strict=True)
    except SoloreelError as exc:
        raise FountainError(str(exc)) from None


def _fps(value: object) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise FountainError(f'fps must be a number, got "{value}"') from None


def decode_script(data: bytes, source: str = "") -> str:
    """Script bytes → text: UTF-8 (with or without BOM) or UTF-16 with a BOM; anything else is
    a FountainError naming the line of the first byte that isn't text."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise FountainError("broken UTF-16 text; save the script as UTF-8",
                                source=source) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise FountainError(f"byte 0x{data[exc.start]:02x} is not UTF-8 text; save the script "
                            "as UTF-8 (any text editor can)", line, source) from None


def read_from_string(input_str: str, production: object = None, fps: object = None,
                     name: str = "", **_kwargs: object) -> otio.schema.Timeline:
    """The edit of a Fountain screenplay (`production`: a folder or a loaded Production)."""
    try:
        return screenplay_to_timeline(input_str, _production(production), _fps(fps), name)
    except FountainError:
        raise
    except SoloreelError as exc:
        raise FountainError(str(exc)) from None


def read_from_file(filepath: str, production: object = None, fps: object = None,
                   **_kwargs: object) -> otio.schema.Timeline:
    """The edit of a `.fountain` file; its name titles the timeline when the script has none."""
    path = Path(filepath)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FountainError(f"cannot be read ({exc.strerror or exc})", source=str(path)) from None
    text = decode_script(data, str(path))
    try:
        return screenplay_to_timeline(text, _production(production), _fps(fps), path.stem)
    except FountainError as exc:
        if exc.source:
            raise
        raise FountainError(exc.message, exc.line, str(path)) from None
    except SoloreelError as exc:
        raise FountainError(str(exc), source=str(path)) from None


def write_to_string(input_otio: otio.core.SerializableObject, **_kwargs: object) -> str:
    """A Fountain screenplay of the first timeline in `input_otio`."""
    timeline = input_otio
    if isinstance(input_otio, otio.schema.SerializableCollection):
        found = list(input_otio.find_children(descended_from_type=otio.schema.Timeline))
        timeline = found[0] if found else None
    if not isinstance(timeline, otio.schema.Timeline):
        raise FountainError(f"can only write a timeline, got {type(input_otio).__name__}")
    try:
        return timeline_to_fountain(timeline)
    except FountainError:
        raise
    except SoloreelError as exc:
        raise FountainError(f"timeline {timeline.name!r}: {exc}") from None
