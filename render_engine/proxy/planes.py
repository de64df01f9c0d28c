"""Per-pixel planes of a view (the plate's depth, a foreground mask's alpha) made only where asked.

A moving camera needs a new depth plane and new masks every frame, but the compositor only
ever reads them inside the characters' boxes. A `Plane` computes the pixels of a box on
demand (`crop`), or the whole plane once (`full`) when something needs all of it; `crop`
works on plain arrays too, so callers accept either.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Box = tuple[int, int, int, int]
"""x0, y0, x1, y1 (exclusive) in frame pixels."""


class Plane:
    """An H x W plane whose pixels are computed per box (see the module docstring)."""

    def __init__(self, shape: tuple[int, int], crop: Callable[[Box], np.ndarray],
                 full: Callable[[], np.ndarray]):
        """`crop(box)` makes the box's pixels, `full()` the whole plane; both must agree."""
        self.shape = shape
        self._crop = crop
        self._make_full = full
        self._full: np.ndarray | None = None

    def crop(self, box: Box) -> np.ndarray:
        """The plane's pixels inside `box` (clipped to the plane)."""
        if self._full is not None:
            return _slice(self._full, box)
        x0, y0, x1, y1 = _clip(box, self.shape)
        return self._crop((x0, y0, x1, y1))

    def full(self) -> np.ndarray:
        """The whole plane, made once."""
        if self._full is None:
            self._full = self._make_full()
        return self._full

    def made(self) -> np.ndarray | None:
        """The whole plane if something already made it, else None (nothing is computed)."""
        return self._full

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        return np.asarray(self.full(), dtype=dtype)  # type: ignore[call-overload]


def crop(plane: np.ndarray | Plane, box: Box) -> np.ndarray:
    """The pixels of a plane (an array or a `Plane`) inside `box`."""
    if isinstance(plane, Plane):
        return plane.crop(box)
    return _slice(plane, box)


def _clip(box: Box, shape: tuple[int, ...]) -> Box:
    x0, y0, x1, y1 = box
    height, width = shape[:2]
    x0, y0 = min(max(x0, 0), width), min(max(y0, 0), height)
    return x0, y0, min(max(x1, x0), width), min(max(y1, y0), height)


def _slice(array: np.ndarray, box: Box) -> np.ndarray:
    x0, y0, x1, y1 = _clip(box, array.shape)
    return array[y0:y1, x0:x1]
