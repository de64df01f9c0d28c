"""Timing clean-up for a mouth-shape timeline: merging, minimum holds and tween shapes.

A timeline is `bounds` (n + 1 increasing times from 0 to the duration) and `shapes` (n
Rhubarb letters), so cues are contiguous by construction. The rules follow Rhubarb Lip Sync:
a shape is held at least two frames (shorter ones borrow time from neighbours or merge into
the most similar one, a closed mouth A winning because bilabials must read on screen), and
big jumps get an in-between shape (D→A/B/G/X through C; C↔F and D→F through E).
"""

from __future__ import annotations

from render_engine.audio.voice import MouthCue

EPS = 1e-9

# Mouth openness, lip rounding and a flag for the odd ones out (teeth on lip, tongue).
_FEATURES: dict[str, tuple[float, float, float]] = {
    "A": (0.0, 0.0, 0.0), "B": (1.0, 0.0, 0.0), "C": (2.0, 0.0, 0.0), "D": (3.0, 0.0, 0.0),
    "E": (2.0, 1.0, 0.0), "F": (1.0, 2.0, 0.0), "G": (0.5, 0.0, 1.0), "H": (2.0, 0.0, 1.0),
    "X": (0.3, 0.0, 0.0),
}
TWEENS: dict[tuple[str, str], str] = {
    ("D", "A"): "C", ("D", "B"): "C", ("D", "G"): "C", ("D", "X"): "C",
    ("C", "F"): "E", ("F", "C"): "E", ("D", "F"): "E",
}
PROTECTED = frozenset("A")


def shape_distance(a: str, b: str) -> float:
    """How far the mouth moves from shape `a` to `b` (0 for the same shape)."""
    if a == b:
        return 0.0
    fa, fb = _FEATURES[a], _FEATURES[b]
    return abs(fa[0] - fb[0]) + abs(fa[1] - fb[1]) + 0.5 * abs(fa[2] - fb[2])


def merge_equal(bounds: list[float], shapes: list[str]) -> tuple[list[float], list[str]]:
    """Join neighbouring cues with the same shape and drop empty ones."""
    out_b, out_s = [bounds[0]], []
    for i, shape in enumerate(shapes):
        if bounds[i + 1] - bounds[i] <= EPS and len(shapes) > 1:
            continue
        if out_s and out_s[-1] == shape:
            out_b[-1] = bounds[i + 1]
        else:
            out_s.append(shape)
            out_b.append(bounds[i + 1])
    out_b[-1] = bounds[-1]
    if not out_s:
        out_s = [shapes[0] if shapes else "X"]
    return out_b, out_s


def _merge_into(bounds: list[float], shapes: list[str], i: int, j: int, shape: str) -> None:
    """Replace cues i and j (neighbours) by one cue of `shape`, in place."""
    lo = min(i, j)
    del bounds[lo + 1]
    shapes[lo] = shape
    del shapes[lo + 1]


def enforce_min_hold(
    bounds: list[float], shapes: list[str], min_hold: float
) -> tuple[list[float], list[str]]:
    """Make every cue at least `min_hold` long (unless the whole timeline is shorter).

    The shortest offender first borrows spare time from its neighbours (each keeps
    `min_hold`); if there is not enough, it merges into the neighbour whose shape is closest.
    """
    bounds, shapes = merge_equal(list(bounds), list(shapes))
    while len(shapes) > 1:
        durs = [bounds[k + 1] - bounds[k] for k in range(len(shapes))]
        short = [k for k, d in enumerate(durs) if d < min_hold - EPS]
        if not short:
            break
        i = min(short, key=lambda k: (durs[k], k))
        need = min_hold - durs[i]
        left = max(durs[i - 1] - min_hold, 0.0) if i > 0 else 0.0
        right = max(durs[i + 1] - min_hold, 0.0) if i + 1 < len(shapes) else 0.0
        if left + right >= need - EPS:
            take_left = need * left / (left + right)
            bounds[i] -= take_left
            bounds[i + 1] += need - take_left
            continue
        neighbours = [k for k in (i - 1, i + 1) if 0 <= k < len(shapes)]
        if shapes[i] in PROTECTED:
            j = min(neighbours, key=lambda k: (durs[k], k))
            merged = shapes[i]
        else:
            j = min(neighbours, key=lambda k: (shape_distance(shapes[i], shapes[k]), -durs[k]))
            merged = shapes[i] if shapes[j] not in PROTECTED and durs[i] > durs[j] else shapes[j]
        _merge_into(bounds, shapes, i, j, merged)
        bounds, shapes = merge_equal(bounds, shapes)
    return bounds, shapes


def insert_tweens(
    bounds: list[float], shapes: list[str], min_hold: float
) -> tuple[list[float], list[str]]:
    """Put Rhubarb's in-between shape at big jumps where both sides can spare the time.

    The tween lasts `min_hold`, taken from the end of the first cue where possible (Rhubarb
    eases out of a shape before the next one), and both neighbours keep at least `min_hold`.
    """
    out_b, out_s = [bounds[0]], [shapes[0]]
    for k in range(1, len(shapes)):
        tween = TWEENS.get((shapes[k - 1], shapes[k]))
        boundary = bounds[k]
        if tween is not None:
            spare_left = boundary - out_b[-1] - min_hold
            spare_right = bounds[k + 1] - boundary - min_hold
            enough = spare_left + spare_right >= min_hold - EPS
            if enough and min(spare_left, spare_right) >= -EPS:
                take_left = min(max(spare_left, 0.0), min_hold)
                out_b.append(boundary - take_left)
                out_s.append(tween)
                boundary += min_hold - take_left
        out_b.append(boundary)
        out_s.append(shapes[k])
    out_b.append(bounds[-1])
    return out_b, out_s


def to_cues(bounds: list[float], shapes: list[str]) -> list[MouthCue]:
    """MouthCues from a bounds/shapes timeline (each end is exactly the next start)."""
    return [MouthCue(float(bounds[k]), float(bounds[k + 1]), s) for k, s in enumerate(shapes)]


def finalize(bounds: list[float], shapes: list[str], fps: float) -> list[MouthCue]:
    """Merge, enforce the two-frame hold, add tweens: the last step of every cue builder."""
    min_hold = 2.0 / fps
    bounds, shapes = enforce_min_hold(bounds, shapes, min_hold)
    bounds, shapes = insert_tweens(bounds, shapes, min_hold)
    bounds, shapes = merge_equal(bounds, shapes)
    return to_cues(bounds, shapes)
