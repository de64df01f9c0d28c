"""Which pixels of a cut-out the set hides: foreground masks and the plate's depth map.

Both tests run on the sprite's bounding box only. A foreground mask (alpha 0..1 over the frame
with one depth) nearer than the character multiplies the character's alpha by 1 - mask: hidden
exactly where the mask says, softly where its edge is soft. The plate's depth map hides pixels
where the plate is nearer than the character by more than a tolerance that grows with distance;
floor pixels never hide anything (a character stands on the floor, it is not behind it), so the
ground under the feet cannot eat the feet. The depth test ramps over a few centimetres and is
box-blurred by a pixel so object edges stay soft.
"""

from __future__ import annotations

import math
import threading

import cv2
import numpy as np

from render_engine.proxy import lens
from render_engine.proxy.camera import Camera
from render_engine.proxy.cutouts import Sprite
from render_engine.proxy.planes import Plane, crop

TOLERANCE_M = 0.15
TOLERANCE_PER_M = 0.04
SOFT_M = 0.08
SOFT_PER_M = 0.03
FLOOR_RATIO = (0.8, 0.92)
"""A plate pixel whose depth is over 92 % of the floor's there is floor (80 % ramps)."""

Foreground = tuple[np.ndarray | Plane, float]
"""(alpha H x W float32 0..1, depth in metres) of a plate's foreground object."""


def floor_depth(camera: Camera, box: tuple[int, int, int, int]) -> np.ndarray:
    """Depth (along the camera axis) of the floor plane y = 0 at each pixel of a box; inf where
    the ray never meets the floor."""
    x0, y0, x1, y1 = box
    rot = lens.rotation(camera)
    f = camera.focal_px
    xs = (np.arange(x0, x1, dtype=np.float64) + 0.5 - camera.width / 2) / f
    ys = -(np.arange(y0, y1, dtype=np.float64) + 0.5 - camera.height / 2) / f
    # world y of the camera-space direction (x, y, 1): x * right_y + y * up_y + forward_y
    down = (xs * rot[0, 1])[None, :] + (ys * rot[1, 1])[:, None] + rot[2, 1]
    height = camera.position[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.where(down < -1e-9, -height / down, np.inf)
    return depth.astype(np.float32)


def _not_floor_of(camera: Camera, plate: np.ndarray, box: tuple[int, int, int, int]
                  ) -> np.ndarray:
    """1 - floorness of the plate depth pixels in a box: 0 where the plate shows the floor
    (its depth over FLOOR_RATIO[1] of the floor plane's there), ramping to 1 below
    FLOOR_RATIO[0]."""
    ground = floor_depth(camera, box)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(np.isfinite(ground), plate / ground, 0.0)
    low, high = FLOOR_RATIO
    return 1.0 - np.clip((ratio - low) / (high - low), 0.0, 1.0)


_floors = threading.local()
"""This thread's latest (camera, plate depth array, its `_not_floor_of` over the frame)."""


def _whole(plate_depth: np.ndarray | Plane) -> np.ndarray | None:
    """The plate depth as a whole array when it already is one (a still camera's view keeps
    its whole plane), else None (a moving camera's depth is made per box)."""
    if isinstance(plate_depth, np.ndarray):
        return plate_depth
    return plate_depth.made()


def _not_floor(camera: Camera, plate: np.ndarray) -> np.ndarray:
    """`_not_floor_of` over the whole frame, made once per camera and depth array: a static
    shot shows the same plate every frame, so only its characters' boxes change. Pixel for
    pixel what the per-box computation gives (the same operations on the same values)."""
    found = getattr(_floors, "entry", None)
    if found is not None and found[0] == camera and found[1] is plate:
        return found[2]
    height, width = plate.shape[:2]
    weight = _not_floor_of(camera, plate, (0, 0, width, height))
    _floors.entry = (camera, plate, weight)  # holds the array: its id is never reused
    return weight


def mask_visibility(sprite: Sprite, foregrounds: list[Foreground]) -> np.ndarray | None:
    """1 - coverage of every foreground mask nearer than the sprite, over its box (None if no
    mask is nearer)."""
    visible: np.ndarray | None = None
    for alpha, depth in foregrounds:
        if depth >= sprite.depth:
            continue
        cover = crop(alpha, sprite.bbox)
        if not cover.any():
            continue
        visible = (1.0 - cover) if visible is None else visible * (1.0 - cover)
    return None if visible is None else visible.astype(np.float32, copy=False)


def depth_visibility(sprite: Sprite, plate_depth: np.ndarray | Plane | None,
                     camera: Camera | None = None) -> np.ndarray | None:
    """How visible each pixel of the sprite's box is behind the plate's depth map (None when
    nothing in the box is nearer than the character)."""
    if plate_depth is None:
        return None
    plate = crop(plate_depth, sprite.bbox)
    near = sprite.depth - (TOLERANCE_M + TOLERANCE_PER_M * sprite.depth)
    if not (plate < near).any():
        return None
    soft = SOFT_M + SOFT_PER_M * sprite.depth
    hidden = np.clip((near - plate) * (1.0 / soft), 0.0, 1.0)
    if camera is not None:
        whole = _whole(plate_depth)
        if whole is not None:  # a still camera's plate: its floor weight is made once
            hidden *= crop(_not_floor(camera, whole), sprite.bbox)
        else:
            hidden *= _not_floor_of(camera, plate, sprite.bbox)
    if not hidden.any():
        return None
    visible = 1.0 - hidden.astype(np.float32)
    if min(visible.shape) >= 3:
        visible = cv2.blur(visible, (3, 3))
    return visible


def visibility(sprite: Sprite, plate_depth: np.ndarray | Plane | None,
               foregrounds: list[Foreground], camera: Camera | None = None
               ) -> np.ndarray | None:
    """Combined visibility of a sprite's box (masks x depth map); None when nothing hides it."""
    masks = mask_visibility(sprite, foregrounds)
    depth = depth_visibility(sprite, plate_depth, camera)
    if masks is None:
        return depth
    if depth is None:
        return masks
    return masks * depth


def depth_sorted(sprites: list[Sprite]) -> list[Sprite]:
    """Sprites far first (painter's order); ties keep their order."""
    return sorted(sprites, key=lambda s: -s.depth if math.isfinite(s.depth) else 0.0)
