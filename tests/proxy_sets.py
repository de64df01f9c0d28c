"""Synthetic sets for the proxy camera and plate tests, painted analytically with numpy.

- "round": a 360 equirectangular plate colour-coded by longitude and latitude, floor depth.
- "strip": a 150-degree cylindrical (wide) plate, a textured floor, a red post 3 m away at
  heading 12 degrees with a foreground mask, depth (horizontal distance) for all of it.
- "flat": a 70-degree pinhole plate, textured floor, a red box 2 m away with a mask, z-depth.
- "bare": the flat plate without depth or masks.
Cast: jane (1.68 m), john (1.80 m), ranger (1.75 m).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import tomli_w
from PIL import Image

ROUND = (1024, 512)
STRIP = (1536, 432)
STRIP_HFOV = 150.0
STRIP_HORIZON = 216
FLAT = (480, 270)
FLAT_HFOV = 70.0
CAMERA_HEIGHT = 1.2
POST = {"heading": 12.0, "distance": 3.0, "half_width": 0.15, "height": 1.5}
BOX = {"x0": -0.9, "x1": -0.3, "z": 2.0, "height": 0.8}
SKY = 65535


def equirect_colour(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The 360 test plate's colour at longitude/latitude (radians): smooth and periodic."""
    r = 128 + 100 * np.sin(lon)
    g = 128 + 100 * np.cos(lon)
    b = 20 + 215 * (lat + math.pi / 2) / math.pi
    return np.stack([r, g, b], axis=-1)


def _floor_texture(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """A soft checkerboard on the floor (world metres), so parallax is visible and measurable."""
    check = (np.sin(x * math.pi * 2) * np.sin(z * math.pi * 2))
    base = 90 + 50 * check
    return np.stack([base * 0.7, base, base * 0.6], axis=-1)


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _round_set(folder: Path) -> dict:
    width, height = ROUND
    u = (np.arange(width) + 0.5)[None, :]
    v = (np.arange(height) + 0.5)[:, None]
    lon = (u - width / 2) / width * 2 * math.pi
    lat = (height / 2 - v) / height * math.pi
    rgb = equirect_colour(lon + 0 * lat, lat + 0 * lon)
    _save(folder / "plate.png", np.clip(rgb + 0.5, 0, 255).astype(np.uint8))
    down = np.maximum(-np.sin(lat), 1e-6) + 0 * lon
    depth = np.where(lat < -0.02, np.minimum(CAMERA_HEIGHT / down * 1000, 60000), SKY)
    _save(folder / "depth.png", depth.astype(np.uint16))
    return {"name": "round", "plate": {"kind": "360", "image": "round/plate.png",
                                       "depth": "round/depth.png", "hfov_deg": 360.0,
                                       "camera_height_m": CAMERA_HEIGHT}}


def _strip_set(folder: Path) -> dict:
    width, height = STRIP
    f = width / math.radians(STRIP_HFOV)
    u = (np.arange(width) + 0.5)[None, :]
    v = (np.arange(height) + 0.5)[:, None]
    lon = (u - width / 2) / f + 0 * v
    below = np.maximum(v - STRIP_HORIZON, 1e-3) + 0 * u
    dist = CAMERA_HEIGHT * f / below
    ground = (v > STRIP_HORIZON) + 0 * u > 0
    rgb = np.where(ground[..., None], _floor_texture(dist * np.sin(lon), dist * np.cos(lon)),
                   np.array([40, 60, 150])[None, None, :] + 0 * dist[..., None])
    depth = np.where(ground, np.minimum(dist * 1000, 60000), SKY)
    # the post: a vertical strip at a fixed horizontal distance
    half = math.atan2(POST["half_width"], POST["distance"])
    centre = math.radians(POST["heading"])
    y = CAMERA_HEIGHT - (v - STRIP_HORIZON) / f * POST["distance"] + 0 * u
    post = (np.abs(lon - centre) < half) & (y > 0) & (y < POST["height"])
    rgb = np.where(post[..., None], np.array([220, 30, 30])[None, None, :], rgb)
    depth = np.where(post, POST["distance"] * 1000, depth)
    _save(folder / "plate.png", np.clip(rgb, 0, 255).astype(np.uint8))
    _save(folder / "depth.png", depth.astype(np.uint16))
    _save(folder / "post.png", (post * 255).astype(np.uint8))
    return {"name": "strip",
            "plate": {"kind": "wide", "image": "strip/plate.png", "depth": "strip/depth.png",
                      "hfov_deg": STRIP_HFOV, "horizon_row": STRIP_HORIZON,
                      "camera_height_m": CAMERA_HEIGHT},
            "masks": [{"name": "post", "image": "strip/post.png",
                       "depth_m": POST["distance"]}]}


def _flat_set(folder: Path, bare: bool = False) -> dict:
    width, height = FLAT
    horizon = height / 2
    f = (width / 2) / math.tan(math.radians(FLAT_HFOV) / 2)
    u = (np.arange(width) + 0.5)[None, :]
    v = (np.arange(height) + 0.5)[:, None]
    a = (u - width / 2) / f + 0 * v
    below = np.maximum(v - horizon, 1e-3) + 0 * u
    z = CAMERA_HEIGHT * f / below
    ground = (v > horizon) + 0 * u > 0
    rgb = np.where(ground[..., None], _floor_texture(z * a, z),
                   np.array([90, 130, 200])[None, None, :] + 0 * z[..., None])
    depth = np.where(ground, np.minimum(z * 1000, 60000), SKY)
    y = CAMERA_HEIGHT - (v - horizon) / f * BOX["z"] + 0 * u
    x = a * BOX["z"]
    box = (x > BOX["x0"]) & (x < BOX["x1"]) & (y > 0) & (y < BOX["height"])
    rgb = np.where(box[..., None], np.array([220, 30, 30])[None, None, :], rgb)
    depth = np.where(box, BOX["z"] * 1000, depth)
    name = "bare" if bare else "flat"
    _save(folder / "plate.png", np.clip(rgb, 0, 255).astype(np.uint8))
    plate = {"kind": "flat", "image": f"{name}/plate.png", "hfov_deg": FLAT_HFOV,
             "horizon_row": int(horizon), "camera_height_m": CAMERA_HEIGHT}
    spec: dict = {"name": name, "plate": plate}
    if not bare:
        _save(folder / "depth.png", depth.astype(np.uint16))
        _save(folder / "box.png", (box * 255).astype(np.uint8))
        plate["depth"] = f"{name}/depth.png"
        spec["masks"] = [{"name": "box", "image": f"{name}/box.png", "depth_m": BOX["z"]}]
    return spec


def build_proxy_production(root: Path) -> Path:
    """Write the production (settings, cast, the four sets) into `root`."""
    (root / "timelines").mkdir(parents=True, exist_ok=True)
    (root / "soloreel.toml").write_text(tomli_w.dumps({"production": {"name": "Sets"}}))
    for name, height in (("jane", 1.68), ("john", 1.80), ("ranger", 1.75)):
        (root / "cast").mkdir(exist_ok=True)
        (root / "cast" / f"{name}.toml").write_text(tomli_w.dumps(
            {"name": name, "height_m": height}))
    sets = root / "sets"
    for spec in (_round_set(sets / "round"), _strip_set(sets / "strip"),
                 _flat_set(sets / "flat"), _flat_set(sets / "bare", bare=True)):
        (sets / f"{spec['name']}.toml").write_text(tomli_w.dumps(spec))
    return root
