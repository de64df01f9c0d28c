"""Stand-in set plates: a generated picture and depth map for a set that has no plate yet.

`soloreel script2edit --stubs` writes a set stub whose `plate.image` is
`NAME/standin_plate.png` and `plate.depth` `NAME/standin_depth.png`. Those files are made here,
by code, so placeholders and proxies work from minute one: the location's name over a sky and a
floor grid in the colours of the set's time of day, seen in perspective exactly as the set
camera would see a flat floor (the plate's kind, field of view, horizon and camera height), and
a matching 16-bit depth map (millimetres, 65535 = sky; the conventions of
`render_engine.proxy.projection`).

The bible stays as it is: a stand-in is an ordinary plate file, so `validate`, the content
hashes and every tier treat it like a painted plate (its bytes are hashed like any plate's).
`load_production` calls `ensure_standins`, which (re)writes a stand-in file when it is missing
or was made for other plate settings (the settings are recorded in the PNG), deterministically:
the same set gives the same bytes. Setting `plate.image` (and `plate.depth`) to your own files
replaces the stand-in; a stand-in depth beside your own plate image is a floor-plane estimate at
your plate's size until you give a depth map of your own.

Stand-in figures work the same way for characters: a cast stub's `views.front` and
`views.sit_front` name `NAME/standin_front.png` and `NAME/standin_sit_front.png`, a mannequin in
a colour from the name's hash with the name on its torso (`paint_figure`; the seated view is
derived from it by `render_engine.cast.cutout.seated_view`, like any front view), drawn by
`ensure_figure` when missing or out of date. Only files named standin_* are ever written;
`soloreel cast new NAME --from PICTURE` replaces the stand-in views with the real ones.
"""

from __future__ import annotations

import colorsys
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, PngImagePlugin

from render_engine.atomic import atomic_path
from render_engine.bible import CastMember, Plate, Production, SetSpec
from render_engine.errors import Problem, SoloreelError
from render_engine.slate_text import font, printable

STANDIN_PLATE = "standin_plate.png"
STANDIN_DEPTH = "standin_depth.png"
"""File names (inside sets/NAME/) that mark a plate or depth map as a generated stand-in."""
VERSION = 1
"""Bumped when the drawing changes, so old stand-ins are redrawn."""
KEY = "soloreel-standin"
"""The PNG text chunk holding the settings a stand-in was drawn for."""
HEIGHT_PX = 1080
"""Stand-in plate height (rows above the horizon for flat plates); the width follows the
plate's kind and field of view."""
FLAT_WIDTH_PX = 2560
HFOV_DEG = 90.0
"""The field of view set stubs give a stand-in: wide enough that a camera tracking sideways
stays inside the plate; with FLAT_WIDTH_PX about as many pixels per degree as a 1920-pixel
70° plate."""
NEAR_FLOOR_M = 2.5
"""A flat stand-in reaches down to the floor this far in front of the set camera (for a
camera of 1.5 m), so a camera standing behind the set camera still sees floor, not the
plate's edge."""
MAX_WIDTH_PX = 4096
GRID_M = 1.0
"""Floor grid spacing (metres)."""
LINE_M = 0.025
"""Floor grid line width (metres)."""
FOG_M = 45.0
"""Distance over which the floor fades into the horizon haze."""
LABEL_DEG = 2.0
"""Size of the location's name on a stand-in, in degrees of the set camera's view."""
LABEL_ABOVE_DEG = 4.8
"""How far above the horizon the name's baseline sits (degrees): above the heads of the
people in a wide, low enough that a wide looking down at them keeps it in frame."""
LABEL_OPACITY = 200
PNG_LEVEL = 3
"""zlib level of stand-in files: much faster than the default, files a little larger."""
MAX_DEPTH_MM = 65000
SKY_MM = 65535

RGB = tuple[int, int, int]

PALETTES: dict[str, dict[str, RGB]] = {
    "day": {"sky": (112, 165, 224), "haze": (214, 229, 240), "floor": (182, 172, 150),
            "grid": (118, 108, 92), "text": (64, 90, 128)},
    "morning": {"sky": (138, 178, 222), "haze": (246, 226, 204), "floor": (186, 172, 150),
                "grid": (120, 104, 88), "text": (84, 90, 126)},
    "dawn": {"sky": (96, 108, 164), "haze": (244, 190, 160), "floor": (150, 132, 126),
             "grid": (98, 82, 84), "text": (78, 62, 100)},
    "dusk": {"sky": (64, 62, 122), "haze": (238, 150, 104), "floor": (128, 100, 96),
             "grid": (78, 58, 62), "text": (66, 44, 84)},
    "night": {"sky": (14, 20, 42), "haze": (44, 58, 96), "floor": (62, 70, 92),
              "grid": (112, 128, 170), "text": (196, 210, 245)},
}
"""Colours per time of day: sky at the zenith, haze at the horizon, floor, grid lines, name."""

TIME_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("night", ("night", "midnight", "moon", "dark")),
    ("dusk", ("dusk", "sunset", "evening", "twilight")),
    ("dawn", ("dawn", "sunrise")),
    ("morning", ("morning",)),
    ("day", ("day", "noon", "afternoon", "sun")),
)
"""Words in a lighting preset's name that say its time of day, first match wins."""

LIGHTING: dict[str, dict[str, Any]] = {
    "day": {"key_azimuth_deg": -40.0, "key_elevation_deg": 45.0, "key_color": [255, 246, 230],
            "ambient_color": [165, 180, 205]},
    "morning": {"key_azimuth_deg": -60.0, "key_elevation_deg": 25.0,
                "key_color": [255, 234, 204], "ambient_color": [160, 172, 200]},
    "dawn": {"key_azimuth_deg": -70.0, "key_elevation_deg": 8.0, "key_color": [255, 204, 170],
             "ambient_color": [132, 136, 172]},
    "dusk": {"key_azimuth_deg": 60.0, "key_elevation_deg": 8.0, "key_color": [255, 172, 112],
             "ambient_color": [112, 102, 142], "rim_color": [255, 160, 120]},
    "night": {"key_azimuth_deg": 30.0, "key_elevation_deg": 35.0, "key_color": [176, 194, 236],
              "intensity": 0.8, "ambient_color": [70, 80, 118], "rim_color": [120, 150, 220]},
}
"""Lighting presets written into set stubs, per time of day (see `lighting_for_time`)."""


def time_key(preset_name: str | None) -> str:
    """The palette of a lighting preset's name ("night_fire" → "night"); "day" by default."""
    text = (preset_name or "").lower()
    for key, words in TIME_WORDS:
        if any(word in text for word in words):
            return key
    return "day"


def lighting_for_time(preset_name: str) -> dict[str, Any]:
    """A lighting preset (LightingPreset fields) matching the time its name says."""
    return dict(LIGHTING[time_key(preset_name)])


def standin_files(set_name: str) -> tuple[str, str]:
    """The plate.image and plate.depth a set stub names (relative to sets/)."""
    return f"{set_name}/{STANDIN_PLATE}", f"{set_name}/{STANDIN_DEPTH}"


def is_standin(relative: str | None) -> bool:
    """Whether a plate or depth path names a generated stand-in file."""
    return relative is not None and Path(relative).name in (STANDIN_PLATE, STANDIN_DEPTH)


def uses_standin(set_spec: SetSpec) -> bool:
    """Whether a set's plate image or depth map is a generated stand-in."""
    return is_standin(set_spec.plate.image) or is_standin(set_spec.plate.depth)


def plate_size(plate: Plate) -> tuple[int, int]:
    """Width and height of a stand-in plate: FLAT_WIDTH_PX wide for flat plates, tall enough to
    show the floor from NEAR_FLOOR_M away; for wide ones the field of view at a 1920-pixel 70°
    flat plate's pixel density; 2:1 for 360s."""
    if plate.kind == "360":
        return 2 * HEIGHT_PX, HEIGHT_PX
    focal = (FLAT_WIDTH_PX / 2) / math.tan(math.radians(plate.hfov_deg) / 2)
    if plate.kind == "flat":
        below = focal * 1.5 / NEAR_FLOOR_M  # rows from the horizon down to the near floor
        if plate.horizon_row is None:  # the horizon is the middle row: as much sky as floor
            return FLAT_WIDTH_PX, 2 * max(HEIGHT_PX // 2, min(2 * HEIGHT_PX, round(below)))
        return FLAT_WIDTH_PX, max(plate.horizon_row + 2, plate.horizon_row + round(below))
    focal = (1920 / 2) / math.tan(math.radians(35.0))  # a 1920-pixel 70° plate's density
    width = round(focal * math.radians(plate.hfov_deg) / 2) * 2
    return max(2, min(MAX_WIDTH_PX, width)), HEIGHT_PX


def _settings(set_spec: SetSpec, size: tuple[int, int], what: str) -> str:
    """What a stand-in file depends on, as the text recorded in it."""
    plate = set_spec.plate
    data = {"version": VERSION, "what": what, "set": set_spec.name, "kind": plate.kind,
            "size": list(size), "hfov_deg": plate.hfov_deg, "horizon_row": plate.horizon_row,
            "camera_height_m": plate.camera_height_m,
            "time": time_key(set_spec.lighting_name(None))}
    return json.dumps(data, sort_keys=True)


def _model(plate: Plate, size: tuple[int, int]) -> Any:
    from render_engine.proxy.projection import PlateModel

    width, height = size
    horizon = height / 2 if plate.kind == "360" or plate.horizon_row is None \
        else float(plate.horizon_row)
    return PlateModel(plate.kind, width, height, float(plate.hfov_deg), horizon,
                      float(plate.camera_height_m))


def paint_depth(plate: Plate, size: tuple[int, int]) -> np.ndarray:
    """The stand-in depth map: the floor plane in millimetres in the conventions of the plate's
    kind (flat: z; wide: horizontal distance; 360: along the ray), 65535 above the horizon."""
    model = _model(plate, size)
    width, height = size
    if plate.kind in ("flat", "wide"):  # per row: how far the ray drops per unit of z / radius
        rows = np.arange(height, dtype=np.float64) + 0.5
        down = np.broadcast_to(((rows - model.horizon) / model.focal)[:, None], (height, width))
    else:  # per unit along the ray
        u, v = np.meshgrid(np.arange(width, dtype=np.float64) + 0.5,
                           np.arange(height, dtype=np.float64) + 0.5)
        down = -model.directions(u, v)[..., 1]
    ground = down > 1e-6
    metres = plate.camera_height_m / np.where(ground, down, 1.0)
    millimetres = np.clip(np.round(metres * 1000.0), 1, MAX_DEPTH_MM)
    return np.where(ground, millimetres, SKY_MM).astype(np.uint16)


def _cover(coord: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage (0–1) of grid lines every GRID_M along a floor coordinate for
    pixels spanning `footprint` metres of it, faded where a pixel spans much of a grid cell
    (no moiré at the horizon)."""
    footprint = np.maximum(footprint, np.float32(1e-6))
    offset = np.abs(coord / GRID_M - np.round(coord / GRID_M)) * GRID_M
    line = np.maximum(np.float32(LINE_M), 1.2 * footprint)  # never thinner than about a pixel
    cover = np.clip((line / 2 + footprint / 2 - offset) / footprint, 0.0, 1.0)
    return cover * np.clip(1.0 - footprint / (0.3 * GRID_M), 0.0, 1.0)


def _grid_lines(coord: np.ndarray) -> np.ndarray:
    """`_cover` of a 2-D floor coordinate, its footprint from its pixel-to-pixel change."""
    gy, gx = np.gradient(coord)
    return _cover(coord, np.abs(gx) + np.abs(gy))


def _sky(palette: dict[str, np.ndarray], up: np.ndarray) -> np.ndarray:
    """Sky colours for rays of elevation sine `up`: haze at the horizon, sky colour above."""
    t = np.sqrt(np.clip(up * 2.2, 0.0, 1.0))[..., None]
    return palette["haze"] + (palette["sky"] - palette["haze"]) * t


def _ground(palette: dict[str, np.ndarray], distance: np.ndarray, lines: np.ndarray
            ) -> np.ndarray:
    """Floor colours: grid lines over the floor, both fading into the haze with distance."""
    fog = (1.0 - np.exp(-distance / FOG_M)).astype(np.float32)[..., None]
    base = palette["floor"] * (1.0 - fog) + palette["haze"] * fog
    return base + (palette["grid"] - palette["floor"]) * (1.0 - fog) * lines[..., None]


def _paint_separable(plate: Plate, size: tuple[int, int], palette: dict[str, np.ndarray],
                     model: Any) -> np.ndarray:
    """Flat and wide plates: every row is one elevation, so the sky, the floor's distance and
    its fog are per row and only the grid across the floor is per pixel (fast on big plates)."""
    width, height = size
    f = np.float32(model.focal)
    a = ((np.arange(width, dtype=np.float32) + 0.5) - width / 2) / f
    b = (np.float32(model.horizon) - (np.arange(height, dtype=np.float32) + 0.5)) / f
    first = int(np.searchsorted(-b, 1e-6, side="right"))  # the first row below the horizon
    rgb = np.empty((height, width, 3), np.float32)
    rgb[:first] = _sky(palette, b[:first] / np.sqrt(1 + b[:first] ** 2))[:, None, :]
    if first < height:
        reach = np.float32(plate.camera_height_m) / -b[first:]  # z (flat) or radius (wide)
        if plate.kind == "flat":
            x = a[None, :] * reach[:, None]
            step = np.abs(np.gradient(reach))  # metres of z per row
            lines = np.maximum(_cover(x, reach[:, None] / f + np.abs(a[None, :]) * step[:, None]),
                               _cover(reach, step)[:, None])
        else:
            x = np.sin(a)[None, :] * reach[:, None]
            z = np.cos(a)[None, :] * reach[:, None]
            lines = np.maximum(_grid_lines(x), _grid_lines(z))
        rgb[first:] = _ground(palette, reach[:, None], lines)
    return rgb


def _paint_any(plate: Plate, size: tuple[int, int], palette: dict[str, np.ndarray],
               model: Any) -> np.ndarray:
    """Any plate kind (360 plates): the floor point of every pixel's ray."""
    width, height = size
    u, v = np.meshgrid(np.arange(width, dtype=np.float64) + 0.5,
                       np.arange(height, dtype=np.float64) + 0.5)
    dirs = model.directions(u, v)
    dy = dirs[..., 1]
    ground = dy < -1e-6
    t = np.where(ground, plate.camera_height_m / np.where(ground, -dy, 1.0), 0.0)
    x = (t * dirs[..., 0]).astype(np.float32)
    z = (t * dirs[..., 2]).astype(np.float32)
    lines = np.where(ground, np.maximum(_grid_lines(x), _grid_lines(z)), 0.0)
    return np.where(ground[..., None], _ground(palette, t.astype(np.float32), lines),
                    _sky(palette, dy.astype(np.float32)))


def paint_plate(set_spec: SetSpec, size: tuple[int, int]) -> np.ndarray:
    """The stand-in picture (H x W x 3 uint8): sky and haze, a floor grid, the set's name."""
    plate = set_spec.plate
    time = time_key(set_spec.lighting_name(None))
    palette = {k: np.asarray(c, np.float32) / 255.0 for k, c in PALETTES[time].items()}
    model = _model(plate, size)
    paint = _paint_separable if plate.kind in ("flat", "wide") else _paint_any
    rgb = paint(plate, size, palette, model)
    picture = Image.fromarray(np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8))
    _label(picture, set_spec, time, model)
    return np.asarray(picture)


def _label(picture: Image.Image, set_spec: SetSpec, time: str, model: Any) -> None:
    """The location's name (and "stand-in plate · TIME" under it) in the sky straight ahead,
    a little above the horizon (LABEL_ABOVE_DEG), where the wides that open a scene keep it
    in frame above the people's heads; a little transparent, like a sign in the distance."""
    name = printable(set_spec.name.replace("-", " ").replace("_", " ").upper())
    colour = (*PALETTES[time]["text"], LABEL_OPACITY)
    layer = Image.new("RGBA", picture.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    u, _v = model.pixels(np.array(0.0), np.array(0.0), np.array(1.0))
    centre = float(u)
    per_degree = model.focal * math.pi / 180  # plate pixels per degree near the centre
    big = font(max(12, round(LABEL_DEG * per_degree)))
    while big.size > 12 and big.getlength(name) > 60 * per_degree:
        big = font(int(big.size * 0.9))
    bottom = model.horizon - LABEL_ABOVE_DEG * per_degree
    draw.text((centre, bottom), name, font=big, fill=colour, anchor="md")
    small = font(max(10, round(0.38 * LABEL_DEG * per_degree)))
    draw.text((centre, bottom + 0.25 * big.size), printable(f"stand-in plate · {time}"),
              font=small, fill=colour, anchor="mt")
    picture.paste(layer, (0, 0), layer)


def _recorded(path: Path) -> str | None:
    """The settings text a stand-in file was drawn for, or None (missing, unreadable, other)."""
    try:
        with Image.open(path) as image:
            return image.info.get(KEY)  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def _save(path: Path, array: np.ndarray, settings: str) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text(KEY, settings)
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG", pnginfo=info, compress_level=PNG_LEVEL)


def ensure_standin(production: Production, set_spec: SetSpec) -> list[Path]:
    """Write the set's stand-in plate and/or depth when missing or drawn for other settings;
    returns the files written (none when they are up to date)."""
    plate = set_spec.plate
    written: list[Path] = []
    image_path = production.set_file(set_spec, plate.image)
    size = plate_size(plate)
    if is_standin(plate.image):
        settings = _settings(set_spec, size, "plate")
        if _recorded(image_path) != settings:
            _save(image_path, paint_plate(set_spec, size), settings)
            written.append(image_path)
    elif image_path.is_file():  # a stand-in depth beside the user's own plate: match its size
        try:
            with Image.open(image_path) as image:
                size = image.size
        except (OSError, ValueError):
            return written
    else:
        return written
    if is_standin(plate.depth):
        assert plate.depth is not None
        depth_path = production.set_file(set_spec, plate.depth)
        settings = _settings(set_spec, size, "depth")
        if _recorded(depth_path) != settings:
            _save(depth_path, paint_depth(plate, size), settings)
            written.append(depth_path)
    return written


def ensure_standins(production: Production) -> tuple[list[Path], list[Problem]]:
    """Bring every set's stand-in files (see `ensure_standin`) and every character's stand-in
    figure (see `ensure_figure`) up to date: the files written and a problem per set or
    character whose stand-in could not be written (e.g. a read-only folder)."""
    written: list[Path] = []
    problems: list[Problem] = []
    for set_spec in production.sets.values():
        if not uses_standin(set_spec):
            continue
        try:
            written += ensure_standin(production, set_spec)
        except SoloreelError:
            continue  # a path outside the production: the file check reports it
        except (OSError, ValueError) as exc:
            problems.append(Problem(
                f"sets/{set_spec.name}.toml", "plate.image",
                f"the stand-in plate could not be written ({exc})",
                "make sets/ writable, or set plate.image to your own plate"))
    for member in production.cast.values():
        try:
            written += ensure_figure(production, member)
        except SoloreelError:
            continue  # a path outside the production: the file check reports it
        except (OSError, ValueError) as exc:
            problems.append(Problem(
                f"cast/{member.name}.toml", "views.front",
                f"the stand-in figure could not be written ({exc})",
                f"make cast/ writable, or give it a picture: soloreel cast new {member.name} "
                "--from PICTURE"))
    return written, problems


# --------------------------------------------------------------------------- stand-in figures

STANDIN_FRONT = "standin_front.png"
STANDIN_SIT_FRONT = "standin_sit_front.png"
"""File names (inside cast/NAME/) that mark a view as a generated stand-in figure."""
FIGURE_VERSION = 1
"""Bumped when the figure's drawing changes, so old stand-in figures are redrawn."""
FIGURE_SIZE = (512, 1024)
"""Width and height of a standing stand-in figure (like a character sheet's front view)."""
FIGURE_CX = 256
FIGURE_HEAD_TOP = 48
FIGURE_HEAD_RADIUS = 62
FIGURE_FEET = 1000
FIGURE_EYES_Y = 112
FIGURE_MOUTH_Y = 144
FIGURE_MOUTH_WIDTH = 40.0
FIGURE_ANCHORS: dict[str, Any] = {
    "feet": [float(FIGURE_CX), float(FIGURE_FEET)],
    "eyes": [float(FIGURE_CX), float(FIGURE_EYES_Y)],
    "mouth": [float(FIGURE_CX), float(FIGURE_MOUTH_Y)],
    "head_top": [float(FIGURE_CX), float(FIGURE_HEAD_TOP)],
    "mouth_width": FIGURE_MOUTH_WIDTH,
}
"""Anchors of the standing stand-in figure (image pixels), the same for every character."""


def figure_files(name: str) -> tuple[str, str]:
    """The `views.front` and `views.sit_front` images a cast stub names (relative to cast/)."""
    return f"{name}/{STANDIN_FRONT}", f"{name}/{STANDIN_SIT_FRONT}"


def is_standin_view(relative: str | None) -> bool:
    """Whether a view's image path names a generated stand-in figure."""
    return relative is not None and Path(relative).name in (STANDIN_FRONT, STANDIN_SIT_FRONT)


def uses_standin_figure(member: CastMember) -> bool:
    """Whether any of a character's views is a generated stand-in figure."""
    return any(is_standin_view(view.image) for view in member.views.values())


def figure_colour(name: str) -> RGB:
    """The character's mannequin colour: a saturated hue from a stable hash of the name (the
    same on every machine and run, unlike Python's `hash`)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    hue = int.from_bytes(digest[:2], "big") / 65536.0
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.7, 0.85)
    return round(red * 255), round(green * 255), round(blue * 255)


def _shade(colour: RGB, factor: float) -> RGB:
    return (min(255, round(colour[0] * factor)), min(255, round(colour[1] * factor)),
            min(255, round(colour[2] * factor)))


def paint_figure(name: str, label: str) -> Image.Image:
    """The standing stand-in figure (RGBA, FIGURE_SIZE, transparent around it): a mannequin in
    the name's colour (`figure_colour`) — head with two eyes and a mouth line at the anchors,
    torso, arms, legs with a gap between them, feet at FIGURE_ANCHORS — with `label` written
    small on the torso so characters can be told apart."""
    body = figure_colour(name)
    limbs, dark, head = _shade(body, 0.78), _shade(body, 0.35), _shade(body, 1.25)
    picture = Image.new("RGBA", FIGURE_SIZE, (0, 0, 0, 0))
    draw = ImageDraw.Draw(picture)
    cx = FIGURE_CX

    def limb(start: tuple[float, float], end: tuple[float, float], width: int) -> None:
        draw.line([start, end], fill=(*limbs, 255), width=width)
        for x, y in (start, end):
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2),
                         fill=(*limbs, 255))

    for side in (-1, 1):  # legs, apart down to the feet (the seated view finds the crotch)
        limb((cx + side * 42, 540), (cx + side * 48, FIGURE_FEET - 22), 48)
        draw.ellipse((cx + side * 48 - 34, FIGURE_FEET - 30, cx + side * 48 + 34, FIGURE_FEET),
                     fill=(*dark, 255))
    for side in (-1, 1):  # arms hanging a little away from the torso
        limb((cx + side * 92, 214), (cx + side * 118, 520), 36)
    draw.rectangle((cx - 20, FIGURE_HEAD_TOP + 2 * FIGURE_HEAD_RADIUS - 8, cx + 20, 200),
                   fill=(*limbs, 255))
    draw.rounded_rectangle((cx - 90, 190, cx + 90, 560), radius=40, fill=(*body, 255))
    top = FIGURE_HEAD_TOP
    draw.ellipse((cx - FIGURE_HEAD_RADIUS + 6, top, cx + FIGURE_HEAD_RADIUS - 6,
                  top + 2 * FIGURE_HEAD_RADIUS), fill=(*head, 255))
    for side in (-1, 1):
        x = cx + side * 22
        draw.ellipse((x - 7, FIGURE_EYES_Y - 7, x + 7, FIGURE_EYES_Y + 7), fill=(*dark, 255))
    half = FIGURE_MOUTH_WIDTH / 2
    draw.line([(cx - half, FIGURE_MOUTH_Y), (cx + half, FIGURE_MOUTH_Y)], fill=(*dark, 255),
              width=5)
    text = printable(label.upper())
    size = 30
    while size > 10 and font(size).getlength(text) > 160:
        size -= 2
    ink = (20, 20, 20, 255) if sum(body) > 360 else (250, 250, 250, 255)
    draw.text((cx, 300), text, font=font(size), fill=ink, anchor="mm")
    return picture


def figure_views(name: str, label: str | None = None
                 ) -> tuple[Image.Image, Image.Image | None, dict[str, dict[str, Any]]]:
    """The stand-in figure, its seated view (derived exactly as `cast new` derives one, see
    `render_engine.cast.cutout.seated_view`) and the `views` table a cast stub gets for them
    (image paths relative to cast/, anchors in each image's pixels)."""
    from render_engine.cast.cutout import SEATED_VIEW, seated_view

    front = paint_figure(name, label or name.replace("-", " ").replace("_", " "))
    front_file, seated_file = figure_files(name)
    views: dict[str, dict[str, Any]] = {"front": {"image": front_file, **FIGURE_ANCHORS}}
    seated = seated_view(front, FIGURE_ANCHORS)
    if seated is None:
        return front, None, views
    views[SEATED_VIEW] = {"image": seated_file, **seated[1]}
    return front, seated[0], views


def _save_rgba(path: Path, picture: Image.Image, settings: str) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text(KEY, settings)
    with atomic_path(path) as tmp:
        picture.save(tmp, format="PNG", pnginfo=info, compress_level=PNG_LEVEL)


def ensure_figure(production: Production, member: CastMember) -> list[Path]:
    """Write a character's stand-in figure files (only views whose image is named standin_*)
    when missing or drawn for another name, label or drawing version; returns those written."""
    wanted = {view.image for view in member.views.values() if is_standin_view(view.image)}
    if not wanted:
        return []
    label = member.label
    front: Image.Image | None = None
    seated: Image.Image | None = None
    written: list[Path] = []
    for relative in sorted(wanted):
        standing = Path(relative).name == STANDIN_FRONT
        settings = json.dumps({"version": FIGURE_VERSION, "what": "front" if standing else
                               "sit_front", "name": member.name, "label": label},
                              sort_keys=True)
        path = production.cast_file(member, relative)
        if _recorded(path) == settings:
            continue
        if front is None:
            front, seated, _views = figure_views(member.name, label)
        picture = front if standing else seated
        if picture is None:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        _save_rgba(path, picture, settings)
        written.append(path)
    return written
