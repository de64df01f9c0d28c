"""Blocking: where each character is on the set's floor at a moment of the shot, and how tall.

A character stands at its floor `position` facing `facing`; a walker (`action` "walk" with a
`path`) starts there and walks the waypoints at a steady pace, then stands facing the way it
walked. Eye and head heights follow the posture, so framing can aim at eyes before any cut-out
image is loaded.
"""

from __future__ import annotations

import itertools
import math

from render_engine.bible import Production
from render_engine.proxy.camera import heading_to
from render_engine.spec import CharacterSpec, ShotSpec

WALK_SPEED_M_S = 1.2
EYE_STANDING = 0.93
EYE_SITTING = 0.65  # where the painted sitting sheets put the eyes (0.62 is anatomical)
EYE_LYING = 0.12
HEAD_ABOVE_EYES = 0.07
DEFAULT_HEIGHT_M = 1.75


def route(character: CharacterSpec) -> list[tuple[float, float]]:
    """The floor points a walker visits: its position, then the path (a first waypoint equal
    to the position is not walked twice)."""
    points = [tuple(character.position)]
    for point in character.path:
        if math.dist(point, points[-1]) > 1e-3:
            points.append(tuple(point))
    return points  # type: ignore[return-value]


def character_floor(character: CharacterSpec, t_seconds: float
                    ) -> tuple[float, float, float, bool]:
    """(x, z, facing_deg, walking) of a character at shot time t.

    Walkers follow `path` at 1.2 m/s from t = 0, facing along the segment they walk, and stand
    facing the last segment's heading once they arrive; everyone else stays where the spec puts
    them, facing `facing`.
    """
    x, z = character.position
    if character.action != "walk" or not character.path:
        return float(x), float(z), float(character.facing) % 360.0, False
    points = route(character)
    if len(points) < 2:
        return float(x), float(z), float(character.facing) % 360.0, False
    travelled = max(0.0, t_seconds) * WALK_SPEED_M_S
    heading = float(character.facing) % 360.0
    for start, end in itertools.pairwise(points):
        length = math.dist(start, end)
        heading = heading_to(start, end)
        if travelled < length:
            k = travelled / length
            return (start[0] + k * (end[0] - start[0]), start[1] + k * (end[1] - start[1]),
                    heading, True)
        travelled -= length
    end = points[-1]
    return float(end[0]), float(end[1]), heading, False


def walk_seconds(character: CharacterSpec) -> float:
    """How long a walker takes to reach the end of its path (0 for others)."""
    if character.action != "walk":
        return 0.0
    points = route(character)
    return sum(math.dist(a, b) for a, b in itertools.pairwise(points)) / WALK_SPEED_M_S


def height_of(production: Production, name: str) -> float:
    """A cast member's height in metres (1.75 when the bible does not know them)."""
    try:
        return production.member(name).height_m
    except Exception:
        return DEFAULT_HEIGHT_M


def eye_height(character: CharacterSpec, height_m: float) -> float:
    """Eye height above the floor for the character's posture."""
    if character.action == "sit":
        return EYE_SITTING * height_m
    if character.action == "lie":
        return EYE_LYING * height_m
    return EYE_STANDING * height_m


def head_top(character: CharacterSpec, height_m: float) -> float:
    """Height of the top of the head for the character's posture."""
    return eye_height(character, height_m) + HEAD_ABOVE_EYES * height_m


def eye_point(spec: ShotSpec, production: Production, name: str, t_seconds: float = 0.0
              ) -> tuple[float, float, float]:
    """World position (x, y, z) of a character's eyes at shot time t."""
    character = find_character(spec, name)
    x, z, _, _ = character_floor(character, t_seconds)
    return (x, eye_height(character, height_of(production, character.name)), z)


def find_character(spec: ShotSpec, name: str) -> CharacterSpec:
    """The shot's character of that name (case-insensitive); KeyError naming the known ones."""
    for character in spec.characters:
        if character.name.strip().lower() == name.strip().lower():
            return character
    known = ", ".join(spec.character_names()) or "none"
    raise KeyError(f'shot {spec.shot.id}: no character "{name}" (known: {known})')
