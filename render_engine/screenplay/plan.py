"""The coverage plan: scenes and shots in seconds and cast names, before they become OTIO."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from render_engine.screenplay.blocking import Placement
from render_engine.screenplay.model import ParseWarning, Scene


def derive_seed(scene_key: str, shot_index: int) -> int:
    """A shot's seed from its scene (number, else index) and its position in the scene:
    stable from run to run, different for every shot."""
    digest = hashlib.sha256(f"soloreel/{scene_key}/{shot_index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass
class PlannedLine:
    """A line of dialog placed in its shot."""

    speaker: str
    text: str
    start: float
    seconds: float
    parenthetical: str = ""
    audio_only: bool = False


@dataclass
class PlannedShot:
    """One shot: everything the ShotSpec needs plus what the writer needs to give it back."""

    kind: str
    """establishing, dialogue, dual, voice, reaction, entrance, action, insert or noted."""
    line: int
    size: str = "MS"
    subjects: list[str] = field(default_factory=list)
    move: str = "static"
    amount: float = 0.0
    angle: str = "eye"
    handheld: bool = False
    target: str | None = None
    characters: list[dict[str, Any]] = field(default_factory=list)
    dialog: list[PlannedLine] = field(default_factory=list)
    seconds: float = 2.0
    frames: int | None = None
    """An exact length in frames asked for by a shot note (`96f`)."""
    timed: bool = False
    """The length was given by a shot note (not estimated)."""
    prompt: str = ""
    name: str = ""
    shot_id: str = ""
    seed: int | None = None
    before: list[str] = field(default_factory=list)
    """Fountain text (action, transitions, sections, notes…) that came before the shot."""
    blocks: list[dict[str, Any]] = field(default_factory=list)
    """Dialogue blocks as written: cue, extensions, which dialog lines, dual, lyrics."""
    inner: list[list[Any]] = field(default_factory=list)
    """[blocks before it, Fountain text]: what came between the speeches of a held shot."""
    note: str | None = None
    """The shot note that shaped it, as written."""


@dataclass
class PlannedScene:
    """A scene's shots with where it plays and how its characters are blocked."""

    scene: Scene
    set: str
    lighting: str | None
    time: str | None
    id_prefix: str
    shots: list[PlannedShot] = field(default_factory=list)
    placements: dict[str, Placement] = field(default_factory=dict)
    line: list[str] = field(default_factory=list)
    """The scene's 180-degree line: [screen-left, screen-right] principal characters."""
    after: list[str] = field(default_factory=list)
    """Fountain text after the scene's last shot (a closing transition…)."""

    @property
    def sides(self) -> dict[str, str]:
        """Each character's screen side, kept across the scene's coverage."""
        return {name: p.side for name, p in self.placements.items()}


@dataclass
class Plan:
    """A whole screenplay planned: scenes, text before the first scene, warnings."""

    scenes: list[PlannedScene]
    prologue: list[str]
    warnings: list[ParseWarning]
    manual: bool
