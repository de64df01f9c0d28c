"""The proxy compositor on real pixels: cut-outs, occlusion, lighting, lip flap, poses, keying."""

from __future__ import annotations

import math

import numpy as np
import pytest

from render_engine.audio.dialog import SpokenLine, mouth_shape
from render_engine.audio.voice import MouthCue
from render_engine.bible import LightingPreset, load_production
from render_engine.pose.openpose import COLORS, LIMB_COLORS
from render_engine.proxy import cutouts, lighting, lipflap, occlusion
from render_engine.proxy.camera import Camera
from render_engine.proxy.compositor import compose
from render_engine.proxy.keying import key_screen
from render_engine.proxy.poses import pose_frame, pose_keypoints
from render_engine.spec import ShotSpec
from tests.proxy_fixtures import (
    CAMERA_HEIGHT,
    VIEW_COLOURS,
    floor_depth_map,
    make_cutout_production,
)

W, H = 320, 180


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory):
    root = make_cutout_production(tmp_path_factory.mktemp("proxy") / "prod", W, H)
    return load_production(root)


@pytest.fixture(scope="module")
def ana(production) -> cutouts.CastCutouts:
    return cutouts.CastCutouts(production, production.member("ana"))


def _camera(yaw: float = 0.0, position=(0.0, CAMERA_HEIGHT, 0.0), hfov: float = 60.0,
            pitch: float = 0.0) -> Camera:
    return Camera(position, yaw, pitch, hfov, W, H)


def _flat(colour=(90, 110, 130)) -> np.ndarray:
    frame = np.empty((H, W, 3), np.uint8)
    frame[:] = colour
    return frame


def _block_sprite(depth: float, box=(100, 40, 180, 160), colour=(250, 20, 20)) -> cutouts.Sprite:
    x0, y0, x1, y1 = box
    rgb = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
    rgb[:] = colour
    return cutouts.Sprite(name="s", view="front", mirrored=False, rgb=rgb,
                          coverage=np.full((y1 - y0, x1 - x0), 255, np.uint8), x0=x0, y0=y0,
                          depth=depth, feet=((x0 + x1) / 2, y1 - 1), height_px=y1 - y0,
                          up=(0.0, -1.0), world=(0.0, 0.9, depth))


def _is(pixels: np.ndarray, colour) -> np.ndarray:
    return np.abs(pixels.astype(int) - np.asarray(colour)).max(axis=-1) <= 2


# --------------------------------------------------------------------------- occlusion


def test_a_nearer_mask_hides_the_character_exactly_where_it_covers() -> None:
    mask = np.zeros((H, W), np.float32)
    mask[100:, :140] = 1.0         # a table top covering the legs on the left half
    mask[100:, 140:150] = 0.5      # a soft edge
    frame = compose(_flat(), None, [(mask, 2.0)], [_block_sprite(depth=3.0)])
    legs = frame[100:160, 100:140]
    assert _is(legs, (90, 110, 130)).all()              # hidden: the plate shows
    assert _is(frame[40:100, 100:180], (250, 20, 20)).all()  # above the mask: visible
    assert _is(frame[100:160, 150:180], (250, 20, 20)).all()  # beside it: visible
    half = frame[120, 145].astype(int)
    assert np.abs(half - np.array([170, 65, 75])).max() <= 2


def test_a_mask_behind_the_character_does_not_hide_it() -> None:
    mask = np.zeros((H, W), np.float32)
    mask[100:, :140] = 1.0
    frame = compose(_flat(), None, [(mask, 4.0)], [_block_sprite(depth=3.0)])
    assert _is(frame[40:160, 100:180], (250, 20, 20)).all()


def test_the_depth_map_hides_what_is_behind_objects_but_not_the_floor(ana) -> None:
    camera = _camera()
    depth = floor_depth_map(W, H, camera.hfov_deg, CAMERA_HEIGHT, H / 2).astype(np.float32)
    depth[60:130, 150:200] = 2.0   # a crate 2 m away
    sprite = cutouts.place(ana, camera, cutouts.Posture(0.3, 6.0, 180.0), 0.0)
    assert sprite is not None
    frame = compose(_flat(), depth, [], [sprite], camera)
    plain = compose(_flat(), None, [], [sprite], camera)
    drawn = ~_is(plain, (90, 110, 130))
    crate = np.zeros((H, W), bool)
    crate[61:129, 151:199] = True
    assert (drawn & crate).sum() > 50
    assert _is(frame[drawn & crate], (90, 110, 130)).all()      # behind the crate: hidden
    outside = drawn & ~np.pad(crate, 2)[2:-2, 2:-2]
    outside[:, 148:202] = False
    assert (frame[outside] == plain[outside]).all()             # feet on the floor: kept
    feet_row = round(sprite.feet[1])
    feet_x = round(sprite.feet[0])
    assert feet_row < H - 2
    assert (frame[feet_row - 3:feet_row + 1, feet_x - 3:feet_x + 4]
            == plain[feet_row - 3:feet_row + 1, feet_x - 3:feet_x + 4]).all()


def test_sprites_are_painted_far_to_near() -> None:
    near = _block_sprite(2.0, (120, 50, 160, 150), (20, 250, 20))
    far = _block_sprite(5.0, (100, 40, 180, 160), (250, 20, 20))
    frame = compose(_flat(), None, [], [near, far])
    assert _is(frame[60:140, 125:155], (20, 250, 20)).all()


# --------------------------------------------------------------------------- cut-outs

@pytest.mark.parametrize(("relative", "view", "mirrored"), [
    (180, "front", False), (200, "front", False), (225, "three_quarter", False),
    (135, "three_quarter", True), (270, "side", False), (90, "side", True),
    (100, "side", True), (0, "back", False), (30, "back", False), (60, "side", True),
])
def test_view_nearest_the_camera_relative_facing(relative: float, view: str,
                                                 mirrored: bool) -> None:
    available = list(VIEW_COLOURS)
    assert cutouts.choose_view(available, relative, seated=False) == (view, mirrored)
    assert cutouts.choose_view(available, relative, seated=True) == (f"sit_{view}", mirrored)
    assert cutouts.choose_view(["front"], relative, seated=True) == ("front", False)


def test_placed_sprite_shows_the_chosen_view_mirrored_for_screen_right(ana) -> None:
    camera = _camera()
    left = cutouts.place(ana, camera, cutouts.Posture(0.0, 3.0, 270.0), 0.0)
    right = cutouts.place(ana, camera, cutouts.Posture(0.0, 3.0, 90.0), 0.0)
    assert left.view == right.view == "side" and right.mirrored and not left.mirrored
    body = left.alpha > 0.99
    assert _is(left.rgb[body], VIEW_COLOURS["side"]).mean() > 0.8

    def nose_x(sprite: cutouts.Sprite) -> float:
        white = _is(sprite.rgb, (250, 250, 250)) & (sprite.alpha > 0.5)
        return float(np.nonzero(white)[1].mean()) - (sprite.feet[0] - sprite.x0)

    assert nose_x(left) < 0 < nose_x(right)
    # a camera turned round to look at the character's other side mirrors the view
    behind = _camera(yaw=180.0, position=(0.0, CAMERA_HEIGHT, 6.0))
    assert cutouts.place(ana, behind, cutouts.Posture(0.0, 3.0, 270.0), 0.0).mirrored


@pytest.mark.parametrize(("x", "z", "hfov"), [(0.0, 3.0, 60.0), (-0.8, 5.0, 40.0),
                                              (0.5, 2.2, 70.0)])
def test_sprite_height_matches_the_projection_of_height_m(ana, x, z, hfov) -> None:
    camera = _camera(hfov=hfov, position=(0.0, 0.85, 0.0))
    sprite = cutouts.place(ana, camera, cutouts.Posture(x, z, 180.0), 0.0)
    feet = camera.project(np.array([x, 0.0, z]))
    head = camera.project(np.array([x, 1.7, z]))
    rows = np.flatnonzero((sprite.alpha > 0.5).any(axis=1)) + sprite.y0
    assert abs((rows[-1] + 1 - rows[0]) - (feet[1] - head[1])) <= 2
    assert abs(rows[0] - head[1]) <= 2 and abs(rows[-1] + 1 - feet[1]) <= 2
    assert abs(sprite.depth - z) < 1e-9


def test_a_lying_figure_lies_along_the_floor_head_first(ana) -> None:
    camera = _camera(hfov=60.0, pitch=-15.0)
    lying = cutouts.place(ana, camera, cutouts.posture_of("lie", 0.0, 4.0, 90.0, False), 0.0)
    rows = np.flatnonzero((lying.alpha > 0.5).any(axis=1))
    cols = np.flatnonzero((lying.alpha > 0.5).any(axis=0))
    assert cols.size > 3 * rows.size                 # long and low
    head = np.array(lying.extra["head_top"])
    assert head[0] > lying.feet[0] + 0.3 * lying.height_px   # facing +x: head to the right
    floor = camera.project(np.array([0.0, 0.0, 4.0]))
    assert abs(rows.mean() + lying.y0 - floor[1]) < 0.1 * lying.height_px


def test_idle_motion_moves_the_sprite_a_little(ana) -> None:
    camera = _camera(hfov=30.0)
    idle = cutouts.Idle.for_character(7, "ana")
    posture = cutouts.Posture(0.0, 3.0, 180.0)
    frames = [cutouts.place(ana, camera, posture, t / 24, idle) for t in range(0, 48, 6)]
    tops = [s.extra["head_top"] for s in frames]
    spread = np.ptp(np.array(tops), axis=0)
    assert 0.05 < max(spread) < 0.04 * frames[0].height_px
    walking = cutouts.Posture(0.0, 3.0, 90.0, "walk", walking=True)
    bobs = [cutouts.place(ana, camera, walking, t / 24, idle).extra["head_top"][1]
            for t in range(12)]
    assert np.ptp(bobs) > np.ptp([t[1] for t in tops])


def test_the_keyer_makes_soft_alpha_and_suppresses_spill() -> None:
    h, w = 60, 60
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    cover = np.clip(15.5 - np.hypot(xx - 30, yy - 30), 0, 1)[..., None]  # soft-edged disc
    screen = np.array([30, 190, 40], np.float32)
    skin = np.array([200, 150, 120], np.float32)
    image = (skin * cover + screen * (1 - cover)).astype(np.uint8)
    rgba = key_screen(image)
    alpha = rgba[..., 3].astype(float) / 255
    assert alpha[2, 2] == 0 and alpha[30, 30] == 1
    edge = alpha[30, 14:16]
    assert ((edge > 0.05) & (edge < 0.95)).any()                   # soft edge
    rim = (alpha > 0.2) & (alpha < 0.9)
    g, rb = rgba[..., 1][rim].astype(int), np.maximum(rgba[..., 0], rgba[..., 2])[rim]
    assert (g <= rb + 1).all()                                       # no green spill
    assert np.abs(rgba[30, 30, :3].astype(int) - skin).max() <= 3


def test_a_green_screen_sheet_is_keyed_when_it_has_no_alpha(production) -> None:
    bo = cutouts.CastCutouts(production, production.member("bo"))
    sprite = cutouts.place(bo, _camera(), cutouts.Posture(0.0, 3.0, 180.0), 0.0)
    assert sprite.alpha.min() == 0.0 and sprite.alpha.max() == 1.0
    solid = sprite.alpha > 0.9
    assert (sprite.rgb[solid][:, 1] <= sprite.rgb[solid][:, 0]).all()


# --------------------------------------------------------------------------- lighting


def _lit(ana: cutouts.CastCutouts, preset: LightingPreset, background: np.ndarray,
         t: float = 0.0, seed: int = 3, source=None) -> tuple[np.ndarray, cutouts.Sprite]:
    camera = _camera(hfov=40.0)
    rig = lighting.ShotLighting(preset, source, seed)
    sprite = cutouts.place(ana, camera, cutouts.Posture(0.0, 3.0, 180.0), t)
    sprite.light = rig.for_character(camera, sprite.world, t)
    return compose(background, None, [], [sprite], camera), sprite


def _body_luma(frame: np.ndarray, sprite: cutouts.Sprite, side: str) -> float:
    x0, y0, x1, y1 = sprite.bbox
    solid = sprite.alpha > 0.99
    patch = frame[y0:y1, x0:x1].astype(float) @ [0.2126, 0.7152, 0.0722]
    centre = round(sprite.feet[0]) - x0
    half = solid[:, :centre] if side == "left" else solid[:, centre:]
    values = patch[:, :centre] if side == "left" else patch[:, centre:]
    return float(values[half].mean())


@pytest.mark.parametrize(("azimuth", "brighter"), [(90.0, "right"), (-90.0, "left"),
                                                   (150.0, "right"), (-150.0, "left")])
def test_the_key_side_of_the_cut_out_is_brighter(ana, azimuth: float, brighter: str) -> None:
    preset = LightingPreset(key_azimuth_deg=azimuth, key_elevation_deg=20.0)
    frame, sprite = _lit(ana, preset, _flat((120, 120, 120)))
    other = "left" if brighter == "right" else "right"
    assert _body_luma(frame, sprite, brighter) > _body_luma(frame, sprite, other) + 8


def test_a_key_behind_the_character_adds_a_rim(ana) -> None:
    behind = LightingPreset(key_azimuth_deg=0.0, key_elevation_deg=10.0,
                            rim_color=(200, 220, 255))
    front = LightingPreset(key_azimuth_deg=180.0, key_elevation_deg=10.0)
    lit_behind, sprite = _lit(ana, behind, _flat((60, 60, 60)))
    assert sprite.light.rim_strength > 0.5
    assert _lit(ana, front, _flat((60, 60, 60)))[1].light.rim_strength < 0.05
    x0, y0, x1, y1 = sprite.bbox
    edge = (sprite.alpha > 0.3) & (sprite.alpha < 1.0)
    inner = sprite.alpha == 1.0
    patch = lit_behind[y0:y1, x0:x1].astype(float)
    assert patch[edge][:, 2].mean() > patch[inner][:, 2].mean()


def test_fire_flicker_varies_frame_to_frame_and_is_deterministic(ana) -> None:
    rig = lighting.ShotLighting(LightingPreset(flicker=0.4, key_color=(255, 146, 64)),
                                (0.0, 0.5, 4.0), seed=11)
    values = [rig.flicker(i / 24) for i in range(24)]
    assert len({round(v, 6) for v in values}) == 24
    assert max(values) - min(values) > 0.15
    again = lighting.ShotLighting(rig.preset, rig.source, 11)
    assert values == [again.flicker(i / 24) for i in range(24)]
    other = lighting.ShotLighting(rig.preset, rig.source, 12)
    assert values != [other.flicker(i / 24) for i in range(24)]
    steady = lighting.ShotLighting(LightingPreset(), None, 11)
    assert {steady.flicker(i / 24) for i in range(24)} == {1.0}
    preset = LightingPreset(key_azimuth_deg=90.0, flicker=0.4, key_color=(255, 146, 64))
    frames = [_lit(ana, preset, _flat((60, 50, 40)), t=i / 24, seed=11)[0] for i in range(3)]
    assert not np.array_equal(frames[0], frames[1])
    assert np.array_equal(frames[0], _lit(ana, preset, _flat((60, 50, 40)), t=0.0, seed=11)[0])


def test_the_night_preset_darkens_and_tints_towards_the_plate(ana) -> None:
    day = LightingPreset(key_azimuth_deg=150.0, key_elevation_deg=30.0,
                         key_color=(255, 242, 214), ambient_color=(168, 190, 222))
    night = LightingPreset(key_azimuth_deg=150.0, key_elevation_deg=30.0,
                           key_color=(150, 170, 230), ambient_color=(30, 40, 80),
                           intensity=0.6, rim_color=(120, 150, 220))
    bright, sprite = _lit(ana, day, _flat((200, 190, 170)))
    dark, _ = _lit(ana, night, _flat((18, 24, 52)))
    x0, y0, x1, y1 = sprite.bbox
    solid = sprite.alpha > 0.99
    day_rgb = bright[y0:y1, x0:x1][solid].astype(float).mean(axis=0)
    night_rgb = dark[y0:y1, x0:x1][solid].astype(float).mean(axis=0)
    assert night_rgb.sum() < 0.6 * day_rgb.sum()
    assert night_rgb[2] / night_rgb.sum() > day_rgb[2] / day_rgb.sum() + 0.05  # bluer


def test_the_fire_is_found_in_the_plate(production) -> None:
    spec = ShotSpec.model_validate({"shot": {"id": "f"}, "set": "yard", "lighting": "fire"})
    source = lighting.shot_lighting(production, spec).source
    assert source is not None
    assert math.hypot(source[0] + 1.0, source[2] - 5.0) < 0.3
    day = ShotSpec.model_validate({"shot": {"id": "d"}, "set": "yard"})
    assert lighting.shot_lighting(production, day).source is None


# --------------------------------------------------------------------------- lip flap


def _mouth_sprite(ana: cutouts.CastCutouts, shape: str, facing: float = 180.0
                  ) -> cutouts.Sprite:
    sprite = cutouts.place(ana, _camera(hfov=12.0), cutouts.Posture(0, 3.0, facing), 0.0)
    lipflap.draw_mouth(sprite, shape)
    return sprite


def test_mouth_shapes_change_the_mouth_pixels(ana) -> None:
    rest = _mouth_sprite(ana, "X")
    closed, wide = _mouth_sprite(ana, "A"), _mouth_sprite(ana, "D")
    cx, cy, width = rest.mouth
    assert width > 8
    x0, x1 = round(cx - width) - rest.x0, round(cx + width) - rest.x0
    y0, y1 = round(cy - width) - rest.y0, round(cy + width) - rest.y0
    region = (slice(y0, y1), slice(x0, x1))
    diff = np.abs(closed.rgb[region].astype(int) - wide.rgb[region].astype(int)).max(axis=2)
    assert (diff > 40).sum() > width  # the open mouth shows where the closed one is shut
    outside = np.abs(closed.rgb.astype(int) - wide.rgb.astype(int)).max(axis=2)
    outside[region] = 0
    assert outside.max() == 0         # nothing changes away from the mouth
    assert np.array_equal(rest.rgb, _mouth_sprite(ana, "X").rgb)
    assert not lipflap.draw_mouth(_mouth_sprite(ana, "X", facing=0.0), "D")  # back view: no mouth


def test_audio_only_lines_do_not_move_lips() -> None:
    cues = [MouthCue(0.0, 0.5, "D"), MouthCue(0.5, 1.0, "A")]
    samples = np.zeros(48000, np.float32)
    spoken = SpokenLine(samples, 48000, cues, "ana", 0.2, audio_only=False)
    voice_over = SpokenLine(samples, 48000, cues, "ana", 0.2, audio_only=True)
    assert mouth_shape([spoken], "ana", 0.4) == "D"
    assert mouth_shape([voice_over], "ana", 0.4) == "X"
    assert mouth_shape([spoken], "bo", 0.4) == "X"


# --------------------------------------------------------------------------- poses


@pytest.mark.parametrize(("facing", "action"), [(180.0, "stand"), (90.0, "walk"),
                                                (240.0, "sit"), (0.0, "talk")])
def test_pose_keypoints_land_on_the_character(ana, facing: float, action: str) -> None:
    camera = _camera(hfov=50.0)
    posture = cutouts.posture_of(action, 0.4, 3.5, facing, action == "walk")
    sprite = cutouts.place(ana, camera, posture, 0.3)
    keypoints = pose_keypoints(camera, posture, 1.7, 0.3)
    x0, y0, x1, y1 = sprite.bbox
    neck = keypoints[1]
    assert x0 <= neck[0] < x1 and y0 <= neck[1] < y1
    ankles = keypoints[[10, 13], 1]
    assert np.all(np.abs(ankles - sprite.feet[1]) < 0.08 * sprite.height_px)


def test_pose_frames_are_black_with_the_standard_colours() -> None:
    camera = _camera(hfov=50.0)
    people = [pose_keypoints(camera, cutouts.Posture(x, 3.0, 180.0), 1.7, 0.0)
              for x in (-0.6, 0.6)]
    frame = pose_frame(W, H, people)
    assert frame.shape == (H, W, 3) and frame.dtype == np.uint8
    flat = frame.reshape(-1, 3)
    coloured = flat[flat.any(axis=1)]
    assert 0.005 < len(coloured) / len(flat) < 0.5
    palette = np.array(list(COLORS) + list(LIMB_COLORS))
    nearest = np.abs(coloured[:, None, :].astype(int) - palette[None]).max(axis=2).min(axis=1)
    assert (nearest <= 1).mean() > 0.9   # anti-aliasing aside, only the standard colours
    neck = people[0][1]
    assert tuple(frame[int(neck[1]), int(neck[0])]) == COLORS[1]


def test_floor_depth_matches_the_analytic_floor() -> None:
    camera = _camera()
    ours = occlusion.floor_depth(camera, (0, 0, W, H))
    expected = floor_depth_map(W, H, camera.hfov_deg, CAMERA_HEIGHT, H / 2)
    below = np.isfinite(expected)
    assert np.allclose(ours[below], expected[below], rtol=1e-4)
    assert np.isinf(ours[~below]).all()
