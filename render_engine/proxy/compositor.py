"""One proxy frame: the plate, then each character far to near — shadow, light, occlusion, blend.

Everything per character happens on its bounding box (a few thousand to a few hundred thousand
pixels); the only full-frame work is one copy of the background. Lip flap is drawn onto the
sprite before it gets here, so the mouth is lit like the face.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from render_engine.proxy.camera import Camera
from render_engine.proxy.cutouts import Sprite
from render_engine.proxy.lighting import SpriteLight
from render_engine.proxy.occlusion import Foreground, depth_sorted, visibility
from render_engine.proxy.planes import Plane, crop
from render_engine.proxy.shading import light_patch, match_tables, plate_stats

SHADOW_STRENGTH = 0.5


def _contact_shadow(frame: np.ndarray, sprite: Sprite, foregrounds: list[Foreground]) -> None:
    """Darken a soft ellipse on the floor under the character (hidden by nearer masks)."""
    if sprite.shadow is None:
        return
    cx, cy, rx, ry = sprite.shadow
    if rx < 1.0:
        return
    height, width = frame.shape[:2]
    x0, x1 = max(0, math.floor(cx - 1.6 * rx)), min(width, math.ceil(cx + 1.6 * rx) + 1)
    y0, y1 = max(0, math.floor(cy - 1.6 * ry)), min(height, math.ceil(cy + 1.6 * ry) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    dx = ((np.arange(x0, x1, dtype=np.float32) - cx) / rx)[None, :]
    dy = ((np.arange(y0, y1, dtype=np.float32) - cy) / ry)[:, None]
    dark = SHADOW_STRENGTH * np.exp(-2.2 * (dx * dx + dy * dy))
    for alpha, depth in foregrounds:
        if depth < sprite.depth:
            dark = dark * (1.0 - crop(alpha, (x0, y0, x1, y1)))
    region = frame[y0:y1, x0:x1]
    region[...] = (region * (1.0 - dark)[..., None] + 0.5).astype(np.uint8)


def blend(frame: np.ndarray, x0: int, y0: int, colour: np.ndarray, coverage: np.ndarray
          ) -> None:
    """Alpha-blend `colour` (h x w x 3) over the frame at (x0, y0) in place with an 8-bit
    coverage (the box lies inside the frame).

    Opaque pixels are copied, transparent ones skipped, and only the partly covered edge
    pixels are mixed (addressed as flat indices), several times cheaper than blending the box.
    """
    h, w = coverage.shape
    width = frame.shape[1]
    region = frame[y0:y0 + h, x0:x0 + w]
    opaque = cv2.compare(coverage, 254, cv2.CMP_GT)
    cv2.copyTo(colour, opaque, region)
    edge = cv2.findNonZero(cv2.inRange(coverage, 1, 254))
    if edge is None:
        return
    points = edge.reshape(-1, 2)
    if not frame.flags.c_contiguous:  # flat indices need the frame's own memory
        xs, ys = points[:, 0], points[:, 1]
        a = coverage[ys, xs].astype(np.float32)[:, None] * np.float32(1.0 / 255.0)
        below = region[ys, xs].astype(np.float32)
        region[ys, xs] = (below + (colour[ys, xs] - below) * a + 0.5).astype(np.uint8)
        return
    local = points[:, 1] * w + points[:, 0]
    pixels = (points[:, 1] + y0) * width + (points[:, 0] + x0)
    flat = frame.reshape(-1, 3)
    a = coverage.reshape(-1)[local].astype(np.float32)[:, None] * np.float32(1.0 / 255.0)
    below = flat[pixels].astype(np.float32)
    flat[pixels] = (below + (colour.reshape(-1, 3)[local] - below) * a + 0.5).astype(np.uint8)


def composite_sprite(frame: np.ndarray, background: np.ndarray, sprite: Sprite,
                     plate_depth: np.ndarray | Plane | None, foregrounds: list[Foreground],
                     camera: Camera | None) -> None:
    """Light, occlude and blend one sprite onto the frame in place."""
    _contact_shadow(frame, sprite, foregrounds)
    x0, y0 = sprite.x0, sprite.y0
    coverage = sprite.coverage
    visible = visibility(sprite, plate_depth, foregrounds, camera)
    if visible is not None:
        coverage = cv2.multiply(coverage, visible, dtype=cv2.CV_8U)
    light = sprite.light
    if isinstance(light, SpriteLight):
        match = None
        if not sprite.matched:
            own = sprite.lab or plate_stats(sprite.rgb, (0, 0, *sprite.rgb.shape[1::-1]))
            match = match_tables(*own, *plate_stats(background, sprite.bbox), light.match_l,
                                 light.match_ab)
        colour = light_patch(sprite.rgb, sprite.coverage, light, (x0, y0), sprite.feet,
                             sprite.height_px, sprite.body_half_px, match)
    else:
        colour = sprite.rgb
    blend(frame, x0, y0, np.ascontiguousarray(colour), coverage)


def compose(background: np.ndarray, bg_depth: np.ndarray | Plane | None,
            foregrounds: list[Foreground], sprites: list[Sprite],
            camera: Camera | None = None) -> np.ndarray:
    """The frame: the background with every sprite composited far to near.

    `bg_depth` (metres, inf = sky) and `foregrounds` (mask alpha, depth) hide what is behind
    scene objects; `camera` lets the depth test tell floor from objects. Sprites with a
    `light` are lit against the background's statistics around them.
    """
    frame = background.copy()
    for sprite in depth_sorted(sprites):
        composite_sprite(frame, background, sprite, bg_depth, foregrounds, camera)
    return frame
