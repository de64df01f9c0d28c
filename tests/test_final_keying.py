"""Keying vace_layers renders against the known key colour (no torch needed)."""

from __future__ import annotations

import numpy as np
import pytest

from render_engine.final.layers import KEY_COLOUR, keyed
from render_engine.proxy.keying import key_screen, known_screen, screen_colour

SKIN = (196, 142, 112)


def _frame(figure: tuple[slice, slice], size: int = 64, noise: float = 6.0,
           seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A figure (flat skin tone) on the key colour, both with Gaussian noise, as a rendered
    layer looks; and the true alpha (1 on the figure)."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((size, size), np.float32)
    truth[figure] = 1.0
    clean = np.where(truth[..., None] > 0, np.array(SKIN, np.float32),
                     np.array(KEY_COLOUR, np.float32))
    noisy = clean + rng.normal(0.0, noise, clean.shape)
    return np.clip(noisy + 0.5, 0, 255).astype(np.uint8), truth


def _inside(truth: np.ndarray, margin: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Pixels well inside the figure and well inside the screen (the 3×3 anti-alias blur
    softens the edge itself)."""
    import cv2

    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    figure = cv2.erode(truth.astype(np.uint8), kernel) > 0
    screen = cv2.erode((1 - truth).astype(np.uint8), kernel) > 0
    return figure, screen


def test_a_figure_on_the_noisy_key_colour_keys_to_its_alpha() -> None:
    frame, truth = _frame((slice(12, 56), slice(20, 44)))
    alpha = key_screen(frame, screen=KEY_COLOUR)[..., 3].astype(np.float32) / 255.0
    figure, screen = _inside(truth)
    assert alpha[figure].min() > 0.97
    assert alpha[screen].max() < 0.03
    assert np.abs(alpha - truth).mean() < 0.02
    # spill suppressed: the keyed figure keeps its colour, not the screen's green
    rgb = key_screen(frame, screen=KEY_COLOUR)[..., :3].astype(np.float32)
    assert np.abs(rgb[figure].mean(axis=0) - np.array(SKIN)).max() < 4


def test_a_close_up_filling_the_border_keys_only_with_the_known_colour() -> None:
    # the figure covers the left, right and bottom edges: the border is mostly skin
    frame, truth = _frame((slice(10, 64), slice(0, 64)))
    truth[10:40, 24:40] = 0.0  # a gap of screen between head and shoulders
    frame[10:40, 24:40] = _frame((slice(0, 0), slice(0, 0)))[0][10:40, 24:40]
    assert screen_colour(frame) is None  # the border guess finds no screen ...
    assert (key_screen(frame)[..., 3] == 255).all()  # ... so the default keeps it opaque
    alpha = key_screen(frame, screen=KEY_COLOUR)[..., 3].astype(np.float32) / 255.0
    figure, screen = _inside(truth)
    assert alpha[figure].min() > 0.97 and alpha[screen].max() < 0.03
    # the layer keyer uses the known colour (and the region limits it)
    region = np.ones(truth.shape, np.float32)
    region[:, :8] = 0.0
    layer = keyed(frame, region)[..., 3].astype(np.float32) / 255.0
    assert layer[figure & (region > 0)].min() > 0.97 and layer[screen].max() < 0.03
    assert layer[:, :8].max() == 0.0


def test_default_keying_still_guesses_the_screen_from_the_border() -> None:
    frame, _truth = _frame((slice(12, 56), slice(20, 44)))
    kind, median = screen_colour(frame)
    assert kind == "green"
    assert np.array_equal(key_screen(frame), key_screen(frame, screen=median))
    blue = frame[..., [0, 2, 1]]  # the same picture on a blue screen
    assert screen_colour(blue)[0] == "blue"
    assert known_screen((10, 40, 200))[0] == "blue"
    with pytest.raises(ValueError, match="neither green nor blue"):
        known_screen((128, 128, 128))
