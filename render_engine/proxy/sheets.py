"""Cast sheets as cut-outs: each view loaded once, keyed if needed, ready to warp.

A cast member's sheet holds up to eight views (front, three_quarter, side, back and their sit_*
versions), all drawn at one scale with anchors (feet, eyes, mouth, head_top) in image pixels.
A view is loaded once per file version: alpha kept or a chroma screen keyed, colours bled under
the transparent pixels, a half-size pyramid built, its Lab statistics measured for the ambient
match. The sheet's scale (pixels per metre) comes from a standing view's feet and head-top.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from render_engine.bible import CastMember, Production, ViewImage
from render_engine.errors import SoloreelError
from render_engine.proxy.blocking import seated_eye_ratio, standing_scale
from render_engine.proxy.keying import as_rgba, bleed_colours

SEATED_HEIGHT = 0.72
"""Top of the head of a seated figure, in standing heights (used when a sheet has no anchors)."""
MIN_LEVEL_PX = 24


@dataclass
class CutoutView:
    """One view of a cast member, ready to warp: straight RGBA pyramid plus its anchors."""

    name: str
    levels: list[np.ndarray]
    """Level k is the view at 1 / 2**k size, straight RGBA uint8, colours bled under alpha 0."""
    ground: tuple[float, float]
    """The image point on the floor under the feet (pixel-centre coordinates)."""
    px_per_m: float
    opaque_box: tuple[int, int, int, int]
    """x0, y0, x1, y1 (exclusive) of the pixels with alpha."""
    mouth: tuple[float, float] | None
    mouth_width: float
    eyes: tuple[float, float] | None
    head_top: tuple[float, float]
    lab_mean: np.ndarray
    lab_std: np.ndarray
    mouth_colour: np.ndarray
    """The colour around the painted mouth (skin or beard): what covers it when it moves."""


def _read_image(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
            return np.asarray(image.convert("RGBA"))
        return np.asarray(image.convert("RGB"))


def _lab_stats(rgba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    solid = rgba[..., 3] > 200
    if not solid.any():
        return np.array([50.0, 0.0, 0.0]), np.array([20.0, 10.0, 10.0])
    pixels = rgba[..., :3][solid][None, :, :]
    lab = cv2.cvtColor(pixels, cv2.COLOR_RGB2Lab).reshape(-1, 3).astype(np.float32)
    return lab.mean(axis=0), np.maximum(lab.std(axis=0), 1.0)


def _ring_colour(rgba: np.ndarray, centre: tuple[float, float] | None, width: float) -> np.ndarray:
    """Median colour of the opaque pixels in a ring around the mouth (what surrounds it)."""
    if centre is None:
        return np.array([180, 140, 120], np.float32)
    radius = max(4.0, 0.9 * width)
    h, w = rgba.shape[:2]
    cx, cy = centre
    y0, y1 = max(0, int(cy - 2 * radius)), min(h, int(cy + 2 * radius) + 1)
    x0, x1 = max(0, int(cx - 2 * radius)), min(w, int(cx + 2 * radius) + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    dist = np.hypot((xx - cx) / 1.0, (yy - cy) * 1.6)
    patch = rgba[y0:y1, x0:x1]
    ring = (dist > radius) & (dist < 1.8 * radius) & (patch[..., 3] > 230)
    if not ring.any():
        return np.array([180, 140, 120], np.float32)
    return np.median(patch[..., :3][ring].astype(np.float32), axis=0)


def _pyramid(rgba: np.ndarray) -> list[np.ndarray]:
    levels = [rgba]
    while min(levels[-1].shape[:2]) >= 2 * MIN_LEVEL_PX:
        last = levels[-1]
        levels.append(cv2.resize(last, (last.shape[1] // 2, last.shape[0] // 2),
                                 interpolation=cv2.INTER_AREA))
    return levels


def _centre(point: tuple[float, float] | None) -> tuple[float, float] | None:
    """Bible anchors count pixel edges (a pixel's centre is at +0.5); OpenCV counts centres."""
    return None if point is None else (float(point[0]) - 0.5, float(point[1]) - 0.5)


@functools.lru_cache(maxsize=64)
def _load_view(path: str, mtime_ns: int, name: str, anchors: ViewImage, height_m: float,
               sheet_px_per_m: float | None) -> CutoutView:
    rgba = bleed_colours(as_rgba(_read_image(Path(path))))
    solid = rgba[..., 3] > 8
    rows, cols = np.flatnonzero(solid.any(axis=1)), np.flatnonzero(solid.any(axis=0))
    if not rows.size:
        raise SoloreelError(f"cut-out {path} is empty (fully transparent)")
    box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    seated = name.startswith("sit_")
    feet = _centre(anchors.feet) or ((box[0] + box[2]) / 2 - 0.5, box[3] - 0.5)
    head_top = _centre(anchors.head_top) or (feet[0], float(box[1]))
    if sheet_px_per_m:
        px_per_m = sheet_px_per_m
    else:
        tall = (feet[1] - head_top[1]) / (SEATED_HEIGHT if seated else 1.0)
        px_per_m = max(tall, 1.0) / height_m
    ground = feet
    mouth = _centre(anchors.mouth)
    width = float(anchors.mouth_width or 0.0)
    mean, std = _lab_stats(rgba)
    return CutoutView(
        name=name, levels=_pyramid(rgba), ground=ground, px_per_m=px_per_m, opaque_box=box,
        mouth=mouth, mouth_width=width, eyes=_centre(anchors.eyes), head_top=head_top,
        lab_mean=mean, lab_std=std, mouth_colour=_ring_colour(rgba, mouth, width))


class CastCutouts:
    """The views of one cast member, loaded on first use and kept (per file and mtime)."""

    def __init__(self, production: Production, member: CastMember):
        self.production = production
        self.member = member
        self.scale = standing_scale(member)
        front = member.views.get("front")
        self.front_mouth_width = float(front.mouth_width or 0.0) if front else 0.0
        self.seated_eye_m = seated_eye_ratio(production, member.name) * member.height_m
        """Seated eye height (metres): where framing aims and seated views put their eyes."""
        self._views: dict[str, CutoutView] = {}

    @property
    def name(self) -> str:
        return self.member.name

    def available(self) -> list[str]:
        """The view names the sheet has."""
        return list(self.member.views)

    def view(self, name: str) -> CutoutView:
        """One view, loaded (and keyed) once per file version, then kept by this object."""
        found = self._views.get(name)
        if found is not None:
            return found
        anchors = self.member.views[name]
        path = self.production.cast_file(self.member, anchors.image)
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError as exc:
            raise SoloreelError(f"cast {self.member.name} view {name}: {anchors.image} does not "
                                "exist; add the image or fix the path") from exc
        found = _load_view(str(path), mtime, name, anchors, self.member.height_m, self.scale)
        self._views[name] = found
        return found
