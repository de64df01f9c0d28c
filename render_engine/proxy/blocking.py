"""Blocking: where each character is on the set's floor at a moment of the shot, and how tall.

A character stands at its floor `position` facing `facing`; a walker (`action` "walk" with a
`path`) starts there and walks the waypoints at a steady pace, then stands facing the way it
walked. Eye and head heights follow the posture, so framing can aim at eyes before any cut-out
image is loaded.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from render_engine.bible import CastMember, Production, Seat, SetSpec, Surface
from render_engine.errors import SoloreelError
from render_engine.pose.openpose import SEATED_EYE, body_keypoints
from render_engine.proxy.camera import heading_to
from render_engine.spec import CharacterSpec, ShotSpec

WALK_SPEED_M_S = 1.2
TURN_DELAY_S = 0.3
TURN_SECONDS = 0.8
EYE_STANDING = 0.93
EYE_SITTING = SEATED_EYE
"""Seated eye height in body heights when the sheet does not say (the OpenPose figure's, on a
knee-high seat); a sheet with sit views sets its own (`seated_eye_ratio`)."""
SIT_VIEWS = ("sit_front", "sit_three_quarter", "sit_side", "sit_back")
STANDING_VIEWS = ("front", "three_quarter", "side", "back")
_SEATED_FIGURE = body_keypoints(0.0, "sit")
EYES_ABOVE_HIPS = float(_SEATED_FIGURE[14:16, 2].mean() - _SEATED_FIGURE[[8, 11], 2].mean())
"""How far (body heights) the seated figure's eyes are above its hips on the seat."""
FIGURE_EYE_STANDING = float(body_keypoints(0.0, "stand")[14:16, 2].mean())
"""The standing figure's eye height (body heights): where a standing view bent into a seated
figure has its eyes before it is lowered onto the seat."""
SEAT_TOLERANCE_M = 0.04
"""A seat within this of the height the sheet's seated views are painted on keeps the painted
cut-out (the rest path); farther, the rigged cut-out bends its legs to the seat."""
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

    Walkers follow `path` at 1.2 m/s from t = 0, facing along the segment they walk (turning
    smoothly into the next one over CORNER_M either side of a waypoint), and stand facing the
    last segment's heading once they arrive; a `turn` turns round on the spot
    (from `facing` to its opposite, TURN_SECONDS from TURN_DELAY_S on); everyone else stays
    where the spec puts them, facing `facing`.
    """
    x, z = character.position
    if character.action == "turn":  # turns round on the spot, from `facing`, over 0.8 s
        turned = 180.0 * _smooth((t_seconds - TURN_DELAY_S) / TURN_SECONDS)
        return float(x), float(z), (float(character.facing) + turned) % 360.0, False
    if character.action != "walk" or not character.path:
        return float(x), float(z), float(character.facing) % 360.0, False
    points = route(character)
    if len(points) < 2:
        return float(x), float(z), float(character.facing) % 360.0, False
    travelled = max(0.0, t_seconds) * WALK_SPEED_M_S
    heading = float(character.facing) % 360.0
    segments = list(itertools.pairwise(points))
    for index, (start, end) in enumerate(segments):
        length = math.dist(start, end)
        heading = heading_to(start, end)
        if travelled < length:
            k = travelled / length
            if index + 1 < len(segments) and length - travelled < CORNER_M:
                after = heading_to(*segments[index + 1])  # turning into the next segment
                heading = _blend(heading, after, 0.5 * (1 - (length - travelled) / CORNER_M))
            elif index > 0 and travelled < CORNER_M:
                before = heading_to(*segments[index - 1])
                heading = _blend(before, heading, 0.5 + 0.5 * travelled / CORNER_M)
            return (start[0] + k * (end[0] - start[0]), start[1] + k * (end[1] - start[1]),
                    heading, True)
        travelled -= length
    end = points[-1]
    return float(end[0]), float(end[1]), heading, False


CORNER_M = 0.35
"""A walker turns into its next segment over this much path either side of a waypoint."""


def _blend(a: float, b: float, k: float) -> float:
    """The heading k of the way from a to b, the short way round."""
    delta = ((b - a + 180.0) % 360.0) - 180.0
    return (a + delta * _smooth(k)) % 360.0


def _smooth(u: float) -> float:
    u = min(max(u, 0.0), 1.0)
    return u * u * (3 - 2 * u)


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


def standing_scale(member: CastMember) -> float | None:
    """Image pixels per metre of a cast sheet, from a standing view's feet and head-top
    anchors (None when no standing view has both)."""
    for name in STANDING_VIEWS:
        view = member.views.get(name)
        if view and view.feet and view.head_top and view.feet[1] > view.head_top[1]:
            return (view.feet[1] - view.head_top[1]) / member.height_m
    return None


def seated_eye_ratio(production: Production | None, name: str) -> float:
    """A cast member's seated eye height in body heights: where its sheet's sit views paint the
    eyes (measured with the standing views' scale), else EYE_SITTING. Framing, the cut-out's
    placement and the pose figure all put a seated character's eyes here, so a close-up aims
    at the eyes the viewer sees."""
    if production is None:
        return EYE_SITTING
    try:
        member = production.member(name)
    except SoloreelError:
        return EYE_SITTING
    scale = standing_scale(member)
    if scale is None:
        return EYE_SITTING
    for view_name in SIT_VIEWS:
        view = member.views.get(view_name)
        if view and view.feet and view.eyes and view.feet[1] > view.eyes[1]:
            ratio = (view.feet[1] - view.eyes[1]) / scale / member.height_m
            return float(np.clip(ratio, 0.45, 0.85))
    return EYE_SITTING


def eye_height(character: CharacterSpec, height_m: float,
               production: Production | None = None, spec: ShotSpec | None = None) -> float:
    """Eye height above the floor for the character's posture (the height part of
    `eye_place`)."""
    return eye_place(character, height_m, production, spec)[0]


def eye_place(character: CharacterSpec, height_m: float,
              production: Production | None = None, spec: ShotSpec | None = None
              ) -> tuple[float, float]:
    """Where the character's eyes are: (height above the floor, metres ahead of its floor
    position along its facing). Seated on a seat (`seat_of`: named, else the nearest one under
    it in the shot `spec`'s set) or leaning on a named surface: the skeleton's own eyes
    (`figure_eyes`: a leaner's drop and move towards the surface, as the posed cut-out shows
    them); seated elsewhere: from its sheet when `production` is given (see
    `seated_eye_ratio`), over its floor position."""
    eyes = _figure_eyes(character, height_m, production, spec)
    if eyes is not None:
        return eyes
    if character.action in ("sit", "stand_up"):  # stand_up starts seated
        return seated_eye_ratio(production, character.name) * height_m, 0.0
    if character.action == "lie":
        return EYE_LYING * height_m, 0.0
    return EYE_STANDING * height_m, 0.0


def _figure_eyes(character: CharacterSpec, height_m: float, production: Production | None,
                 spec: ShotSpec | None) -> tuple[float, float] | None:
    """`figure_eyes` for the postures it covers (seated on a seat, leaning), else None."""
    if production is None or character.action not in (
            "sit", "stand", "talk", "sit_down", "stand_up"):
        return None
    from render_engine.pose.acting import figure_eyes  # it imports this module

    if not character.lean and seat_of(production, spec, character) is None:
        return None
    return figure_eyes(character, height_m, production, spec)


def head_top(character: CharacterSpec, height_m: float,
             production: Production | None = None, spec: ShotSpec | None = None) -> float:
    """Height of the top of the head for the character's posture (see `eye_height`)."""
    return eye_height(character, height_m, production, spec) + HEAD_ABOVE_EYES * height_m


def eye_point(spec: ShotSpec, production: Production, name: str, t_seconds: float = 0.0
              ) -> tuple[float, float, float]:
    """World position (x, y, z) of a character's eyes at shot time t."""
    character = find_character(spec, name)
    x, z, facing, _ = character_floor(character, t_seconds)
    eye, ahead = eye_place(character, height_of(production, character.name), production, spec)
    heading = math.radians(facing)
    return (x + math.sin(heading) * ahead, eye, z + math.cos(heading) * ahead)


def find_character(spec: ShotSpec, name: str) -> CharacterSpec:
    """The shot's character of that name (case-insensitive); KeyError naming the known ones."""
    for character in spec.characters:
        if character.name.strip().lower() == name.strip().lower():
            return character
    known = ", ".join(spec.character_names()) or "none"
    raise KeyError(f'shot {spec.shot.id}: no character "{name}" (known: {known})')


# --------------------------------------------------------------------------- furniture

SEATED_ACTIONS = ("sit", "sit_down", "stand_up")
"""Actions that put the hips on a seat for some or all of the shot."""
SEAT_MARGIN_M = 0.3
"""A seated character without `seat` uses a seat whose footprint is at most this far away."""


def seating(set_spec: SetSpec, spec: ShotSpec) -> dict[str, Seat]:
    """The seat each seated character of the shot sits on, by character name.

    A character naming a seat (`seat = "log"`) sits on it when the set has it; the others take
    the nearest seat under them (within SEAT_MARGIN_M of the footprint) that still has a free
    place, in the order the spec lists them. Characters missing here sit on nothing:
    `render_engine.validate` reports them."""
    taken: dict[str, int] = {}
    found: dict[str, Seat] = {}
    seated = [c for c in spec.characters if c.action in SEATED_ACTIONS]
    for character in seated:
        if character.seat:
            seat = set_spec.seat(character.seat)
            if seat is not None:
                found[character.name] = seat
                taken[seat.name] = taken.get(seat.name, 0) + 1
    for character in seated:
        if character.seat:
            continue
        x, z = character.position
        near = sorted((math.dist(s.clamp(x, z), (x, z)), index, s)
                      for index, s in enumerate(set_spec.seats)
                      if s.contains(x, z, SEAT_MARGIN_M) and taken.get(s.name, 0) < s.places)
        if near:
            seat = near[0][2]
            found[character.name] = seat
            taken[seat.name] = taken.get(seat.name, 0) + 1
    return found


def named_furniture(production: Production, kind: str, name: str | None
                    ) -> Seat | Surface | None:
    """The seat or surface (`kind`) of that name when the production's sets agree on one (a
    shot not known)."""
    if not name:
        return None
    found = {item for set_spec in production.sets.values()
             if (item := getattr(set_spec, kind)(name)) is not None}
    return found.pop() if len(found) == 1 else None


def seat_of(production: Production, spec: ShotSpec | None, character: CharacterSpec
            ) -> Seat | None:
    """The seat a seated character sits on — the one rule the skeleton's hips (`acting_for`),
    framing's eye height (`eye_height`) and the seated cut-out (`poses.seat_cutouts`) all
    follow: with the shot `spec`, `seating` in its set (the named seat, else the nearest free
    one within SEAT_MARGIN_M of the footprint); without it, a named seat the production's sets
    agree on. None for a character that is not seated or sits on nothing."""
    if character.action not in SEATED_ACTIONS:
        return None
    if spec is None:
        return named_furniture(production, "seat", character.seat)  # type: ignore[return-value]
    try:
        set_spec = production.set(spec.set)
    except SoloreelError:
        return named_furniture(production, "seat", character.seat)  # type: ignore[return-value]
    return seating(set_spec, spec).get(character.name)


def painted_seat_height(production: Production | None, name: str, height_m: float) -> float:
    """Height (metres) of the seat a cast member's sit views are painted on: their eyes above
    the feet (`seated_eye_ratio`) less the procedural figure's eyes above its hips. The rigged
    cut-out bends its painted legs from this seat to the one it is put on."""
    return (seated_eye_ratio(production, name) - EYES_ABOVE_HIPS) * height_m


def has_sit_views(production: Production | None, name: str) -> bool:
    """Whether a cast member's sheet paints any seated view (`sit_*`)."""
    if production is None:
        return False
    try:
        member = production.member(name)
    except SoloreelError:
        return False
    return any(view in member.views for view in SIT_VIEWS)


def surface_for(set_spec: SetSpec, character: CharacterSpec) -> Surface | None:
    """The surface a character leans on (`lean = "table"`), or None."""
    return set_spec.surface(character.lean) if character.lean else None


def point_target(spec: ShotSpec, production: Production, set_spec: SetSpec,
                 character: CharacterSpec, t_seconds: float
                 ) -> tuple[float, float, float] | None:
    """World point (x, y, z) a character points at, at shot time t: another character's chest
    (where they are at that moment), or a seat, surface or prop of the set (its top's
    centre); None when `point` is unset or names nothing known (`validate` says so)."""
    name = character.point
    if not name:
        return None
    for other in spec.characters:
        if other is not character and other.name.strip().lower() == name:
            x, z, _, _ = character_floor(other, t_seconds)
            chest = 0.75 * eye_height(other, height_of(production, other.name), production,
                                      spec)
            return (x, chest, z)
    item = set_spec.seat(name) or set_spec.surface(name) or set_spec.prop(name)
    if item is None:
        return None
    return (item.position[0], item.height_m, item.position[1])
