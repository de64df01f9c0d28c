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
    if shape not in SHAPES:
        return False
    return _draw(sprite, *SHAPES[shape])


CAPTURE_CLOSED = 0.035
"""Opening half-height (mouth widths) of a shut captured mouth: shape A's."""
CAPTURE_OPEN = 0.34
"""Opening half-height of a fully open captured jaw: shape D's."""


def captured_shape(expression: dict[str, float]) -> tuple[
        tuple[float, float], tuple[float, float], tuple[float, float] | None, None]:
    """The mouth (cover, opening, teeth, tongue in mouth widths, as in SHAPES) of a captured
    expression (`render_engine.capture.track.EXPRESSIONS`): the opening's height follows the
    jaw linearly from shape A's to shape D's, its width the lips' width change (narrower when
    puckered, wider when smiling), teeth showing once the jaw opens."""
    jaw = min(max(expression.get("jaw_open", 0.0), 0.0), 1.0)
    width = expression.get("lip_width", 0.0) + 0.5 * max(expression.get("smile", 0.0), 0.0)
    rx = min(max(0.42 * (1.0 + width) - 0.2 * expression.get("pucker", 0.0), 0.15), 0.55)
    ry = CAPTURE_CLOSED + (CAPTURE_OPEN - CAPTURE_CLOSED) * jaw
    teeth_ry = min(0.07, 0.35 * ry)  # upper teeth along the top of the opening
    teeth = (-(ry - teeth_ry), teeth_ry) if jaw > 0.15 else None
    return (max(0.6, rx + 0.18), max(0.3, ry + 0.12)), (rx, ry), teeth, None


def draw_captured(sprite: Sprite, expression: dict[str, float]) -> bool:
    """Draw the captured mouth (`captured_shape`) onto the sprite in place and close its eyes
    by the captured blink; True if a mouth was drawn. Used in place of the viseme shape while
    a line played by a captured take is spoken (`render_engine.capture.store`)."""
    drawn = _draw(sprite, *captured_shape(expression))
    if drawn:
        blink_eyes(sprite, expression.get("blink", 0.0))
        move_face(sprite, expression.get("yaw", 0.0), expression.get("brow_raise", 0.0))
    return drawn


TURN = 0.35
"""How far the face slides across the head at 90° of yaw, in eye spans (a cut-out has no
side of the face to show, so a turn is a slide of the features, kept slight)."""
MAX_YAW = 30.0
BROW_TRAVEL = 0.12
"""How far fully raised (or lowered) brows move, in eye spans."""


def move_face(sprite: Sprite, yaw_deg: float, brow_raise: float) -> bool:
    """Turn the head slightly and move the brows, in place: a smooth local warp of the
    sprite round its face — the features (painted and drawn) slide sideways by
    TURN x sin(yaw) eye spans, fading out towards the head's outline, and the band above the
    eyes moves up (or down) by BROW_TRAVEL x brow_raise. True if anything moved."""
    eyes = sprite.extra.get("eyes")
    if eyes is None or sprite.mouth is None or sprite.mouth[2] < MIN_WIDTH_PX:
        return False
    span = EYE_SPAN * sprite.mouth[2]
    yaw = math.radians(min(max(yaw_deg, -MAX_YAW), MAX_YAW))
    dx = TURN * span * math.sin(yaw)
    lift = BROW_TRAVEL * span * min(max(brow_raise, -1.0), 1.0)
    if abs(dx) < 0.05 and abs(lift) < 0.05:
        return False
    ex, ey = eyes[0] - sprite.x0, eyes[1] - sprite.y0
    mx, my = sprite.mouth[0] - sprite.x0, sprite.mouth[1] - sprite.y0
    cx, cy = (ex + mx) / 2, (ey + my) / 2
    reach = 1.6 * span
    h, w = sprite.rgb.shape[:2]
    x0, x1 = max(0, int(cx - reach)), min(w, int(cx + reach) + 1)
    y0, y1 = max(0, int(cy - reach)), min(h, int(cy + reach) + 1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return False
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    rad = math.radians(sprite.mouth_angle)
    right = (math.cos(rad), math.sin(rad))
    down = (-math.sin(rad), math.cos(rad))
    across = (xx - cx) * right[0] + (yy - cy) * right[1]
    along = (xx - cx) * down[0] + (yy - cy) * down[1]
    face = np.exp(-(across ** 2 + along ** 2) / (2 * (0.8 * span) ** 2))
    brow_at = ((ex - cx) * down[0] + (ey - cy) * down[1]) - 0.35 * span
    band = np.exp(-((along - brow_at) ** 2) / (2 * (0.2 * span) ** 2)) * np.exp(
        -(across ** 2) / (2 * (0.9 * span) ** 2))
    shift_across = dx * face
    shift_up = lift * band
    # backward map: each pixel takes the colour from where the moved feature came from
    map_x = (xx - shift_across * right[0] + shift_up * down[0]).astype(np.float32)
    map_y = (yy - shift_across * right[1] + shift_up * down[1]).astype(np.float32)
    rgb = sprite.rgb.copy()
    rgb[y0:y1, x0:x1] = cv2.remap(sprite.rgb, map_x, map_y, cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)
    inside = sprite.coverage[y0:y1, x0:x1] > 0
    rgb[y0:y1, x0:x1][~inside] = sprite.rgb[y0:y1, x0:x1][~inside]  # the outline stays
    sprite.rgb = rgb
    return True


EYE_SPAN = 1.25
"""Distance between the eye centres in mouth widths (about 6.3 cm over 5 cm on a face)."""


def blink_eyes(sprite: Sprite, blink: float) -> bool:
    """Lower skin-coloured lids over the view's eyes (anchor `eyes`, their midpoint) by
    `blink` (0 open, 1 shut); True if lids were drawn."""
    eyes = sprite.extra.get("eyes")
    if blink < 0.15 or eyes is None or sprite.mouth is None:
        return False
    width = sprite.mouth[2]
    ex, ey = eyes[0] - sprite.x0, eyes[1] - sprite.y0
    rad = math.radians(sprite.mouth_angle)
    right = (math.cos(rad), math.sin(rad))
    skin = _surrounding(sprite, sprite.mouth[0] - sprite.x0, sprite.mouth[1] - sprite.y0, width)
    rgb = sprite.rgb if sprite.rgb.flags.writeable else sprite.rgb.copy()
    for side in (-0.5, 0.5):
        centre = (ex + right[0] * side * EYE_SPAN * width, ey + right[1] * side * EYE_SPAN * width)
        _ellipse(rgb, centre, (0.32 * width, 0.16 * width * min(blink, 1.0)),
                 sprite.mouth_angle, skin)
    sprite.rgb = rgb
    return True


def _draw(sprite: Sprite, cover: tuple[float, float], opening: tuple[float, float],
          teeth: tuple[float, float] | None, tongue: tuple[float, float] | None) -> bool:
    if sprite.mouth is None:
        return False
    cx, cy, width = sprite.mouth
    if width < MIN_WIDTH_PX:
        return False
    cx, cy = cx - sprite.x0, cy - sprite.y0
    h, w = sprite.rgb.shape[:2]
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
