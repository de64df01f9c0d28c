"""ShotSpec: the validated, versioned model of `clip.metadata["soloreel"]`.

The spec is everything soloreel needs to render a shot at any tier. It is stored on the clip
as plain JSON-compatible metadata so that it travels with the timeline through OTIO. Older
versions are upgraded on read (see `upgrade`), so timelines written by an older soloreel keep
working.
"""

from __future__ import annotations

import copy
import json
from typing import Annotated, Any, Literal

import opentimelineio as otio
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
Action = Literal["stand", "sit", "walk", "turn", "gesture", "talk", "lie"]
FinalMode = Literal["vace_layers", "vace_inpaint", "i2v", "v2v_refine", "t2v"]

SHOT_SIZES: tuple[str, ...] = ShotSize.__args__  # type: ignore[attr-defined]
MOVES: tuple[str, ...] = Move.__args__  # type: ignore[attr-defined]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CameraSpec(_Strict):
    """The camera move of the shot, plus an optional explicit camera that overrides framing."""

    move: Move = "static"
    ease: Ease = "in_out"
    amount: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    handheld: bool = False
    target: str | None = None
    """The character a `track` move follows."""
    position: tuple[float, float, float] | None = None
    """Explicit camera position (x, height, z) in set metres; overrides shot-size framing."""
    heading_deg: float | None = None
    pitch_deg: float | None = None
    focal_mm: Annotated[float, Field(gt=1, lt=2000)] | None = None


SHOT_ORIGIN_SECONDS = 3600.0
"""Source time of a shot's first frame as written (01:00:00:00), leaving room for handles."""


class ShotInfo(_Strict):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=80)]
    origin: Annotated[float, Field(ge=0.0)] = SHOT_ORIGIN_SECONDS
    """Source time (seconds) where shot time 0 sits: dialog `start` and actions count from it,
    and an editor's trims move the clip's source range around it."""
    size: ShotSize = "MS"
    angle: Angle = "eye"
    subjects: list[str] = Field(default_factory=list)
    """Who the shot frames (OTS: [foreground, subject]); empty means every character."""


class CharacterSpec(_Strict):
    name: str
    position: tuple[float, float] = (0.0, 3.0)
    """Floor position (x right, z away from the set's camera) in metres."""
    facing: float = 180.0
    """Heading in degrees on the floor: 0 faces away from the set camera, 180 faces it."""
    action: Action = "stand"
    path: list[tuple[float, float]] = Field(default_factory=list)
    """Waypoints for `walk`, in floor metres."""
    expression: str = "neutral"
    pose_track: str | None = None
    """An OpenPose JSON track (relative to the production) that replaces the procedural pose."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class DialogLine(_Strict):
    speaker: str
    text: Annotated[str, Field(min_length=1)]
    start: Annotated[float, Field(ge=0.0)] = 0.0
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
        return value


class FinalRender(_Strict):
    mode: FinalMode | None = None
    model: str | None = None
    steps: Annotated[int, Field(ge=1, le=1000)] | None = None
    strength: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    guidance: Annotated[float, Field(ge=0.0, le=30.0)] | None = None


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
    characters: list[CharacterSpec] = Field(default_factory=list)
    dialog: list[DialogLine] = Field(default_factory=list)
    prompt: str = ""
    seed: Annotated[int, Field(ge=0, lt=2**32)] = 0
    render: RenderSpec = RenderSpec()

    def to_metadata(self) -> dict[str, Any]:
        """The JSON-compatible dict stored in `clip.metadata["soloreel"]`."""
        return self.model_dump(mode="json", exclude_defaults=False)

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
    return value


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
        raise SpecError(field or "metadata", first["msg"]) from exc
