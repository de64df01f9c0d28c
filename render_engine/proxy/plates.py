"""Plates: the set's background (and its foreground masks) as seen by any shot camera.

`PlateRenderer(production, spec).background(camera)` gives the view's RGB and per-pixel
depth; `foreground(camera)` gives each foreground mask warped by exactly the same geometry, so
the compositor can hide character pixels behind scene objects. Views of a camera at the set
camera's position are exact reprojections (flat: pinhole, wide: cylinder, 360: equirectangular);
moved cameras get 2.5D parallax from the depth map (`render_engine.proxy.warp`): the plate's
point cloud is z-buffered into a coarse depth grid, every pixel is traced back through it, depth
edges are resolved per pixel and disoccluded pixels (what the plate never saw) are filled from
around them. Without a depth map the plate is one surface at the subjects' distance.
What a moved camera uncovers comes from the plate's background layer (`proxy.backfill`, made
once per plate bytes), and parallax is flattened toward the subjects' distance once edges would
open wider than that layer supports (`warp.Flatten`); `unsupported(camera)` gives the pixels
still filled by stretching, and depth is the depth of what each pixel shows.

Depth everywhere is camera-space z in metres (as `Camera.project` gives), np.inf for sky.

Sampling: the plate is kept as a mip pyramid (area-averaged halvings) and the level matching the
view's scale is sampled, blending two levels in between so zooms change sharpness smoothly;
views magnifying the plate use bicubic sampling. Results are cached per camera (a frozen,
hashable `Camera`), so a static shot costs one remap and identical cameras give byte-identical
plates. Returned arrays are read-only: copy before drawing on them.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from PIL import Image

from render_engine.bible import Production
from render_engine.errors import SoloreelError
from render_engine.proxy.backfill import Backfill, backfill_for, content_key
from render_engine.proxy.blocking import character_floor
from render_engine.proxy.camera import Camera
from render_engine.proxy.planes import Box, Plane
from render_engine.proxy.projection import SKY_M, SKY_MM, PlateModel, PlateSource, plate_source
from render_engine.proxy.warp import (
    ROTATION_STEP,
    Flatten,
    NodeMaps,
    depth_of_seen,
    fill_ghosts,
    flatten_for,
    layered_maps,
    nearer,
    node_seen,
    parallax_maps,
    parallax_step,
    rotation_maps,
    splat_depth,
    suppress_ghosts,
    surface_depth,
    upsample,
)
from render_engine.spec import ShotSpec

PAD = 4
"""Columns of wrap-around padding on each side of a 360 plate's levels (for the seam)."""
AT_SET_CAMERA_M = 1e-6
"""A camera closer than this to the set camera is treated as rotation-only (exact)."""
SMALL_SHIFT_M = 0.01
"""Below this distance from the set camera, parallax comes from one surface (no splat)."""
DEFAULT_PLANE_M = 5.0
"""Distance of the one surface a plate without depth stands for, when nobody is framed."""
CACHE_VIEWS = 3
"""Views (per renderer) kept for repeated cameras: a static shot renders once."""
SPLAT_BUDGET = 2
"""Point-cloud samples per depth node the parallax splat may use (it goes coarser beyond)."""
CLOUD_PIXELS = 2_500_000
"""Plates larger than this splat from their first halving at the finest."""
BLEND_BAND = (0.49, 0.51)
"""Fractions of a mip octave between which two levels are cross-faded (else the nearest is
used): a zoom passes a level boundary in a few frames instead of popping, and a fixed lens
rarely pays for two remaps."""
MAGNIFIED = 0.85
"""Plate pixels per view pixel below which the plate is sampled bicubically."""
FILL_SHARE = 0.9
"""Share of the background layer's support a depth edge may open to before the parallax
flattens toward a 2D move (the rest is margin for the node grid and the ease)."""


@dataclass
class _Mask:
    name: str
    levels: list[np.ndarray]
    depth_m: float
    anchor: np.ndarray
    supports: dict[int, tuple[int, int, int, int] | None] = field(default_factory=dict)
    """Per mip level, the (padded) level's bounding box of non-zero pixels (x0, y0, x1, y1
    inclusive; None: all zero), measured on first use."""

    def support(self, level: int) -> tuple[int, int, int, int] | None:
        """The level's bounding box of non-zero pixels (see `supports`)."""
        if level not in self.supports:
            alpha = self.levels[level]
            rows = np.flatnonzero(cv2.reduce(alpha, 1, cv2.REDUCE_MAX))
            cols = np.flatnonzero(cv2.reduce(alpha, 0, cv2.REDUCE_MAX))
            self.supports[level] = (None if not len(rows) else
                                    (int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])))
        return self.supports[level]


@dataclass
class PlateAssets:
    """A plate loaded once: mip levels, ray distances, point clouds, masks."""

    model: PlateModel
    levels: list[np.ndarray]
    ray_m: np.ndarray | None
    masks: list[_Mask]
    clouds: dict[int, np.ndarray] = field(default_factory=dict)
    ray_levels: list[np.ndarray] = field(default_factory=list)
    near_levels: list[np.ndarray] = field(default_factory=list)
    """Per mip level, the nearest ray distance under each pixel (padded like `levels`): thin
    foreground objects survive, for the parallax ghost test."""
    typical_m: float = 10.0
    """Median depth (the plate's own measure) of what is not sky."""
    key: str = ""
    """Content hash of the plate and depth files (what the background layer is cached by)."""
    _back: Backfill | None = None
    back_levels: list[np.ndarray] = field(default_factory=list)
    """Mip levels of the background layer's colour, padded like `levels`."""
    back_near: list[np.ndarray] = field(default_factory=list)
    """Per mip level, the nearest background-layer distance under each pixel (padded)."""

    def backfill(self) -> Backfill:
        """The plate's background layer (`render_engine.proxy.backfill`), made on first use
        and shared between shots of the same plate bytes."""
        if self._back is None:
            assert self.ray_m is not None
            model = self.model
            back = backfill_for(self.key, _unpad(self.levels[0], model),
                                _unpad(self.ray_m, model), model)
            self.back_levels = [_pad(level, model) for level in _pyramid(back.rgb)]
            self.back_near = _near_pyramid(_pad(back.ray_m, model), self.levels, model)
            self._back = back
        return self._back

    def cloud(self, level: int) -> np.ndarray:
        """World offsets (from the set camera) of the nearest surface point under each pixel
        of a mip level, float32 planes (3, rows, cols); sky is SKY_M away."""
        if level not in self.clouds:
            assert self.ray_m is not None
            model = self.model
            scale = 2 ** level
            rows = math.ceil(model.height / scale)
            cols = math.ceil(model.width / scale)
            u = (np.arange(cols) + 0.5) * scale
            v = (np.arange(rows) + 0.5) * scale
            uu, vv = np.meshgrid(u, v)
            # the nearest distance under each level pixel: thin props (stems, handles) stay
            # in the splat at coarse levels instead of falling between its samples
            dist = _unpad(self.near_levels[level], model)[:rows, :cols]
            dist = np.minimum(dist, SKY_M)
            points = model.directions(uu, vv) * dist[..., None]
            self.clouds[level] = np.ascontiguousarray(np.moveaxis(points, -1, 0), np.float32)
        return self.clouds[level]


def _unpad(array: np.ndarray, model: PlateModel) -> np.ndarray:
    return array[:, PAD:-PAD] if model.kind == "360" else array


def _pad(array: np.ndarray, model: PlateModel) -> np.ndarray:
    if model.kind != "360":
        return np.ascontiguousarray(array)
    return np.ascontiguousarray(np.concatenate([array[:, -PAD:], array, array[:, :PAD]], axis=1))


def _pyramid(image: np.ndarray) -> list[np.ndarray]:
    levels = [image]
    while min(levels[-1].shape[:2]) >= 64:
        h, w = levels[-1].shape[:2]
        levels.append(cv2.resize(levels[-1], ((w + 1) // 2, (h + 1) // 2),
                                 interpolation=cv2.INTER_AREA))
    return levels


def _read(path: Path, what: str) -> np.ndarray:
    try:
        with Image.open(path) as image:
            if what == "depth":
                return np.array(image)
            return np.array(image.convert("RGB" if what == "plate" else "L"))
    except (OSError, ValueError) as exc:
        raise SoloreelError(f"cannot read {what} {path}: {exc}") from exc


def _mtime(path: Path | None) -> int:
    return path.stat().st_mtime_ns if path is not None else 0


def load_assets(source: PlateSource) -> PlateAssets:
    """The plate's assets, loaded once per files-and-model (shared between shots)."""
    key = (source, _mtime(source.image), _mtime(source.depth),
           tuple(_mtime(path) for _, path, _ in source.masks))
    assets = _load_assets(key)
    if assets.ray_m is not None and not assets.key:
        assets.key = content_key(source.image, source.depth) + f"|{source.model}"
    return assets


@functools.lru_cache(maxsize=4)
def _load_assets(key: tuple) -> PlateAssets:
    source: PlateSource = key[0]
    model = source.model
    rgb = _read(source.image, "plate")
    levels = [_pad(level, model) for level in _pyramid(rgb)]
    ray_m = None
    if source.depth is not None:
        raw = _read(source.depth, "depth")
        if raw.ndim == 3:
            raw = raw[..., 0]
        if raw.shape != rgb.shape[:2]:
            raise SoloreelError(f"depth map {source.depth} is {raw.shape[1]}x{raw.shape[0]}, "
                                f"the plate {rgb.shape[1]}x{rgb.shape[0]}; they must match")
        metres = raw.astype(np.float32) / 1000.0
        solid = metres[raw < SKY_MM]
        typical = float(np.median(solid)) if solid.size else 10.0
        u = np.arange(model.width) + 0.5
        v = np.arange(model.height) + 0.5
        scale = model.ray_scale(u[None, :], v[:, None]).astype(np.float32)
        ray = np.where(raw >= SKY_MM, np.float32(np.inf), metres * scale)
        ray_m = _pad(np.maximum(ray, 0.01).astype(np.float32), model)
    masks = []
    for name, path, depth_m in source.masks:
        mask = _read(path, "mask")
        if mask.shape != rgb.shape[:2]:
            raise SoloreelError(f"mask {path} is {mask.shape[1]}x{mask.shape[0]}, the plate "
                                f"{rgb.shape[1]}x{rgb.shape[0]}; they must match")
        masks.append(_Mask(name, [_pad(level, model) for level in _pyramid(mask)], depth_m,
                           _mask_anchor(model, mask, depth_m)))
    assets = PlateAssets(model, levels, ray_m, masks)
    if ray_m is not None:
        assets.typical_m = typical
    if ray_m is not None:
        # level 0 is the depth itself in both pyramids (shared, not copied)
        assets.ray_levels = [ray_m] + [
            _pad(_subsample(_unpad(ray_m, model), 2 ** k, level.shape[:2], model), model)
            for k, level in enumerate(levels) if k]
        assets.near_levels = _near_pyramid(ray_m, levels, model)
    return assets


def _near_pyramid(ray_m: np.ndarray, levels: list[np.ndarray], model: PlateModel
                  ) -> list[np.ndarray]:
    """Per mip level (shaped like `levels`), the nearest of the (padded) ray distances under
    each pixel: thin foreground objects survive, for the parallax ghost tests."""
    near = _unpad(ray_m, model)
    out = [ray_m]
    for level in levels[1:]:
        rows, cols = level.shape[0], level.shape[1] - (2 * PAD if model.kind == "360" else 0)
        grown = np.pad(near, ((0, rows * 2 - near.shape[0]), (0, cols * 2 - near.shape[1])),
                       mode="edge")
        # the minimum of each 2x2 block as three element-wise minima of strided views: the
        # same values as a (rows, 2, cols, 2) reduction, several times faster on a full plate
        near = np.minimum(np.minimum(grown[0::2, 0::2], grown[0::2, 1::2]),
                          np.minimum(grown[1::2, 0::2], grown[1::2, 1::2]))
        out.append(_pad(near, model))
    return out


def _subsample(array: np.ndarray, factor: int, shape: tuple[int, int], model: PlateModel
               ) -> np.ndarray:
    """Nearest-neighbour mip level of a depth map: the sample nearest each level pixel's centre
    (`shape` is the padded level's shape)."""
    rows = shape[0]
    cols = shape[1] - (2 * PAD if model.kind == "360" else 0)
    r = np.minimum(np.arange(rows) * factor + factor // 2, array.shape[0] - 1)
    c = np.minimum(np.arange(cols) * factor + factor // 2, array.shape[1] - 1)
    return array[r][:, c]


def _mask_anchor(model: PlateModel, mask: np.ndarray, depth_m: float) -> np.ndarray:
    """The world point at the mask's centroid, `depth_m` away in the plate's depth measure."""
    rows, cols = np.nonzero(mask > 127)
    if not len(rows):
        rows, cols = np.array([model.height // 2]), np.array([model.width // 2])
    u, v = float(cols.mean()) + 0.5, float(rows.mean()) + 0.5
    direction = model.directions(np.array(u), np.array(v))
    distance = depth_m * float(model.ray_scale(np.array(u), np.array(v)))
    return np.asarray(model.origin) + direction * distance


@dataclass
class _View:
    nodes: NodeMaps
    rgb: np.ndarray = field(default_factory=lambda: np.empty(0))
    depth: np.ndarray | None = None
    """The whole depth plane, once something asked for it (see `background_planes`)."""
    depth_nodes: np.ndarray | None = None
    masks: list[tuple[np.ndarray, float]] | None = None
    full: np.ndarray | None = None
    """Per-pixel level-0 maps where they were refined beyond the nodes (moved cameras)."""
    depth_px: np.ndarray | None = None
    ghosts: np.ndarray | None = None
    """Disoccluded pixels of a moved camera, filled from around them (see `layered_maps`)."""
    unsupported: np.ndarray | None = None
    """Pixels filled by stretching the plate with no fill behind them (None: none)."""
    back: np.ndarray | None = None
    """Per pixel, 0..1: how much of the plate's background layer shows (disocclusions)."""
    flatten: Flatten | None = None
    maps: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    hits: int = 0
    """How often a frame's background was asked for again (a still camera's: every frame)."""


class PlateRenderer:
    """Renders one shot's plate for any camera (see the module docstring)."""

    def __init__(self, production: Production, spec: ShotSpec, *,
                 parallax: Literal["sharp", "fast"] = "sharp"):
        """Load the set's plate, depth and masks once (`spec.plate` replaces them with a flat
        plate without depth or masks). `parallax` sets how moved cameras are warped: "sharp"
        resolves depth edges per pixel and fills disocclusions; "fast" (about half the cost)
        interpolates the depth-node maps, so edges are soft over a node (4 px at 640 wide)
        and thin objects may break up. Both are deterministic per camera."""
        self.parallax = parallax
        self.source = plate_source(spec, production)
        self.model = self.source.model
        self.assets = load_assets(self.source)
        self.plane_m = _subject_distance(spec, self.model)
        # very large plates splat from their first halving (a full-size cloud is costly)
        self._finest_cloud = 1 if self.model.width * self.model.height > CLOUD_PIXELS else 0
        self._views: OrderedDict[Camera, _View] = OrderedDict()

    # -- public -------------------------------------------------------------------------------

    def background(self, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
        """The view's RGB (H, W, 3) uint8 and depth (H, W) float32: camera-space z in metres,
        as `Camera.project` gives it (np.inf for sky, or everywhere when there is no depth)."""
        view = self._view(camera, hit=True)
        return view.rgb, self._full_depth(camera, view)

    def background_planes(self, camera: Camera) -> tuple[np.ndarray, Plane]:
        """`background`, with the depth as a `Plane`: a moving camera's new view computes its
        depth only inside the boxes the compositor asks for (a view seen again — a still
        camera's — keeps the whole plane)."""
        view = self._view(camera, hit=True)
        plane = Plane((camera.height, camera.width),
                      lambda box: self._depth_crop(camera, view, box),
                      lambda: self._full_depth(camera, view))
        if view.depth is not None or view.hits:
            plane.full()
        return view.rgb, plane

    def foreground(self, camera: Camera) -> list[tuple[np.ndarray, float]]:
        """Each foreground mask in the view: (alpha (H, W) float32 in [0, 1], depth), warped
        with the background's geometry. The depth is the camera-space z of the mask's anchor
        (its centroid at the bible's depth_m), comparable with `Camera.project` depths."""
        view = self._view(camera)
        if view.masks is None:
            level = self._levels(camera)[0][0]
            masks = []
            for mask in self.assets.masks:
                map1, map2 = self._maps(camera, view, level)
                alpha = cv2.remap(mask.levels[level], map1, map2, cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)
                if view.ghosts is not None:
                    alpha = fill_ghosts(alpha, view.ghosts)
                alpha = alpha.astype(np.float32) * np.float32(1 / 255)
                if view.back is not None:  # behind the prop: it no longer hides anything
                    alpha *= np.float32(1.0) - view.back
                alpha.setflags(write=False)
                masks.append((alpha, _mask_depth(camera, mask)))
            view.masks = masks
        return list(view.masks)

    def foreground_planes(self, camera: Camera) -> list[tuple[np.ndarray | Plane, float]]:
        """`foreground`, with each alpha as a `Plane` warped only inside the boxes asked for
        (whole arrays for a view seen again, or one whose disocclusions are filled from
        around them; the background layer's share is per pixel, so it is applied per box)."""
        view = self._view(camera)
        if view.masks is not None or view.ghosts is not None or view.hits:
            return self.foreground(camera)
        level = self._levels(camera)[0][0]
        planes: list[tuple[np.ndarray | Plane, float]] = []
        for index, mask in enumerate(self.assets.masks):
            planes.append((Plane(
                (camera.height, camera.width),
                lambda box, mask=mask: self._mask_crop(camera, view, mask, level, box),
                lambda index=index: self.foreground(camera)[index][0]),
                _mask_depth(camera, mask)))
        return planes

    def foreground_depths(self, camera: Camera) -> list[float]:
        """The camera-space depth of each foreground mask, without warping any: a frame whose
        characters are all nearer than every mask needs no mask (`foreground` is the cost)."""
        return [_mask_depth(camera, mask) for mask in self.assets.masks]

    def unsupported(self, camera: Camera) -> np.ndarray | None:
        """The view's plate pixels filled by stretching with no fill behind them (H, W bool),
        or None when every pixel shows the plate or a supported fill."""
        return self._view(camera).unsupported

    def at_set_camera(self, camera: Camera) -> bool:
        """Whether the camera stands at the set camera (an exact rotation/zoom view)."""
        return math.dist(camera.position, self.model.origin) < AT_SET_CAMERA_M

    # -- internals ----------------------------------------------------------------------------

    def _view(self, camera: Camera, hit: bool = False) -> _View:
        """The camera's view, rendered on first use. `hit`: a frame asks for its background
        (once per frame), so a view met again with `hit` is a still camera's; the masks and
        the stretched-fill mask of the same frame ask without it, so a moving camera's view
        keeps computing its masks per box only."""
        view = self._views.get(camera)
        if view is not None:
            self._views.move_to_end(camera)
            view.hits += hit
            return view
        view = self._render(camera)
        self._views[camera] = view
        while len(self._views) > CACHE_VIEWS:
            self._views.popitem(last=False)
        return view

    def _render(self, camera: Camera) -> _View:
        model, assets = self.model, self.assets
        depth_nodes = reach = stretched = back_nodes = flatten = None
        shift = math.dist(camera.position, model.origin)
        if shift < AT_SET_CAMERA_M:
            nodes = rotation_maps(model, camera)
        elif shift < SMALL_SHIFT_M and assets.ray_m is not None:
            # a handheld wobble or the first frame of a dolly: one surface at the plate's
            # typical distance is within a pixel or two, and costs no splat
            plane = surface_depth(model, camera, assets.typical_m, ROTATION_STEP)
            nodes, _ = parallax_maps(model, camera, plane, ROTATION_STEP)
        else:
            step = parallax_step(camera.width)
            if assets.ray_m is not None:
                back = assets.backfill()
                flatten = flatten_for(camera, model,
                                      FILL_SHARE * back.allowed_shift_m(model.focal),
                                      self.plane_m, back.jump)
                # about one plate sample per node in the far field (a sample covers the gap to
                # its neighbours where the surface is magnified); coarser for a large region
                ratio = model.focal / camera.focal_px * step
                first = min(max(self._finest_cloud, math.floor(math.log2(max(ratio, 1.0)))),
                            len(assets.levels) - 1)
                n_nodes = ((math.ceil(camera.width / step) + 2)
                           * (math.ceil(camera.height / step) + 2))
                depth_nodes, holes = splat_depth(model, camera, assets.cloud,
                                                 range(first, len(assets.levels)), step,
                                                 SPLAT_BUDGET * n_nodes, flatten)
                nodes, reach = parallax_maps(model, camera, depth_nodes, step)
                level = self._levels(camera)[0][0]
                behind = _unpad(assets.back_near[level], model) if back.band.any() else None
                nodes, depth_nodes, stretched, back_nodes = suppress_ghosts(
                    model, nodes, depth_nodes, reach, holes,
                    _unpad(assets.near_levels[level], model), level, flatten, behind)
            else:
                depth_nodes = surface_depth(model, camera, self.plane_m, step)
                nodes, _ = parallax_maps(model, camera, depth_nodes, step)
        view = _View(nodes)
        view.flatten = flatten
        if stretched is not None and stretched.any():
            view.unsupported = upsample(stretched.view(np.uint8), nodes.step, camera.width,
                                        camera.height, nearest=True) > 0
        if reach is not None and self.parallax == "sharp":
            assert depth_nodes is not None
            layered = layered_maps(model, camera, nodes, depth_nodes, reach,
                                   self._plate_distance, flatten)
            view.full = layered.maps
            view.depth_px = layered.depth
            ghosts = layered.ghosts
            if ghosts is not None and back_nodes is not None and layered.wanted is not None:
                behind_px = self._plate_distance(layered.maps, back=True)
                shows = ~nearer(behind_px, layered.wanted, flatten)
                backed = ghosts & shows
                if backed.any():  # softened a pixel: per-pixel layer picks can alternate
                    view.back = cv2.GaussianBlur(backed.astype(np.float32), (5, 5), 1.0)

                ghosts = ghosts & ~shows
                ghosts = ghosts if ghosts.any() else None
            view.ghosts = ghosts
            seen = self._plate_distance(layered.maps)
            if view.back is not None:
                seen = np.where(view.back > 0.5, self._plate_distance(layered.maps, back=True),
                                seen)
            view.depth_px = depth_of_seen(model, camera, layered.depth, seen)
        elif back_nodes is not None:
            view.back = upsample(back_nodes.astype(np.float32), nodes.step, camera.width,
                                 camera.height)
        view.rgb = self._sample_rgb(camera, view)
        if view.ghosts is not None:
            view.rgb = fill_ghosts(view.rgb, view.ghosts)
            view.unsupported = view.ghosts if view.unsupported is None else (
                view.unsupported | view.ghosts)
        if flatten is not None and depth_nodes is not None:
            # the depth of what each node shows (the plate's, or its background layer's)
            level = self._levels(camera)[0][0]
            seen = node_seen(model, nodes, _unpad(assets.ray_levels[level], model), level)
            if back_nodes is not None:
                behind = node_seen(model, nodes, _unpad(assets.back_near[level], model), level)
                seen = np.where(back_nodes, behind, seen)
            depth_nodes = depth_of_seen(model, camera, depth_nodes, seen, nodes.step)
        view.depth_nodes = depth_nodes
        view.rgb.setflags(write=False)
        return view

    def _full_depth(self, camera: Camera, view: _View) -> np.ndarray:
        """The view's whole depth plane, made once."""
        if view.depth is None:
            depth = self._depth(camera, view, view.depth_nodes)
            depth.setflags(write=False)
            view.depth = depth
        return view.depth

    def _depth_crop(self, camera: Camera, view: _View, box: Box) -> np.ndarray:
        """The depth plane inside a box, pixel for pixel what `_depth` gives there."""
        x0, y0, x1, y1 = box
        if self.assets.ray_m is None or x1 <= x0 or y1 <= y0:
            return np.full((y1 - y0, x1 - x0), np.inf, np.float32)
        if view.depth_nodes is not None:
            if view.depth_px is not None:
                return self._full_depth(camera, view)[y0:y1, x0:x1]
            step = view.nodes.step
            shift = step if step > 1 else 0  # as `upsample`: nearest node, first node at -step
            r0, r1 = (y0 + shift) // step, (y1 - 1 + shift) // step + 1
            c0, c1 = (x0 + shift) // step, (x1 - 1 + shift) // step + 1
            block = np.ascontiguousarray(view.depth_nodes[r0:r1, c0:c1], np.float32)
            big = cv2.resize(block, ((c1 - c0) * step, (r1 - r0) * step),
                             interpolation=cv2.INTER_NEAREST_EXACT)
            top, left = y0 + shift - r0 * step, x0 + shift - c0 * step
            depth = big[top:top + y1 - y0, left:left + x1 - x0]
            depth[depth >= SKY_M * 0.5] = np.inf
            return depth
        level = self._levels(camera)[0][0]
        map1, _ = self._maps(camera, view, level)
        ray = cv2.remap(self.assets.ray_levels[level], map1[y0:y1, x0:x1], None,
                        cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
        return ray * _cosines(camera.width, camera.height, camera.hfov_deg)[y0:y1, x0:x1]

    def _mask_crop(self, camera: Camera, view: _View, mask: _Mask, level: int, box: Box
                   ) -> np.ndarray:
        """A foreground mask's alpha inside a box, pixel for pixel what `foreground` gives
        there (views without disocclusions filled from around them).

        A box whose maps read only plate pixels outside the mask's support is zero without
        warping (a character's box beside the prop: about 40 % of the demo's crops): bilinear
        remapping reads pixels x..x+1, y..y+1 of each fixed-point map entry, clamped at the
        borders (BORDER_REPLICATE), so the map's range bounds everything the warp reads."""
        x0, y0, x1, y1 = box
        if x1 <= x0 or y1 <= y0:
            return np.zeros((max(0, y1 - y0), max(0, x1 - x0)), np.float32)
        support = mask.support(level)
        if support is None:
            return np.zeros((y1 - y0, x1 - x0), np.float32)
        map1, map2 = self._maps(camera, view, level)
        maps = map1[y0:y1, x0:x1]
        source = mask.levels[level]
        lo_x, hi_x = cv2.minMaxLoc(cv2.extractChannel(maps, 0))[:2]
        lo_y, hi_y = cv2.minMaxLoc(cv2.extractChannel(maps, 1))[:2]
        last_x, last_y = source.shape[1] - 1, source.shape[0] - 1
        if (min(max(hi_x + 1, 0), last_x) < support[0]
                or min(max(lo_x, 0), last_x) > support[2]
                or min(max(hi_y + 1, 0), last_y) < support[1]
                or min(max(lo_y, 0), last_y) > support[3]):
            return np.zeros((y1 - y0, x1 - x0), np.float32)
        alpha = cv2.remap(source, maps, map2[y0:y1, x0:x1], cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
        alpha = alpha.astype(np.float32) * np.float32(1 / 255)
        if view.back is not None:  # behind the prop: it no longer hides anything
            alpha *= np.float32(1.0) - view.back[y0:y1, x0:x1]
        return alpha

    def _plate_distance(self, maps: np.ndarray, back: bool = False) -> np.ndarray:
        """The plate's ray distance (sky capped at SKY_M) at level-0 maps (H, W, 2); `back`:
        the background layer's instead."""
        if self.model.kind == "360":
            maps = maps.copy()
            maps[..., 0] = np.mod(maps[..., 0], np.float32(self.model.width)) + np.float32(PAD)
        source = self.assets.back_near[0] if back else self.assets.ray_levels[0]
        seen = cv2.remap(source, maps, None, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
        return np.minimum(seen, np.float32(SKY_M))

    def _levels(self, camera: Camera) -> list[tuple[int, float]]:
        """(mip level, weight) pairs for the view's scale at its centre: the level nearest the
        view's scale, two blended in a narrow band between levels so zooms stay smooth."""
        ratio = self.model.focal / camera.focal_px  # plate pixels per view pixel
        top = len(self.assets.levels) - 1
        if ratio <= 1.0:
            return [(0, 1.0)]
        lam = math.log2(ratio)
        base = min(math.floor(lam), top)
        frac = lam - math.floor(lam)
        low, high = BLEND_BAND
        if base >= top or frac < low:
            return [(base, 1.0)]
        if frac >= high:
            return [(base + 1, 1.0)]
        weight = (frac - low) / (high - low)
        return [(base, 1.0 - weight), (base + 1, weight)]

    def _maps(self, camera: Camera, view: _View, level: int) -> tuple[np.ndarray, np.ndarray]:
        """The view's maps into a (padded) mip level, as fixed-point maps for cv2.remap."""
        if level not in view.maps:
            scale = 1.0 / 2 ** level
            if view.full is None:
                maps = view.nodes.full(camera.width, camera.height, scale, 0.5 * scale - 0.5)
            elif level == 0:
                maps = view.full
            else:
                maps = view.full * np.float32(scale) + np.float32(0.5 * scale - 0.5)
            if self.model.kind == "360":
                cols = self.assets.levels[level].shape[1] - 2 * PAD
                maps = maps.copy()
                maps[..., 0] = np.mod(maps[..., 0], np.float32(cols)) + np.float32(PAD)
            view.maps[level] = cv2.convertMaps(maps, None, cv2.CV_16SC2)
        return view.maps[level]

    def _sample_rgb(self, camera: Camera, view: _View) -> np.ndarray:
        out = self._sample(camera, view, self.assets.levels, None)
        if view.back is None:
            return out
        rows = np.flatnonzero(view.back.any(axis=1))
        cols = np.flatnonzero(view.back.any(axis=0))
        if not len(rows):
            return out
        box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
        x0, y0, x1, y1 = box
        behind = self._sample(camera, view, self.assets.back_levels, box)
        weight = view.back[y0:y1, x0:x1, None]
        out = out.copy()
        region = out[y0:y1, x0:x1].astype(np.float32)
        out[y0:y1, x0:x1] = (region + (behind - region) * weight + 0.5).astype(np.uint8)
        return out

    def _sample(self, camera: Camera, view: _View, sources: list[np.ndarray],
                box: Box | None) -> np.ndarray:
        """The view's colour from a mip pyramid (the plate's or its background layer's), in
        a box of the view or all of it."""
        levels = self._levels(camera)
        magnified = self.model.focal / camera.focal_px < MAGNIFIED
        interp = cv2.INTER_CUBIC if magnified else cv2.INTER_LINEAR
        out = None
        for level, weight in levels:
            map1, map2 = self._maps(camera, view, level)
            if box is not None:
                x0, y0, x1, y1 = box
                map1, map2 = map1[y0:y1, x0:x1], map2[y0:y1, x0:x1]
            sample = cv2.remap(sources[level], map1, map2, interp,
                               borderMode=cv2.BORDER_REPLICATE)
            if len(levels) == 1:
                return sample
            out = sample if out is None else cv2.addWeighted(out, 1.0 - weight, sample, weight,
                                                             0.0)
        assert out is not None
        return out

    def _depth(self, camera: Camera, view: _View, depth_nodes: np.ndarray | None
               ) -> np.ndarray:
        width, height = camera.width, camera.height
        if self.assets.ray_m is None:
            return np.full((height, width), np.inf, np.float32)
        if depth_nodes is not None:
            depth = (view.depth_px.copy() if view.depth_px is not None else upsample(
                depth_nodes, view.nodes.step, width, height, nearest=True))
            if np.shares_memory(depth, depth_nodes):
                depth = depth.copy()
            depth = depth.astype(np.float32, copy=False)
            depth[depth >= SKY_M * 0.5] = np.inf
            return depth
        level = self._levels(camera)[0][0]
        ray = self._nearest(camera, view, self.assets.ray_levels[level], level)
        return ray * _cosines(width, height, camera.hfov_deg)

    def _nearest(self, camera: Camera, view: _View, source: np.ndarray, level: int
                 ) -> np.ndarray:
        """Nearest-neighbour samples of a per-pixel plate array (a depth level) with the view's
        maps; reuses the colour's fixed-point maps, whose integer part picks the pixel whose
        footprint holds the sample point (within one plate pixel of exact rounding)."""
        map1, _ = self._maps(camera, view, level)
        return cv2.remap(source, map1, None, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)


def _mask_depth(camera: Camera, mask: object) -> float:
    """Camera-space z of a foreground mask's anchor (comparable with `Camera.project`)."""
    return float(camera.to_camera(mask.anchor)[2])  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=8)
def _cosines(width: int, height: int, hfov_deg: float) -> np.ndarray:
    """Per view pixel, camera-space z of a unit-length ray (1 / |(x, y, 1)|)."""
    f = (width / 2) / math.tan(math.radians(hfov_deg) / 2)
    x = (np.arange(width) + 0.5 - width / 2) / f
    y = (np.arange(height) + 0.5 - height / 2) / f
    out = 1.0 / np.sqrt(1.0 + x[None, :] ** 2 + y[:, None] ** 2)
    out = out.astype(np.float32)
    out.setflags(write=False)
    return out


def _subject_distance(spec: ShotSpec, model: PlateModel) -> float:
    """Distance of the shot's subjects from the set camera, in the plate's depth measure: the
    surface a plate without a depth map is assumed to lie on."""
    names = {n.lower() for n in spec.shot.subjects}
    chosen = [c for c in spec.characters if not names or c.name.lower() in names]
    chosen = chosen or list(spec.characters)
    if not chosen:
        return DEFAULT_PLANE_M
    points = [character_floor(c, 0.0)[:2] for c in chosen]
    x = sum(p[0] for p in points) / len(points)
    z = sum(p[1] for p in points) / len(points)
    if model.kind == "flat":
        distance = z
    elif model.kind == "wide":
        distance = math.hypot(x, z)
    else:
        distance = math.hypot(x, z, model.camera_height_m - 1.0)
    return max(distance, 1.0)


PROP_SAMPLE_PX = 6
"""Plate pixels between the samples of a foreground mask that framing projects."""


@dataclass(frozen=True)
class PropCloud:
    """A foreground mask as points: where framing sees a prop from any camera."""

    name: str
    offsets: np.ndarray
    """(N, 3) world offsets from the set camera of the mask's opaque samples."""
    depth_m: float
    anchor: np.ndarray


def prop_clouds(source: PlateSource) -> list[PropCloud]:
    """Every foreground mask of a plate as sampled points at their depth (the depth map's
    where there is one, else the mask's `depth_m`), for framing's face checks."""
    assets = load_assets(source)
    return _prop_clouds(assets, id(assets))


_PROP_CACHE: dict[int, list[PropCloud]] = {}


def _prop_clouds(assets: PlateAssets, key: int) -> list[PropCloud]:
    if key in _PROP_CACHE:
        return _PROP_CACHE[key]
    model = assets.model
    out = []
    for mask in assets.masks:
        alpha = _unpad(mask.levels[0], model)
        rows, cols = np.nonzero(alpha[::PROP_SAMPLE_PX, ::PROP_SAMPLE_PX] > 127)
        rows, cols = rows * PROP_SAMPLE_PX, cols * PROP_SAMPLE_PX
        u, v = cols + 0.5, rows + 0.5
        if assets.ray_m is not None:
            dist = np.minimum(_unpad(assets.ray_m, model)[rows, cols], np.float32(SKY_M))
        else:
            dist = mask.depth_m * model.ray_scale(u, v)
        offsets = model.directions(u, v) * np.asarray(dist, np.float64)[:, None]
        out.append(PropCloud(mask.name, offsets, mask.depth_m, mask.anchor))
    _PROP_CACHE.clear()  # one plate at a time is what framing asks about
    _PROP_CACHE[key] = out
    return out


def shot_flatten(source: PlateSource, spec: ShotSpec, camera: Camera) -> Flatten | None:
    """The `Flatten` the plate renderer applies for this shot's camera (None: full parallax
    or no depth map), so framing sees props where the render will draw them."""
    assets = load_assets(source)
    if assets.ray_m is None or math.dist(camera.position, source.model.origin) < SMALL_SHIFT_M:
        return None
    back = assets.backfill()
    return flatten_for(camera, source.model, FILL_SHARE * back.allowed_shift_m(
        source.model.focal), _subject_distance(spec, source.model), back.jump)


def prop_points(source: PlateSource, spec: ShotSpec, camera: Camera
                ) -> list[tuple[np.ndarray, float]]:
    """Per foreground mask, its sampled points (N, 3 world) where this shot's render draws
    them from `camera` (flattened parallax; a plate without depth is one surface at the
    subjects' distance), and the mask's camera-space depth (what the compositor compares
    characters with)."""
    model = source.model
    clouds = prop_clouds(source)
    if not clouds:
        return []
    flatten = shot_flatten(source, spec, camera)
    has_depth = load_assets(source).ray_m is not None
    origin = np.asarray(model.origin)
    out = []
    for cloud in clouds:
        offsets = cloud.offsets
        if len(offsets):
            dist = np.linalg.norm(offsets, axis=1)
            if not has_depth:
                scale = _subject_distance(spec, model) / np.maximum(dist, 1e-6) * (
                    dist / max(cloud.depth_m, 1e-6))
                offsets = offsets * scale[:, None]
            elif flatten is not None:
                offsets = offsets * (flatten.distances(dist.astype(np.float32))
                                     / np.maximum(dist, 1e-6))[:, None]
        out.append((origin + offsets, float(camera.to_camera(cloud.anchor)[2])))
    return out
