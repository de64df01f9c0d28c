"""Living plates: a set's masked regions move — the fire flickers with the characters' firelight,
its glow on the ground with it; foliage sways; water shimmers; bad entries are named.

Measured through the shot's own frame buffers (`ShotFrames.frame`) and the living layer's own
warped masks (`LivingPlate.region_alpha` / `glow_alpha`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import tomli_w
from PIL import Image

from render_engine.bible import load_production
from render_engine.errors import SoloreelError
from render_engine.hashing import shot_hash
from render_engine.proxy.shot import ShotFrames
from render_engine.spec import ShotSpec

W, H = 640, 360
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
CAMPFIRE_PAIR = [{"name": "john", "position": [-1.3, 3.7], "facing": 101, "action": "sit"},
                 {"name": "jane", "position": [1.3, 3.9], "facing": 251, "action": "sit"}]


def _spec(set_name: str = "campfire", size: str = "WS", seed: int = 5, **extra) -> ShotSpec:
    return ShotSpec.model_validate({"shot": {"id": "t", "size": size}, "set": set_name,
                                    "seed": seed, "characters": CAMPFIRE_PAIR, **extra})


def _face_luma(frame, name: str) -> float:
    """Mean luma of the character's opaque face pixels (box from its eyes and head top)."""
    sprite = next(s for s in frame.sprites if s.name == name)
    ex, ey = sprite.extra["eyes"]
    d = max(ey - sprite.extra["head_top"][1], 2.0)
    x0, x1 = max(int(ex - 0.45 * d), sprite.x0), min(int(ex + 0.45 * d) + 1, sprite.bbox[2])
    y0, y1 = max(int(ey - 0.1 * d), sprite.y0), min(int(ey + 0.8 * d) + 1, sprite.bbox[3])
    opaque = sprite.coverage[y0 - sprite.y0:y1 - sprite.y0, x0 - sprite.x0:x1 - sprite.x0] > 250
    return float((frame.rgb[y0:y1, x0:x1].astype(np.float32) @ LUMA)[opaque].mean())


def test_the_fire_flickers_with_the_characters_firelight(demo_production: Path) -> None:
    production = load_production(demo_production)
    assert [r.preset for r in production.set("campfire").living] == ["fire"]
    shot = ShotFrames(_spec(), production, W, H, 24, 0, (0, 48))
    first = shot.frame(0)
    region = shot.living.region_alpha(first.camera) > 0.5
    glow = shot.living.glow_alpha(first.camera) > 0.3
    assert region.sum() > 200 and glow.sum() > region.sum()
    flames, ground, faces = [], [], {"john": [], "jane": []}
    for index in range(48):
        frame = shot.frame(index)
        luma = frame.rgb.astype(np.float32) @ LUMA
        flames.append(float(luma[region].mean()))
        ground.append(float(luma[glow].mean()))
        for name in faces:
            faces[name].append(_face_luma(frame, name))
    assert np.std(flames) > 3.0  # the issue: std 0.00 over 48 frames
    assert np.std(ground) > 0.5
    for name, values in faces.items():
        assert np.corrcoef(flames, values)[0, 1] > 0.5, name
        assert np.corrcoef(ground, values)[0, 1] > 0.5, name
    # deterministic: another ShotFrames of the same spec gives the same pixels
    again = ShotFrames(_spec(), production, W, H, 24, 0, (0, 48))
    assert np.array_equal(again.frame(17).rgb, shot.frame(17).rgb)


def test_a_moving_camera_carries_the_fire_with_the_plate(demo_production: Path) -> None:
    production = load_production(demo_production)
    shot = ShotFrames(_spec(camera={"move": "pan_right", "amount": 0.3}), production, W, H,
                      24, 0, (0, 48))
    boxes = []
    for index in (0, 47):
        frame = shot.frame(index)
        ys, xs = np.nonzero(shot.living.region_alpha(frame.camera) > 0.5)
        assert xs.size > 100
        boxes.append(xs.mean())
        # the warped mask sits on the plate's bright flames in that frame
        luma = frame.rgb.astype(np.float32) @ LUMA
        assert luma[ys, xs].mean() > luma.mean() + 60
    assert boxes[1] < boxes[0] - 5  # panning right moves the fire left on screen


def _living_set(root: Path, preset: str, amount: float = 1.0) -> None:
    """Give the demo's patio a living region over its trees (upper left of the plate)."""
    toml = root / "sets" / "patio.toml"
    import tomllib

    data = tomllib.loads(toml.read_text())
    plate = Image.open(root / "sets" / data["plate"]["image"])
    mask = np.zeros((plate.height, plate.width), np.uint8)
    mask[int(plate.height * 0.12):int(plate.height * 0.5), :int(plate.width * 0.3)] = 255
    Image.fromarray(mask).save(root / "sets" / "patio" / "trees.png")
    data["living"] = [{"name": "trees", "image": "patio/trees.png", "preset": preset,
                       "amount": amount}]
    toml.write_text(tomli_w.dumps(data))


@pytest.mark.parametrize("preset", ["sway", "water", "screen"])
def test_masked_regions_move_and_the_rest_stays(demo_production: Path, tmp_path: Path,
                                                preset: str) -> None:
    root = tmp_path / "demo"
    shutil.copytree(demo_production, root)
    _living_set(root, preset)
    production = load_production(root)
    spec = _spec("patio", characters=[])
    shot = ShotFrames(spec, production, W, H, 24, 0, (0, 48))
    frames = [shot.frame(i).rgb.astype(np.int16) for i in (0, 20, 40)]
    region = shot.living.region_alpha(shot.frame(0).camera) > 0.01
    assert region.any() and not region.all()
    moved = max(np.abs(frames[k] - frames[0]).max(axis=2)[region].mean() for k in (1, 2))
    assert moved > 0.5, preset
    # foliage sways a few pixels past its mask's edge; nothing farther moves
    outside = ~(cv2.dilate(region.astype(np.uint8), np.ones((13, 13), np.uint8)) > 0)
    for k in (1, 2):
        assert np.array_equal(frames[k][outside], frames[0][outside])
    plain = ShotFrames(_spec("patio", characters=[]), load_production(demo_production),
                       W, H, 24, 0, (0, 48))
    assert np.array_equal(plain.frame(0).rgb, plain.frame(20).rgb)  # no regions: a still


def test_living_masks_are_validated_and_hashed(demo_production: Path, tmp_path: Path) -> None:
    root = tmp_path / "demo"
    shutil.copytree(demo_production, root)
    spec = _spec()
    before = shot_hash(spec, load_production(root), "proxy")
    toml = root / "sets" / "campfire.toml"
    toml.write_text(toml.read_text().replace('preset = "fire"', 'preset = "lava"'))
    lines = [p.line() for p in load_production(root).problems]
    assert any("sets/campfire.toml" in line and "living[0].preset" in line and "'fire'" in line
               and "lava" in line for line in lines), lines
    toml.write_text(toml.read_text().replace('preset = "lava"', 'preset = "fire"'))
    Image.new("L", (64, 64)).save(root / "sets" / "campfire" / "fire.png")
    production = load_production(root)
    assert shot_hash(spec, production, "proxy") != before  # the mask's bytes are hashed
    with pytest.raises(SoloreelError, match=r"set 'campfire' living\[0\]\.image.*64x64.*resize"):
        ShotFrames(spec, production, W, H, 24, 0, (0, 48))


def test_a_fire_on_a_plate_without_depth_still_lands_on_its_flames(demo_production: Path,
                                                                  tmp_path: Path) -> None:
    """No depth map (a user's own plate): the region is placed where its lowest point meets
    the floor, and a moved camera still finds the flames under the mask."""
    root = tmp_path / "demo"
    shutil.copytree(demo_production, root)
    toml = root / "sets" / "campfire.toml"
    toml.write_text(toml.read_text().replace('depth = "campfire/depth.png"\n', ""))
    production = load_production(root)
    assert production.set("campfire").plate.depth is None
    shot = ShotFrames(_spec(camera={"move": "truck_right", "amount": 0.3}), production, W, H,
                      24, 0, (0, 48))
    flames = []
    for index in range(0, 48, 3):
        frame = shot.frame(index)
        region = shot.living.region_alpha(frame.camera) > 0.5
        if region.sum() < 50:
            continue
        luma = frame.rgb.astype(np.float32) @ LUMA
        assert luma[region].mean() > luma.mean() + 40, index
        flames.append(float(luma[region].mean()))
    assert len(flames) >= 8 and np.std(flames) > 2.0


def _scene_shot(production, ident: str, size: str, seed: int, origin: float = 3600.0,
                set_name: str = "campfire", subjects: tuple[str, ...] = ()) -> ShotFrames:
    spec = ShotSpec.model_validate({
        "shot": {"id": ident, "size": size, "origin": origin, "subjects": list(subjects)},
        "set": set_name, "seed": seed, "characters": CAMPFIRE_PAIR})
    return ShotFrames(spec, production, W, H, 24, round(origin * 24), (0, 48))


def test_shots_of_one_scene_moment_flicker_in_phase(demo_production: Path) -> None:
    """A WS and an MCU of the same scene (different seeds, sizes and cameras) show the same
    fire signal at the same scene time — flames, ground glow and the firelight's key on the
    characters — so a cut between them does not jump; another scene has its own signal."""
    production = load_production(demo_production)
    wide = _scene_shot(production, "s03-001", "WS", seed=5)
    close = _scene_shot(production, "s03-004", "MCU", seed=977, subjects=("jane",))
    later = _scene_shot(production, "s03-006", "CU", seed=31, origin=3601.0, subjects=("john",))
    other = _scene_shot(production, "s04-001", "WS", seed=5)
    times = [wide.seconds(i) for i in range(48)]
    signal = [wide.living.signal(t) for t in times]
    assert np.std(signal) > 0.05  # a fire, not a constant
    assert signal == [close.living.signal(t) for t in times]
    # one second later in the scene's source time: the same waves, a second on
    assert [wide.living.signal(t + 1.0) for t in times] == pytest.approx(
        [later.living.signal(t) for t in times], rel=1e-9)
    assert np.corrcoef(signal, [other.living.signal(t) for t in times])[0, 1] < 0.9
    # the characters' firelight follows the same signal: John's key at one place and moment
    # has the same strength from both cameras
    from render_engine.proxy.cutouts import body_centre, posture_of

    john = wide.spec.characters[0]
    centre = body_centre(posture_of("sit", *john.position, john.facing, False), 1.8)
    for index in (0, 11, 29):
        t = times[index]
        key_wide = wide.lighting.for_character(wide.frame(index).camera, centre, t).key
        key_close = close.lighting.for_character(close.frame(index).camera, centre, t).key
        assert key_wide == pytest.approx(key_close, rel=1e-9)
    # the flames' animated brightness over the plate's own, frame by frame, in both views
    ratios = {}
    for name, shot in (("wide", wide), ("close", close)):
        ratios[name] = []
        for index in range(0, 48, 4):
            cam = shot.camera(shot.progress(index), times[index])
            background, _ = shot.plates.background_planes(cam)
            region = shot.living.region_alpha(cam) > 0.9
            if region.sum() < 30:
                break
            lit = shot.living.apply(background, cam, times[index])
            ratios[name].append(float(lit[region].mean() / background[region].mean()))
    assert len(ratios["wide"]) == 12
    if len(ratios["close"]) == 12:  # the MCU shows the fire: it pulses with the wide
        assert np.corrcoef(ratios["wide"], ratios["close"])[0, 1] > 0.95
    # deterministic and keyed by set, lighting and scene, not by the shot's seed
    from render_engine.proxy.lighting import scene_clock

    assert scene_clock(wide.spec, production) == scene_clock(close.spec, production)
    assert scene_clock(wide.spec, production)[0] != scene_clock(other.spec, production)[0]
    patio = wide.spec.model_copy(update={"set": "patio"})
    assert scene_clock(patio, production)[0] != scene_clock(wide.spec, production)[0]
