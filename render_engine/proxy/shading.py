"""Shading a cut-out's pixels for its place: ambient match in Lab, key gradient, rim.

Three things happen on the sprite's own pixels only:
1. ambient match: a partial colour transfer in Lab of the cut-out towards the statistics of the
   set's plate around the character (`lighting.scene_stats`: the same in every shot of the
   scene; the frame around the sprite only where no scene target is given) — per channel, so
   three 256-entry lookup tables on 8-bit Lab; the tier applies it to the view's pyramid level
   before warping (`AmbientMatch`, cached per rounded statistics), so a static shot pays for it
   once;
2. key: a cylinder-like shading gradient across the cut-out from the key's side, in the key's
   colour over the ambient colour, normalised so the match above keeps the exposure;
3. rim: a light edge on the key's side when the key is behind the character.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from render_engine.proxy.lighting import MATCH_AB, MATCH_L, WRAP, SpriteLight

LIGHT_MIX = 1.0
"""How much of the key/ambient gradient is applied (the rest stays as painted)."""
RIM_WIDTH = 0.02
"""Rim thickness in sprite heights (at most RIM_MAX_PX)."""


def plate_stats(background: np.ndarray, box: tuple[int, int, int, int]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (8-bit Lab units) of the plate around a box: the box grown by its own size
    on each side, sampled on a sparse grid (a few thousand pixels)."""
    height, width = background.shape[:2]
    x0, y0, x1, y1 = box
    grow_x, grow_y = (x1 - x0), (y1 - y0) // 2
    x0, x1 = max(0, x0 - grow_x), min(width, x1 + grow_x)
    y0, y1 = max(0, y0 - grow_y), min(height, y1 + grow_y)
    if x1 <= x0 or y1 <= y0:
        x0, y0, x1, y1 = 0, 0, width, height
    step = max(1, int(math.sqrt((x1 - x0) * (y1 - y0) / 3000)))
    sample = np.ascontiguousarray(background[y0:y1:step, x0:x1:step])
    mean, std = cv2.meanStdDev(cv2.cvtColor(sample, cv2.COLOR_RGB2Lab))
    return mean.ravel().astype(np.float32), np.maximum(std.ravel(), 1.0).astype(np.float32)


def match_tables(char_mean: np.ndarray, char_std: np.ndarray, plate_mean: np.ndarray,
                 plate_std: np.ndarray, strength_l: float, strength_ab: float) -> np.ndarray:
    """A 256x1x3 lookup table on 8-bit Lab: the partial colour transfer towards the plate."""
    values = np.arange(256, dtype=np.float32)
    table = np.empty((256, 1, 3), np.uint8)
    contrast = float(np.clip(plate_std[0] / char_std[0], 0.6, 1.25)) ** strength_l
    lightness = char_mean[0] + strength_l * (plate_mean[0] - char_mean[0])
    table[:, 0, 0] = np.clip(lightness + (values - char_mean[0]) * contrast + 0.5, 0, 255)
    for channel in (1, 2):
        shift = strength_ab * (plate_mean[channel] - char_mean[channel])
        table[:, 0, channel] = np.clip(values + shift + 0.5, 0, 255)
    return table


QUANT_MEAN = 2.0
"""Plate statistics are rounded to this many 8-bit Lab units before a match is computed, so a
static shot builds its matched cut-out once and a moving one every few frames."""
MATCH_CACHE = 12
STATS_SNAP = 4
"""Sprite boxes are snapped to this many pixels before the plate around them is measured."""
GAIN_STEP = 4
"""Pixels between the samples of the (smooth) shading gain, which is then resized up."""
GAIN_ONE = 127.5
"""Fixed-point scale of the 8-bit gain (255 = 2x)."""
RIM_MAX_PX = 7


class AmbientMatch:
    """The ambient match applied to a cut-out view's pyramid level before it is warped.

    Set `background` to each frame's plate; calling the object with a view, its pyramid level
    and the sprite's box returns that level recoloured towards the plate around the box (cached
    per rounded plate statistics). Set `target` (Lab mean, std: the scene's statistics around
    the character, `lighting.scene_stats`) and the strengths before placing a character to
    match it to its place in the set instead — the same in every shot of the scene.
    """

    def __init__(self, strength_l: float = MATCH_L, strength_ab: float = MATCH_AB):
        self.strength_l = strength_l
        self.strength_ab = strength_ab
        self.target: tuple[np.ndarray, np.ndarray] | None = None
        self.background: np.ndarray | None = None
        self._cache: dict[tuple, np.ndarray] = {}
        self._stats_of: np.ndarray | None = None
        self._stats: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._matched: dict[tuple, np.ndarray] = {}
        self._targets: dict[tuple, tuple[object, np.ndarray, np.ndarray, np.ndarray]] = {}

    def __call__(self, view: object, level: int, box: tuple[int, int, int, int]) -> np.ndarray:
        """The view's level image (straight RGBA uint8) matched to the plate around `box`."""
        levels = view.levels  # type: ignore[attr-defined]
        if self.target is not None:
            return self._matched_to(view, level, *self.target)
        if self.background is None:
            return levels[level]
        if self._stats_of is not self.background:  # a new plate: measure afresh
            self._stats_of, self._stats, self._matched = self.background, {}, {}
        snapped = tuple(STATS_SNAP * round(v / STATS_SNAP) for v in box)
        memo = (snapped, id(view), level)
        found = self._matched.get(memo)
        if found is not None:
            return found
        mean, std = self._plate_stats(snapped)
        mean = np.round(mean / QUANT_MEAN) * QUANT_MEAN
        std = np.round(std / QUANT_MEAN) * QUANT_MEAN
        key = (id(view), level, *mean.tolist(), float(std[0]))
        found = self._cache.get(key)
        if found is None:
            table = match_tables(view.lab_mean, view.lab_std, mean,  # type: ignore[attr-defined]
                                 np.maximum(std, 1.0), self.strength_l, self.strength_ab)
            found = recolour(levels[level], table)
            if len(self._cache) >= MATCH_CACHE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = found
        self._matched[memo] = found
        return found

    def _matched_to(self, view: object, level: int, mean: np.ndarray, std: np.ndarray
                    ) -> np.ndarray:
        """The view's level matched to given statistics (cached like the plate's). The same
        statistics arrays again (a character's place in the scene: `ShotLighting` keeps one
        per place) find their match by identity, without rounding them afresh."""
        memo = (id(view), level, id(mean), id(std), self.strength_l, self.strength_ab)
        seen = self._targets.get(memo)
        if seen is not None and seen[0] is view and seen[1] is mean and seen[2] is std:
            return seen[3]
        found = self._match_target(view, level, mean, std)
        if len(self._targets) >= MATCH_CACHE:
            self._targets.clear()
        self._targets[memo] = (view, mean, std, found)  # the objects kept: their ids hold
        return found

    def _match_target(self, view: object, level: int, mean: np.ndarray, std: np.ndarray
                      ) -> np.ndarray:
        """`_matched_to` keyed by the rounded statistics' values."""
        mean = np.round(np.asarray(mean, np.float32) / QUANT_MEAN) * QUANT_MEAN
        std = np.round(np.asarray(std, np.float32) / QUANT_MEAN) * QUANT_MEAN
        key = (id(view), level, *mean.tolist(), float(std[0]), self.strength_l,
               self.strength_ab)
        found = self._cache.get(key)
        if found is None:
            table = match_tables(view.lab_mean, view.lab_std, mean,  # type: ignore[attr-defined]
                                 np.maximum(std, 1.0), self.strength_l, self.strength_ab)
            found = recolour(view.levels[level], table)  # type: ignore[attr-defined]
            if len(self._cache) >= MATCH_CACHE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = found
        return found

    def _plate_stats(self, snapped: tuple[int, int, int, int]
                     ) -> tuple[np.ndarray, np.ndarray]:
        """`plate_stats` around a box snapped to STATS_SNAP pixels, remembered while the
        background is the same array (a still camera's plate: sway and breathing move the box
        a pixel or two, which changes nothing worth measuring again)."""
        found = self._stats.get(snapped)
        if found is None:
            found = plate_stats(self.background, snapped)  # type: ignore[arg-type]
            self._stats[snapped] = found
        return found


def recolour(rgba: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Straight RGBA with its colours passed through an 8-bit Lab lookup table."""
    rgb = cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB)
    matched = cv2.cvtColor(cv2.LUT(cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab), table),
                           cv2.COLOR_Lab2RGB)
    out = cv2.cvtColor(matched, cv2.COLOR_RGB2RGBA)
    out[..., 3] = rgba[..., 3]
    return out


def _linspace(stop: float, num: int) -> np.ndarray:
    """`np.linspace(0, stop, num, dtype=np.float32)` (num >= 2), value for value, without its
    Python-level overhead (the step is applied in float64 and the last value set to `stop`,
    as numpy does)."""
    values = np.arange(num, dtype=np.float64) * (stop / (num - 1))
    values[-1] = stop
    return values.astype(np.float32)


@functools.lru_cache(maxsize=16)
def _shading_grid(w: int, h: int, offset_x: float, top: int, feet_y: float, half_width: float,
                  height: float, direction: tuple[float, float, float], lit_offset: float,
                  fill: float) -> tuple[np.ndarray, np.ndarray | None]:
    """The flicker-free part of `light_patch`'s gain for one patch geometry and key direction:
    the coarse shade grid (GAIN_STEP pixels apart, float32, fill applied) and, when the key
    is off to a side (|x| > 0.1, the rim is then weighted by side), the rim's side weight of
    each column (w uint8: it varies across the patch only). A still character under a still
    camera repeats its geometry every frame and only the key's colour (the fire's flicker)
    changes, so this is computed once per geometry (read-only results)."""
    lx, ly, lz = direction
    # the gain is smooth: evaluate it on a grid GAIN_STEP pixels apart and resize it up
    gw, gh = max(2, -(-w // GAIN_STEP) + 1), max(2, -(-h // GAIN_STEP) + 1)
    cols = _linspace(w - 1, gw) + np.float32(offset_x)
    nx = np.minimum(np.maximum(cols / max(half_width, 1.0), -1.0), 1.0)
    nz = -np.sqrt(1.0 - nx * nx)
    rows = feet_y - (_linspace(h - 1, gh) + top)
    ny = 0.45 * (np.minimum(np.maximum(rows / max(height, 1.0), 0.0), 1.0) - 0.45)
    across = (nx * lx + nz * lz + WRAP) / (1.0 + WRAP) + lit_offset
    shade = across[None, :] + (ny * (ly / (1.0 + WRAP)))[:, None]
    np.maximum(shade, 0.0, out=shade)
    np.minimum(shade, 1.0, out=shade)
    if fill > 0:  # the sky's fill lifts the shadow side (daylight)
        shade = fill + (1.0 - fill) * shade
    shade.setflags(write=False)
    side_row = None
    if abs(lx) > 0.1:
        full_nx = np.minimum(np.maximum(
            (np.arange(w, dtype=np.float32) + np.float32(offset_x)) / max(half_width, 1.0),
            -1.0), 1.0)
        side = np.minimum(np.maximum(0.35 + math.copysign(0.65, lx) * full_nx, 0.0),
                          1.0) * 255.0
        side_row = side.astype(np.uint8)
        side_row.setflags(write=False)
    return shade, side_row


def light_patch(rgb: np.ndarray, coverage: np.ndarray, light: SpriteLight,
                origin: tuple[int, int], feet: tuple[float, float], height_px: float,
                half_width_px: float, match: np.ndarray | None = None) -> np.ndarray:
    """A sprite patch's colours lit for its place: h x w x 3 uint8 (straight alpha).

    `coverage` is the patch's alpha (uint8), `origin` its top-left in the frame, `feet` and
    `height_px` place the body in it and `half_width_px` is the body's half width for the
    shading gradient. `match` is an 8-bit Lab table (see `match_tables`) for patches whose
    view was not matched before warping. The gain is applied in 8-bit fixed point (up to 2x).
    The gradient's geometry is cached (`_shading_grid`); per call only the key's colour is
    applied to it, then the gain resized up and the rim drawn.
    """
    h, w = rgb.shape[:2]
    if match is not None:
        rgb = cv2.cvtColor(cv2.LUT(cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab), match),
                           cv2.COLOR_Lab2RGB)
    geometry = (w, h, float(np.float32(origin[0] - feet[0])), int(origin[1]),
                float(np.float32(feet[1])), float(half_width_px), float(height_px),
                tuple(float(v) for v in light.direction), float(light.lit_offset),
                float(light.fill))
    gain = _gain(geometry, tuple(float(v) for v in light.key),
                 tuple(float(v) for v in light.ambient), float(light.norm))
    out = cv2.multiply(rgb, gain, scale=1.0 / GAIN_ONE)
    if light.rim_strength > 0.02 and height_px > 12:
        _add_rim(out, coverage, light, height_px, _shading_grid(*geometry)[1])
    return out


@functools.lru_cache(maxsize=8)
def _gain(geometry: tuple, key: tuple[float, float, float],
          ambient: tuple[float, float, float], norm: float) -> np.ndarray:
    """`light_patch`'s h x w x 3 gain (8-bit fixed point, GAIN_ONE = 1x) for a patch geometry
    (`_shading_grid`'s arguments) and the key's colour: a light that does not flicker (the
    sun, the moon) under a still camera gives the same gain every frame (read-only)."""
    w, h = geometry[:2]
    shade = _shading_grid(*geometry)[0]
    scale = np.float32(LIGHT_MIX / norm)
    key_gain = (np.asarray(key, np.float32) * scale * np.float32(GAIN_ONE)).astype(np.float32)
    base = ((1.0 - LIGHT_MIX) + np.asarray(ambient, np.float32) * scale)
    base = (base * np.float32(GAIN_ONE)).astype(np.float32)
    # per channel shade * key + base in float32, one plane at a time (a broadcast over a
    # trailing axis of 3 runs numpy's inner loop 3 elements long: several times slower)
    coarse = cv2.merge([cv2.convertScaleAbs(shade * key_gain[c] + base[c]) for c in range(3)])
    gain = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
    gain.setflags(write=False)
    return gain


@functools.lru_cache(maxsize=8)
def _square(size: int) -> np.ndarray:
    """A size x size kernel of ones (the rim's erosion)."""
    return np.ones((size, size), np.uint8)


def _add_rim(out: np.ndarray, coverage: np.ndarray, light: SpriteLight, height_px: float,
             side_row: np.ndarray | None) -> None:
    """Add the rim light in place: the coverage's inner edge (coverage minus its erosion),
    weighted by the key's side (`side_row`, per column) and coloured by the rim."""
    size = int(np.clip(RIM_WIDTH * height_px, 2, RIM_MAX_PX))
    edge = cv2.subtract(coverage, cv2.erode(coverage, _square(size)))
    if side_row is not None:
        edge = cv2.multiply(edge, cv2.repeat(side_row[None, :], edge.shape[0], 1),
                            scale=1.0 / 255.0)
    rim = np.asarray(light.rim, np.float32) * light.rim_strength
    rim_rgb = cv2.merge([cv2.convertScaleAbs(edge, alpha=float(c)) for c in rim])
    cv2.add(out, rim_rgb, dst=out)


_PIXEL = np.dtype("V3")
"""One 8-bit RGB pixel as a single opaque item (`put_pixels`)."""


def put_pixels(flat: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
    """`flat[index] = values` for a contiguous N x 3 uint8 pixel array and n pixel values
    (any shape holding n x 3 uint8): each pixel is moved as one 3-byte item with `np.put`,
    a few times cheaper than numpy's row-wise fancy assignment (the same bytes written)."""
    items = np.ascontiguousarray(values, np.uint8).reshape(-1, 3).view(_PIXEL).reshape(-1)
    np.put(flat.view(_PIXEL).reshape(-1), index, items)
