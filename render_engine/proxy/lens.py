"""Cached projection through a `Camera`: its rotation is computed once per camera, not per call.

A frame projects a few dozen points (feet, heads, shadows, lights, skeletons) through the same
camera; `Camera.rotation()` rebuilds its matrix each time, which costs more than the projection.
"""

from __future__ import annotations

import functools

import numpy as np

from render_engine.proxy.camera import Camera


@functools.lru_cache(maxsize=16)
def rotation(camera: Camera) -> np.ndarray:
    """The camera's world-to-camera rotation (read-only, cached per camera)."""
    matrix = camera.rotation()
    matrix.setflags(write=False)
    return matrix


def project(camera: Camera, points: np.ndarray) -> np.ndarray:
    """World points (..., 3) → (..., 3) of (u, v, depth), exactly as `Camera.project`."""
    cam = (np.asarray(points, float) - np.asarray(camera.position)) @ rotation(camera).T
    depth = cam[..., 2]
    safe = np.where(np.abs(depth) < 1e-9, 1e-9, depth)
    focal = camera.focal_px
    u = camera.width / 2 + focal * cam[..., 0] / safe
    v = camera.height / 2 - focal * cam[..., 1] / safe
    return np.stack([u, v, depth], axis=-1)
