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
import re
from dataclasses import dataclass
from typing import Any

from render_engine.bible import Seat, SetSpec, Surface

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


# --------------------------------------------------------------------------- furniture

SEATED = ("sit", "sit_down", "stand_up")
LEAN_REACH_M = 0.8
"""A seat this close to a surface (footprint to footprint) puts its sitters at that surface."""
PLACE_SPACING_M = 0.75
"""Centre-to-centre spacing of neighbours on one seat (a bench, a log): shoulder to shoulder
with elbow room; a seat shorter than its places allow spreads them evenly instead."""


def seat_slots(seat: Seat) -> list[tuple[float, float]]:
    """Where a seat's places are, left to right (front to back on a seat running away from
    the camera): centred along its longer side, PLACE_SPACING_M apart where it is long
    enough."""
    x, z = seat.position
    along = 0 if seat.extent[0] >= seat.extent[1] else 1
    length = seat.extent[along]
    step = min(length / seat.places, PLACE_SPACING_M)
    offsets = [(k - (seat.places - 1) / 2) * step for k in range(seat.places)]
    if along == 0:
        return [(round(x + o, 2), round(z, 2)) for o in offsets]
    return [(round(x, 2), round(z + o, 2)) for o in offsets]


def _gap(a: Seat | Surface, b: Surface) -> float:
    """Distance between two footprints on the floor (0 when they overlap)."""
    dx = abs(a.position[0] - b.position[0]) - (a.extent[0] + b.extent[0]) / 2
    dz = abs(a.position[1] - b.position[1]) - (a.extent[1] + b.extent[1]) / 2
    return math.hypot(max(dx, 0.0), max(dz, 0.0))


def _reface(placements: dict[str, Placement], line: list[str]) -> dict[str, Placement]:
    """Facings as `block_scene` gives them, from the placements' spots: the scene's pair face
    each other, everyone else faces the pair's midpoint (cheated to camera)."""
    if len(line) != 2 or not all(name in placements for name in line):
        return placements
    left, right = (placements[name].position for name in line)
    mid = ((left[0] + right[0]) / 2, (left[1] + right[1]) / 2)
    result = {}
    for name, place in placements.items():
        spot = place.position if not place.entry_path else place.entry_path[-1]
        target = (right if name == line[0] else left) if name in line else mid
        result[name] = Placement(name, place.position, _face(spot, target), place.side,
                                 place.entry_path)
    return result


def seat_scene(placements: dict[str, Placement], seated: list[str], set_spec: SetSpec,
               action_text: str = "", line: list[str] | None = None
               ) -> tuple[dict[str, Placement], dict[str, dict[str, str]]]:
    """Seat a scene's sitters on the set's seats: new placements, and per sitter the spec
    fields to add (`seat`, and `lean` when the seat is at a surface the scene's action text
    names, e.g. "sit at the patio table").

    Sitters take the free places nearest their blocked spots (`seat_slots`; places at a
    surface the action names come first), keeping their
    left-to-right order (so the scene's screen sides, and its 180° line, survive); then the
    scene's pair (`line`) face each other again and everyone else faces the pair, as
    `block_scene` has them (a seat's own `facing_deg` wins, a leaner squares up to the
    surface). A set without seats leaves the blocking as it is; validate reports whoever
    then sits on nothing."""
    if not set_spec.seats or not seated:
        return placements, {}
    text = action_text.lower()
    named = [surface for surface in set_spec.surfaces
             if re.search(rf"\b{re.escape(surface.name)}\b", text)]
    free = [(seat, slot) for seat in set_spec.seats for slot in seat_slots(seat)]
    order = sorted((n for n in seated if n in placements),
                   key=lambda n: placements[n].position[0])
    chosen: dict[str, tuple[Seat, tuple[float, float]]] = {}
    for name in order:
        if not free:
            break
        spot = placements[name].position
        # "sit at the table": the seats at a surface the action names come first
        best = min(free, key=lambda item: (
            not any(_gap(item[0], surface) <= LEAN_REACH_M for surface in named),
            math.dist(item[1], spot)))
        chosen[name] = best
        free.remove(best)
    # keep the left-to-right order: hand the chosen places out again sorted by x
    places = sorted(chosen.values(), key=lambda item: item[1][0])
    chosen = dict(zip(sorted(chosen, key=lambda n: placements[n].position[0]), places,
                      strict=True))
    result = dict(placements)
    for name, (_seat, spot) in chosen.items():
        old = placements[name]
        result[name] = Placement(name, spot, old.facing, side_of(spot[0]))
    result = _reface(result, line or [])
    fields: dict[str, dict[str, str]] = {}
    for name, (seat, spot) in chosen.items():
        fields[name] = {"seat": seat.name}
        facing = result[name].facing
        if seat.facing_deg is not None:
            facing = float(seat.facing_deg) % 360.0
        for surface in named:
            if _gap(seat, surface) <= LEAN_REACH_M:
                fields[name]["lean"] = surface.name
                facing = _face_surface(spot, surface, facing)
                break
        result[name] = Placement(name, spot, facing, side_of(spot[0]))
    return result, fields


def _face_surface(spot: tuple[float, float], surface: Surface, facing: float) -> float:
    """Heading of someone leaning on a surface: square to it, cheated a little towards where
    they faced."""
    to_surface = heading(spot, surface.clamp(*spot))
    delta = ((facing - to_surface + 180.0) % 360.0) - 180.0
    return round((to_surface + max(-CHEAT_DEG, min(CHEAT_DEG, delta))) % 360.0)


def _looked_at(facing: float, name: str, before: dict[str, Placement]) -> str | None:
    """Whom an eyeline facing (`coverage`'s: cheated towards the camera) looks at."""
    here = before[name].position
    for other, place in before.items():
        if other != name and abs(_face(here, place.position) - facing) < 0.5:
            return other
    return None


def seat_planned_scene(scene: Any, set_spec: SetSpec) -> None:
    """Seat a planned scene (`render_engine.screenplay.plan.PlannedScene`) on its set's
    furniture (`seat_scene`), in place: its placements and every shot's character entries —
    sitters get their place, `seat` and `lean`; facings that were the scene's follow the new
    placements, eyelines (a look at someone) are aimed again at where that someone is now."""
    seated: list[str] = []
    for shot in scene.shots:
        for entry in shot.characters:
            if entry.get("action") in SEATED and entry["name"] not in seated:
                seated.append(entry["name"])
    text = " ".join(getattr(element, "text", "") for element in scene.scene.body)
    before = dict(scene.placements)
    placements, fields = seat_scene(before, seated, set_spec, text, list(scene.line))
    if not fields:
        return
    for shot in scene.shots:
        for entry in shot.characters:
            name = entry["name"]
            if name not in placements or name not in before:
                continue
            old, new = before[name], placements[name]
            if name in fields and entry.get("action") in SEATED:
                entry["position"] = list(new.position)
                entry.update(fields[name])
            if "path" in entry:
                continue
            if entry.get("facing") == old.facing:
                entry["facing"] = new.facing
            elif (target := _looked_at(float(entry["facing"]), name, before)) is not None:
                spot = tuple(entry["position"])
                entry["facing"] = _face(spot, placements[target].position)
                surface = set_spec.surface(entry["lean"]) if entry.get("lean") else None
                if surface is not None:  # a leaner stays square to the table
                    entry["facing"] = _face_surface(spot, surface, entry["facing"])
    scene.placements = placements


POINT_RE = re.compile(
    r"\b(?:points?|pointing|gestures?|gesturing|nods?)\s+(?:at|to|towards?)\s+"
    r"(?:the\s+|a\s+|an\s+)?([a-z][a-z0-9_-]*)|\breach(?:es)?\s+for\s+(?:the\s+)?"
    r"([a-z][a-z0-9_-]*)", re.IGNORECASE)
"""An action sentence's pointing (or reaching): "The RANGER points at the fire." → fire."""


def point_planned_scene(scene: Any, set_spec: SetSpec) -> None:
    """Point characters the action lines say point (or reach) at a named target: a character
    of the scene or a seat, surface or prop of the set ("The RANGER points at the fire.").

    Each pointer points in the first shot from the action line on (before the next action
    line) where it does not walk (a walker keeps walking, arms swinging, and points once it
    stands); targets the scene and the set do not know are left alone (the line keeps its
    words, the shot its blocking)."""
    names = {name.lower() for name in scene.placements}
    furniture = {item.name for item in [*set_spec.seats, *set_spec.surfaces, *set_spec.props]}
    actions = [element for element in scene.scene.body
               if getattr(element, "kind", "") == "action"]
    for index, element in enumerate(actions):
        end = actions[index + 1].line if index + 1 < len(actions) else math.inf
        for sentence in re.split(r"(?<=[.!?])\s+", element.text):
            match = POINT_RE.search(sentence)
            if match is None:
                continue
            target = (match.group(1) or match.group(2)).lower()
            if target not in names and target not in furniture:
                continue
            who = {name for name in names
                   if re.search(rf"\b{re.escape(name)}\b", sentence[:match.start()], re.I)}
            for shot in scene.shots:
                if not who or not element.line <= shot.line < end:
                    continue
                for entry in shot.characters:
                    name = entry["name"].lower()
                    if name in who and name != target and entry.get("action") != "walk":
                        entry["point"] = target
                        who.discard(name)
