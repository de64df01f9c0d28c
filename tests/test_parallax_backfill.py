"""Parallax that degrades gracefully (issue 17, item 1) and props kept off faces (item 2).

The plate's background layer fills what a moved camera uncovers (`proxy.backfill`), the warp
flattens parallax beyond what that fill supports (`warp.Flatten`), depth agrees with colour
pixel for pixel, and the compositor keeps foreground masks off faces while reporting what it
did (`compositor.last_report`)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from render_engine.bible import Production, load_production
from render_engine.proxy import compositor, cutouts
from render_engine.proxy.backfill import compute_backfill, content_key
from render_engine.proxy.camera import Camera
from render_engine.proxy.plates import PlateRenderer, _unpad, load_assets, prop_points
from render_engine.proxy.projection import PlateModel
from render_engine.proxy.warp import Flatten, flatten_for
from render_engine.spec import ShotSpec
from tests.proxy_sets import BOX, CAMERA_HEIGHT, FLAT, FLAT_HFOV

ORIGIN = (0.0, CAMERA_HEIGHT, 0.0)
PEOPLE = [{"name": "jane", "position": [-0.3, 3.2], "facing": 180, "action": "stand"}]


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Production:
    from tests.proxy_sets import build_proxy_production
    return load_production(build_proxy_production(tmp_path_factory.mktemp("fill") / "sets"))


def _shot(set_name: str = "flat") -> ShotSpec:
    return ShotSpec.model_validate({"shot": {"id": "b-1", "size": "MS", "subjects": ["jane"]},
                                    "set": set_name, "characters": PEOPLE})


def _red(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., k].astype(int) for k in range(3))
    return (r > 150) & (g < 90) & (b < 90)


def _box_pixels(model: PlateModel) -> tuple[float, float, float]:
    """Plate columns of the box's left and right edges and a row through its lower part
    (the plate cuts it at the bottom)."""
    f = model.focal
    left = model.width / 2 + f * BOX["x0"] / BOX["z"]
    right = model.width / 2 + f * BOX["x1"] / BOX["z"]
    top = model.horizon + f * (CAMERA_HEIGHT - BOX["height"]) / BOX["z"]
    return left, right, (top + model.height) / 2


# --------------------------------------------------------------------------- the layer


def test_the_background_layer_removes_the_near_object_along_its_edges(
        production: Production) -> None:
    assets = load_assets(PlateRenderer(production, _shot()).source)
    back = assets.backfill()
    plate = _unpad(assets.levels[0], assets.model)
    left, _, row = _box_pixels(assets.model)
    r = int(row)
    inside = slice(int(left) + 2, int(left) + int(0.5 * back.support_px))
    assert _red(plate[r, inside]).all()                 # the plate shows the box there
    assert not _red(back.rgb[r, inside]).any()          # the layer shows what is behind it
    assert back.band[r, inside].all()
    # the floor continues behind the box: its layer distance is the floor's, farther
    assert (back.ray_m[r, inside] > BOX["z"] * 1.3).all()
    # floor is never "near": the open floor far from the box is untouched
    assert not back.band[-5:, :20].any()
    assert np.array_equal(back.rgb[-5:, :20], plate[-5:, :20])
    # the strongest edge is the box against the floor behind it (1/2 m - 1/floor)
    assert 0.2 < back.jump < 1.0 / BOX["z"]


def test_estimated_depth_grain_is_not_an_edge() -> None:
    model = PlateModel("flat", 320, 180, 70.0, 90.0, 1.5)
    rng = np.random.default_rng(3)
    v = np.arange(180)[:, None] + 0.5 + 0 * np.arange(320)[None, :]
    f = model.focal
    floor = np.where(v > 92, 1.5 * f / np.maximum(v - 90, 1e-3), np.inf)
    wall = np.full((180, 320), 8.0)
    ray = np.minimum(floor, wall) * model.ray_scale(np.arange(320)[None, :] + 0.5, v)
    grain = ray * (1.0 + 0.03 * rng.normal(0, 1, ray.shape))  # 3 % estimator grain
    rgb = rng.integers(0, 255, (180, 320, 3), dtype=np.uint8)
    back = compute_backfill(rgb, grain.astype(np.float32), model)
    assert back.band.mean() < 0.01
    assert back.allowed_shift_m(f) > 1.0 or back.jump == 0.0


def test_the_layer_is_keyed_by_the_files_bytes(tmp_path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(b"one")
    b.write_bytes(b"one")
    assert content_key(a, None) == content_key(b, None)
    b.write_bytes(b"two")
    assert content_key(a, None) != content_key(b, None)


# --------------------------------------------------------------------------- flattening


def test_flatten_keeps_the_reference_distance_and_inverts() -> None:
    flat = Flatten(0.3, 1 / 4.0)
    d = np.array([0.5, 2.0, 4.0, 7.0, 40.0], np.float32)
    out = flat.distances(d)
    assert out[2] == pytest.approx(4.0, rel=1e-5)           # the subjects stay registered
    assert np.all(np.diff(out) > 0)                          # order kept
    assert np.allclose(flat.unflatten(out), d, rtol=1e-3)
    # inverse depth moves toward the reference by the share: edges open `share` as wide
    jump = 1 / d[1] - 1 / d[3]
    assert (1 / out[1] - 1 / out[3]) == pytest.approx(0.3 * jump, rel=1e-4)
    assert np.allclose(Flatten(1.0, 0.25).distances(d), d)


def test_parallax_grows_with_the_move_up_to_what_the_fill_supports() -> None:
    model = PlateModel("flat", 480, 270, 70.0, 135.0, 1.2)
    allowed = 0.2
    opened = []
    for shift in (0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 3.0):
        camera = Camera((shift, 1.2, 0.0), 0.0, 0.0, 60.0, 320, 180)
        flat = flatten_for(camera, model, allowed, 4.0)
        share = 1.0 if flat is None else flat.share
        opened.append(share * shift)
    assert opened[0] == pytest.approx(0.01, rel=0.01)       # small moves: full parallax
    assert all(b > a for a, b in itertools.pairwise(opened))  # smooth, never backwards
    assert max(opened) <= allowed * 1.0001                   # never past the support


# --------------------------------------------------------------------------- the render


def test_a_moved_camera_fills_the_uncovered_floor_from_the_layer(
        production: Production) -> None:
    renderer = PlateRenderer(production, _shot())
    start = Camera(ORIGIN, 0.0, 0.0, FLAT_HFOV * 0.7, 320, 180)  # room for the move
    moved = start.moved(position=(0.45, CAMERA_HEIGHT, 0.0))
    rgb, depth = renderer.background(moved)
    unsupported = renderer.unsupported(moved)
    assert unsupported is None or unsupported.mean() < 0.002
    view = renderer._view(moved)
    assert view.back is not None and view.back.max() > 0.5  # the layer shows somewhere
    shown = view.back > 0.5
    assert not _red(rgb)[shown].any()                       # never a copy of the box
    # depth agrees with colour: what shows the floor has the floor's depth, not the box's
    floor_like = ~_red(rgb) & np.isfinite(depth)
    near_box = np.zeros_like(floor_like)
    cols = np.flatnonzero(_red(rgb).any(axis=0))
    near_box[:, max(0, cols[0] - 12):cols[-1] + 12] = True
    assert (depth[floor_like & near_box] > BOX["z"] + 0.2).mean() > 0.97


def test_a_plate_without_depth_moves_as_one_surface(production: Production) -> None:
    renderer = PlateRenderer(production, _shot("bare"))
    for x in (0.0, 0.3, 1.5):
        camera = Camera((x, CAMERA_HEIGHT, 0.5), 10.0, 0.0, 40.0, 320, 180)
        rgb, _ = renderer.background(camera)
        assert renderer.unsupported(camera) is None
        assert rgb.shape == (180, 320, 3)


def test_framing_sees_props_where_the_render_draws_them(production: Production) -> None:
    spec = _shot()
    renderer = PlateRenderer(production, spec)
    camera = Camera((0.6, CAMERA_HEIGHT, 0.4), -8.0, -5.0, 50.0, 320, 180)
    [(points, depth)] = prop_points(renderer.source, spec, camera)
    projected = camera.project(points)
    alpha = renderer.foreground(camera)[0][0]
    inside = ((projected[:, 0] >= 2) & (projected[:, 0] < 318) & (projected[:, 1] >= 2)
              & (projected[:, 1] < 178) & (projected[:, 2] > 0))
    assert inside.sum() > 20
    u = projected[inside, 0].astype(int)
    v = projected[inside, 1].astype(int)
    hits = np.maximum.reduce([alpha[v + dv, u + du] for dv in (-2, 0, 2) for du in (-2, 0, 2)])
    assert (hits > 0.5).mean() > 0.9
    assert depth == pytest.approx(camera.to_camera(np.array(
        [(BOX["x0"] + BOX["x1"]) / 2, BOX["height"] / 2, BOX["z"]]))[2], abs=0.3)


# --------------------------------------------------------------------------- faces


def _face_sprite(depth: float = 3.0) -> cutouts.Sprite:
    h, w = 160, 80
    rgb = np.empty((h, w, 3), np.uint8)
    rgb[:] = (250, 20, 20)
    sprite = cutouts.Sprite(name="jane", view="front", mirrored=False, rgb=rgb,
                            coverage=np.full((h, w), 255, np.uint8), x0=100, y0=10,
                            depth=depth, feet=(140.0, 169.0), height_px=160.0, up=(0.0, -1.0),
                            world=(0.0, 0.9, depth))
    sprite.extra["head_top"] = (140.0, 12.0)
    sprite.extra["eyes"] = (140.0, 32.0)   # unit 20 px: face box x 126..154, y 20..53
    return sprite


def test_a_prop_never_covers_a_face_but_may_cover_the_body() -> None:
    background = np.full((180, 320, 3), (90, 110, 130), np.uint8)
    mask = np.zeros((180, 320), np.float32)
    mask[25:170, 120:170] = 1.0           # a vase of flowers in front of face and body
    frame = compositor.compose(background, None, [(mask, 2.0)], [_face_sprite()])
    report = compositor.last_report
    red = _red(frame)
    assert red[24:50, 128:152].all()       # the face shows over the prop
    assert not red[90:160, 128:152].any()  # the body stays behind it
    [face] = report.faces
    assert face.name == "jane" and face.covered < 0.02 and face.props > 0.5
    assert face.box[0] <= 127 and face.box[2] >= 153


def test_a_back_view_has_no_face_box() -> None:
    sprite = _face_sprite()
    del sprite.extra["eyes"]
    background = np.full((180, 320, 3), 80, np.uint8)
    mask = np.ones((180, 320), np.float32)
    frame = compositor.compose(background, None, [(mask, 2.0)], [sprite])
    assert compositor.last_report.faces == []
    assert not _red(frame).any()           # wholly behind the mask, as before


def test_the_report_carries_the_plates_stretched_pixels(production: Production) -> None:
    background = np.full((180, 320, 3), 80, np.uint8)
    stretched = np.zeros((180, 320), bool)
    stretched[:10, :10] = True
    compositor.compose(background, None, [], [], None, stretched)
    assert compositor.last_report.unsupported is stretched
    assert math.isclose(compositor.last_report.unsupported.mean(), 100 / (180 * 320))
    assert FLAT[0] > 0
