"""Proxy plates: reprojection of flat/wide/360 plates, parallax, masks, depth — real pixels."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from PIL import Image

from render_engine.bible import Production, load_production
from render_engine.proxy.camera import Camera
from render_engine.proxy.framing import frame_shot
from render_engine.proxy.moves import camera_at
from render_engine.proxy.plates import PlateRenderer, shot_flatten
from render_engine.spec import ShotSpec
from tests.proxy_sets import (
    BOX,
    CAMERA_HEIGHT,
    FLAT,
    FLAT_HFOV,
    POST,
    equirect_colour,
)

ORIGIN = (0.0, CAMERA_HEIGHT, 0.0)
PEOPLE = [{"name": "john", "position": [-1.3, 3.7], "facing": 100, "action": "sit"},
          {"name": "jane", "position": [1.3, 3.9], "facing": 260, "action": "sit"}]


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Production:
    from tests.proxy_sets import build_proxy_production
    return load_production(build_proxy_production(tmp_path_factory.mktemp("plates") / "sets"))


def shot(set_name: str, size: str = "WS", subjects: list[str] | None = None,
         camera: dict | None = None, shot_id: str = "p-1", **extra: object) -> ShotSpec:
    return ShotSpec.model_validate({
        "shot": {"id": shot_id, "size": size, "subjects": subjects or []}, "set": set_name,
        "characters": PEOPLE, "camera": camera or {}, **extra})


def red(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., k].astype(int) for k in range(3))
    return (r > 150) & (g < 90) & (b < 90)


# --------------------------------------------------------------------------- exact views


def test_flat_plate_seen_by_the_set_camera_reproduces_it(production: Production) -> None:
    renderer = PlateRenderer(production, shot("flat"))
    width, height = FLAT
    rgb, depth = renderer.background(Camera(ORIGIN, 0.0, 0.0, FLAT_HFOV, width, height))
    source = np.array(Image.open(production.root / "sets" / "flat" / "plate.png"))
    assert rgb.shape == source.shape
    assert np.abs(rgb.astype(int) - source).max() <= 1
    # depth is camera z: the box face is 2 m away, the floor follows z = h f / (v - horizon)
    box = red(source)
    assert np.allclose(depth[box], BOX["z"], atol=0.01)
    assert np.isinf(depth[: height // 2 - 1]).all()


def _equirect_reference(camera: Camera) -> np.ndarray:
    u, v = np.meshgrid(np.arange(camera.width) + 0.5, np.arange(camera.height) + 0.5)
    rays = camera.ray(u, v)
    lon = np.arctan2(rays[..., 0], rays[..., 2])
    lat = np.arcsin(np.clip(rays[..., 1], -1, 1))
    return equirect_colour(lon, lat)


@pytest.mark.parametrize("yaw,pitch,hfov", [(0.0, 0.0, 90.0), (180.0, 0.0, 90.0),
                                            (180.0, 20.0, 60.0), (-135.0, -30.0, 100.0),
                                            (179.0, 0.0, 30.0)])
def test_360_plate_matches_the_analytic_view(production: Production, yaw: float, pitch: float,
                                             hfov: float) -> None:
    renderer = PlateRenderer(production, shot("round"))
    camera = Camera(ORIGIN, yaw, pitch, hfov, 320, 180)
    rgb, _ = renderer.background(camera)
    error = np.abs(rgb.astype(float) - _equirect_reference(camera))
    assert error.mean() < 1.5
    assert np.percentile(error, 99.5) < 6


def test_360_views_at_yaw_0_and_180_face_opposite_ways(production: Production) -> None:
    renderer = PlateRenderer(production, shot("round"))
    front, _ = renderer.background(Camera(ORIGIN, 0.0, 0.0, 60.0, 160, 90))
    back, _ = renderer.background(Camera(ORIGIN, 180.0, 0.0, 60.0, 160, 90))
    # green codes cos(longitude): high ahead, low behind
    assert front[..., 1].mean() > 200 and back[..., 1].mean() < 60


def test_wide_plate_rotation_is_exact(production: Production) -> None:
    renderer = PlateRenderer(production, shot("strip"))
    for yaw in (-20.0, 0.0, 25.0):
        camera = Camera(ORIGIN, yaw, 0.0, 50.0, 320, 180)
        rgb, depth = renderer.background(camera)
        post = np.array([POST["distance"] * math.sin(math.radians(POST["heading"])), 0.75,
                         POST["distance"] * math.cos(math.radians(POST["heading"]))])
        u, v, z = camera.project(post)
        if 2 < u < 318:
            assert red(rgb)[int(v), int(u)]
            assert depth[int(v), int(u)] == pytest.approx(z, rel=0.01)


# --------------------------------------------------------------------------- determinism


def test_the_plate_is_the_same_for_the_same_camera_in_any_shot(production: Production) -> None:
    # any shot whose subjects stand as far away: a moved camera's parallax is flattened
    # toward the subjects' distance (see warp.Flatten), so only they are shared
    one = PlateRenderer(production, shot("strip", "WS", shot_id="a"))
    everyone = [p["name"] for p in PEOPLE]
    two = PlateRenderer(production, shot("strip", "MCU", everyone, shot_id="b",
                                         camera={"move": "push_in", "handheld": True},
                                         seed=99))
    for camera in (Camera(ORIGIN, 12.0, -2.0, 55.0, 320, 180),
                   Camera((0.4, 1.05, 1.6), 20.0, -3.0, 30.0, 320, 180)):
        rgb_a, depth_a = one.background(camera)
        rgb_b, depth_b = two.background(camera)
        assert rgb_a.tobytes() == rgb_b.tobytes()
        assert depth_a.tobytes() == depth_b.tobytes()
        masks_a, masks_b = one.foreground(camera), two.foreground(camera)
        assert all(a[0].tobytes() == b[0].tobytes() and a[1] == b[1]
                   for a, b in zip(masks_a, masks_b, strict=True))


def test_static_shots_render_once(production: Production) -> None:
    spec = shot("strip", "MCU", ["jane"])
    renderer = PlateRenderer(production, spec)
    camera = frame_shot(spec, production, 320, 180)
    first, _ = renderer.background(camera)
    started = time.perf_counter()
    for _ in range(50):
        again, _ = renderer.background(camera)
    assert again is first and time.perf_counter() - started < 0.05
    with pytest.raises(ValueError):
        first[0, 0, 0] = 1  # shared, read-only


# --------------------------------------------------------------------------- masks, parallax


@pytest.mark.parametrize("set_name", ["strip", "flat"])
def test_foreground_masks_land_on_their_object(production: Production, set_name: str) -> None:
    renderer = PlateRenderer(production, shot(set_name))
    cameras = [Camera(ORIGIN, 5.0, -4.0, 60.0, 320, 180),
               Camera((0.3, 1.0, 0.6), 2.0, -6.0, 60.0, 320, 180),
               Camera((-0.4, 1.4, -0.3), -8.0, -8.0, 75.0, 320, 180)]
    for camera in cameras:
        rgb, _ = renderer.background(camera)
        masks = renderer.foreground(camera)
        assert len(masks) == 1
        alpha, depth = masks[0]
        assert alpha.shape == (180, 320) and alpha.dtype == np.float32
        assert alpha.min() >= 0.0 and alpha.max() <= 1.0
        inside = alpha > 0.9
        outside = alpha < 0.1
        assert inside.sum() > 50
        assert red(rgb)[inside].mean() > 0.97
        assert red(rgb)[outside].mean() < 0.01
        assert depth > 0


def test_dolly_parallax_moves_near_things_more(production: Production) -> None:
    renderer = PlateRenderer(production, shot("flat"))
    start = Camera(ORIGIN, 0.0, 0.0, FLAT_HFOV, 320, 180)
    moved = start.moved(position=(0.3, CAMERA_HEIGHT, 0.0))  # truck right 30 cm
    box_centre = np.array([(BOX["x0"] + BOX["x1"]) / 2, 0.6, BOX["z"]])
    far_point = np.array([0.0, 0.0, 15.0])
    for camera in (start, moved):
        rgb, depth = renderer.background(camera)
        u, v, z = camera.project(box_centre)
        assert red(rgb)[int(v), int(u)] and depth[int(v), int(u)] == pytest.approx(z, abs=0.05)
    shift_near = start.project(box_centre)[0] - moved.project(box_centre)[0]
    shift_far = start.project(far_point)[0] - moved.project(far_point)[0]
    assert shift_near > 5 * shift_far > 0
    rgb, _ = renderer.background(moved)
    # the box stands where the parallax the plate's fill supports puts it (warp.Flatten):
    # its edges opening wider would uncover more than the background layer can fill
    flatten = shot_flatten(renderer.source, shot("flat"), moved)
    origin = np.asarray(ORIGIN)

    def shown(point: np.ndarray) -> np.ndarray:
        if flatten is None:
            return point
        rel = point - origin
        dist = float(np.linalg.norm(rel))
        return origin + rel * float(flatten.distances(np.float32(dist))) / dist

    row = int(moved.project(shown(box_centre))[1])
    cols = np.flatnonzero(red(rgb)[row])
    expected = [moved.project(shown(np.array([x, 0.6, BOX["z"]])))[0]
                for x in (BOX["x0"], BOX["x1"])]
    assert abs(cols[0] - expected[0]) < 3 and abs(cols[-1] + 1 - expected[1]) < 3
    true_left = moved.project(np.array([BOX["x0"], 0.6, BOX["z"]]))[0]
    start_left = start.project(np.array([BOX["x0"], 0.6, BOX["z"]]))[0]
    assert cols[0] < start_left - 0.5 * (start_left - true_left)  # most of the parallax


def test_floor_depth_follows_a_moved_camera(production: Production) -> None:
    renderer = PlateRenderer(production, shot("strip"))
    camera = Camera((0.2, 1.0, 1.0), 30.0, -10.0, 50.0, 320, 180)
    rgb, depth = renderer.background(camera)
    rows, cols = np.mgrid[120:180:7, 20:300:23]
    rays = camera.ray(cols + 0.5, rows + 0.5)
    t = camera.position[1] / -rays[..., 1]  # floor hit along each ray
    expected = t * (rays @ camera.forward)
    floor = ~red(rgb)[rows, cols]  # the post stands in front of some of it
    assert floor.mean() > 0.8
    assert np.allclose(depth[rows, cols][floor], expected[floor], rtol=0.05)


def test_plates_without_depth_use_one_surface(production: Production) -> None:
    renderer = PlateRenderer(production, shot("bare"))
    camera = Camera((0.1, 1.3, 0.5), 3.0, -2.0, 50.0, 320, 180)
    rgb, depth = renderer.background(camera)
    assert rgb.shape == (180, 320, 3) and np.isinf(depth).all()
    assert renderer.foreground(camera) == []


def test_a_shot_plate_replaces_the_set_plate(production: Production) -> None:
    spec = shot("strip", plate="sets/flat/plate.png")
    renderer = PlateRenderer(production, spec)
    assert renderer.model.kind == "flat" and renderer.foreground(
        Camera(ORIGIN, 0.0, 0.0, 60.0, 160, 90)) == []


def test_zoom_past_the_plate_resolution_stays_clean(production: Production) -> None:
    renderer = PlateRenderer(production, shot("round"))
    camera = Camera(ORIGIN, 30.0, 10.0, 8.0, 320, 180)  # ~6x magnified
    rgb, _ = renderer.background(camera)
    error = np.abs(rgb.astype(float) - _equirect_reference(camera))
    assert error.mean() < 1.5
    steps = np.abs(np.diff(rgb.astype(int), axis=1)).max()
    assert steps <= 3  # smooth gradients, no blocky pixel steps


def test_moving_shots_render_every_frame(production: Production) -> None:
    spec = shot("strip", "MCU", ["jane"], camera={"move": "push_in", "amount": 0.3})
    renderer = PlateRenderer(production, spec)
    base = frame_shot(spec, production, 320, 180)
    frames = [renderer.background(camera_at(base, spec, production, p, p * 2))[0]
              for p in (0.0, 0.5, 1.0)]
    assert all(f.shape == (180, 320, 3) for f in frames)
    assert np.abs(frames[0].astype(int) - frames[2]).mean() > 2


def test_fast_parallax_is_close_to_sharp(production: Production) -> None:
    camera = Camera((0.3, 1.0, 0.8), 8.0, -6.0, 55.0, 320, 180)
    sharp, _ = PlateRenderer(production, shot("strip")).background(camera)
    fast_renderer = PlateRenderer(production, shot("strip"), parallax="fast")
    fast, depth = fast_renderer.background(camera)
    assert np.abs(sharp.astype(int) - fast).mean() < 3
    again, _ = PlateRenderer(production, shot("flat"), parallax="fast").background(
        camera.moved(yaw_deg=2.0))
    assert again.shape == fast.shape and np.isfinite(depth).any()


@pytest.mark.parametrize("parallax", ["fast", "sharp"])
@pytest.mark.parametrize("set_name", ["strip", "flat", "round"])
def test_depth_and_mask_planes_crop_exactly_what_the_whole_plane_holds(
        production: Production, parallax: str, set_name: str) -> None:
    from render_engine.proxy.planes import Plane, crop

    boxes = [(0, 0, 320, 180), (37, 12, 151, 170), (300, 100, 340, 200), (5, 5, 5, 9)]
    for camera in (Camera(ORIGIN, 7.0, -3.0, 55.0, 320, 180),          # at the set camera
                   Camera((0.3, 1.0, 0.9), 4.0, -6.0, 55.0, 320, 180),  # moved: parallax
                   Camera((0.004, CAMERA_HEIGHT, 0.0), 7.0, -3.0, 55.0, 320, 180)):  # wobble
        whole = PlateRenderer(production, shot(set_name), parallax=parallax)
        lazy = PlateRenderer(production, shot(set_name), parallax=parallax)
        rgb, depth = whole.background(camera)
        lazy_rgb, plane = lazy.background_planes(camera)
        assert lazy_rgb.tobytes() == rgb.tobytes()
        masks = whole.foreground(camera)
        lazy_masks = lazy.foreground_planes(camera)
        assert [d for _, d in lazy_masks] == [d for _, d in masks]
        for box in boxes:
            assert crop(plane, box).tobytes() == crop(depth, box).tobytes(), (camera, box)
            for (alpha, _), (lazy_alpha, _) in zip(masks, lazy_masks, strict=True):
                assert crop(lazy_alpha, box).tobytes() == crop(alpha, box).tobytes()
        assert isinstance(plane, Plane) and np.array_equal(np.asarray(plane), depth)
