"""A pinhole camera in a set's world, shared by framing, plates, cut-outs and the final tier.

World conventions (metres): x to the right of the set camera, y up (floor at y = 0), z forward,
away from the set camera, which stands at (0, plate.camera_height_m, 0) looking along +z with
yaw 0 and pitch 0 — exactly where the set's plate was "photographed" from. A character's floor
`position` [x, z] is the point (x, 0, z). Headings (camera yaw, character facing) are degrees
clockwise seen from above: 0 = +z, 90 = +x, 180 = -z (towards the set camera), 270 = -x.
Pitch is positive looking up. Image coordinates: u to the right, v down, (0, 0) top-left.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Camera:
    """Position, orientation and lens of a view rendered at width x height pixels."""

    position: tuple[float, float, float]
    yaw_deg: float
    pitch_deg: float
    hfov_deg: float
    width: int
    height: int
    roll_deg: float = 0.0

    @property
    def focal_px(self) -> float:
        """Focal length in pixels (horizontal field of view across the width)."""
        return (self.width / 2) / math.tan(math.radians(self.hfov_deg) / 2)

    @property
    def vfov_deg(self) -> float:
        return math.degrees(2 * math.atan((self.height / 2) / self.focal_px))

    def focal_mm(self, sensor_width_mm: float = 36.0) -> float:
        """The equivalent focal length on a full-frame sensor (for slates and prompts)."""
        return sensor_width_mm / 2 / math.tan(math.radians(self.hfov_deg) / 2)

    def rotation(self) -> np.ndarray:
        """World-to-camera rotation (rows: camera right, up, forward in world coordinates)."""
        return cached_rotation(self).copy()

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) → camera coordinates (x right, y up, z forward)."""
        return (np.asarray(points, float) - np.asarray(self.position)) @ cached_rotation(self).T

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) → (..., 3) of (u, v, depth); depth <= 0 is behind the camera."""
        cam = self.to_camera(points)
        depth = cam[..., 2]
        safe = np.where(np.abs(depth) < 1e-9, 1e-9, depth)
        u = self.width / 2 + self.focal_px * cam[..., 0] / safe
        v = self.height / 2 - self.focal_px * cam[..., 1] / safe
        return np.stack([u, v, depth], axis=-1)

    def ray(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Unit world-space directions through pixel coordinates (u, v)."""
        x = (np.asarray(u, float) - self.width / 2) / self.focal_px
        y = -(np.asarray(v, float) - self.height / 2) / self.focal_px
        dirs = np.stack([x, y, np.ones_like(x)], axis=-1) @ cached_rotation(self)
        return dirs / np.linalg.norm(dirs, axis=-1, keepdims=True)

    def moved(self, **changes: object) -> Camera:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def aimed(self, point: tuple[float, float, float] | np.ndarray, u: float | None = None,
              v: float | None = None) -> Camera:
        """A copy turned so the world `point` lands on pixel (u, v) (see `aim_camera`)."""
        return aim_camera(self, point, u, v)

    @property
    def forward(self) -> np.ndarray:
        """Unit viewing direction in world coordinates."""
        return cached_rotation(self)[2].copy()


@functools.lru_cache(maxsize=64)
def cached_rotation(camera: Camera) -> np.ndarray:
    """The camera's rotation, computed once per camera (read-only): frames, moves and aiming
    project through the same few cameras many times."""
    yaw, pitch, roll = (math.radians(a) for a in (camera.yaw_deg, camera.pitch_deg,
                                                  camera.roll_deg))
    sy, cy, sp, cp = math.sin(yaw), math.cos(yaw), math.sin(pitch), math.cos(pitch)
    forward = (sy * cp, sp, cy * cp)
    right = (cy, 0.0, -sy)
    up = (-sp * sy, cp, -sp * cy)  # forward x right
    if roll:
        cr, sr = math.cos(roll), math.sin(roll)
        right, up = (tuple(r * cr + u * sr for r, u in zip(right, up, strict=True)),
                     tuple(u * cr - r * sr for r, u in zip(right, up, strict=True)))
    matrix = np.array([right, up, forward])
    matrix.setflags(write=False)
    return matrix


def heading_to(source: tuple[float, float], target: tuple[float, float]) -> float:
    """Floor heading (degrees, 0 = +z, 90 = +x) from one floor point [x, z] to another."""
    return math.degrees(math.atan2(target[0] - source[0], target[1] - source[1])) % 360.0


def _aim_error(camera: Camera, point: np.ndarray, u: float, v: float) -> np.ndarray:
    projected = camera.project(point)
    if projected[2] <= 0:
        return np.array([1e6, 1e6])
    return np.array([projected[0] - u, projected[1] - v])


def hfov_from_focal_mm(focal_mm: float, sensor_width_mm: float = 36.0) -> float:
    """Horizontal field of view (degrees) of a focal length on a full-frame-wide sensor."""
    return math.degrees(2 * math.atan(sensor_width_mm / 2 / focal_mm))


def _aim_level(camera: Camera, target: np.ndarray, u: float, v: float) -> Camera | None:
    """`aim_camera` in closed form for a camera without roll (None when the pixel cannot see
    the point, e.g. a point straight above with the pixel below the centre)."""
    d = target - np.asarray(camera.position, float)
    length = float(np.linalg.norm(d))
    if length < 1e-12:
        return None
    a = (u - camera.width / 2) / camera.focal_px
    b = -(v - camera.height / 2) / camera.focal_px
    # world up of the pixel's ray (a*right + b*up + forward) is b cos p + sin p
    k = d[1] / length * math.sqrt(a * a + b * b + 1.0)
    amplitude = math.sqrt(1.0 + b * b)
    if abs(k) > amplitude:
        return None
    pitch = math.asin(k / amplitude) - math.atan2(b, 1.0)
    if abs(pitch) > math.radians(89.0):
        return None
    c = math.cos(pitch) - b * math.sin(pitch)  # the ray's forward share on the floor plane
    yaw = math.atan2(d[0], d[2]) - math.atan2(a, c)
    aimed = camera.moved(yaw_deg=math.degrees(yaw), pitch_deg=math.degrees(pitch))
    error = _aim_error(aimed, target, u, v)
    return aimed if np.abs(error).max() < 1e-6 else None


def aim_camera(camera: Camera, point: tuple[float, float, float] | np.ndarray,
               u: float | None = None, v: float | None = None) -> Camera:
    """A copy of `camera` turned (yaw and pitch; position, roll and lens kept) so the world
    `point` projects to continuous pixel (u, v) — by default the image centre.

    Framing puts eyes on thirds lines with it; moves use it to keep a subject in place.
    """
    target = np.asarray(point, float)
    u = camera.width / 2 if u is None else u
    v = camera.height / 2 if v is None else v
    if not camera.roll_deg:
        exact = _aim_level(camera, target, u, v)
        if exact is not None:
            return exact
    offset = target - np.asarray(camera.position)
    yaw = math.degrees(math.atan2(offset[0], offset[2]))
    pitch = math.degrees(math.atan2(offset[1], math.hypot(offset[0], offset[2])))
    current = camera.moved(yaw_deg=yaw, pitch_deg=pitch)
    step = 1e-3
    for _ in range(12):
        error = _aim_error(current, target, u, v)
        if np.abs(error).max() < 1e-4:
            break
        jac = np.empty((2, 2))
        jac[:, 0] = (_aim_error(current.moved(yaw_deg=current.yaw_deg + step), target, u, v)
                     - error) / step
        jac[:, 1] = (_aim_error(current.moved(pitch_deg=current.pitch_deg + step), target, u, v)
                     - error) / step
        try:
            delta = np.linalg.solve(jac, -error)
        except np.linalg.LinAlgError:
            break
        delta = np.clip(delta, -30.0, 30.0)
        current = current.moved(yaw_deg=current.yaw_deg + float(delta[0]),
                                pitch_deg=float(np.clip(current.pitch_deg + delta[1], -89, 89)))
    return current
