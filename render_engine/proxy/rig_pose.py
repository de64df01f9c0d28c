"""Posing a rigged cut-out from a COCO-18 skeleton: one affine per part, drawn back to front.

The frame's skeleton (`render_engine.proxy.poses`: the blocking's procedural figure or the
shot's pose track — the same skeleton the placeholder and the final's control video draw) is
compared with a neutral skeleton: the same figure standing or seated at rest where the
unrigged cut-out is placed (the pose the sheet's views are painted in; by default the rig's own
joints as placed). Forward kinematics on the painted joints then gives each part a 2D affine:
the torso moves with the hips and turns with the spine, every other part turns about the
point its parent carried its painted pivot to, by the angle its bone turned, and stretches
along itself as the bone did (foreshortening); hands turn but keep their size, feet follow
their ankles and stay flat, and the head turns as the eye line did (in perspective the
neck-to-head bone swings whenever the head comes towards the camera; the eye line stays
level). Parts whose joints the skeleton lacks follow their parent. Transferring bone
deltas rather than absolute angles keeps a sheet whose drawing differs a little from the
figure's proportions undistorted at rest (the idea of deformation transfer, Sumner &
Popović, SIGGRAPH 2004, on a 2D skeleton). The parts' feathered masks overlap at the
joints, so the layer on top covers the bend (Spine / Moho style cut-out rigs).
Only each part's bounding box is warped (`cv2.warpAffine`), in premultiplied alpha,
composited with the Porter-Duff "over" operator (Porter & Duff, "Compositing Digital
Images", SIGGRAPH 1984); consecutive parts that move alike are merged and warped once.

A figure whose hips and knees are below the frame (decided per frame from the skeleton and
the frame's size, so any framing works) is a bust: a flat cut-out bent there by a lean shows
a twisted torso and a gap at the neck right under the face. It is posed as one piece instead,
by the least-squares similarity (Umeyama 1991) carrying the neutral's shoulders and eyes onto
the skeleton's, its turn and scale clamped and its eyes put on the skeleton's, so a lean
towards the camera shows as the head and shoulders growing and moving down; only an arm in
the frame still follows its bones, and the head still rolls with the eye line. One piece is
warped whole, as cheaply as the unrigged cut-out.

When the skeleton is the rest pose (every part moves less than `REST_PX`), posing returns None
and the caller keeps the unrigged warp: a rest pose gives exactly the unrigged pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from render_engine.proxy.rig import HEAD, HEAD_POINTS, MID_HIP, PARTS, Rig

TORSO_LEAN_DEG = 8.0
"""The torso slants at most this far on screen (a lean towards the camera is mostly
foreshortening, which a flat cut-out shows badly as a slant)."""
TORSO_STRETCH = (0.92, 1.08)
"""The torso shortens or lengthens at most this much: a flat cut-out squashed further reads
as a broken body, not as a body bending towards the camera (seen in close-ups)."""
HEAD_TURN_DEG = 12.0
"""The head turns at most this far from the painted pose (a 2D cut-out cannot nod far
without looking broken)."""
EYE_PAIRS = ((14, 15), (16, 17))
"""The pairs whose line the head's turn follows: the eyes, else the ears (COCO-18)."""
EYE_LINE_MIN = 0.15
"""A pair spanning less than this share of the neck-to-head length is seen edge-on (a
profile): its direction is noise, so the next pair (or the neck-to-head bone) is used."""
ACROSS_PAIRS = ((2, 5), (14, 15), (16, 17))
"""The spans across the body a bust's one similarity is fitted to: shoulders, eyes, ears."""
ACROSS_MIN = 0.3
"""Spans across the body shorter in all (root sum of squares) than this share of the torso
are seen edge-on (a profile): the bust is fitted to `BUST_POINTS` instead."""
BUST_POINTS = (1, 2, 5, 0, 14, 15)
"""The joints a profile bust's similarity is fitted to: neck, shoulders, nose, eyes."""
BUST_TURN_DEG = 3.0
"""A bust turns at most this far on screen (a lean is foreshortening, not a slant)."""
BUST_SCALE = (0.85, 1.3)
"""A bust shrinks or grows at most this much (a lean towards the camera grows it)."""
BUST_BAND = 0.15
"""Share of the torso's length below the frame's bottom edge over which the hips' going out
of the frame fades the kinematic pose into the bust's one piece."""
HEAD_ROLL_DEAD_DEG = 2.0
"""On a bust, a head turn within this of the body's own turn rides the body."""
SNAP_PX = 1.0
"""A part moving with its parent to within this (frame pixels) takes the parent's affine, so
parts that move alike are warped as one."""
REST_PX = 0.35
"""A part moved less than this (frame pixels) at every corner of its box counts as at rest."""
SCALE_RANGE = (0.55, 1.6)
"""Stretch along a bone is clamped to this range (a bone pointing at the camera keeps some)."""
LIMB_GROUPS = (((2, 3, 4), (5, 6, 7)), ((8, 9, 10), (11, 12, 13)))


@dataclass
class Posed:
    """A posed cut-out: a straight RGBA patch at `origin` and each part's frame affine."""

    rgba: np.ndarray
    origin: tuple[int, int]
    transforms: dict[str, np.ndarray]
    """Part → 2x3 affine from the unrigged placement to the posed one (frame pixels)."""
    layers: dict[str, tuple[np.ndarray, tuple[int, int]]] = field(default_factory=dict)
    """Parts drawn into separate patches (`split`), e.g. forearms over a table."""


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, float) @ matrix[:, :2].T + matrix[:, 2]


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """outer ∘ inner for 2x3 affines."""
    result = np.zeros((2, 3))
    result[:, :2] = outer[:, :2] @ inner[:, :2]
    result[:, 2] = outer[:, :2] @ inner[:, 2] + outer[:, 2]
    return result


def matched_skeleton(rest: np.ndarray, skeleton: np.ndarray) -> np.ndarray:
    """The skeleton with each left/right limb pair swapped where that brings it nearer the
    rest joints: a mirrored view and a skeleton may label the near arm differently, and the
    near painted arm must follow the near skeleton arm."""
    result = np.array(skeleton, float, copy=True)
    for right, left in LIMB_GROUPS:
        joints = list(right) + list(left)
        if (result[joints, 2] <= 0).any():
            continue
        r, lf = list(right), list(left)
        direct = (np.hypot(*(result[r, :2] - rest[r]).T).sum()
                  + np.hypot(*(result[lf, :2] - rest[lf]).T).sum())
        swapped = (np.hypot(*(result[r, :2] - rest[lf]).T).sum()
                   + np.hypot(*(result[lf, :2] - rest[r]).T).sum())
        if swapped < direct:
            result[r + lf] = result[lf + r]
    return result


Affine = tuple[float, float, float, float, float, float]
"""(a, b, c, d, e, f): x' = a x + b y + e, y' = c x + d y + f (plain floats: per-part maths
on 2-vectors is many times faster without numpy's per-call overhead)."""
IDENTITY: Affine = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def _delta(na: tuple[float, float], nb: tuple[float, float], ta: tuple[float, float],
           tb: tuple[float, float]) -> tuple[float, float] | None:
    """(turn in radians, stretch) taking the neutral bone na→nb onto the posed ta→tb; None
    for a degenerate bone."""
    rx, ry = nb[0] - na[0], nb[1] - na[1]
    tx, ty = tb[0] - ta[0], tb[1] - ta[1]
    rest_len, target_len = math.hypot(rx, ry), math.hypot(tx, ty)
    if rest_len < 1e-6 or target_len < 1e-6:
        return None
    angle = math.atan2(ty, tx) - math.atan2(ry, rx)
    stretch = min(max(target_len / rest_len, SCALE_RANGE[0]), SCALE_RANGE[1])
    return angle, stretch


def _linear(angle: float, stretch: float, bone: tuple[float, float]
            ) -> tuple[float, float, float, float]:
    """Rotation by `angle` after a stretch along the painted bone direction `bone`."""
    c, s = math.cos(angle), math.sin(angle)
    length = math.hypot(*bone)
    if abs(stretch - 1.0) < 1e-9 or length < 1e-6:
        return c, -s, s, c
    ux, uy = bone[0] / length, bone[1] / length
    k = stretch - 1.0  # I + k u u^T, then the rotation
    m00, m01, m11 = 1.0 + k * ux * ux, k * ux * uy, 1.0 + k * uy * uy
    return c * m00 - s * m01, c * m01 - s * m11, s * m00 + c * m01, s * m01 + c * m11


def _lean(bone: tuple[float, float], angle: float, stretch: float
          ) -> tuple[float, float, float, float]:
    """The linear map taking the painted torso bone to itself turned by `angle` and stretched,
    leaving the direction across it (the shoulders' line) unchanged: a body bending forward
    towards the camera slants and shortens on screen; it does not tip over sideways."""
    length = math.hypot(*bone)
    if length < 1e-6:
        return 1.0, 0.0, 0.0, 1.0
    ux, uy = bone[0] / length, bone[1] / length
    c, s = math.cos(angle), math.sin(angle)
    tx, ty = stretch * (c * ux - s * uy), stretch * (s * ux + c * uy)
    # [turned, across] @ inverse([unit, across]); the latter is a rotation: its transpose
    return tx * ux + uy * uy, tx * uy - uy * ux, ty * ux - ux * uy, ty * uy + ux * ux


def _at(m: Affine, x: float, y: float) -> tuple[float, float]:
    return m[0] * x + m[1] * y + m[4], m[2] * x + m[3] * y + m[5]


def _then(outer: Affine, inner: Affine) -> Affine:
    """outer ∘ inner."""
    a, b, c, d, e, f = outer
    p, q, r, s, t, u = inner
    return (a * p + b * r, a * q + b * s, c * p + d * r, c * q + d * s,
            a * t + b * u + e, c * t + d * u + f)


def _extended(points: np.ndarray, heads: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(20, 2) joints and (20,) presence: the 18 keypoints, the hips' midpoint and the centre
    of the head points `heads`."""
    joints = np.zeros((20, 2))
    joints[:18] = points[:, :2]
    have = np.zeros(20, bool)
    have[:18] = points[:, 2] > 0
    if have[8] and have[11]:
        joints[MID_HIP] = points[[8, 11], :2].mean(axis=0)
        have[MID_HIP] = True
    if heads:
        joints[HEAD] = points[heads, :2].mean(axis=0)
        have[HEAD] = True
    return joints, have


def part_transforms(rig: Rig, image_matrix: np.ndarray, skeleton: np.ndarray,
                    neutral: np.ndarray | None = None, reach: frozenset[str] = frozenset(),
                    frame_size: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """Each part's frame affine (unrigged placement → posed) for a (18, 3) frame skeleton,
    as 2x3 arrays (see `_part_affines`; `frame_size`, width and height, lets a figure whose
    hips are below the frame be posed as a bust)."""
    return _arrays(_part_affines(rig, image_matrix, skeleton, neutral, reach, frame_size))


@dataclass
class _Figure:
    """What posing one frame compares: the painted joints (frame pixels, as the unrigged
    cut-out is placed), the neutral's (`was`) and the skeleton's (`now`) joints, which of
    them both skeletons have, and the rig's size in frame pixels."""

    points: list[tuple[float, float]]
    was: list[tuple[float, float]]
    now: list[tuple[float, float]]
    ok: list[bool]
    height_px: float
    frame_size: tuple[int, int] | None


def _figure(rig: Rig, image_matrix: np.ndarray, skeleton: np.ndarray,
            neutral: np.ndarray | None, frame_size: tuple[int, int] | None) -> _Figure:
    """The painted, neutral and posed joints of a frame (see `_Figure`)."""
    rest = _apply(image_matrix, rig.joints)
    if neutral is None:
        neutral = np.concatenate([rest[:18], np.ones((18, 1))], axis=1)
    neutral = np.asarray(neutral, float)
    target = matched_skeleton(neutral[:, :2], np.asarray(skeleton, float))
    heads = [i for i in HEAD_POINTS if target[i, 2] > 0 and neutral[i, 2] > 0]
    goal, have_goal = _extended(target, heads)
    base, have_base = _extended(neutral, heads)
    painted = rest.copy()
    if heads:
        painted[HEAD] = rest[heads].mean(axis=0)
    scale = math.hypot(float(image_matrix[0, 0]), float(image_matrix[1, 0]))
    return _Figure([tuple(p) for p in painted.tolist()], [tuple(p) for p in base.tolist()],
                   [tuple(p) for p in goal.tolist()], (have_goal & have_base).tolist(),
                   rig.height_px * scale, frame_size)


def _part_affines(rig: Rig, image_matrix: np.ndarray, skeleton: np.ndarray,
                  neutral: np.ndarray | None = None, reach: frozenset[str] = frozenset(),
                  frame_size: tuple[int, int] | None = None) -> dict[str, Affine]:
    """Each part's frame affine (unrigged placement → posed) for a (18, 3) frame skeleton.

    Forward kinematics on the painted joints (`_kinematics`): the torso turns about the
    painted hips, which move as the skeleton's hips move from `neutral`; every other part
    turns about where its parent carried its painted pivot, by the angle its bone turned from
    `neutral` to `skeleton`, and stretches along itself as much as the bone did; the head
    turns as the eye line did (`_head_turn`). `neutral` is the same figure in the pose the
    view is painted in (standing or seated, at rest), in frame pixels; None: the rig's own
    joints as placed (`image_matrix`, level-0 view → frame) are the neutral pose, so the
    skeleton's bone angles are the rendered ones. Parts in `reach` aim from where their pivot
    was carried at the skeleton's end joint itself.

    A figure whose hips and knees are below the frame (`frame_size`, width and height; None:
    never) is a bust: posed as one piece by `_bust_affine` (`_bust_weight` fades from the
    kinematic pose to it over a short band below the frame's bottom edge), only an arm whose
    elbow or wrist is in the frame still following its bones, and the head still rolling
    with the eye line."""
    figure = _figure(rig, image_matrix, skeleton, neutral, frame_size)
    weight = _bust_weight(figure)
    kinematic = _kinematics(figure, reach, None) if weight < 1.0 else {}
    bust = _bust_affine(figure) if weight > 0.0 else None
    if bust is None:
        return kinematic or _kinematics(figure, reach, None)
    posed = _kinematics(figure, reach, bust)
    if weight >= 1.0:
        return posed
    return {name: _mix(kinematic[name], posed[name], weight) for name in posed}


def _mix(a: Affine, b: Affine, weight: float) -> Affine:
    """The affine `weight` of the way from `a` to `b` (entry by entry)."""
    if a is b:
        return a
    return tuple(p + weight * (q - p) for p, q in zip(a, b, strict=True))  # type: ignore[return-value]


def _kinematics(figure: _Figure, reach: frozenset[str], bust: Affine | None
                ) -> dict[str, Affine]:
    """Forward kinematics (see `_part_affines`). With `bust` (a similarity, `_bust_affine`)
    the torso rides it and so does every part but the head and the arms `_arms_in_frame`."""
    points, was, now, ok = figure.points, figure.was, figure.now, figure.ok
    follow = _arms_in_frame(figure) if bust is not None else frozenset()
    found: dict[str, Affine] = {}
    for name, spec in PARTS.items():
        parent = found[spec.parent] if spec.parent else IDENTITY
        if bust is not None and (spec.parent is None or (name != "head"
                                                         and name not in follow)):
            found[name] = bust if spec.parent is None else parent
            continue
        pivot = points[spec.pivot]
        if spec.parent is None:
            moved = pivot
            if ok[spec.pivot]:
                moved = (pivot[0] + now[spec.pivot][0] - was[spec.pivot][0],
                         pivot[1] + now[spec.pivot][1] - was[spec.pivot][1])
        else:
            moved = _at(parent, *pivot)
        end = points[spec.end]
        bone = (end[0] - pivot[0], end[1] - pivot[1])
        if name == "head":
            linear = _head_linear(figure, parent, bone, bust)
        else:
            linear = _bone_linear(figure, name, parent, moved, bone, reach)
        a, b, c, d = linear
        matrix: Affine = (a, b, c, d, moved[0] - a * pivot[0] - b * pivot[1],
                          moved[1] - c * pivot[0] - d * pivot[1])
        if spec.parent is not None:  # within SNAP_PX of its parent: the parent's (one warp)
            thick = spec.radius * figure.height_px
            probes = (pivot, end, (pivot[0] + thick, pivot[1]), (pivot[0], pivot[1] + thick))
            if matrix == parent or all(
                    abs(p - q) < SNAP_PX for x, y in probes
                    for p, q in zip(_at(matrix, x, y), _at(parent, x, y), strict=True)):
                matrix = parent
        found[name] = matrix
    return found


def _bone_linear(figure: _Figure, name: str, parent: Affine, moved: tuple[float, float],
                 bone: tuple[float, float], reach: frozenset[str]
                 ) -> tuple[float, float, float, float]:
    """The linear part of a body part's affine (not the head's): its bone's turn and stretch
    from the neutral to the skeleton (the torso leans instead: `_lean`), its parent's when
    the skeleton lacks the bone, none for a flat part (a foot)."""
    spec = PARTS[name]
    was, now, ok = figure.was, figure.now, figure.ok
    bone_from, bone_to = spec.pivot, spec.end
    if spec.pivot == spec.end and spec.parent:  # a hand turns with its forearm
        bone_from = PARTS[spec.parent].pivot
    if spec.flat:
        return 1.0, 0.0, 0.0, 1.0
    if name in reach and ok[spec.end]:  # aimed at the skeleton's joint itself
        pivot = figure.points[spec.pivot]
        delta = _delta(pivot, figure.points[spec.end], moved, now[spec.end])
        return parent[:4] if delta is None else _linear(*delta, bone)
    if not (ok[bone_from] and ok[bone_to]):
        return parent[:4]
    delta = _delta(was[bone_from], was[bone_to], now[bone_from], now[bone_to])
    if delta is None:
        return parent[:4]
    angle, stretch = delta
    if spec.parent is None:  # the torso leans (shears): shoulders stay level
        limit = math.radians(TORSO_LEAN_DEG)
        stretch = min(max(stretch, TORSO_STRETCH[0]), TORSO_STRETCH[1])
        return _lean(bone, min(max(angle, -limit), limit), stretch)
    return _linear(angle, 1.0 if spec.rigid else stretch, bone)


def _head_linear(figure: _Figure, parent: Affine, bone: tuple[float, float],
                 bust: Affine | None) -> tuple[float, float, float, float]:
    """The head's linear map: turned as the skeleton's eye line turned (`_head_turn`),
    clamped to `HEAD_TURN_DEG`, at its painted size; on a bust (`bust`) at the bust's scale,
    and only by as much as the turn exceeds the bust's own by more than `HEAD_ROLL_DEAD_DEG`
    (a smaller roll rides the body, which keeps the figure one piece)."""
    turn = _head_turn(figure)
    if turn is None:
        return parent[:4]
    limit = math.radians(HEAD_TURN_DEG)
    turn = min(max(turn, -limit), limit)
    if bust is None:
        return _linear(turn, 1.0, bone)
    body = math.atan2(bust[2], bust[0])
    dead = math.radians(HEAD_ROLL_DEAD_DEG)
    extra = turn - body
    if abs(extra) <= dead:
        return bust[:4]
    angle = body + extra - math.copysign(dead, extra)
    size = math.hypot(bust[0], bust[2])
    c, s = size * math.cos(angle), size * math.sin(angle)
    return c, -s, s, c


def _head_turn(figure: _Figure) -> float | None:
    """How far (radians) the skeleton's head turned on screen from the neutral's: the turn
    of its eye line (COCO 14→15, or the ears 16→17 where an eye is missing or the pair is
    seen edge-on, as in a profile), taken modulo a half turn (a pair labelled the other way
    round is the same line). The eye line, unlike the neck-to-head bone, stays level when
    the head comes towards the camera (in perspective the bone then swings down). Without
    either pair: the neck-to-head bone's turn."""
    was, now, ok = figure.was, figure.now, figure.ok
    for a, b in EYE_PAIRS:
        if not (ok[a] and ok[b]):
            continue
        before = (was[b][0] - was[a][0], was[b][1] - was[a][1])
        after = (now[b][0] - now[a][0], now[b][1] - now[a][1])
        if not (_broadside(before, was, ok) and _broadside(after, now, ok)):
            continue
        turn = math.atan2(after[1], after[0]) - math.atan2(before[1], before[0])
        turn = (turn + math.pi) % (2.0 * math.pi) - math.pi
        if abs(turn) > 0.5 * math.pi:
            turn -= math.copysign(math.pi, turn)
        return turn
    if ok[1] and ok[HEAD]:
        delta = _delta(was[1], was[HEAD], now[1], now[HEAD])
        if delta is not None:
            return delta[0]
    return None


def _broadside(pair: tuple[float, float], joints: list[tuple[float, float]], ok: list[bool]
               ) -> bool:
    """Whether a pair of eyes (or ears) spans enough of the head, `EYE_LINE_MIN` of the
    neck-to-head length, for its direction to mean something."""
    span = math.hypot(*pair)
    if not (ok[1] and ok[HEAD]):
        return span > 2.0
    head = math.hypot(joints[HEAD][0] - joints[1][0], joints[HEAD][1] - joints[1][1])
    return span > max(2.0, EYE_LINE_MIN * head)


def _bust_weight(figure: _Figure) -> float:
    """How much of a bust the frame shows the figure as: 0 while its hips or a knee are in
    the frame, rising to 1 once the highest of them is `BUST_BAND` of the neutral's torso
    length below the frame's bottom edge (a skeleton without hips counts as below; up is
    -y). Decided per frame from the joints, not a shot-size name, so any framing works."""
    if figure.frame_size is None:
        return 0.0
    now, ok = figure.now, figure.ok
    if not (ok[1] and ok[2] and ok[5]):
        return 0.0  # no shoulders and neck to fit a bust to
    lows = [now[j][1] for j in (MID_HIP, 9, 12) if ok[j]]
    if not lows:
        return 1.0
    band = max(1.0, BUST_BAND * _torso_length(figure))
    return min(max((min(lows) - figure.frame_size[1]) / band, 0.0), 1.0)


def _bust_affine(figure: _Figure) -> Affine | None:
    """The one similarity a bust is posed by: the least-squares rotation and uniform scale
    (Umeyama, "Least-squares estimation of transformation parameters between two point
    patterns", IEEE TPAMI 13(4), 1991, in its 2D complex form) carrying the neutral's
    across-body spans (shoulders, eyes, ears: `ACROSS_PAIRS`) onto the skeleton's, or, where
    those are seen edge-on (a profile), its neck, shoulders, nose and eyes (`BUST_POINTS`);
    the rotation clamped to `BUST_TURN_DEG` and the scale to `BUST_SCALE`; translated so the
    neutral's eyes (else its head centre, else the points' centroid) land on the skeleton's.
    Spans across the body are what a lean towards the camera leaves unforeshortened: it
    shows as the head and shoulders growing and moving down, while the neck-to-eyes length
    shrinks (the head pitches), which a flat cut-out would show as a shrunk, slanted body.
    None with nothing to fit."""
    was, now, ok = figure.was, figure.now, figure.ok
    spans = [((was[b][0] - was[a][0], was[b][1] - was[a][1]),
              (now[b][0] - now[a][0], now[b][1] - now[a][1]))
             for a, b in ACROSS_PAIRS if ok[a] and ok[b]]
    fit = _similarity(spans)
    shared = [j for j in BUST_POINTS if ok[j]]
    n = float(max(1, len(shared)))
    centres = ((sum(was[j][0] for j in shared) / n, sum(was[j][1] for j in shared) / n),
               (sum(now[j][0] for j in shared) / n, sum(now[j][1] for j in shared) / n))
    if fit is None or fit[2] < (ACROSS_MIN * _torso_length(figure)) ** 2:
        (sx, sy), (tx, ty) = centres
        fit = _similarity([((was[j][0] - sx, was[j][1] - sy), (now[j][0] - tx, now[j][1] - ty))
                           for j in shared]) if len(shared) >= 2 else None
    if fit is None:
        return None
    limit = math.radians(BUST_TURN_DEG)
    angle = min(max(fit[0], -limit), limit)
    size = min(max(fit[1], BUST_SCALE[0]), BUST_SCALE[1])
    c, s = size * math.cos(angle), size * math.sin(angle)
    if ok[14] and ok[15]:
        src = ((was[14][0] + was[15][0]) / 2, (was[14][1] + was[15][1]) / 2)
        dst = ((now[14][0] + now[15][0]) / 2, (now[14][1] + now[15][1]) / 2)
    elif ok[HEAD]:
        src, dst = was[HEAD], now[HEAD]
    elif shared:
        src, dst = centres
    else:
        return None
    return (c, -s, s, c, dst[0] - c * src[0] + s * src[1], dst[1] - s * src[0] - c * src[1])


def _similarity(vectors: list[tuple[tuple[float, float], tuple[float, float]]]
                ) -> tuple[float, float, float] | None:
    """(rotation in radians, scale, spread) of the least-squares similarity taking each
    vector a onto its b (centred points or spans): k = Σ conj(a)·b / Σ|a|² in complex
    numbers (Umeyama 1991 in 2D); spread is Σ|a|². None when degenerate."""
    real = imag = spread = 0.0
    for (ax, ay), (bx, by) in vectors:
        real += ax * bx + ay * by
        imag += ax * by - ay * bx
        spread += ax * ax + ay * ay
    if spread < 1e-9 or math.hypot(real, imag) < 1e-9:
        return None
    return math.atan2(imag, real), math.hypot(real, imag) / spread, spread


def _torso_length(figure: _Figure) -> float:
    """The neutral's neck-to-hips length (frame pixels), else 0.3 of the figure's height."""
    was, ok = figure.was, figure.ok
    if ok[1] and ok[MID_HIP]:
        return math.hypot(was[MID_HIP][0] - was[1][0], was[MID_HIP][1] - was[1][1])
    return 0.3 * figure.height_px


def _arms_in_frame(figure: _Figure) -> frozenset[str]:
    """The arm parts of a bust that still follow their bones: those of an arm whose elbow
    or wrist the skeleton has inside the frame (a hand gesturing in shot, forearms on a
    table top in shot); an arm reaching below the frame stays as painted, so it cannot
    drag the body."""
    if figure.frame_size is None:
        return frozenset()
    width, height = figure.frame_size
    follow: set[str] = set()
    for side, (elbow, wrist) in (("r", (3, 4)), ("l", (6, 7))):
        if any(figure.ok[j] and 0.0 <= figure.now[j][0] < width
               and 0.0 <= figure.now[j][1] < height for j in (elbow, wrist)):
            follow.update((f"{side}_upper_arm", f"{side}_lower_arm", f"{side}_hand"))
    return frozenset(follow)


def _arrays(found: dict[str, Affine]) -> dict[str, np.ndarray]:
    """The affines as 2x3 arrays; parts riding one affine share one array."""
    arrays: dict[int, np.ndarray] = {}
    transforms: dict[str, np.ndarray] = {}
    for name, m in found.items():
        key = id(m)
        if key not in arrays:
            arrays[key] = np.array([[m[0], m[1], m[4]], [m[2], m[3], m[5]]])
        transforms[name] = arrays[key]
    return transforms


def _level_matrix(image_matrix: np.ndarray, level: int, origin: tuple[int, int]
                  ) -> np.ndarray:
    """2x3 from a level-k crop's pixel centres (crop top-left `origin`, level pixels) to
    frame pixels, through the level-0 placement `image_matrix`."""
    factor = float(2 ** level)
    to_image = np.array([[factor, 0.0, factor * origin[0] + 0.5 * factor - 0.5],
                         [0.0, factor, factor * origin[1] + 0.5 * factor - 0.5]])
    return _compose(image_matrix, to_image)


def _over(out: np.ndarray, layer: np.ndarray, at: tuple[int, int]) -> None:
    """Premultiplied 8-bit `layer` over `out` at (x, y) in place."""
    x, y = at
    h, w = layer.shape[:2]
    region = out[y:y + h, x:x + w]
    keep = cv2.bitwise_not(cv2.extractChannel(layer, 3))  # 255 - alpha
    below = cv2.multiply(region, cv2.merge((keep, keep, keep, keep)), scale=1.0 / 255.0)
    region[...] = cv2.add(below, layer)


def _straight(out: np.ndarray) -> np.ndarray:
    """Premultiplied 8-bit RGBA → straight 8-bit RGBA, in place: opaque and empty pixels
    are already straight, so only the partly covered edge pixels are divided."""
    edge = cv2.findNonZero(cv2.inRange(cv2.extractChannel(out, 3), 1, 254))
    if edge is None:
        return out
    points = edge.reshape(-1, 2)
    xs, ys = points[:, 0], points[:, 1]
    pixels = out[ys, xs].astype(np.float32)
    alpha = pixels[:, 3:4]
    pixels[:, :3] = np.minimum(pixels[:, :3] * (255.0 / alpha) + 0.5, 255.0)
    out[ys, xs, :3] = pixels[:, :3].astype(np.uint8)
    return out


def pose(rig: Rig, level: int, source: np.ndarray, image_matrix: np.ndarray,
         skeleton: np.ndarray, frame_size: tuple[int, int], force: bool = False,
         split: frozenset[str] = frozenset(), neutral: np.ndarray | None = None
         ) -> Posed | None:
    """The cut-out posed by `skeleton` (see the module docstring), or None when the skeleton
    is the rest pose (unless `force`) or nothing lands in the frame.

    `source` is the view's level-`level` image (straight RGBA, possibly recoloured),
    `image_matrix` the level-0 placement, `frame_size` (width, height). Parts named in
    `split` are drawn into `Posed.layers` instead of the main patch (a layer of their own
    that the compositor can put at another depth). `neutral`: see `part_transforms`."""
    affines = _part_affines(rig, image_matrix, skeleton, neutral,
                            REACHING if split else frozenset(), frame_size)
    transforms = _arrays(affines)
    parts = rig.level(level, source.shape[:2])
    width, height = frame_size
    placed: list[tuple[str, np.ndarray, tuple[int, int, int, int], np.ndarray]] = []
    moved = False
    f = float(2 ** level)
    m = image_matrix
    placement: Affine = (float(m[0, 0]), float(m[0, 1]), float(m[1, 0]), float(m[1, 1]),
                         float(m[0, 2]), float(m[1, 2]))
    for name in rig.order:
        if name not in parts:
            continue
        (lx0, ly0, lx1, ly1), mask = parts[name]
        base = _then(placement, (f, 0.0, 0.0, f, f * lx0 + 0.5 * f - 0.5,
                                 f * ly0 + 0.5 * f - 0.5))
        matrix = _then(affines[name], base)
        corners = ((-0.5, -0.5), (lx1 - lx0 - 0.5, -0.5), (-0.5, ly1 - ly0 - 0.5),
                   (lx1 - lx0 - 0.5, ly1 - ly0 - 0.5))
        here = [_at(matrix, x, y) for x, y in corners]
        if not moved:
            moved = any(abs(p - q) > REST_PX for (x, y), h in zip(corners, here, strict=True)
                        for p, q in zip(h, _at(base, x, y), strict=True))
        xs, ys = [h[0] for h in here], [h[1] for h in here]
        box = (max(0, math.floor(min(xs)) - 1), max(0, math.floor(min(ys)) - 1),
               min(width, math.ceil(max(xs)) + 2), min(height, math.ceil(max(ys)) + 2))
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        placed.append((name, np.array([[matrix[0], matrix[1], matrix[4]],
                                       [matrix[2], matrix[3], matrix[5]]]), box, mask))
    if not placed or not (moved or force):
        return None
    first = transforms[placed[0][0]]
    if all(transforms[p[0]] is first for p in placed) and not force:  # one piece
        return _moved_whole(source, level, image_matrix, first, placed, width, height)
    groups = {"": [p for p in placed if p[0] not in split]}
    if split:
        groups["split"] = [p for p in placed if p[0] in split]
    patches: dict[str, tuple[np.ndarray, tuple[int, int]]] = {}
    for group, members in groups.items():
        if members:
            patches[group] = _draw(rig, level, source, parts, members, transforms)
    if "" not in patches:
        return None
    rgba, origin = patches[""]
    extra = {"split": patches["split"]} if "split" in patches else {}
    return Posed(rgba, origin, transforms, extra)


def _moved_whole(source: np.ndarray, level: int, image_matrix: np.ndarray,
                 transform: np.ndarray,
                 placed: list[tuple[str, np.ndarray, tuple[int, int, int, int], np.ndarray]],
                 width: int, height: int) -> Posed | None:
    """Every part moving alike (a figure shifted onto its seat): the view warped whole, as
    the unrigged cut-out is, by the one affine (as cheap as no rig)."""
    x0 = min(p[2][0] for p in placed)
    y0 = min(p[2][1] for p in placed)
    x1 = max(p[2][2] for p in placed)
    y1 = max(p[2][3] for p in placed)
    matrix = _compose(transform, _level_matrix(image_matrix, level, (0, 0)))
    matrix[:, 2] -= (x0, y0)
    patch = cv2.warpAffine(source, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    names = {p[0] for p in placed}
    return Posed(patch, (x0, y0), {name: transform for name in names})


def _runs(members: list[tuple[str, np.ndarray, tuple[int, int, int, int], np.ndarray]],
          transforms: dict[str, np.ndarray]) -> list[list[int]]:
    """Consecutive parts (in drawing order) that ride one affine: drawn with one warp."""
    runs: list[list[int]] = []
    for index, (name, _matrix, _box, _mask) in enumerate(members):
        if runs and transforms[name] is transforms[members[runs[-1][-1]][0]]:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs


def _draw(rig: Rig, level: int, source: np.ndarray,
          parts: dict[str, tuple[tuple[int, int, int, int], np.ndarray]],
          members: list[tuple[str, np.ndarray, tuple[int, int, int, int], np.ndarray]],
          transforms: dict[str, np.ndarray]) -> tuple[np.ndarray, tuple[int, int]]:
    """The parts `members` (name, frame matrix of its crop, frame box, mask) warped and
    composited back to front: (straight RGBA patch, its top-left in the frame)."""
    layers = rig.layers(level, source)
    x0 = min(p[2][0] for p in members)
    y0 = min(p[2][1] for p in members)
    x1 = max(p[2][2] for p in members)
    y1 = max(p[2][3] for p in members)
    out = np.zeros((y1 - y0, x1 - x0, 4), np.uint8)
    for run in _runs(members, transforms):
        names = tuple(members[i][0] for i in run)
        first = parts[names[0]][0]
        if len(run) == 1:
            layer, crop = layers[names[0]], first
        else:  # parts moving alike: one merged layer (kept with the part layers)
            boxes = [parts[n][0] for n in names]
            crop = (min(b[0] for b in boxes), min(b[1] for b in boxes),
                    max(b[2] for b in boxes), max(b[3] for b in boxes))
            layer = layers.get(names)  # type: ignore[call-overload]
            if layer is None:
                layer = np.zeros((crop[3] - crop[1], crop[2] - crop[0], 4), np.uint8)
                for n, b in zip(names, boxes, strict=True):
                    _over(layer, layers[n], (b[0] - crop[0], b[1] - crop[1]))
                layers[names] = layer  # type: ignore[index]
        matrix = members[run[0]][1].copy()  # the first part's crop → frame
        matrix[:, 2] += matrix[:, :2] @ (crop[0] - first[0], crop[1] - first[1])
        box = (min(members[i][2][0] for i in run), min(members[i][2][1] for i in run),
               max(members[i][2][2] for i in run), max(members[i][2][3] for i in run))
        matrix[:, 2] -= (box[0], box[1])
        warped = cv2.warpAffine(layer, matrix, (box[2] - box[0], box[3] - box[1]),
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                borderValue=(0, 0, 0, 0))
        _over(out, warped, (box[0] - x0, box[1] - y0))
    return _straight(out), (x0, y0)


def pose_cutout(cast: object, view_name: str, level: int, source: np.ndarray,
                image_matrix: np.ndarray, skeleton: np.ndarray, frame_size: tuple[int, int],
                neutral: np.ndarray | None = None, split: frozenset[str] = frozenset()
                ) -> Posed | None:
    """`pose` for a view of a `sheets.CastCutouts` (its rig from `rig.view_rig`): the hook
    `cutouts.place` calls when the frame has a skeleton for the character."""
    from render_engine.proxy.rig import view_rig

    skeleton = np.asarray(skeleton, float)
    if skeleton.shape != (18, 3) or not np.isfinite(skeleton).all():
        return None
    if neutral is not None:
        neutral = np.asarray(neutral, float)
        if neutral.shape != (18, 3) or not np.isfinite(neutral).all():
            neutral = None
    return pose(view_rig(cast, view_name), level, source, image_matrix, skeleton, frame_size,
                split=split, neutral=neutral)


def head_matrix(posed: Posed | None, image_matrix: np.ndarray) -> np.ndarray:
    """Level-0 view pixels → frame pixels for the head (mouth, eyes, head top follow it)."""
    if posed is None or "head" not in posed.transforms:
        return image_matrix
    return _compose(posed.transforms["head"], image_matrix)


FOREARMS = frozenset({"r_lower_arm", "r_hand", "l_lower_arm", "l_hand"})
"""The parts that rest on a surface (a table top) and are drawn in front of its mask."""
REACHING = frozenset({"r_upper_arm", "r_lower_arm", "l_upper_arm", "l_lower_arm"})
"""Arms resting on a surface reach the skeleton's elbows and wrists themselves (where the
surface is), not just turn as its arms did: the sheet's seated body need not sit exactly
where the figure does."""


def split_sprites(sprite: object, depth: float) -> list:
    """The sprites of a posed cut-out's split layers (`pose(split=...)`), placed at `depth`
    (metres from the camera) or the character's own depth if that is nearer: forearms resting
    on a table are drawn over the table's mask while the legs stay behind it. Each shares the
    character's light and name but has no face and no contact shadow."""
    from render_engine.proxy.cutouts import Sprite

    posed = sprite.extra.get("posed")  # type: ignore[attr-defined]
    if posed is None or "split" not in posed.layers:
        return []
    rgba, (x0, y0) = posed.layers["split"]
    coverage = np.ascontiguousarray(rgba[..., 3])
    if not cv2.countNonZero(coverage):
        return []
    base: Sprite = sprite  # type: ignore[assignment]
    layer = Sprite(
        name=base.name, view=base.view, mirrored=base.mirrored,
        rgb=np.ascontiguousarray(rgba[..., :3]), coverage=coverage, x0=x0, y0=y0,
        depth=min(base.depth, depth), feet=base.feet, height_px=base.height_px, up=base.up,
        world=base.world, body_half_px=base.body_half_px, lab=base.lab, matched=base.matched,
        light=base.light)
    layer.extra["layer_of"] = base.name
    return [layer]
IN_FRONT_M = 0.02
"""How far in front of a surface's mask its resting forearms are drawn (metres)."""
