"""A captured line drives the character (issue 23): the proxy's mouth and the final's control
video face follow the captured jaw, frame for frame."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import tomli_w

from render_engine.audio.dialog import spoken_lines
from render_engine.bible import load_production
from render_engine.cache import RenderCache
from render_engine.capture.store import (
    capture_take,
    expression_at,
    line_captures,
    read_frames,
)
from render_engine.final.inputs import FACE_MARGIN, animate_inputs, control_video
from render_engine.final.latents import WAN_FPS, native_frames_for
from render_engine.final.plan import plan_final
from render_engine.pose.face import captured_opening, lip_gap
from render_engine.proxy.shot import ShotFrames
from render_engine.render import RenderJob, plan_shot
from render_engine.timeline_io import iter_shots
from tests.capture_takes import NEEDS_MODELS, Motion, write_take
from tests.conftest import make_clip, make_timeline, make_tiny_production, spec_dict

pytestmark = NEEDS_MODELS

SIZE = 256
START = 0.25
TAKE_FRAMES = 40


def _talking() -> list[Motion | None]:
    """Irregular talking: openings of different heights and lengths, some shut stretches."""
    out: list[Motion | None] = []
    for i in range(TAKE_FRAMES):
        level = max(0.0, math.sin(2 * math.pi * i / 9)) * (0.5 + 0.5 * math.sin(i / 5) ** 2)
        out.append(Motion(mouth=level, dx=10 * math.sin(i / 7)))
    return out


@pytest.fixture(scope="module")
def production_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_tiny_production(tmp_path_factory.mktemp("drive") / "tiny")
    settings = tomllib.loads((root / "soloreel.toml").read_text())
    settings["tiers"]["final"] = {"width": SIZE, "height": SIZE, "steps": 2, "model": "vace"}
    settings["tiers"]["proxy"] = {"width": SIZE, "height": SIZE}
    settings["models"] = {"vace": {"source": "models/vace", "kind": "vace"},
                          "anim": {"source": "models/anim", "kind": "animate"}}
    (root / "soloreel.toml").write_text(tomli_w.dumps(settings))
    cast = tomllib.loads((root / "cast" / "jane.toml").read_text())
    cast["views"]["front"].update({"eyes": [16, 12], "mouth": [16, 16], "mouth_width": 6})
    (root / "cast" / "jane.toml").write_text(tomli_w.dumps(cast))
    take = write_take(root / "takes" / "talk.mp4", _talking(), fps=24)
    capture_take(take, load_production(root))
    return root


def _job(root: Path, tier: str, final: dict | None = None) -> RenderJob:
    production = load_production(root)
    spec = spec_dict("talk", shot={"id": "talk", "size": "MS", "subjects": ["jane"]},
                     characters=[{"name": "jane", "position": [0.0, 1.6], "facing": 180,
                                  "action": "talk"}],
                     dialog=[{"speaker": "jane", "text": "Pass the marshmallows, please.",
                              "start": START, "recording": "takes/talk.mp4"}],
                     render={"final": final or {"mode": "vace_inpaint"}})
    timeline = make_timeline([make_clip(spec, "TALK", 60)])
    cache = RenderCache(production.renders_dir())
    plan = plan_shot(next(iter(iter_shots(timeline))), production, cache, tier)
    assert plan.problem is None, plan.problem
    return RenderJob(spec=plan.spec, production=production, tier=tier, first=plan.first,
                     end=plan.end, fps=24, width=SIZE, height=SIZE, out_path=root / "x.mp4",
                     label="TALK", shown=plan.shown)


def _mouth_darkness(rgb: np.ndarray, mouth: tuple[float, float, float]) -> float:
    """How much dark mouth opening the frame shows round the mouth anchor (pixels)."""
    cx, cy, width = mouth
    x0, x1 = int(cx - 0.8 * width), int(cx + 0.8 * width) + 1
    y0, y1 = int(cy - 0.6 * width), int(cy + 0.6 * width) + 1
    box = rgb[max(y0, 0):y1, max(x0, 0):x1].astype(np.float64).mean(axis=2)
    return float((box < 0.55 * np.median(box)).sum())


def _best_lag(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    scores = {lag: np.corrcoef(a[2 + lag:len(a) - 2 + lag], b[2:len(b) - 2])[0, 1]
              for lag in range(-2, 3)}
    lag = max(scores, key=lambda k: scores[k])
    return lag, float(scores[lag])


def mouth_track(shot: ShotFrames, frames: int,
                measure: Callable[[np.ndarray, tuple[float, float, float]], float]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Jane's drawn mouth opening (`measure` of each rendered frame round her mouth anchor)
    and the captured jaw, over the shot's frames the capture covers."""
    opened, jaw = [], []
    for index in range(frames):
        expression = expression_at(shot.captures, "jane", shot.seconds(index))
        if expression is None:
            continue
        frame = shot.frame(index)
        sprite = next(s for s in frame.sprites if s.name == "jane")
        assert sprite.mouth is not None
        opened.append(measure(frame.rgb, sprite.mouth))
        jaw.append(expression["jaw_open"])
    return np.array(opened), np.array(jaw)


def test_the_proxy_mouth_follows_the_captured_jaw(production_root: Path) -> None:
    job = _job(production_root, "proxy")
    lines = spoken_lines(job.spec, job.production, job.label)
    shot = ShotFrames(job.spec, job.production, SIZE, SIZE, 24, job.first, job.shown, lines)
    assert len(shot.captures) == 1
    opened_arr, jaw_arr = mouth_track(shot, job.end - job.first, _mouth_darkness)
    assert len(jaw_arr) >= TAKE_FRAMES - 2 and jaw_arr.max() > 0.3
    lag, score = _best_lag(opened_arr, jaw_arr)
    assert abs(lag) <= 1 and score > 0.8, (lag, score)
    assert opened_arr[jaw_arr > 0.3].min() > opened_arr[jaw_arr < 0.03].max()


def test_the_control_video_mouth_follows_the_captured_jaw(production_root: Path) -> None:
    job = _job(production_root, "final")
    final = plan_final(job.spec, job.production)
    count = native_frames_for(job.frame_count, job.fps)
    control = control_video(job, final, count, None)
    captures = line_captures(job.spec, job.production)
    gaps, wanted = [], []
    start = job.shot_seconds(0)
    for index, row in enumerate(control.track.faces):
        expression = expression_at(captures, "jane", start + index / WAN_FPS)
        if expression is None or row[0] is None:
            continue
        gaps.append(lip_gap(row[0]))
        wanted.append(captured_opening(expression)[0])
    assert len(wanted) >= 20 and max(wanted) > 0.1
    assert np.corrcoef(gaps, wanted)[0, 1] > 0.95


def test_animate_gets_the_take_s_own_face_as_its_face_video(production_root: Path) -> None:
    job = _job(production_root, "final", {"mode": "animate", "model": "anim"})
    plan = plan_final(job.spec, job.production)
    count = native_frames_for(job.frame_count, job.fps)
    inputs = animate_inputs(job, plan, count, None, 64)
    assert inputs.face_source == "control+take"
    capture = line_captures(job.spec, job.production)[0]
    frames, _, _ = read_frames(production_root / "takes" / "talk.mp4")
    take = list(frames)
    start = job.shot_seconds(0)
    checked = 0
    for index, crop in enumerate(inputs.faces):
        t = start + index / WAN_FPS
        frame = math.floor((t - START) * 24 + 1e-6)
        if not 0 <= frame < TAKE_FRAMES:
            continue  # before and after the line: the control video's own crop
        points = capture.performance.points[frame][:, :2]
        low, high = points.min(0), points.max(0)
        side = (high - low).max() * FACE_MARGIN
        x0, y0 = np.round((low + high) / 2 - side / 2).astype(int)
        span = round(float(side))
        expected = take[frame][max(y0, 0):y0 + span, max(x0, 0):x0 + span]
        expected = cv2.resize(np.ascontiguousarray(expected), (64, 64),
                              interpolation=cv2.INTER_AREA)
        assert crop.shape == (64, 64, 3)
        assert np.abs(crop.astype(int) - expected.astype(int)).mean() < 12
        checked += 1
    assert checked >= 20


def test_a_captured_take_is_part_of_the_render_address(production_root: Path) -> None:
    from render_engine.capture.store import take_digest
    from render_engine.hashing import hash_inputs

    job = _job(production_root, "proxy")
    inputs = hash_inputs(job.spec, job.production, "proxy")
    assert inputs["captures"] == [take_digest(production_root / "takes" / "talk.mp4")]
    plain = job.spec.model_copy(update={"dialog": [
        line.model_copy(update={"recording": None}) for line in job.spec.dialog]})
    assert "captures" not in hash_inputs(plain, job.production, "proxy")  # old addresses kept
