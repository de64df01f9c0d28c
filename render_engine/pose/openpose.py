"""OpenPose COCO-18 skeletons: drawn exactly as ControlNet / DWPose / Wan VACE draw them.

Pose-conditioned models were trained on the annotators' own renderings, so the control video
must match them pixel for pixel: the limb pairs, the colours, ellipse limbs 4 px wide dimmed to
60 %, joints as radius-4 dots (REFERENCE.md, "OpenPose COCO-18"). `standing_pose` makes a
procedural figure for shots without a pose track, so the placeholder and the pose control of
the final tier show the same blocking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear",
    "l_ear",
)
LIMB_SEQ: tuple[tuple[int, int], ...] = (
    (2, 3), (2, 6), (3, 4), (4, 5), (6, 7), (7, 8), (2, 9), (9, 10), (10, 11), (2, 12),
    (12, 13), (13, 14), (2, 1), (1, 15), (15, 17), (1, 16), (16, 18),
)
"""The 17 limbs as the annotators list them: 1-based keypoint pairs."""
LIMBS: tuple[tuple[int, int], ...] = tuple((a - 1, b - 1) for a, b in LIMB_SEQ)
"""The same limbs as 0-based keypoint indices."""
COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)
"""RGB colour of limb i and of joint i."""
STICK_WIDTH = 4
JOINT_RADIUS = 4
FACE_RADIUS = 3
LIMB_DIM = 0.6
LIMB_COLORS: tuple[tuple[int, int, int], ...] = tuple(
    (int(r * LIMB_DIM), int(g * LIMB_DIM), int(b * LIMB_DIM)) for r, g, b in COLORS
)
"""Limb colours after the annotators' `canvas * 0.6` (truncated like their uint8 cast)."""
FAR_CONF = 0.4
"""Confidence of keypoints on the far side of a turned body: drawn, but behind the near side."""


def _as_people(people: list[np.ndarray]) -> list[np.ndarray]:
    result = []
    for person in people:
        keypoints = np.asarray(person, dtype=np.float64)
        if keypoints.shape != (18, 3):
            raise ValueError(f"keypoints must have shape (18, 3), got {keypoints.shape}")
        result.append(keypoints)
    return result


def paint_people(canvas: np.ndarray, people: list[np.ndarray],
                 faces: list[np.ndarray] | None = None) -> None:
    """Draw every person onto an RGB canvas in place: all limbs, then all joints, then faces.

    On a black canvas this is pixel-identical to the annotators (limbs filled at full colour,
    the canvas multiplied by 0.6, joints on top): each limb pixel holds the colour painted last,
    so painting the pre-dimmed colour gives the same value. On a plate it leaves the plate
    undimmed. The canvas is RGB, so the RGB colours are used as they are (the annotators draw
    BGR colours onto BGR canvases, which is the same picture). Items are painted in the
    annotators' order, except that lower-confidence (far-side) items go first so the near side
    of a turned body ends up in front.
    """
    limbs: list[tuple[float, int, np.ndarray, np.ndarray, int]] = []
    for index, (a, b) in enumerate(LIMBS):
        for person in people:
            if person[a, 2] > 0 and person[b, 2] > 0:
                limbs.append((min(person[a, 2], person[b, 2]), len(limbs), person[a], person[b],
                              index))
    limbs.sort(key=lambda item: (item[0], item[1]))
    for _conf, _order, start, end, index in limbs:
        mid_x, mid_y = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
        length = math.hypot(start[0] - end[0], start[1] - end[1])
        angle = math.degrees(math.atan2(start[1] - end[1], start[0] - end[0]))
        polygon = cv2.ellipse2Poly((int(mid_x), int(mid_y)), (int(length / 2), STICK_WIDTH),
                                   int(angle), 0, 360, 1)
        cv2.fillConvexPoly(canvas, polygon, LIMB_COLORS[index])
    joints = [(person[i, 2], order, person[i], i)
              for order, (i, person) in enumerate((i, p) for i in range(18) for p in people)
              if person[i, 2] > 0]
    joints.sort(key=lambda item: (item[0], item[1]))
    for _conf, _order, point, index in joints:
        cv2.circle(canvas, (int(point[0]), int(point[1])), JOINT_RADIUS, COLORS[index],
                   thickness=-1)
    for face in faces or []:
        for point in np.asarray(face, dtype=np.float64).reshape(-1, np.shape(face)[-1]):
            if point[0] > 0 and point[1] > 0 and (len(point) < 3 or point[2] > 0):
                cv2.circle(canvas, (int(point[0]), int(point[1])), FACE_RADIUS,
                           (255, 255, 255), thickness=-1)


def draw_pose(canvas: np.ndarray, keypoints: np.ndarray,
              face: np.ndarray | None = None) -> np.ndarray:
    """One person's OpenPose skeleton drawn on a copy of an RGB uint8 canvas.

    `keypoints` is (18, 3): x, y in pixels and a confidence; joints with confidence 0 are
    skipped together with their limbs. `face` optionally adds face landmarks (K, 2|3) as white
    dots, as DWPose's face output. Returns the new canvas.
    """
    result = np.array(canvas, dtype=np.uint8, copy=True)
    paint_people(result, _as_people([keypoints]), None if face is None else [face])
    return result


def draw_poses(width: int, height: int, people: list[np.ndarray],
               faces: list[np.ndarray] | None = None) -> np.ndarray:
    """Every person's skeleton on a black HxWx3 RGB canvas: one frame of a pose control video.
    `faces` adds face landmarks (each (68, 2|3)) as DWPose's white dots of radius 3, drawn
    after every body (DWPose's `draw_pose`: bodies, hands, then faces)."""
    canvas = np.zeros((height, width, 3), np.uint8)
    paint_people(canvas, _as_people(people), faces or None)
    return canvas


def to_pose_keypoint_json(people: list[np.ndarray], width: int, height: int,
                          keep_confidence: bool = False,
                          faces: list[np.ndarray | None] | None = None) -> dict[str, Any]:
    """One frame in ComfyUI's POSE_KEYPOINT / OpenPose JSON form (pixel coordinates).

    Missing joints are written as [0, 0, 0]. Present joints get confidence 1.0 unless
    `keep_confidence`: controlnet_aux reads any confidence below 1 as "missing". `faces`
    (one per person, None where unseen) fills `face_keypoints_2d` ([x, y, c] per landmark,
    `render_engine.pose.face`), which DWPose-aware nodes draw as the face.
    """
    entries = []
    for number, keypoints in enumerate(_as_people(people)):
        face = faces[number] if faces is not None and number < len(faces) else None
        flat: list[float] = []
        for x, y, conf in keypoints:
            if conf > 0:
                flat += [float(x), float(y), float(conf) if keep_confidence else 1.0]
            else:
                flat += [0.0, 0.0, 0.0]
        face_flat = None
        if face is not None:
            points = np.asarray(face, np.float64)
            face_flat = [float(v) for x, y, *c in points
                         for v in (x, y, c[0] if c else 1.0)]
        entries.append({
            "pose_keypoints_2d": flat, "face_keypoints_2d": face_flat,
            "hand_left_keypoints_2d": None, "hand_right_keypoints_2d": None,
        })
    return {"people": entries, "canvas_width": int(width), "canvas_height": int(height)}


def from_pose_keypoint_json(frame: dict[str, Any]) -> list[np.ndarray]:
    """The (18, 3) keypoint arrays of one POSE_KEYPOINT frame (the inverse of the above)."""
    people = []
    for entry in frame.get("people", []):
        values = entry.get("pose_keypoints_2d") or []
        if len(values) != 54:
            raise ValueError(f"pose_keypoints_2d must hold 54 numbers, got {len(values)}")
        people.append(np.asarray(values, dtype=np.float64).reshape(18, 3))
    return people


# --------------------------------------------------------------------------- procedural figure

# Proportions of a ~7.5-head figure in units of its height, in the body's own frame:
# (lateral to the figure's right, forward, up from the soles).
_HEAD = {
    0: (0.0, 0.058, 0.905),   # nose
    14: (0.021, 0.045, 0.935),  # right eye
    15: (-0.021, 0.045, 0.935),
    16: (0.046, -0.004, 0.925),  # right ear
    17: (-0.046, -0.004, 0.925),
}
_NECK_UP = 0.822
_SHOULDER = (0.108, 0.815)    # half width, height
_HIP = (0.055, 0.528)         # half width, height
_UPPER_ARM, _FOREARM = 0.186, 0.146
_THIGH, _SHIN = 0.245, 0.24
_ANKLE_UP = 0.045
_SEAT_UP = _ANKLE_UP + _SHIN  # a chair seat puts the hips at knee height
SEAT_FORWARD = _THIGH
SEATED_HEAD_FORWARD = _HEAD[14][1]
"""How far (body heights) the seated figure's eyes are in front of its hips."""
"""A seated figure's feet are this far (body heights) in front of its hips on the seat."""
SEATED_EYE = _SEAT_UP - _HIP[1] + _HEAD[14][2]
"""Eye height of the seated figure in body heights (hips on a knee-high seat)."""
_SIDES = {2: 1, 3: 1, 4: 1, 8: 1, 9: 1, 10: 1, 14: 1, 16: 1,
          5: -1, 6: -1, 7: -1, 11: -1, 12: -1, 13: -1, 15: -1, 17: -1}
ACTIONS = ("stand", "sit", "walk", "talk", "gesture", "turn", "lie", "sit_down", "stand_up")
WALK_CYCLE_S = 1.1
"""Seconds per gait cycle (two steps)."""


STRIDE_ANGLE = 0.38
"""Half the angle between the legs at heel strike (radians): a step is `2 * leg * sin` of it."""
STEP = 2 * (_THIGH + _SHIN) * math.sin(STRIDE_ANGLE)
"""Step length (one foot's footfall to the other's) in body heights: ~0.36 h, 0.63 m for a
1.75 m figure — from leg length, as Alexander's step-length relation puts it (step ≈ 0.35–0.4
of stature at normal speed; Alexander, "Optimization and gaits in the locomotion of
vertebrates", Physiol. Rev. 69, 1989)."""
FOOT_LIFT = 0.05
"""Highest lift of a swinging ankle in body heights (~9 cm)."""
ARM_SWING = 0.32
"""Arm swing at full step (radians, opposite to the same side's leg)."""
SIT_SECONDS = 1.2
"""How long a `sit_down` / `stand_up` takes; it starts at SIT_DELAY seconds into the shot."""
SIT_DELAY = 0.3


@dataclass(frozen=True)
class Acting:
    """What the procedural figure does beyond its action, in body heights and its own frame
    (lateral to its right, forward, up from the floor under its feet).

    The proxy fills it from the set's furniture and the shot's blocking
    (`render_engine.proxy.poses.acting_for`); the placeholder's figure leaves it empty.
    """

    walked: float | None = None
    """Path length walked so far (walk): the gait is a function of distance, so feet plant."""
    walk_total: float | None = None
    """Length of the whole path: the last steps are fitted to end with the feet together."""
    seat_up: float | None = None
    """Hip height of the seat (sit, sit_down, stand_up); None: a knee-high seat."""
    lean: tuple[float, float] | None = None
    """(forward distance to the surface's near edge, height of its top): forearms rest on it."""
    point: tuple[float, float, float] | None = None
    """A target (lateral, forward, up) the right hand points at (or reaches, when in reach)."""
    energy: float | None = None
    """Speech energy 0..1 of the line being spoken now: sizes talking gestures."""


def _wave(t: float, period: float, phase: float = 0.0) -> float:
    return math.sin(2 * math.pi * t / period + phase)


def _smooth(u: float) -> float:
    u = min(max(u, 0.0), 1.0)
    return u * u * (3 - 2 * u)


def _arm(side: int, shoulder: np.ndarray, flex: float, abduct: float,
         bend: float) -> tuple[np.ndarray, np.ndarray]:
    """Elbow and wrist of an arm: flexion swings it forward, abduction out, bend the forearm."""
    upper = np.array([side * math.sin(abduct), math.sin(flex) * math.cos(abduct),
                      -math.cos(flex) * math.cos(abduct)])
    elbow = shoulder + _UPPER_ARM * upper
    fore = np.array([side * math.sin(abduct) * 0.6, math.sin(flex + bend),
                     -math.cos(flex + bend)])
    wrist = elbow + _FOREARM * fore / np.linalg.norm(fore)
    return elbow, wrist


def _two_bone(root: np.ndarray, target: np.ndarray, first: float, second: float,
              bend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Middle joint and end of a two-bone limb reaching for `target` (analytic IK by the law of
    cosines): the middle joint bends towards `bend`; a target out of reach is approached along
    the straight limb."""
    offset = target - root
    distance = float(np.linalg.norm(offset))
    axis = offset / distance if distance > 1e-9 else np.array([0.0, 0.0, -1.0])
    reach = min(max(distance, abs(first - second) + 1e-6), first + second - 1e-6)
    cos_a = (first * first + reach * reach - second * second) / (2 * first * reach)
    sin_a = math.sqrt(max(0.0, 1 - cos_a * cos_a))
    normal = bend - axis * float(bend @ axis)
    norm = float(np.linalg.norm(normal))
    normal = normal / norm if norm > 1e-9 else np.array([0.0, 1.0, 0.0])
    middle = root + first * (cos_a * axis + sin_a * normal)
    end = root + reach * axis
    return middle, end


def _footfalls(total: float) -> tuple[np.ndarray, np.ndarray]:
    """Footfall positions along the path and the body position after each step.

    Both feet start together at 0 (footfalls -1 and 0); footfall j (left foot when odd) lands
    at (j - 1/2) steps, with the step fitted to the path so the last full step lands half a
    step short of the end; then the feet close up at the end. The body is over the middle of
    the last two footfalls after every step, so a stance foot never moves on the ground."""
    count = max(1, round(total / STEP))
    step = total / count
    falls = [0.0, 0.0] + [(j - 0.5) * step for j in range(1, count + 1)] + [total, total]
    marks = np.asarray(falls)
    bodies = (marks[:-1] + marks[1:]) / 2
    return marks, bodies


def gait(walked: float, total: float | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Forward offsets of the right and left ankle from the body (body heights), their lift,
    and which foot swings (0 right, 1 left) after walking `walked` of a path `total`
    long (None: a path that goes on).

    The gait is driven by distance, not time: the stance foot's ground point is
    `body + offset`, constant while the body moves, and each foot covers the path's length
    once, so the feet move exactly as fast as the ground on average."""
    walked = max(0.0, walked)
    if total is None:
        total = (math.floor(walked / STEP) + 4) * STEP
    walked = min(walked, total)
    marks, bodies = _footfalls(total)
    # step j (1-based past footfall 0) moves the foot of footfall j from marks[j-2] to marks[j]
    # while the body goes from bodies[j-2] to bodies[j-1]; marks index = footfall + 1
    index = int(np.searchsorted(bodies, walked, side="right"))
    index = min(max(index, 1), len(bodies) - 1)
    lo, hi = bodies[index - 1], bodies[index]
    u = (walked - lo) / (hi - lo) if hi > lo else 1.0
    moving = index + 1                      # marks index of the footfall being stepped to
    swing_from, swing_to = marks[moving - 2], marks[moving]
    stance = marks[moving - 1]
    swing_foot = (moving - 1) % 2           # footfall j = moving - 1; odd j: the left foot
    offsets = np.zeros(2)
    lifts = np.zeros(2)
    offsets[swing_foot] = swing_from + _smooth(u) * (swing_to - swing_from) - walked
    offsets[1 - swing_foot] = stance - walked
    lifts[swing_foot] = FOOT_LIFT * math.sin(math.pi * min(max(u, 0.0), 1.0))
    return offsets, lifts, swing_foot


def _sit_amount(t: float, action: str) -> float:
    """0 standing .. 1 seated: `sit` is seated, `sit_down` / `stand_up` move over time."""
    if action == "sit":
        return 1.0
    if action in ("sit_down", "stand_up"):
        u = _smooth((t - SIT_DELAY) / SIT_SECONDS)
        return u if action == "sit_down" else 1.0 - u
    return 0.0


def _pitch(points: np.ndarray, indices: list[int], pivot: np.ndarray, angle: float) -> None:
    """Tip the given keypoints forward about `pivot` (the hips) by `angle` radians, in place."""
    if abs(angle) < 1e-9:
        return
    c, s = math.cos(angle), math.sin(angle)
    rel = points[indices] - pivot
    fwd = rel[:, 1] * c + rel[:, 2] * s
    up = -rel[:, 1] * s + rel[:, 2] * c
    points[indices, 1] = pivot[1] + fwd
    points[indices, 2] = pivot[2] + up


_UPPER_BODY = [0, 1, 2, 5, 14, 15, 16, 17]


def body_keypoints(t: float, action: str, acting: Acting | None = None) -> np.ndarray:
    """The 18 keypoints in the body frame (lateral right, forward, up; body heights) at time t.

    The origin is the floor point under the feet. Walking plants each stance foot (see
    `gait`), sitting puts the hips on the seat a thigh behind the feet with the legs solved to
    reach the floor, `lean` tips the torso until the forearms lie on the surface, `point`
    aims the right arm, and talking gestures grow with the speech energy."""
    acting = acting or Acting()
    breath = 0.003 * _wave(t, 3.8)
    sway = 0.006 * _wave(t, 5.3)
    idle = (0.04 * _wave(t, 4.1), 0.04 * _wave(t, 4.1, 2.0))
    arms = {"r": (idle[0], 0.06, 0.14), "l": (idle[1], 0.06, 0.14)}
    head_nod = 0.0
    ankles = {"r": np.array([_HIP[0] + 0.004, 0.0, _ANKLE_UP]),
              "l": np.array([-_HIP[0] - 0.004, 0.0, _ANKLE_UP])}
    sit = _sit_amount(t, action)
    seat_up = _SEAT_UP if acting.seat_up is None else acting.seat_up
    hips_fwd = -_THIGH * sit
    hips_up = _HIP[1] + (seat_up - _HIP[1]) * sit
    pitch = 0.45 * math.sin(math.pi * sit) if 0 < sit < 1 else 0.0
    if action == "walk":
        walked = acting.walked if acting.walked is not None else t * 1.2 / 1.75
        offsets, lifts, _ = gait(walked, acting.walk_total)
        for index, key in enumerate(("r", "l")):
            ankles[key][1] = offsets[index]
            ankles[key][2] = _ANKLE_UP + lifts[index]
        leg = _THIGH + _SHIN
        hips_up = min(_ANKLE_UP + lifts[i] + math.sqrt(max(leg ** 2 - offsets[i] ** 2, 0.0))
                      for i in range(2)) - 1e-4
        for key, other in (("r", 1), ("l", 0)):
            swing = ARM_SWING * offsets[other] / (STEP / 2)
            arms[key] = (arms[key][0] + swing, 0.06, 0.14 + 0.12 * abs(swing) / ARM_SWING)
        sway = 0.012 * (offsets[0] - offsets[1]) / STEP
    elif sit >= 1.0 and acting.lean is None and acting.point is None:
        arms = {"r": (0.42, 0.1, 0.95 + 0.03 * _wave(t, 4.1)), "l": (0.42, 0.1, 0.95)}
    if action in ("talk", "gesture"):
        energy = acting.energy
        if energy is None:  # no audio: a steady, moderate delivery
            energy = 0.5 if action == "talk" else 0.8
        energy = min(max(energy, 0.0), 1.0)
        if action == "talk":
            arms["r"] = (0.15 + 1.0 * energy + 0.15 * energy * _wave(t, 0.77),
                         0.12 + 0.3 * energy,
                         0.3 + 0.9 * energy + 0.3 * energy * _wave(t, 0.59, 1.0))
        else:  # a deliberate gesture: the hand comes up to the face and beyond
            arms["r"] = (0.5 + 1.0 * energy + 0.3 * energy * _wave(t, 1.3),
                         0.15 + 0.35 * energy, 0.3 + 0.25 * energy + 0.4 * _wave(t, 0.62))
            arms["l"] = (0.1 + 0.3 * energy + 0.08 * _wave(t, 1.7), 0.12, 0.3 + 0.3 * energy)
        head_nod = 0.01 * energy * (_wave(t, 0.43) + 0.5 * _wave(t, 0.27, 0.7))
    points = np.zeros((18, 3))
    lift = hips_up - _HIP[1]
    chest = np.array([sway, hips_fwd, lift + breath])
    points[1] = chest + np.array([0.0, 0.0, _NECK_UP])
    for index, (lat, fwd, up) in _HEAD.items():
        points[index] = chest + np.array([lat, fwd, up + head_nod])
    for side, s_index in ((1, 2), (-1, 5)):
        points[s_index] = chest + np.array([side * _SHOULDER[0], 0.0, _SHOULDER[1]])
    for key, side, (h, k, a) in (("r", 1, (8, 9, 10)), ("l", -1, (11, 12, 13))):
        hip = np.array([sway * 0.5 + side * _HIP[0], hips_fwd, hips_up])
        points[h] = hip
        points[k], points[a] = _two_bone(hip, ankles[key], _THIGH, _SHIN,
                                         np.array([0.0, 1.0, 0.0]))
    pivot = np.array([0.0, hips_fwd, hips_up])
    if acting.lean is not None:
        pitch = max(pitch, _lean_pitch(points, pivot, acting.lean))
    _pitch(points, _UPPER_BODY, pivot, pitch)
    for key, side, (s_index, e, w) in (("r", 1, (2, 3, 4)), ("l", -1, (5, 6, 7))):
        points[e], points[w] = _arm(side, points[s_index], *arms[key])
    if acting.lean is not None:
        _rest_forearms(points, acting.lean)
    if acting.point is not None:
        _point_arm(points, np.asarray(acting.point, np.float64))
    return points


_ELBOW_OUT = 0.13
MAX_LEAN = 1.3
"""The most a leaning torso tips forward (radians, ~75°: standing at a low table); farther
the arms reach out for it."""
_WRIST_IN = 0.07


def _lean_pitch(points: np.ndarray, pivot: np.ndarray, lean: tuple[float, float]) -> float:
    """The forward tip of the torso (radians) that brings the shoulders an upper arm from
    elbows resting on the surface's near edge (searched on a 0.01 rad grid, in one pass)."""
    edge, top = lean
    elbow = np.array([_ELBOW_OUT, edge + 0.02, top + 0.015])
    angles = np.linspace(0.0, MAX_LEAN, 131)
    rel = points[2] - pivot
    fwd = pivot[1] + rel[1] * np.cos(angles) + rel[2] * np.sin(angles)
    up = pivot[2] - rel[1] * np.sin(angles) + rel[2] * np.cos(angles)
    reach = np.sqrt((points[2, 0] - elbow[0]) ** 2 + (fwd - elbow[1]) ** 2
                    + (up - elbow[2]) ** 2)
    return float(angles[int(np.argmin(np.abs(reach - 0.97 * _UPPER_ARM)))])


def _rest_forearms(points: np.ndarray, lean: tuple[float, float]) -> None:
    """Elbows on the surface's near edge, forearms flat on its top pointing inwards."""
    edge, top = lean
    for side, (s_index, e, w) in ((1, (2, 3, 4)), (-1, (5, 6, 7))):
        shoulder = points[s_index]
        target = np.array([side * _ELBOW_OUT, edge + 0.02, top + 0.015])
        offset = target - shoulder
        distance = float(np.linalg.norm(offset))
        elbow = shoulder + offset * min(1.0, _UPPER_ARM / max(distance, 1e-9))
        points[e] = elbow
        direction = np.array([-side * (_ELBOW_OUT - _WRIST_IN), _FOREARM, 0.0])
        points[w] = elbow + _FOREARM * direction / np.linalg.norm(direction)


def _point_arm(points: np.ndarray, target: np.ndarray) -> None:
    """The right arm reaches for `target` when within reach, else points straight at it."""
    shoulder = points[2]
    points[3], points[4] = _two_bone(shoulder, target, _UPPER_ARM, _FOREARM,
                                     np.array([0.3, -0.2, -1.0]))


def standing_pose(feet_xy: tuple[float, float], height_px: float, facing_deg: float, t: float,
                  action: str = "stand", distance: float = 2.5,
                  camera_up: float = 0.85, acting: Acting | None = None) -> np.ndarray:
    """A procedural COCO-18 skeleton (18, 3) in pixels: x, y, confidence.

    `feet_xy` is the screen point between the feet, `height_px` the standing height on screen,
    `facing_deg` the heading on the floor (180 faces the camera, 0 faces away, 90 / 270 show
    the figure in profile facing screen right / left), `t` seconds drive idle sway and
    breathing, the walk cycle and talking / gesturing arms (`body_keypoints`; `acting` adds
    seats, surfaces, targets and speech energy). Seen from behind the nose and eyes get
    confidence 0; turned sideways the far-side keypoints get `FAR_CONF` so they are drawn
    behind the near side. `distance` and `camera_up` (camera distance and height in figure
    heights) give the figure its perspective: a stride towards the camera lands lower on
    screen, the far arm of a profile is a little smaller.
    """
    if action not in ACTIONS:
        raise ValueError(f'unknown action "{action}"; known: {", ".join(ACTIONS)}')
    body = body_keypoints(t, "stand" if action == "turn" else action, acting)
    if action == "lie":
        lat, fwd, up = body[:, 0], body[:, 1], body[:, 2]
        body = np.stack([lat, up - 0.5, 0.05 + 0.3 * (fwd + 0.06)], axis=1)
    theta = math.radians(facing_deg)
    right = np.array([math.cos(theta), -math.sin(theta)])     # (screen x, depth)
    forward = np.array([math.sin(theta), math.cos(theta)])
    screen_x = body[:, 0] * right[0] + body[:, 1] * forward[0]
    depth = body[:, 0] * right[1] + body[:, 1] * forward[1]
    scale = distance / np.maximum(distance + depth, 0.1 * distance)
    up = camera_up + (body[:, 2] - camera_up) * scale
    result = np.empty((18, 3))
    result[:, 0] = feet_xy[0] + screen_x * scale * height_px
    result[:, 1] = feet_xy[1] - up * height_px
    result[:, 2] = confidence(theta, action)
    return result


def confidence(theta: float, action: str) -> np.ndarray:
    """Per-keypoint confidence for a heading: face hidden from behind, far side dimmer."""
    conf = np.ones(18)
    if action == "lie":
        return conf
    towards_camera = -math.cos(theta)  # 1 facing the camera, -1 facing away
    sideways = math.sin(theta)          # > 0: the figure's right side is nearer the camera
    for index, side in _SIDES.items():
        if abs(sideways) > 0.5 and side * sideways < 0:
            conf[index] = FAR_CONF
    if towards_camera < -0.17:
        conf[[0, 14, 15]] = 0.0
    return conf
