"""The compositor's cheaper paths (B2) give the same pixels and numbers as the straightforward
code they replace: `light_patch` with its cached gradient geometry, `blend` with its pixel
scatter, `ShotLighting.for_character` with its flicker-free part cached, and the batched
`lens.project_many`. The references below are the previous implementations, kept verbatim."""

from __future__ import annotations

import dataclasses
import math
import types

import cv2
import numpy as np
import pytest

from render_engine.bible import LightingPreset
from render_engine.proxy import compositor, lens, lighting, shading
from render_engine.proxy.camera import Camera
from render_engine.proxy.compositor import blend
from render_engine.proxy.lighting import WRAP, SpriteLight
from render_engine.proxy.shading import (
    GAIN_ONE,
    GAIN_STEP,
    LIGHT_MIX,
    RIM_MAX_PX,
    RIM_WIDTH,
    light_patch,
    put_pixels,
)

# --------------------------------------------------------------------------- references


def _reference_light_patch(rgb, coverage, light, origin, feet, height_px, half_width_px,
                           match=None):
    """The light_patch before B2: every step computed per call on the whole patch."""
    h, w = rgb.shape[:2]
    if match is not None:
        rgb = cv2.cvtColor(cv2.LUT(cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab), match),
                           cv2.COLOR_Lab2RGB)
    lx, ly, lz = light.direction
    gw, gh = max(2, -(-w // GAIN_STEP) + 1), max(2, -(-h // GAIN_STEP) + 1)
    cols = np.linspace(0, w - 1, gw, dtype=np.float32) + np.float32(origin[0] - feet[0])
    nx = np.clip(cols / max(half_width_px, 1.0), -1.0, 1.0)
    nz = -np.sqrt(1.0 - nx * nx)
    rows = feet[1] - (np.linspace(0, h - 1, gh, dtype=np.float32) + origin[1])
    ny = 0.45 * (np.clip(rows / max(height_px, 1.0), 0.0, 1.0) - 0.45)
    across = (nx * lx + nz * lz + WRAP) / (1.0 + WRAP) + light.lit_offset
    shade = np.clip(across[None, :] + (ny * (ly / (1.0 + WRAP)))[:, None], 0.0, 1.0)
    if light.fill > 0:
        shade = light.fill + (1.0 - light.fill) * shade
    key = np.asarray(light.key, np.float32) * (LIGHT_MIX / light.norm)
    base = (1.0 - LIGHT_MIX) + np.asarray(light.ambient, np.float32) * (LIGHT_MIX / light.norm)
    coarse = (shade[..., None] * (key * np.float32(GAIN_ONE)).astype(np.float32)
              + (base * np.float32(GAIN_ONE)).astype(np.float32))
    gain = cv2.resize(cv2.convertScaleAbs(coarse), (w, h), interpolation=cv2.INTER_LINEAR)
    out = cv2.multiply(rgb, gain, scale=1.0 / GAIN_ONE)
    if light.rim_strength > 0.02 and height_px > 12:
        size = int(np.clip(RIM_WIDTH * height_px, 2, RIM_MAX_PX))
        edge = cv2.subtract(coverage, cv2.erode(coverage, np.ones((size, size), np.uint8)))
        if abs(lx) > 0.1:
            full_nx = np.clip((np.arange(w, dtype=np.float32) + (origin[0] - feet[0]))
                              / max(half_width_px, 1.0), -1.0, 1.0)
            side = np.clip(0.35 + math.copysign(0.65, lx) * full_nx, 0.0, 1.0) * 255.0
            edge = cv2.multiply(edge, cv2.repeat(side.astype(np.uint8)[None, :], h, 1),
                                scale=1.0 / 255.0)
        rim = np.asarray(light.rim, np.float32) * light.rim_strength
        rim_rgb = cv2.merge([cv2.convertScaleAbs(edge, alpha=float(c)) for c in rim])
        out = cv2.add(out, rim_rgb)
    return out


def _reference_blend(frame, x0, y0, colour, coverage):
    """Alpha blending of the whole box, pixel by pixel in float32 (as the fast path's edge)."""
    h, w = coverage.shape
    region = frame[y0:y0 + h, x0:x0 + w]
    a = coverage.astype(np.float32)[..., None] * np.float32(1.0 / 255.0)
    below = region.astype(np.float32)
    mixed = (below + (colour - below) * a + 0.5).astype(np.uint8)
    mixed = np.where(coverage[..., None] > 254, colour, mixed)
    region[...] = np.where(coverage[..., None] == 0, region, mixed)


# --------------------------------------------------------------------------- fixtures


def _sprite_patch(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """A painted patch and a soft-edged body-like coverage (an ellipse, blurred)."""
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    coverage = np.zeros((h, w), np.uint8)
    cv2.ellipse(coverage, (w // 2, h // 2), (max(2, w // 3), max(2, h // 2 - 2)), 0, 0, 360,
                255, -1)
    coverage = cv2.GaussianBlur(coverage, (5, 5), 1.5)
    return rgb, coverage


def _light(rng: np.random.Generator, **changes: object) -> SpriteLight:
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    fields = dict(direction=tuple(float(v) for v in direction),
                  key=tuple(float(v) for v in rng.uniform(0.2, 1.4, 3)),
                  ambient=tuple(float(v) for v in rng.uniform(0.05, 0.8, 3)),
                  norm=float(rng.uniform(0.2, 0.9)), rim=(0.8, 0.85, 1.0),
                  rim_strength=float(rng.uniform(0.0, 1.0)),
                  fill=float(rng.choice([0.0, 0.3, 0.7])),
                  lit_offset=float(rng.uniform(-0.3, 0.3)))
    fields.update(changes)
    return SpriteLight(**fields)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- light_patch


@pytest.mark.parametrize("seed", range(6))
def test_light_patch_matches_the_per_call_reference_byte_for_byte(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shading._shading_grid.cache_clear()
    shading._gain.cache_clear()
    h, w = int(rng.integers(20, 260)), int(rng.integers(8, 140))
    rgb, coverage = _sprite_patch(rng, h, w)
    origin = (int(rng.integers(-50, 600)), int(rng.integers(-20, 300)))
    feet = (origin[0] + w * float(rng.uniform(0.3, 0.7)),
            origin[1] + h * float(rng.uniform(0.8, 1.1)))
    height, half = float(h * rng.uniform(0.6, 1.0)), float(w * rng.uniform(0.2, 0.5))
    base = _light(rng)
    # a fire: the same geometry every frame, the key's colour and rim strength flickering
    for frame in range(4):
        flick = 1.0 + 0.3 * math.sin(frame * 1.7 + seed)
        light = dataclasses.replace(base, key=tuple(k * flick for k in base.key),
                                    rim_strength=base.rim_strength * (0.6 + 0.4 * flick))
        got = light_patch(rgb, coverage, light, origin, feet, height, half)
        want = _reference_light_patch(rgb, coverage, light, origin, feet, height, half)
        assert got.dtype == np.uint8 and got.shape == (h, w, 3)
        assert np.array_equal(got, want), f"frame {frame}"
    assert shading._shading_grid.cache_info().misses == 1   # the geometry was computed once
    assert shading._gain.cache_info().misses == 4           # the flickering key every frame
    # a steady light (no flicker) under a still camera: the gain itself is reused
    again = light_patch(rgb, coverage, light, origin, feet, height, half)
    assert shading._gain.cache_info().hits == 1
    assert np.array_equal(again, _reference_light_patch(rgb, coverage, light, origin, feet,
                                                        height, half))


def test_light_patch_rim_sides_and_the_lab_match_match_the_reference() -> None:
    rng = np.random.default_rng(7)
    rgb, coverage = _sprite_patch(rng, 180, 90)
    table = shading.match_tables(np.array([60.0, 130, 135], np.float32),
                                 np.array([20.0, 5, 5], np.float32),
                                 np.array([40.0, 128, 140], np.float32),
                                 np.array([15.0, 4, 6], np.float32), 0.65, 0.35)
    cases = [dict(direction=(0.9, 0.2, 0.38), rim_strength=0.8),    # rim weighted to the right
             dict(direction=(-0.9, 0.2, 0.38), rim_strength=0.8),   # ... to the left
             dict(direction=(0.05, 0.3, 0.95), rim_strength=0.8),   # behind: rim all round
             dict(direction=(0.6, 0.3, -0.74), rim_strength=0.0)]   # no rim
    for case in cases:
        light = _light(rng, **case)
        for match in (None, table):
            got = light_patch(rgb, coverage, light, (100, 40), (145.0, 215.0), 170.0, 30.0,
                              match)
            want = _reference_light_patch(rgb, coverage, light, (100, 40), (145.0, 215.0),
                                          170.0, 30.0, match)
            assert np.array_equal(got, want), case
    # the rim really is there: the right-keyed rim brightens the right edge only
    lit = light_patch(rgb, coverage, _light(rng, **cases[0]), (100, 40), (145.0, 215.0),
                      170.0, 30.0)
    dark = light_patch(rgb, coverage, _light(rng, **cases[3]), (100, 40), (145.0, 215.0),
                       170.0, 30.0)
    assert lit.shape == dark.shape == (180, 90, 3)


# --------------------------------------------------------------------------- blend


@pytest.mark.parametrize("contiguous", [True, False])
def test_blend_matches_a_whole_box_float_blend(contiguous: bool) -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        base = rng.integers(0, 256, (120, 200, 3), dtype=np.uint8)
        h, w = int(rng.integers(5, 100)), int(rng.integers(5, 150))
        x0, y0 = int(rng.integers(0, 200 - w)), int(rng.integers(0, 120 - h))
        colour, coverage = _sprite_patch(rng, h, w)
        coverage[: h // 3, : w // 3] = rng.integers(0, 256, (h // 3, w // 3), dtype=np.uint8)
        got = base.copy()
        want = base.copy()
        if not contiguous:  # a view into a wider buffer: the fancy-index fallback
            wide = np.zeros((120, 230, 3), np.uint8)
            wide[:, :200] = base
            got = wide[:, :200]
        blend(got, x0, y0, colour, coverage)
        _reference_blend(want, x0, y0, colour, coverage)
        assert np.array_equal(got, want)
        assert not np.array_equal(got, base) or not coverage.any()


def test_put_pixels_writes_what_fancy_assignment_writes() -> None:
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    index = rng.choice(40 * 30, 300, replace=False)
    values = rng.integers(0, 256, (300, 3), dtype=np.uint8)
    want = image.copy()
    want.reshape(-1, 3)[index] = values
    got = image.copy()
    put_pixels(got.reshape(-1, 3), index, values.reshape(-1, 1, 3))
    assert np.array_equal(got, want)


# --------------------------------------------------------------------------- for_character


def _camera(yaw: float = 0.0) -> Camera:
    return Camera(position=(0.3, 1.5, -0.5), yaw_deg=yaw, pitch_deg=-4.0, hfov_deg=45.0,
                  width=640, height=360)


def _fields(light: SpriteLight) -> dict:
    out = dataclasses.asdict(light)
    scene = out.pop("scene")
    out["scene"] = None if scene is None else [np.asarray(v).tolist() for v in scene]
    return out


@pytest.mark.parametrize("preset", [
    LightingPreset(key_azimuth_deg=60.0, flicker=0.5, key_color=(255, 146, 64),
                   ambient_color=(30, 25, 40)),                          # a fire (point key)
    LightingPreset(key_azimuth_deg=-40.0, key_elevation_deg=30.0,
                   ambient_color=(150, 170, 200)),                        # daylight, sun
    LightingPreset(ambient_color=(160, 170, 190)),                        # soft day fill
    LightingPreset(key_azimuth_deg=170.0, rim_color=(120, 150, 220),
                   ambient_color=(20, 30, 60), intensity=0.6),            # moonlit, rim
])
def test_for_character_cached_equals_computed_afresh(preset: LightingPreset) -> None:
    source = (0.5, 0.5, 4.0) if preset.flicker > 0 else None
    rig = lighting.ShotLighting(preset, source, 11, None, 3.0)
    places = [((0.0, 0.9, 3.0), 180.0), ((1.2, 0.6, 5.0), 90.0), ((0.0, 0.9, 3.0), None)]
    for frame in range(6):
        for camera in (_camera(), _camera(12.0)):
            for world, facing in places:
                t = frame / 24
                got = rig.for_character(camera, world, t, facing)
                fresh = lighting.ShotLighting(preset, source, 11, None, 3.0)
                want = fresh.for_character(camera, world, t, facing)
                assert _fields(got) == _fields(want)
    assert len(rig._steady) == 2 * len(places)  # computed once per camera and place
    if preset.flicker > 0:  # the flicker still changes the light frame to frame
        keys = {rig.for_character(_camera(), (0.0, 0.9, 3.0), i / 24).key for i in range(5)}
        assert len(keys) == 5


def test_for_character_cache_is_bounded() -> None:
    rig = lighting.ShotLighting(LightingPreset(key_azimuth_deg=30.0), None, 1)
    for i in range(lighting.STEADY_CACHE + 20):
        rig.for_character(_camera(), (0.01 * i, 0.9, 3.0), 0.0)
        assert 1 <= len(rig._steady) <= lighting.STEADY_CACHE
    assert len(rig._steady) == 20


# --------------------------------------------------------------------------- lens


def test_project_many_equals_projecting_each_set() -> None:
    rng = np.random.default_rng(2)
    camera = _camera(7.0)
    centre = np.array([0.0, 1.0, 5.0])
    sets = [np.array([0.3, 1.0, 4.0]), rng.normal(size=(2, 3)) + centre,
            rng.normal(size=(18, 3)) + centre, rng.normal(size=(2, 4, 3)) + centre]
    got = lens.project_many(camera, *sets)
    assert [g.shape for g in got] == [s.shape for s in sets]
    for g, s in zip(got, sets, strict=True):
        np.testing.assert_allclose(g, lens.project(camera, s), rtol=0, atol=1e-9)
        np.testing.assert_allclose(g, camera.project(s), rtol=0, atol=1e-9)


# --------------------------------------------------------------------------- contact shadow


def _reference_shadow(frame, sprite, foregrounds):
    """The contact shadow before B2 (allocating each step)."""
    cx, cy, rx, ry = sprite.shadow
    height, width = frame.shape[:2]
    x0, x1 = max(0, math.floor(cx - 1.6 * rx)), min(width, math.ceil(cx + 1.6 * rx) + 1)
    y0, y1 = max(0, math.floor(cy - 1.6 * ry)), min(height, math.ceil(cy + 1.6 * ry) + 1)
    dx = ((np.arange(x0, x1, dtype=np.float32) - cx) / rx)[None, :]
    dy = ((np.arange(y0, y1, dtype=np.float32) - cy) / ry)[:, None]
    dark = compositor.SHADOW_STRENGTH * np.exp(-2.2 * (dx * dx + dy * dy))
    for alpha, depth in foregrounds:
        if depth < sprite.depth:
            dark = dark * (1.0 - alpha[y0:y1, x0:x1])
    region = frame[y0:y1, x0:x1]
    region[...] = (region * (1.0 - dark)[..., None] + 0.5).astype(np.uint8)


@pytest.mark.parametrize("centre", [(80.0, 100.0), (3.5, 118.2), (150.25, 60.7)])
def test_contact_shadow_matches_the_reference(centre: tuple[float, float]) -> None:
    rng = np.random.default_rng(9)
    frame = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    mask = np.zeros((120, 160), np.float32)
    mask[90:, 70:90] = 0.7
    for cx, cy in (centre, (np.float64(centre[0]), np.float64(centre[1]))):
        sprite = types.SimpleNamespace(shadow=(cx, cy, 23.3, 6.1), depth=4.0)
        got, want = frame.copy(), frame.copy()
        compositor._contact_shadow(got, sprite, [(mask, 2.0), (mask, 9.0)])
        _reference_shadow(want, sprite, [(mask, 2.0), (mask, 9.0)])
        assert np.array_equal(got, want)
        assert (got.astype(int) <= frame).all() and not np.array_equal(got, frame)
