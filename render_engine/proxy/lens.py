"""Projection through a `Camera` with its cached rotation (`camera.cached_rotation`).

A frame projects a few dozen points (feet, heads, shadows, lights, skeletons) through the same
camera; rebuilding the rotation each time would cost more than the projection.
"""

from __future__ import annotations

import numpy as np

from render_engine.proxy.camera import Camera, cached_rotation


def rotation(camera: Camera) -> np.ndarray:
    """The camera's world-to-camera rotation (read-only, cached per camera)."""
    return cached_rotation(camera)


def project(camera: Camera, points: np.ndarray) -> np.ndarray:
    """World points (..., 3) → (..., 3) of (u, v, depth), exactly as `Camera.project`."""
    cam = (np.asarray(points, float) - camera.position) @ cached_rotation(camera).T
    depth = cam[..., 2]
    safe = depth.copy()
    safe[np.abs(safe) < 1e-9] = 1e-9
    focal = camera.focal_px
    cam[..., 0] = camera.width / 2 + focal * cam[..., 0] / safe
    cam[..., 1] = camera.height / 2 - focal * cam[..., 1] / safe
    return cam


def project_many(camera: Camera, *point_sets: np.ndarray) -> list[np.ndarray]:
    """Several sets of world points ((..., 3) each) projected in one `project` call — the
    results in order and in their own shapes. A projection costs a dozen small numpy calls
    whatever its size, so a caller that needs a few small sets per frame (a sprite's feet,
    head, eyes and shadow) pays that once instead of per set."""
    arrays = [np.asarray(points, float) for points in point_sets]
    flat = project(camera, np.concatenate([a.reshape(-1, 3) for a in arrays]))
    out, start = [], 0
    for array in arrays:
        count = array.size // 3
        out.append(flat[start:start + count].reshape(array.shape))
        start += count
    return out
