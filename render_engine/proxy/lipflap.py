"""Lip flap: a mouth drawn over the cut-out's painted one, shaped by the Rhubarb cue.

The mouth sits at the view's mouth anchor, scaled with the sprite (width from the sheet's
mouth_width; profile views, whose painted mouth is a sliver, borrow half the front view's) and
turned with it. Shapes follow the Rhubarb / Preston Blair set (REFERENCE.md): A closed (M B P),
B slightly open with teeth, C open, D wide open, E rounded, F puckered, G teeth on the lower lip
(F V), H tongue up (L), X rest — which leaves the painted mouth as it is. Back views have no
mouth anchor, so nothing is drawn; V.O./O.S. lines never reach here (their cue is X).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from render_engine.proxy.cutouts import Sprite

MIN_WIDTH_PX = 2.5
"""Below this on-screen width a mouth is not drawn (it would be a smudge)."""
INSIDE = (62, 18, 24)
TEETH = (236, 232, 222)
TONGUE = (190, 82, 92)

# per shape: (cover half-axes, opening half-axes, teeth (dy, ry) or None, tongue (dy, ry) or None)
# in units of the mouth width; dy is down from the mouth centre.
SHAPES: dict[str, tuple[tuple[float, float], tuple[float, float],
                        tuple[float, float] | None, tuple[float, float] | None]] = {
    "A": ((0.6, 0.3), (0.42, 0.035), None, None),
    "B": ((0.6, 0.3), (0.42, 0.12), (-0.05, 0.06), None),
    "C": ((0.62, 0.34), (0.45, 0.22), (-0.14, 0.07), None),
    "D": ((0.68, 0.46), (0.5, 0.34), (-0.26, 0.08), (0.2, 0.12)),
    "E": ((0.6, 0.34), (0.32, 0.22), (-0.15, 0.05), None),
    "F": ((0.55, 0.32), (0.15, 0.13), None, None),
    "G": ((0.6, 0.3), (0.42, 0.12), (0.02, 0.08), None),
    "H": ((0.62, 0.36), (0.42, 0.24), (-0.16, 0.06), (-0.06, 0.1)),
}
SHIFT = 4
"""Sub-pixel bits for OpenCV's drawing (coordinates x 16)."""


def _ellipse(image: np.ndarray, centre: tuple[float, float], axes: tuple[float, float],
             angle: float, colour: tuple[int, int, int] | np.ndarray) -> None:
    scale = 1 << SHIFT
    cv2.ellipse(image, (round(centre[0] * scale), round(centre[1] * scale)),
                (max(1, round(axes[0] * scale)), max(1, round(axes[1] * scale))), angle, 0, 360,
                tuple(int(c) for c in colour), thickness=-1, lineType=cv2.LINE_AA, shift=SHIFT)


def _surrounding(sprite: Sprite, cx: float, cy: float, width: float) -> np.ndarray:
    """The colour around the painted mouth in the sprite itself (skin or beard, as lit and
    matched), which is what covers the painted mouth when the drawn one moves."""
    h, w = sprite.rgb.shape[:2]
    reach = 1.3 * width
    x0, x1 = max(0, int(cx - reach)), min(w, int(cx + reach) + 1)
    y0, y1 = max(0, int(cy - reach)), min(h, int(cy + reach) + 1)
    if x1 > x0 and y1 > y0:
        yy, xx = np.mgrid[y0:y1, x0:x1]
        dist = np.hypot(xx - cx, (yy - cy) * 1.6)
        ring = (dist > 0.75 * width) & (dist < reach) & (sprite.coverage[y0:y1, x0:x1] > 242)
        if ring.sum() >= 3:
            return np.median(sprite.rgb[y0:y1, x0:x1][ring].astype(np.float32), axis=0)
    if sprite.mouth_colour is not None:
        return np.asarray(sprite.mouth_colour, np.float32)
    return np.array([180, 140, 120], np.float32)


def draw_mouth(sprite: Sprite, shape: str) -> bool:
    """Draw the mouth shape onto the sprite's pixels in place; True if anything was drawn."""
    if sprite.mouth is None or shape not in SHAPES:
        return False
    cx, cy, width = sprite.mouth
    if width < MIN_WIDTH_PX:
        return False
    cx, cy = cx - sprite.x0, cy - sprite.y0
    h, w = sprite.rgb.shape[:2]
    cover, opening, teeth, tongue = SHAPES[shape]
    reach = width * max(cover)
    if cx + reach < 0 or cy + reach < 0 or cx - reach > w or cy - reach > h:
        return False
    angle = sprite.mouth_angle
    rad = math.radians(angle)
    down = (-math.sin(rad), math.cos(rad))  # the sprite's own "down" on screen

    def at(dy: float) -> tuple[float, float]:
        return cx + down[0] * dy * width, cy + down[1] * dy * width

    rgb = sprite.rgb if sprite.rgb.flags.writeable else sprite.rgb.copy()
    skin = _surrounding(sprite, cx, cy, width)
    lips = np.clip(skin * np.array([0.82, 0.6, 0.6]), 0, 255)
    _ellipse(rgb, (cx, cy), (cover[0] * width, cover[1] * width), angle, skin)
    _ellipse(rgb, (cx, cy), ((opening[0] + 0.06) * width, (opening[1] + 0.06) * width), angle,
             lips)
    _ellipse(rgb, (cx, cy), (opening[0] * width, opening[1] * width), angle, INSIDE)
    if tongue is not None:
        _ellipse(rgb, at(tongue[0]), (opening[0] * 0.6 * width, tongue[1] * width), angle,
                 TONGUE)
    if teeth is not None:
        _ellipse(rgb, at(teeth[0]), (opening[0] * 0.85 * width, teeth[1] * width), angle, TEETH)
    sprite.rgb = rgb
    return True
