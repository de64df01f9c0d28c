"""From a take's frames to a performance: smoothed mesh, head pose and an expression track.

Every frame is meshed (`capture.mesh`); frames with no face stay empty (NaN) and are listed,
never filled in. The mesh is smoothed with the One-Euro filter (Casiez, Roussel & Vogel 2012,
"1€ Filter: A Simple Speed-based Low-pass Filter for Noisy Input in Interactive Systems",
CHI '12), in eye spans so its settings hold for any face size; the filter restarts after a gap.
Head pose comes from the mesh's own 3-D points: the eye-corner line (33 to 263) is the head's x
axis, forehead to under the nose (10 to 2) its y axis. The expression features are measured in
that head frame, in eye spans, and normalised against the performer's neutral frames (mouth
shut, eyes open: the median of the frames whose lip gap is in the lowest third), so a different
face with a different resting mouth maps onto the same 0..1 ranges the character's rig reads.
Landmark indices are MediaPipe's canonical face mesh (`face_mesh_connections.py` in
google-ai-edge/mediapipe: lips 61/291 corners and 13/14 inner centre, eyes 33/133/159/145 and
263/362/386/374, brows 105/107 and 334/336, forehead 10, under the nose 2).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from render_engine.capture.mesh import Face, FaceMesh

EXPRESSIONS = ("jaw_open", "lip_width", "pucker", "smile", "brow_raise", "brow_furrow",
               "eye_open_l", "eye_open_r", "blink", "gaze_x", "gaze_y")
"""The expression channels, in this order in `Performance.expressions`."""
POSE = ("yaw", "pitch", "roll")
"""Head pose channels in degrees: yaw + when the nose turns to picture right, pitch + nose up,
roll + when the eye line turns clockwise on screen."""
JAW_FULL = 0.5
"""Lip gap (eye spans, beyond neutral) that counts as a fully open jaw: a wide-open mouth
measures about half the outer-eye-corner span."""
SMILE_FULL = 0.08
"""Mouth-corner lift (eye spans) of a full smile."""
BROW_FULL = 0.08
"""Brow lift (eye spans) of fully raised brows."""
FURROW_FULL = 0.06
"""Narrowing of the inner-brow gap (eye spans) of a full furrow."""
PUCKER_FULL = 0.25
"""Relative narrowing of the mouth of a full pucker."""


class OneEuro:
    """The One-Euro low-pass filter (Casiez et al. 2012) over arrays of any shape: the cutoff
    rises with speed, `min_cutoff + beta * |dx/dt|`, so slow motion is smoothed and fast
    motion is followed without lag."""

    def __init__(self, rate: float, min_cutoff: float = 3.0, beta: float = 10.0,
                 d_cutoff: float = 1.0) -> None:
        """`rate` in frames per second; cutoffs in Hz; `beta` per unit of speed per second.

        The defaults are tuned as the paper says (min_cutoff until the jitter at rest goes,
        then beta until fast motion has no lag) for landmarks in eye spans: a talking mouth
        (3 eye spans a second) passes at ~30 Hz, i.e. within a frame at 25 fps."""
        self.rate, self.min_cutoff, self.beta, self.d_cutoff = rate, min_cutoff, beta, d_cutoff
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def _alpha(self, cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau * self.rate)

    def reset(self) -> None:
        """Forget the past (after a gap in the signal)."""
        self._x = self._dx = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The filtered value of the next sample `x`."""
        x = np.asarray(x, np.float64)
        if self._x is None:
            self._x, self._dx = x.copy(), np.zeros_like(x)
            return x.copy()
        dx = (x - self._x) * self.rate
        self._dx = self._dx + self._alpha(self.d_cutoff) * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        self._x = self._x + self._alpha(cutoff) * (x - self._x)
        return self._x.copy()


def head_axes(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The head's rotation (3x3, rows x right, y down, z into the picture) and its centre and
    eye span (the outer eye corners' 3-D distance) from a (468, 3) mesh: x along the outer
    eye corners (33 to 263), y from the forehead (10) to under the nose (2) — points on the
    skull, so opening the jaw does not tilt the frame."""
    p = np.asarray(points, np.float64)
    x = p[263] - p[33]
    span = float(np.linalg.norm(x))
    x = x / max(span, 1e-9)
    y = p[2] - p[10]  # forehead to under the nose: both on the skull, unmoved by the jaw
    y = y - np.dot(y, x) * x
    y = y / max(float(np.linalg.norm(y)), 1e-9)
    z = np.cross(x, y)
    centre = (p[33] + p[263]) / 2
    return np.stack([x, y, z]), centre, span


def head_pose(points: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a mesh; see POSE for the signs."""
    axes, _, _ = head_axes(points)
    facing = -axes[2]  # out of the face, towards the camera when frontal
    yaw = math.degrees(math.atan2(facing[0], -facing[2]))
    pitch = math.degrees(math.atan2(-facing[1], math.hypot(facing[0], facing[2])))
    roll = math.degrees(math.atan2(axes[0][1], axes[0][0]))
    return yaw, pitch, roll


def raw_features(points: np.ndarray, gaze: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Un-normalised measurements in the head frame, in eye spans: lip gap, mouth width, corner
    lift, brow height, inner-brow gap, right and left eye opening (over eye width), gaze."""
    axes, centre, span = head_axes(points)
    q = (np.asarray(points, np.float64) - centre) @ axes.T / max(span, 1e-9)
    gap = q[14, 1] - q[13, 1]
    width = abs(q[291, 0] - q[61, 0])
    # corners above the upper lip's centre: a smile; the upper lip rides on the skull, so
    # opening the jaw (which drags the corners down, not up) never reads as one
    lift = q[13, 1] - (q[61, 1] + q[291, 1]) / 2
    brow = ((q[159, 1] - q[105, 1]) + (q[386, 1] - q[334, 1])) / 2
    inner = abs(q[336, 0] - q[107, 0])
    eye_r = (q[145, 1] - q[159, 1]) / max(abs(q[133, 0] - q[33, 0]), 1e-9)
    eye_l = (q[374, 1] - q[386, 1]) / max(abs(q[263, 0] - q[362, 0]), 1e-9)
    return np.array([gap, width, lift, brow, inner, eye_r, eye_l, gaze[0], gaze[1]])


def neutral_of(raw: np.ndarray) -> np.ndarray:
    """The performer's neutral measurements: the median over frames with the lips together
    (lip gap in the lowest third of the take) and the eyes open (not in the lowest quarter)."""
    valid = raw[np.all(np.isfinite(raw), axis=1)]
    if len(valid) == 0:
        return np.full(raw.shape[1], np.nan)
    shut = valid[:, 0] <= np.quantile(valid[:, 0], 1 / 3)
    eyes = valid[:, 5] + valid[:, 6]
    open_ = eyes >= np.quantile(eyes, 0.25)
    chosen = valid[shut & open_] if np.any(shut & open_) else valid[shut]
    return np.median(chosen, axis=0)


def normalise(raw: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """The expression channels (EXPRESSIONS) of raw measurements against `neutral`:
    jaw_open, pucker, brow_furrow, blink in 0..1; lip_width, smile, brow_raise signed around
    0; eye openness 1 at neutral; gaze in eye widths from the eye's centre."""
    gap, width, lift, brow, inner, eye_r, eye_l, gx, gy = raw.T
    n = neutral
    out = np.stack([
        np.clip((gap - n[0]) / JAW_FULL, 0.0, 1.0),
        (width - n[1]) / max(n[1], 1e-9),
        np.clip((n[1] - width) / (PUCKER_FULL * max(n[1], 1e-9)), 0.0, 1.0),
        np.clip((lift - n[2]) / SMILE_FULL, -1.0, 1.0),
        np.clip((brow - n[3]) / BROW_FULL, -1.0, 1.0),
        np.clip((n[4] - inner) / FURROW_FULL, 0.0, 1.0),
        np.clip(eye_l / max(n[6], 1e-9), 0.0, 1.5),
        np.clip(eye_r / max(n[5], 1e-9), 0.0, 1.5),
        np.clip(1.0 - (eye_l / max(n[6], 1e-9) + eye_r / max(n[5], 1e-9)) / 2, 0.0, 1.0),
        gx - n[7],
        gy - n[8],
    ], axis=1)
    return out


def eye_gaze(rgb: np.ndarray, points: np.ndarray) -> tuple[float, float]:
    """Where the pupils sit within the eyes, in eye widths from each eye's centre (x along
    the eye line, y across it), averaged over both eyes: the intensity-weighted centroid of
    the darkest quarter of the pixels inside each eye's lid contour (the 468-point mesh has
    no iris points, and the iris model needs MediaPipe's own runtime)."""
    import cv2

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    results = []
    for ring in (_RIGHT_EYE, _LEFT_EYE):
        poly = points[list(ring), :2]
        x0, y0 = np.floor(poly.min(0)).astype(int)
        x1, y1 = np.ceil(poly.max(0)).astype(int) + 1
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, grey.shape[1]), min(y1, grey.shape[0])
        if x1 - x0 < 3 or y1 - y0 < 2:
            continue
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round(poly - (x0, y0)).astype(np.int32)], 1)
        values = grey[y0:y1, x0:x1].astype(np.float64)
        inside = mask > 0
        if inside.sum() < 4:
            continue
        cut = np.quantile(values[inside], 0.25)
        dark = inside & (values <= cut)
        weight = (cut + 1 - values) * dark
        yy, xx = np.mgrid[y0:y1, x0:x1]
        centroid = np.array([(xx * weight).sum(), (yy * weight).sum()]) / max(weight.sum(), 1e-9)
        corner_a, corner_b = points[ring[0], :2], points[ring[8], :2]
        along = corner_b - corner_a
        length = float(np.hypot(*along))
        if length < 1e-6:
            continue
        u = along / length
        rel = centroid - (corner_a + corner_b) / 2
        results.append((float(rel @ u) / length, float(rel @ np.array([-u[1], u[0]])) / length))
    if not results:
        return 0.0, 0.0
    return tuple(np.mean(results, axis=0))  # type: ignore[return-value]


# lid contours (corner, lower lid, other corner, upper lid) of the canonical mesh
_RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
_LEFT_EYE = (362, 382, 381, 380, 374, 373, 390, 249, 263, 466, 388, 387, 386, 385, 384, 398)


@dataclass
class Performance:
    """A captured take: per frame the smoothed mesh (NaN where no face), head pose, expression
    channels, and the frames with no face."""

    fps: float
    size: tuple[int, int]
    points: np.ndarray  # (frames, 468, 3)
    pose: np.ndarray  # (frames, 3) yaw, pitch, roll degrees
    expressions: np.ndarray  # (frames, len(EXPRESSIONS))
    neutral: np.ndarray
    missing: list[int] = field(default_factory=list)
    times: np.ndarray | None = None
    """Each frame's time (seconds) from the take's first audio sample; None: index / fps.
    Phones record variable frame rates and start the picture a little after the sound."""

    @property
    def frames(self) -> int:
        """Number of frames in the take."""
        return len(self.pose)

    def frame_at(self, seconds: float) -> int | None:
        """The frame showing take time `seconds` (from the take's first audio sample), or
        None before the first frame or after the last one."""
        if self.frames == 0:
            return None
        times = self.times if self.times is not None else np.arange(self.frames) / self.fps
        index = int(np.searchsorted(times, seconds + 1e-6, side="right")) - 1
        if index < 0 or seconds >= times[-1] + 1.0 / self.fps:
            return None
        return index

    def channel(self, name: str) -> np.ndarray:
        """One expression or pose channel by name, per frame (NaN where no face)."""
        if name in POSE:
            return self.pose[:, POSE.index(name)]
        return self.expressions[:, EXPRESSIONS.index(name)]


def capture_frames(frames: Iterable[np.ndarray], fps: float,
                   mesh: FaceMesh | None = None, times: list[float] | None = None
                   ) -> Performance:
    """Mesh, smooth and measure every RGB frame of a take (see the module docstring);
    `times` (filled while `frames` is read, one per frame) are the frames' times in the
    take."""
    mesh = mesh or FaceMesh()
    faces: list[Face | None] = []
    gazes: list[tuple[float, float]] = []
    size = (0, 0)
    for rgb in frames:
        size = (rgb.shape[1], rgb.shape[0])
        face = mesh.find(rgb, faces[-1] if faces else None)
        faces.append(face)
        gazes.append(eye_gaze(rgb, face.points) if face is not None else (0.0, 0.0))
    count = len(faces)
    points = np.full((count, 468, 3), np.nan)
    missing = [i for i, f in enumerate(faces) if f is None]
    spans = [head_axes(f.points)[2] for f in faces if f is not None]
    unit = float(np.median(spans)) if spans else 1.0
    smoother = OneEuro(fps)
    gaze_smoother = OneEuro(fps)
    smoothed_gaze = np.zeros((count, 2))
    for i, face in enumerate(faces):
        if face is None:
            smoother.reset()
            gaze_smoother.reset()
            continue
        points[i] = smoother(face.points / unit) * unit
        smoothed_gaze[i] = gaze_smoother(np.asarray(gazes[i]))
    pose = np.full((count, 3), np.nan)
    raw = np.full((count, 9), np.nan)
    for i, face in enumerate(faces):
        if face is not None:
            pose[i] = head_pose(points[i])
            raw[i] = raw_features(points[i], tuple(smoothed_gaze[i]))
    neutral = neutral_of(raw)
    expressions = np.full((count, len(EXPRESSIONS)), np.nan)
    present = np.all(np.isfinite(raw), axis=1)
    if present.any():
        expressions[present] = normalise(raw[present], neutral)
    stamps = np.asarray(times, np.float64) if times is not None and len(times) == count \
        else None
    return Performance(fps, size, points, pose, expressions, neutral, missing, stamps)
