"""ShotSpec: the validated, versioned model of `clip.metadata["soloreel"]`.

The spec is everything soloreel needs to render a shot at any tier. It is stored on the clip
as plain JSON-compatible metadata so that it travels with the timeline through OTIO. Older
versions are upgraded on read (see `upgrade`), so timelines written by an older soloreel keep
working.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import opentimelineio as otio
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
)

from render_engine.errors import SoloreelError

NAMESPACE = "soloreel"
CURRENT_VERSION = 2

ShotSize = Literal["EWS", "WS", "FS", "MWS", "MS", "MCU", "CU", "ECU", "OTS", "TWO"]
Angle = Literal["eye", "high", "low", "overhead", "dutch"]
Move = Literal[
    "static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out",
    "push_in", "pull_out", "truck_left", "truck_right", "crane_up", "crane_down", "track",
]
Ease = Literal["linear", "in", "out", "in_out"]
Action = Literal["stand", "sit", "walk", "turn", "gesture", "talk", "lie", "sit_down", "stand_up"]
FinalMode = Literal["vace_layers", "vace_inpaint", "i2v", "v2v_refine", "t2v", "animate",
                    "animate_replace"]

SHOT_SIZES: tuple[str, ...] = ShotSize.__args__  # type: ignore[attr-defined]
MOVES: tuple[str, ...] = Move.__args__  # type: ignore[attr-defined]

# --------------------------------------------------------------------------- bounds
# Every number and text a timeline carries is bounded when the spec is read, so a typo or a
# hostile file is one clear error naming the clip and field instead of a render that runs
# for hours, an error slate of a billion frames, or an OverflowError deep in the renderer.

MAX_SHOT_SECONDS = 600.0
"""The longest shot (a clip's source range) soloreel reads by default: 10 minutes. A longer
clip is almost always a typo (frames written as seconds, a missing timecode separator) and
would render for hours; `SOLOREEL_MAX_SHOT_MINUTES` raises the bound for a deliberate long
take (up to `MAX_SHOT_MINUTES_LIMIT`)."""
MAX_SHOT_ENV = "SOLOREEL_MAX_SHOT_MINUTES"
"""Environment variable overriding `MAX_SHOT_SECONDS` (in minutes)."""
MAX_SHOT_MINUTES_LIMIT = 24 * 60.0
"""The most `SOLOREEL_MAX_SHOT_MINUTES` may allow: one day of footage in a single shot."""
MAX_TIME_SECONDS = 48 * 3600.0
"""Source times (a shot's `origin`, a clip's source start) and dialog `start` times stay within
two timecode days, so every frame number they turn into is exact and finite."""
MAX_DIALOG_CHARS = 2000
"""The longest dialog line (and parenthetical): about two minutes of speech. A longer speech is
several lines, each with its own start; one unbounded line made a 5 s placeholder run for
minutes laying out its text and synthesising its audio."""
MAX_PROMPT_CHARS = 10_000
"""The longest prompt (the final tier's text encoder reads a few hundred tokens of it)."""
MAX_FLOOR_METRES = 1000.0
"""Floor coordinates (character positions, walk paths, an explicit camera) lie within this many
metres of the set's origin: a set is at most 2 km across, and the projection's arithmetic stays
far from float overflow."""
MAX_ANGLE_DEG = 3600.0
"""Angles (facing, camera heading and pitch) within ten turns either way."""
MAX_PATH_POINTS = 1000
"""Waypoints in one character's walk path."""
MAX_CHARACTERS = 100
"""Characters in one shot."""
MAX_DIALOG_LINES = 500
"""Dialog lines in one shot."""


def _floor_metres(value: float) -> float:
    """A floor coordinate within ±MAX_FLOOR_METRES (finite: the model refuses inf and nan)."""
    if not -MAX_FLOOR_METRES <= value <= MAX_FLOOR_METRES:
        raise ValueError(
            f"{value:g} m is more than {MAX_FLOOR_METRES:g} m from the set's origin; write "
            f"floor positions in set metres, within ±{MAX_FLOOR_METRES:g}")
    return value


def _angle(value: float) -> float:
    """An angle in degrees within ±MAX_ANGLE_DEG."""
    if not -MAX_ANGLE_DEG <= value <= MAX_ANGLE_DEG:
        raise ValueError(f"{value:g}° is more than ten turns; write an angle within "
                         f"±{MAX_ANGLE_DEG:g} (e.g. 0 to 360)")
    return value


def _time(value: float) -> float:
    """A time in seconds within MAX_TIME_SECONDS (the models require it to be ≥ 0 too)."""
    if value > MAX_TIME_SECONDS:
        raise ValueError(f"{value:g} s is beyond {MAX_TIME_SECONDS / 3600:g} hours; write "
                         "seconds (not frames), within two timecode days")
    return value


FloorMetres = Annotated[float, AfterValidator(_floor_metres)]
FloorPoint = tuple[FloorMetres, FloorMetres]
Degrees = Annotated[float, AfterValidator(_angle)]
Seconds = Annotated[float, Field(ge=0.0), AfterValidator(_time)]


def max_shot_seconds(environ: Mapping[str, str] | None = None) -> float:
    """The longest shot allowed: `MAX_SHOT_SECONDS`, or `SOLOREEL_MAX_SHOT_MINUTES` when set."""
    text = (os.environ if environ is None else environ).get(MAX_SHOT_ENV, "").strip()
    if not text:
        return MAX_SHOT_SECONDS
    try:
        minutes = float(text)
    except ValueError:
        minutes = math.nan
    if not 0 < minutes <= MAX_SHOT_MINUTES_LIMIT:
        raise SoloreelError(
            f"{MAX_SHOT_ENV}={text!r}: must be minutes between 0 and "
            f"{MAX_SHOT_MINUTES_LIMIT:g}; unset it for the default of "
            f"{MAX_SHOT_SECONDS / 60:g} minutes")
    return minutes * 60.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class CameraSpec(_Strict):
    """The camera move of the shot, plus an optional explicit camera that overrides framing."""

    move: Move = "static"
    ease: Ease = "in_out"
    amount: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    handheld: bool = False
    target: str | None = None
    """The character a `track` move follows."""
    position: tuple[FloorMetres, FloorMetres, FloorMetres] | None = None
    """Explicit camera position (x, height, z) in set metres; overrides shot-size framing."""
    heading_deg: Degrees | None = None
    pitch_deg: Degrees | None = None
    focal_mm: Annotated[float, Field(gt=1, lt=2000)] | None = None


SHOT_ORIGIN_SECONDS = 3600.0
"""Source time of a shot's first frame as written (01:00:00:00), leaving room for handles."""


class ShotInfo(_Strict):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=80)]
    origin: Seconds = SHOT_ORIGIN_SECONDS
    """Source time (seconds) where shot time 0 sits: dialog `start` and actions count from it,
    and an editor's trims move the clip's source range around it."""
    size: ShotSize = "MS"
    angle: Angle = "eye"
    subjects: list[str] = Field(default_factory=list)
    """Who the shot frames (OTS: [foreground, subject]); empty means every character."""
    line: Annotated[list[str], Field(max_length=2)] = Field(default_factory=list)
    """The scene's 180-degree line: the two characters (its principal speakers) every shot of
    the scene keeps on their own screen side; empty: the shot's two busiest speakers."""


class CharacterSpec(_Strict):
    name: Annotated[str, Field(max_length=200)]
    position: FloorPoint = (0.0, 3.0)
    """Floor position (x right, z away from the set's camera) in metres."""
    facing: Degrees = 180.0
    """Heading in degrees on the floor: 0 faces away from the set camera, 180 faces it."""
    action: Action = "stand"
    path: Annotated[list[FloorPoint], Field(max_length=MAX_PATH_POINTS)] = Field(
        default_factory=list)
    """Waypoints for `walk`, in floor metres."""
    expression: Annotated[str, Field(max_length=200)] = "neutral"
    pose_track: str | None = None
    """An OpenPose JSON track (relative to the production) that replaces the procedural pose."""
    seat: Annotated[str, Field(max_length=200)] | None = None
    """`sit` on this `[[seats]]` entry of the set (unset: the free seat nearest `position`)."""
    lean: Annotated[str, Field(max_length=200)] | None = None
    """Lean forward with forearms on this `[[surfaces]]` entry of the set (a table top)."""
    point: Annotated[str, Field(max_length=200)] | None = None
    """Point (reach) toward this character of the shot, or this seat, surface or prop."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("seat", "lean", "point")
    @classmethod
    def _target(cls, value: str | None) -> str | None:
        return value.strip().lower() or None if value is not None else None

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        for key in CHARACTER_OPTIONAL:
            if data.get(key) is None:
                data.pop(key, None)
        return data


CHARACTER_OPTIONAL = ("seat", "lean", "point")
"""CharacterSpec fields stored (and hashed) only when set: older shots keep their hashes."""


class DialogLine(_Strict):
    speaker: Annotated[str, Field(max_length=200)]
    text: Annotated[str, Field(min_length=1)]
    start: Seconds = 0.0
    """Seconds from the start of the shot (not counting handles)."""
    parenthetical: str = ""
    audio_only: bool = False
    """V.O./O.S.: heard, no lip sync, the speaker may be off screen."""
    recording: str | None = None
    """The creator's own take (relative path); converted to the character's voice."""

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("dialog text is empty")
        if len(value) > MAX_DIALOG_CHARS:
            raise ValueError(
                f"dialog line is {len(value)} characters, more than {MAX_DIALOG_CHARS}; split "
                "it into several lines, each with its own start")
        return value

    @field_validator("parenthetical")
    @classmethod
    def _parenthetical(cls, value: str) -> str:
        if len(value) > MAX_DIALOG_CHARS:
            raise ValueError(f"parenthetical is {len(value)} characters, more than "
                             f"{MAX_DIALOG_CHARS}; shorten it")
        return value


SHA256_PATTERN = r"^[0-9a-f]{64}$"
MAX_KEYFRAME_ALTERNATES = 32


class KeyframeTake(_Strict):
    """One rendered keyframe of a shot: its PNG's SHA-256 and the seed that drew it."""

    sha256: Annotated[str, Field(pattern=SHA256_PATTERN)]
    seed: Annotated[int, Field(ge=0, lt=2**32)]


class KeyframeSpec(_Strict):
    """`render.final.keyframe`: the approved keyframe (sha256 + seed; None: none approved)
    the final starts from, and earlier keyframes kept by retakes (`render_engine.final.
    keyframes`)."""

    sha256: Annotated[str, Field(pattern=SHA256_PATTERN)] | None = None
    seed: Annotated[int, Field(ge=0, lt=2**32)] | None = None
    alternates: Annotated[list[KeyframeTake], Field(max_length=MAX_KEYFRAME_ALTERNATES)] = Field(
        default_factory=list)


class FinalRender(_Strict):
    mode: FinalMode | None = None
    model: str | None = None
    steps: Annotated[int, Field(ge=1, le=1000)] | None = None
    strength: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    guidance: Annotated[float, Field(ge=0.0, le=30.0)] | None = None
    keyframe: KeyframeSpec | None = None
    """The approved keyframe and its alternates (left out of hashes when None)."""


class RenderSpec(_Strict):
    final: FinalRender = FinalRender()


class ShotSpec(_Strict):
    version: Literal[2] = CURRENT_VERSION
    shot: ShotInfo
    set: str
    lighting: str | None = None
    plate: str | None = None
    """A per-shot plate image (relative to the production) replacing the set's plate."""
    camera: CameraSpec = CameraSpec()
    characters: Annotated[list[CharacterSpec], Field(max_length=MAX_CHARACTERS)] = Field(
        default_factory=list)
    dialog: Annotated[list[DialogLine], Field(max_length=MAX_DIALOG_LINES)] = Field(
        default_factory=list)
    prompt: Annotated[str, Field(max_length=MAX_PROMPT_CHARS)] = ""
    seed: Annotated[int, Field(ge=0, lt=2**32)] = 0
    render: RenderSpec = RenderSpec()

    def to_metadata(self) -> dict[str, Any]:
        """The JSON-compatible dict stored in `clip.metadata["soloreel"]` (an unset
        `render.final.keyframe` is left out, so timelines written before it existed read and
        write the same)."""
        data = self.model_dump(mode="json", exclude_defaults=False)
        if data["render"]["final"].get("keyframe") is None:
            data["render"]["final"].pop("keyframe", None)
        return data

    def character_names(self) -> list[str]:
        return [c.name for c in self.characters]

    def files(self) -> dict[str, str]:
        """Every file the spec itself names, by field path → path relative to the production."""
        found = {}
        if self.plate:
            found["plate"] = self.plate
        for i, char in enumerate(self.characters):
            if char.pose_track:
                found[f"characters[{i}].pose_track"] = char.pose_track
        for i, line in enumerate(self.dialog):
            if line.recording:
                found[f"dialog[{i}].recording"] = line.recording
        return found


# --------------------------------------------------------------------------- upgrades


def _upgrade_1_to_2(raw: dict[str, Any]) -> dict[str, Any]:
    """v1 (the first design sketch) kept the camera move under `shot.camera` and timed dialog
    with `at`; v2 makes the camera a top-level block (it also carries explicit cameras) and
    times dialog with `start`."""
    shot = raw.get("shot")
    if isinstance(shot, dict) and "camera" in shot:
        raw.setdefault("camera", shot.pop("camera"))
    for line in raw.get("dialog") or []:
        if isinstance(line, dict) and "at" in line:
            line.setdefault("start", line.pop("at"))
    raw["version"] = 2
    return raw


UPGRADES = {1: _upgrade_1_to_2}


class SpecError(SoloreelError):
    """A ShotSpec that cannot be read; `field` is the path inside the spec."""

    def __init__(self, field: str, message: str, fix: str = ""):
        super().__init__(f"{field}: {message}" + (f"; {fix}" if fix else ""))
        self.field = field
        self.message = message
        self.fix = fix


def upgrade(raw: dict[str, Any]) -> dict[str, Any]:
    """Bring a raw spec dict of any known version up to CURRENT_VERSION (a copy)."""
    data = copy.deepcopy(raw)
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        raise SpecError("version", f"must be an integer, got {version!r}")
    if version > CURRENT_VERSION:
        raise SpecError(
            "version", f"{version} is newer than this soloreel understands ({CURRENT_VERSION})",
            "upgrade soloreel")
    if version < 1:
        raise SpecError("version", f"unknown version {version}")
    while version < CURRENT_VERSION:
        data = UPGRADES[version](data)
        version = data["version"]
    return data


def raw_metadata(clip: otio.core.Item) -> dict[str, Any] | None:
    """The raw soloreel metadata of a clip as a dict, or None when the clip has none.

    Some tools store nested metadata as a JSON string; accept that too.
    """
    if NAMESPACE not in clip.metadata:
        return None
    value = clip.metadata[NAMESPACE]
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise SpecError(
                "metadata", f"malformed JSON in metadata[\"{NAMESPACE}\"] ({exc.msg} at "
                f"character {exc.pos})", "fix the JSON or re-create the clip") from exc
    if hasattr(value, "items") and not isinstance(value, dict):
        value = to_plain(value)
    if not isinstance(value, dict):
        raise SpecError(
            "metadata", f"metadata[\"{NAMESPACE}\"] must be an object, got "
            f"{type(value).__name__}", "replace it with a ShotSpec object")
    check_clip_range(clip)
    return value


def check_clip_range(clip: otio.core.Item) -> None:
    """Refuse a shot clip whose source range is unbounded: a non-finite start or length, or a
    length beyond `max_shot_seconds()` (10 minutes by default). Raises SpecError naming
    `source_range.duration` / `source_range.start_time` and the fix.

    Called by `raw_metadata`, the one door every reader of a clip's spec goes through
    (`soloreel validate`, rendering, dialog, review), so a 10⁹-frame clip is refused before
    anything renders it (or an error slate of its length).
    """
    source = getattr(clip, "source_range", None)
    if source is None:
        return
    try:
        seconds = source.duration.to_seconds()
        start = source.start_time.to_seconds()
    except Exception:  # a broken RationalTime: the same error as an unbounded one
        seconds = start = math.nan
    limit = max_shot_seconds()
    if not math.isfinite(seconds) or seconds > limit:
        shown = f"{seconds:g} s" if math.isfinite(seconds) else "not a finite length"
        rate = source.duration.rate if math.isfinite(source.duration.rate) else 0
        frames = f" ({source.duration.value:g} frames at {rate:g} fps)" if rate else ""
        raise SpecError(
            "source_range.duration", f"the shot is {shown}{frames}, longer than the "
            f"{limit / 60:g} minutes a shot may last",
            f"trim the clip in the editor (or split it into several shots); set "
            f"{MAX_SHOT_ENV} for a deliberate long take")
    if not math.isfinite(start) or abs(start) > MAX_TIME_SECONDS:
        raise SpecError(
            "source_range.start_time", f"the clip starts at {start:g} s of source time, beyond "
            f"±{MAX_TIME_SECONDS / 3600:g} hours", "give the clip a source timecode within "
            "two days (soloreel writes 01:00:00:00)")


def to_plain(value: Any) -> Any:
    """OTIO's AnyDictionary/AnyVector → plain dicts/lists (deep)."""
    if hasattr(value, "items"):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or type(value).__name__ == "AnyVector":
        return [to_plain(v) for v in value]
    return value


def parse_spec(raw: dict[str, Any]) -> ShotSpec:
    """Validate a raw spec dict (upgrading old versions); raises ValidationError or SpecError."""
    return ShotSpec.model_validate(upgrade(raw))


def read_spec(clip: otio.core.Item) -> ShotSpec | None:
    """The clip's ShotSpec, or None if it has none; raises SpecError/ValidationError if bad."""
    raw = raw_metadata(clip)
    if raw is None:
        return None
    return parse_spec(raw)


def write_spec(clip: otio.core.Item, spec: ShotSpec) -> None:
    """Store the spec on the clip (replacing any older version)."""
    clip.metadata[NAMESPACE] = spec.to_metadata()


def spec_or_error(clip: otio.core.Item) -> ShotSpec | None:
    """Like read_spec, but any validation failure becomes one SpecError naming the field."""
    try:
        return read_spec(clip)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "".join(
            f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p))
            for i, p in enumerate(first["loc"])
        )
        message = first["msg"].removeprefix("Value error, ")
        raise SpecError(field or "metadata", message, _FIXES.get(first["type"], "")) from exc


_FIXES = {
    "finite_number": "write a finite number (not inf or nan)",
    "string_too_long": "shorten it",
    "too_long": "remove some entries (or split the shot)",
}
"""The fix `spec_or_error` adds for pydantic error types whose message does not say it."""
