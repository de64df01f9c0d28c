"""OpenPose COCO-18 skeletons: drawn exactly as ControlNet / DWPose / Wan VACE draw them.

Pose-conditioned models were trained on the annotators' own renderings, so the control video
must match them pixel for pixel: the limb pairs, the colours, ellipse limbs 4 px wide dimmed to
60 %, joints as radius-4 dots (REFERENCE.md, "OpenPose COCO-18"). `standing_pose` makes a
procedural figure for shots without a pose track, so the placeholder and the pose control of
the final tier show the same blocking.
"""

from __future__ import annotations

import math
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
SEATED_EYE = _SEAT_UP - _HIP[1] + _HEAD[14][2]
"""Eye height of the seated figure in body heights (hips on a knee-high seat)."""
_SIDES = {2: 1, 3: 1, 4: 1, 8: 1, 9: 1, 10: 1, 14: 1, 16: 1,
          5: -1, 6: -1, 7: -1, 11: -1, 12: -1, 13: -1, 15: -1, 17: -1}
ACTIONS = ("stand", "sit", "walk", "talk", "gesture", "turn", "lie")
WALK_CYCLE_S = 1.1
"""Seconds per gait cycle (two steps)."""


def _wave(t: float, period: float, phase: float = 0.0) -> float:
    return math.sin(2 * math.pi * t / period + phase)


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


def _leg(hip: np.ndarray, flex: float, bend: float) -> tuple[np.ndarray, np.ndarray]:
    """Knee and ankle of a leg: flexion swings the thigh forward, bend folds the shin back."""
    knee = hip + _THIGH * np.array([0.0, math.sin(flex), -math.cos(flex)])
    ankle = knee + _SHIN * np.array([0.0, math.sin(flex - bend), -math.cos(flex - bend)])
    return knee, ankle


def _body(t: float, action: str) -> np.ndarray:
    """The 18 keypoints in the body frame (lateral right, forward, up) at time t."""
    breath = 0.003 * _wave(t, 3.8)
    sway = 0.006 * _wave(t, 5.3)
    arms = {"r": (0.04 * _wave(t, 4.1), 0.06, 0.14), "l": (0.04 * _wave(t, 4.1, 2.0), 0.06, 0.14)}
    legs = {"r": (0.0, 0.0), "l": (0.0, 0.0)}
    head_nod = 0.0
    if action == "walk":
        phase = 2 * math.pi * t / WALK_CYCLE_S
        for key, offset in (("r", 0.0), ("l", math.pi)):
            swing = math.cos(phase + offset)
            legs[key] = (0.42 * math.sin(phase + offset), 0.1 + 0.85 * max(0.0, swing) ** 2)
            arms[key] = (-0.38 * math.sin(phase + offset), 0.05, 0.3)
        sway = 0.012 * math.sin(phase)
    elif action == "sit":
        legs = {"r": (math.pi / 2, math.pi / 2), "l": (math.pi / 2, math.pi / 2)}
        arms = {"r": (0.42, 0.1, 0.95 + 0.03 * _wave(t, 4.1)), "l": (0.42, 0.1, 0.95)}
    elif action == "talk":
        arms["r"] = (0.45 + 0.12 * _wave(t, 0.77), 0.3, 1.1 + 0.3 * _wave(t, 0.59, 1.0))
        head_nod = 0.005 * (_wave(t, 0.43) + 0.5 * _wave(t, 0.27, 0.7))
    elif action == "gesture":
        arms["r"] = (1.25 + 0.3 * _wave(t, 1.3), 0.45, 0.5 + 0.35 * _wave(t, 0.62))
        arms["l"] = (0.25 + 0.08 * _wave(t, 1.7), 0.12, 0.5)
    hips_up = _HIP[1]
    if action == "sit":
        hips_up = _SEAT_UP
    else:  # the lower foot stands on the ground (walking bobs the body up and down)
        reach = max(_THIGH * math.cos(f) + _SHIN * math.cos(f - b) for f, b in legs.values())
        hips_up = _ANKLE_UP + reach
    lift = hips_up - _HIP[1]
    hips_fwd = -(_THIGH if action == "sit" else 0.0)  # seated: ankles over the feet point
    points = np.zeros((18, 3))
    chest = np.array([sway, hips_fwd, lift + breath])
    points[1] = chest + np.array([0.0, 0.0, _NECK_UP])
    for index, (lat, fwd, up) in _HEAD.items():
        points[index] = chest + np.array([lat, fwd, up + head_nod])
    for key, side, (s, e, w) in (("r", 1, (2, 3, 4)), ("l", -1, (5, 6, 7))):
        shoulder = chest + np.array([side * _SHOULDER[0], 0.0, _SHOULDER[1]])
        points[s] = shoulder
        points[e], points[w] = _arm(side, shoulder, *arms[key])
    for key, side, (h, k, a) in (("r", 1, (8, 9, 10)), ("l", -1, (11, 12, 13))):
        hip = np.array([sway * 0.5 + side * _HIP[0], hips_fwd, hips_up])
        points[h] = hip
        points[k], points[a] = _leg(hip, *legs[key])
        points[a, 0] += side * 0.004
    return points


def standing_pose(feet_xy: tuple[float, float], height_px: float, facing_deg: float, t: float,
                  action: str = "stand", distance: float = 2.5,
                  camera_up: float = 0.85) -> np.ndarray:
    """A procedural COCO-18 skeleton (18, 3) in pixels: x, y, confidence.

    `feet_xy` is the screen point between the feet, `height_px` the standing height on screen,
    `facing_deg` the heading on the floor (180 faces the camera, 0 faces away, 90 / 270 show
    the figure in profile facing screen right / left), `t` seconds drive idle sway and
    breathing, the walk cycle and talking / gesturing arms. Seen from behind the nose and eyes
    get confidence 0; turned sideways the far-side keypoints get `FAR_CONF` so they are drawn
    behind the near side. `distance` and `camera_up` (camera distance and height in figure
    heights) give the figure its perspective: a stride towards the camera lands lower on
    screen, the far arm of a profile is a little smaller.
    """
    if action not in ACTIONS:
        raise ValueError(f'unknown action "{action}"; known: {", ".join(ACTIONS)}')
    body = _body(t, "stand" if action == "turn" else action)
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
    result[:, 2] = _confidence(theta, action)
    return result


def _confidence(theta: float, action: str) -> np.ndarray:
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
