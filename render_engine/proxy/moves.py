"""Camera moves: the shot's camera at any moment, from its framed start.

`camera_at(base, spec, production, progress, t_seconds)` applies `spec.camera.move` with the
spec's easing to the camera `frame_shot` gave for the start of the shot: rotations (pan, tilt),
lens (zoom), translations (push in/pull out along the view, truck sideways, crane up/down),
`track` (follow a walking character, keeping it where it was on screen), and an optional,
deterministic handheld shake. Rotations and zooms stay inside what a flat or wide plate covers.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from render_engine.bible import Production
from render_engine.proxy.blocking import character_floor, eye_height, find_character, height_of
from render_engine.proxy.camera import Camera, aim_camera
from render_engine.proxy.framing import subjects_of
from render_engine.proxy.projection import PlateModel, plate_source
from render_engine.spec import ShotSpec

DEFAULT_AMOUNT = {
    "pan_left": 0.2, "pan_right": 0.2, "tilt_up": 0.15, "tilt_down": 0.15,
    "zoom_in": 0.25, "zoom_out": 0.25, "push_in": 0.2, "pull_out": 0.2,
    "truck_left": 0.3, "truck_right": 0.3, "crane_up": 0.3, "crane_down": 0.3,
    "track": 0.0, "static": 0.0,
}
PAN_DEG_PER_AMOUNT = 100.0
"""A pan of amount 1 turns 100 degrees in a wide shot (narrower lenses turn proportionally
less, so the move crosses a similar share of the frame)."""
TILT_DEG_PER_AMOUNT = 60.0
ZOOM_PER_AMOUNT = 2.0
"""zoom_in at amount 1 triples the focal length (1 + 2 x amount)."""
MIN_SUBJECT_GAP_M = 0.5
TRACK_WIDE_FOLLOW = 0.3
"""In wide shots (at the set camera) a track travels this share of the subject's walk by
default and pans for the rest, so the plate stays near where it is exact."""
MIN_HEIGHT_M = 0.2
SHAKE_DEG = (0.16, 0.09, 0.05)
SHAKE_M = (0.0022, 0.0012, 0.0006)
SHAKE_HZ = ((0.18, 0.35), (0.4, 0.8), (0.9, 1.6))


def ease(progress: float, kind: str) -> float:
    """Eased progress: linear; in (slow start); out (slow end); in_out (slow at both ends)."""
    p = min(max(progress, 0.0), 1.0)
    if kind == "in":
        return p * p * p
    if kind == "out":
        q = 1.0 - p
        return 1.0 - q * q * q
    if kind == "in_out":
        return p * p * p * (p * (6.0 * p - 15.0) + 10.0)
    return p


def camera_at(base: Camera, spec: ShotSpec, production: Production, progress: float,
              t_seconds: float) -> Camera:
    """The camera at `progress` (0..1 over the shown shot, eased here) and shot time
    `t_seconds` (for tracking and handheld), starting from `base` (see the module doc)."""
    move = spec.camera.move
    amount = spec.camera.amount or DEFAULT_AMOUNT.get(move, 0.0)
    p = ease(progress, spec.camera.ease)
    model = _plate_model(production, spec.set, spec.plate)
    camera = base
    if move in ("pan_left", "pan_right"):
        camera = _pan(model, base, amount, p, 1.0 if move == "pan_right" else -1.0,
                      _subject_bearings(base, spec))
    elif move in ("tilt_up", "tilt_down"):
        camera = _tilt(model, base, amount, p, 1.0 if move == "tilt_up" else -1.0)
    elif move in ("zoom_in", "zoom_out"):
        camera = _zoom(model, base, amount, p, move == "zoom_in")
    elif move in ("push_in", "pull_out"):
        distance = _subject_distance(base, spec, production)
        travel = amount * distance
        if move == "push_in":
            travel = min(travel, max(0.0, distance - MIN_SUBJECT_GAP_M))
        else:
            travel = -travel
        camera = _dolly(model, base, spec, production, travel * p)
    elif move in ("truck_left", "truck_right"):
        distance = _subject_distance(base, spec, production)
        travel = amount * max(1.0, 0.5 * distance) * (1.0 if move == "truck_right" else -1.0)
        right = base.rotation()[0]
        camera = _covered(model, _translate(base, right * travel * p), distance)
    elif move in ("crane_up", "crane_down"):
        distance = _subject_distance(base, spec, production)
        rise = amount * max(1.0, 0.5 * distance) * (1.0 if move == "crane_up" else -1.0)
        rise = max(rise * p, MIN_HEIGHT_M - base.position[1])
        camera = _covered(model, _translate(base, np.array([0.0, rise, 0.0])), distance)
    elif move == "track":
        camera = _track(model, base, spec, production, t_seconds)
    if spec.camera.handheld:
        camera = handheld(camera, spec.seed, t_seconds)
    return camera


@functools.lru_cache(maxsize=32)
def _plate_model(production: Production, set_name: str, plate: str | None) -> PlateModel:
    """The shot's plate model, looked up once per production, set and plate override."""
    spec = ShotSpec.model_validate({"shot": {"id": "plate"}, "set": set_name, "plate": plate})
    return plate_source(spec, production).model


@functools.lru_cache(maxsize=256)
def _clamped(model: PlateModel, camera: Camera) -> Camera:
    """`model.clamp_view(camera)`, remembered (a move asks for the same end every frame)."""
    return model.clamp_view(camera)


NEAR_FIELD_SHARE = 1.0
"""A sideways or vertical move keeps the plate covering its border this share of the way to
its subject (near props shift past the plate's edge first), narrowing the lens if needed."""


@functools.lru_cache(maxsize=256)
def _covered(model: PlateModel, camera: Camera, subject_m: float) -> Camera:
    """A translated camera whose border the plate still covers (`cover_moved`) in the near
    field as well as the far one: the lens tightens a touch instead of the frame's edge
    smearing the plate's last column."""
    return model.cover_moved(camera, max(1.0, NEAR_FIELD_SHARE * subject_m))


def _translate(camera: Camera, offset: np.ndarray) -> Camera:
    position = np.asarray(camera.position) + np.asarray(offset, float)
    return camera.moved(position=tuple(float(v) for v in position))


PAN_MARGIN_DEG = 3.0
"""A pan keeps its subjects at least this far inside the frame's left and right edges."""


HEAD_ROOM_M = 0.25
"""Half a head and a shoulder: how much room beside the eyes a pan keeps in frame."""


def _subject_bearings(base: Camera, spec: ShotSpec) -> list[tuple[float, float]]:
    """(bearing, half width) in degrees of each subject at the start, seen from the base
    camera (bearings from its axis), for moves that must keep them in frame."""
    bearings = []
    for character in subjects_of(spec):
        x, z, _, _ = character_floor(character, 0.0)
        dx, dz = x - base.position[0], z - base.position[2]
        heading = math.degrees(math.atan2(dx, dz))
        half = math.degrees(math.atan2(HEAD_ROOM_M, max(0.3, math.hypot(dx, dz))))
        bearings.append((_wrap(heading - base.yaw_deg), half))
    return bearings


def _pan(model: PlateModel, base: Camera, amount: float, p: float, sign: float,
         bearings: list[tuple[float, float]] | None = None) -> Camera:
    """Turn about the vertical axis: centred on the framing, never so far that a subject
    leaves the frame (a wide's pan reveals the place around its people, it does not lose
    them), both ends kept inside the plate."""
    degrees = amount * PAN_DEG_PER_AMOUNT * min(1.0, max(0.3, base.hfov_deg / 60.0))
    start, end = 0.0, sign * degrees
    if bearings:
        half = base.hfov_deg / 2 - PAN_MARGIN_DEG
        lo = max(b + w for b, w in bearings) - half
        hi = min(b - w for b, w in bearings) + half
        if hi >= lo:
            travel = min(degrees, hi - lo)
            middle = min(max(0.0, lo + travel / 2), hi - travel / 2)
            start, end = middle - sign * travel / 2, middle + sign * travel / 2
    first = _clamped(model, base.moved(yaw_deg=base.yaw_deg + start))
    last = _clamped(model, base.moved(yaw_deg=base.yaw_deg + end))
    turn = _wrap(last.yaw_deg - first.yaw_deg)
    if turn * sign < 0:
        turn = 0.0
    return base.moved(yaw_deg=first.yaw_deg + turn * p)


def _tilt(model: PlateModel, base: Camera, amount: float, p: float, sign: float) -> Camera:
    """Turn about the horizontal axis; the end is kept inside the plate."""
    degrees = amount * TILT_DEG_PER_AMOUNT * min(1.0, max(0.3, base.hfov_deg / 60.0))
    end = _clamped(model, base.moved(pitch_deg=base.pitch_deg + sign * degrees))
    turn = end.pitch_deg - base.pitch_deg
    if turn * sign < 0:
        turn = 0.0
    return base.moved(pitch_deg=base.pitch_deg + turn * p)


def _zoom(model: PlateModel, base: Camera, amount: float, p: float, zoom_in: bool) -> Camera:
    """Change the focal length (linearly in focal length, so the image scales evenly); a zoom
    out stops where the plate ends."""
    factor = 1.0 + ZOOM_PER_AMOUNT * amount
    if not zoom_in:
        factor = 1.0 / factor
    half = math.tan(math.radians(base.hfov_deg) / 2)
    end_hfov = math.degrees(2 * math.atan(half / factor))
    end = _clamped(model, base.moved(hfov_deg=end_hfov))
    end_half = math.tan(math.radians(end.hfov_deg) / 2)
    focal = 1.0 / half + (1.0 / end_half - 1.0 / half) * p
    return base.moved(hfov_deg=math.degrees(2 * math.atan(1.0 / focal)))


def _subject_eyes(spec: ShotSpec, production: Production) -> np.ndarray | None:
    """The midpoint of the framed subjects' eyes at the start of the shot (None: nobody).
    An over-the-shoulder frames the second subject's face (the first is a shoulder, or not
    in frame when the plate made it a single): a move keeps that face in place."""
    figures = subjects_of(spec)
    if not figures:
        return None
    if spec.shot.size == "OTS" and len(figures) >= 2:
        figures = figures[1:2]
    points = []
    for character in figures:
        x, z, _, _ = character_floor(character, 0.0)
        height = height_of(production, character.name)
        points.append((x, eye_height(character, height, production, spec), z))
    return np.mean(points, axis=0)


def _subject_distance(base: Camera, spec: ShotSpec, production: Production) -> float:
    """Distance from the camera to the subjects' eyes (4 m when nobody is framed)."""
    centre = _subject_eyes(spec, production)
    if centre is None:
        return 4.0
    return float(max(0.5, np.linalg.norm(centre - np.asarray(base.position))))


def _dolly(model: PlateModel, base: Camera, spec: ShotSpec, production: Production,
           travel: float) -> Camera:
    """Move along the view axis, turning so the subjects' eyes keep their place on screen
    (a push-in on an off-centre single would otherwise slide the face out of frame)."""
    camera = _translate(base, base.forward * travel)
    eyes = _subject_eyes(spec, production)
    if eyes is None or not travel:
        return camera
    screen = base.project(eyes)
    if screen[2] <= 0:
        return camera
    return model.clamp_view(aim_camera(camera, eyes, float(screen[0]), float(screen[1])))


def _track(model: PlateModel, base: Camera, spec: ShotSpec, production: Production,
           t_seconds: float) -> Camera:
    """Follow `camera.target` (else the first subject): the camera travels a share of the
    subject's displacement and turns so the subject stays where it was on screen. A track
    follows the subject's own timing (shot time), not the eased progress."""
    name = spec.camera.target or (spec.shot.subjects[0] if spec.shot.subjects else None)
    if name is None and spec.characters:
        name = spec.characters[0].name
    if name is None:
        return base
    character = find_character(spec, name)
    height = height_of(production, character.name)
    x0, z0, _, _ = character_floor(character, 0.0)
    x1, z1, _, _ = character_floor(character, t_seconds)
    chest = 0.75 * eye_height(character, height, production, spec)
    start = np.array([x0, chest, z0])
    now = np.array([x1, chest, z1])
    at_set = math.dist(base.position, model.origin) < 1e-6
    follow = spec.camera.amount or (TRACK_WIDE_FOLLOW if at_set else 1.0)
    camera = _translate(base, (now - start) * np.array([follow, 0.0, follow]))
    screen = base.project(start)
    if screen[2] <= 0:
        return camera
    aimed = aim_camera(camera, now, float(screen[0]), float(screen[1]))
    return model.clamp_view(aimed)


def _wrap(angle: float) -> float:
    return (angle + 180.0) % 360.0 - 180.0


@functools.lru_cache(maxsize=64)
def _shake_terms(seed: int) -> tuple[tuple[tuple[float, float, float], ...], ...]:
    """Per axis (yaw, pitch, roll, x, y, z), three (amplitude, frequency, phase) sine terms."""
    rng = np.random.default_rng([seed, 0x4A4E])
    axes = []
    for amplitudes in (SHAKE_DEG, SHAKE_DEG, SHAKE_DEG, SHAKE_M, SHAKE_M, SHAKE_M):
        axes.append(tuple((amplitude, float(rng.uniform(low, high)),
                           float(rng.uniform(0.0, 2.0 * math.pi)))
                          for amplitude, (low, high) in zip(amplitudes, SHAKE_HZ, strict=True)))
    return tuple(axes)


def handheld(camera: Camera, seed: int, t_seconds: float) -> Camera:
    """A gentle, smooth, deterministic shake: per axis a sum of three low-frequency sines
    (phases and tempos from the seed), under 0.6 degrees and 1 cm in all."""
    values = [sum(a * math.sin(2.0 * math.pi * f * t_seconds + phase) for a, f, phase in terms)
              for terms in _shake_terms(seed)]
    position = np.asarray(camera.position) + np.asarray(values[3:])
    return camera.moved(yaw_deg=camera.yaw_deg + values[0],
                        pitch_deg=camera.pitch_deg + values[1],
                        roll_deg=camera.roll_deg + values[2],
                        position=tuple(float(v) for v in position))
