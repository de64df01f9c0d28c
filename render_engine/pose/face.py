"""Faces for the pose control video: the 68 iBUG/DWPose face landmarks, mouth shaped by visemes.

Wan VACE's pose annotator is DWPose with body and face (REFERENCE.md): its control frames show
the 68 face landmarks of the iBUG 300-W layout (jaw 0–16, brows 17–26, nose 27–35, eyes
36–47, outer lips 48–59, inner lips 60–67) as white dots of radius 3 (`draw_facepose` in
IDEA-Research/DWPose `ControlNet-v1-1-nightly/annotator/dwpose/util.py`, the same in
controlnet_aux's `dwpose/util.py`). A COCO-18 skeleton carries no face, so nothing in a final
could follow the dialog; `face_keypoints` puts a face on each skeleton's head — placed from
its nose, eyes and neck, turned with the head (yaw from the eyes' spacing, roll from the
eye line, else from the neck) — with the lips and jaw opened by the Rhubarb mouth shape the
proxy's lip flap shows at that moment (`render_engine.proxy.lipflap.SHAPES`, read, not
copied: the same opening the animatic shows, so the final's mouth follows the approved one).
`X` (rest) and `A` (M B P) close the lips.
"""

from __future__ import annotations

import math

import numpy as np

from render_engine.proxy.lipflap import SHAPES

FACE_POINTS = 68
EYE_SPAN_PER_NECK = 0.5
"""Distance between the eye centres over the neck-to-nose distance of the skeletons here
(`pose.openpose` proportions: eyes ±0.021, nose 0.083 above the neck, in body heights)."""
MOUTH_WIDTH = 0.8
"""Mouth corner to corner, in eye spans (the 300-W mean shape)."""
CLOSED = frozenset({"X", "A"})
"""Shapes with the lips together: rest and the M B P closure."""
REST_WIDTH = 0.45
"""lipflap's half width of an ordinary opening (shape C): the width scale's reference."""


def _template() -> tuple[np.ndarray, np.ndarray]:
    """The closed-mouth frontal face: (68, 2) x right / y down in eye spans from the midpoint
    between the eyes, and (68,) depth towards the camera (for turning it)."""
    xy = np.zeros((FACE_POINTS, 2))
    depth = np.zeros(FACE_POINTS)
    for i, t in enumerate(np.linspace(0.0, math.pi, 17)):  # jaw: ear level round the chin
        xy[i] = (-0.95 * math.cos(t), 0.1 + 1.35 * math.sin(t))
        depth[i] = -0.6 + 0.9 * math.sin(t)
    for k in range(5):  # brows: the image-left one (17-21), then the other (22-26)
        lift = -0.33 - 0.1 * math.sin(math.pi * k / 4)
        xy[17 + k] = (-0.85 + 0.175 * k, lift)
        xy[22 + k] = (0.15 + 0.175 * k, lift)
        depth[17 + k] = depth[22 + k] = 0.15
    for i, y in enumerate(np.linspace(-0.05, 0.45, 4)):  # nose bridge down to the tip
        xy[27 + i] = (0.0, y)
        depth[27 + i] = 0.35 + 0.25 * i / 3
    for i, x in enumerate(np.linspace(-0.2, 0.2, 5)):  # nostrils
        xy[31 + i] = (x, 0.55 + 0.03 * (1 - abs(x) / 0.2))
        depth[31 + i] = 0.45
    angles = (math.pi, 2 * math.pi / 3, math.pi / 3, 0.0, -math.pi / 3, -2 * math.pi / 3)
    for start, centre in ((36, -0.5), (42, 0.5)):  # eyes: image-left corner, top, corner, bottom
        for k, a in enumerate(angles):
            xy[start + k] = (centre + 0.2 * math.cos(a), -0.08 * math.sin(a))
            depth[start + k] = 0.1
    half = MOUTH_WIDTH / 2
    outer_top = [(-1.0, 0.0), (-0.6, -0.05), (-0.25, -0.08), (0.0, -0.06), (0.25, -0.08),
                 (0.6, -0.05), (1.0, 0.0)]
    outer_bottom = [(0.6, 0.07), (0.25, 0.1), (0.0, 0.11), (-0.25, 0.1), (-0.6, 0.07)]
    for k, (u, v) in enumerate(outer_top + outer_bottom):  # 48..59
        xy[48 + k] = (u * half, 0.95 + v)
        depth[48 + k] = 0.3 - 0.1 * abs(u)
    inner = [(-0.8, 0.0), (-0.35, 0.0), (0.0, 0.0), (0.35, 0.0), (0.8, 0.0), (0.35, 0.0),
             (0.0, 0.0), (-0.35, 0.0)]
    for k, (u, v) in enumerate(inner):  # 60..67: corner, top row, corner, bottom row
        xy[60 + k] = (u * half, 0.95 + v)
        depth[60 + k] = 0.3 - 0.1 * abs(u)
    return xy, depth


_TEMPLATE, _DEPTH = _template()
LOWER_LIP = np.array([55, 56, 57, 58, 59, 65, 66, 67])
"""Points that drop with the jaw when the mouth opens (the lower lip, outer and inner)."""
CHIN = np.arange(4, 13)


def mouth_opening(shape: str) -> tuple[float, float]:
    """(gap between the inner lips in eye spans, width factor) of a Rhubarb mouth shape, from
    the lip flap's own opening (half-axes in mouth widths); closed for X and A."""
    if shape in CLOSED or shape not in SHAPES:
        return 0.0, 1.0
    rx, ry = SHAPES[shape][1]
    return 2 * ry * MOUTH_WIDTH, 0.55 + 0.45 * rx / REST_WIDTH


def captured_opening(expression: dict[str, float]) -> tuple[float, float]:
    """(gap in eye spans, width factor) of a captured expression
    (`render_engine.capture.track`): the proxy's captured mouth (`lipflap.captured_shape`)
    read the same way as a viseme's, so the final's lips open as the animatic's do."""
    from render_engine.proxy.lipflap import CAPTURE_CLOSED, captured_shape

    rx, ry = captured_shape(expression)[1]
    return 2 * max(ry - CAPTURE_CLOSED, 0.0) * MOUTH_WIDTH, 0.55 + 0.45 * rx / REST_WIDTH


def face_shape(shape: str, expression: dict[str, float] | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """The frontal template with the mouth (and jaw) in `shape`, or as captured."""
    xy = _TEMPLATE.copy()
    gap, width = mouth_opening(shape) if expression is None else captured_opening(expression)
    mouth = slice(48, 68)
    xy[mouth, 0] *= width
    xy[LOWER_LIP, 1] += gap
    for i in CHIN:  # the chin follows the jaw, less towards the ears
        xy[i, 1] += gap * 0.7 * math.sin(math.pi * (i - 3) / 10)
    return xy, _DEPTH


def face_keypoints(body: np.ndarray | None, shape: str = "X",
                   expression: dict[str, float] | None = None) -> np.ndarray | None:
    """The 68 face landmarks (68, 3: x, y, confidence) of a COCO-18 skeleton in pixels, mouth
    in `shape` — or, with `expression` (a captured take's frame, `capture.store.expression_at`)
    the captured jaw and lips, the eyes closed by its blink and the brows raised by it; None
    when the face is not seen (no nose, facing away) or the head is too small to place."""
    if body is None:
        return None
    points = np.asarray(body, np.float64)
    nose, neck, r_eye, l_eye = points[0], points[1], points[14], points[15]
    if nose[2] <= 0 or neck[2] <= 0:
        return None
    up = nose[:2] - neck[:2]
    length = float(np.hypot(*up))
    if length < 1e-3:
        return None
    up /= length
    right = np.array([-up[1], up[0]])
    span = EYE_SPAN_PER_NECK * length
    eyes = l_eye[:2] - r_eye[:2]
    apart = float(np.hypot(*eyes))
    if r_eye[2] > 0 and l_eye[2] > 0 and apart > 0.6 * span and np.dot(eyes, right) > 0:
        right = eyes / apart  # a face seen from the front: the eyes give the roll
        up = np.array([right[1], -right[0]])
    down = -up
    if r_eye[2] > 0 and l_eye[2] > 0:
        across = float(np.dot(l_eye[:2] - r_eye[:2], right)) / span
        centre = (r_eye[:2] + l_eye[:2]) / 2
    else:
        across, centre = 0.0, nose[:2] - 0.5 * span * down
    cos_yaw = float(np.clip(across, -1.0, 1.0))
    if cos_yaw < -0.2:  # the back of the head
        return None
    turn = float(np.dot(nose[:2] - centre, right))
    sin_yaw = math.copysign(math.sqrt(max(0.0, 1 - cos_yaw * cos_yaw)), turn or 1.0)
    xy, depth = face_shape(shape, expression)
    if expression is not None:
        xy = _expressive(xy, expression)
    x = xy[:, 0] * cos_yaw + (depth - 0.1) * sin_yaw
    result = np.empty((FACE_POINTS, 3))
    result[:, :2] = centre + span * (x[:, None] * right + xy[:, 1:2] * down)
    result[:, 2] = 1.0
    return result


BROW_LIFT = 0.12
"""Brow travel (eye spans) of a fully raised or lowered captured brow."""
UPPER_LIDS = np.array([37, 38, 43, 44])
LOWER_LIDS = np.array([41, 40, 47, 46])


def _expressive(xy: np.ndarray, expression: dict[str, float]) -> np.ndarray:
    """Eyes closed by the captured blink (upper lids onto the lower) and brows moved by the
    captured raise, on a template face."""
    xy = xy.copy()
    blink = min(max(expression.get("blink", 0.0), 0.0), 1.0)
    xy[UPPER_LIDS, 1] += blink * (xy[LOWER_LIDS, 1] - xy[UPPER_LIDS, 1])
    xy[17:27, 1] -= BROW_LIFT * min(max(expression.get("brow_raise", 0.0), -1.0), 1.0)
    return xy


def lip_gap(face: np.ndarray) -> float:
    """How far apart the inner lips are (mean of 61–63 to 67–65), in eye spans measured on the
    nose bridge (27 to 30, half an eye span, unchanged by turning the head): what tests and
    reviews read back from a face."""
    face = np.asarray(face, np.float64)
    span = float(np.hypot(*(face[30, :2] - face[27, :2]))) / 0.5
    top, bottom = face[[61, 62, 63], :2], face[[67, 66, 65], :2]
    return float(np.mean(np.hypot(*(bottom - top).T))) / max(span, 1e-6)
