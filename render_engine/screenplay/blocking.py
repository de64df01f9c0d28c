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


BEHIND_LINE_M = 1.4
"""How far beyond the principals' line of action the rest of a group stands."""


def scene_pair(roster: list[str], entering: list[str],
               lines: dict[str, int] | None = None) -> list[str]:
    """The two characters a scene is about, [screen left, screen right]: of those there from
    the start, the two with the most dialog lines (then first appearance), the earlier one
    left. Their line of action is the scene's 180-degree line. Fewer than two: empty."""
    group = [name for name in roster if name not in entering]
    if len(group) < 2:
        return []
    order = {name: index for index, name in enumerate(group)}
    counts = lines or {}
    ranked = sorted(group, key=lambda n: (-counts.get(n, 0), order[n]))[:2]
    return sorted(ranked, key=order.__getitem__)


def _face(spot: tuple[float, float], target: tuple[float, float]) -> float:
    return round(cheat_to_camera(heading(spot, target)))


def block_scene(roster: list[str], entering: list[str],
                lines: dict[str, int] | None = None) -> dict[str, Placement]:
    """Placements for a scene's characters: `roster` in order of first appearance, `entering`
    those who walk in after the scene starts, `lines` how many speeches each has.

    The two principals (most lines) face each other across the line of action, the earlier
    one screen left; everyone else stands beyond the line in a shallow arc facing them, so no
    one stands on the line, every wide holds them all, and the principals' singles and
    over-the-shoulders look past the others rather than through them.
    """
    group = [name for name in roster if name not in entering]
    lines = lines or {}
    placements: dict[str, Placement] = {}
    if len(group) >= 3:
        pair = scene_pair(roster, entering, lines)
        others = [n for n in group if n not in pair]
        spots = dict(zip(pair, PAIR_SEATS, strict=True))
        mid = ((PAIR_SEATS[0][0] + PAIR_SEATS[1][0]) / 2, (PAIR_SEATS[0][1] + PAIR_SEATS[1][1]) / 2)
        half = (len(others) - 1) / 2
        for index, name in enumerate(others):
            x = (index - half) * SPACING_M * 0.9
            depth = 1.0 - abs(index - half) / half if half else 1.0
            spots[name] = (round(x, 2), round(mid[1] + BEHIND_LINE_M + 0.3 * depth, 2))
        for name in group:
            spot = spots[name]
            partner = pair[1] if name == pair[0] else pair[0]
            target = spots[partner] if name in pair else mid
            placements[name] = Placement(name, spot, _face(spot, target), side_of(spot[0]))
        spot_list = list(spots.values())
    else:
        spot_list = _group_positions(len(group))
        for name, spot in zip(group, spot_list, strict=True):
            others_at = [s for s in spot_list if s != spot]
            target = (sum(s[0] for s in others_at) / len(others_at),
                      sum(s[1] for s in others_at) / len(others_at)) if others_at else None
            facing = _face(spot, target) if target else 180.0
            placements[name] = Placement(name, spot, facing, side_of(spot[0]))
    centre = (sum(s[0] for s in spot_list) / len(spot_list),
              sum(s[1] for s in spot_list) / len(spot_list)) if spot_list else (0.0, GROUP_Z_M)
    right_edge = max((s[0] for s in spot_list), default=-SPACING_M)
    for index, name in enumerate(n for n in roster if n in entering):
        end = (round(right_edge + 1.1 + 0.9 * index, 2),
               round(centre[1] + 0.9 + 0.4 * index, 2))
        start = (round(end[0] + ENTRY_OFFSET_M[0], 2), round(end[1] + ENTRY_OFFSET_M[1], 2))
        facing = _face(end, centre) if spot_list else 180.0
        placements[name] = Placement(name, end, facing, side_of(end[0]), (start, end))
    return placements
