"""A small production for the proxy tier: code-drawn cut-out sheets, a plate with depth, a mask.

Each view of "ana" is a flat-coloured figure (a body box and a head disc) in its own colour, so
a test can tell which view was chosen from the pixels; turned views carry a nose on the LEFT
(the sheet convention) so mirroring shows. "bo" is painted on a green screen (no alpha) to go
through the keyer. The set "yard" is a flat 70-degree plate whose depth map is the analytic
floor plane plus a box standing 2 m away, with a "fence" foreground mask at 2.5 m.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import tomli_w
from PIL import Image

VIEW_COLOURS = {
    "front": (200, 60, 60), "three_quarter": (60, 200, 60), "side": (60, 60, 200),
    "back": (200, 200, 60), "sit_front": (200, 60, 200), "sit_three_quarter": (60, 200, 200),
    "sit_side": (140, 100, 40), "sit_back": (100, 40, 140),
}
SHEET = (96, 128)
"""Width, height of each view image."""
FEET_ROW = 124.0
HEAD_ROW = 8.0
PLATE = (320, 180)
PLATE_HFOV = 70.0
CAMERA_HEIGHT = 1.5
BOX_DEPTH = 2.0
FENCE_DEPTH = 2.5


VIEW_TURN = {"front": 0.0, "three_quarter": 45.0, "side": 90.0, "back": 0.0}


def _seat_offset(name: str) -> float:
    """How far right of the feet a seated view's hips are (a thigh, foreshortened)."""
    ppm = (FEET_ROW - HEAD_ROW) / 1.7
    turn = VIEW_TURN[name.removeprefix("sit_")]
    return math.sin(math.radians(turn)) * 0.245 * 1.7 * ppm


def _figure(colour: tuple[int, int, int], name: str) -> np.ndarray:
    w, h = SHEET
    image = np.zeros((h, w, 4), np.uint8)
    seated = name.startswith("sit_")
    turned = "side" in name or "three" in name
    feet_x, body_x = _feet_x(name), _feet_x(name) + (_seat_offset(name) if seated else 0.0)
    top = HEAD_ROW if not seated else 40.0
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    head = (xx - body_x) ** 2 + (yy - (top + 10)) ** 2 <= 10 ** 2
    if seated:
        seat = FEET_ROW - 30
        body = (np.abs(xx - body_x) <= 12) & (yy >= top + 20) & (yy <= seat)
        thigh = ((xx >= min(feet_x, body_x) - 6) & (xx <= max(feet_x, body_x) + 6)
                 & (yy >= seat - 10) & (yy <= seat))
        shin = (np.abs(xx - feet_x) <= 6) & (yy >= seat - 10) & (yy <= FEET_ROW)
        body = body | thigh | shin
    else:
        body = (np.abs(xx - body_x) <= 12) & (yy >= top + 20) & (yy <= FEET_ROW)
    solid = head | body
    image[solid, :3] = colour
    image[solid, 3] = 255
    if turned:  # a nose on the left side of the head
        nose = (xx >= body_x - 14) & (xx < body_x - 9) & (np.abs(yy - (top + 11)) <= 2)
        image[nose, :3] = (250, 250, 250)
        image[nose, 3] = 255
    return image


def _feet_x(name: str) -> float:
    return SHEET[0] / 2 - (_seat_offset(name) / 2 if name.startswith("sit_") else 0.0)


def _anchors(name: str) -> dict:
    seated = name.startswith("sit_")
    top = HEAD_ROW if not seated else 40.0
    body_x = _feet_x(name) + (_seat_offset(name) if seated else 0.0)
    anchors = {"feet": [_feet_x(name), FEET_ROW], "head_top": [body_x, top],
               "eyes": [body_x, top + 8.0]}
    if not name.endswith("back"):
        turned = "side" in name or "three" in name
        anchors["mouth"] = [body_x - 2.0 if turned else body_x, top + 15.0]
        anchors["mouth_width"] = 10.0 if name.endswith("front") else 6.0
    return anchors


def floor_depth_map(width: int, height: int, hfov: float, camera_height: float,
                    horizon: float) -> np.ndarray:
    """z-depth (metres) of the floor seen by a level pinhole camera; inf above the horizon."""
    f = (width / 2) / math.tan(math.radians(hfov) / 2)
    rows = np.arange(height, dtype=np.float64) + 0.5 - horizon
    with np.errstate(divide="ignore"):
        depth = np.where(rows > 0, camera_height * f / rows, np.inf)
    return np.repeat(depth[:, None], width, axis=1)


def make_cutout_production(root: Path, width: int = 160, height: int = 90,
                           handles: int = 2) -> Path:
    """Write the production (see the module docstring) and return its folder."""
    (root / "timelines").mkdir(parents=True)
    (root / "renders").mkdir()
    (root / "soloreel.toml").write_text(tomli_w.dumps({
        "production": {"name": "Cutouts", "fps": 24, "handles": handles},
        "tiers": {"placeholder": {"width": width, "height": height},
                  "proxy": {"width": width, "height": height},
                  "final": {"width": 64, "height": 48, "steps": 2}},
    }))
    views = {}
    for name, colour in VIEW_COLOURS.items():
        image = _figure(colour, name)
        path = root / "cast" / "ana" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)
        views[name] = {"image": f"ana/{name}.png", **_anchors(name)}
    (root / "cast" / "ana.toml").write_text(tomli_w.dumps({
        "name": "ana", "height_m": 1.7, "views": views,
        "voice": {"engine": "espeak", "variant": "en-us+f3"},
    }))
    green = _figure((180, 120, 90), "front")
    screen = np.zeros((*green.shape[:2], 3), np.uint8)
    screen[:] = (30, 190, 40)
    a = green[..., 3:4].astype(np.float32) / 255.0
    screen = (green[..., :3] * a + screen * (1 - a)).astype(np.uint8)
    (root / "cast" / "bo").mkdir(parents=True)
    Image.fromarray(screen).save(root / "cast" / "bo" / "front.png")
    (root / "cast" / "bo.toml").write_text(tomli_w.dumps({
        "name": "bo", "height_m": 1.8,
        "views": {"front": {"image": "bo/front.png", **_anchors("front")}},
    }))
    _write_set(root)
    return root


def _write_set(root: Path) -> None:
    w, h = PLATE
    horizon = h / 2
    folder = root / "sets" / "yard"
    folder.mkdir(parents=True)
    rows = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    plate = (np.array([70, 110, 160], np.float32) * (1 - rows)
             + np.array([90, 120, 70], np.float32) * rows)
    plate = np.repeat(plate, w, axis=1)
    depth = floor_depth_map(w, h, PLATE_HFOV, CAMERA_HEIGHT, horizon)
    depth = np.where(np.isfinite(depth), depth, 65.535)
    # a box 2 m away, right of centre, 1 m tall
    f = (w / 2) / math.tan(math.radians(PLATE_HFOV) / 2)
    bx0, bx1 = round(w / 2 + f * 0.3 / BOX_DEPTH), round(w / 2 + f * 0.9 / BOX_DEPTH)
    by0 = round(horizon - f * (1.0 - CAMERA_HEIGHT) / BOX_DEPTH)
    by1 = round(horizon + f * CAMERA_HEIGHT / BOX_DEPTH)
    depth[by0:by1, bx0:bx1] = BOX_DEPTH
    plate[by0:by1, bx0:bx1] = (120, 80, 50)
    # a bright "fire" 5 m away on the left for the flickering preset
    fx = round(w / 2 + f * -1.0 / 5.0)
    fy = round(horizon + f * (CAMERA_HEIGHT - 0.3) / 5.0)
    plate[fy - 2:fy + 2, fx - 2:fx + 2] = (255, 220, 150)
    depth[fy - 2:fy + 2, fx - 2:fx + 2] = 5.0
    mask = np.zeros((h, w), np.uint8)
    mask[round(h * 0.7):, : w // 3] = 255  # a low fence on the left
    Image.fromarray(plate.astype(np.uint8)).save(folder / "plate.png")
    Image.fromarray(np.round(depth * 1000).clip(1, 65535).astype(np.uint16)).save(
        folder / "depth.png")
    Image.fromarray(mask).save(folder / "fence.png")
    (root / "sets" / "yard.toml").write_text(tomli_w.dumps({
        "name": "yard", "default_lighting": "day",
        "plate": {"kind": "flat", "image": "yard/plate.png", "depth": "yard/depth.png",
                  "hfov_deg": PLATE_HFOV, "horizon_row": int(horizon),
                  "camera_height_m": CAMERA_HEIGHT},
        "masks": [{"name": "fence", "image": "yard/fence.png", "depth_m": FENCE_DEPTH}],
        "lighting": {
            "day": {"key_azimuth_deg": -60, "key_elevation_deg": 35,
                    "key_color": [255, 242, 214], "ambient_color": [168, 190, 222]},
            "night": {"key_azimuth_deg": 170, "key_elevation_deg": 30,
                      "key_color": [150, 170, 230], "ambient_color": [30, 40, 80],
                      "intensity": 0.6, "rim_color": [120, 150, 220]},
            "fire": {"key_azimuth_deg": math.degrees(math.atan2(-1.0, 5.0)),
                     "key_elevation_deg": 8, "key_color": [255, 146, 64],
                     "ambient_color": [46, 58, 100], "flicker": 0.4},
        },
    }))
