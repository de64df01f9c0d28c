"""What lies behind a plate's near objects: the background layer a moved camera uncovers.

A plate is one photograph: when the camera leaves the set camera, the far side of every depth
edge opens up (a disocclusion) and shows something the plate never saw. Stretching the
neighbouring pixels into it shreds the picture (staircase blocks, smears, ghosts of the
foreground). Instead, as in layered-depth-image rendering (Shade et al., "Layered Depth
Images", SIGGRAPH 1998) and its inpainted form (Shih et al., "3D Photography using
Context-aware Layered Depth Inpainting", CVPR 2020), the plate is split at its depth
discontinuities once, and a band on the near side of every edge is filled with the background
continued from the far side (colour: OpenCV's Telea fast-marching inpainting, A. Telea, "An
Image Inpainting Technique Based on the Fast Marching Method", JGT 2004; depth: the farthest
surface around the band, which is what a disocclusion there uncovers). A
disoccluded view pixel then samples this background layer, which is the plate itself away from
the edges.

The band is `support_px` wide (plate pixels). Fast marching fills each pixel from whichever
side it reaches first, so the half of the band nearest the far side is far-side material only:
that is the fill's support, and `Backfill.allowed_shift_m` tells the warp how far the camera may
move before an edge would open wider than it (beyond that the warp flattens the parallax
toward a 2D move of the whole plate instead of stretching).

Depth is taken as users get it: the disparity is median-filtered first (depth-estimator grain
does not make edges; thin props are kept by taking the nearest sample when scaling down),
floor pixels never count as near (a floor is behind everything on it), and an edge needs a
disparity jump of `EDGE_JUMP` (1/m) or a sixth of the near side's disparity, so the smooth
scale errors of estimated depth stay one surface.

Everything here depends only on the plate's pixels: it is cached per content hash of the
plate and depth files' bytes (`backfill_for`), computed at most `WORK_WIDTH` pixels wide.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from render_engine.proxy.projection import SKY_M, PlateModel

WORK_WIDTH = 960
"""Plates are split and inpainted at most this wide (the fill is background: soft anyway)."""
SUPPORT_SHARE = 0.05
"""Band width on the near side of each edge, as a share of the plate's width."""
EDGE_JUMP = 0.04
"""Disparity step (1/m) that makes a depth edge: 25 m against infinity, 5 m against 6.25 m."""
EDGE_SHARE = 1 / 6
"""Or this share of the near side's disparity, whichever is larger (relative noise)."""
FLOOR_SHARE = 0.92
"""A pixel whose distance is over this share of the floor's along its ray is floor."""
INPAINT_RADIUS = 5
EDGE_MARGIN = 3
"""Working pixels past each edge's near side that are filled too (see `compute_backfill`)."""
JUMP_PERCENTILE = 99.0
"""The strongest edge, robustly: this percentile of the band's disparity jumps."""


@dataclass(frozen=True)
class Backfill:
    """A plate's background layer (see the module docstring); arrays are full plate size."""

    rgb: np.ndarray
    """The plate with every near-side band replaced by the inpainted background (uint8)."""
    ray_m: np.ndarray
    """Ray distances of the background layer (the far side continued into the bands)."""
    band: np.ndarray
    """Where the plate was filled (bool)."""
    jump: float
    """Disparity step (1/m) of the plate's strongest depth edge; 0 without edges."""
    support_px: float
    """How far (plate pixels) past an edge the fill is far-side material only."""

    def allowed_shift_m(self, focal_px: float) -> float:
        """Camera translation (metres) at which the strongest edge opens as wide as the
        fill's support (a disocclusion is about focal x shift x disparity step wide)."""
        if self.jump <= 0:
            return math.inf
        return self.support_px / (focal_px * self.jump)


def content_key(*paths: Path | None) -> str:
    """SHA-256 over the bytes of the given files (None entries count as absent)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(b"\0" if path is None else Path(path).read_bytes())
        digest.update(b"|")
    return digest.hexdigest()


def backfill_for(key: str, rgb: np.ndarray, ray_m: np.ndarray, model: PlateModel) -> Backfill:
    """The plate's `Backfill`, computed once per content `key` (see `content_key`)."""
    return _cached(key, _Arrays(rgb, ray_m, model))


@dataclass(frozen=True, eq=False)
class _Arrays:
    rgb: np.ndarray
    ray_m: np.ndarray
    model: PlateModel

    def __hash__(self) -> int:  # the key alone identifies the content
        return 0

    def __eq__(self, other: object) -> bool:
        return True


@functools.lru_cache(maxsize=4)
def _cached(key: str, arrays: _Arrays) -> Backfill:
    return compute_backfill(arrays.rgb, arrays.ray_m, arrays.model)


def floor_distance(model: PlateModel, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Per pixel of a plate scaled by `scale`, the ray distance to the floor (y = 0) from the
    set camera; inf where the ray does not go down."""
    rows, cols = shape
    u = (np.arange(cols, dtype=np.float64) + 0.5) / scale
    v = (np.arange(rows, dtype=np.float64) + 0.5) / scale
    uu, vv = np.meshgrid(u, v)
    down = -model.directions(uu, vv)[..., 1]
    with np.errstate(divide="ignore"):
        return np.where(down > 1e-6, model.camera_height_m / np.maximum(down, 1e-6),
                        np.inf).astype(np.float32)


def near_band(disparity: np.ndarray, floor: np.ndarray, radius: int) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """Pixels within `radius` of a farther surface by a depth edge's jump (not floor), and
    each pixel's jump to the farthest disparity around it."""
    size = 2 * radius + 1
    # a square window: OpenCV erodes it as two separable passes (an ellipse is ~50x slower)
    farthest = cv2.erode(disparity, np.ones((size, size), np.uint8))
    jump = disparity - farthest
    edge = (jump > np.maximum(np.float32(EDGE_JUMP), np.float32(EDGE_SHARE) * disparity))
    return edge & ~floor, jump


def _inpaint(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Telea inpainting of `mask` at half the working size (a fill seen only in
    disocclusions needs no more detail; fast marching costs grow with the masked area),
    brought back to full working size inside the mask."""
    height, width = mask.shape
    half = (max(1, width // 2), max(1, height // 2))
    small_mask = cv2.resize(cv2.dilate(mask, np.ones((2, 2), np.uint8)), half,
                            interpolation=cv2.INTER_NEAREST)
    small = cv2.resize(rgb, half, interpolation=cv2.INTER_AREA)
    filled = cv2.inpaint(small, small_mask, INPAINT_RADIUS, cv2.INPAINT_TELEA)
    filled = cv2.resize(filled, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.where(mask[..., None] > 0, filled, rgb)


def compute_backfill(rgb: np.ndarray, ray_m: np.ndarray, model: PlateModel) -> Backfill:
    """Split the plate at its depth edges and inpaint the near-side bands (module docstring).

    `rgb` (H, W, 3) uint8 and `ray_m` (H, W) float32 ray distances (inf = sky), unpadded."""
    height, width = ray_m.shape
    scale = min(1.0, WORK_WIDTH / width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    ray = np.minimum(ray_m, np.float32(SKY_M), dtype=np.float32)
    disparity = np.divide(np.float32(1.0), np.maximum(ray, np.float32(0.05), out=ray), out=ray)
    if scale < 1:  # the nearest under each working pixel: thin props survive the scaling
        reach = math.ceil(1.0 / scale)
        disparity = cv2.resize(cv2.dilate(disparity, np.ones((reach, reach), np.uint8)), size,
                               interpolation=cv2.INTER_NEAREST)
    disparity = cv2.medianBlur(disparity, 3)  # single-pixel grain is not an edge
    small_ray = np.float32(1.0) / disparity
    floor = small_ray >= np.float32(FLOOR_SHARE) * floor_distance(model, disparity.shape, scale)
    radius = max(2, round(SUPPORT_SHARE * size[0]))
    band, jump = near_band(disparity, floor, 2 * radius)
    # a few pixels past every edge too: colour and depth edges never agree exactly
    # (antialiasing, estimated depth), and a fill must not start from the object's rim
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * EDGE_MARGIN + 1,) * 2)
    band = cv2.dilate(band.view(np.uint8), grow).view(bool) & ~floor | band
    if not band.any():
        return Backfill(rgb, ray_m, np.zeros((height, width), bool), 0.0, math.inf)
    mask = band.astype(np.uint8)
    small_rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    filled = _inpaint(np.ascontiguousarray(small_rgb), mask)
    # behind a band lies the farthest surface around it (OpenCV's Telea is not usable on
    # float disparities: its gradient term diverges on values far below 1)
    filled_disp = np.where(band, disparity - jump, disparity).astype(np.float32)
    strongest = float(np.percentile(jump[band], JUMP_PERCENTILE))
    if scale < 1:
        full = (width, height)
        band_full = cv2.resize(mask, full, interpolation=cv2.INTER_NEAREST) > 0
        filled = cv2.resize(filled, full, interpolation=cv2.INTER_LINEAR)
        filled_disp = cv2.resize(filled_disp, full, interpolation=cv2.INTER_LINEAR)
    else:
        band_full = band
    # the plate changes only inside the band: copy it once and write the band's pixels
    # (a masked copy, a gather and a scatter) instead of whole-plate selects
    out_rgb = np.array(rgb, copy=True, order="C")
    cv2.copyTo(np.ascontiguousarray(filled), band_full.view(np.uint8), out_rgb)
    inside = np.flatnonzero(band_full)
    far_ray = np.float32(1.0) / np.maximum(filled_disp.reshape(-1)[inside],
                                           np.float32(1.0 / SKY_M))
    far_ray = np.where(far_ray >= np.float32(SKY_M * 0.5), np.float32(np.inf), far_ray)
    out_ray = np.array(ray_m, np.float32, copy=True, order="C")
    out_ray.reshape(-1)[inside] = np.maximum(far_ray, out_ray.reshape(-1)[inside])
    for array in (out_rgb, out_ray, band_full):
        array.setflags(write=False)
    return Backfill(out_rgb, out_ray, band_full, strongest, radius / scale)
