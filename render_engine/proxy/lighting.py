"""The light on each character: key direction, colour and intensity, rim, fire flicker.

A set's lighting preset gives a key (azimuth: the heading towards the light; elevation; colour;
intensity), an ambient colour, an optional rim colour and a flicker amount. A preset that
flickers is a fire: its light is a point, found in the plate itself (the brightest spot along
the key's heading, at the depth the depth map gives there), so each character is lit from where
the fire really is; any other key is a directional light (the sun, the moon). Per character and
frame this gives a `SpriteLight` in camera coordinates, which `render_engine.proxy.shading`
applies to the sprite's pixels (with the ambient match to the plate).

Light belongs to the scene, not to the shot: everything but the key's direction in camera
coordinates is a function of the character's place in the set and the moment (key colour,
falloff, flicker, ambient, rim) — and so is the ambient match's target, the Lab statistics of
the set's own plate around where the character is, as the set camera photographed it
(`scene_stats`), not of the pixels that happen to surround the cut-out on screen. So a wide, a
medium shot and a close-up of the same moment give the same face. Daylight (a preset that
does not flicker and whose ambient is bright) is white-balanced to the sun and sky and keeps a
soft fill in the shadows, so skin keeps its colour (the "grey skin" of a plain colour
transfer: Reinhard et al., "Color Transfer between Images", IEEE CG&A 2001, moves chroma
towards the plate's grey mean); a day preset that names no sun direction is lit as a soft,
frontal fill.

A fire's flicker is a function of the scene's clock too (`scene_clock`): its waves come from
the set, the lighting and the scene, and it is read at the frame's source time, so a wide and a
close-up covering the same instant show the same fire level and the same firelight on faces.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from render_engine.bible import LightingPreset, Production
from render_engine.errors import SoloreelError
from render_engine.proxy import lens
from render_engine.proxy.camera import Camera
from render_engine.proxy.projection import SKY_MM, PlateSource, plate_source
from render_engine.spec import ShotSpec

MATCH_L = 0.65
"""How far the cut-out's lightness moves towards the plate's around it (0 none, 1 all)."""
MATCH_AB = 0.35
"""How far its colour cast (Lab a, b means) moves towards the plate's."""
DAY_MATCH_L = 0.3
DAY_MATCH_AB = 0.08
"""Daylight's (weaker) match: the plate's mean is no exposure target for a sunlit face."""
DAY_AMBIENT_LUMA = 0.35
"""An ambient at least this bright (linear luma) in a preset without flicker is daylight."""
DAY_FILL = 0.3
"""Daylight's shadow floor: the sky fills this much of the key into the shadow side."""
SOFT_FILL = 0.7
"""A day preset without a sun direction: a soft frontal fill, little modelling."""
STATS_STEP_M = 0.1
"""Floor positions are rounded to this before the plate around them is measured (cached)."""
WRAP = 0.35
"""Wrap lighting: how far round the body the key reaches past the terminator (the shading's)."""
FIRE_HEIGHT_M = 0.5
STEADY_CACHE = 64
"""Flicker-free character lights remembered per shot (a few cameras x characters x places)."""
FIRE_FLICKER_GAIN = 0.9
NEUTRAL = LightingPreset(key_azimuth_deg=-35.0, key_elevation_deg=35.0,
                         key_color=(255, 248, 240), ambient_color=(150, 150, 150))


@dataclass(frozen=True)
class SpriteLight:
    """The light falling on one character in one frame, in the camera's coordinates."""

    direction: tuple[float, float, float]
    """Unit vector from the character towards the key (camera x right, y up, z forward)."""
    key: tuple[float, float, float]
    """Key colour x intensity x flicker, linear 0..1+ per channel."""
    ambient: tuple[float, float, float]
    norm: float
    """Luminance of ambient + the body's average share of the key (half of it, lifted by the
    fill): divides the gain to keep exposure."""
    rim: tuple[float, float, float]
    rim_strength: float
    match_l: float = MATCH_L
    match_ab: float = MATCH_AB
    fill: float = 0.0
    """Shadow floor of the key's gradient (0: the key alone models the body)."""
    lit_offset: float = 0.0
    """Added to the key's gradient so the body's middle is lit as the character's facing
    meets the key in the set (view-independent), not as the camera happens to see it."""
    scene: tuple[np.ndarray, np.ndarray] | None = None
    """The ambient match's target: Lab mean and std (8-bit units) of the set's plate around
    the character (None: match to the frame around the sprite)."""


def _rgb(color: tuple[int, int, int]) -> np.ndarray:
    return np.asarray(color, np.float64) / 255.0


def _luma(rgb: np.ndarray) -> float:
    return float(0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2])


def _direction(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    return np.array([math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)])


# --------------------------------------------------------------------------- the light source


@functools.lru_cache(maxsize=16)
def _scan_source(source: PlateSource, mtimes: tuple[int, int], azimuth_deg: float
                 ) -> tuple[float, float] | None:
    """Floor (x, z) under the brightest spot below the horizon along the key's heading."""
    model = source.model
    if source.depth is None:
        return None
    az = math.radians(azimuth_deg)
    u, _v = model.pixels(np.array(math.sin(az)), np.array(0.0), np.array(math.cos(az)))
    column = float(u)
    if not 0 <= column < model.width:
        return None
    with Image.open(source.image) as image:
        rgb = np.asarray(image.convert("RGB"))
    with Image.open(source.depth) as image:
        depth = np.asarray(image)
    if depth.ndim == 3:
        depth = depth[..., 0]
    if depth.shape != rgb.shape[:2]:
        return None
    half = max(2, round(model.focal * math.radians(2.0)))
    c0, c1 = max(0, int(column) - half), min(model.width, int(column) + half + 1)
    top = max(0, int(model.horizon))
    band = rgb[top:, c0:c1].astype(np.float32)
    if not band.size:
        return None
    luma = band @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    row, col = np.unravel_index(int(np.argmax(luma)), luma.shape)
    if luma[row, col] < 150:
        return None
    y, x = top + int(row), c0 + int(col)
    raw = float(np.median(depth[y:y + 3, x]))
    if raw >= SKY_MM:
        return None
    pu, pv = np.array(x + 0.5), np.array(y + 0.5)
    ray = raw / 1000.0 * float(model.ray_scale(pu, pv))
    direction = model.directions(pu, pv)
    floor = direction * ray
    if not 0.3 < ray < 60.0:
        return None
    return float(floor[0]), float(floor[2])


def find_light_source(production: Production, spec: ShotSpec,
                      preset: LightingPreset) -> tuple[float, float, float] | None:
    """World position of a flickering key (a fire) seen in the shot's plate, or None.

    Looks along the preset's key heading in the plate for its brightest spot below the horizon
    and places the light over the floor point the depth map gives there.
    """
    if preset.flicker <= 0:
        return None
    try:
        source = plate_source(spec, production)
        if source.depth is None:
            return None
        mtimes = (source.image.stat().st_mtime_ns, source.depth.stat().st_mtime_ns)
        found = _scan_source(source, mtimes, preset.key_azimuth_deg)
    except (OSError, ValueError, SoloreelError):
        return None
    if found is None:
        return None
    return (found[0], FIRE_HEIGHT_M, found[1])


# --------------------------------------------------------------------------- per shot


FLICKER_WEIGHTS = (1.0, 0.8, 0.6, 0.4, 0.3)


@functools.lru_cache(maxsize=64)
def _flicker_waves(seed: int) -> tuple[tuple[float, float, float], ...]:
    rng = np.random.default_rng([seed, 241])
    freqs = rng.uniform([1.3, 2.9, 5.3, 8.7, 12.1], [1.9, 3.7, 6.7, 10.3, 14.0])
    phases = rng.uniform(0, 2 * math.pi, 5)
    total = sum(FLICKER_WEIGHTS)
    return tuple((float(f), float(p), w / total) for f, p, w in
                 zip(freqs, phases, FLICKER_WEIGHTS, strict=True))


def scene_key(spec: ShotSpec, production: Production | None = None) -> str:
    """The scene a shot belongs to, as the renderer can tell from its spec alone: its set, the
    lighting it asks for (the set's default when none) and the scene part of its id — what
    precedes the last '-' (`s02` of script2edit's `s02-003`; empty for an id without one). Two
    shots with the same key are coverage of one scene and share its clock."""
    lighting = spec.lighting or ""
    if production is not None:
        with contextlib.suppress(SoloreelError):
            lighting = production.set(spec.set).lighting_name(spec.lighting) or lighting
    ident = spec.shot.id
    scene = ident.rsplit("-", 1)[0] if "-" in ident else ""
    return f"{spec.set.strip().lower()}/{lighting.strip().lower()}/{scene.lower()}"


def scene_clock(spec: ShotSpec, production: Production | None = None) -> tuple[int, float]:
    """(seed, origin) of the scene's clock: the seed of its flicker waves (from `scene_key`,
    not the shot's seed) and the source time of shot time 0 (`shot.origin`). A frame at shot
    time t is at scene time origin + t — the clip's own source time, so the coverage of one
    scene shot on a common source clock (as takes of the same action are) flickers in phase,
    and a cut between a wide and a close-up at the same instant does not jump."""
    digest = hashlib.sha256(f"soloreel/scene-clock/{scene_key(spec, production)}".encode())
    return int.from_bytes(digest.digest()[:4], "big"), float(spec.shot.origin)


def flicker_noise(t: float, seed: int) -> float:
    """Deterministic fire-like noise in about -1..1 at time t: a few incommensurate sines
    whose frequencies (1.3-14 Hz) and phases come from the seed."""
    value = sum(w * math.sin(2 * math.pi * f * t + p) for f, p, w in _flicker_waves(seed))
    return value * 1.8


# --------------------------------------------------------------------------- the scene's plate


@functools.lru_cache(maxsize=4)
def _plate_lab(image: str, mtime: int) -> np.ndarray:
    """The plate in 8-bit Lab, at most 960 pixels wide (statistics need no more)."""
    del mtime  # part of the cache key only
    with Image.open(image) as opened:
        rgb = np.asarray(opened.convert("RGB"))
    step = max(1, -(-rgb.shape[1] // 960))
    return cv2.cvtColor(np.ascontiguousarray(rgb[::step, ::step]), cv2.COLOR_RGB2Lab)


def _stats(sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = cv2.meanStdDev(np.ascontiguousarray(sample))
    return mean.ravel().astype(np.float32), np.maximum(std.ravel(), 1.0).astype(np.float32)


def scene_stats(source: PlateSource, x: float, z: float, height_m: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Lab mean and std (8-bit units) of the set's plate around a character standing at floor
    (x, z): the body's box as the set camera sees it, grown by its width either side and half
    its height above and below (as `shading.plate_stats` grows a screen box). Every shot of the
    scene matches the character to these numbers, whatever its camera shows around them. A
    place the plate does not show (behind a flat plate's camera) gets the whole plate's."""
    mtime = source.image.stat().st_mtime_ns
    lab = _plate_lab(str(source.image), mtime)
    return _scene_stats(str(source.image), mtime, source.model,
                        round(x / STATS_STEP_M), round(z / STATS_STEP_M),
                        round(height_m / STATS_STEP_M), lab.shape[:2])


@functools.lru_cache(maxsize=256)
def _scene_stats(image: str, mtime: int, model: object, ix: int, iz: int, ih: int,
                 shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    lab = _plate_lab(image, mtime)
    x, z, height = ix * STATS_STEP_M, iz * STATS_STEP_M, max(ih * STATS_STEP_M, 0.5)
    origin = np.asarray(model.origin)  # type: ignore[attr-defined]
    half = 0.2 * height
    corners = np.array([[x - half, 0.0, z], [x + half, 0.0, z], [x - half, height, z],
                        [x + half, height, z]]) - origin
    u, v = model.pixels(corners[:, 0], corners[:, 1], corners[:, 2])  # type: ignore[attr-defined]
    scale = shape[1] / model.width  # type: ignore[attr-defined]
    u, v = np.asarray(u) * scale, np.asarray(v) * scale
    rows, cols = shape
    if not (np.isfinite(u).all() and np.isfinite(v).all()) or (u < -cols).any() or \
            (u > 2 * cols).any() or (v < -rows).any() or (v > 2 * rows).any():
        return _stats(lab)
    u0, u1, v0, v1 = float(u.min()), float(u.max()), float(v.min()), float(v.max())
    grow_u, grow_v = max(u1 - u0, 2.0), max(v1 - v0, 2.0) / 2
    c0, c1 = int(max(0, u0 - grow_u)), int(min(cols, u1 + grow_u + 1))
    r0, r1 = int(max(0, v0 - grow_v)), int(min(rows, v1 + grow_v + 1))
    if c1 - c0 < 2 or r1 - r0 < 2:
        return _stats(lab)
    return _stats(lab[r0:r1, c0:c1])


def is_daylight(preset: LightingPreset) -> bool:
    """Whether a preset is daylight: no flicker and a bright ambient (sky) colour."""
    return preset.flicker <= 0 and _luma(_rgb(preset.ambient_color)) >= DAY_AMBIENT_LUMA


def has_key_direction(preset: LightingPreset) -> bool:
    """Whether the preset names where its key comes from (else: a soft fill by day)."""
    return "key_azimuth_deg" in preset.model_fields_set


@dataclass(frozen=True)
class ShotLighting:
    """The lighting of one shot: its preset, the fire's position if it is one, the seed of its
    flicker (the scene clock's, see `scene_clock`), the plate the scene's ambient match is
    measured on, and the scene time of shot time 0."""

    preset: LightingPreset
    source: tuple[float, float, float] | None
    seed: int
    plate: PlateSource | None = None
    origin: float = 0.0
    _steady: dict = dataclasses.field(default_factory=dict, init=False, repr=False,
                                      compare=False, hash=False)
    """`for_character`'s flicker-free part per (camera, world, facing) (see there)."""
    _scene: dict = dataclasses.field(default_factory=dict, init=False, repr=False,
                                     compare=False, hash=False)
    """`scene_stats` per place, rounded as `lighting.scene_stats` rounds it (see there)."""

    def flicker(self, t: float) -> float:
        """Key multiplier at shot time t (scene time origin + t): 1 without flicker, varying
        around 1 for fire."""
        if self.preset.flicker <= 0:
            return 1.0
        amount = self.preset.flicker * FIRE_FLICKER_GAIN
        return max(0.2, 1.0 + amount * 0.5 * flicker_noise(self.origin + t, self.seed))

    def scene_stats(self, world: tuple[float, float, float]
                    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The ambient match target for a character whose body centre is at `world` (see
        `scene_stats`); None without a readable plate."""
        if self.plate is None:
            return None
        x, z, height_m = world[0], world[2], 2.0 * world[1]
        # the statistics only change by STATS_STEP_M: a place seen again (a moving camera,
        # a character breathing in place) is answered without reading the plate's file date
        place = (round(x / STATS_STEP_M), round(z / STATS_STEP_M), round(height_m / STATS_STEP_M))
        if place not in self._scene:
            try:
                found = scene_stats(self.plate, x, z, height_m)
            except (OSError, ValueError):
                found = None
            if len(self._scene) >= STEADY_CACHE:
                self._scene.clear()
            self._scene[place] = found
        return self._scene[place]

    def for_character(self, camera: Camera, world: tuple[float, float, float],
                      t: float, facing_deg: float | None = None) -> SpriteLight:
        """The light on a character whose body centre is at `world`, seen from `camera`;
        with `facing_deg` (the character's heading in the set) the middle of the body is lit
        by how the character faces the key, the same from every camera.

        Everything but the flicker is a function of (camera, world, facing): that part is
        computed once per such key (a still camera and a seated character repeat it every
        frame) and only the flicker gain is applied per frame — the same numbers as computing
        it all afresh."""
        memo = (camera, tuple(float(v) for v in world),
                None if facing_deg is None else float(facing_deg))
        steady = self._steady.get(memo)
        if steady is None:
            steady = self._steady_light(camera, world, facing_deg)
            if len(self._steady) >= STEADY_CACHE:  # a moving camera: start afresh
                self._steady.clear()  # (one atomic call: shots may render on threads)
            self._steady[memo] = steady
        light, key, rim_strength = steady
        flick = self.flicker(t)
        return dataclasses.replace(light, key=tuple(float(v) for v in key * flick),
                                   rim_strength=float(rim_strength * (0.6 + 0.4 * flick)))

    def _steady_light(self, camera: Camera, world: tuple[float, float, float],
                      facing_deg: float | None) -> tuple[SpriteLight, np.ndarray, float]:
        """`for_character` without the flicker: the light with key and rim strength at
        flicker 1, the unflickered key (array) and rim strength to scale per frame."""
        preset = self.preset
        daylight = is_daylight(preset)
        soft = daylight and not has_key_direction(preset)
        if soft:  # no sun named: a soft light from above the camera, a little to its left
            towards = lens.rotation(camera).T @ np.array([-0.35, 0.45, -0.82])
            falloff = 1.0
        elif self.source is not None:
            towards = np.asarray(self.source) - np.asarray(world)
            norm = float(np.linalg.norm(towards))
            towards = towards / norm if norm > 1e-6 else _direction(preset.key_azimuth_deg, 10)
            falloff = 1.0 / (1.0 + (max(norm - 1.0, 0.0) / 3.0) ** 2)
        else:
            towards = _direction(preset.key_azimuth_deg, preset.key_elevation_deg)
            falloff = 1.0
        direction = lens.rotation(camera) @ towards
        key = _rgb(preset.key_color) * preset.intensity * falloff
        ambient = _rgb(preset.ambient_color)
        if daylight:  # white-balanced to sun + sky: the light models, it does not tint
            white = ambient + 0.5 * _rgb(preset.key_color) * preset.intensity
            balance = _luma(white) / np.maximum(white, 1e-3)
            key, ambient = key * balance, ambient * balance
        fill = (SOFT_FILL if soft else DAY_FILL) if daylight else 0.0
        # exposure: the body's average shade (half the key, lifted by the fill) keeps its level
        norm = max(_luma(ambient + (fill + (1.0 - fill) * 0.5) * key), 0.05)
        rim_color = _rgb(preset.rim_color) if preset.rim_color else _rgb(preset.key_color)
        behind = max(0.0, float(direction[2]))  # the key is beyond the character
        rim_strength = min(1.0, 1.6 * behind) * min(1.0, preset.intensity * falloff + 0.3)
        if preset.rim_color:
            rim_strength = max(rim_strength, 0.25)  # a separate back light (the moon)
        if daylight and not preset.rim_color:  # a sunlit edge, not a glowing outline
            rim_strength *= 0.0 if soft else 0.2
        lit_offset = 0.0
        if facing_deg is not None and not soft:
            heading = math.radians(facing_deg)
            facing = np.array([math.sin(heading), 0.0, math.cos(heading)])
            to_camera = np.asarray(camera.position, float) - np.asarray(world, float)
            if facing[0] * to_camera[0] + facing[2] * to_camera[2] < 0:
                facing = -facing  # the camera sees the back: that side's light shows
            flat = np.array([towards[0], 0.0, towards[2]])
            flat = flat / max(float(np.linalg.norm(flat)), 1e-6)
            lit = (float(facing @ flat) + WRAP) / (1.0 + WRAP)
            seen = (-float(direction[2]) / max(math.hypot(direction[0], direction[2]), 1e-6)
                    + WRAP) / (1.0 + WRAP)
            lit_offset = float(np.clip(lit, 0.0, 1.0) - np.clip(seen, 0.0, 1.0))
        light = SpriteLight(direction=tuple(float(v) for v in direction),
                            key=tuple(float(v) for v in key),
                            ambient=tuple(float(v) for v in ambient), norm=norm,
                            rim=tuple(float(v) for v in rim_color),
                            rim_strength=float(rim_strength),
                            match_l=DAY_MATCH_L if daylight else MATCH_L,
                            match_ab=DAY_MATCH_AB if daylight else MATCH_AB,
                            fill=fill,
                            lit_offset=lit_offset, scene=self.scene_stats(world))
        return light, key, rim_strength


def shot_lighting(production: Production, spec: ShotSpec) -> ShotLighting:
    """The shot's lighting from its set's preset (the one asked for, else the set's default)."""
    set_spec = production.set(spec.set)
    name = set_spec.lighting_name(spec.lighting)
    preset = set_spec.lighting.get(name) if name else None
    preset = preset or NEUTRAL
    try:
        plate: PlateSource | None = plate_source(spec, production)
    except (OSError, ValueError, SoloreelError):
        plate = None
    seed, origin = scene_clock(spec, production)
    return ShotLighting(preset, find_light_source(production, spec, preset), seed, plate, origin)
