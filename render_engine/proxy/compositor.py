"""One proxy frame: the plate, then each character far to near — shadow, light, occlusion, blend.

Everything per character happens on its bounding box (a few thousand to a few hundred thousand
pixels); the only full-frame work is one copy of the background. Lip flap is drawn onto the
sprite before it gets here, so the mouth is lit like the face.

Props never cover a face: inside a character's face box (from its cut-out's painted eyes and
head top) a foreground mask — and the plate depth where that mask lies, the same prop — does
not hide the character; the prop's layer steps behind the face for that frame (framing already
tries to keep props out of faces: this is the guarantee). Plate depth no mask claims (a tree
trunk, a wall) still hides faces. Each `compose` records a `FrameReport` (`last_report`): the
plate pixels the warp filled by stretching with no fill behind them, and every face box with
how much of it the set covers, so tests measure what the compositor itself did.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from render_engine.proxy.camera import Camera
from render_engine.proxy.cutouts import Sprite
from render_engine.proxy.lighting import SpriteLight
from render_engine.proxy.occlusion import (
    Foreground,
    depth_sorted,
    depth_visibility,
    mask_visibility,
    visibility,
)
from render_engine.proxy.planes import Plane, crop
from render_engine.proxy.shading import light_patch, match_tables, plate_stats, put_pixels

SHADOW_STRENGTH = 0.5
FACE_ABOVE_EYES = 0.6
"""Face box top above the eyes, in eye-to-head-top distances (the forehead)."""
FACE_BELOW_EYES = 1.05
"""Face box bottom below the eyes (the chin), in the same unit."""
FACE_HALF_WIDTH = 0.7
FACE_FEATHER = 0.25
"""Share of the face box's size over which the protection fades out at its edges."""


@dataclass(frozen=True)
class FaceReport:
    """A character's face box in the frame and the share of it the set hides."""

    name: str
    box: tuple[int, int, int, int]
    """x0, y0, x1, y1 (exclusive), frame pixels, clipped to the frame."""
    covered: float
    """Share of the face's opaque pixels hidden by masks or plate depth, as composited."""
    props: float
    """Share the foreground masks alone would have hidden without the face protection."""


@dataclass
class FrameReport:
    """What one `compose` did (see the module docstring)."""

    unsupported: np.ndarray | None = None
    """H x W bool: plate pixels filled by stretching where no fill supported them."""
    faces: list[FaceReport] = field(default_factory=list)


_local = threading.local()


def __getattr__(name: str) -> object:
    """`last_report`: the `FrameReport` of this thread's latest `compose`."""
    if name == "last_report":
        return getattr(_local, "report", FrameReport())
    raise AttributeError(name)


def face_box(sprite: Sprite) -> tuple[float, float, float, float] | None:
    """The sprite's face box (x0, y0, x1, y1, frame pixels, unclipped) from its cut-out's
    painted eyes and head top; None for views without eyes (a back view shows no face)."""
    eyes = sprite.extra.get("eyes")
    top = sprite.extra.get("head_top")
    if eyes is None or top is None:
        return None
    unit = math.hypot(eyes[0] - top[0], eyes[1] - top[1])
    if not math.isfinite(unit) or unit < 1.0:
        return None
    return (eyes[0] - FACE_HALF_WIDTH * unit, eyes[1] - FACE_ABOVE_EYES * unit,
            eyes[0] + FACE_HALF_WIDTH * unit, eyes[1] + FACE_BELOW_EYES * unit)


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
    # SHADOW_STRENGTH * exp(-2.2 (dx² + dy²)), the same operations done in place
    dark = dx * dx + dy * dy
    np.multiply(dark, -2.2, out=dark)
    np.exp(dark, out=dark)
    np.multiply(dark, SHADOW_STRENGTH, out=dark)
    for alpha, depth in foregrounds:
        if depth < sprite.depth:
            dark = dark * (1.0 - crop(alpha, (x0, y0, x1, y1)))
    region = frame[y0:y1, x0:x1]
    keep = 1.0 - dark  # per channel, as arrays of one shape: no 3-long broadcast loop
    shaded = region * cv2.merge([keep, keep, keep])
    shaded += 0.5
    np.copyto(region, shaded, casting="unsafe")  # truncation, as astype(np.uint8)


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
    a = coverage.reshape(-1).take(local).astype(np.float32)[:, None]
    a *= np.float32(1.0 / 255.0)
    below = flat.take(pixels, axis=0).astype(np.float32)
    mixed = colour.reshape(-1, 3).take(local, axis=0) - below
    mixed *= a
    mixed += below
    mixed += np.float32(0.5)
    put_pixels(flat, pixels, mixed.astype(np.uint8))


def _protected_visibility(sprite: Sprite, plate_depth: np.ndarray | Plane | None,
                          foregrounds: list[Foreground], camera: Camera | None,
                          faces: list[FaceReport] | None) -> np.ndarray | None:
    """The sprite's visibility with its face kept clear of props (see the module docstring);
    appends the sprite's `FaceReport` to `faces` when it shows a face. Only the face box and
    its feather are touched, so a sprite costs what it did without the protection."""
    box = face_box(sprite)
    if box is None:
        return visibility(sprite, plate_depth, foregrounds, camera)
    masks = mask_visibility(sprite, foregrounds)
    depth = depth_visibility(sprite, plate_depth, camera)
    h, w = sprite.coverage.shape
    feather = max(1.0, FACE_FEATHER * (box[3] - box[1]))
    rx0 = max(0, min(w, math.floor(box[0] - feather) - sprite.x0))
    rx1 = max(0, min(w, math.ceil(box[2] + feather) - sprite.x0))
    ry0 = max(0, min(h, math.floor(box[1] - feather) - sprite.y0))
    ry1 = max(0, min(h, math.ceil(box[3] + feather) - sprite.y0))
    fx0 = max(0, min(w, math.floor(box[0]) - sprite.x0))
    fx1 = max(0, min(w, math.ceil(box[2]) - sprite.x0))
    fy0 = max(0, min(h, math.floor(box[1]) - sprite.y0))
    fy1 = max(0, min(h, math.ceil(box[3]) - sprite.y0))
    opaque = sprite.coverage[fy0:fy1, fx0:fx1].astype(np.float32)
    total = float(opaque.sum())

    def share(visible: np.ndarray | None) -> float:
        if visible is None or total <= 0:
            return 0.0
        return float(((1.0 - visible[fy0:fy1, fx0:fx1]) * opaque).sum()) / total

    props = share(masks)
    if masks is not None and rx1 > rx0 and ry1 > ry0:
        weight = _region_weight(sprite, box, feather, (rx0, ry0, rx1, ry1))
        region = masks[ry0:ry1, rx0:rx1]
        hidden = 1.0 - region
        region += hidden * weight
        if depth is not None:
            # the prop's own depth pixels step back with its mask
            claimed = np.clip(hidden * np.float32(4.0), 0.0, 1.0) * weight
            below = depth[ry0:ry1, rx0:rx1]
            below += (1.0 - below) * claimed
    if masks is None:
        visible = depth
    elif depth is None:
        visible = masks
    else:
        visible = masks * depth
    if faces is not None and total > 0:
        faces.append(FaceReport(sprite.name, (fx0 + sprite.x0, fy0 + sprite.y0,
                                              fx1 + sprite.x0, fy1 + sprite.y0),
                                share(visible), props))
    return None if visible is None else visible.astype(np.float32, copy=False)


def _region_weight(sprite: Sprite, box: tuple[float, float, float, float], feather: float,
                   region: tuple[int, int, int, int]) -> np.ndarray:
    """1 inside the face box, fading to 0 over `feather` outside it, over a region of the
    sprite's box (x0, y0, x1, y1 in sprite pixels)."""
    x0, y0, x1, y1 = region
    xs = np.arange(x0, x1, dtype=np.float32) + np.float32(sprite.x0 + 0.5)
    ys = np.arange(y0, y1, dtype=np.float32) + np.float32(sprite.y0 + 0.5)
    wx = np.clip(np.minimum(xs - (box[0] - feather), (box[2] + feather) - xs) / feather, 0, 1)
    wy = np.clip(np.minimum(ys - (box[1] - feather), (box[3] + feather) - ys) / feather, 0, 1)
    return (wy[:, None] * wx[None, :]).astype(np.float32)


def composite_sprite(frame: np.ndarray, background: np.ndarray, sprite: Sprite,
                     plate_depth: np.ndarray | Plane | None, foregrounds: list[Foreground],
                     camera: Camera | None, faces: list[FaceReport] | None = None) -> None:
    """Light, occlude and blend one sprite onto the frame in place (props kept off its face;
    its face box reported into `faces` when given)."""
    _contact_shadow(frame, sprite, foregrounds)
    x0, y0 = sprite.x0, sprite.y0
    coverage = sprite.coverage
    visible = _protected_visibility(sprite, plate_depth, foregrounds, camera, faces)
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
            camera: Camera | None = None, unsupported: np.ndarray | None = None
            ) -> np.ndarray:
    """The frame: the background with every sprite composited far to near.

    `bg_depth` (metres, inf = sky) and `foregrounds` (mask alpha, depth) hide what is behind
    scene objects; `camera` lets the depth test tell floor from objects. Sprites with a
    `light` are lit against the background's statistics around them. `unsupported` (the
    plate renderer's stretched-fill mask for this view) is recorded in `last_report` with
    every face box.
    """
    frame = background.copy()
    report = FrameReport(unsupported)
    for sprite in depth_sorted(sprites):
        composite_sprite(frame, background, sprite, bg_depth, foregrounds, camera,
                         report.faces)
    _local.report = report
    return frame
