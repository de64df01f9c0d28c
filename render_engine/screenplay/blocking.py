"""Blocking from text: where a scene's characters stand on the set's floor and which way
they face, so every shot of the scene agrees.

Floor metres: x to the right of the set camera, z away from it (the set camera stands at the
origin looking along +z). Facing: degrees clockwise seen from above, 0 = +z (away from the
camera), 90 = +x, 180 = towards the camera. The first two characters sit across a line of
action running left–right in front of the camera, facing each other: the set camera's side
of that line is the side every shot of the scene keeps (the 180° rule), so the first is
always screen left and the second screen right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PAIR_SEATS = ((-1.3, 3.7), (1.3, 3.9))
"""Where two people sit or stand facing each other (the demo's campfire seats)."""
SPACING_M = 1.3
GROUP_Z_M = 3.8
CHEAT_DEG = 15.0
"""How far faces turn towards the camera from a true profile ("cheating" to camera)."""
ENTRY_OFFSET_M = (1.8, 0.8)
"""An entering character starts this far right of and behind where they stop."""


@dataclass(frozen=True)
class Placement:
    """One character's blocking for a scene."""

    name: str
    position: tuple[float, float]
    facing: float
    side: str
    """Screen side kept for the whole scene: left, right or center."""
    entry_path: tuple[tuple[float, float], ...] = ()
    """For a character who enters mid-scene: from off the group's right to `position`."""

    @property
    def entry_facing(self) -> float:
        """Heading while walking in along `entry_path`."""
        if len(self.entry_path) < 2:
            return self.facing
        return heading(self.entry_path[0], self.entry_path[-1])

    def exit_path(self) -> tuple[tuple[float, float], ...]:
        """From `position` out of frame on the character's own side."""
        x, z = self.position
        out = 4.5 if x >= 0 else -4.5
        return (self.position, (round(out, 2), round(z + 1.5, 2)))


def heading(source: tuple[float, float], target: tuple[float, float]) -> float:
    """Degrees clockwise from +z of the direction from `source` to `target` on the floor."""
    dx, dz = target[0] - source[0], target[1] - source[1]
    if abs(dx) < 1e-9 and abs(dz) < 1e-9:
        return 180.0
    return math.degrees(math.atan2(dx, dz)) % 360.0


def cheat_to_camera(facing: float, degrees: float = CHEAT_DEG) -> float:
    """Turn a heading up to `degrees` towards the camera (180°), never past it."""
    delta = ((180.0 - facing + 180.0) % 360.0) - 180.0
    step = max(-degrees, min(degrees, delta))
    return (facing + step) % 360.0


def side_of(x: float) -> str:
    """Screen side of a floor x seen from the camera side of the line."""
    return "left" if x < -0.05 else "right" if x > 0.05 else "center"


def _group_positions(count: int) -> list[tuple[float, float]]:
    if count == 1:
        return [(0.0, GROUP_Z_M)]
    if count == 2:
        return list(PAIR_SEATS)
    half = (count - 1) / 2
    spots = []
    for index in range(count):
        x = (index - half) * SPACING_M
        depth = 1.0 - abs(index - half) / half  # the middle stands deepest: a shallow arc
        spots.append((round(x, 2), round(GROUP_Z_M - 0.1 + 0.6 * depth, 2)))
    return spots


def block_scene(roster: list[str], entering: list[str]) -> dict[str, Placement]:
    """Placements for a scene's characters: `roster` in order of first appearance (the first
    two hold screen left and right), `entering` those who walk in after the scene starts."""
    group = [name for name in roster if name not in entering]
    spots = _group_positions(len(group))
    placements: dict[str, Placement] = {}
    centre = (sum(s[0] for s in spots) / len(spots), sum(s[1] for s in spots) / len(spots)) \
        if spots else (0.0, GROUP_Z_M)
    for name, spot in zip(group, spots, strict=True):
        others = [s for s in spots if s != spot]
        target = (sum(s[0] for s in others) / len(others),
                  sum(s[1] for s in others) / len(others)) if others else (spot[0], 0.0)
        facing = cheat_to_camera(heading(spot, target)) if others else 180.0
        placements[name] = Placement(name, spot, round(facing), side_of(spot[0]))
    right_edge = max((s[0] for s in spots), default=-SPACING_M)
    for index, name in enumerate(n for n in roster if n in entering):
        end = (round(right_edge + 1.1 + 0.9 * index, 2),
               round(centre[1] + 0.9 + 0.4 * index, 2))
        start = (round(end[0] + ENTRY_OFFSET_M[0], 2), round(end[1] + ENTRY_OFFSET_M[1], 2))
        facing = cheat_to_camera(heading(end, centre)) if spots else 180.0
        placements[name] = Placement(name, end, round(facing), side_of(end[0]), (start, end))
    return placements
