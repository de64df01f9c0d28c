"""Framing by film grammar: where the camera stands at the start of a shot.

From the shot size and its subjects: the subject's eyes on the upper third line, look room on
the side they face, head room by size, the camera at eye level for an eye-level angle (higher,
lower, overhead or rolled for the other angles). Singles are three-quarter views from the
camera side of the scene's 180-degree line (`SceneLine`), so reverse angles keep each speaker
on their own side of the screen for the whole scene. Wide shots stay at the set camera, where
the plate is exact, and only turn and zoom. An explicit camera in the spec wins.

Yaw, pitch and field of view are kept inside what a flat or wide plate covers, so the
background never runs out; a 360 plate allows any direction (use one for true reverses). The
subject comes first: where the plate makes the camera turn, the camera steps sideways so the
eyes stay where the size puts them (`projection.clamp_keeping`); a group or a wide that does
not hold everyone widens or stands back; an over-the-shoulder the plate cannot cover becomes a
single of the speaker from the covered side, and `plan_framing` says so.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from render_engine.bible import Production
from render_engine.proxy.blocking import (
    character_floor,
    eye_place,
    find_character,
    head_top,
    height_of,
)
from render_engine.proxy.camera import Camera, aim_camera, hfov_from_focal_mm
from render_engine.proxy.projection import PlateModel, clamp_keeping, plate_source
from render_engine.spec import CharacterSpec, ShotSpec

__all__ = ["Framing", "SceneLine", "character_floor", "frame_shot", "plan_framing",
           "scene_line_for", "subjects_of"]

Floor = tuple[float, float]

# shot size → (frame height at the subject in metres for a 1.75 m person, focal length in mm,
# horizontal offset of the subject from the centre as a fraction of the width)
SIZES: dict[str, tuple[float, float, float]] = {
    "ECU": (0.16, 100.0, 1 / 12),
    "CU": (0.34, 85.0, 1 / 8),
    "MCU": (0.55, 75.0, 1 / 6),
    "MS": (0.95, 50.0, 1 / 6),
    "MWS": (1.45, 40.0, 1 / 6),
    "FS": (0.0, 35.0, 1 / 8),  # full body: the height comes from the figure
    "OTS": (0.0, 50.0, 1 / 6),
    "TWO": (1.1, 40.0, 0.0),
}
THREE_QUARTER_RANGE = (25.0, 60.0)
"""How far (degrees) a single's camera stands off the subject's facing: inside this range it
stays on the set camera's ray to the subject."""
ANGLE_ELEVATION = {"eye": 0.0, "high": 20.0, "low": -15.0, "overhead": 60.0, "dutch": 0.0}
DUTCH_ROLL_DEG = 12.0
MIN_CAMERA_HEIGHT_M = 0.3
WS_MIN_HFOV = 70.0
"""A wide shot shows the place around its people: never tighter than this."""
EWS_HFOV = 95.0
SAFE_MARGIN = 0.04
"""Share of the frame kept clear at each edge around heads (and feet in full shots)."""
HEAD_HALF_WIDTH_M = 0.13
BODY_HALF_WIDTH_M = 0.25
OTS_TURN_TOLERANCE_DEG = 2.0
"""An over-the-shoulder the plate turns by more than this has lost its geometry."""
SET_CAMERA_MARGIN = 0.95
"""A group shot that would stand farther back than the set camera uses the set camera instead."""


@dataclass(frozen=True)
class SceneLine:
    """The scene's 180-degree line between its two main speakers, and the side cameras keep to.

    `left` stays screen-left and `right` screen-right in every shot from `side` (a unit floor
    vector (x, z) from the line towards the cameras). Names are empty when the scene has
    nobody; `left == right` when it has one character (then `side` points at the set camera).
    """

    left: str
    right: str
    left_pos: Floor
    right_pos: Floor
    side: Floor

    def signed_distance(self, point: Floor) -> float:
        """How far a floor point is on the camera side of the line (negative: across it)."""
        mid_x = (self.left_pos[0] + self.right_pos[0]) / 2
        mid_z = (self.left_pos[1] + self.right_pos[1]) / 2
        return (point[0] - mid_x) * self.side[0] + (point[1] - mid_z) * self.side[1]

    def has(self, name: str) -> bool:
        """Whether a character is one of the line's two speakers."""
        key = name.strip().lower()
        return key in (self.left.lower(), self.right.lower()) and bool(key)


def _speakers(specs: list[ShotSpec]) -> list[str]:
    """The scene's characters, most lines first, then most shots, then first appearance."""
    lines: Counter[str] = Counter()
    shots: Counter[str] = Counter()
    order: dict[str, int] = {}
    for spec in specs:
        for line in spec.dialog:
            if not line.audio_only:
                lines[line.speaker.lower()] += 1
        for character in spec.characters:
            key = character.name.lower()
            shots[key] += 1
            order.setdefault(key, len(order))
    names = [n for n in order if n in lines or shots[n]]
    return sorted(names, key=lambda n: (-lines[n], -shots[n], order[n]))


def _floor_of(specs: list[ShotSpec], name: str, partner: str | None = None) -> Floor | None:
    """Where a character is at t = 0 of the first shot that has it (with `partner`, if any)."""
    for want_partner in (True, False):
        for spec in specs:
            names = [c.name.lower() for c in spec.characters]
            if name in names and (not want_partner or partner is None or partner in names):
                x, z, _, _ = character_floor(find_character(spec, name), 0.0)
                return (x, z)
    return None


def scene_line_for(specs: list[ShotSpec], production: Production | None = None) -> SceneLine:
    """The 180-degree line of a scene (its shots' specs, in edit order): between the two
    characters named by the shots' `shot.line` (the screenplay's principal speakers), else the
    two with the most dialog lines, on the side the set camera sees them from."""
    del production  # the line is pure blocking; kept for a uniform signature
    named = next((spec.shot.line for spec in specs if spec.shot.line), None)
    names = _speakers(specs)
    if named:
        wanted = [n.lower() for n in named]
        present = [n for n in wanted if any(n == c.name.lower() for s in specs
                                            for c in s.characters)]
        if len(present) == 2:
            names = present + [n for n in names if n not in present]
    if not names:
        return SceneLine("", "", (0.0, 0.0), (0.0, 0.0), (0.0, -1.0))
    first = names[0]
    pos_a = _floor_of(specs, first) or (0.0, 0.0)
    if len(names) == 1:
        side = _unit((-pos_a[0], -pos_a[1])) or (0.0, -1.0)
        return SceneLine(first, first, pos_a, pos_a, side)
    second = names[1]
    pos_a = _floor_of(specs, first, second) or pos_a
    pos_b = _floor_of(specs, second, first) or (0.0, 0.0)
    along = _unit((pos_b[0] - pos_a[0], pos_b[1] - pos_a[1])) or (1.0, 0.0)
    normal = (-along[1], along[0])
    mid = ((pos_a[0] + pos_b[0]) / 2, (pos_a[1] + pos_b[1]) / 2)
    towards_camera = -mid[0] * normal[0] - mid[1] * normal[1]
    if abs(towards_camera) < 1e-6:
        towards_camera = -normal[1]  # the set camera is on the line: take the nearer side
    if towards_camera < 0:
        normal = (-normal[0], -normal[1])
    # looking across the line (along -normal), screen-right is (-normal_z, normal_x)
    right = (-normal[1], normal[0])
    if (pos_a[0] - mid[0]) * right[0] + (pos_a[1] - mid[1]) * right[1] > 0:
        return SceneLine(second, first, pos_b, pos_a, normal)
    return SceneLine(first, second, pos_a, pos_b, normal)


def _unit(vector: Floor) -> Floor | None:
    length = math.hypot(*vector)
    if length < 1e-9:
        return None
    return (vector[0] / length, vector[1] / length)


def _heading_vector(heading_deg: float) -> Floor:
    rad = math.radians(heading_deg)
    return (math.sin(rad), math.cos(rad))


def _rotate(vector: Floor, degrees: float) -> Floor:
    """Rotate a floor vector clockwise seen from above (as headings turn)."""
    rad = math.radians(degrees)
    c, s = math.cos(rad), math.sin(rad)
    return (vector[0] * c + vector[1] * s, -vector[0] * s + vector[1] * c)


def subjects_of(spec: ShotSpec) -> list[CharacterSpec]:
    """The characters a shot frames: `shot.subjects` in order, or every character."""
    if spec.shot.subjects:
        found = []
        for name in spec.shot.subjects:
            try:
                found.append(find_character(spec, name))
            except KeyError:
                continue
        if found:
            return found
    return list(spec.characters)


@dataclass(frozen=True)
class _Figure:
    name: str
    floor: Floor
    facing: float
    eye: float
    top: float
    height: float
    ahead: float = 0.0
    """How far the eyes are ahead of the floor point along the facing (a leaner's head)."""

    @property
    def eye_point(self) -> tuple[float, float, float]:
        heading = math.radians(self.facing)
        return (self.floor[0] + math.sin(heading) * self.ahead, self.eye,
                self.floor[1] + math.cos(heading) * self.ahead)


def _figure(character: CharacterSpec, production: Production,
            spec: ShotSpec | None = None) -> _Figure:
    height = height_of(production, character.name)
    x, z, facing, _ = character_floor(character, 0.0)
    eye, ahead = eye_place(character, height, production, spec)
    return _Figure(character.name, (x, z), facing, eye,
                   head_top(character, height, production, spec), height, ahead)


# --------------------------------------------------------------------------- the entry point


@dataclass(frozen=True)
class Framing:
    """A shot's starting camera and the setup it really frames.

    `setup` is the spec's size, or what framing used instead when the set cannot give it (an
    over-the-shoulder a flat plate cannot cover becomes an "MCU" single of the speaker); `note`
    says why, for the plan and lint ("" when the size was framed as asked)."""

    camera: Camera
    setup: str
    note: str = ""
    reason: str = ""
    """Why the asked setup could not be framed (the heart of `note`)."""


def frame_shot(spec: ShotSpec, production: Production, width: int, height: int,
               scene_line: SceneLine | None = None) -> Camera:
    """The camera at the start of a shot, rendered at width x height (see the module doc)."""
    return plan_framing(spec, production, width, height, scene_line).camera


def plan_framing(spec: ShotSpec, production: Production, width: int, height: int,
                 scene_line: SceneLine | None = None) -> Framing:
    """`frame_shot` with the setup it chose and why (see `Framing`). Without `scene_line`
    the line comes from the shot alone (`shot.line` when the screenplay named it)."""
    model = plate_source(spec, production).model
    figures = [_figure(c, production, spec) for c in subjects_of(spec)]
    line = scene_line or scene_line_for([spec], production)
    size = spec.shot.size
    setup, note, why = size, "", ""
    if not figures or size in ("EWS", "WS"):
        camera = _wide(model, figures, size, width, height)
    elif size == "OTS" and len(figures) >= 2:
        camera, why = _over_the_shoulder(model, figures[0], figures[1], line, width, height)
        if camera is None:
            setup = "MCU"
            note = (f"no view over {figures[0].name}'s shoulder onto {figures[1].name}: {why}; "
                    f"framed as a {figures[1].name} MCU single from the camera side")
            camera = _single(model, figures[1], "MCU", line, spec.shot.angle, width, height)
    elif size == "TWO" or len(figures) >= 2:
        camera = _group(model, figures, size, line, spec.shot.angle, width, height)
    else:
        camera = _single(model, figures[0], size, line, spec.shot.angle, width, height)
    if spec.shot.angle == "dutch":
        camera = model.clamp_view(camera.moved(roll_deg=DUTCH_ROLL_DEG))
    if figures and size not in ("EWS", "WS") and spec.camera.position is None:
        camera, cover = _clear_faces(spec, production, model, camera, figures,
                                     over_shoulder=setup == "OTS")
        if cover:
            shifted = (f"a foreground prop covers {figures[0].name}'s face from every camera "
                       f"that keeps the {setup}'s framing; its layer is shifted aside in this "
                       "shot (proxy.prop_shift)")
            note = f"{note}; {shifted}" if note else shifted
    return Framing(_explicit(spec, camera, figures), setup, note, why)


PROP_RISES_M = (0.0, 0.12, 0.25, 0.4)
"""How far framing may raise the camera to see a face over a prop (then re-aim)."""
PROP_SHIFTS_M = (0.0, 0.2, -0.2, 0.4, -0.4, 0.7, -0.7)
"""How far it may step sideways (camera right) for the same."""
FACE_UNITS = (0.7, 0.6, 1.05)
"""Face box half width, height above and below the eyes, in eye-to-head-top units (as the
compositor's `face_box`)."""


def _clear_faces(spec: ShotSpec, production: Production, model: PlateModel, camera: Camera,
                 figures: list[_Figure], over_shoulder: bool = False) -> tuple[Camera, int]:
    """Foreground props are part of framing: when a foreground mask nearer than a subject
    would cover the subject's face (where the render will draw it, parallax included), the
    camera rises and/or steps sideways — the least move first — and re-aims so the first
    subject's eyes stay where the size put them. A body or hands behind the prop are fine:
    only the face box counts. Without a clear candidate the least covered camera is kept
    and the count of prop samples still over a face is returned with it: the render then
    shifts the prop's layer aside (`render_engine.proxy.prop_shift`), and the compositor keeps
    any remainder off the face. `over_shoulder`: the first figure is the near shoulder, seen
    from behind; the second's face is the one kept clear and in place, and a candidate must
    keep the shoulder on its side of the frame."""
    from render_engine.proxy.plates import prop_points

    source = plate_source(spec, production)
    if not source.masks:
        return camera, 0
    faces = figures[1:2] if over_shoulder and len(figures) > 1 else figures
    anchor = np.asarray(faces[0].eye_point)
    where = camera.project(anchor)
    if where[2] <= 0:
        return camera, 0
    shoulder = np.asarray(figures[0].eye_point)
    shoulder_left = camera.project(shoulder)[0] < camera.width / 2
    best, best_cover = camera, _face_cover(source, spec, camera, faces, prop_points)
    if best_cover == 0:
        return camera, 0
    right = camera.rotation()[0]
    feet = _inside(camera, figures, feet=True)  # a frame that showed the feet keeps them
    for rise in PROP_RISES_M:
        for shift in PROP_SHIFTS_M:
            if not rise and not shift:
                continue
            position = (np.asarray(camera.position) + np.array([0.0, rise, 0.0])
                        + right * shift)
            moved = aim_camera(camera.moved(position=tuple(float(p) for p in position)),
                               anchor, float(where[0]), float(where[1]))
            moved = model.clamp_view(moved)
            eyes = moved.project(anchor)
            if (not _inside(moved, figures, feet=feet)
                    or math.hypot(eyes[0] - where[0], eyes[1] - where[1]) > 1.0):
                continue  # the size's framing comes first
            if over_shoulder and (moved.project(shoulder)[0] < moved.width / 2) != shoulder_left:
                continue
            cover = _face_cover(source, spec, moved, faces, prop_points)
            if cover < best_cover:
                best, best_cover = moved, cover
            if cover == 0:
                return moved, 0
    return best, best_cover


def _face_cover(source: object, spec: ShotSpec, camera: Camera, figures: list[_Figure],
                prop_points: object) -> int:
    """How many prop samples nearer than a subject fall inside the subject's face box."""
    props = prop_points(source, spec, camera)  # type: ignore[operator]
    count = 0
    half, above, below = FACE_UNITS
    for figure in figures:
        eye = np.asarray(figure.eye_point)
        top = np.array([eye[0], figure.top, eye[2]])
        pe, pt = camera.project(np.stack([eye, top]))
        if pe[2] <= 0.05:
            continue
        unit = max(1.0, abs(pe[1] - pt[1]))
        x0, x1 = pe[0] - half * unit, pe[0] + half * unit
        y0, y1 = pe[1] - above * unit, pe[1] + below * unit
        depth = float(camera.to_camera(np.array([figure.floor[0], 0.0, figure.floor[1]]))[2])
        for points, mask_depth in props:
            if mask_depth >= depth or not len(points):
                continue
            p = camera.project(points)
            count += int(((p[:, 2] > 0.05) & (p[:, 0] >= x0) & (p[:, 0] <= x1)
                          & (p[:, 1] >= y0) & (p[:, 1] <= y1)).sum())
    return count


def _coverage_text(model: PlateModel, width: int, height: int) -> str:
    """Why the plate cannot give a view, in words: how far it lets a 50 mm camera turn."""
    probe = Camera(model.origin, 90.0, 0.0, hfov_from_focal_mm(SIZES["OTS"][1]), width, height)
    reach = abs(model.clamp_view(probe).yaw_deg)
    return (f"the {model.kind} plate covers views within {reach:.0f} degrees of the set "
            "camera's axis (a 360 plate allows true reverses)")


def _explicit(spec: ShotSpec, camera: Camera, figures: list[_Figure]) -> Camera:
    """Apply the spec's explicit camera fields; an explicit position without a heading aims at
    the subjects' eyes."""
    wanted = spec.camera
    if wanted.focal_mm is not None:
        camera = camera.moved(hfov_deg=hfov_from_focal_mm(wanted.focal_mm))
    if wanted.position is not None:
        camera = camera.moved(position=tuple(float(p) for p in wanted.position))
        if figures and wanted.heading_deg is None:
            eyes = np.mean([f.eye_point for f in figures], axis=0)
            camera = aim_camera(camera, eyes, camera.width / 2, camera.height / 3)
    if wanted.heading_deg is not None:
        camera = camera.moved(yaw_deg=float(wanted.heading_deg))
    if wanted.pitch_deg is not None:
        camera = camera.moved(pitch_deg=float(wanted.pitch_deg))
    return camera


def _vfov(hfov_deg: float, width: int, height: int) -> float:
    return math.degrees(2 * math.atan(math.tan(math.radians(hfov_deg) / 2) * height / width))


def _wide(model: PlateModel, figures: list[_Figure], size: str, width: int, height: int
          ) -> Camera:
    """EWS/WS: the set camera, turned towards the subjects' centroid, wide enough for them
    (heads and feet inside the frame) and for the place around them."""
    origin = model.origin
    hfov = EWS_HFOV if size == "EWS" or not figures else WS_MIN_HFOV
    yaw = pitch = 0.0
    if figures:
        cx = float(np.mean([f.floor[0] for f in figures]))
        cz = float(np.mean([f.floor[1] for f in figures]))
        yaw = math.degrees(math.atan2(cx, cz))
        mid_y = float(np.mean([f.top for f in figures])) / 2
        pitch = math.degrees(math.atan2(mid_y - origin[1], math.hypot(cx, cz)))
        headings = [_wrap(math.degrees(math.atan2(f.floor[0], f.floor[1])) - yaw)
                    for f in figures]
        hfov = max(hfov, max(abs(h) for h in headings) * 2 + 24.0)
        if size == "EWS":
            hfov = max(hfov, EWS_HFOV)
    camera = model.clamp_view(Camera(origin, yaw, pitch, min(hfov, 120.0), width, height))
    return _contain(model, camera, figures, feet=True, movable=False)


def _extent(camera: Camera, figures: list[_Figure], feet: bool
            ) -> tuple[float, float, float, float] | None:
    """The screen box (u0, v0, u1, v1) of the figures' heads (and feet), None when part of
    them is behind the camera."""
    right = camera.rotation()[0]
    points = []
    for figure in figures:
        x, _eye, z = figure.eye_point
        points += [(x, figure.top, z), (x, figure.eye, z)]
        for sign in (-1.0, 1.0):
            points.append((x + sign * HEAD_HALF_WIDTH_M * right[0], figure.eye,
                           z + sign * HEAD_HALF_WIDTH_M * right[2]))
            if feet:
                fx, fz = figure.floor
                points.append((fx + sign * BODY_HALF_WIDTH_M * right[0], 0.0,
                               fz + sign * BODY_HALF_WIDTH_M * right[2]))
    projected = camera.project(np.array(points, float))
    if (projected[:, 2] <= 0.05).any():
        return None
    return (float(projected[:, 0].min()), float(projected[:, 1].min()),
            float(projected[:, 0].max()), float(projected[:, 1].max()))


def _inside(camera: Camera, figures: list[_Figure], feet: bool) -> bool:
    """Whether every figure's head (and feet) is inside the frame's safe margins."""
    box = _extent(camera, figures, feet)
    if box is None:
        return False
    mu, mv = SAFE_MARGIN * camera.width, SAFE_MARGIN * camera.height
    return (box[0] >= mu and box[2] <= camera.width - mu and box[1] >= mv
            and box[3] <= camera.height - mv)


def _contain(model: PlateModel, camera: Camera, figures: list[_Figure], feet: bool,
             movable: bool) -> Camera:
    """Widen the lens (as far as the plate allows) or, for a camera off the set camera, stand
    back until every figure's head (and feet) is inside the frame, keeping the group's
    centre where it was on screen."""
    if not figures or _inside(camera, figures, feet):
        return camera
    centre = np.array([float(np.mean([f.floor[0] for f in figures])),
                       float(np.mean([f.top for f in figures])) / (2 if feet else 1.15),
                       float(np.mean([f.floor[1] for f in figures]))])
    where = camera.project(centre)
    if where[2] <= 0:
        where = np.array([camera.width / 2, camera.height / 2, 1.0])
    u, v = float(where[0]), float(np.clip(where[1], 0.2 * camera.height, 0.8 * camera.height))
    for _ in range(24):
        if _inside(camera, figures, feet):
            break
        wider = camera.moved(hfov_deg=min(camera.hfov_deg * 1.06, 120.0))
        wider = model.clamp_view(aim_camera(wider, centre, u, v))
        if wider.hfov_deg > camera.hfov_deg + 0.05 and model.overshoot(wider) <= 0:
            camera = wider
            continue
        if not movable:
            break
        distance = float(np.linalg.norm(centre - np.asarray(camera.position)))
        back = np.asarray(camera.position) - camera.forward * np.array([1.0, 0.0, 1.0]) * (
            0.12 * distance)
        moved = aim_camera(camera.moved(position=tuple(float(p) for p in back)), centre, u, v)
        camera = clamp_keeping(model, moved, centre, u, v, MIN_CAMERA_HEIGHT_M)
    return camera


def _aim_third(camera: Camera, eye: tuple[float, float, float], offset: float) -> Camera:
    """Aim so the eyes sit on the upper third line, `offset` (fraction of the width, + right)
    from the centre."""
    return aim_camera(camera, eye, camera.width * (0.5 + offset), camera.height / 3)


def _look_side(camera: Camera, figure: _Figure) -> float:
    """+1 when the figure faces screen-right in this camera, -1 screen-left."""
    facing = _heading_vector(figure.facing)
    right = camera.rotation()[0]
    dot = facing[0] * right[0] + facing[1] * right[2]
    return 1.0 if dot > 0 else -1.0


def _frame_height(size: str, figure: _Figure) -> float:
    """Metres of the subject the frame's height spans, by shot size."""
    if size == "FS":
        return figure.top / 0.8
    base = SIZES.get(size, SIZES["MS"])[0] or SIZES["MCU"][0]
    return base * figure.height / 1.75


def _single(model: PlateModel, figure: _Figure, size: str, line: SceneLine, angle: str,
            width: int, height: int) -> Camera:
    """A three-quarter single from the camera side of the line: eyes on the upper third, look
    room on the side the subject faces."""
    _, focal, offset = SIZES.get(size, SIZES["MS"])
    hfov = hfov_from_focal_mm(focal)
    frame_h = _frame_height(size, figure)
    distance = frame_h / (2 * math.tan(math.radians(_vfov(hfov, width, height)) / 2))
    side = _camera_side(line, figure)
    direction = _onto_side(_three_quarter(figure), side, 0.25)
    elevation = ANGLE_ELEVATION.get(angle, 0.0)
    camera = _place(figure, direction, distance, elevation, hfov, width, height)
    key, u, v = figure.eye_point, width / 2, height / 3
    for _ in range(8):
        camera = _place(figure, direction, distance, elevation, hfov, width, height)
        sign = _look_side(camera, figure)
        if size == "FS":  # the whole figure, centred with a tenth of the frame above the head
            key = (figure.floor[0], figure.top / 2 + 0.05 * frame_h, figure.floor[1])
            u, v = camera.width * (0.5 - sign * offset), camera.height / 2
        else:
            key, u, v = figure.eye_point, camera.width * (0.5 - sign * offset), height / 3
        camera = aim_camera(camera, key, u, v)
        clamped = model.clamp_view(camera)
        yaw_excess = _wrap(camera.yaw_deg - clamped.yaw_deg)
        pitch_excess = camera.pitch_deg - clamped.pitch_deg
        if abs(yaw_excess) < 0.05 and (abs(pitch_excess) < 0.05 or elevation == 0.0):
            break
        # walk round the subject towards what the plate covers (staying on the camera side),
        # and bring a high or low camera nearer eye level
        direction = _onto_side(_rotate(direction, -yaw_excess), side, 0.05)
        if abs(pitch_excess) >= 0.05:
            elevation = elevation * 0.6 if abs(elevation) > 1.0 else 0.0
    camera = clamp_keeping(model, camera, key, u, v, MIN_CAMERA_HEIGHT_M)
    if size in ("FS", "MWS"):
        camera = _contain(model, camera, [figure], feet=size == "FS", movable=True)
    return camera


def _three_quarter(figure: _Figure) -> Floor:
    """The floor direction from the figure to its single's camera: towards the set camera (so
    the camera dollies in along a plate ray and the background stays close to what the plate
    shows), turned just enough to see the face between a three-quarter and a near-profile."""
    to_set = _unit((-figure.floor[0], -figure.floor[1])) or (0.0, -1.0)
    set_heading = math.degrees(math.atan2(*to_set))
    off = _wrap(set_heading - figure.facing)
    low, high = THREE_QUARTER_RANGE
    turned = math.copysign(min(max(abs(off), low), high), off if off else 1.0)
    return _heading_vector(figure.facing + turned)


def _wrap(angle: float) -> float:
    return (angle + 180.0) % 360.0 - 180.0


def _camera_side(line: SceneLine, figure: _Figure) -> Floor:
    """The floor direction cameras should stand in from this figure."""
    if line.left and line.left != line.right:
        return line.side
    to_set = _unit((-figure.floor[0], -figure.floor[1]))
    return to_set or (0.0, -1.0)


def _onto_side(direction: Floor, side: Floor, minimum: float) -> Floor:
    """Turn a floor direction until it points at least `minimum` (cosine) towards `side`."""
    for _ in range(180):
        if direction[0] * side[0] + direction[1] * side[1] >= minimum:
            break
        cross = direction[0] * side[1] - direction[1] * side[0]
        direction = _rotate(direction, -2.0 if cross > 0 else 2.0)
    return direction


def _place(figure: _Figure, direction: Floor, distance: float, elevation: float, hfov: float,
           width: int, height: int) -> Camera:
    """A camera `distance` from the figure's eyes along a floor direction and an elevation."""
    el = math.radians(elevation)
    x = figure.floor[0] + direction[0] * distance * math.cos(el)
    z = figure.floor[1] + direction[1] * distance * math.cos(el)
    y = max(MIN_CAMERA_HEIGHT_M, figure.eye + distance * math.sin(el))
    camera = Camera((x, y, z), 0.0, 0.0, hfov, width, height)
    return aim_camera(camera, figure.eye_point)


def _group(model: PlateModel, figures: list[_Figure], size: str, line: SceneLine, angle: str,
           width: int, height: int) -> Camera:
    """Two-shot (or a group): square to the line from the camera side, everyone in frame,
    eyes on the upper third (a full shot: whole bodies, centred); from the set camera, zoomed,
    when standing back that far would leave the set."""
    frame_h, focal, _ = SIZES["TWO"] if size == "TWO" else SIZES.get(size, SIZES["MS"])
    full = size in ("FS", "MWS", "WS", "EWS")
    if size == "FS":
        frame_h = max(_frame_height("FS", f) for f in figures)
    elif size in ("TWO", "OTS") or not frame_h:
        frame_h = max(_frame_height("MS", f) for f in figures) * 1.15
    else:
        frame_h = max(_frame_height(size, f) for f in figures)
    hfov = hfov_from_focal_mm(focal)
    vfov = _vfov(hfov, width, height)
    centre = (float(np.mean([f.floor[0] for f in figures])),
              float(np.mean([f.floor[1] for f in figures])))
    eye = float(np.mean([f.eye for f in figures]))
    named = [f for f in figures if line.has(f.name)]
    side = line.side if len(named) >= 2 else (_unit((-centre[0], -centre[1])) or (0.0, -1.0))
    across = (-side[1], side[0])
    spread = max(abs((f.floor[0] - centre[0]) * across[0] + (f.floor[1] - centre[1]) * across[1])
                 for f in figures)
    frame_w = (2 * spread + 1.0) / 0.8
    distance = max(frame_h / (2 * math.tan(math.radians(vfov) / 2)),
                   frame_w / (2 * math.tan(math.radians(hfov) / 2)))
    to_set = math.hypot(*centre)
    middle = float(np.mean([f.top for f in figures])) / 2
    key = (centre[0], middle if size == "FS" else eye, centre[1])
    v_key = height / 2 if size == "FS" else height / 3
    room = -(centre[0] * side[0] + centre[1] * side[1])  # how far back the set camera stands
    if distance >= room * SET_CAMERA_MARGIN:
        # standing back that far would leave the set: zoom from the set camera instead
        ahead = math.degrees(math.atan2(centre[0], centre[1]))
        half = max(abs(_wrap(math.degrees(math.atan2(f.floor[0], f.floor[1])) - ahead))
                   for f in figures)
        wide_hfov = min(max(hfov, 2 * half + 2 * math.degrees(math.atan2(0.7, to_set))), 110.0)
        camera = Camera(model.origin, 0.0, 0.0, wide_hfov, width, height)
        camera = model.clamp_view(aim_camera(camera, key, width / 2, v_key))
        return _contain(model, camera, figures, feet=full, movable=False)
    figure = _Figure("group", centre, 0.0, eye, eye, 1.75)
    camera = _place(figure, side, distance, ANGLE_ELEVATION.get(angle, 0.0), hfov, width, height)
    camera = aim_camera(camera, key, width / 2, v_key)
    camera = clamp_keeping(model, camera, key, width / 2, v_key, MIN_CAMERA_HEIGHT_M)
    return _contain(model, camera, figures, feet=full, movable=True)


OTS_BACK_M = 0.9
"""How far behind the near (listening) character's head an over-the-shoulder camera stands."""
OTS_SPLIT_DEG = 15.0
"""Angle between the near head and the far eyes seen from the camera: the near head lands in
the near third, the far face in the far two thirds."""


def _over_the_shoulder(model: PlateModel, near: _Figure, far: _Figure, line: SceneLine,
                       width: int, height: int) -> tuple[Camera | None, str]:
    """Behind `near`'s shoulder on the camera side of the line, looking at `far`'s eyes; (None,
    why) when the plate cannot cover that view, the camera would cross the scene's line (a
    listener standing beyond it) or the near head would leave the frame."""
    _, focal, offset = SIZES["OTS"]
    hfov = hfov_from_focal_mm(focal)
    gap = math.dist(near.floor, far.floor)
    along = _unit((far.floor[0] - near.floor[0], far.floor[1] - near.floor[1])) or (0.0, 1.0)
    side = line.side if line.has(near.name) and line.has(far.name) else (
        _unit((-near.floor[0], -near.floor[1])) or (0.0, -1.0))
    normal = (-along[1], along[0])
    if normal[0] * side[0] + normal[1] * side[1] < 0:
        normal = (-normal[0], -normal[1])
    out = _ots_offset(OTS_BACK_M, gap)
    x = near.floor[0] - along[0] * OTS_BACK_M + normal[0] * out
    z = near.floor[1] - along[1] * OTS_BACK_M + normal[1] * out
    camera = Camera((x, max(near.eye, far.eye) + 0.08, z), 0.0, 0.0, hfov, width, height)
    # the far subject sits on the side of the frame away from the near shoulder
    near_right = _look_side_point(camera.aimed(far.eye_point), near.floor) > 0
    u = width * (0.5 + (-offset if near_right else offset))
    camera = aim_camera(camera, far.eye_point, u, height / 3)
    clamped = model.clamp_view(camera)
    turned = max(abs(_wrap(clamped.yaw_deg - camera.yaw_deg)),
                 abs(clamped.pitch_deg - camera.pitch_deg))
    if line.left != line.right and line.signed_distance((x, z)) < 0:
        return None, f"{near.name} stands beyond the scene's 180-degree line"
    if turned > OTS_TURN_TOLERANCE_DEG or clamped.hfov_deg < 0.8 * camera.hfov_deg:
        return None, _coverage_text(model, width, height)
    camera = clamp_keeping(model, camera, far.eye_point, u, height / 3, MIN_CAMERA_HEIGHT_M)
    head = camera.project(np.array(near.eye_point))
    if head[2] <= 0.2 or not (-0.05 * width <= head[0] <= 1.05 * width):
        return None, f"{near.name}'s head would leave the frame"
    face = camera.project(np.array(far.eye_point))
    if (head[0] < width / 2) == (face[0] < width / 2):  # the plate's limits pushed the camera
        return None, (f"{near.name}'s shoulder and {far.name}'s face would land on the same "
                      "side of the frame")
    return camera, ""


def _ots_offset(back: float, gap: float) -> float:
    """Sideways step from the near head that puts OTS_SPLIT_DEG between it and the far eyes."""
    lo, hi = 0.0, 3.0
    for _ in range(40):
        mid = (lo + hi) / 2
        split = math.degrees(math.atan2(mid, back) - math.atan2(mid, back + gap))
        lo, hi = (mid, hi) if split < OTS_SPLIT_DEG else (lo, mid)
    return (lo + hi) / 2


def _look_side_point(camera: Camera, floor: Floor) -> float:
    """Positive when a floor point is right of the camera's view axis."""
    right = camera.rotation()[0]
    return ((floor[0] - camera.position[0]) * right[0]
            + (floor[1] - camera.position[2]) * right[2])
