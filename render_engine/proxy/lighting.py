"""The light on each character: key direction, colour and intensity, rim, fire flicker.

A set's lighting preset gives a key (azimuth: the heading towards the light; elevation; colour;
intensity), an ambient colour, an optional rim colour and a flicker amount. A preset that
flickers is a fire: its light is a point, found in the plate itself (the brightest spot along
the key's heading, at the depth the depth map gives there), so each character is lit from where
the fire really is; any other key is a directional light (the sun, the moon). Per character and
frame this gives a `SpriteLight` in camera coordinates, which `render_engine.proxy.shading`
applies to the sprite's pixels (with the ambient match to the plate).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

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
FIRE_HEIGHT_M = 0.5
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
    """Luminance of ambient + half the unflickered key: divides the gain to keep exposure."""
    rim: tuple[float, float, float]
    rim_strength: float
    match_l: float = MATCH_L
    match_ab: float = MATCH_AB


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


def flicker_noise(t: float, seed: int) -> float:
    """Deterministic fire-like noise in about -1..1 at time t: a few incommensurate sines
    whose frequencies (1.3-14 Hz) and phases come from the seed."""
    value = sum(w * math.sin(2 * math.pi * f * t + p) for f, p, w in _flicker_waves(seed))
    return value * 1.8


@dataclass(frozen=True)
class ShotLighting:
    """The lighting of one shot: its preset, the fire's position if it is one, the seed."""

    preset: LightingPreset
    source: tuple[float, float, float] | None
    seed: int

    def flicker(self, t: float) -> float:
        """Key multiplier at shot time t: 1 without flicker, varying around 1 for fire."""
        if self.preset.flicker <= 0:
            return 1.0
        amount = self.preset.flicker * FIRE_FLICKER_GAIN
        return max(0.2, 1.0 + amount * 0.5 * flicker_noise(t, self.seed))

    def for_character(self, camera: Camera, world: tuple[float, float, float],
                      t: float) -> SpriteLight:
        """The light on a character whose body centre is at `world`, seen from `camera`."""
        preset = self.preset
        if self.source is not None:
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
        norm = max(_luma(ambient + 0.5 * key), 0.05)
        rim_color = _rgb(preset.rim_color) if preset.rim_color else _rgb(preset.key_color)
        behind = max(0.0, float(direction[2]))  # the key is beyond the character
        rim_strength = min(1.0, 1.6 * behind) * min(1.0, preset.intensity * falloff + 0.3)
        if preset.rim_color:
            rim_strength = max(rim_strength, 0.25)  # a separate back light (the moon)
        flick = self.flicker(t)
        return SpriteLight(direction=tuple(float(v) for v in direction),
                           key=tuple(float(v) for v in key * flick),
                           ambient=tuple(float(v) for v in ambient), norm=norm,
                           rim=tuple(float(v) for v in rim_color),
                           rim_strength=float(rim_strength * (0.6 + 0.4 * flick)))


def shot_lighting(production: Production, spec: ShotSpec) -> ShotLighting:
    """The shot's lighting from its set's preset (the one asked for, else the set's default)."""
    set_spec = production.set(spec.set)
    name = set_spec.lighting_name(spec.lighting)
    preset = set_spec.lighting.get(name) if name else None
    preset = preset or NEUTRAL
    return ShotLighting(preset, find_light_source(production, spec, preset), spec.seed)
