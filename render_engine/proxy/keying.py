"""Alpha for cut-out images: pass real alpha through, key green/blue screens, bleed colours.

A cast sheet is either RGBA (alpha as painted) or an opaque photo/painting on a green or blue
screen. The keyer is a colour-difference keyer, the classic one for chroma screens: the matte is
how much the screen channel exceeds the other two, relative to the screen colour itself, with a
soft ramp (soft edges), the screen colour unmixed from semi-transparent edge pixels and the
remaining spill limited to the other channels (spill suppression).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

KEY_LOW = 0.12
"""Colour difference (as a fraction of the screen's own) below which a pixel is foreground."""
KEY_HIGH = 0.55
"""Colour difference above which a pixel is screen; between the two the matte ramps softly."""
SCREEN_MARGIN = 40
"""How much the screen channel must exceed the others (0..255) at the border to count as one."""


def screen_colour(rgb: np.ndarray) -> tuple[str, np.ndarray] | None:
    """The chroma screen behind an opaque image ("green" or "blue" and its median RGB), or None.

    Judged from the image's outer border, which a cast sheet leaves empty.
    """
    border = np.concatenate([rgb[:4].reshape(-1, 3), rgb[-4:].reshape(-1, 3),
                             rgb[:, :4].reshape(-1, 3), rgb[:, -4:].reshape(-1, 3)])
    median = np.median(border.astype(np.float32), axis=0)
    r, g, b = median
    if g > max(r, b) + SCREEN_MARGIN:
        return "green", median
    if b > max(r, g) + SCREEN_MARGIN:
        return "blue", median
    return None


def known_screen(colour: Sequence[float] | np.ndarray) -> tuple[str, np.ndarray]:
    """A screen colour given by the caller as ("green" or "blue", its RGB as float32).

    Raises ValueError for a colour that is neither clearly green nor clearly blue (the
    colour-difference keyer needs one channel above the other two)."""
    key = np.asarray(colour, np.float32).reshape(3)
    r, g, b = (float(v) for v in key)
    if g > max(r, b):
        return "green", key
    if b > max(r, g):
        return "blue", key
    raise ValueError(f"screen colour {tuple(int(v) for v in key)} is neither green nor blue")


def key_screen(rgb: np.ndarray, screen: Sequence[float] | np.ndarray | None = None
               ) -> np.ndarray:
    """Key an opaque HxWx3 uint8 image into straight RGBA uint8 (opaque if it has no screen).

    alpha = 1 - ramp((screen - max(others)) / screen's own difference); edge colours are
    unmixed from the screen colour and the screen channel is clamped to the larger other
    channel, which removes green (blue) spill from hair and edges. The screen is found from
    the image's border (`screen_colour`) unless the caller knows it: `screen` (an RGB
    triple) keys against that colour whatever the border shows — for frames rendered on a
    known matte, where a figure may fill the border.
    """
    found = screen_colour(rgb) if screen is None else known_screen(screen)
    out = np.empty((*rgb.shape[:2], 4), np.uint8)
    if found is None:
        out[..., :3] = rgb
        out[..., 3] = 255
        return out
    kind, key = found
    channel = 1 if kind == "green" else 2
    others = [c for c in range(3) if c != channel]
    pixels = rgb.astype(np.float32)
    diff = pixels[..., channel] - np.maximum(pixels[..., others[0]], pixels[..., others[1]])
    key_diff = float(key[channel] - max(key[others[0]], key[others[1]]))
    ratio = diff / max(key_diff, 1.0)
    alpha = 1.0 - np.clip((ratio - KEY_LOW) / (KEY_HIGH - KEY_LOW), 0.0, 1.0)
    alpha = cv2.GaussianBlur(alpha, (3, 3), 0.6)  # anti-alias the matte's staircase
    # unmix: observed = a * fg + (1 - a) * screen  →  fg = (observed - (1 - a) * screen) / a
    safe = np.maximum(alpha, 0.05)[..., None]
    fg = (pixels - (1.0 - alpha[..., None]) * key[None, None, :]) / safe
    fg = np.clip(fg, 0.0, 255.0)
    limit = np.maximum(fg[..., others[0]], fg[..., others[1]])
    fg[..., channel] = np.minimum(fg[..., channel], limit)  # spill suppression
    out[..., :3] = np.clip(fg + 0.5, 0, 255).astype(np.uint8)
    out[..., 3] = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return out


def as_rgba(image: np.ndarray) -> np.ndarray:
    """Any loaded image (grey, RGB, RGBA; uint8) as straight RGBA, keying screens if no alpha."""
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.shape[2] == 4:
        return np.ascontiguousarray(image)
    return key_screen(np.ascontiguousarray(image[..., :3]))


def bleed_colours(rgba: np.ndarray) -> np.ndarray:
    """Copy each transparent pixel's colour from the nearest opaque one (alpha kept).

    Straight-alpha images are resampled with bilinear filters; without this the black behind a
    cut-out would bleed into its edge as a dark fringe.
    """
    alpha = rgba[..., 3]
    transparent = (alpha < 128).astype(np.uint8)
    if not transparent.any() or transparent.all():
        return rgba
    _dist, labels = cv2.distanceTransformWithLabels(
        transparent, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
    opaque = np.flatnonzero(transparent.ravel() == 0)  # label k is the k-th opaque pixel
    source = opaque[labels.ravel() - 1]
    out = rgba.copy()
    flat = out.reshape(-1, 4)
    where = np.flatnonzero(transparent.ravel())
    flat[where, :3] = rgba.reshape(-1, 4)[source[where], :3]
    return out
