"""Move a prop's layer out of a face's way when re-aiming the camera cannot.

Framing keeps foreground props off faces by re-aiming (`framing._clear_faces`: the camera rises
or steps sideways). In a tight single (MCU, CU, ECU) that move would ruin the framing the size
asks for, so the camera stays and the prop's *layer* moves instead, the way a set dresser
cheats a vase aside for a close-up ("cheating" props between setups is ordinary continuity
practice on set). Per shot, once, at the shot's first shown frame:

- each foreground mask nearer than a character whose face box (the compositor's `face_box`)
  it covers gets the smallest whole-pixel shift — left, right or down — that leaves a margin
  round every such face box (`plan_shifts`; a shift that would push most of the prop out of
  the frame, or farther than `MAX_SHIFT` of the frame, is not taken);
- every frame of the shot then applies that same shift (`PropShifter.apply`): the prop's
  pixels (its mask times the view) and its mask move by whole pixels — copied, never
  resampled or stretched — and what they uncover is filled from the plate's background layer
  (`render_engine.proxy.backfill`, sampled through the view) and, where that layer still
  shows the prop, by Telea inpainting of the view around it (A. Telea, "An Image Inpainting
  Technique Based on the Fast Marching Method", JGT 2004). The plate depth where the prop
  stood no longer hides anything.

The shift and its reason are kept on the shifter (`shifts`, `PropShift.reason`), so plan,
lint and tests can say what was moved and why. Deterministic: pixels and masks in, pixels out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from render_engine.proxy.camera import Camera
from render_engine.proxy.compositor import face_box
from render_engine.proxy.cutouts import Sprite
from render_engine.proxy.occlusion import Foreground
from render_engine.proxy.planes import Plane

MASK_THRESHOLD = 0.05
"""Mask alpha above which a pixel counts as the prop's."""
MARGIN_SHARE = 0.15
"""Clearance kept round a face box, as a share of the box's width (at least `MIN_MARGIN_PX`)."""
MIN_MARGIN_PX = 4
MAX_SHIFT = 0.5
"""The farthest a prop moves, as a share of the frame's width (sideways) or height (down)."""
KEEP_VISIBLE = 0.25
"""A shift must leave at least this share of the prop's pixels inside the frame."""
INPAINT_RADIUS = 5
BACK_DIFFERS = 10
"""A background-layer pixel this far (8-bit, any channel) from the view shows what is behind."""


@dataclass(frozen=True)
class PropShift:
    """One foreground mask's shift for a whole shot."""

    index: int
    """Which of the plate's foreground masks (their order in the set's `masks`)."""
    dx: int
    dy: int
    """Whole frame pixels: + right, + down."""
    reason: str


def _faces_behind(sprites: Sequence[Sprite], depth: float, names: set[str] | None
                  ) -> list[tuple[str, tuple[int, int, int, int], int]]:
    """(name, face box, margin) of each sprite farther than a mask at `depth`."""
    out = []
    for sprite in sprites:
        if sprite.depth <= depth or (names is not None and sprite.name.lower() not in names):
            continue
        box = face_box(sprite)
        if box is None:
            continue
        x0, y0, x1, y1 = box
        margin = max(MIN_MARGIN_PX, round(MARGIN_SHARE * (x1 - x0)))
        out.append((sprite.name, (int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)),
                                  int(np.ceil(y1))), margin))
    return out


def _clear(occupied: np.ndarray, lo: int, hi: int, shift: int) -> bool:
    """Whether a 1-D occupancy profile, shifted by `shift`, leaves [lo, hi) empty."""
    a, b = max(0, lo - shift), min(len(occupied), hi - shift)
    return b <= a or not occupied[a:b].any()


def _visible_share(mask: np.ndarray, dx: int, dy: int) -> float:
    """Share of the mask's pixels still inside the frame after the shift."""
    height, width = mask.shape
    total = int(mask.sum())
    if not total:
        return 0.0
    x0, x1 = max(0, -dx), min(width, width - dx)
    y0, y1 = max(0, -dy), min(height, height - dy)
    if x1 <= x0 or y1 <= y0:
        return 0.0
    return float(mask[y0:y1, x0:x1].sum()) / total


def _smallest_shift(mask: np.ndarray, faces: list[tuple[str, tuple[int, int, int, int], int]]
                    ) -> tuple[int, int] | None:
    """The smallest (dx, dy) — sideways or down — clearing every face box plus its margin."""
    height, width = mask.shape
    if not faces:
        return None
    covered = False
    horizontal, vertical = [], []
    for _name, (x0, y0, x1, y1), margin in faces:
        lo_x, hi_x = x0 - margin, x1 + margin
        lo_y, hi_y = y0 - margin, y1 + margin
        rows = mask[max(0, lo_y):max(0, min(height, hi_y))]
        cols = mask[:, max(0, lo_x):max(0, min(width, hi_x))]
        by_col = rows.any(axis=0) if rows.size else np.zeros(width, bool)
        by_row = cols.any(axis=1) if cols.size else np.zeros(height, bool)
        horizontal.append((by_col, lo_x, hi_x))
        vertical.append((by_row, lo_y, hi_y))
        inside = mask[max(0, y0):max(0, min(height, y1)), max(0, x0):max(0, min(width, x1))]
        covered = covered or bool(inside.any())
    if not covered:
        return None
    best: tuple[int, int] | None = None
    for step in range(1, int(MAX_SHIFT * max(width, height)) + 1):
        candidates = []
        if step <= MAX_SHIFT * width:
            candidates += [(step, 0), (-step, 0)]
        if step <= MAX_SHIFT * height:
            candidates.append((0, step))
        for dx, dy in candidates:
            ok = all(_clear(occ, lo, hi, dx) for occ, lo, hi in horizontal) if dx else all(
                _clear(occ, lo, hi, dy) for occ, lo, hi in vertical)
            if ok and _visible_share(mask, dx, dy) >= KEEP_VISIBLE:
                best = (dx, dy)
                break
        if best is not None:
            break
    return best


def plan_shifts(foregrounds: Sequence[Foreground], sprites: Sequence[Sprite],
                names: Sequence[str] | None = None) -> list[PropShift]:
    """The shifts that take each foreground mask off the faces behind it (module docstring).

    `foregrounds` are the view's (alpha, depth) masks and `sprites` the placed characters of
    the same view; `names` limits the faces protected to the shot's subjects (None: all).
    A mask that covers no face, or that no allowed shift clears, is left where it is (the
    compositor still keeps it off the face for that frame)."""
    wanted = None if names is None else {n.lower() for n in names}
    shifts = []
    for index, (alpha, depth) in enumerate(foregrounds):
        faces = _faces_behind(sprites, depth, wanted)
        if not faces:
            continue
        mask = np.asarray(alpha) > MASK_THRESHOLD
        found = _smallest_shift(mask, faces)
        if found is None:
            continue
        dx, dy = found
        way = (f"{abs(dx)} px {'right' if dx > 0 else 'left'}" if dx
               else f"{dy} px down")
        who = ", ".join(sorted({name for name, _box, _m in faces}))
        shifts.append(PropShift(index, dx, dy, f"foreground mask {index} covered {who}'s "
                                f"face from the framed camera: its layer moves {way} in "
                                "this shot"))
    return shifts


def _moved(array: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """An array shifted by whole pixels, zero where nothing moved in (no resampling)."""
    out = np.zeros_like(array)
    height, width = array.shape[:2]
    sx0, sx1 = max(0, -dx), min(width, width - dx)
    sy0, sy1 = max(0, -dy), min(height, height - dy)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 + dy:sy1 + dy, sx0 + dx:sx1 + dx] = array[sy0:sy1, sx0:sx1]
    return out


def _fill_behind(background: np.ndarray, hole: np.ndarray, behind: np.ndarray | None
                 ) -> np.ndarray:
    """The view with `hole` (bool) filled: the background layer where it shows something
    other than the view, Telea inpainting (at half size, inside the hole's box) elsewhere."""
    out = background.copy()
    if behind is not None:
        differs = (np.abs(behind.astype(np.int16) - background.astype(np.int16)).max(axis=2)
                   > BACK_DIFFERS) & hole
        out[differs] = behind[differs]
        hole = hole & ~differs
    ys, xs = np.nonzero(hole)
    if not len(ys):
        return out
    pad = 4 * INPAINT_RADIUS
    height, width = hole.shape
    x0, x1 = max(0, xs.min() - pad), min(width, xs.max() + pad + 1)
    y0, y1 = max(0, ys.min() - pad), min(height, ys.max() + pad + 1)
    patch, sub = out[y0:y1, x0:x1], hole[y0:y1, x0:x1].astype(np.uint8)
    half = (max(1, (x1 - x0) // 2), max(1, (y1 - y0) // 2))
    small = cv2.resize(patch, half, interpolation=cv2.INTER_AREA)
    small_hole = cv2.resize(cv2.dilate(sub, np.ones((3, 3), np.uint8)), half,
                            interpolation=cv2.INTER_NEAREST)
    filled = cv2.inpaint(np.ascontiguousarray(small), small_hole, INPAINT_RADIUS,
                         cv2.INPAINT_TELEA)
    filled = cv2.resize(filled, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    patch[sub > 0] = filled[sub > 0]
    return out


def _background_layer(plates: object, camera: Camera) -> np.ndarray | None:
    """The plate's background layer (what lies behind its near objects) as this view sees it,
    when the plate renderer has one (a plate with a depth map); else None."""
    assets = getattr(plates, "assets", None)
    sample = getattr(plates, "_sample", None)
    view_of = getattr(plates, "_view", None)
    if assets is None or sample is None or view_of is None or assets.ray_m is None:
        return None
    assets.backfill()
    return sample(camera, view_of(camera), assets.back_levels, None)


@dataclass
class _Moved:
    """One shift as one camera sees it: where the prop stood (and what fills it), its alpha
    before and after the move."""

    shift: PropShift
    hole: np.ndarray
    fill: np.ndarray
    """The filled view inside `hole` (uint8, (n, 3)), from the first frame this camera saw."""
    alpha: np.ndarray
    moved: np.ndarray


class PropShifter:
    """Applies a shot's prop shifts to each frame's background, depth and masks."""

    def __init__(self, shifts: list[PropShift], plates: object):
        """`shifts` from `plan_shifts`; `plates` the shot's plate renderer (for the
        background layer the uncovered pixels are filled from)."""
        self.shifts, self.plates = shifts, plates
        self._camera: Camera | None = None
        self._layers: list[_Moved] = []
        self._depth: np.ndarray | None = None
        self._masks: list[Foreground] = []

    def apply(self, background: np.ndarray, depth: np.ndarray | Plane | None,
              foregrounds: list[Foreground], camera: Camera
              ) -> tuple[np.ndarray, np.ndarray | Plane | None, list[Foreground]]:
        """The frame's (background, depth, foregrounds) with every planned prop moved; the
        inputs themselves when there is nothing to move. The fill behind a prop is made once
        per camera (a still camera: once per shot), so a living plate keeps moving around it
        and a frame costs a few array operations."""
        if not self.shifts or not foregrounds:
            return background, depth, foregrounds
        if camera != self._camera:
            self._prepare(background, depth, foregrounds, camera)
        out = background
        for layer in self._layers:
            base = out.copy()
            base[layer.hole] = layer.fill
            prop = _moved(out.astype(np.float32) * layer.alpha[..., None], layer.shift.dx,
                          layer.shift.dy)
            composed = base.astype(np.float32) * (1.0 - layer.moved[..., None]) + prop
            out = np.clip(composed + 0.5, 0, 255).astype(np.uint8)
        out_depth = depth if self._depth is None else self._depth
        return out, out_depth, list(self._masks)

    def _prepare(self, background: np.ndarray, depth: np.ndarray | Plane | None,
                 foregrounds: list[Foreground], camera: Camera) -> None:
        """This camera's holes, fills, moved masks and depth (see `apply`)."""
        masks = list(foregrounds)
        out = background
        out_depth = None if depth is None else np.array(np.asarray(depth), np.float32)
        behind = None
        layers = []
        for shift in self.shifts:
            if shift.index >= len(masks):
                continue
            alpha = np.asarray(masks[shift.index][0], np.float32)
            region = alpha > MASK_THRESHOLD
            if not region.any():
                continue
            if behind is None:
                behind = _background_layer(self.plates, camera)
            hole = cv2.dilate(region.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            clean = _fill_behind(out, hole, behind)
            new_alpha = _moved(alpha, shift.dx, shift.dy)
            prop = _moved(out.astype(np.float32) * alpha[..., None], shift.dx, shift.dy)
            composed = clean.astype(np.float32) * (1.0 - new_alpha[..., None]) + prop
            out = np.clip(composed + 0.5, 0, 255).astype(np.uint8)
            if out_depth is not None:  # where the prop stood, nothing near hides anyone now
                out_depth[hole & (new_alpha <= MASK_THRESHOLD)] = np.inf
            new_alpha.setflags(write=False)
            masks[shift.index] = (new_alpha, masks[shift.index][1])
            layers.append(_Moved(shift, hole, clean[hole], alpha, new_alpha))
        self._camera, self._layers, self._depth, self._masks = camera, layers, out_depth, masks


def shifter_for(shot: object) -> PropShifter:
    """The prop shifts of a `ShotFrames` shot, planned once from its first shown frame: the
    camera at move progress 0 and the characters placed at that moment (so every frame, and
    every partial render, moves the same props by the same pixels). Wide shots (EWS, WS) keep
    the set as dressed; so do plates without foreground masks."""
    from render_engine.proxy.framing import subjects_of

    spec, plates = shot.spec, shot.plates  # type: ignore[attr-defined]
    foreground = getattr(plates, "foreground", None)
    assets = getattr(plates, "assets", None)
    if (spec.shot.size in ("EWS", "WS") or foreground is None or assets is None
            or not getattr(assets, "masks", None)):
        return PropShifter([], plates)
    first = shot.shown[0] - shot.first  # type: ignore[attr-defined]
    t = shot.seconds(first)  # type: ignore[attr-defined]
    camera = shot.camera(0.0, t)  # type: ignore[attr-defined]
    sprites = []
    for char in spec.characters:
        _posture, sprite = shot.place_character(char, camera, t)  # type: ignore[attr-defined]
        if sprite is not None:
            sprites.append(sprite)
    names = [c.name for c in subjects_of(spec)]
    return PropShifter(plan_shifts(foreground(camera), sprites, names), plates)
