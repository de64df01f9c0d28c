"""Rigged cut-outs on the demo's own sheets and sets (issue 20, items 1 and 4): the ranger's
legs swing along his walk, and a character leaning on the patio table has its forearms drawn
over the table's mask while its legs stay behind it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from render_engine.bible import Production, load_production
from render_engine.proxy import shot as shot_module
from render_engine.proxy.shot import ShotFrames
from render_engine.spec import ShotSpec

W, H = 640, 360


@pytest.fixture(scope="module")
def production(demo_production: Path) -> Production:
    return load_production(demo_production)


def _frames(spec: ShotSpec, production: Production, rigged: bool) -> ShotFrames:
    frames = ShotFrames(spec, production, W, H, 24, 86400, (86400, 86448))
    frames.rigged = rigged
    return frames


def _angle(matrix: np.ndarray) -> float:
    return math.degrees(math.atan2(matrix[1, 0], matrix[0, 0]))


def test_the_rangers_legs_swing_along_his_walk(production: Production) -> None:
    spec = ShotSpec.model_validate({"shot": {"id": "walk", "size": "WS"}, "set": "campfire",
                                    "characters": [{"name": "ranger", "position": [4.2, 5.5],
                                                    "action": "walk",
                                                    "path": [[4.2, 5.5], [1.0, 4.6]]}]})
    rigged, rigid = _frames(spec, production, True), _frames(spec, production, False)
    assert shot_module.RIGGED  # rigged by default
    swings = []
    for index in range(0, 24, 3):
        frame = rigged.frame(index)
        sprite = frame.sprites[0]
        posed = sprite.extra.get("posed")
        assert posed is not None, index
        swings.append(_angle(posed.transforms["r_upper_leg"])
                      - _angle(posed.transforms["l_upper_leg"]))
        plain = rigid.frame(index).sprites[0]
        assert "posed" not in plain.extra
    assert max(swings) - min(swings) > 20.0  # the legs scissor through the cycle
    # below the knees the picture differs from the rigid cut-out's
    frame = rigged.frame(9)
    plain = rigid.frame(9)
    sprite = plain.sprites[0]
    x0, _y0, x1, y1 = sprite.bbox
    knees = int(sprite.feet[1] - 0.3 * sprite.height_px)
    legs = np.abs(frame.rgb[knees:y1, x0:x1].astype(int) - plain.rgb[knees:y1, x0:x1]).sum()
    assert legs > 40 * 255


def test_forearms_on_the_patio_table_over_its_mask_legs_under_it(production: Production
                                                                   ) -> None:
    spec = ShotSpec.model_validate({"shot": {"id": "lean", "size": "MS"}, "set": "patio",
                                    "characters": [
                                        {"name": "john", "position": [-0.4, 3.95],
                                         "facing": 180, "action": "sit", "seat": "bench",
                                         "lean": "table"}], "seed": 3})
    frames = _frames(spec, production, True)
    frame = frames.frame(10)
    body = [s for s in frame.sprites if "layer_of" not in s.extra]
    layers = [s for s in frame.sprites if "layer_of" in s.extra]
    assert len(body) == 1 and len(layers) == 1
    table = frames.plates.foreground(frame.camera)[0]  # the patio's one mask: the table
    alpha, depth = table
    alpha = np.asarray(alpha.made() if hasattr(alpha, "made") else alpha)
    assert layers[0].depth < depth < body[0].depth
    x0, y0, x1, y1 = layers[0].bbox
    over = (layers[0].coverage > 200) & (alpha[y0:y1, x0:x1] > 0.9)
    assert over.sum() > 30  # forearm pixels on the table top...
    ys, xs = np.nonzero(over)
    drawn = frame.rgb[ys + y0, xs + x0].astype(int)
    assert np.abs(drawn - layers[0].rgb[ys, xs]).mean() < 40  # ...are shown there
    bx0, by0, bx1, by1 = body[0].bbox  # the body's pixels under the table mask are hidden
    hidden = (body[0].coverage > 200) & (alpha[by0:by1, bx0:bx1] > 0.99)
    assert hidden.sum() > 30
    plate = frames.plates.background(frame.camera)[0]
    ys, xs = np.nonzero(hidden)
    shown = frame.rgb[ys + by0, xs + bx0].astype(int)
    assert np.abs(shown - plate[ys + by0, xs + bx0]).mean() < 12
