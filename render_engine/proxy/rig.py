"""Rigged cut-outs: a sheet view split into body parts with pivots, from its silhouette.

A view (front, three_quarter, side, back and their sit_* versions) is rigged by fitting the
procedural COCO-18 figure (`render_engine.pose.openpose.standing_pose`, the same figure the
placeholder and the final's control video draw) to the view: its feet on the view's ground
anchor, as tall as the sheet's scale says, turned as the view is turned; a sit_* view's
seated figure is stretched on each axis so its eyes land on the painted eyes (or its head on
the head top) and its feet on the ground anchor. Every pixel of the view's box is then given
to the part whose bone it is nearest (distances divided by each part's thickness; the torso
is a quad inside the shoulders down to the hips; the head is everything above the neck; the
hand hangs on beyond the wrist; below the ankle the shin becomes the foot). That split is
only the prior: in the band round each boundary where a pixel's two nearest parts are nearly
as near, the painting decides — the pixels are flooded from the confidently split ones over
the view's colours (marker-controlled watershed), so a sleeve ends at its painted outline and
a badge on the chest stays with the chest (`followed_boundaries`). Each part's mask
is grown round the joint into the jointed part drawn before it and feathered there, so when a
joint bends the part on top still covers the joint and nothing tears — the overlapping-layer
construction of 2D cut-out animation (Moho / Spine style bone rigs; Igarashi et al.,
"As-Rigid-As-Possible Shape Manipulation", SIGGRAPH 2005, motivate keeping parts rigid).
Under everything lies the torso's underlay (`UNDERLAY`): the arms' pixels inside the body's
extent and the neck under the head, coloured by inpainting from the torso's own cloth
(`torso_underlay`, `painted_under`), moving as the torso does — so an arm swung away or a
head turned uncovers shirt, not background; at rest the parts drawn over it hide it.
Views taller than `WORK_ROWS` are split at a pyramid level of that size.

The joints the rig was fitted with are written, on request, as `VIEW.rig.toml` beside the view
image (`write_rig_file`, or `python -m render_engine.proxy.rig PRODUCTION CAST_NAME`). A rig
file wins over the automatic rig; an automatic one made for other image content or by
another `RIG_VERSION` is ignored (its `image_sha256` or `version` no longer matches) unless
the user set `edited = true`. Malformed files
are reported with the file and the field to fix.
"""

from __future__ import annotations

import collections
import hashlib
import math
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from render_engine.atomic import write_text_atomic
from render_engine.errors import SoloreelError
from render_engine.pose.openpose import KEYPOINT_NAMES, standing_pose

RIG_VERSION = 2
"""Bumped when the automatic rig's part split changes (2: boundaries follow the painting's
edges; the torso is painted under the arms and the neck); an automatic rig file of another
version is ignored, an edited one is kept."""
MID_HIP, HEAD = 18, 19
"""Extra joint indices: the hips' midpoint (the torso's pivot) and the head's centre."""
VIEW_FACING = {"front": 180.0, "three_quarter": 225.0, "side": 270.0, "back": 0.0}
"""`standing_pose` facing of each view as painted (turned views face screen-left)."""
HEAD_POINTS = (0, 14, 15, 16, 17)


@dataclass(frozen=True)
class PartSpec:
    """A body part: the joint it turns about, the joint its bone points to, how thick it is
    (in standing heights), and the part it hangs from."""

    pivot: int
    end: int
    radius: float
    parent: str | None
    rigid: bool = False
    """Rigid parts turn with their bone but are not stretched along it (head, hands)."""
    flat: bool = False
    """Flat parts (feet) follow their pivot joint without turning: a foot stays on the floor."""


PARTS: dict[str, PartSpec] = {
    "torso": PartSpec(MID_HIP, 1, 0.035, None),
    "head": PartSpec(1, HEAD, 0.08, "torso", rigid=True),
    "r_upper_arm": PartSpec(2, 3, 0.035, "torso"),
    "r_lower_arm": PartSpec(3, 4, 0.03, "r_upper_arm"),
    "r_hand": PartSpec(4, 4, 0.03, "r_lower_arm", rigid=True),
    "l_upper_arm": PartSpec(5, 6, 0.035, "torso"),
    "l_lower_arm": PartSpec(6, 7, 0.03, "l_upper_arm"),
    "l_hand": PartSpec(7, 7, 0.03, "l_lower_arm", rigid=True),
    "r_upper_leg": PartSpec(8, 9, 0.06, "torso"),
    "r_lower_leg": PartSpec(9, 10, 0.045, "r_upper_leg"),
    "r_foot": PartSpec(10, 10, 0.04, "r_lower_leg", flat=True),
    "l_upper_leg": PartSpec(11, 12, 0.06, "torso"),
    "l_lower_leg": PartSpec(12, 13, 0.045, "l_upper_leg"),
    "l_foot": PartSpec(13, 13, 0.04, "l_lower_leg", flat=True),
    "torso_under": PartSpec(MID_HIP, 1, 0.035, None),
}
"""The parts of a rig, parents before children. `torso_under` (`UNDERLAY`) is no painted
part: the torso's colours painted under the arms and the neck, drawn behind everything and
moving as the torso does, so a limb swung away uncovers shirt, not background."""
UNDERLAY = "torso_under"
HAND_OF = {"r_hand": "r_lower_arm", "l_hand": "l_lower_arm"}
FOOT_OF = {"r_foot": "r_lower_leg", "l_foot": "l_lower_leg"}
HAND_REACH = 0.75
"""A hand reaches this share of the forearm beyond the wrist."""
TORSO_WIDTH = 0.75
"""The torso's quad is this share of the shoulders' width, from the neck to the hips."""
WORK_ROWS = 512
"""Views are split into parts at no more than this many rows (a pyramid level)."""
OVERLAP = 0.025
"""How far (standing heights) a part's mask reaches into the parts jointed to it."""
AMBIGUOUS_RATIO = 1.5
AMBIGUOUS_MARGIN = 0.25
"""A pixel whose second-nearest part is within `AMBIGUOUS_RATIO` times the nearest part's
distance plus `AMBIGUOUS_MARGIN` (distances in part thicknesses) lies in a boundary band: the
painting's edges decide there which of the two it belongs to."""
UNDER_NECK = 0.025
"""How far above the neck line (standing heights) the torso is painted under the head."""
UNDER_HALF_WIDTH = 0.08
"""The torso is painted under the arms at most this far (standing heights) from the spine, or
half the shoulders' width (at the neck) and `UNDER_HIPS` times half the hips' width (at the
hips) where those are more."""
UNDER_HIPS = 1.4
UNDER_MAX_HALF_WIDTH = 0.14
"""The torso's own painted pixels widen that band up to this far from the spine (standing
heights): a sheet drawn broader than the fitted figure keeps its painted shoulders."""
INPAINT_RADIUS = 3
"""Neighbourhood (pixels) of the Telea inpainting that colours the torso under the arms."""
UNDER_MARGIN = 0.04
"""The underlay's layer reaches this far (standing heights) round it: torso cloth to inpaint
its colours from."""
INPAINT_ROWS = 160
"""The underlay is inpainted at no more than this size (pixels, its window's longer side)
and scaled up: the cloth's colours vary slowly, the inpainting's cost grows with area."""


@dataclass
class Rig:
    """A rigged view: joints (20, 2) in view pixel centres, and each part's feathered mask
    (uint8, cropped to its box at level 0) in back-to-front drawing order."""

    joints: np.ndarray
    height_px: float
    order: list[str]
    masks: dict[str, np.ndarray]
    boxes: dict[str, tuple[int, int, int, int]]
    """x0, y0, x1, y1 (exclusive) of each part's mask in pixels of the `work_level`."""
    labels: np.ndarray
    """The hard part index (into `PARTS`, -1 outside the box) of every `work_level` pixel."""
    work_level: int = 0
    """The pyramid level the view was split at (a big view is split at a smaller size)."""
    source: str = "auto"
    """"auto" or the rig file it was read from."""
    underlays: dict[str, np.ndarray] = field(default_factory=dict)
    """Underlay part (`UNDERLAY`) → uint8 mask, in that part's box, of the pixels its colours
    are inpainted from (the torso's own)."""
    _unders: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    _levels: dict[int, dict[str, tuple[tuple[int, int, int, int], np.ndarray]]] = field(
        default_factory=dict)
    _layers: list[tuple[np.ndarray, int, dict[str, np.ndarray]]] = field(default_factory=list)

    def layers(self, level: int, source: np.ndarray) -> dict[str, np.ndarray]:
        """Each part of a level image `source` (straight RGBA) as a premultiplied 8-bit
        RGBA crop with its mask applied (and its underlay painted in); the last few sources
        are kept (a recoloured level is the same array frame after frame)."""
        for kept, kept_level, found in self._layers:
            if kept is source and kept_level == level:
                return found
        made: dict[str, np.ndarray] = {}
        unders = self.under_level(level, source.shape[:2])
        for name, ((x0, y0, x1, y1), mask) in self.level(level, source.shape[:2]).items():
            crop = source[y0:y1, x0:x1]
            if name in unders:
                crop = painted_under(crop, unders[name], mask)
            alpha = crop[..., 3].astype(np.float32) * np.float32(1.0 / 255.0) * mask
            layer = np.empty(crop.shape, np.float32)
            layer[..., :3] = crop[..., :3] * alpha[..., None]
            layer[..., 3] = alpha * np.float32(255.0)
            made[name] = np.clip(layer + np.float32(0.5), 0, 255).astype(np.uint8)
        self._layers.insert(0, (source, level, made))
        del self._layers[4:]
        return made

    def level(self, level: int, shape: tuple[int, int]
              ) -> dict[str, tuple[tuple[int, int, int, int], np.ndarray]]:
        """Each part's (box, float32 mask) at pyramid level `level` (image `shape` h, w):
        boxes snapped outwards to the level's grid, masks area-averaged."""
        found = self._levels.get(level)
        if found is not None:
            return found
        result = {}
        for name in self.order:
            made = self._resampled(self.boxes[name], self.masks[name], level, shape)
            if made is not None:
                result[name] = made
        self._levels[level] = result
        return result

    def under_level(self, level: int, shape: tuple[int, int]) -> dict[str, np.ndarray]:
        """Each underlay's source mask (float32, 0..1) at pyramid level `level`, in its part's
        level box."""
        found = self._unders.get(level)
        if found is not None:
            return found
        result = {}
        for name, under in self.underlays.items():
            made = self._resampled(self.boxes[name], under, level, shape)
            if made is not None:
                result[name] = made[1]
        self._unders[level] = result
        return result

    def _resampled(self, box: tuple[int, int, int, int], mask8: np.ndarray, level: int,
                   shape: tuple[int, int]
                   ) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
        """A work-level uint8 mask in `box` at pyramid level `level`: (level box, float32)."""
        x0, y0, x1, y1 = box
        up = 2 ** max(0, self.work_level - level)  # the rig was split at a smaller size
        factor = 2 ** max(0, level - self.work_level)
        mask = mask8.astype(np.float32) * np.float32(1.0 / 255.0)
        if up > 1:
            lx0, ly0 = x0 * up, y0 * up
            lx1, ly1 = min(shape[1], x1 * up), min(shape[0], y1 * up)
            if lx1 <= lx0 or ly1 <= ly0:
                return None
            full = cv2.resize(mask, (mask.shape[1] * up, mask.shape[0] * up),
                              interpolation=cv2.INTER_LINEAR)[:ly1 - ly0, :lx1 - lx0]
            return (lx0, ly0, lx1, ly1), np.ascontiguousarray(full)
        lx0, ly0 = x0 // factor, y0 // factor
        lx1 = min(shape[1], -(-x1 // factor))
        ly1 = min(shape[0], -(-y1 // factor))
        if lx1 <= lx0 or ly1 <= ly0:
            return None
        full = np.zeros(((ly1 - ly0) * factor, (lx1 - lx0) * factor), np.float32)
        oy, ox = y0 - ly0 * factor, x0 - lx0 * factor
        hh = min(mask.shape[0], full.shape[0] - oy)
        ww = min(mask.shape[1], full.shape[1] - ox)
        full[oy:oy + hh, ox:ox + ww] = mask[:hh, :ww]
        if factor > 1:
            full = cv2.resize(full, (lx1 - lx0, ly1 - ly0), interpolation=cv2.INTER_AREA)
        return (lx0, ly0, lx1, ly1), full


def painted_under(crop: np.ndarray, mask: np.ndarray, under: np.ndarray) -> np.ndarray:
    """A straight RGBA `crop` with the pixels of the underlay `under` recoloured from the
    pixels of the part its `mask` holds (outside the underlay): Telea's
    fast-marching inpainting (A. Telea, "An Image Inpainting Technique Based on the Fast
    Marching Method", Journal of Graphics Tools 9(1), 2004; `cv2.inpaint`) with every other
    pixel counted unknown, so the arm painted over the shirt is replaced by shirt, never by
    the arm's or the background's colours. The crop is the underlay's box, which reaches
    `UNDER_MARGIN` round it into the torso."""
    fill = under > 0.0
    if not fill.any():
        return crop
    known = (mask >= 0.5) & ~fill & (crop[..., 3] >= 250)
    if not known.any():
        return crop
    size = (crop.shape[1], crop.shape[0])
    factor = max(1, math.ceil(max(size) / INPAINT_ROWS))  # cloth colours vary slowly
    rgb = np.ascontiguousarray(crop[..., :3])
    if factor > 1:
        small = (max(1, size[0] // factor), max(1, size[1] // factor))
        rgb = cv2.resize(rgb, small, interpolation=cv2.INTER_AREA)
        known = cv2.resize(known.astype(np.float32), small, interpolation=cv2.INTER_AREA) > 0.99
        if not known.any():
            return crop
    painted = cv2.inpaint(rgb, (~known).astype(np.uint8), INPAINT_RADIUS, cv2.INPAINT_TELEA)
    if factor > 1:
        painted = cv2.resize(painted, size, interpolation=cv2.INTER_LINEAR)
    out = crop.copy()
    out[..., :3][fill] = painted[fill]
    return out


def view_kind(view_name: str) -> tuple[str, bool]:
    """(turn, seated) of a view name: "sit_three_quarter" → ("three_quarter", True)."""
    seated = view_name.startswith("sit_")
    turn = view_name[4:] if seated else view_name
    return (turn if turn in VIEW_FACING else "front"), seated


def fitted_joints(view_name: str, ground: tuple[float, float], standing_px: float,
                  eyes: tuple[float, float] | None, head_top: tuple[float, float]
                  ) -> np.ndarray:
    """The procedural figure fitted to a view: (20, 2) joints in view pixel centres.

    Feet on the ground anchor, `standing_px` tall (the sheet's scale times the character's
    height), turned like the view; a seated view's figure sits and is shifted so its eyes land
    on the painted eyes (or its head on the head top when the view has no eyes)."""
    turn, seated = view_kind(view_name)
    figure = standing_pose(ground, standing_px, VIEW_FACING[turn], 0.0,
                           "sit" if seated else "stand", distance=50.0, camera_up=0.85)
    if seated:  # eyes (or head top) and feet on the painted ones, each axis scaled apart
        if eyes is not None and turn != "back":
            face, painted = figure[14:16, :2].mean(axis=0), np.asarray(eyes, float)
        else:
            face = np.array([figure[1, 0], figure[HEAD_POINTS, 1].min() - 0.07 * standing_px])
            painted = np.asarray(head_top, float)
        floor, feet = np.asarray(ground, float), np.asarray(ground, float)
        span_y = floor[1] - face[1]
        sy = (feet[1] - painted[1]) / span_y if span_y > 1e-6 else 1.0
        sy = min(max(sy, 0.6), 1.6)
        span_x = floor[0] - face[0]
        sx = sy
        if abs(span_x) > 0.05 * standing_px:
            sx = min(max((feet[0] - painted[0]) / span_x, 0.6 * sy), 1.6 * sy)
        figure[:, :2] = painted + (figure[:, :2] - face) * (sx, sy)
    joints = np.zeros((20, 2))
    joints[:18] = figure[:, :2]
    joints[MID_HIP] = figure[[8, 11], :2].mean(axis=0)
    joints[HEAD] = figure[list(HEAD_POINTS), :2].mean(axis=0)
    return joints


FAR_ARM_SHARE = 0.6
"""A three-quarter view's far arm shows as a strip at the body's edge: its parts are this much
thinner, so the chest beside it (a badge at the edge) stays with the torso."""
ARM_EDGE_MAX = 0.12
"""How far (standing heights) the silhouette may pull a fitted arm joint outwards."""
ARM_BESIDE_HIPS = 0.02
"""An arm is taken to hang at the silhouette's side only where the silhouette reaches at least
this far (standing heights) outside the hip joint at wrist height: a hand beside the body."""


def arms_on_silhouette(joints: np.ndarray, alpha: np.ndarray, view_name: str,
                       standing_px: float) -> np.ndarray:
    """The fitted joints with each hanging arm moved onto the arm the view paints.

    The procedural figure's arms hang close to its body, while a painted character's arms
    hang along the outside of its silhouette (sleeves, a broad build): split by the
    figure's bones, the arm parts would take chest pixels and leave sleeve pixels on the
    torso. In standing front, three-quarter and back views, where the silhouette reaches out
    beside the hips at wrist height (a hand hangs there), that arm's shoulder, elbow and wrist
    move outwards to one part thickness inside the silhouette's edge on their rows — only
    outwards, and at most ARM_EDGE_MAX. Other views (profiles, seated, arms held in front)
    keep the fitted arms. Rig files (`write_rig_file`) record the result for correction."""
    turn, seated = view_kind(view_name)
    if seated or turn == "side":
        return joints
    solid = alpha > 127
    result = np.array(joints, float, copy=True)
    height = solid.shape[0]
    limit = ARM_EDGE_MAX * standing_px
    for arm in ((2, 3, 4), (5, 6, 7)):
        hip = 8 if arm[0] == 2 else 11
        side = -1.0 if joints[arm, 0].mean() < joints[MID_HIP, 0] else 1.0
        wrist_row = round(min(max(float(joints[arm[2], 1]), 0.0), height - 1.0))
        edge = _silhouette_edge(solid[wrist_row], side)
        if edge is None or side * (edge - joints[hip, 0]) < ARM_BESIDE_HIPS * standing_px:
            continue  # no hand beside the hips: the arm is not hanging at the side
        for joint, part in zip(arm, ("r_upper_arm", "r_lower_arm", "r_lower_arm"),
                               strict=True):
            row = round(min(max(float(joints[joint, 1]), 0.0), height - 1.0))
            found = _silhouette_edge(solid[row], side)
            if found is None:
                continue
            target = found - side * PARTS[part].radius * standing_px
            move = side * (target - joints[joint, 0])
            if move > 0:
                result[joint, 0] += side * min(move, limit)
    return result


def _silhouette_edge(row: np.ndarray, side: float) -> float | None:
    """The outermost solid pixel of a row on one side (-1 left, 1 right), None when empty."""
    solid = np.flatnonzero(row)
    if not solid.size:
        return None
    return float(solid[0] if side < 0 else solid[-1])


def _segment_distance(xs: np.ndarray, ys: np.ndarray, a: np.ndarray, b: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Distance of each pixel to segment a-b and the projection parameter along it."""
    d = b - a
    length2 = float(d @ d)
    if length2 < 1e-9:
        return np.hypot(xs - a[0], ys - a[1]), np.zeros_like(xs)
    t = ((xs - a[0]) * d[0] + (ys - a[1]) * d[1]) / length2
    tc = np.clip(t, 0.0, 1.0)
    return np.hypot(xs - (a[0] + tc * d[0]), ys - (a[1] + tc * d[1])), t


def _far_side(view_name: str) -> str | None:
    """Which side's limbs are behind the body as the view is painted (facing screen-left the
    figure's right side is the far one), None for front and back views."""
    turn, _seated = view_kind(view_name)
    return "r" if turn in ("three_quarter", "side") else None


def draw_order(view_name: str) -> list[str]:
    """Back-to-front order of the parts: the torso's underlay, far limbs, legs, torso, head,
    near arms."""
    far = _far_side(view_name)
    arms = ["upper_arm", "lower_arm", "hand"]
    legs = ["upper_leg", "lower_leg", "foot"]
    if far is None:
        return ([UNDERLAY] + [f"{s}_{p}" for s in "rl" for p in legs] + ["torso", "head"]
                + [f"{s}_{p}" for s in "rl" for p in arms])
    near = "l" if far == "r" else "r"
    return ([UNDERLAY] + [f"{far}_{p}" for p in arms] + [f"{far}_{p}" for p in legs]
            + [f"{near}_{p}" for p in legs] + ["torso", "head"]
            + [f"{near}_{p}" for p in arms])


def build_rig(rgba: np.ndarray, view_name: str, joints: np.ndarray, standing_px: float,
              radii: dict[str, float] | None = None, source: str = "auto") -> Rig:
    """Split a view into parts around `joints` (see the module docstring); `radii` overrides
    part thicknesses (view pixels). A view taller than `WORK_ROWS` is split at the first
    pyramid level that is not (halved as `sheets` halves it), the masks resized per level."""
    work_level = 0
    while rgba.shape[0] // 2 ** work_level > WORK_ROWS:
        work_level += 1
    if work_level:
        factor = 2 ** work_level
        small = cv2.resize(rgba, (rgba.shape[1] // factor, rgba.shape[0] // factor),
                           interpolation=cv2.INTER_AREA)
        made = build_rig(small, view_name, (np.asarray(joints, float) + 0.5) / factor - 0.5,
                         standing_px / factor,
                         {k: v / factor for k, v in (radii or {}).items()}, source)
        made.joints = np.asarray(joints, np.float64)
        made.height_px = float(standing_px)
        made.work_level = work_level
        return made
    height, width = rgba.shape[:2]
    solid = rgba[..., 3] > 0
    rows, cols = np.flatnonzero(solid.any(axis=1)), np.flatnonzero(solid.any(axis=0))
    if not rows.size:
        raise SoloreelError(f"view {view_name} is empty (fully transparent); nothing to rig")
    pad = max(2, int(0.03 * standing_px))
    bx0, by0 = max(0, int(cols[0]) - pad), max(0, int(rows[0]) - pad)
    bx1, by1 = min(width, int(cols[-1]) + 1 + pad), min(height, int(rows[-1]) + 1 + pad)
    ys, xs = np.mgrid[by0:by1, bx0:bx1].astype(np.float32)
    names = list(PARTS)
    scores = np.full((len(names), by1 - by0, bx1 - bx0), np.inf, np.float32)
    radii = radii or {}
    far = _far_side(view_name) if view_kind(view_name)[0] == "three_quarter" else None
    for index, name in enumerate(names):
        spec = PARTS[name]
        share = FAR_ARM_SHARE if far and name.startswith(f"{far}_") and "arm" in name else 1.0
        radius = max(1.0, radii.get(name, share * spec.radius * standing_px))
        if name == "torso":  # a quad inside the shoulders, as wide at the hips
            across = TORSO_WIDTH * (joints[[2, 5]] - joints[1])
            corners = np.concatenate([joints[1] + across, joints[MID_HIP] + across[::-1]])
            quad = np.round(corners - (bx0, by0)).astype(np.int32)
            inside = np.zeros(xs.shape, np.uint8)
            cv2.fillConvexPoly(inside, cv2.convexHull(quad), 1)
            dist = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 3)
        elif name == "head":
            dist, _t = _segment_distance(xs, ys, joints[1], joints[HEAD])
        elif name in HAND_OF:  # the hand hangs on beyond the wrist
            elbow, wrist = joints[PARTS[HAND_OF[name]].pivot], joints[spec.pivot]
            dist, _t = _segment_distance(xs, ys, wrist, wrist + HAND_REACH * (wrist - elbow))
        elif name in FOOT_OF or name == UNDERLAY:
            continue  # split off the shin below; the underlay is painted after the split
        else:
            dist, _t = _segment_distance(xs, ys, joints[spec.pivot], joints[spec.end])
        scores[index] = dist / radius
    box_rgba = rgba[by0:by1, bx0:bx1]
    painted = _Regions.of(box_rgba, standing_px)
    labels = followed_boundaries(box_rgba, scores, painted)
    neck_y = joints[1, 1] - 0.02 * standing_px
    head_index = names.index("head")
    above = ys < neck_y
    labels[above] = head_index
    labels[~above & (labels == head_index)] = names.index("torso")
    for foot, limb in FOOT_OF.items():  # below the ankle (in the view's up direction)
        beyond = ys > joints[PARTS[limb].end][1] - 0.01 * standing_px
        labels[(labels == names.index(limb)) & beyond] = names.index(foot)
    full_labels = np.full((height, width), -1, np.int16)
    full_labels[by0:by1, bx0:bx1] = labels
    overlap = max(2, round(OVERLAP * standing_px))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * overlap + 1, 2 * overlap + 1))
    drawn = {part: position for position, part in enumerate(draw_order(view_name))}
    details = painted.details()  # badges a grown limb must not carry
    masks: dict[str, np.ndarray] = {}
    boxes: dict[str, tuple[int, int, int, int]] = {}
    underlays: dict[str, np.ndarray] = {}
    under = torso_underlay(labels, box_rgba[..., 3], view_name, joints - (bx0, by0),
                           standing_px, neck_y - by0)
    if under.any():
        box, crop = _tight_box(under, bx0, by0, round(UNDER_MARGIN * standing_px))
        soft = cv2.GaussianBlur(under.astype(np.float32), (0, 0), 1.0)  # no stair-steps
        edge = np.round(np.clip(soft * 2.0 - 0.5, 0.0, 1.0) * 255.0).astype(np.uint8)
        boxes[UNDERLAY], masks[UNDERLAY] = box, np.maximum(edge, under * np.uint8(255))[crop]
        underlays[UNDERLAY] = _flat_part(box_rgba, labels == names.index("torso"),
                                          painted)[crop]
    for index, name in enumerate(names):
        if name == UNDERLAY:
            continue
        core = (labels == index).astype(np.uint8)
        if not core.any():
            continue
        # grown only into jointed parts drawn before it, and only round the shared joint:
        # it covers the joint when it bends; a limb beside the torso is not carried along
        allowed = np.zeros_like(core)
        spec = PARTS[name]
        joined = [(spec.parent, spec.pivot, spec.radius)] if spec.parent else []
        joined += [(child, other.pivot, other.radius) for child, other in PARTS.items()
                   if other.parent == name]
        for other, joint, thick in joined:
            if drawn.get(other, -1) > drawn.get(name, -1):
                continue
            near = np.zeros_like(core)
            x, y = joints[joint] - (bx0, by0)
            reach = max(2 * overlap, round(2.0 * thick * standing_px))
            cv2.circle(near, (round(x), round(y)), reach, 1, -1)
            allowed |= (labels == names.index(other)).astype(np.uint8) & near & ~details
        grown = core | (cv2.dilate(core, kernel) & allowed)
        soft = cv2.GaussianBlur(grown.astype(np.float32), (0, 0), overlap / 3.0)
        mask = np.maximum(np.clip(soft * 2.0 - 1.0, 0.0, 1.0) * grown, core)
        mask8 = np.round(mask * 255.0).astype(np.uint8)
        boxes[name], crop = _tight_box(mask8, bx0, by0)
        masks[name] = mask8[crop].copy()
    order = [name for name in draw_order(view_name) if name in masks]
    return Rig(joints=np.asarray(joints, np.float64), height_px=float(standing_px),
               order=order, masks=masks, boxes=boxes, labels=full_labels, source=source,
               underlays=underlays)


@dataclass
class _Regions:
    """A view's painted regions: its colour over black (premultiplied), the colour step at
    each pixel (largest channel over 3x3), the regions enclosed by steps of `EDGE_LEVEL` or
    more (4-connected; 0 on the edges) and which of them are small (`SMALL_REGION`)."""

    colour: np.ndarray
    step: np.ndarray
    regions: np.ndarray
    small: np.ndarray

    @classmethod
    def of(cls, rgba: np.ndarray, standing_px: float) -> _Regions:
        alpha = rgba[..., 3:4].astype(np.uint16)
        colour = ((rgba[..., :3].astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)
        step = cv2.morphologyEx(colour, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
        step = step.max(axis=2)
        _n, regions, stats, _c = cv2.connectedComponentsWithStats(
            (step < EDGE_LEVEL).astype(np.uint8), connectivity=4)
        small = stats[:, cv2.CC_STAT_AREA] <= (SMALL_REGION * standing_px) ** 2
        small[0] = False
        return cls(colour, step, regions, small)

    def details(self) -> np.ndarray:
        """uint8 0/1 mask of the small regions with their outlines: a badge or a button a
        part's grown seam must not take along, nor an underlay take its colours from."""
        found = self.small[self.regions].astype(np.uint8)
        return cv2.dilate(found, np.ones((5, 5), np.uint8))


def _flat_part(rgba: np.ndarray, part: np.ndarray, painted: _Regions) -> np.ndarray:
    """uint8 (0/255) mask of a part's opaque pixels away from painted edges and small
    painted regions (outlines, badges, seams): the plain cloth an underlay's colours are
    inpainted from."""
    plain = cv2.dilate(painted.step, np.ones((3, 3), np.uint8)) < EDGE_LEVEL
    flat = part & (rgba[..., 3] >= 250) & plain & (painted.details() == 0)
    return flat.astype(np.uint8) * np.uint8(255)


def _tight_box(mask: np.ndarray, x0: int, y0: int, margin: int = 0
               ) -> tuple[tuple[int, int, int, int], tuple[slice, slice]]:
    """The box (x0, y0, x1, y1; `mask` lies at x0, y0) of a non-empty mask's pixels, grown by
    `margin` within the mask's own extent, and the slices that crop the mask to it."""
    rr, cc = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    r0, r1 = max(0, int(rr[0]) - margin), min(mask.shape[0], int(rr[-1]) + 1 + margin)
    c0, c1 = max(0, int(cc[0]) - margin), min(mask.shape[1], int(cc[-1]) + 1 + margin)
    return (x0 + c0, y0 + r0, x0 + c1, y0 + r1), (slice(r0, r1), slice(c0, c1))


def followed_boundaries(rgba: np.ndarray, scores: np.ndarray, painted: _Regions
                        ) -> np.ndarray:
    """Each pixel's part (index into `scores`, (parts, h, w) distances in part thicknesses):
    the nearest part, except in the band round each boundary where the second-nearest part
    is nearly as near (`AMBIGUOUS_RATIO`, `AMBIGUOUS_MARGIN`). There the pixels are flooded
    from the confidently split ones over the painting's colours — the marker-controlled
    watershed (Meyer, "Color image segmentation", 1992; `cv2.watershed`) — so the split
    follows the painted outlines and colour changes (where a sleeve ends on the chest) and
    a pixel only ever goes to one of its two nearest parts; small painted regions go whole
    to one part (`_whole_regions`). Transparent pixels form a background basin of their own
    and keep the nearest part."""
    best = np.argmin(scores, axis=0)
    best_d = np.take_along_axis(scores, best[None], axis=0)[0]
    rest = scores.copy()
    np.put_along_axis(rest, best[None], np.inf, axis=0)
    second = np.argmin(rest, axis=0)
    second_d = np.take_along_axis(rest, second[None], axis=0)[0]
    solid = rgba[..., 3] > 0
    ambiguous = solid & (second_d <= AMBIGUOUS_RATIO * best_d + AMBIGUOUS_MARGIN)
    if not ambiguous.any():
        return best.astype(np.int16)
    background = scores.shape[0] + 1
    markers = np.where(solid, best.astype(np.int32) + 1, background).astype(np.int32)
    markers[ambiguous] = 0
    cv2.watershed(painted.colour, markers)
    flooded = markers.clip(0, 255).astype(np.uint8)  # watershed lines (-1) take a neighbour
    flooded = np.where(markers < 0, cv2.dilate(flooded, np.ones((3, 3), np.uint8)), flooded)
    flooded = flooded.astype(np.int64) - 1
    takes = ambiguous & ((flooded == best) | (flooded == second))
    split = _smoothed(np.where(takes, flooded, best), best, second, ambiguous)
    return _whole_regions(split, painted, best, second).astype(np.int16)


EDGE_LEVEL = 24
"""A colour step (8-bit, largest channel, over a 3x3 neighbourhood) that counts as a painted
edge when small painted regions are kept whole."""
SMALL_REGION = 0.05
"""Painted regions enclosed by edges no bigger than a square this wide (standing heights)
go whole to one part."""


def _whole_regions(labels: np.ndarray, painted: _Regions, best: np.ndarray,
                   second: np.ndarray) -> np.ndarray:
    """`labels` with each small painted region (a badge, a button, a patch: pixels enclosed
    by colour edges, `EDGE_LEVEL`) and its outline given whole to the part that holds most
    of it, wherever that part is one of a pixel's two nearest: a badge is never cut in two
    by a boundary drawn through it."""
    regions, small, step = painted.regions, painted.small, painted.step
    count = small.size
    if not small.any():
        return labels
    inside = small[regions]
    parts = int(labels.max()) + 1
    votes = np.bincount(regions[inside] * parts + labels[inside],
                        minlength=count * parts).reshape(count, parts)
    winner = votes.argmax(axis=1)
    chosen = np.zeros(labels.shape, np.uint8)  # winner + 1 on the small regions
    chosen[inside] = (winner[regions[inside]] + 1).astype(np.uint8)
    edge = (step >= EDGE_LEVEL) & (chosen == 0)
    reach = cv2.dilate(chosen, np.ones((5, 5), np.uint8))
    chosen[edge] = reach[edge]  # the region's outline goes with it
    want = chosen.astype(np.int64) - 1
    takes = (chosen > 0) & ((want == best) | (want == second))
    return np.where(takes, want, labels)


def _smoothed(labels: np.ndarray, best: np.ndarray, second: np.ndarray,
              band: np.ndarray) -> np.ndarray:
    """`labels` with the pixels of `band` given to whichever of their two nearest parts holds
    most of a small Gaussian neighbourhood: a boundary flooded across a flat colour (where
    no painted edge decides) is evened out instead of left in stair-steps and specks."""
    sigma = 1.5
    votes = np.zeros(labels.shape, np.float32), np.zeros(labels.shape, np.float32)
    for index in np.unique(np.concatenate([best[band], second[band]])):
        share = cv2.GaussianBlur((labels == index).astype(np.float32), (0, 0), sigma)
        votes[0][band & (best == index)] = share[band & (best == index)]
        votes[1][band & (second == index)] = share[band & (second == index)]
    return np.where(band, np.where(votes[1] > votes[0], second, best), labels)


def torso_underlay(labels: np.ndarray, alpha: np.ndarray, view_name: str, joints: np.ndarray,
                   standing_px: float, neck_y: float) -> np.ndarray:
    """Where the torso is painted under the parts that cover it (uint8 0/1 over the rig's
    box, `labels` its hard split, `joints` in box pixels): the arms' pixels within a body
    band round the spine (neck to hips; `UNDER_HALF_WIDTH`, the fitted shoulders' and hips'
    widths or the torso's painted ones) and the head's pixels just above the neck line over
    the neck's width. Only opaque pixels away from the silhouette's edge are taken: the
    underlay lies inside the figure as painted, so at rest every part drawn over it hides
    it."""
    names = list(PARTS)
    torso = labels == names.index("torso")
    under = np.zeros(labels.shape, np.uint8)
    if not torso.any():
        return under
    solid = cv2.erode((alpha >= 250).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    arms = np.isin(labels, [names.index(f"{s}_{p}") for s in "rl"
                            for p in ("upper_arm", "lower_arm", "hand")])
    if arms.any():
        least = UNDER_HALF_WIDTH * standing_px
        shoulders = 0.5 * float(np.hypot(*(joints[2] - joints[1]))
                                + np.hypot(*(joints[5] - joints[1])))
        hips = 0.5 * float(np.hypot(*(joints[8] - joints[11])))
        ys, xs = np.mgrid[0:labels.shape[0], 0:labels.shape[1]].astype(np.float32)
        spine, t = _segment_distance(xs, ys, joints[1], joints[MID_HIP])
        t = np.clip(t, 0.0, 1.0)
        upper, lower = torso & (t < 0.35), torso & (t > 0.65)
        if upper.any():  # the painted shoulders, where the drawing is wider than the figure
            shoulders = max(shoulders, min(float(np.percentile(spine[upper], 95)),
                                           UNDER_MAX_HALF_WIDTH * standing_px))
        if lower.any():
            hips = max(hips, min(float(np.percentile(spine[lower], 95)),
                                 UNDER_MAX_HALF_WIDTH * standing_px) / UNDER_HIPS)
        half = (1.0 - t) * max(least, shoulders) + t * max(least, UNDER_HIPS * hips)
        under |= (arms & solid & (spine <= half)).astype(np.uint8)
    top = max(0, math.floor(neck_y - UNDER_NECK * standing_px))
    bottom = max(0, math.ceil(neck_y))
    below = torso[bottom:bottom + max(2, round(0.02 * standing_px))]
    columns = np.flatnonzero(below.any(axis=0))
    if columns.size and bottom > top:
        head = labels[top:bottom] == names.index("head")
        neck = np.zeros(head.shape, bool)
        neck[:, columns[0]:columns[-1] + 1] = head[:, columns[0]:columns[-1] + 1]
        under[top:bottom] |= (neck & solid[top:bottom]).astype(np.uint8)
    return under


# --------------------------------------------------------------------------- rig files

JOINT_NAMES: tuple[str, ...] = (*KEYPOINT_NAMES, "mid_hip", "head")


def rig_path(image: Path) -> Path:
    """The rig file of a view image: `front.png` → `front.rig.toml` beside it."""
    return image.with_name(image.stem + ".rig.toml")


def image_digest(rgba: np.ndarray) -> str:
    """SHA-256 of a view's pixels (what an automatic rig was made for)."""
    digest = hashlib.sha256(str(rgba.shape).encode())
    digest.update(np.ascontiguousarray(rgba).tobytes())
    return digest.hexdigest()


def rig_text(rig: Rig, digest: str, view_name: str) -> str:
    """A rig file's TOML text: joints in view pixels counted from pixel edges (like the
    sheet's anchors), part thicknesses in view pixels."""
    lines = [
        f"# soloreel rig of the {view_name} view: move a joint (x, y in view pixels, as the",
        "# sheet's anchors count them) or a part's radius, then set edited = true so the rig",
        "# is kept even when the image changes. Delete the file to rig automatically again.",
        f"version = {RIG_VERSION}",
        f'image_sha256 = "{digest}"',
        "edited = false",
        "",
        "[joints]",
    ]
    for index, name in enumerate(JOINT_NAMES):
        x, y = rig.joints[index] + 0.5
        lines.append(f"{name} = [{x:.1f}, {y:.1f}]")
    lines += ["", "[radius]"]
    for name, spec in PARTS.items():
        if name != UNDERLAY:
            lines.append(f"{name} = {spec.radius * rig.height_px:.1f}")
    return "\n".join(lines) + "\n"


def _number_pair(value: object) -> tuple[float, float] | None:
    if (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
            and all(math.isfinite(float(v)) for v in value)):
        return float(value[0]), float(value[1])
    return None


def read_rig_file(path: Path, shape: tuple[int, int], digest: str
                  ) -> tuple[np.ndarray, dict[str, float]] | None:
    """(joints (20, 2) in pixel centres, radii) from a rig file, None when it is an automatic
    rig of other image content. Raises a SoloreelError naming the file and field when the
    file is malformed."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SoloreelError(f"rig file {path} cannot be read ({exc}); fix it or delete it to "
                            "rig the view automatically") from exc
    edited = data.get("edited", False)
    if not isinstance(edited, bool):
        raise SoloreelError(f"rig file {path}: edited must be true or false")
    if not edited and (data.get("image_sha256") != digest
                       or data.get("version") != RIG_VERSION):
        return None  # an automatic rig of other pixels or of an older split
    table = data.get("joints")
    if not isinstance(table, dict):
        raise SoloreelError(f"rig file {path} has no [joints] table; delete it to rig the "
                            "view automatically")
    unknown = sorted(set(table) - set(JOINT_NAMES))
    if unknown:
        raise SoloreelError(f"rig file {path}: unknown joint {unknown[0]!r}; joints are "
                            + ", ".join(JOINT_NAMES))
    height, width = shape
    joints = np.zeros((20, 2))
    for index, name in enumerate(JOINT_NAMES):
        pair = _number_pair(table.get(name))
        if pair is None:
            raise SoloreelError(f"rig file {path}: joints.{name} must be [x, y] (two numbers, "
                                "view pixels)")
        x, y = pair
        if not (-width <= x <= 2 * width and -height <= y <= 2 * height):
            raise SoloreelError(f"rig file {path}: joints.{name} = [{x}, {y}] lies far outside "
                                f"the {width}x{height} view; give view pixels")
        joints[index] = (x - 0.5, y - 0.5)
    radii: dict[str, float] = {}
    for name, value in (data.get("radius") or {}).items():
        if name not in PARTS:
            raise SoloreelError(f"rig file {path}: unknown part radius.{name}; parts are "
                                + ", ".join(PARTS))
        if (not isinstance(value, int | float) or isinstance(value, bool)
                or not 0 < float(value) <= max(shape)):
            raise SoloreelError(f"rig file {path}: radius.{name} must be a positive number of "
                                "view pixels")
        radii[name] = float(value)
    return joints, radii


_AUTO_RIGS: collections.OrderedDict[tuple, Rig] = collections.OrderedDict()
"""Automatic rigs by the view's pixels and anchors (the newest `AUTO_RIGS_KEPT`)."""
AUTO_RIGS_KEPT = 32


def _auto_rig(digest: str, rgba: np.ndarray, view_name: str, ground: tuple[float, float],
              standing_px: float, eyes: tuple[float, float] | None,
              head_top: tuple[float, float]) -> Rig:
    key = (digest, view_name, ground, standing_px, eyes, head_top)
    found = _AUTO_RIGS.get(key)
    if found is not None:
        _AUTO_RIGS.move_to_end(key)
        return found
    joints = fitted_joints(view_name, ground, standing_px, eyes, head_top)
    joints = arms_on_silhouette(joints, rgba[..., 3], view_name, standing_px)
    made = build_rig(rgba, view_name, joints, standing_px)
    _AUTO_RIGS[key] = made
    while len(_AUTO_RIGS) > AUTO_RIGS_KEPT:
        _AUTO_RIGS.popitem(last=False)
    return made


def rig_for(rgba: np.ndarray, view_name: str, ground: tuple[float, float],
            standing_px: float, eyes: tuple[float, float] | None,
            head_top: tuple[float, float], image: Path | None = None) -> Rig:
    """The rig of a view: its rig file's when `image` has a valid one, else the automatic rig
    (cached by the view's pixels and anchors)."""
    digest = image_digest(rgba)
    if image is not None:
        path = rig_path(image)
        if path.is_file():
            found = read_rig_file(path, rgba.shape[:2], digest)
            if found is not None:
                joints, radii = found
                return build_rig(rgba, view_name, joints, standing_px, radii, str(path))
    return _auto_rig(digest, rgba, view_name, (float(ground[0]), float(ground[1])),
                     float(standing_px),
                     None if eyes is None else (float(eyes[0]), float(eyes[1])),
                     (float(head_top[0]), float(head_top[1])))


def write_rig_file(image: Path, rig: Rig, rgba: np.ndarray, view_name: str,
                   overwrite: bool = False) -> Path | None:
    """Write a view's rig file beside its image (atomically; never over an existing file
    unless `overwrite`); returns the path written, or None."""
    path = rig_path(image)
    if path.exists() and not overwrite:
        return None
    write_text_atomic(path, rig_text(rig, image_digest(rgba), view_name))
    return path


def main(argv: list[str] | None = None) -> int:
    """`python -m render_engine.proxy.rig PRODUCTION CAST_NAME`: write the automatic rig file
    of each of the character's views that has none yet."""
    from render_engine.bible import load_production
    from render_engine.proxy.sheets import CastCutouts

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m render_engine.proxy.rig PRODUCTION CAST_NAME", file=sys.stderr)
        return 2
    production = load_production(Path(args[0]))
    cast = CastCutouts(production, production.member(args[1]))
    for name in cast.available():
        view = cast.view(name)
        image = production.cast_file(cast.member, cast.member.views[name].image)
        rig = view_rig(cast, name)
        written = write_rig_file(image, rig, view.levels[0], name)
        print(f"{name}: {written or rig_path(image)} ({'written' if written else 'kept'})")
    return 0


def view_rig(cast: object, view_name: str) -> Rig:
    """The rig of one of a `CastCutouts`' views (see `rig_for`)."""
    view = cast.view(view_name)  # type: ignore[attr-defined]
    rigs = cast.__dict__.setdefault("_rigs", {})  # kept with the views the cast keeps
    found = rigs.get(view_name)
    if found is not None and found[0] is view:
        return found[1]
    member = cast.member  # type: ignore[attr-defined]
    image = cast.production.cast_file(member, member.views[view_name].image)  # type: ignore
    made = rig_for(view.levels[0], view_name, view.ground, view.px_per_m * member.height_m,
                   view.eyes, view.head_top, image)
    rigs[view_name] = (view, made)
    return made


if __name__ == "__main__":
    raise SystemExit(main())
