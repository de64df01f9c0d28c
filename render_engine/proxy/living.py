"""Living plates: the regions of a set's plate that move — fire, candles, screens, water, foliage.

A set marks them in its bible (`[[living]]`: a plate-sized 8-bit mask and a preset; see
`render_engine.bible.LivingRegion`). Each frame, every region is warped into the shot's view
with the plate's own geometry (the affine that takes a grid of plate points round the region
to where the set points they show project; once per camera, so a still shot pays for it once)
and animated on a copy of the background, inside its bounding box only:

- `fire`, `candle`: the region's brightness follows the shot's fire signal — the same
  `ShotLighting.flicker(t)` that scales the key on the characters — with rising turbulence
  inside the flames, and a warm glow on the ground round it (the mask blurred outwards) that
  swells and dims with the same signal. A fire in a preset that does not flicker (a candle by
  day) gets a signal of its own from the scene's clock.
- `screen`: a faint, stepped brightness flicker (a monitor's refresh beating with the camera).
- `water`: a travelling ripple of brightness.
- `sway`: a slow horizontal sway, strongest at the top of the region (trees, grass), resampled
  from the plate itself.

Everything runs on the scene's clock (`render_engine.proxy.lighting.scene_clock`): a seed
from the set, the lighting and the scene, read at the frame's scene time (its source time,
`shot.origin` + shot time). So two shots covering the same instant of a scene — a WS and an
MCU — show the same fire level, the same rising turbulence and the same sway, and a cut
between them does not jump; another scene or set has waves of its own. The flicker model is
the sum of incommensurate sines that `render_engine.proxy.lighting.flicker_noise` uses (as
in real-time fire lighting, e.g. GPU Gems ch. 6, "Fire in the Vulcan Demo", 2004); the ripple
and the sway are single travelling sines.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from render_engine.bible import LivingRegion, Production
from render_engine.errors import SoloreelError
from render_engine.proxy import lens
from render_engine.proxy.camera import Camera
from render_engine.proxy.lighting import ShotLighting, flicker_noise, scene_clock
from render_engine.proxy.projection import SKY_MM, PlateModel, plate_source
from render_engine.spec import ShotSpec

FIRE_GAIN = 1.1
"""Region brightness swing per unit of the flicker signal's swing, at amount 1."""
TURBULENCE = 0.35
"""Rising brightness noise inside a flame (fraction of the pixel), at amount 1."""
GLOW_REACH = 1.2
"""The ground glow reaches this many region heights round the fire."""
GLOW_LEVEL = 90.0
"""8-bit brightness the glow adds per unit of signal swing at its core, at amount 1."""
GLOW_RGB = np.array([1.0, 0.55, 0.22], np.float32)
SWAY_PX = 0.012
"""Sway amplitude in region heights at the top of the region, at amount 1."""
SWAY_PERIOD_S = 3.7


@dataclass
class _Region:
    """A living region in plate pixels: its mask (and a fire's glow) cropped to where they are
    non-zero, and where those crops lie in the set (for the per-camera warp)."""

    spec: LivingRegion
    crops: list[tuple[np.ndarray, tuple[int, int], int]]
    """(8-bit crop, its top-left (u, v) in plate pixels, plate pixels per crop pixel): the
    mask, then a fire's glow colour if any (smooth: kept at a fraction of the plate's size)."""
    grid: np.ndarray
    """(n, 2) plate coordinates (pixel centres at i + 0.5) round the region..."""
    world: np.ndarray
    """...and the (n, 3) set points they show (the region's depth)."""
    salt: int
    noise: np.ndarray | None = None
    """A fire's turbulence texture (small; resized to each view's box)."""
    phase: float = 0.0
    halvings: list[np.ndarray] = field(default_factory=list)
    """The mask crop and its halvings, made as views need them."""

    def __post_init__(self) -> None:
        self.halvings = [self.crops[0][0]]


@dataclass
class _Warped:
    """One region as one camera sees it: its alpha and glow inside their boxes."""

    box: tuple[int, int, int, int] | None
    alpha: np.ndarray | None = None
    glow_box: tuple[int, int, int, int] | None = None
    glow: np.ndarray | None = None
    """The glow's colour at full swing, 8-bit (h, w, 3), added or taken away per frame."""
    noise: np.ndarray | None = None
    extra: dict = field(default_factory=dict)


def _read_mask(production: Production, set_name: str, index: int, region: LivingRegion,
               size: tuple[int, int]) -> np.ndarray:
    """The region's mask as 8-bit (H, W), or one SoloreelError naming set, field and fix."""
    set_spec = production.set(set_name)
    where = f"set {set_name!r} living[{index}].image"
    try:
        path = production.set_file(set_spec, region.image)
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise SoloreelError(f"{where}: cannot read {region.image} ({exc}); fix the path or "
                            "the file") from None
    mask = _load_mask(str(path), mtime, where, region.image)
    if (mask.shape[1], mask.shape[0]) != size:
        raise SoloreelError(f"{where}: {region.image} is {mask.shape[1]}x{mask.shape[0]}, the "
                            f"plate {size[0]}x{size[1]}; resize it to the plate's size")
    return mask


@functools.lru_cache(maxsize=8)
def _load_mask(path: str, mtime: int, where: str, shown: str) -> np.ndarray:
    del mtime  # part of the cache key only
    try:
        with Image.open(path) as image:
            if image.mode not in ("L", "1", "P", "I;16", "I"):
                raise SoloreelError(f"{where}: {shown} is {image.mode}, not a greyscale mask; "
                                    "save it as 8-bit greyscale (white = the region)")
            mask = np.asarray(image.convert("L"))
    except OSError as exc:
        raise SoloreelError(f"{where}: cannot read {shown} ({exc}); fix the path or the "
                            "file") from None
    mask.setflags(write=False)
    return mask


def _crop(array: np.ndarray, threshold: int = 6, scale: int = 1
          ) -> tuple[np.ndarray, tuple[int, int], int] | None:
    """The non-zero part of a (possibly downscaled) plate layer: (crop, plate top-left,
    scale)."""
    points = cv2.findNonZero(cv2.threshold(array, threshold, 255, cv2.THRESH_BINARY)[1])
    if points is None:
        return None
    x, y, w, h = cv2.boundingRect(points)
    return np.ascontiguousarray(array[y:y + h, x:x + w]), (x * scale, y * scale), scale


@functools.lru_cache(maxsize=8)
def _plate_region(path: str, mtime: int, depth_path: str | None, depth_mtime: int,
                  model: PlateModel, fire: bool, where: str, shown: str
                  ) -> tuple[list[tuple[np.ndarray, tuple[int, int], int]], np.ndarray,
                             np.ndarray] | None:
    """The region's crops (mask; for a fire also its ground glow: the mask blurred outwards
    over about `GLOW_REACH` times its own size, outside the region) and a 3x3 grid of plate
    points round it with the set points they show, at the region's median depth (from the
    depth map; without one, where the region's lowest point meets the floor). Shared by every
    shot of the set; None for an empty mask."""
    del depth_mtime  # part of the cache key only
    mask = _load_mask(path, mtime, where, shown)
    found = _crop(mask)
    if found is None:
        return None
    crops = [found]
    core = mask.astype(np.float32) * np.float32(1 / 255)
    if fire:
        area = float(core.sum())
        small = max(1, int(math.sqrt(area) / 24))  # blur a copy where the region is ~24 px
        rows, cols = mask.shape
        low = cv2.resize(core, (max(1, cols // small), max(1, rows // small)),
                         interpolation=cv2.INTER_AREA)
        sigma = max(1.0, 0.6 * GLOW_REACH * math.sqrt(area) / small)
        glow = cv2.GaussianBlur(low, (0, 0), sigma)
        glow = np.clip(glow / max(float(glow.max()), 1e-6), 0.0, 1.0) * (1.0 - cv2.resize(
            core, (low.shape[1], low.shape[0]), interpolation=cv2.INTER_AREA))
        weight = np.clip(glow * 255.0 + 0.5, 0, 255).astype(np.uint8)
        glowing = _crop(weight, scale=small)
        if glowing is not None:
            colour = glowing[0].astype(np.float32)[..., None] * GLOW_RGB
            crops.append((np.clip(colour + 0.5, 0, 255).astype(np.uint8), *glowing[1:]))
    (crop, (x, y), _scale) = found
    h, w = crop.shape
    us = x + np.array([0.0, 0.5, 1.0]) * w
    vs = y + np.array([0.0, 0.5, 1.0]) * h
    grid = np.array([(u, v) for v in vs for u in us])
    distance = None
    if depth_path is not None:
        with Image.open(depth_path) as image:
            depth = np.asarray(image)
        if depth.ndim == 3:
            depth = depth[..., 0]
        inside = depth[y:y + h, x:x + w][crop > 127]
        solid = inside[inside < SKY_MM]
        if solid.size:
            distance = float(np.median(solid)) / 1000.0 * model.ray_scale(grid[:, 0], grid[:, 1])
    directions = model.directions(grid[:, 0], grid[:, 1])
    if distance is None:  # no depth: where the region's lowest ray meets the floor
        low = model.directions(np.array(x + 0.5 * w), np.array(float(y + h)))
        down = -float(low[1])
        distance = model.camera_height_m / down if down > 1e-3 else 10.0
    world = np.asarray(model.origin) + directions * np.reshape(distance, (-1, 1))
    return crops, grid, world


def _warp_crop(crop: np.ndarray, corner: tuple[int, int], scale: int, affine: np.ndarray,
               width: int, height: int) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """A plate-pixel crop mapped onto the frame by a plate→frame affine (pixel centres at
    i + 0.5 on both sides): the warped crop inside its frame box, or None off screen."""
    h, w = crop.shape[:2]
    x, y = corner
    # crop index (i, j) is plate coordinate (x + (i + 0.5) s, y + (j + 0.5) s); the frame
    # pixel index is its frame coordinate minus 0.5
    to_plate = np.array([[scale, 0.0, x + 0.5 * scale], [0.0, scale, y + 0.5 * scale],
                         [0.0, 0.0, 1.0]])
    matrix = (affine @ to_plate)[:2]
    matrix[:, 2] -= 0.5
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], float) - 0.5
    screen = corners @ matrix[:, :2].T + matrix[:, 2]
    x0, y0 = max(0, math.floor(screen[:, 0].min())), max(0, math.floor(screen[:, 1].min()))
    x1 = min(width, math.ceil(screen[:, 0].max()) + 1)
    y1 = min(height, math.ceil(screen[:, 1].max()) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    matrix[:, 2] -= (x0, y0)
    warped = cv2.warpAffine(crop, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return warped, (x0, y0, x1, y1)


class LivingPlate:
    """Animates a shot's living regions on its background, frame by frame."""

    def __init__(self, production: Production, spec: ShotSpec, plates: object,
                 lighting: ShotLighting):
        """Load the set's living masks (none when the shot replaces the plate with its own, or
        the plate renderer is a stand-in without the plate's model)."""
        self.plates, self.lighting = plates, lighting
        self.seed, self.origin = scene_clock(spec, production)
        self.regions: list[_Region] = []
        self._camera: Camera | None = None
        self._warped: list[_Warped] = []
        model = getattr(plates, "model", None)
        if spec.plate or not isinstance(model, PlateModel) or \
                not production.set(spec.set).living:
            return
        source = plate_source(spec, production)
        depth = source.depth if source.depth is not None and source.depth.is_file() else None
        set_spec = production.set(spec.set)
        for index, region in enumerate(set_spec.living):
            _read_mask(production, spec.set, index, region, (model.width, model.height))
            path = production.set_file(set_spec, region.image)
            found = _plate_region(str(path), path.stat().st_mtime_ns,
                                  None if depth is None else str(depth),
                                  0 if depth is None else depth.stat().st_mtime_ns, model,
                                  region.preset in ("fire", "candle"),
                                  f"set {spec.set!r} living[{index}].image", region.image)
            if found is None:
                continue
            rng = np.random.default_rng([self.seed, index, 17])
            noise = None
            if region.preset in ("fire", "candle"):
                noise = cv2.GaussianBlur(rng.standard_normal((24, 12)).astype(np.float32),
                                         (0, 0), 1.0)
                noise /= max(float(np.abs(noise).max()), 1e-6)
            self.regions.append(_Region(region, *found, salt=7919 * index, noise=noise,
                                        phase=float(rng.uniform(0, 2 * math.pi))))

    def signal(self, t: float) -> float:
        """The fire signal at shot time t (1 = steady), a function of the scene time
        `origin + t`: the lighting's own flicker when its preset flickers, so the flames,
        their glow and the characters' key move together."""
        if self.lighting.preset.flicker > 0:
            return self.lighting.flicker(t)
        return max(0.2, 1.0 + 0.35 * flicker_noise(self.origin + t, self.seed))

    def region_alpha(self, camera: Camera, index: int = 0) -> np.ndarray:
        """Region `index` as the camera sees it: (H, W) float32 in 0..1 (for tests, review)."""
        warped = self._view(camera)[index]
        full = np.zeros((camera.height, camera.width), np.float32)
        if warped.box is not None and warped.alpha is not None:
            x0, y0, x1, y1 = warped.box
            full[y0:y1, x0:x1] = warped.alpha
        return full

    def glow_alpha(self, camera: Camera, index: int = 0) -> np.ndarray:
        """Region `index`'s ground glow weight as the camera sees it (H, W) float32."""
        warped = self._view(camera)[index]
        full = np.zeros((camera.height, camera.width), np.float32)
        if warped.glow_box is not None and warped.glow is not None:
            x0, y0, x1, y1 = warped.glow_box
            full[y0:y1, x0:x1] = warped.glow.max(axis=2).astype(np.float32) / (
                255.0 * float(GLOW_RGB.max()))
        return full

    def apply(self, background: np.ndarray, camera: Camera, t: float) -> np.ndarray:
        """The background with every living region animated at shot time t: a new array when
        anything moved, else `background` itself."""
        if not self.regions:
            return background
        out: np.ndarray | None = None
        for region, warped in zip(self.regions, self._view(camera), strict=True):
            if warped.box is None or region.spec.amount <= 0:
                continue
            if out is None:
                out = background.copy()
            preset = region.spec.preset
            if preset in ("fire", "candle"):
                self._fire(out, background, region, warped, t)
            elif preset == "sway":
                self._sway(out, background, region, warped, t)
            else:
                self._shimmer(out, background, region, warped, t)
        return background if out is None else out

    # -- per camera -------------------------------------------------------------------------

    def _view(self, camera: Camera) -> list[_Warped]:
        """Each region as the camera sees it: the plate→frame map is the affine that best
        takes the region's grid of plate points to where their set points project (exact for
        the set camera's rotations, the plate's own parallax to first order for moved ones)."""
        if camera == self._camera:
            return self._warped
        warped = []
        for region in self.regions:
            projected = lens.project(camera, region.world)
            if (projected[:, 2] < 0.05).any():
                warped.append(_Warped(None))
                continue
            design = np.column_stack([region.grid, np.ones(len(region.grid))])
            solution = np.linalg.lstsq(design, projected[:, :2], rcond=None)[0]
            affine = np.vstack([solution.T, [0.0, 0.0, 1.0]])
            warped.append(self._prepare(region, affine, camera))
        self._camera, self._warped = camera, warped
        return warped

    def _prepare(self, region: _Region, affine: np.ndarray, camera: Camera) -> _Warped:
        # sample the mask from a halving near the view's scale (no aliasing, less to warp)
        shrink = 1.0 / max(math.sqrt(abs(np.linalg.det(affine[:2, :2]))), 1e-6)
        level = 0
        while 2 ** (level + 1) <= shrink:
            if level + 1 == len(region.halvings):
                crop = region.halvings[level]
                if min(crop.shape) < 8:
                    break
                region.halvings.append(cv2.resize(
                    crop, ((crop.shape[1] + 1) // 2, (crop.shape[0] + 1) // 2),
                    interpolation=cv2.INTER_AREA))
            level += 1
        _crop0, corner, scale = region.crops[0]
        found = _warp_crop(region.halvings[level], corner, scale * 2 ** level, affine,
                           camera.width, camera.height)
        if found is None:
            return _Warped(None)
        mask, box = found
        x0, y0, x1, y1 = box
        w, h = x1 - x0, y1 - y0
        warped = _Warped(box, mask.astype(np.float32) * np.float32(1 / 255))
        warped.extra["phase"] = region.phase
        if region.noise is not None:  # twice the box's height, scrolled upwards: flames rise
            warped.noise = cv2.resize(region.noise, (w, 2 * h), interpolation=cv2.INTER_LINEAR)
        if len(region.crops) > 1:
            glowing = _warp_crop(*region.crops[1], affine, camera.width, camera.height)
            if glowing is not None:
                warped.glow, warped.glow_box = glowing
        return warped

    # -- presets ----------------------------------------------------------------------------

    def _fire(self, out: np.ndarray, background: np.ndarray, region: _Region,
              warped: _Warped, t: float) -> None:
        amount = region.spec.amount
        swing = self.signal(t) - 1.0
        x0, y0, x1, y1 = warped.box  # type: ignore[misc]
        h = y1 - y0
        steady = FIRE_GAIN * amount * swing
        if warped.noise is not None:
            # the texture rises 1.6 region heights a second, on the scene's clock
            offset = int(((self.origin + t) * 1.6) % 1.0 * h) % h
            turbulence = warped.noise[h - offset:2 * h - offset]
            # weight = steady + TURBULENCE x amount x turbulence (one saturating cv2 pass)
            weight = cv2.addWeighted(turbulence, TURBULENCE * amount, turbulence, 0.0, steady)
            factor = cv2.multiply(warped.alpha, weight)
        else:
            factor = warped.alpha * np.float32(steady)  # type: ignore[operator]
        factor = cv2.add(factor, 1.0)
        out[y0:y1, x0:x1] = cv2.multiply(background[y0:y1, x0:x1],
                                         cv2.merge([factor, factor, factor]), dtype=cv2.CV_8U)
        if warped.glow is not None and abs(swing) > 1e-4:
            gx0, gy0, gx1, gy1 = warped.glow_box  # type: ignore[misc]
            # saturating 8-bit: target + glow x (level x swing); negative swings dim it
            out[gy0:gy1, gx0:gx1] = cv2.addWeighted(
                out[gy0:gy1, gx0:gx1], 1.0, warped.glow, GLOW_LEVEL / 255.0 * amount * swing,
                0.0)

    def _shimmer(self, out: np.ndarray, background: np.ndarray, region: _Region,
                 warped: _Warped, t: float) -> None:
        amount = region.spec.amount
        x0, y0, x1, y1 = warped.box  # type: ignore[misc]
        phase = warped.extra["phase"]
        if region.spec.preset == "screen":  # stepped at 12 Hz, a few percent
            step = math.floor((self.origin + t) * 12.0)  # on the scene's clock
            level = 0.06 * amount * flicker_noise(step / 12.0, self.seed + region.salt)
            weight = warped.alpha * np.float32(level)
        else:  # water: a ripple travelling across the region
            h, w = y1 - y0, x1 - x0
            ys = np.arange(h, dtype=np.float32)[:, None] / max(h, 1)
            xs = np.arange(w, dtype=np.float32)[None, :] / max(w, 1)
            ripple = np.sin(2 * math.pi * (6.0 * xs + 3.0 * ys) - 2.4 * (self.origin + t) + phase)
            weight = warped.alpha * (0.12 * amount) * ripple.astype(np.float32)
        patch = background[y0:y1, x0:x1].astype(np.float32)
        out[y0:y1, x0:x1] = np.clip(patch * (1.0 + weight[..., None]) + 0.5, 0, 255
                                    ).astype(np.uint8)

    def _sway(self, out: np.ndarray, background: np.ndarray, region: _Region,
              warped: _Warped, t: float) -> None:
        amount = region.spec.amount
        x0, y0, x1, y1 = warped.box  # type: ignore[misc]
        h, w = y1 - y0, x1 - x0
        width = background.shape[1]
        shift = SWAY_PX * amount * h * math.sin(2 * math.pi * (self.origin + t) / SWAY_PERIOD_S
                                                 + warped.extra["phase"])
        if abs(shift) < 0.05:
            return
        pad = math.ceil(abs(shift)) + 1
        sx0, sx1 = max(0, x0 - pad), min(width, x1 + pad)
        rows = np.arange(y0, y1, dtype=np.float32)
        lean = ((y1 - rows) / max(h, 1)) ** 1.5 * shift  # the top moves, the base stays
        map_x = (np.arange(x0, x1, dtype=np.float32)[None, :] - lean[:, None] - sx0)
        map_y = np.repeat((rows - y0)[:, None], w, axis=1)
        source = np.ascontiguousarray(background[y0:y1, sx0:sx1])
        moved = cv2.remap(source, map_x.astype(np.float32), map_y.astype(np.float32),
                          cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # the moved foliage's own alpha: the mask resampled the same way
        alpha_src = np.zeros((h, sx1 - sx0), np.float32)
        alpha_src[:, x0 - sx0:x1 - sx0] = warped.alpha  # type: ignore[assignment]
        alpha = np.maximum(cv2.remap(alpha_src, map_x.astype(np.float32),
                                     map_y.astype(np.float32), cv2.INTER_LINEAR),
                           warped.alpha)  # type: ignore[arg-type]
        patch = out[y0:y1, x0:x1].astype(np.float32)
        out[y0:y1, x0:x1] = (patch + (moved.astype(np.float32) - patch) * alpha[..., None]
                             + 0.5).astype(np.uint8)
