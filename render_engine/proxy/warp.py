"""Remap geometry for plates: from each view pixel to the plate pixel it shows.

Two cases, both producing float32 maps in plate *index* coordinates (pixel centres at integers,
as `cv2.remap` wants):
- a camera at the set camera's position (rotation and zoom only): an exact reprojection; the
  maps are smooth, so they are evaluated on a coarse node grid and upsampled bilinearly
  (sub-hundredth-of-a-pixel error), or per pixel where a 360 plate's seam or pole is in view;
- a camera moved away from it: 2.5D parallax. The plate's point cloud is splatted into a
  coarse depth grid of the view (z-buffered, magnified surfaces covered, holes filled from the
  farther neighbour as disocclusions show background, smoothed in log depth), then every view
  pixel is traced back through its depth to the plate. Nodes whose plate pixel shows something
  nearer than they should take a farther neighbour's map; at depth edges each pixel picks the
  near or far layer the plate agrees with (`layered_maps`); pixels left showing a copy of a
  foreground object are filled from around them (`fill_ghosts`). Without a depth map the plate
  is one surface at a fixed distance (a plane, cylinder or sphere matching its kind).

Parallax degrades gracefully: disocclusions sample the plate's background layer (the near side
of every depth edge inpainted from the far side, `render_engine.proxy.backfill`) where it shows
background, and a camera that moves farther than that layer's support gets its parallax
flattened toward a 2D move of the whole plate (`Flatten`, `flatten_for`): edges never open
wider than the fill behind them. Only what no layer supports is stretched, and it is reported.

Numbers here are per view and per camera only, so identical cameras give identical maps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from render_engine.proxy.camera import Camera
from render_engine.proxy.projection import SKY_M, PlateModel

ROTATION_STEP = 8
"""Node spacing (view pixels) of the coarse grid for rotation-only maps."""
PARALLAX_NODES = 160
"""Depth-grid nodes across the view for moved cameras (4 pixels apart at 640 wide): depth
edges are resolved to about a node, the rest of the map is exact per pixel."""
NEAR_M = 0.05
NEAR_CLIP_M = 0.3
"""Plate points nearer than this to a moved camera are left out of its view."""
SMOOTH_LOG_DEPTH = 0.1
"""Log-depth difference the node smoothing treats as one surface (about 10 %)."""
SURFACE_JUMP = 0.06
"""Relative depth step between neighbouring plate samples that still counts as one surface."""
MAX_FOOTPRINT = 6.0
"""Largest gap (nodes) a splatted sample may stretch over: magnification, not disocclusion."""
EDGE_SHARE = 0.35
"""Share of its step to a neighbour by which a node's inverse depth must bend to be an edge."""
EDGE_PX = 1.0
"""Parallax (pixels, for the camera's shift) by which a node's depth must break from its
neighbours' to count as a depth edge, refined per pixel."""
EDGE_AGREE = 0.06
"""Relative distance mismatch within which the plate agrees with a depth hypothesis."""
GHOST_RATIO = 0.9
"""A plate sample nearer than this share of the wanted distance is a ghost (and 0.25 m)."""
GHOST_MIN_M = 0.25
HOLE_GHOST_RATIO = 0.97
"""The same for nodes the splat left empty (disocclusions), held tighter."""
HOLE_GHOST_MIN_M = 0.05
PROBE_DEPTHS_M = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 40.0, SKY_M)


def node_grid(size: int, step: int) -> np.ndarray:
    """Index positions of a padded node grid along one axis: node i (from -1) sits at
    (i + 0.5) * step - 0.5, so `upsample` can use cv2.resize without edge clamping."""
    if step == 1:
        return np.arange(size, dtype=np.float64)
    count = math.ceil(size / step) + 2
    return (np.arange(count, dtype=np.float64) - 0.5) * step - 0.5


def upsample(nodes: np.ndarray, step: int, width: int, height: int,
             nearest: bool = False) -> np.ndarray:
    """Node values (from `node_grid`) → one value per view pixel, bilinear (or nearest)."""
    if step == 1:
        return np.ascontiguousarray(nodes[:height, :width])
    rows, cols = nodes.shape[:2]
    interp = cv2.INTER_NEAREST_EXACT if nearest else cv2.INTER_LINEAR
    big = cv2.resize(nodes, (cols * step, rows * step), interpolation=interp)
    return big[step:step + height, step:step + width]


def node_rays(camera: Camera, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World-space ray directions (x, y, 1 in camera terms, so a depth multiplies them into
    camera-space z) through the nodes of a view's node grid: three float32 planes."""
    xs, ys = node_grid(camera.width, step), node_grid(camera.height, step)
    f = camera.focal_px
    x = ((xs + 0.5 - camera.width / 2) / f).astype(np.float32)[None, :]
    y = (-(ys + 0.5 - camera.height / 2) / f).astype(np.float32)[:, None]
    rot = camera.rotation().astype(np.float32)
    return tuple(x * rot[0, k] + y * rot[1, k] + rot[2, k]  # type: ignore[return-value]
                 for k in range(3))


def plate_pixels(model: PlateModel, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray,
                 yaw_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """World offsets from the set camera → plate index coordinates (u, v).

    For wide and 360 plates the longitude is unwrapped around `yaw_deg`, so a view straddling
    a 360 plate's seam gets continuous coordinates (callers wrap them into the image).
    """
    if model.kind == "flat":
        u, v = model.pixels(dx, dy, dz)
        return u - 0.5, v - 0.5
    yaw = math.radians(yaw_deg)
    c, s = math.cos(yaw), math.sin(yaw)
    lx, lz = dx * c - dz * s, dx * s + dz * c  # rotate by -yaw about y
    u, v = model.pixels(lx, dy, lz)
    return u + model.focal * yaw - 0.5, v - 0.5


@dataclass(frozen=True)
class NodeMaps:
    """Plate index coordinates (u, v) at a view's node grid of spacing `step`."""

    u: np.ndarray
    v: np.ndarray
    step: int

    def full(self, width: int, height: int, scale: float = 1.0, shift: float = 0.0
             ) -> np.ndarray:
        """Per-pixel maps (H, W, 2) float32 (a CV_32FC2 map for cv2.remap), optionally as
        `coordinate * scale + shift` (a mip level)."""
        both = np.stack([self.u, self.v], axis=-1)
        if scale != 1.0 or shift:
            both = both * np.float32(scale) + np.float32(shift)
        return upsample(both.astype(np.float32), self.step, width, height)


@dataclass(frozen=True)
class Flatten:
    """Parallax kept within what the plate's fill supports: every plate point's distance `d`
    from the set camera is pulled toward the reference distance `1 / ref` in inverse depth,
    1/d' = ref + share x (1/d - ref). `share` 1 is the full 2.5D parallax, 0 a 2D move of the
    whole plate as one surface at the reference distance (the subjects'), so things at the
    subjects' distance stay registered with them whatever the share; depth edges open
    `share` times as wide."""

    share: float
    ref: float
    px_scale: float = 0.0
    """Focal length (px) x the camera's shift (m): flattened inverse depth x this is screen
    pixels of parallax, what the ghost tests measure mismatches in (see `nearer`)."""

    def distances(self, distance: np.ndarray) -> np.ndarray:
        """Flattened distances d' for plate distances d (float32; SKY_M stays far)."""
        d = np.minimum(distance, np.float32(SKY_M))
        return d / (np.float32(self.share) + np.float32((1.0 - self.share) * self.ref) * d)

    def unflatten(self, flat: np.ndarray) -> np.ndarray:
        """The plate distances d behind flattened distances d' (the inverse of
        `distances`; SKY_M where d' is at or past the flattened horizon)."""
        room = np.float32(1.0) - np.float32((1.0 - self.share) * self.ref) * flat
        return np.where(room > np.float32(1e-5),
                        np.float32(self.share) * flat / np.maximum(room, np.float32(1e-5)),
                        np.float32(SKY_M)).astype(np.float32)

    def points(self, offsets: np.ndarray) -> np.ndarray:
        """Flattened world offsets (3, ...) from the set camera (along the same rays)."""
        d = np.sqrt(offsets[0] * offsets[0] + offsets[1] * offsets[1]
                    + offsets[2] * offsets[2])
        d = np.maximum(d, np.float32(1e-6))
        return offsets * (self.distances(d) / d)[None]


def depth_of_seen(model: PlateModel, camera: Camera, depth: np.ndarray, seen: np.ndarray,
                  step: int = 1) -> np.ndarray:
    """Per pixel, the camera-space depth of the plate point a pixel actually shows: the point
    `seen` metres (the plate's real distance at the pixel's map) along the set-camera ray
    through the pixel's (possibly flattened) point at camera depth `depth`. Colour and depth
    then agree pixel for pixel, so an object's depth is never wider than the object (and a
    flattened depth never has to be inverted, which is ill-conditioned for small shares).
    `step`: the arrays are a node grid of that spacing (1: per pixel)."""
    rays = node_rays(camera, step)
    offset = [np.float32(camera.position[k] - model.origin[k]) for k in range(3)]
    rel = [depth * rays[k] + offset[k] for k in range(3)]
    norm = np.sqrt(rel[0] * rel[0] + rel[1] * rel[1] + rel[2] * rel[2])
    scale = np.minimum(seen, np.float32(SKY_M)) / np.maximum(norm, np.float32(1e-6))
    fwd = camera.rotation()[2].astype(np.float32)
    out = sum(fwd[k] * (rel[k] * scale - offset[k]) for k in range(3))
    out = np.where(seen >= SKY_M * 0.5, np.float32(SKY_M), np.maximum(out, np.float32(NEAR_M)))
    return out.astype(np.float32)


VIEW_OPENING = 0.02
"""Widest a depth edge may open in the view, as a share of its width: a camera close to the
subjects magnifies what the fill supports on the plate (see `flatten_for`)."""


def flatten_for(camera: Camera, model: PlateModel, allowed_m: float, ref_m: float,
                jump: float = 0.0) -> Flatten | None:
    """The `Flatten` of a camera moved from the set camera: its shift across the view (plus
    half its shift along the view, which opens edges off-centre) is eased into the allowed
    shift (x tanh), so parallax grows with the move up to what the fill supports and a 2D
    move takes over beyond; None when nothing needs flattening.

    The allowed shift is `allowed_m` (the plate's fill support) or, with the strongest edge's
    disparity step `jump` (1/m), less when the camera stands close to the reference distance
    `ref_m`: an edge's opening on screen grows as focal x shift x jump x (ref / z)^2 with z
    the camera's distance to that surface, and is held to VIEW_OPENING of the width (close-ups
    become a 2D move of a backdrop at the subjects' distance, as a long lens shows it)."""
    shift = np.asarray(camera.position) - np.asarray(model.origin)
    along = float(np.dot(shift, camera.forward))
    across = math.sqrt(max(0.0, float(np.dot(shift, shift)) - along * along))
    effective = across + 0.5 * abs(along)
    if jump > 0:
        z = _distance_to_sphere(shift, camera.forward, ref_m)
        magnify = (ref_m / max(z, 0.3)) ** 2
        allowed_m = min(allowed_m, VIEW_OPENING * camera.width
                        / (camera.focal_px * jump * magnify))
    if not math.isfinite(allowed_m) or effective <= 1e-9:
        return None
    share = allowed_m * math.tanh(effective / allowed_m) / effective
    if share > 0.999:
        return None
    return Flatten(share, 1.0 / max(ref_m, 0.1),
                   camera.focal_px * float(np.linalg.norm(shift)))


def _distance_to_sphere(offset: np.ndarray, forward: np.ndarray, radius: float) -> float:
    """How far along `forward` a point `offset` from the centre meets the sphere `radius`
    around it (the reference distance); the radius itself when the ray misses it."""
    b = float(np.dot(offset, forward))
    c = float(np.dot(offset, offset)) - radius * radius
    disc = b * b - c
    if disc < 0:
        return radius
    far = -b + math.sqrt(disc)
    return far if far > 0 else radius


def rotation_maps(model: PlateModel, camera: Camera) -> NodeMaps:
    """Exact plate index coordinates of every view pixel for a camera at the set camera."""
    for step in (ROTATION_STEP, 1):
        u, v = plate_pixels(model, *node_rays(camera, step), camera.yaw_deg)
        if step == 1 or _smooth(u, model):
            return NodeMaps(u.astype(np.float32), v.astype(np.float32), step)
    raise AssertionError("unreachable")


def _smooth(u: np.ndarray, model: PlateModel) -> bool:
    """False where a seam or pole makes the map jump between neighbouring nodes."""
    if model.kind == "flat":
        return True
    jump = max(float(np.abs(np.diff(u, axis=1)).max(initial=0.0)),
               float(np.abs(np.diff(u, axis=0)).max(initial=0.0)))
    return jump < model.width / 8


# --------------------------------------------------------------------------- parallax


def parallax_step(width: int) -> int:
    """Depth-node spacing (pixels) for a view width: about PARALLAX_NODES nodes across."""
    return max(2, round(width / PARALLAX_NODES))


def parallax_maps(model: PlateModel, camera: Camera, depth_nodes: np.ndarray, step: int
                  ) -> tuple[NodeMaps, np.ndarray]:
    """Plate index coordinates of the view's nodes, given each node's camera-space depth, and
    each node's distance from the set camera (what the plate should show there)."""
    rays = node_rays(camera, step)
    rel = [depth_nodes * rays[k] + np.float32(camera.position[k] - model.origin[k])
           for k in range(3)]
    u, v = plate_pixels(model, *rel, camera.yaw_deg)
    reach = np.sqrt(rel[0] * rel[0] + rel[1] * rel[1] + rel[2] * rel[2])
    return NodeMaps(u.astype(np.float32), v.astype(np.float32), step), reach


GHOST_PX = 4.0
"""With flattening, a plate sample nearer than wanted by this much parallax is a ghost (less
is interpolation between nodes, not a copy of a foreground object)."""
AGREE_PX = 1.5
"""With flattening, a layer hypothesis within this much parallax of the plate agrees."""


def nearer(seen: np.ndarray, want: np.ndarray, flatten: Flatten | None) -> np.ndarray:
    """Where the plate shows something clearly nearer than the point a pixel wants: real
    distances `seen` against wanted ones (flattened, when `flatten`). Without flattening by
    GHOST_RATIO and GHOST_MIN_M; with it by the screen parallax the mismatch would cause
    (GHOST_PX), which stays meaningful however small the share (real distances recovered
    from flattened ones are ill-conditioned there)."""
    if flatten is None:
        return (seen < np.float32(GHOST_RATIO) * want) & (want - seen > np.float32(GHOST_MIN_M))
    flat = flatten.distances(seen)
    gap = (np.float32(1.0) / flat - np.float32(1.0) / np.maximum(want, np.float32(1e-3)))
    return gap * np.float32(flatten.px_scale) > np.float32(GHOST_PX)


def agrees(seen: np.ndarray, want: np.ndarray, flatten: Flatten | None) -> np.ndarray:
    """Where the plate's real distance `seen` matches the wanted one (flattened, when
    `flatten`): within EDGE_AGREE of it, or within AGREE_PX of parallax."""
    if flatten is None:
        return np.abs(seen - want) <= np.float32(EDGE_AGREE) * want
    flat = flatten.distances(seen)
    gap = (np.float32(1.0) / flat - np.float32(1.0) / np.maximum(want, np.float32(1e-3)))
    return np.abs(gap) * np.float32(flatten.px_scale) <= np.float32(AGREE_PX)


def node_seen(model: PlateModel, nodes: NodeMaps, ray_level: np.ndarray, level: int
              ) -> np.ndarray:
    """The plate's ray distance (an unpadded level of it) at each node's map position."""
    scale = 2.0 ** level
    rows, cols = ray_level.shape
    c = np.rint((nodes.u + 0.5) / scale - 0.5).astype(np.int64)
    c = np.mod(c, cols) if model.kind == "360" else np.clip(c, 0, cols - 1)
    r = np.clip(np.rint((nodes.v + 0.5) / scale - 0.5).astype(np.int64), 0, rows - 1)
    return np.minimum(ray_level[r, c], np.float32(SKY_M))


def suppress_ghosts(model: PlateModel, nodes: NodeMaps, depth_nodes: np.ndarray,
                    reach: np.ndarray, holes: np.ndarray, ray_level: np.ndarray, level: int,
                    flatten: Flatten | None = None, back_level: np.ndarray | None = None
                    ) -> tuple[NodeMaps, np.ndarray, np.ndarray, np.ndarray | None]:
    """Disocclusions: where a node's plate pixel shows something nearer than the node's point
    (the plate saw a foreground object there, not what the moved camera uncovers), take the
    plate position and depth of the farthest good neighbour instead — the background is
    stretched into the hole rather than a ghost of the object repeated. Nodes that were splat
    holes are held to a tight tolerance, the others (depth from a real sample) to a loose one.
    With `back_level` (the plate's background layer, `render_engine.proxy.backfill`, at the
    same level), a bad node whose own plate position shows background there keeps its maps
    and is marked to sample that layer: the hole is filled from behind the object, not
    stretched. With `flatten` (the splat's), `reach` is flattened and the tests measure
    mismatches in screen parallax (`nearer`).
    Returns the maps, depths, the nodes still stretched (splat holes or ghosts no layer
    supports) and the nodes to sample from the background layer (None: none).
    """
    scale = 2.0 ** level
    rows, cols = ray_level.shape
    c = np.rint((nodes.u + 0.5) / scale - 0.5).astype(np.int64)
    c = np.mod(c, cols) if model.kind == "360" else np.clip(c, 0, cols - 1)
    r = np.clip(np.rint((nodes.v + 0.5) / scale - 0.5).astype(np.int64), 0, rows - 1)
    seen = np.minimum(ray_level[r, c], np.float32(SKY_M))
    if flatten is not None:
        bad = nearer(seen, reach, flatten)
    else:
        gap = reach - seen
        bad = ((seen < GHOST_RATIO * reach) & (gap > GHOST_MIN_M)) | (
            holes & (seen < HOLE_GHOST_RATIO * reach) & (gap > HOLE_GHOST_MIN_M))
    back = None
    if back_level is not None and bad.any():
        behind = np.minimum(back_level[r, c], np.float32(SKY_M))
        back = bad & ~nearer(behind, reach, flatten)
        bad = bad & ~back
        back = back if back.any() else None
    if not bad.any() or bad.all():
        return nodes, depth_nodes, bad, back
    index = np.arange(bad.size, dtype=np.float64).reshape(bad.shape)
    key = np.floor(np.minimum(depth_nodes, SKY_M) * 1000.0).astype(np.float64) * 2.0 ** 20 + index
    key = np.where(bad, -1.0, key)
    kernel = np.ones((3, 3), np.uint8)
    todo = bad
    for _ in range(32):
        key = np.where(todo, cv2.dilate(key, kernel), key)
        todo = key < 0
        if not todo.any():
            break
    where = np.flatnonzero(bad)  # only the bad nodes take a neighbour's values
    found = key.ravel()[where]
    pick = np.where(found < 0, where, np.mod(found, 2.0 ** 20).astype(np.int64))
    u, v, depth = nodes.u.copy(), nodes.v.copy(), depth_nodes.copy()
    for out, source in ((u, nodes.u), (v, nodes.v), (depth, depth_nodes)):
        out.ravel()[where] = source.ravel()[pick]
    return NodeMaps(u, v, nodes.step), depth, bad, back


@dataclass
class LayeredMaps:
    """Per-pixel level-0 maps (H, W, 2) and depths of a moved camera, and its disoccluded
    pixels."""

    maps: np.ndarray
    depth: np.ndarray
    ghosts: np.ndarray | None
    wanted: np.ndarray | None = None
    """Per pixel, the distance from the set camera the plate should show (where ghosts)."""


def layered_maps(model: PlateModel, camera: Camera, nodes: NodeMaps, depth_nodes: np.ndarray,
                 reach: np.ndarray, sample: Callable[[np.ndarray], np.ndarray],
                 flatten: Flatten | None = None) -> LayeredMaps:
    """Per-pixel maps for a moved camera, sharp at depth edges the node grid cannot resolve.

    Where neighbouring nodes straddle a depth edge (a silhouette, a thin object), each pixel
    has more candidates: the near layer (the nearest depth around, mapped as one surface), the
    interpolated map, and the far layer. It shows the first the plate agrees with (its
    distance at the mapped pixel matches), else the far layer. Far-layer pixels, and ordinary
    pixels, whose plate
    sample is clearly nearer than wanted are ghosts — a foreground object's copy in a region
    the plate never saw — and are returned to be filled. `sample(maps)` gives the plate's ray
    distance at level-0 map coordinates; with `flatten` (the splat's) the wanted distances
    are flattened ones and mismatches are measured in screen parallax (`nearer`, `agrees`).
    """

    width, height = camera.width, camera.height
    step = nodes.step
    kernel = np.ones((3, 3), np.uint8)
    maps = nodes.full(width, height)
    depth = upsample(depth_nodes, step, width, height, nearest=True)
    wanted = _upsample_distance(reach, step, width, height)
    seen = sample(maps)
    ghosts = nearer(seen, wanted, flatten)
    low = cv2.erode(depth_nodes, kernel)
    high = cv2.dilate(depth_nodes, kernel)
    edge_nodes = _depth_edges(depth_nodes, camera.focal_px * math.dist(camera.position,
                                                                       model.origin))
    if edge_nodes.any():
        edge = upsample(cv2.dilate(edge_nodes.view(np.uint8), kernel), step, width, height,
                        nearest=True) > 0
        near, near_reach = parallax_maps(model, camera, low, step)
        far, far_reach = parallax_maps(model, camera, high, step)
        near_maps, far_maps = near.full(width, height), far.full(width, height)
        near_want = _upsample_distance(near_reach, step, width, height)
        far_want = _upsample_distance(far_reach, step, width, height)
        near_ok = edge & agrees(sample(near_maps), near_want, flatten)
        base_ok = agrees(seen, wanted, flatten)
        use_far = edge & ~near_ok & ~base_ok
        far_seen = sample(far_maps)
        if flatten is None:
            far_ghost = use_far & (far_seen < np.float32(1.0 - EDGE_AGREE) * far_want) & (
                far_want - far_seen > GHOST_MIN_M)
        else:
            far_ghost = use_far & nearer(far_seen, far_want, flatten)
        maps = _pick(near_ok, near_maps, _pick(use_far, far_maps, maps))
        depth = np.where(near_ok, upsample(low, step, width, height, nearest=True),
                         np.where(use_far, upsample(high, step, width, height, nearest=True),
                                  depth))
        ghosts = np.where(edge, far_ghost, ghosts)
    if not ghosts.any():
        return LayeredMaps(maps, depth, None)
    if edge_nodes.any():
        wanted = np.where(use_far, far_want, np.where(near_ok, near_want, wanted))
    # bilinear samples next to a ghost pixel still pick up some of it
    ghosts = cv2.dilate(ghosts.view(np.uint8), kernel) > 0
    return LayeredMaps(maps, depth, ghosts, wanted)


def _depth_edges(depth_nodes: np.ndarray, parallax_scale: float) -> np.ndarray:
    """Nodes on a depth discontinuity: where inverse depth breaks from the straight line
    through its two neighbours (along rows or columns) by more than EDGE_PX of parallax and
    by a good share of its step to either neighbour. Inverse depth is affine across a plane,
    so floors and walls, however steep, are not edges, and splat noise on them is small next
    to their slope. `parallax_scale`: focal length (px) x the camera's shift from the set
    camera (m)."""
    inverse = np.float32(1.0) / depth_nodes
    padded = cv2.copyMakeBorder(inverse, 1, 1, 1, 1, cv2.BORDER_REPLICATE)
    edges = np.zeros(inverse.shape, bool)
    for before, after in ((padded[1:-1, :-2], padded[1:-1, 2:]),
                          (padded[:-2, 1:-1], padded[2:, 1:-1])):
        rise, fall = inverse - before, after - inverse
        bend = np.abs(fall - rise) * np.float32(0.5)
        slope = np.maximum(np.abs(rise), np.abs(fall))
        edges |= (bend > np.float32(EDGE_SHARE) * slope) & (
            bend * np.float32(parallax_scale) > EDGE_PX)
    return edges


def _upsample_distance(distance: np.ndarray, step: int, width: int, height: int
                       ) -> np.ndarray:
    """Node distances per pixel, interpolated in inverse distance (nearly affine across a
    plane, so a floor running to the horizon is not mistaken for a depth edge)."""
    inverse = upsample(np.float32(1.0) / np.maximum(distance, np.float32(1e-3)), step, width,
                       height)
    return np.float32(1.0) / np.maximum(inverse, np.float32(1.0 / SKY_M))


def _pick(mask: np.ndarray, chosen: np.ndarray, other: np.ndarray) -> np.ndarray:
    """np.where for (H, W, 2) float32 maps with an (H, W) mask, moving each pixel's two
    coordinates as one 64-bit word (much faster than broadcasting over the last axis)."""
    def words(maps: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(maps).view(np.int64)[..., 0]
    return np.where(mask, words(chosen), words(other))[..., None].view(np.float32)


def fill_ghosts(image: np.ndarray, ghosts: np.ndarray) -> np.ndarray:
    """`image` (uint8, H x W or H x W x C) with the `ghosts` pixels replaced by the blurred
    colour of the good pixels around them (push-pull from a 1/16 scale, coarser where a hole
    is wider), working inside the ghosts' bounding box."""
    rows = np.flatnonzero(ghosts.any(axis=1))
    cols = np.flatnonzero(ghosts.any(axis=0))
    pad = 24
    r0, r1 = max(0, rows[0] - pad), min(ghosts.shape[0], rows[-1] + pad + 1)
    c0, c1 = max(0, cols[0] - pad), min(ghosts.shape[1], cols[-1] + pad + 1)
    holes = np.ascontiguousarray(ghosts[r0:r1, c0:c1]).view(np.uint8)
    patch = np.ascontiguousarray(image[r0:r1, c0:c1])
    height, width = holes.shape
    keep = np.uint8(1) - holes
    masked = cv2.copyTo(patch, keep)
    todo = holes.copy()
    for factor in (16, 64, 256):
        size = (max(1, -(-width // factor)), max(1, -(-height // factor)))
        count = cv2.resize(keep.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        sums = cv2.resize(masked.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        mean = sums / np.maximum(count, 1e-6)[..., None] if patch.ndim == 3 else (
            sums / np.maximum(count, 1e-6))
        mean = cv2.resize(np.clip(mean + 0.5, 0, 255).astype(image.dtype), (width, height),
                          interpolation=cv2.INTER_LINEAR)
        reached = todo & (cv2.resize(count, (width, height), interpolation=cv2.INTER_NEAREST)
                          > 0.01).view(np.uint8)
        patch = cv2.copyTo(mean, reached, patch)
        todo = todo & (np.uint8(1) - reached)
        if not todo.any():
            break
    out = image.copy()
    out[r0:r1, c0:c1] = patch
    return out


def surface_depth(model: PlateModel, camera: Camera, distance_m: float, step: int
                  ) -> np.ndarray:
    """Node depths (camera z) where view rays meet one surface `distance_m` from the set camera
    in the plate's depth measure (flat: plane z = d; wide: cylinder; 360: sphere)."""
    rays = [r.astype(np.float64) for r in node_rays(camera, step)]
    o = np.asarray(camera.position) - np.asarray(model.origin)
    if model.kind == "flat":
        dz = rays[2]
        t = np.where(dz > 1e-6, (distance_m - o[2]) / np.maximum(dz, 1e-6), SKY_M)
    else:
        axes = [0, 2] if model.kind == "wide" else [0, 1, 2]
        a = sum(rays[k] ** 2 for k in axes)
        b = sum(rays[k] * o[k] for k in axes)
        c = float(sum(o[k] ** 2 for k in axes)) - distance_m ** 2
        disc = b * b - a * c
        t = np.where(disc > 0, (-b + np.sqrt(np.maximum(disc, 0))) / np.maximum(a, 1e-12), SKY_M)
    # t multiplies (x, y, 1) camera directions, so it is already the camera-space depth
    return np.clip(np.where(t > NEAR_M, t, SKY_M), NEAR_M, SKY_M).astype(np.float32)


def splat_depth(model: PlateModel, camera: Camera, cloud: Callable[[int], np.ndarray],
                levels: range, step: int, budget: int, flatten: Flatten | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Node depths (camera z) of the plate's point cloud seen from `camera`.

    `cloud(level)` holds, per plate pixel of that mip level, the world offset of its surface
    point from the set camera, as three planes (3, rows, cols). Only the part of the plate the
    view can see is splatted, coarse enough that at most about `budget` points are used (each
    point on its four nearest nodes, nearest depth wins); holes are filled from the farther
    neighbour. `levels`: the finest level to try first, up to the coarsest available.
    `flatten` pulls the points toward the reference distance first (see `Flatten`).
    Returns the depths and which nodes were holes (disocclusions).
    """
    xs, ys = node_grid(camera.width, step), node_grid(camera.height, step)
    nodes = np.full((len(ys), len(xs)), np.inf, np.float32)
    box = _region(model, camera)
    if box is None:
        return fill_holes(nodes), np.ones(nodes.shape, bool)
    for level in levels:
        shape = (math.ceil(model.height / 2 ** level), math.ceil(model.width / 2 ** level))
        rows, cols = _box_indices(box, level, shape, model.kind == "360")
        if len(rows) * len(cols) <= budget:
            break
    points_l = cloud(level)
    if not len(rows) or not len(cols):
        return fill_holes(nodes), np.ones(nodes.shape, bool)
    block = points_l[:, rows[0]:rows[-1] + 1]
    if model.kind == "360":
        block = np.take(block, cols, axis=2, mode="wrap")
    else:
        block = block[:, :, cols[0]:cols[-1] + 1]
    surface = None
    if flatten is not None:
        block = flatten.points(block)
        # one-surface tests on the distance from the set camera, which flattening squeezes
        # by about its share (camera depths are not: a close camera magnifies them)
        surface = np.sqrt(block[0] * block[0] + block[1] * block[1] + block[2] * block[2])
    px, py, pz = (block[k] - np.float32(camera.position[k] - model.origin[k]) for k in range(3))
    rot = camera.rotation().astype(np.float32)
    cx = rot[0, 0] * px + rot[0, 1] * py + rot[0, 2] * pz
    cy = rot[1, 0] * px + rot[1, 1] * py + rot[1, 2] * pz
    z = rot[2, 0] * px + rot[2, 1] * py + rot[2, 2] * pz
    inv = np.float32(camera.focal_px / step) / np.maximum(z, np.float32(NEAR_M))
    shift = 0.5 if step > 1 else -0.5
    gx = cx * inv + np.float32(camera.width / 2 / step + shift)
    gy = cy * -inv + np.float32(camera.height / 2 / step + shift)
    # a camera standing in a prop (a close-up over a table) does not see it: nearer than
    # NEAR_CLIP_M the splat would magnify a few samples into stripes
    gx = np.where(z > NEAR_CLIP_M, gx, np.float32(-1e4))
    # flattening squeezes log-depth differences near the reference distance by its share:
    # the one-surface tolerances shrink with it, so a flattened edge is still an edge
    share = 1.0 if flatten is None else max(flatten.share, 0.02)
    _splat(nodes, gx, gy, z, SURFACE_JUMP * share, surface)
    holes = ~np.isfinite(nodes)
    return smooth_depth(fill_holes(nodes), SMOOTH_LOG_DEPTH * share), holes


def smooth_depth(depth_nodes: np.ndarray, tolerance: float = SMOOTH_LOG_DEPTH) -> np.ndarray:
    """Edge-preserving smoothing of node depths (bilateral, in log depth; `tolerance` is the
    log-depth step treated as one surface): a magnified surface splatted from sparser plate
    samples comes out in steps, which would read as edges."""
    log_depth = np.log(np.maximum(depth_nodes, np.float32(NEAR_M))).astype(np.float32)
    smooth = cv2.bilateralFilter(log_depth, 5, tolerance, 3)
    return np.exp(smooth).astype(np.float32)


def _spacing(g: np.ndarray, z: np.ndarray, jump: float = SURFACE_JUMP) -> np.ndarray:
    """Per point, how far (in nodes) its projection is from its right and lower neighbours on
    the same surface (neighbours whose `z` — camera depth or set-camera distance — differs by
    more than `jump` of the nearer do not count)."""
    out = np.zeros_like(g)
    for axis in (0, 1):
        step = np.abs(np.diff(g, axis=axis))
        zz = np.diff(z, axis=axis)
        near = np.minimum(z[:-1] if axis == 0 else z[:, :-1], z[1:] if axis == 0 else z[:, 1:])
        step = np.where(np.abs(zz) < jump * near, step, 0.0)
        if axis == 0:
            out[:-1] = np.maximum(out[:-1], step)
        else:
            out[:, :-1] = np.maximum(out[:, :-1], step)
    return np.minimum(out, MAX_FOOTPRINT)


def _splat(nodes: np.ndarray, gx: np.ndarray, gy: np.ndarray, z: np.ndarray,
           jump: float = SURFACE_JUMP, surface: np.ndarray | None = None) -> None:
    """z-buffer points at node coordinates (gx, gy) into `nodes` (min wins). Each covers the
    nodes around it and, where the surface is magnified, the gap to its neighbours, so
    continuous surfaces leave no holes (only disocclusions do)."""
    height, width = nodes.shape
    same = z if surface is None else surface
    sx = _spacing(gx, same, jump) * 0.5
    sy = _spacing(gy, same, jump) * 0.5
    x_lo = np.floor(np.clip(gx - sx, -8, width + 8)).astype(np.int32)
    y_lo = np.floor(np.clip(gy - sy, -8, height + 8)).astype(np.int32)
    nx = np.floor(np.clip(gx + sx, -8, width + 8)).astype(np.int32) - x_lo + 2
    ny = np.floor(np.clip(gy + sy, -8, height + 8)).astype(np.int32) - y_lo + 2
    seen = (x_lo + nx > 0) & (x_lo < width) & (y_lo + ny > 0) & (y_lo < height)
    x_lo, y_lo, nx, ny, z = x_lo[seen], y_lo[seen], nx[seen], ny[seen], z[seen]
    flat = nodes.ravel()
    big = (nx > 2) | (ny > 2)
    small = ~big  # the common 2 x 2 footprint: four shifted copies of the points
    xs, ys, zs = x_lo[small], y_lo[small], z[small]
    if len(zs):
        index_parts, z_parts = [], []
        for ky in range(2):
            yy = ys + ky
            inside = (yy >= 0) & (yy < height)
            base = yy * width + xs
            for kx in range(2):
                xx = xs + kx
                ok = inside & (xx >= 0) & (xx < width)
                index_parts.append(base[ok] + kx)
                z_parts.append(zs[ok])
        np.minimum.at(flat, np.concatenate(index_parts), np.concatenate(z_parts))
    if big.any():
        index, depth = _footprint_cells(x_lo[big], y_lo[big], nx[big], ny[big], z[big],
                                        width, height)
        np.minimum.at(flat, index, depth)


def _footprint_cells(xs: np.ndarray, ys: np.ndarray, cx: np.ndarray, cy: np.ndarray,
                     zs: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The flat node index and depth of every node inside the nodes grid that each point's
    footprint (cx by cy nodes from (xs, ys)) covers, enumerated at once: a loop over the
    footprint's rows and columns would cost a dozen numpy calls per cell of the largest one.
    The z-buffer takes the minimum per node, so the order of the cells does not matter."""
    counts = cx.astype(np.int64) * cy
    point = np.repeat(np.arange(len(zs)), counts)
    first = np.cumsum(counts) - counts
    ky, kx = np.divmod(np.arange(int(counts.sum())) - first[point], cx[point])
    yy, xx = ys[point] + ky, xs[point] + kx
    ok = (yy >= 0) & (yy < height) & (xx >= 0) & (xx < width)
    return (yy * width + xx)[ok], zs[point][ok]


def fill_holes(nodes: np.ndarray, rounds: int = 24) -> np.ndarray:
    """Fill inf entries with the largest (farthest) finite neighbour, growing inwards;
    what is still empty after `rounds` becomes sky."""
    holes = ~np.isfinite(nodes)
    if not holes.any():
        return nodes
    values = np.where(holes, 0.0, nodes).astype(np.float32)
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(rounds):
        grown = cv2.dilate(values, kernel)
        values = np.where(holes, grown, values)
        holes = values <= 0
        if not holes.any():
            break
    return np.where(holes, np.float32(SKY_M), values)


def _region(model: PlateModel, camera: Camera) -> tuple[float, float, float, float] | None:
    """Bounds (u0, u1, v0, v1, plate index coordinates) of the plate region the view can see:
    where its border rays land at a range of depths, plus a margin."""
    w, h = camera.width, camera.height
    t = np.linspace(0.0, 1.0, 9)
    u = np.concatenate([t * w, t * w, np.zeros_like(t), np.full_like(t, w), [w / 2]])
    v = np.concatenate([np.zeros_like(t), np.full_like(t, h), t * h, t * h, [h / 2]])
    rays = camera.ray(u, v)
    offset = np.asarray(camera.position) - np.asarray(model.origin)
    rel = offset + rays[None] * np.asarray(PROBE_DEPTHS_M)[:, None, None]
    if model.kind == "flat":
        rel = rel[rel[..., 2] > 1e-3]
        if not len(rel):
            return None
    pu, pv = plate_pixels(model, rel[..., 0], rel[..., 1], rel[..., 2], camera.yaw_deg)
    margin = 0.03 * model.width
    return (float(np.min(pu)) - margin, float(np.max(pu)) + margin,
            float(np.min(pv)) - margin, float(np.max(pv)) + margin)


def _box_indices(box: tuple[float, float, float, float], level: int, shape: tuple[int, int],
                 wrap: bool) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of mip `level` inside a full-resolution box."""
    scale = 2.0 ** level
    rows_n, cols_n = shape
    c0 = math.floor((box[0] + 0.5) / scale - 0.5)
    c1 = math.ceil((box[1] + 0.5) / scale - 0.5) + 1
    r0 = max(0, math.floor((box[2] + 0.5) / scale - 0.5))
    r1 = min(rows_n, math.ceil((box[3] + 0.5) / scale - 0.5) + 1)
    if wrap:
        cols = np.arange(c0, min(c1, c0 + cols_n)) % cols_n
    else:
        cols = np.arange(max(0, c0), min(cols_n, c1))
    return np.arange(r0, max(r0, r1)), cols
