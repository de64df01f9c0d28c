"""The proxy grid (issue 17, "Done when"): both demo sets x shot sizes x camera moves, plus the
patio plate without depth and with noisy depth, measured through the compositor's own record
of each frame (`compositor.last_report`, see `tests/proxy_grid.py`).

Per frame: the plate pixels filled by stretching with no fill behind them stay under
STRETCH_MAX of the frame, and no subject's face is covered by the set (a foreground prop steps
behind the face). A contact sheet of every cell is written (SOLOREEL_GRID_SHEET names where;
`python -m tests.proxy_grid` writes one per set for looking at)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from render_engine.bible import load_production
from render_engine.proxy import compositor
from render_engine.proxy.shot import ShotFrames
from render_engine.spec import ShotSpec
from tests import proxy_grid

STRETCH_MAX = 0.01
"""Share of a frame's pixels that may be filled by stretching (node-grid slivers at edges)."""
FACE_MAX = 0.02
"""Share of a subject's face the set may cover (soft mask edges)."""


@pytest.fixture(scope="module")
def grid_production(demo_production: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("grid") / "campfire"
    shutil.copytree(demo_production, dest)
    proxy_grid.variant_sets(dest)
    return dest


@pytest.fixture(scope="module")
def cells(grid_production: Path) -> list[proxy_grid.Cell]:
    return proxy_grid.run_grid(grid_production)


def test_every_cell_renders_clean(cells: list[proxy_grid.Cell], tmp_path: Path) -> None:
    assert len(cells) == len(proxy_grid.SETS) * len(proxy_grid.SIZES) * len(proxy_grid.MOVES)
    worst = max(cells, key=lambda c: max(c.unsupported))
    assert max(worst.unsupported) <= STRETCH_MAX, (worst.set_name, worst.size, worst.move,
                                                   worst.unsupported)
    covered = max(cells, key=lambda c: max(c.face_cover))
    assert max(covered.face_cover) <= FACE_MAX, (covered.set_name, covered.size,
                                                 covered.move, covered.face_cover)
    # faces were measured: every close shot of a subject facing the camera has a face box
    close = [c for c in cells if c.size in ("MS", "MCU", "CU") and c.move == "static"]
    assert all(c.faces[0] for c in close)
    # a plate without depth has nothing to uncover
    assert all(max(c.unsupported) == 0.0 for c in cells if c.set_name == "patio_flat")
    sheet = Path(os.environ.get("SOLOREEL_GRID_SHEET", tmp_path / "grid_contact.png"))
    proxy_grid.contact_sheet(cells, sheet)
    with Image.open(sheet) as image:
        assert image.size[1] == len(cells) * (proxy_grid.H + 4)


def test_moving_cameras_show_parallax_on_the_depth_sets(cells: list[proxy_grid.Cell]) -> None:
    """Graceful is not frozen: a truck still moves the plate differently from a 2D slide
    (near and far parts of the frame shift by different amounts)."""
    for name in ("campfire", "patio"):
        truck = next(c for c in cells if c.set_name == name and c.size == "FS"
                     and c.move == "truck")
        first, last = (f.astype(np.float32) for f in (truck.frames[0], truck.frames[-1]))
        assert np.abs(first - last).mean() > 3.0


@pytest.mark.parametrize("size", ["MS", "MCU", "CU", "ECU"])
def test_the_vase_never_covers_janes_face(grid_production: Path, size: str) -> None:
    """Jane seated right behind the table's vase of sunflowers: the prop's mask covers her
    face in every size unless the framing, the prop's layer shift or the compositor keeps it
    off. Where the layer moves (a whole-pixel shift planned once per shot), no mask is left
    over her face and the prop is still in the frame; where no shift fits (a CU or ECU whose
    prop would leave the frame), the compositor shows her face over it."""
    production = load_production(grid_production)
    spec = ShotSpec.model_validate({
        "shot": {"id": f"vase-{size}", "size": size, "subjects": ["jane"]}, "set": "patio",
        "lighting": "morning", "characters": [
            {"name": "jane", "position": [0.25, 4.0], "facing": 180, "action": "sit"},
            {"name": "john", "position": [-0.8, 4.1], "facing": 150, "action": "sit"}]})
    shot = ShotFrames(spec, production, proxy_grid.W, proxy_grid.H, proxy_grid.FPS, 0,
                      (0, 12))
    frame = shot.frame(0)
    [face] = [f for f in compositor.last_report.faces if f.name == "jane"]
    original = np.asarray(shot.plates.foreground(frame.camera)[0][0])
    shifts = shot.prop_shifter.shifts
    if shifts:                                   # the vase's layer moved out of her way
        [shift] = shifts
        assert face.props == 0.0 and face.covered == 0.0
        moved = np.zeros_like(original)
        h, w = original.shape
        dx, dy = shift.dx, shift.dy
        moved[max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)] = original[
            max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
        assert (moved > 0.5).sum() > 0.25 * (original > 0.5).sum()  # still in the frame
        later = shot.frame(11)                   # the same shift on every frame
        assert shot.prop_shifter.shifts == shifts and later.rgb.shape == frame.rgb.shape
        return
    assert size in ("CU", "ECU")                  # only the tightest sizes may not shift it
    assert face.props > 0.2                      # the prop is there, in front of her
    assert face.covered <= FACE_MAX              # and her face shows over it
    x0, y0, x1, y1 = face.box
    plate = shot.plates.background(frame.camera)[0]
    shown = np.abs(frame.rgb[y0:y1, x0:x1].astype(int) - plate[y0:y1, x0:x1]).max(axis=-1)
    assert (shown > 12).mean() > 0.5              # her face, not the sunflowers, is there
