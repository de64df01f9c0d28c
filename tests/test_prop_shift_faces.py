"""Props never cover a face: when re-aiming cannot clear a tight single, the prop's layer moves.

A set made here: a drawn flat plate (plank floor, striped back wall) with a tall teal screen
standing 0.6 m in front of a seated Jane, right on the line from her MCU/CU camera to her face
(placed from the framed camera itself, so it is in the way at any cast height). Measured through
the shot's own buffers: the moved mask (`ShotFrames` foregrounds), the compositor's face report
and the frame's pixels.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from PIL import Image

from render_engine.bible import load_production
from render_engine.proxy import compositor
from render_engine.proxy.framing import plan_framing
from render_engine.proxy.prop_shift import MASK_THRESHOLD, plan_shifts
from render_engine.proxy.shot import ShotFrames
from render_engine.spec import ShotSpec

W, H = 640, 360
PLATE = (1280, 720)
HFOV, CAM_H, HORIZON = 70.0, 1.3, 360
JANE = (0.0, 4.2)
SCREEN_Z, SCREEN_HALF_W, SCREEN_TOP = 3.6, 0.28, 1.6
TEAL = np.array([30, 160, 150], np.float32)


def _spec(size: str, move: str = "static") -> ShotSpec:
    return ShotSpec.model_validate({
        "shot": {"id": "p-001", "size": size, "subjects": ["jane"]}, "set": "studio",
        "seed": 3, "camera": {"move": move, "amount": 0.3} if move != "static" else {},
        "characters": [{"name": "jane", "position": list(JANE), "facing": 180,
                        "action": "sit"}]})


def _paint(folder: Path, screen_x: float | None) -> None:
    """Plate, z-depth and (with `screen_x`) the screen's mask."""
    width, height = PLATE
    f = (width / 2) / math.tan(math.radians(HFOV) / 2)
    u = (np.arange(width) + 0.5)[None, :] - width / 2
    v = (np.arange(height) + 0.5)[:, None] - HORIZON
    wall_z = 8.0
    floor_z = CAM_H * f / np.maximum(v, 1e-3) + 0 * u
    z = np.where((v > 0) & (floor_z < wall_z), floor_z, wall_z)
    x, y = u * z / f, CAM_H - v * z / f
    planks = 0.55 + 0.1 * np.sin(x * 9.0) + 0.08 * (np.floor(z * 2.5) % 2)
    rgb = np.stack([200 * planks, 150 * planks, 100 * planks], axis=-1)
    wall = z >= wall_z
    stripes = np.where((np.floor(x * 2.0) % 2)[..., None] > 0, [214, 196, 170], [188, 120, 96])
    rgb = np.where(wall[..., None], stripes * (0.85 + 0.15 * (y > 1.0))[..., None], rgb)
    depth = z * 1000.0
    if screen_x is not None:
        sx = u * SCREEN_Z / f
        sy = CAM_H - v * SCREEN_Z / f
        screen = np.broadcast_to(
            (np.abs(sx - screen_x) < SCREEN_HALF_W) & (sy > 0) & (sy < SCREEN_TOP), z.shape)
        slats = (0.8 + 0.2 * (np.floor(sy * 12) % 2))[..., None]
        rgb = np.where(screen[..., None], TEAL * slats, rgb)
        depth = np.where(screen, SCREEN_Z * 1000.0, depth)
        Image.fromarray((screen * 255).astype(np.uint8)).save(folder / "screen.png")
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8)).save(folder / "plate.png")
    Image.fromarray(np.clip(depth, 0, 65000).astype(np.uint16)).save(folder / "depth.png")


def _write_set(root: Path, with_screen: bool) -> None:
    spec = {"name": "studio", "plate": {
        "kind": "flat", "image": "studio/plate.png", "depth": "studio/depth.png",
        "hfov_deg": HFOV, "horizon_row": HORIZON, "camera_height_m": CAM_H}}
    if with_screen:
        spec["masks"] = [{"name": "screen", "image": "studio/screen.png",
                          "depth_m": SCREEN_Z}]
    (root / "sets" / "studio.toml").write_text(tomli_w.dumps(spec))


@pytest.fixture(scope="module")
def studio(demo_production: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's cast with the studio set; the screen stands on the line from Jane's MCU
    camera (framed without it) to her eyes."""
    root = tmp_path_factory.mktemp("props") / "demo"
    shutil.copytree(demo_production, root)
    (root / "sets" / "studio").mkdir()
    _paint(root / "sets" / "studio", None)
    _write_set(root, with_screen=False)
    production = load_production(root)
    camera = plan_framing(_spec("MCU"), production, W, H).camera
    eyes = np.array([JANE[0], 1.15, JANE[1]])
    start = np.asarray(camera.position)
    share = (SCREEN_Z - start[2]) / (eyes[2] - start[2])
    screen_x = float(start[0] + share * (eyes[0] - start[0]))
    _paint(root / "sets" / "studio", screen_x)
    _write_set(root, with_screen=True)
    return root


def _face_box(frame) -> tuple[int, int, int, int]:
    sprite = next(s for s in frame.sprites if s.name == "jane")
    box = compositor.face_box(sprite)
    assert box is not None
    x0, y0, x1, y1 = box
    return max(0, int(x0)), max(0, int(y0)), min(W, math.ceil(x1)), min(H, int(y1) + 1)


@pytest.mark.parametrize("size", ["MCU", "CU"])
def test_a_prop_layer_moves_off_the_face(studio: Path, size: str) -> None:
    production = load_production(studio)
    spec = _spec(size)
    framing = plan_framing(spec, production, W, H)
    assert "shifted aside" in framing.note, framing.note  # re-aiming could not clear it
    shot = ShotFrames(spec, production, W, H, 24, 0, (0, 24))
    frame = shot.frame(0)
    shifts = shot.prop_shifter.shifts
    assert len(shifts) == 1 and shifts[0].index == 0 and "jane" in shifts[0].reason
    dx, dy = shifts[0].dx, shifts[0].dy
    assert (dx, dy) != (0, 0)
    # before: the screen covers her face in this very view
    original = np.asarray(shot.plates.foreground(frame.camera)[0][0])
    x0, y0, x1, y1 = _face_box(frame)
    assert (original[y0:y1, x0:x1] > MASK_THRESHOLD).mean() > 0.2
    # after: no mask pixel over the face box, as the compositor saw it
    report = compositor.last_report
    face = next(f for f in report.faces if f.name == "jane")
    assert face.props == 0.0 and face.covered == 0.0
    moved_alpha = np.zeros_like(original)
    height, width = original.shape
    moved_alpha[max(0, dy):height + min(0, dy), max(0, dx):width + min(0, dx)] = original[
        max(0, -dy):height - max(0, dy), max(0, -dx):width - max(0, dx)]
    assert not (moved_alpha[y0:y1, x0:x1] > MASK_THRESHOLD).any()
    # the prop is still there, whole-pixel copied (nothing stretched): its solid pixels in
    # the frame are the view's own pixels, moved by (dx, dy), and teal
    plate_rgb = shot.plates.background(frame.camera)[0]
    solid = moved_alpha > 0.999
    assert solid.sum() > 0.2 * (original > 0.999).sum() > 0
    # (the compositor's face protection still feathers a little past the face box)
    feather = math.ceil(compositor.FACE_FEATHER * (y1 - y0))
    solid[max(0, y0 - feather):y1 + feather, max(0, x0 - feather):x1 + feather] = False
    assert solid.sum() > 1000
    ys, xs = np.nonzero(solid)
    assert np.array_equal(frame.rgb[ys, xs], plate_rgb[ys - dy, xs - dx])
    mean = frame.rgb[ys, xs].astype(np.float32).mean(axis=0)
    assert mean[1] > mean[0] + 60 and mean[2] > mean[0] + 50
    # where it stood, the wall and floor show again (no teal left outside its new place)
    left = (original > 0.999) & (moved_alpha < 0.01)
    left[max(0, y0 - 4):y1 + 4, max(0, x0 - 4):x1 + 4] = False  # Jane herself
    teal = (frame.rgb[..., 1].astype(np.int16) - frame.rgb[..., 0] > 90) & left
    assert left.sum() > 100 and teal.mean() < 0.02
    # every frame of the shot moves it by the same pixels, deterministically
    later = shot.frame(23)
    assert shot.prop_shifter.shifts == shifts
    again = ShotFrames(spec, load_production(studio), W, H, 24, 0, (0, 24))
    assert np.array_equal(again.frame(23).rgb, later.rgb)


def test_nothing_moves_when_no_face_is_covered(studio: Path) -> None:
    production = load_production(studio)
    shot = ShotFrames(_spec("WS"), production, W, H, 24, 0, (0, 4))
    shot.frame(0)
    assert shot.prop_shifter.shifts == []
    # a mask beside the face (not over it) plans no shift
    frame = ShotFrames(_spec("MCU"), production, W, H, 24, 0, (0, 4)).frame(0)
    x1 = _face_box(frame)[2]
    aside = np.zeros((H, W), np.float32)
    aside[:, max(0, x1 + 20):] = 1.0
    assert plan_shifts([(aside, 0.5)], frame.sprites, ["jane"]) == []
