"""What a character's skeleton does beyond its action, from the set and the dialog.

`acting_for` reads a shot once: the seat each seated character sits on
(`render_engine.proxy.blocking.seating`), the surface it leans on, what it points at and the
speech energy of its lines; `body_acting` turns that into the figure's `Acting` at a moment.
The proxy's skeletons (pose.json, the final tier's control video, the rigged cut-outs posed
from them) and the placeholder's figures both read it, so every tier acts alike. Kept free of
the proxy's image code so the placeholder stays light.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from render_engine.bible import Production, Seat, Surface
from render_engine.errors import SoloreelError
from render_engine.pose.openpose import Acting
from render_engine.proxy.blocking import (
    SEAT_TOLERANCE_M,
    SEATED_ACTIONS,
    WALK_SPEED_M_S,
    has_sit_views,
    height_of,
    named_furniture,
    painted_seat_height,
    point_target,
    route,
    seat_of,
    seating,
    surface_for,
)
from render_engine.spec import CharacterSpec, ShotSpec

if TYPE_CHECKING:
    from render_engine.audio.dialog import SpokenLine


@dataclass
class CharacterActing:
    """What a character's skeleton does beyond its action, from the set and the dialog:
    the path's length (planted feet), the seat's and the surface's heights, the target it
    points at (at a shot time) and the speech energy of its lines (at a shot time)."""

    walk_total_m: float | None = None
    seat: Seat | None = None
    surface: Surface | None = None
    target: Callable[[float], tuple[float, float, float] | None] | None = None
    energy: Callable[[float], float | None] | None = None
    painted_seat_m: float | None = None
    """Height (metres) of the seat the sheet's sit views are painted on, set only when `seat`
    is more than SEAT_TOLERANCE_M higher or lower: the rigged cut-out bends its painted legs
    from that seat onto this one (`proxy.poses.rest_keypoints`)."""
    unseated_sheet: bool = False
    """A seated character whose sheet has no sit views: its standing view is bent into the
    seated figure (thighs forward, shins down) instead of being sunk behind the seat."""

    def bends(self) -> bool:
        """Whether the seated cut-out's painted pose differs from the seated skeleton's at
        rest (another seat height, or a standing view seated): the rig must pose it."""
        return self.painted_seat_m is not None or self.unseated_sheet


LEAN_REACH = 0.45
"""The farthest a surface's near edge may be (body heights, ahead of the feet) for the figure
to lean on it; farther, or not ahead at all, it stands or sits upright."""
ENERGY_WINDOW_S = 1 / 24
ENERGY_SMOOTH_S = 0.2
"""Speech energy is the RMS of 1/24 s windows, smoothed over 0.2 s (arms do not jitter with
every syllable) and scaled to the line's own loudest moment, so a whispered line gestures as
much as a shouted one where its own stress falls."""


def speech_energy(samples: np.ndarray, rate: int) -> np.ndarray:
    """A line's energy envelope: one value in 0..1 per ENERGY_WINDOW_S of its audio."""
    audio = np.asarray(samples, np.float64).reshape(-1)
    if audio.size and np.abs(audio).max() > 1.5:  # int16 samples
        audio = audio / 32768.0
    window = max(1, round(rate * ENERGY_WINDOW_S))
    count = max(1, math.ceil(audio.size / window))
    padded = np.zeros(count * window)
    padded[:audio.size] = audio
    rms = np.sqrt((padded.reshape(count, window) ** 2).mean(axis=1))
    width = max(1, round(ENERGY_SMOOTH_S / ENERGY_WINDOW_S))
    smooth = np.convolve(rms, np.ones(width) / width, mode="same")
    peak = float(smooth.max())
    return smooth / peak if peak > 1e-9 else smooth


def _energy_of(lines: list[SpokenLine], name: str) -> Callable[[float], float | None] | None:
    """Shot time → the speech energy of the character's on-screen line then (None: silent)."""
    own = [(line.start, line.duration, speech_energy(line.samples, line.rate))
           for line in lines if line.speaker == name and not line.audio_only]
    if not own:
        return None

    def energy(t: float) -> float | None:
        for start, duration, envelope in own:
            if 0 <= t - start < duration:
                index = min(int((t - start) / ENERGY_WINDOW_S), len(envelope) - 1)
                return float(envelope[index])
        return None

    return energy


def acting_for(spec: ShotSpec, production: Production,
               lines: list[SpokenLine] | None = None) -> dict[str, CharacterActing]:
    """Each character's `CharacterActing` for the shot, by name: seats from `seating`, the
    surface it leans on, what it points at and its lines' energy. The proxy's skeletons (its
    pose.json, the final tier's control video) and the cut-outs posed from them read this."""
    try:
        set_spec = production.set(spec.set)
    except SoloreelError:
        return {}
    seats = seating(set_spec, spec)
    found: dict[str, CharacterActing] = {}
    for character in spec.characters:
        acting = CharacterActing(seat=seats.get(character.name),
                                 surface=surface_for(set_spec, character),
                                 energy=_energy_of(lines or [], character.name))
        if character.action in SEATED_ACTIONS:
            _painted_pose(acting, production, character.name)
        if character.action == "walk" and character.path:
            points = route(character)
            acting.walk_total_m = sum(math.dist(a, b) for a, b in itertools.pairwise(points))
        if character.point:
            acting.target = functools.partial(point_target, spec, production, set_spec,
                                              character)
        found[character.name] = acting
    return found


def _painted_pose(acting: CharacterActing, production: Production, name: str) -> None:
    """Fill what the seated cut-out's sheet is painted on (`painted_seat_m`,
    `unseated_sheet`) for a seated character's acting."""
    if not has_sit_views(production, name):
        acting.unseated_sheet = True
        return
    if acting.seat is None:
        return
    painted = painted_seat_height(production, name, height_of(production, name))
    if abs(acting.seat.height_m - painted) > SEAT_TOLERANCE_M:
        acting.painted_seat_m = painted


def _surface_edge(surface: Surface, x: float, z: float, forward: np.ndarray) -> float | None:
    """Distance (metres) from a floor point along `forward` to the near edge of a surface's
    footprint (slab test); 0 when the point is over it, None when the surface is not ahead
    (someone turned away from a table cannot lean on it)."""
    lo = np.array([surface.position[0] - surface.extent[0] / 2,
                   surface.position[1] - surface.extent[1] / 2])
    hi = np.array([surface.position[0] + surface.extent[0] / 2,
                   surface.position[1] + surface.extent[1] / 2])
    origin = np.array([x, z])
    if np.all(origin >= lo) and np.all(origin <= hi):
        return 0.0
    near, far = -math.inf, math.inf
    for axis in range(2):
        if abs(forward[axis]) < 1e-9:
            if not lo[axis] <= origin[axis] <= hi[axis]:
                near, far = math.inf, -math.inf
            continue
        a = (lo[axis] - origin[axis]) / forward[axis]
        b = (hi[axis] - origin[axis]) / forward[axis]
        near, far = max(near, min(a, b)), min(far, max(a, b))
    if near <= far and far >= 0:
        return max(0.0, near)
    return None


def body_acting(facing_deg: float, height_m: float, t: float, acting: CharacterActing | None,
                origin: tuple[float, float], speaking: bool = False) -> Acting:
    """The figure's `Acting` (body heights, its own frame) at shot time t, for a figure whose
    feet are at floor point `origin` facing `facing_deg`: how far it has walked, the seat's
    and the surface's heights (the surface's near edge along its heading), the target it
    points at, and the speech energy when `speaking`."""
    if acting is None:
        return Acting()
    heading = math.radians(facing_deg)
    right = np.array([math.cos(heading), -math.sin(heading)])
    forward = np.array([math.sin(heading), math.cos(heading)])
    walked = None
    if acting.walk_total_m is not None:
        walked = min(max(t, 0.0) * WALK_SPEED_M_S, acting.walk_total_m) / height_m
    lean = None
    if acting.surface is not None:
        edge = _surface_edge(acting.surface, origin[0], origin[1], forward)
        if edge is not None and edge <= LEAN_REACH * height_m:
            lean = (edge / height_m, acting.surface.height_m / height_m)
    point = None
    target = acting.target(t) if acting.target is not None else None
    if target is not None:
        rel = np.array([target[0] - origin[0], target[2] - origin[1]])
        point = (float(rel @ right) / height_m, float(rel @ forward) / height_m,
                 target[1] / height_m)
    energy = acting.energy(t) if acting.energy is not None and speaking else None
    return Acting(walked=walked,
                  walk_total=None if walked is None else acting.walk_total_m / height_m,
                  seat_up=None if acting.seat is None else acting.seat.height_m / height_m,
                  lean=lean, point=point, energy=energy)


def figure_eyes(character: CharacterSpec, height_m: float, production: Production,
                spec: ShotSpec | None = None) -> tuple[float, float] | None:
    """Where the eyes of the skeleton of a character seated on a seat (`seat_of`: named, else
    the nearest one under it in the shot `spec`'s set, as its hips are) and/or leaning on a
    named surface are at the start of the shot: (height above the floor, metres ahead of its
    floor position along its facing). A leaner's eyes drop and move towards the surface; the
    posed cut-out shows them there, so framing aims there. None when the character sits on no
    seat and names no surface the production's sets agree on."""
    from render_engine.pose.openpose import SEAT_FORWARD, SEATED_HEAD_FORWARD, body_keypoints

    seated = character.action in SEATED_ACTIONS
    seat = seat_of(production, spec, character)
    surface = named_furniture(production, "surface", character.lean)
    if seat is None and surface is None:
        return None
    heading = math.radians(character.facing)
    forward = np.array([math.sin(heading), math.cos(heading)])
    x, z = character.position
    reach = 0.0
    if seated:
        reach = SEAT_FORWARD - (SEATED_HEAD_FORWARD if seat is not None else 0.0)
        x += forward[0] * reach * height_m
        z += forward[1] * reach * height_m
    lean = None
    if isinstance(surface, Surface):
        edge = _surface_edge(surface, x, z, forward)
        if edge is not None and edge <= LEAN_REACH * height_m:
            lean = (edge / height_m, surface.height_m / height_m)
    acting = Acting(seat_up=None if seat is None else seat.height_m / height_m, lean=lean)
    action = character.action if seated or character.action == "stand" else "stand"
    body = body_keypoints(0.0, action, acting)  # at the start: sit_down stands, stand_up sits
    ahead = float(body[14:16, 1].mean()) + reach
    if seated and seat is None:  # that figure is shifted to put its eyes over its place
        ahead = 0.0
    return float(body[14:16, 2].mean()) * height_m, ahead * height_m


def figure_eye_height(character: CharacterSpec, height_m: float, production: Production,
                      spec: ShotSpec | None = None) -> float | None:
    """The height part of `figure_eyes` (None likewise)."""
    eyes = figure_eyes(character, height_m, production, spec)
    return None if eyes is None else eyes[0]
