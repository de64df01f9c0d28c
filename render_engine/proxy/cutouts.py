"""Characters as cut-outs: pick the view for the camera, scale it by perspective, keep it alive.

Views come from the cast sheet (`render_engine.proxy.sheets`); side and three-quarter views
face screen-left and are mirrored for the other side. Every frame is one affine warp of the
nearest pyramid level straight into the frame-clipped bounding box: placing, mirroring, sway,
breathing and the walk bob cost a single `cv2.warpAffine` over the pixels that end up on screen.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from render_engine.errors import SoloreelError
from render_engine.pose.openpose import WALK_CYCLE_S
from render_engine.proxy import lens
from render_engine.proxy.blocking import EYE_STANDING
from render_engine.proxy.camera import Camera, heading_to
from render_engine.proxy.sheets import CastCutouts, CutoutView

VIEW_ANGLES = {"front": 0.0, "three_quarter": 45.0, "side": 90.0, "back": 180.0}
"""How far each view is turned away from the camera (degrees); side views face screen-left."""
THIGH = 0.245
"""Thigh length in body heights (as the OpenPose figure): a seated body sits this far behind
its feet, so its floor position is under the seat."""
NEAR_M = 0.25
"""Characters closer to the camera than this are not drawn."""


@dataclass(frozen=True)
class Posture:
    """Where a character is and what the body does at one moment of the shot."""

    x: float
    z: float
    facing_deg: float
    action: str = "stand"
    walking: bool = False
    seated: bool = False


def posture_of(action: str, x: float, z: float, facing_deg: float, walking: bool) -> Posture:
    """The posture for a spec action at a floor position ("sit" seats the figure)."""
    return Posture(x, z, facing_deg, action, walking, seated=action == "sit")


@dataclass
class Sprite:
    """A cut-out placed in a frame: a straight-alpha RGBA patch at (x0, y0) and its depth.

    `rgb` and `coverage` (alpha) are straight, not premultiplied, so lighting can work on
    colours; `premultiplied()` gives the premultiplied patch. Everything else is in frame
    pixels.
    """

    name: str
    view: str
    mirrored: bool
    rgb: np.ndarray
    """h x w x 3 uint8."""
    coverage: np.ndarray
    """h x w uint8 alpha (255 = opaque)."""
    x0: int
    y0: int
    depth: float
    """Distance from the camera along its axis (metres) of the character's floor position."""
    feet: tuple[float, float]
    height_px: float
    """The standing height of the character on screen at its depth."""
    up: tuple[float, float]
    """Unit screen direction of world up at the character."""
    world: tuple[float, float, float]
    """The character's centre (x, mid-height, z) in the set, for lighting."""
    mouth: tuple[float, float, float] | None = None
    """Mouth centre (x, y) and width on screen, when the view shows one."""
    mouth_angle: float = 0.0
    mouth_colour: np.ndarray | None = None
    shadow: tuple[float, float, float, float] | None = None
    """Contact shadow ellipse on the floor: centre x, y and radii on screen."""
    body_half_px: float = 0.0
    """Half the body's width on screen (for the shading gradient)."""
    lab: tuple[np.ndarray, np.ndarray] | None = None
    """Mean and std (8-bit Lab) of the view's opaque pixels, for the ambient match."""
    matched: bool = False
    """Whether the ambient match was applied to the view before warping."""
    light: object | None = None
    """The `lighting.SpriteLight` the compositor applies (set by the tier)."""
    extra: dict = field(default_factory=dict)

    @property
    def alpha(self) -> np.ndarray:
        """The coverage as float32 in 0..1."""
        return self.coverage.astype(np.float32) * np.float32(1.0 / 255.0)

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """x0, y0, x1, y1 (exclusive) of the patch in the frame."""
        return self.x0, self.y0, self.x0 + self.rgb.shape[1], self.y0 + self.rgb.shape[0]

    def premultiplied(self) -> np.ndarray:
        """The patch as premultiplied RGBA float32 in 0..1."""
        a = self.alpha[..., None]
        return np.concatenate([self.rgb.astype(np.float32) / 255.0 * a, a], axis=2)


# --------------------------------------------------------------------------- view choice


def relative_facing(camera: Camera, x: float, z: float, facing_deg: float) -> float:
    """The character's heading relative to the line of sight (0 = seen from behind, 180 = facing
    the camera, 90 = profile facing screen right, 270 = facing screen left)."""
    sight = heading_to((camera.position[0], camera.position[2]), (x, z))
    return (facing_deg - sight) % 360.0


def choose_view(available: list[str], relative_deg: float, seated: bool) -> tuple[str, bool]:
    """The view nearest a camera-relative facing, and whether to mirror it.

    Turned views are drawn facing screen-left; a character facing screen-right gets the mirror
    image. Seated figures use sit_* views when the sheet has them.
    """
    away = abs(((relative_deg - 180.0) + 180.0) % 360.0 - 180.0)  # 0 faces the camera
    faces_right = math.sin(math.radians(relative_deg)) > 1e-6
    prefix = "sit_" if seated and any(v.startswith("sit_") for v in available) else ""
    candidates = [v for v in VIEW_ANGLES if prefix + v in available]
    if not candidates:
        candidates = [v for v in VIEW_ANGLES if v in available]
        prefix = ""
    if not candidates:
        if not available:
            raise SoloreelError("the cast member has no views; add views.front to its sheet")
        return available[0], False
    best = min(candidates, key=lambda v: (abs(VIEW_ANGLES[v] - away), VIEW_ANGLES[v]))
    mirrored = faces_right and best in ("three_quarter", "side")
    return prefix + best, mirrored


# --------------------------------------------------------------------------- idle motion


@dataclass(frozen=True)
class Idle:
    """Small, deterministic motion that keeps a cut-out alive: breathing, sway, walk bob."""

    breath_period: float
    breath_phase: float
    sway_period: float
    sway_phase: float

    @staticmethod
    def for_character(seed: int, name: str) -> Idle:
        """A per-character phase and tempo from the shot's seed and the name."""
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        return Idle(float(rng.uniform(3.4, 4.6)), float(rng.uniform(0, 2 * math.pi)),
                    float(rng.uniform(5.0, 7.5)), float(rng.uniform(0, 2 * math.pi)))

    def at(self, t: float, posture: Posture) -> tuple[float, float, float]:
        """(vertical stretch, sway degrees, bob in heights) at shot time t."""
        breath = 0.006 * math.sin(2 * math.pi * t / self.breath_period + self.breath_phase)
        sway = (0.25 if posture.seated else 0.5) * math.sin(
            2 * math.pi * t / self.sway_period + self.sway_phase)
        bob = 0.0
        if posture.walking:
            phase = 2 * math.pi * t / WALK_CYCLE_S
            bob = 0.016 * abs(math.cos(phase))
            sway += 1.2 * math.sin(phase)
        return 1.0 + breath, sway, bob


NO_IDLE = Idle(1.0, 0.0, 1.0, 0.0)


# --------------------------------------------------------------------------- placing


def _upright(scale: float, up: np.ndarray, mirrored: bool, stretch: float,
             sway_deg: float) -> np.ndarray:
    """2x2 map from image to screen offsets for a standing or seated figure."""
    angle = math.atan2(up[0], -up[1]) + math.radians(sway_deg)  # image up (0,-1) → screen up
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    return scale * rot @ np.diag([-1.0 if mirrored else 1.0, stretch])


def _lying(camera: Camera, posture: Posture, height: float, scale: float, px_per_m: float
           ) -> tuple[np.ndarray, np.ndarray] | None:
    """(2x2 map, screen feet) laying a side view along the floor, head the way it faces and
    face up: image up follows the body's projected axis, image x the screen perpendicular."""
    heading = math.radians(posture.facing_deg)
    forward = np.array([math.sin(heading), 0.0, math.cos(heading)])
    lift = np.array([0.0, 0.12 * height / 1.75, 0.0])  # half the body's thickness
    centre = np.array([posture.x, 0.0, posture.z]) + lift
    ends = lens.project(camera, np.array([centre - forward * height / 2,
                                          centre + forward * height / 2]))
    if (ends[:, 2] < NEAR_M).any():
        return None
    axis = ends[1, :2] - ends[0, :2]
    length = float(np.hypot(*axis))
    minimum = 0.2 * height * px_per_m * scale
    if length < minimum:  # lying straight at the camera: keep a short figure
        axis = np.array([0.0, -minimum]) if length < 1e-6 else axis * (minimum / length)
        length = minimum
    along = axis / length
    across = np.array([-along[1], along[0]])
    if across[1] < 0:  # the side view's face (image left, -x) must point up on screen
        across = -across
    linear = np.stack([across * scale, -along * (length / (height * px_per_m))], axis=1)
    return linear, ends[0, :2] - 0.5


def _affine(view: CutoutView, level: int, anchor_screen: np.ndarray, linear: np.ndarray
            ) -> np.ndarray:
    """2x3 matrix from level-k pixel centres to frame pixel centres."""
    factor = float(2 ** level)
    # image = factor * (level + 0.5) - 0.5 ; screen = anchor + linear @ (image - ground)
    to_image = np.array([[factor, 0.0, 0.5 * factor - 0.5], [0.0, factor, 0.5 * factor - 0.5]])
    ground = np.asarray(view.ground)
    matrix = np.zeros((2, 3))
    matrix[:, :2] = linear @ to_image[:, :2]
    matrix[:, 2] = linear @ (to_image[:, 2] - ground) + anchor_screen
    return matrix


def _apply(matrix: np.ndarray, point: tuple[float, float]) -> np.ndarray:
    return matrix[:, :2] @ np.asarray(point, float) + matrix[:, 2]


def body_centre(posture: Posture, height_m: float) -> tuple[float, float, float]:
    """The point lighting treats as the character (x, mid-body height, z): lower when seated."""
    return (posture.x, height_m * (0.35 if posture.seated else 0.55), posture.z)


Recolour = Callable[[CutoutView, int, tuple[int, int, int, int]], np.ndarray]
"""(view, pyramid level, frame box) → the level's RGBA recoloured for that place."""


def place(cutouts: CastCutouts, camera: Camera, posture: Posture, t: float,
          idle: Idle | None = None, recolour: Recolour | None = None,
          skeleton: np.ndarray | None = None, neutral: np.ndarray | None = None,
          split: frozenset[str] = frozenset()) -> Sprite | None:
    """The character's sprite in a camera's frame at shot time t, or None when not visible.

    The floor position (x, 0, z) and the head (x, height_m, z) are projected with the camera:
    their distance on screen sets the scale, their direction the sprite's up (so pitch and roll
    are followed). A standing view's feet land on the projected floor position; a seated view's
    eyes land on the seated eye point above it (the floor position is under the seat; see
    `_seated_anchor`), where framing aims and the pose figure's eyes are. `recolour` (e.g.
    `lighting.AmbientMatch`) recolours the source level before it is warped. `skeleton`
    (the frame's (18, 3) COCO-18 keypoints of the character) poses the rigged view's parts
    (`rig_pose`) by how far it moved from `neutral` (the same figure in the pose the view is
    painted in); None keeps the cut-out rigid. Parts named in `split` are posed into a layer
    of their own (`sprite.extra["posed"].layers`; see `rig_pose.split_sprites`).
    """
    member = cutouts.member
    height = member.height_m
    floor = np.array([posture.x, 0.0, posture.z])
    points = lens.project(camera, np.array([floor, [posture.x, height, posture.z]]))
    if points[0, 2] < NEAR_M or points[1, 2] < NEAR_M:
        return None
    feet = points[0, :2] - 0.5  # frame pixel centres
    head = points[1, :2] - 0.5
    span = head - feet
    height_px = float(np.hypot(*span))
    if height_px < 1.0:
        return None
    up = span / height_px
    reach = height_px * 1.5  # no view is wider than this either side of the body's axis
    if (min(feet[0], head[0]) > camera.width + reach or max(feet[0], head[0]) < -reach
            or min(feet[1], head[1]) > camera.height + reach
            or max(feet[1], head[1]) < -reach):
        return None  # far outside the frame: skip the view lookup and the warp set-up
    relative = relative_facing(camera, posture.x, posture.z, posture.facing_deg)
    lying = posture.action == "lie"
    view_name, mirrored = choose_view(cutouts.available(), 90.0 if lying else relative,
                                      posture.seated)
    view = cutouts.view(view_name)
    scale = height_px / (height * view.px_per_m)
    stretch, sway, bob = (idle or NO_IDLE).at(t, posture)
    level = 0
    while level + 1 < len(view.levels) and scale * 2 ** (level + 1) <= 1.0:
        level += 1
    anchor = feet + up * bob * height_px
    linear = _upright(scale, up, mirrored, stretch, sway)
    if posture.seated and not lying:
        seated = _seated_anchor(cutouts, camera, posture, view, linear, feet)
        if seated is None:
            return None
        anchor = seated
    if lying:
        laid = _lying(camera, posture, height, scale, view.px_per_m)
        if laid is None:
            return None
        linear, anchor = laid
        mirrored = False
    matrix = _affine(view, level, anchor, linear)
    x0, y0, x1, y1 = view.opaque_box
    full = np.array([[x0 - 0.5, y0 - 0.5], [x1 - 0.5, y0 - 0.5], [x0 - 0.5, y1 - 0.5],
                     [x1 - 0.5, y1 - 0.5]])
    level_pts = (full + 0.5) / 2 ** level - 0.5
    corners = level_pts @ matrix[:, :2].T + matrix[:, 2]
    bx0 = max(0, math.floor(corners[:, 0].min()) - 1)
    by0 = max(0, math.floor(corners[:, 1].min()) - 1)
    bx1 = min(camera.width, math.ceil(corners[:, 0].max()) + 2)
    by1 = min(camera.height, math.ceil(corners[:, 1].max()) + 2)
    if bx1 <= bx0 or by1 <= by0:
        return None
    local = matrix.copy()
    local[:, 2] -= (bx0, by0)
    box = (bx0, by0, bx1, by1)
    source = view.levels[level] if recolour is None else recolour(view, level, box)
    posed = None
    if skeleton is not None and not lying:  # rigged: parts follow the frame's skeleton
        from render_engine.proxy import rig_pose

        posed = rig_pose.pose_cutout(cutouts, view_name, level, source,
                                     _affine(view, 0, anchor, linear), skeleton,
                                     (camera.width, camera.height), neutral, split)
    if posed is not None:
        patch, (bx0, by0) = posed.rgba, posed.origin
    else:
        patch = cv2.warpAffine(source, local, (bx1 - bx0, by1 - by0),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=(0, 0, 0, 0))
    coverage = cv2.extractChannel(patch, 3)
    if not cv2.countNonZero(coverage):
        return None
    image_matrix = _affine(view, 0, anchor, linear)
    body_matrix = image_matrix
    if posed is not None:
        image_matrix = rig_pose.head_matrix(posed, image_matrix)  # the face follows the head
        if "torso" in posed.transforms:  # shading places the body by its feet: move them too
            feet = _apply(posed.transforms["torso"], feet)
    mouth = None
    if view.mouth is not None and view.mouth_width > 0:
        centre = _apply(image_matrix, view.mouth)
        width = view.mouth_width
        if view_name.endswith("side") and cutouts.front_mouth_width:
            width = max(width, 0.45 * cutouts.front_mouth_width)
        mouth = (float(centre[0]), float(centre[1]), float(width * scale))
    sprite = Sprite(
        name=member.name, view=view_name, mirrored=mirrored,
        rgb=cv2.cvtColor(patch, cv2.COLOR_RGBA2RGB), coverage=coverage,
        x0=bx0, y0=by0, depth=float(points[0, 2]), feet=(float(feet[0]), float(feet[1])),
        height_px=height_px, up=(float(up[0]), float(up[1])),
        world=body_centre(posture, height),
        mouth=mouth, mouth_angle=math.degrees(math.atan2(-linear[0, 1], linear[1, 1])),
        mouth_colour=view.mouth_colour, body_half_px=0.15 * height_px,
        lab=(view.lab_mean, view.lab_std), matched=recolour is not None)
    sprite.shadow = _shadow(camera, posture, height)
    sprite.extra["scale"] = scale
    sprite.extra["level"] = level
    sprite.extra["head_top"] = tuple(_apply(image_matrix, view.head_top))
    sprite.extra["feet"] = tuple(_apply(body_matrix, view.ground))
    if posed is not None:
        sprite.extra["posed"] = posed
    if view.eyes is not None:
        sprite.extra["eyes"] = tuple(_apply(image_matrix, view.eyes))
    return sprite


def _seated_anchor(cutouts: CastCutouts, camera: Camera, posture: Posture, view: CutoutView,
                   linear: np.ndarray, feet: np.ndarray) -> np.ndarray | None:
    """Where a seated view's feet go on screen: so its painted eyes land on the character's
    seated eye point above the floor position (the seat) — the point framing aims at and the
    pose figure's eyes use — whatever the perspective does to the legs in front. A view without
    an eyes anchor puts its feet a thigh in front of the seat. None: the eyes are behind the
    camera.

    A sheet without sit views seats its standing view the same way: its eyes (painted, or
    where a standing body's eyes are) go on the seated eye point, so a close-up of a seated
    extra shows the face framing aims at, not a shirt. Unrigged its legs sink behind the
    seat; the rigged cut-out bends them into the seated skeleton's (thighs forward, shins
    down to the floor) where the camera sees the figure turned (`poses.rest_keypoints`).
    Likewise a sit view put on a seat higher or lower than the one it is painted on keeps
    its eyes (and hips) on this point and the rig bends its legs to the floor."""
    painted = view.eyes
    if painted is None and not view.name.startswith("sit_"):
        ground = np.asarray(view.ground, float)
        painted = tuple(ground + EYE_STANDING * (np.asarray(view.head_top, float) - ground))
    if painted is not None:
        eyes = lens.project(camera, np.array([posture.x, cutouts.seated_eye_m, posture.z]))
        if eyes[2] < NEAR_M:
            return None
        offset = np.asarray(painted, float) - np.asarray(view.ground, float)
        return eyes[:2] - 0.5 - linear @ offset
    heading = math.radians(posture.facing_deg)
    reach = THIGH * cutouts.member.height_m
    front = lens.project(camera, np.array([posture.x + math.sin(heading) * reach, 0.0,
                                           posture.z + math.cos(heading) * reach]))
    if front[2] < NEAR_M:
        return feet
    return front[:2] - 0.5


def _shadow(camera: Camera, posture: Posture, height: float
            ) -> tuple[float, float, float, float] | None:
    """The contact shadow's screen ellipse: the floor under the feet, and under the seat too
    for a seated figure (from its hips to its feet)."""
    scale = height / 1.75
    heading = math.radians(posture.facing_deg)
    forward = np.array([math.sin(heading), 0.0, math.cos(heading)])
    side = np.array([forward[2], 0.0, -forward[0]])
    centre = np.array([posture.x, 0.0, posture.z])
    along, across = 0.2 * scale, 0.24 * scale
    if posture.seated:
        reach = THIGH * height
        centre = centre + forward * reach / 2
        along, across = reach / 2 + 0.15 * scale, 0.28 * scale
    corners = [centre + forward * along, centre - forward * along, centre + side * across,
               centre - side * across, centre]
    pts = lens.project(camera, np.array(corners))
    if (pts[:, 2] < NEAR_M).any():
        return None
    rx = (pts[:4, 0].max() - pts[:4, 0].min()) / 2
    ry = max((pts[:4, 1].max() - pts[:4, 1].min()) / 2, 0.5)
    return (float((pts[:4, 0].max() + pts[:4, 0].min()) / 2 - 0.5),
            float((pts[:4, 1].max() + pts[:4, 1].min()) / 2 - 0.5), float(rx), float(ry))
