"""A captured line in the demo edit: `soloreel capture --line` puts a take on Jane's line in the
demo's campfire MCU, and the proxy's mouth and the control video's mouth follow its jaw."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from render_engine.audio.dialog import spoken_lines
from render_engine.bible import load_production
from render_engine.cache import RenderCache
from render_engine.cli import main
from render_engine.demo.production import EDIT_FILE
from render_engine.proxy.shot import ShotFrames
from render_engine.render import plan_shot
from render_engine.spec import read_spec
from render_engine.timeline_io import iter_shots, read_timeline
from tests.capture_takes import NEEDS_MODELS, Motion, write_take
from tests.test_capture_drive import _best_lag, mouth_track

pytestmark = NEEDS_MODELS

SHOT = "s01-002"
"""The demo's JANE MCU ("You hear that? The whole forest just went quiet.")."""
TAKE_FRAMES = 72


def _talking() -> list[Motion | None]:
    """Three seconds of irregular talking, the head drifting a little."""
    out: list[Motion | None] = []
    for i in range(TAKE_FRAMES):
        level = max(0.0, math.sin(2 * math.pi * i / 10)) * (0.5 + 0.5 * math.sin(i / 6) ** 2)
        out.append(Motion(mouth=level, dx=8 * math.sin(i / 9)))
    return out


def _mouth_contrast(rgb: np.ndarray, mouth: tuple[float, float, float]) -> float:
    """How open the drawn mouth looks: the luminance contrast (std / mean) of a tight box on
    the mouth anchor. An opening shows teeth and a dark rim where a shut mouth is one thin
    line; the ratio ignores the fire's flicker (a gain on the whole face), and the tight box
    keeps the night's dark hair and sky out (a darkness count would take them in)."""
    cx, cy, width = mouth
    box = rgb[int(cy - 0.4 * width):int(cy + 0.5 * width) + 1,
              int(cx - 0.6 * width):int(cx + 0.6 * width) + 1].astype(np.float64).mean(axis=2)
    return float(box.std() / max(box.mean(), 1.0))


def test_a_captured_line_drives_jane_in_the_demo_edit(demo_copy: Path) -> None:
    edit = demo_copy / EDIT_FILE
    take = write_take(demo_copy / "incoming" / "jane_quiet.mp4", _talking(), fps=24)
    assert main(["-q", "capture", str(take), "--character", "jane", "--line", f"{SHOT}:1",
                 "--edit", str(edit), "-p", str(demo_copy)]) == 0
    production = load_production(demo_copy)
    ref = next(r for r in iter_shots(read_timeline(edit))
               if r.has_spec and read_spec(r.clip).shot.id == SHOT)
    spec = read_spec(ref.clip)
    assert spec.dialog[0].recording, "the take became the line's recording"
    plan = plan_shot(ref, production, RenderCache(production.renders_dir()), "proxy")
    assert plan.problem is None, plan.problem
    width, height = 640, 360
    lines = spoken_lines(plan.spec, production, ref.label)
    shot = ShotFrames(plan.spec, production, width, height, 24, plan.first, plan.shown, lines)
    assert len(shot.captures) == 1
    opened_arr, jaw_arr = mouth_track(shot, plan.end - plan.first, _mouth_contrast)
    assert len(jaw_arr) >= TAKE_FRAMES - 4 and jaw_arr.max() > 0.3
    lag, score = _best_lag(opened_arr, jaw_arr)
    assert abs(lag) <= 1 and score > 0.8, (lag, score)
