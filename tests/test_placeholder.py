"""The placeholder painter: plate, skeletons, slate, counters, handles; the error slate."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from render_engine.bible import load_production
from render_engine.errors import SoloreelError
from render_engine.placeholder import (
    HANDLE,
    _crop_box,
    plate_view,
    render_error_slate,
    render_placeholder_frames,
)
from render_engine.slate_text import printable
from render_engine.spec import ShotSpec
from tests.conftest import save_png, spec_dict

TWO_HANDER = {
    "characters": [{"name": "jane", "position": [0.8, 3.0], "facing": 250, "action": "talk"},
                   {"name": "john", "position": [-0.8, 3.5], "facing": 110, "action": "walk",
                    "path": [[-0.2, 3.2]]}],
    "dialog": [{"speaker": "jane", "text": "Pass the marshmallows.", "start": 0.0},
               {"speaker": "john", "text": "Last two. Make them count.", "start": 0.4}],
}


def _spec(**overrides: object) -> ShotSpec:
    return ShotSpec.model_validate(spec_dict("s-001", **{**TWO_HANDER, **overrides}))


def _render(production: Path, spec: ShotSpec, frames: int = 20, handles: tuple[int, int] = (3, 2),
            size: tuple[int, int] = (160, 90)) -> list[np.ndarray]:
    prod = load_production(production)
    return list(render_placeholder_frames(spec, prod, size[0], size[1], frames, 24, "s-001",
                                          handles=handles))


def _hazard_fraction(frame: np.ndarray) -> float:
    """How much of the frame's outer ring is handle yellow."""
    ring = np.concatenate([frame[0], frame[-1], frame[:, 0], frame[:, -1]])
    return float((np.abs(ring.astype(int) - HANDLE).max(axis=1) < 10).mean())


def test_frames_have_the_right_shape_and_count(tiny_production: Path) -> None:
    frames = _render(tiny_production, _spec())
    assert len(frames) == 20
    assert all(f.shape == (90, 160, 3) and f.dtype == np.uint8 for f in frames)


def test_a_walker_moves_from_frame_to_frame(tiny_production: Path) -> None:
    frames = _render(tiny_production, _spec())
    for a, b in itertools.pairwise(frames[3:18]):
        assert not np.array_equal(a, b)


def test_handle_frames_carry_the_band(tiny_production: Path) -> None:
    frames = _render(tiny_production, _spec(), frames=20, handles=(3, 2))
    for index, frame in enumerate(frames):
        inside = 3 <= index < 18
        assert (_hazard_fraction(frame) < 0.05) if inside else (_hazard_fraction(frame) > 0.3), (
            index)


def test_skeletons_are_drawn_where_the_characters_stand(tiny_production: Path) -> None:
    with_people = _render(tiny_production, _spec(), size=(640, 360), frames=3, handles=(0, 0))
    empty = _render(tiny_production, _spec(characters=[], dialog=[]), size=(640, 360), frames=3,
                    handles=(0, 0))
    diff = np.abs(with_people[1].astype(int) - empty[1].astype(int)).max(axis=2) > 40
    stage = diff[140:300]  # below the header, above the dialog panel
    columns = np.flatnonzero(stage.any(axis=0))
    assert columns.size
    assert columns.min() < 320 < columns.max()   # john left of centre, jane right of it
    frame = with_people[1]
    neck_red = np.all(frame == [255, 85, 0], axis=2) | np.all(frame == [255, 0, 0], axis=2)
    assert neck_red.any()                         # joints drawn in the reference colours


def test_no_handles_no_band_and_slate_text_present(tiny_production: Path) -> None:
    frames = _render(tiny_production, _spec(), frames=4, handles=(0, 0), size=(640, 360))
    assert all(_hazard_fraction(f) < 0.05 for f in frames)
    header = frames[0][20:60, 20:100]                # the shot label is bright text
    assert (header.min(axis=2) > 200).sum() > 50


def test_plate_override_and_missing_plate(tiny_production: Path) -> None:
    save_png(tiny_production / "plates" / "red.png", np.full((90, 160, 3), (200, 0, 0), np.uint8))
    prod = load_production(tiny_production)
    spec = _spec(plate="plates/red.png")
    view = plate_view(spec, prod, prod.set("yard"), 64, 36)
    assert view.image[18, 32].tolist() == [int(200 * 0.62), 0, 0]
    with pytest.raises(SoloreelError, match=r"plate plates/none\.png does not exist"):
        plate_view(_spec(plate="plates/none.png"), prod, prod.set("yard"), 64, 36)
    (tiny_production / "plates" / "junk.png").write_bytes(b"junk")
    with pytest.raises(SoloreelError, match="cannot be read as an image"):
        plate_view(_spec(plate="plates/junk.png"), prod, prod.set("yard"), 64, 36)


def test_unknown_set_raises(tiny_production: Path) -> None:
    with pytest.raises(SoloreelError, match="unknown set"):
        _render(tiny_production, _spec(set="moon"))


def test_wide_and_360_plates_show_a_centre_window() -> None:
    box, focal = _crop_box("360", 360.0, 3600, 1800, 640, 360, None)
    assert box[2] - box[0] == pytest.approx(700.0)            # a 70 degree window
    assert (box[0] + box[2]) / 2 == pytest.approx(1800.0)
    assert (box[1] + box[3]) / 2 == pytest.approx(900.0)
    assert focal == pytest.approx(3600 / (2 * np.pi))
    box, _ = _crop_box("wide", 180.0, 3000, 1000, 640, 360, None)
    assert box[3] - box[1] == pytest.approx(1000.0)
    assert (box[2] - box[0]) / (box[3] - box[1]) == pytest.approx(640 / 360)


def test_horizon_row_places_the_feet(tiny_production: Path) -> None:
    (tiny_production / "sets" / "yard.toml").write_text(tomli_w.dumps({
        "name": "yard", "plate": {"kind": "flat", "image": "yard/plate.png", "horizon_row": 30,
                                  "camera_height_m": 1.0}}))
    prod = load_production(tiny_production)
    view = plate_view(_spec(), prod, prod.set("yard"), 320, 180)
    assert view.horizon_y == pytest.approx(60.0)
    assert view.camera_height_m == 1.0


def test_placeholder_is_fast(tiny_production: Path) -> None:
    prod = load_production(tiny_production)
    spec = _spec()
    frames = render_placeholder_frames(spec, prod, 640, 360, 240, 24, "s-001", handles=(12, 12))
    start = time.perf_counter()
    count = sum(1 for _ in frames)
    rate = count / (time.perf_counter() - start)
    assert count == 240
    assert rate > 100  # ~500 frames/s on a laptop core; generous for busy CI machines


def test_error_slate() -> None:
    frames = list(render_error_slate(320, 180, 5, "cf-040", "CUDA out of memory " * 20))
    assert len(frames) == 5
    frame = frames[0]
    assert frame.shape == (180, 320, 3)
    red = (frame[..., 0] > 120) & (frame[..., 1] < 60) & (frame[..., 2] < 60)
    assert red.mean() > 0.5
    assert (frame.min(axis=2) > 230).sum() > 100   # white text
    frames[0][:] = 0
    assert frames[1].any()                          # frames are independent arrays


def test_printable_keeps_text_readable() -> None:
    assert printable("Café — “ok” naïve") == "Cafe - “ok” naive"
    assert printable("日本") == "??"
