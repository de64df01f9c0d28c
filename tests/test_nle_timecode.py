"""Start timecode: every tier's movie of a shot starts at the same source-frame timecode."""

from __future__ import annotations

from pathlib import Path

import pytest

from render_engine.bible import load_production
from render_engine.media.encode import probe, timecode_at
from render_engine.render import RenderJob, renderer_for
from render_engine.spec import SHOT_ORIGIN_SECONDS, ShotSpec
from tests.proxy_fixtures import make_cutout_production

FPS = 24
HANDLES = 12


def test_timecode_of_source_frames() -> None:
    origin = round(SHOT_ORIGIN_SECONDS * FPS)
    assert timecode_at(round(3600 * FPS), FPS) == "01:00:00:00"
    assert timecode_at(round(3600 * FPS) - 12, FPS) == "00:59:59:12"
    assert timecode_at(origin, 24000 / 1001) == timecode_at(origin, 24)  # nominal 24 fps
    with pytest.raises(ValueError):
        timecode_at(-1, FPS)


def test_placeholder_and_proxy_share_the_start_timecode(tmp_path: Path) -> None:
    root = make_cutout_production(tmp_path / "prod", 160, 90, handles=HANDLES)
    production = load_production(root)
    spec = ShotSpec.model_validate({
        "shot": {"id": "tc-001", "size": "MS", "subjects": ["ana"]}, "set": "yard",
        "characters": [{"name": "ana", "position": [0.4, 3.5], "facing": 220,
                        "action": "stand"}],
        "seed": 3,
    })
    start = round(SHOT_ORIGIN_SECONDS * FPS)
    found = {}
    for tier in ("placeholder", "proxy"):
        out = tmp_path / tier / "tc-001.mp4"
        job = RenderJob(spec=spec, production=production, tier=tier, first=start - HANDLES,
                        end=start + 6 + HANDLES, fps=FPS, width=160, height=90, out_path=out,
                        label="tc-001", shown=(start, start + 6))
        renderer_for(tier)(job)
        found[tier] = probe(out).timecode
    expected = timecode_at(start - HANDLES, FPS)
    assert found == {"placeholder": expected, "proxy": expected}
    assert expected == "00:59:59:12"  # the origin is 01:00:00:00
