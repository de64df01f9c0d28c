"""How a set's plate maps world directions to its pixels: flat (pinhole), wide (cylinder), 360.

Every plate was "photographed" from the set camera at (0, plate.camera_height_m, 0) looking
along +z (see `render_engine.proxy.camera`). A `PlateModel` turns world-space directions seen
from there into continuous plate pixel coordinates (pixel centres at i + 0.5, as in
`Camera.project`) and back, and converts the plate's depth map into distances along the rays.

Depth-map conventions, per kind (all in millimetres in the PNG, 65535 = sky):
- flat: distance along the optical axis (z), as a pinhole renderer's z-buffer;
- wide: horizontal distance from the camera (the cylinder radius);
- 360: distance along the ray (the sphere radius).
Foreground-mask `depth_m` values use the same convention as the plate's depth map.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from render_engine.bible import Plate, Production
from render_engine.proxy.camera import Camera
from render_engine.spec import ShotSpec

SKY_M = 1.0e5
"""Finite stand-in for "infinitely far" in warp arithmetic; depths beyond it are sky."""
SKY_MM = 65535


@dataclass(frozen=True)
class PlateModel:
    """The projection of one plate image of `width` x `height` pixels."""

    kind: str
    width: int
    height: int
    hfov_deg: float
    horizon: float
    camera_height_m: float

    @property
    def origin(self) -> tuple[float, float, float]:
        """The set camera position: where the plate was photographed from."""
        return (0.0, self.camera_height_m, 0.0)

    @property
    def focal(self) -> float:
        """Pixels per unit of the plate's own coordinate (tan for flat, radian for wide/360)."""
        if self.kind == "flat":
            return (self.width / 2) / math.tan(math.radians(self.hfov_deg) / 2)
        if self.kind == "wide":
            return self.width / math.radians(self.hfov_deg)
        return self.width / (2 * math.pi)

    # -- directions <-> pixels ---------------------------------------------------------------

    def pixels(self, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """World directions from the set camera → continuous plate coordinates (u, v).

        Directions need not be unit length. Flat plates return coordinates far outside the
        image for directions behind the camera, so callers can treat them as "not covered".
        """
        f = self.focal
        cx = self.width / 2
        if self.kind == "flat":
            behind = dz <= 1e-6
            safe = np.where(behind, 1e-6, dz)
            u = cx + f * dx / safe
            v = self.horizon - f * dy / safe
            far = np.float32(-1e6)
            return np.where(behind, far, u), np.where(behind, far, v)
        lon = np.arctan2(dx, dz)
        flat = np.sqrt(dx * dx + dz * dz)
        if self.kind == "wide":
            return cx + f * lon, self.horizon - f * dy / np.maximum(flat, 1e-9)
        lat = np.arctan2(dy, flat)
        return cx + f * lon, self.height / 2 - f * lat

    def directions(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Continuous plate coordinates → world directions (..., 3), unit length."""
        f = self.focal
        a = (np.asarray(u, np.float64) - self.width / 2) / f
        if self.kind == "flat":
            b = (self.horizon - np.asarray(v, np.float64)) / f
            dirs = np.stack([a, b, np.ones_like(a)], axis=-1)
        elif self.kind == "wide":
            b = (self.horizon - np.asarray(v, np.float64)) / f
            dirs = np.stack([np.sin(a), b, np.cos(a)], axis=-1)
        else:
            lat = (self.height / 2 - np.asarray(v, np.float64)) / f
            dirs = np.stack([np.sin(a) * np.cos(lat), np.sin(lat), np.cos(a) * np.cos(lat)],
                            axis=-1)
        return dirs / np.linalg.norm(dirs, axis=-1, keepdims=True)

    def ray_scale(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Factor turning the plate's depth measure into distance along the ray, per pixel."""
        f = self.focal
        if self.kind == "flat":
            a = (np.asarray(u, np.float64) - self.width / 2) / f
            b = (self.horizon - np.asarray(v, np.float64)) / f
            return np.sqrt(1 + a * a + b * b)
        if self.kind == "wide":
            b = (self.horizon - np.asarray(v, np.float64)) / f
            return np.sqrt(1 + b * b) + 0 * np.asarray(u, np.float64)
        return np.ones(np.broadcast(np.asarray(u), np.asarray(v)).shape)

    # -- coverage ------------------------------------------------------------------------------

    def overshoot(self, camera: Camera) -> float:
        """How far (plate pixels) the view of `camera`, turned about the set camera, reaches
        outside the plate; <= 0 when the plate covers the whole view. 360 plates cover all."""
        if self.kind == "360":
            return -1.0
        rays = camera.ray(*_border(camera))
        return self._outside(*self.pixels(rays[:, 0], rays[:, 1], rays[:, 2]))

    def overshoot_near(self, camera: Camera, distance_m: float) -> float:
        """`overshoot` for what the camera sees `distance_m` away along its border rays from
        where it stands: a camera moved off the set camera sees near things on the plate
        shifted by parallax, so its border can fall outside the plate even when the far
        field fits."""
        if self.kind == "360":
            return -1.0
        points = np.asarray(camera.position) + camera.ray(*_border(camera)) * distance_m
        rel = points - np.asarray(self.origin)
        return self._outside(*self.pixels(rel[:, 0], rel[:, 1], rel[:, 2]))

    def _outside(self, pu: np.ndarray, pv: np.ndarray) -> float:
        """How far (plate pixels) the farthest of these plate points lies outside the plate."""
        return float(np.maximum.reduce([-pu, pu - self.width, -pv, pv - self.height]).max())

    def cover_moved(self, camera: Camera, distance_m: float, margin_px: float = 1.0
                    ) -> Camera:
        """`camera` with its field of view narrowed (about its centre) just enough that the
        plate covers its border at `distance_m` as well as in the far field (see
        `overshoot_near`); unchanged when it already does, or for 360 plates."""
        if self.kind == "360":
            return camera
        out = camera
        for _ in range(60):
            if max(self.overshoot_near(out, distance_m), self.overshoot(out)) <= -margin_px:
                return out
            out = out.moved(hfov_deg=out.hfov_deg * 0.985)
        return out

    def clamp_view(self, camera: Camera, margin_px: float = 1.0) -> Camera:
        """The nearest orientation/field of view of `camera` that the plate covers.

        Pitch is pulled towards level first, then yaw towards 0 (the plate's centre), and only
        when even the centred view does not fit is the field of view narrowed. The position is
        kept; the test is made as if the camera stood at the set camera (the far field).
        """
        if self.kind == "360":
            return camera.moved(pitch_deg=float(np.clip(camera.pitch_deg, -89.0, 89.0)))

        def fits(cam: Camera) -> bool:
            return self.overshoot(cam) <= -margin_px

        if fits(camera):
            return camera
        centred = camera.moved(yaw_deg=0.0, pitch_deg=0.0)
        while not fits(centred) and centred.hfov_deg > 1.0:
            centred = centred.moved(hfov_deg=centred.hfov_deg * 0.97)
        hfov = centred.hfov_deg
        pitch = _largest_fitting(lambda p: fits(centred.moved(pitch_deg=p)), camera.pitch_deg)
        yaw_base = centred.moved(pitch_deg=pitch)
        yaw = _largest_fitting(lambda y: fits(yaw_base.moved(yaw_deg=y)),
                               _wrap180(camera.yaw_deg))
        return camera.moved(yaw_deg=yaw, pitch_deg=pitch, hfov_deg=hfov)


def clamp_keeping(model: PlateModel, camera: Camera, point: np.ndarray | tuple[float, ...],
                  u: float, v: float, min_height: float = 0.3) -> Camera:
    """`model.clamp_view(camera)`, then moved so the world `point` still lands on pixel (u, v)
    at the same size on screen.

    Clamping only turns the camera (and narrows its lens), which would slide the subject out
    of its place or out of the frame; a camera is free to stand anywhere, so instead of losing
    the subject it steps sideways onto the clamped view's ray through (u, v). The plate's
    coverage depends only on where the camera looks, never on where it stands.
    """
    clamped = model.clamp_view(camera)
    if clamped == camera:
        return camera
    target = np.asarray(point, float)
    depth = float(camera.to_camera(target)[2])
    if depth <= 1e-6:
        return clamped
    depth *= clamped.focal_px / camera.focal_px  # a narrowed lens stands back to keep the size
    f = clamped.focal_px
    local = np.array([(u - clamped.width / 2) / f * depth,
                      -(v - clamped.height / 2) / f * depth, depth])
    position = target - local @ clamped.rotation()
    position[1] = max(min_height, float(position[1]))
    return clamped.moved(position=tuple(float(p) for p in position))


def _wrap180(angle: float) -> float:
    return (angle + 180.0) % 360.0 - 180.0


def _largest_fitting(fits: Callable[[float], bool], target: float, steps: int = 24) -> float:
    """The value between 0 (assumed to fit) and `target` nearest `target` for which `fits`."""
    if fits(target):
        return target
    lo, hi = 0.0, 1.0
    for _ in range(steps):
        mid = (lo + hi) / 2
        if fits(target * mid):
            lo = mid
        else:
            hi = mid
    return target * lo


@dataclass(frozen=True)
class PlateSource:
    """Where a shot's plate comes from: the model plus the files (None where absent)."""

    model: PlateModel
    image: Path
    depth: Path | None
    masks: tuple[tuple[str, Path, float], ...]


def plate_source(spec: ShotSpec, production: Production) -> PlateSource:
    """The plate a shot uses: the set's, or `spec.plate` (a flat plate, no depth, no masks).

    An override plate takes the set's hfov and camera height when the set's plate is flat too,
    otherwise the bible's defaults (70 degrees, the set's camera height).
    """
    set_spec = production.set(spec.set)
    plate: Plate = set_spec.plate
    if spec.plate:
        image = production.resolve(spec.plate)
        hfov = plate.hfov_deg if plate.kind == "flat" else Plate.model_fields["hfov_deg"].default
        width, height = _image_size(image)
        model = PlateModel("flat", width, height, float(hfov), height / 2,
                           plate.camera_height_m)
        return PlateSource(model, image, None, ())
    image = production.set_file(set_spec, plate.image)
    width, height = _image_size(image)
    if plate.kind == "360":
        horizon = height / 2
    else:
        horizon = float(plate.horizon_row) if plate.horizon_row is not None else height / 2
    model = PlateModel(plate.kind, width, height, float(plate.hfov_deg), horizon,
                       plate.camera_height_m)
    depth = production.set_file(set_spec, plate.depth) if plate.depth else None
    masks = tuple((m.name, production.set_file(set_spec, m.image), float(m.depth_m))
                  for m in set_spec.masks)
    return PlateSource(model, image, depth, masks)


def _image_size(path: Path) -> tuple[int, int]:
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        mtime = 0
    return _image_size_cached(str(path), mtime)


@functools.lru_cache(maxsize=64)
def _image_size_cached(path: str, mtime: int) -> tuple[int, int]:
    del mtime  # part of the cache key only
    with Image.open(path) as image:
        return image.size


def _border(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """17 points along each edge of the camera's frame (u, v pixels): where a view first
    leaves a plate."""
    w, h = camera.width, camera.height
    t = np.linspace(0.0, 1.0, 17)
    u = np.concatenate([t * w, t * w, np.zeros_like(t), np.full_like(t, w)])
    v = np.concatenate([np.zeros_like(t), np.full_like(t, h), t * h, t * h])
    return u, v
