"""The proxy's cheaper paths give the same pixels, numbers and files as the straightforward
code they replace: the splat's footprints enumerated at once, the contact shadow and the
shading gain without a broadcast over a 3-long axis, the ambient match and the scene's plate
statistics found again by place, and the movies converted to YUV only where a frame changed.
The references below are the previous implementations, kept verbatim."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from render_engine.media.encode import VideoWriter, changed_regions
from render_engine.proxy import compositor, lighting, shading, warp
from render_engine.proxy.cutouts import Sprite
from render_engine.render import renderer_for
from tests.test_proxy_tier import _job, _spec

# --------------------------------------------------------------------------- references


def _reference_splat_cells(nodes: np.ndarray, x_lo: np.ndarray, y_lo: np.ndarray,
                           nx: np.ndarray, ny: np.ndarray, z: np.ndarray) -> None:
    """`warp._splat`'s z-buffering before the fast paths: a loop over footprint cells."""
    height, width = nodes.shape
    flat = nodes.ravel()
    big = (nx > 2) | (ny > 2)
    for subset in (~big, big):
        xs, ys, cx, cy, zs = x_lo[subset], y_lo[subset], nx[subset], ny[subset], z[subset]
        if not len(zs):
            continue
        index_parts, z_parts = [], []
        for ky in range(int(cy.max())):
            if ky:
                keep = cy > ky
                xs, ys, cx, cy, zs = xs[keep], ys[keep], cx[keep], cy[keep], zs[keep]
            yy = ys + ky
            inside = (yy >= 0) & (yy < height)
            base = yy * width + xs
            for kx in range(int(cx.max())):
                xx = xs + kx
                ok = (kx < cx) & inside & (xx >= 0) & (xx < width)
                index_parts.append(base[ok] + kx)
                z_parts.append(zs[ok])
        np.minimum.at(flat, np.concatenate(index_parts), np.concatenate(z_parts))


def _reference_splat(nodes: np.ndarray, gx: np.ndarray, gy: np.ndarray, z: np.ndarray,
                     jump: float, surface: np.ndarray | None = None) -> None:
    """`warp._splat` before the fast paths (footprints as `_reference_splat_cells`)."""
    height, width = nodes.shape
    same = z if surface is None else surface
    sx = warp._spacing(gx, same, jump) * 0.5
    sy = warp._spacing(gy, same, jump) * 0.5
    x_lo = np.floor(np.clip(gx - sx, -8, width + 8)).astype(np.int32)
    y_lo = np.floor(np.clip(gy - sy, -8, height + 8)).astype(np.int32)
    nx = np.floor(np.clip(gx + sx, -8, width + 8)).astype(np.int32) - x_lo + 2
    ny = np.floor(np.clip(gy + sy, -8, height + 8)).astype(np.int32) - y_lo + 2
    seen = (x_lo + nx > 0) & (x_lo < width) & (y_lo + ny > 0) & (y_lo < height)
    _reference_splat_cells(nodes, x_lo[seen], y_lo[seen], nx[seen], ny[seen], z[seen])


def _reference_contact_shadow(frame: np.ndarray, sprite: Sprite, foregrounds: list) -> None:
    """`compositor._contact_shadow` before the fast paths: darkening broadcast per channel."""
    cx, cy, rx, ry = sprite.shadow  # type: ignore[misc]
    height, width = frame.shape[:2]
    x0, x1 = max(0, math.floor(cx - 1.6 * rx)), min(width, math.ceil(cx + 1.6 * rx) + 1)
    y0, y1 = max(0, math.floor(cy - 1.6 * ry)), min(height, math.ceil(cy + 1.6 * ry) + 1)
    dx = ((np.arange(x0, x1, dtype=np.float32) - cx) / rx)[None, :]
    dy = ((np.arange(y0, y1, dtype=np.float32) - cy) / ry)[:, None]
    dark = dx * dx + dy * dy
    np.multiply(dark, -2.2, out=dark)
    np.exp(dark, out=dark)
    np.multiply(dark, compositor.SHADOW_STRENGTH, out=dark)
    for alpha, depth in foregrounds:
        if depth < sprite.depth:
            dark = dark * (1.0 - alpha[y0:y1, x0:x1])
    region = frame[y0:y1, x0:x1]
    shaded = region * (1.0 - dark)[..., None]
    shaded += 0.5
    np.copyto(region, shaded, casting="unsafe")


# --------------------------------------------------------------------------- the splat


def _scene_points(rng: np.random.Generator, rows: int, cols: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Node coordinates and depths of a stepped surface: a magnified floor (footprints of
    several nodes), a near box over it and points beyond every border of the grid."""
    v, u = np.mgrid[0:rows, 0:cols].astype(np.float32)
    z = (2.0 + 0.05 * v + rng.uniform(0.0, 0.01, v.shape)).astype(np.float32)
    z[rows // 3:rows // 2, cols // 4:cols // 2] *= np.float32(0.4)  # a depth edge
    zoom = np.float32(rng.uniform(1.5, 4.5))
    gx = (u - cols / 2) * zoom + np.float32(20.0) + rng.normal(0, 0.3, u.shape).astype(np.float32)
    gy = (v - rows / 2) * zoom + np.float32(15.0) + rng.normal(0, 0.3, v.shape).astype(np.float32)
    return gx.astype(np.float32), gy.astype(np.float32), z


@pytest.mark.parametrize("seed", range(5))
def test_the_splat_covers_the_nodes_the_footprint_loop_did(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gx, gy, z = _scene_points(rng, int(rng.integers(12, 40)), int(rng.integers(12, 40)))
    shape = (int(rng.integers(20, 45)), int(rng.integers(30, 60)))
    surface = None if seed % 2 else np.sqrt(z * z + 0.3).astype(np.float32)
    fast, slow = np.full(shape, np.inf, np.float32), np.full(shape, np.inf, np.float32)
    warp._splat(fast, gx, gy, z, 0.05, surface)
    _reference_splat(slow, gx, gy, z, 0.05, surface)
    assert fast.tobytes() == slow.tobytes()
    assert np.isfinite(fast).mean() > 0.3  # the points did land on the grid


def test_footprint_cells_are_each_cell_once_clipped_to_the_grid() -> None:
    xs, ys = np.array([-2, 5, 8], np.int32), np.array([0, -1, 3], np.int32)
    cx, cy = np.array([4, 3, 2], np.int32), np.array([2, 3, 5], np.int32)
    zs = np.array([1.0, 2.0, 3.0], np.float32)
    index, depth = warp._footprint_cells(xs, ys, cx, cy, zs, 9, 5)
    cells = sorted(zip((index // 9).tolist(), (index % 9).tolist(), depth.tolist(),
                       strict=True))
    expected = sorted((y, x, float(d)) for x0, y0, w, h, d in zip(xs, ys, cx, cy, zs, strict=True)
                      for y in range(y0, y0 + h) for x in range(x0, x0 + w)
                      if 0 <= x < 9 and 0 <= y < 5)
    assert cells == expected


# --------------------------------------------------------------------------- the compositor


@pytest.mark.parametrize("seed", range(4))
def test_the_contact_shadow_darkens_as_the_broadcast_did(seed: int) -> None:
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    mask = np.zeros((90, 160), np.float32)
    cv2.circle(mask, (80, 70), 15, 1.0, -1)
    sprite = Sprite(name="jane", view="front", mirrored=False,
                    rgb=np.zeros((4, 4, 3), np.uint8), coverage=np.zeros((4, 4), np.uint8),
                    x0=0, y0=0, depth=4.0, feet=(0.0, 0.0), height_px=40.0, up=(0.0, -1.0),
                    world=(0.0, 0.9, 4.0),
                    shadow=(float(rng.uniform(-10, 170)), float(rng.uniform(40, 100)),
                            float(rng.uniform(3, 40)), float(rng.uniform(1, 12))))
    foregrounds = [(mask, 3.0), (mask[::-1].copy(), 6.0)]
    fast, slow = frame.copy(), frame.copy()
    compositor._contact_shadow(fast, sprite, foregrounds)
    _reference_contact_shadow(slow, sprite, foregrounds)
    assert fast.tobytes() == slow.tobytes()
    assert not np.array_equal(fast, frame)  # the shadow did darken the floor


# --------------------------------------------------------------------------- light and match


def _view(rng: np.random.Generator) -> object:
    """A cut-out view stand-in: two pyramid levels and their Lab statistics."""
    levels = [rng.integers(0, 256, (40, 24, 4), dtype=np.uint8) for _ in range(2)]
    return type("View", (), {"levels": levels,
                             "lab_mean": np.array([120.0, 130.0, 125.0], np.float32),
                             "lab_std": np.array([30.0, 8.0, 9.0], np.float32)})()


def test_the_ambient_match_found_again_by_place_is_the_match_made_afresh() -> None:
    rng = np.random.default_rng(3)
    view = _view(rng)
    places = [(rng.uniform(60, 180, 3).astype(np.float32),
               rng.uniform(5, 40, 3).astype(np.float32)) for _ in range(4)]
    match = shading.AmbientMatch()
    for step in range(24):  # characters alternate, places repeat, strengths change
        mean, std = places[step % len(places)]
        match.strength_l, match.strength_ab = (0.5, 0.4) if step % 3 else (0.7, 0.2)
        match.target = (mean, std)
        fresh = shading.AmbientMatch(match.strength_l, match.strength_ab)
        fresh.target = (mean.copy(), std.copy())
        level = step % 2
        assert match(view, level, (0, 0, 24, 40)).tobytes() == \
            fresh(view, level, (0, 0, 24, 40)).tobytes()


def test_a_shots_scene_statistics_are_the_plates_per_place(tmp_path: Path) -> None:
    from render_engine.bible import LightingPreset
    from render_engine.proxy.projection import PlateModel

    image = tmp_path / "plate.png"
    rng = np.random.default_rng(1)
    cv2.imwrite(str(image), rng.integers(0, 256, (180, 360, 3), dtype=np.uint8))
    model = PlateModel("flat", 360, 180, 70.0, 0.5, 1.6)
    source = type("Source", (), {"image": image, "model": model})()
    shot = lighting.ShotLighting(LightingPreset(), None, 0, source)  # type: ignore[arg-type]
    calls = []
    real = lighting.scene_stats

    def counted(*args: object) -> object:
        calls.append(args)
        return real(*args)  # type: ignore[arg-type]

    places = [(0.4, 0.8, 3.0), (0.41, 0.8, 3.02), (-1.2, 0.85, 5.0), (0.4, 0.8, 3.0)]
    lighting.scene_stats = counted  # type: ignore[assignment]
    try:
        found = [shot.scene_stats(p) for p in places]
    finally:
        lighting.scene_stats = real  # type: ignore[assignment]
    for place, stats in zip(places, found, strict=True):
        mean, std = real(source, place[0], place[2], 2.0 * place[1])  # type: ignore[arg-type]
        assert stats is not None
        assert stats[0].tobytes() == mean.tobytes() and stats[1].tobytes() == std.tobytes()
    assert len(calls) == 2  # the second and last places round to the first one's


def test_light_patch_gain_is_the_per_channel_expression() -> None:
    shading._gain.cache_clear()
    shading._shading_grid.cache_clear()
    geometry = (57, 121, -20.0, 33, 150.0, 20.0, 110.0, (0.3, -0.2, 0.93), 0.1, 0.0)
    key, ambient, norm = (0.9, 0.6, 0.3), (0.1, 0.12, 0.2), 0.41
    gain = shading._gain(geometry, key, ambient, norm)
    shade = shading._shading_grid(*geometry)[0]
    scale = np.float32(shading.LIGHT_MIX / norm)
    key_gain = np.asarray(key, np.float32) * scale
    base = (1.0 - shading.LIGHT_MIX) + np.asarray(ambient, np.float32) * scale
    coarse = (shade[..., None] * (key_gain * np.float32(shading.GAIN_ONE)).astype(np.float32)
              + (base * np.float32(shading.GAIN_ONE)).astype(np.float32))
    expected = cv2.resize(cv2.convertScaleAbs(coarse), (57, 121),
                          interpolation=cv2.INTER_LINEAR)
    assert gain.tobytes() == expected.tobytes()
    assert gain.std() > 0  # a gradient, not a flat gain


# --------------------------------------------------------------------------- the encoders


def test_changed_regions_hold_every_changed_pixel() -> None:
    rng = np.random.default_rng(5)
    before = rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    assert changed_regions(before, None) is None
    assert changed_regions(before, before.copy()) == []
    assert changed_regions(before, before[:, :80].copy()) is None  # another size
    for _ in range(20):
        after = before.copy()
        for _spot in range(int(rng.integers(1, 4))):
            x, y = int(rng.integers(0, 158)), int(rng.integers(0, 88))
            after[y, x, int(rng.integers(0, 3))] ^= 1  # one channel of one pixel, by one
            after[y + 1:y + 3, x:x + 2] = rng.integers(0, 256, (2, 2, 3)).astype(np.uint8)[
                :after[y + 1:y + 3, x:x + 2].shape[0], :after[y + 1:y + 3, x:x + 2].shape[1]]
        boxes = changed_regions(after, before)
        assert boxes is not None
        covered = np.zeros((90, 160), bool)
        for x0, y0, x1, y1 in boxes:
            covered[y0:y1, x0:x1] = True
        assert not ((after != before).any(axis=2) & ~covered).any()
        assert covered.mean() < 0.2
    noise = rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    assert changed_regions(noise, before) is None  # nearly everything changed


def _skeleton_frames(count: int) -> list[np.ndarray]:
    """Pose-video-like pictures: lines on black moving a little every frame, held twice."""
    frames = []
    for index in range(count):
        frame = np.zeros((90, 160, 3), np.uint8)
        x = 40 + (index // 2) * 3
        cv2.line(frame, (x, 20), (x + 10, 70), (255, 85, 0), 3)
        cv2.circle(frame, (120 - index, 30), 4, (0, 255, 170), -1)
        frames.append(frame)
    return frames


@pytest.mark.parametrize("profile", ["web", "control"])
def test_a_movie_converted_where_it_changed_is_the_whole_conversions(tmp_path: Path,
                                                                      profile: str) -> None:
    frames = _skeleton_frames(14)
    for mode in ("whole", "changed"):
        with VideoWriter(tmp_path / f"{mode}.mp4", 160, 90, 24, profile=profile) as writer:
            previous = None
            for frame in frames:
                writer.write(frame, changed=None if mode == "whole"
                             else changed_regions(frame, previous))
                previous = frame
            if mode == "changed":
                assert writer.regions_converted + writer.frames_repeated >= 10
    assert (tmp_path / "whole.mp4").read_bytes() == (tmp_path / "changed.mp4").read_bytes()


@pytest.fixture(scope="module")
def production_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.proxy_fixtures import make_cutout_production
    return make_cutout_production(tmp_path_factory.mktemp("h5") / "prod", 160, 90)


def test_the_tiers_movies_are_the_ones_whole_conversion_writes(
        production_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from render_engine.tiers import proxy as tier

    spec = _spec()
    outputs = {}
    regional = []

    def spied(frame: np.ndarray, previous: np.ndarray | None) -> object:
        boxes = changed_regions(frame, previous)
        regional.append(boxes is not None)
        return boxes

    for mode in ("changed", "whole"):
        monkeypatch.setattr(tier, "changed_regions", spied if mode == "changed"
                            else lambda frame, previous: None)
        job = _job(production_dir, spec, 20, tmp_path / mode / "p-001.mp4")
        result = renderer_for("proxy")(job)
        outputs[mode] = [job.out_path.read_bytes(),
                         (job.out_path.parent / result["pose_video"]).read_bytes(),
                         (job.out_path.parent / result["pose_json"]).read_bytes()]
    assert sum(regional) >= 8  # the pose video's frames went through the regions
    assert outputs["changed"] == outputs["whole"]
