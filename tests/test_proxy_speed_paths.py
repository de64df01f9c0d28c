"""Proxy speed paths (issue 17's 4x-real-time item): each shortcut gives the long way's pixels.

A moving camera warps its foreground masks only inside the boxes the compositor asks for, a
still camera's floor test is made once per camera, mip levels of the nearest depth come from
strided minima, and the shading gain's grid is built without numpy's small-array overhead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from render_engine.bible import Production, load_production
from render_engine.proxy.camera import Camera
from render_engine.proxy.cutouts import Sprite
from render_engine.proxy.planes import Plane, crop
from render_engine.proxy.plates import PAD, PlateRenderer, _near_pyramid, _pad, _pyramid
from render_engine.spec import ShotSpec
from tests.proxy_sets import CAMERA_HEIGHT

MOVED = Camera((0.3, 1.0, 0.9), 4.0, -6.0, 55.0, 320, 180)
STILL = Camera((0.0, CAMERA_HEIGHT, 0.0), 7.0, -3.0, 55.0, 320, 180)
BOXES = [(0, 0, 320, 180), (37, 12, 151, 170), (200, 90, 320, 180), (5, 5, 6, 9)]


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Production:
    from tests.proxy_sets import build_proxy_production
    return load_production(build_proxy_production(tmp_path_factory.mktemp("speed") / "sets"))


def _shot(set_name: str) -> ShotSpec:
    return ShotSpec.model_validate({"shot": {"id": "s-1", "size": "WS", "subjects": []},
                                    "set": set_name, "characters": [], "camera": {}})


@pytest.mark.parametrize("parallax", ["fast", "sharp"])
@pytest.mark.parametrize("set_name", ["strip", "flat"])
def test_a_moving_frame_warps_its_masks_only_in_the_boxes_asked_for(
        production: Production, parallax: str, set_name: str) -> None:
    lazy = PlateRenderer(production, _shot(set_name), parallax=parallax)
    whole = PlateRenderer(production, _shot(set_name), parallax=parallax)
    lazy.background_planes(MOVED)  # a frame asks for its plate first, then for the masks
    planes = lazy.foreground_planes(MOVED)
    lazy.unsupported(MOVED)
    masks = whole.foreground(MOVED)
    assert masks and len(planes) == len(masks)
    view = lazy._views[MOVED]
    if view.ghosts is None:  # no disocclusion filled from around it: every mask is per box
        assert all(isinstance(alpha, Plane) for alpha, _ in planes)
        assert view.masks is None
    for (alpha, depth), (reference, ref_depth) in zip(planes, masks, strict=True):
        assert depth == ref_depth
        for box in BOXES:
            assert crop(alpha, box).tobytes() == crop(reference, box).tobytes(), box
    assert view.masks is None or view.ghosts is not None  # nothing made the whole masks


def test_a_still_camera_makes_its_masks_and_depth_once(production: Production) -> None:
    renderer = PlateRenderer(production, _shot("flat"))
    for _ in range(3):  # three frames of a static shot
        _, depth = renderer.background_planes(STILL)
        planes = renderer.foreground_planes(STILL)
    assert depth.made() is not None
    assert all(isinstance(alpha, np.ndarray) for alpha, _ in planes)
    assert renderer._views[STILL].hits == 2


def _sprite(x0: int, y0: int, w: int, h: int, depth: float) -> Sprite:
    return Sprite(name="jane", view="front", mirrored=False,
                  rgb=np.full((h, w, 3), 128, np.uint8), coverage=np.full((h, w), 255, np.uint8),
                  x0=x0, y0=y0, depth=depth, feet=(x0 + w / 2, y0 + h), height_px=float(h),
                  up=(0.0, -1.0), world=(0.0, 0.9, depth))


def test_a_still_cameras_floor_test_is_made_once_and_matches_per_box(
        production: Production) -> None:
    from render_engine.proxy import occlusion

    renderer = PlateRenderer(production, _shot("flat"))
    renderer.background_planes(STILL)
    _, plane = renderer.background_planes(STILL)  # seen again: the whole plane exists
    whole = plane.made()
    assert whole is not None
    for x0, y0, w, h, depth in ((40, 30, 90, 140, 2.5), (150, 60, 60, 120, 1.2),
                                (0, 100, 320, 80, 6.0)):
        sprite = _sprite(x0, y0, w, h, depth)
        box = sprite.bbox
        expected = occlusion._not_floor_of(STILL, crop(whole, box), box)
        cached = occlusion._not_floor(STILL, whole)
        assert occlusion._not_floor(STILL, whole) is cached  # once per camera and plate
        assert crop(cached, box).tobytes() == expected.tobytes()
        # the visibility through the cached path equals the per-box one (a lazy plane)
        fresh = PlateRenderer(production, _shot("flat"))
        _, lazy = fresh.background_planes(STILL)
        assert lazy.made() is None
        a = occlusion.depth_visibility(sprite, plane, STILL)
        b = occlusion.depth_visibility(sprite, lazy, STILL)
        assert (a is None) == (b is None)
        if a is not None:
            assert a.tobytes() == b.tobytes()
    other = STILL.moved(yaw_deg=8.0)
    assert occlusion._not_floor(other, whole) is not occlusion._not_floor(STILL, whole)


class _Model:
    def __init__(self, kind: str) -> None:
        self.kind = kind


@pytest.mark.parametrize("kind", ["flat", "360"])
def test_near_pyramid_is_the_minimum_of_each_two_by_two_block(kind: str) -> None:
    rng = np.random.default_rng(3)
    ray = rng.uniform(0.5, 40.0, (203, 317)).astype(np.float32)
    ray[rng.random(ray.shape) < 0.05] = np.inf
    model = _Model(kind)
    levels = [_pad(level, model) for level in _pyramid(np.zeros((203, 317, 3), np.uint8))]
    out = _near_pyramid(_pad(ray, model), levels, model)
    near = ray
    for level, got in zip(levels[1:], out[1:], strict=True):
        rows = level.shape[0]
        cols = level.shape[1] - (2 * PAD if kind == "360" else 0)
        grown = np.pad(near, ((0, rows * 2 - near.shape[0]), (0, cols * 2 - near.shape[1])),
                       mode="edge")
        near = grown.reshape(rows, 2, cols, 2).min(axis=(1, 3))
        assert got.shape == level.shape[:2]
        assert got.tobytes() == _pad(near, model).tobytes()


def test_shading_grid_matches_numpy_linspace() -> None:
    from render_engine.proxy.shading import _linspace

    for stop in (1, 2, 7, 63, 64, 199, 359, 639, 1279):
        for num in (2, 3, max(2, -(-(stop + 1) // 4) + 1), 97):
            assert _linspace(stop, num).tobytes() == np.linspace(
                0, stop, num, dtype=np.float32).tobytes(), (stop, num)


def test_light_patch_gain_is_the_per_channel_gain(tmp_path: Path) -> None:
    """The gain built in one broadcast equals the per-channel loop it replaced."""
    import cv2

    from render_engine.proxy.lighting import WRAP, SpriteLight
    from render_engine.proxy.shading import GAIN_ONE, GAIN_STEP, LIGHT_MIX, light_patch

    rng = np.random.default_rng(5)
    h, w = 173, 91
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    coverage = np.full((h, w), 255, np.uint8)
    light = SpriteLight(direction=(0.6, 0.3, -0.74), key=(1.2, 0.9, 0.6),
                        ambient=(0.3, 0.35, 0.5), norm=1.3, rim=(0.0, 0.0, 0.0),
                        rim_strength=0.0, match_l=0.5, match_ab=0.5, fill=0.25,
                        lit_offset=0.1, scene=None)
    origin, feet, height_px, half = (210, 40), (255.5, 212.0), 170.0, 26.0
    out = light_patch(rgb, coverage, light, origin, feet, height_px, half)
    # the per-channel reference
    lx, ly, lz = light.direction
    gw, gh = max(2, -(-w // GAIN_STEP) + 1), max(2, -(-h // GAIN_STEP) + 1)
    cols = np.linspace(0, w - 1, gw, dtype=np.float32) + (origin[0] - feet[0])
    nx = np.clip(cols / half, -1.0, 1.0)
    nz = -np.sqrt(1.0 - nx * nx)
    rows = feet[1] - (np.linspace(0, h - 1, gh, dtype=np.float32) + origin[1])
    ny = 0.45 * (np.clip(rows / height_px, 0.0, 1.0) - 0.45)
    across = (nx * lx + nz * lz + WRAP) / (1.0 + WRAP) + light.lit_offset
    shade = np.clip(across[None, :] + (ny * (ly / (1.0 + WRAP)))[:, None], 0.0, 1.0)
    shade = light.fill + (1.0 - light.fill) * shade
    key = np.asarray(light.key, np.float32) * (LIGHT_MIX / light.norm)
    base = (1.0 - LIGHT_MIX) + np.asarray(light.ambient, np.float32) * (LIGHT_MIX / light.norm)
    coarse = cv2.merge([shade * float(key[c] * GAIN_ONE) + float(base[c] * GAIN_ONE)
                        for c in range(3)])
    gain = cv2.resize(cv2.convertScaleAbs(coarse), (w, h), interpolation=cv2.INTER_LINEAR)
    assert out.tobytes() == cv2.multiply(rgb, gain, scale=1.0 / GAIN_ONE).tobytes()


@pytest.mark.parametrize("set_name", ["strip", "flat"])
def test_mask_crops_beside_the_prop_skip_the_warp_and_stay_exact(
        production: Production, set_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    lazy = PlateRenderer(production, _shot(set_name), parallax="fast")
    whole = PlateRenderer(production, _shot(set_name), parallax="fast")
    lazy.background_planes(MOVED)
    planes = lazy.foreground_planes(MOVED)
    masks = whole.foreground(MOVED)
    remaps = []
    real_remap = cv2.remap

    def counting(*args: object, **kwargs: object) -> np.ndarray:
        remaps.append(1)
        return real_remap(*args, **kwargs)

    monkeypatch.setattr(cv2, "remap", counting)
    tiles = [(x, y, x + 40, y + 45) for x in range(0, 320, 40) for y in range(0, 180, 45)]
    empty = 0
    for (alpha, _), (reference, _) in zip(planes, masks, strict=True):
        for box in tiles:
            expected = crop(reference, box)
            assert crop(alpha, box).tobytes() == expected.tobytes(), box
            empty += not expected.any()
    assert empty > 0 and len(remaps) < len(tiles) * len(masks)  # empty tiles were not warped
