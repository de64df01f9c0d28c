"""Lip sync in the final's control video: DWPose face landmarks driven by the dialog's mouth
shapes (issue 18, item 8). No torch: the control video is built without a model."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from render_engine.audio.dialog import mouth_shape, spoken_lines
from render_engine.bible import load_production
from render_engine.cache import RenderCache
from render_engine.final.inputs import control_video, proxy_entry
from render_engine.final.latents import WAN_FPS, native_frames_for
from render_engine.final.plan import plan_final
from render_engine.pose.face import (
    FACE_POINTS,
    face_keypoints,
    lip_gap,
    mouth_opening,
)
from render_engine.pose.openpose import FACE_RADIUS, draw_poses, standing_pose
from render_engine.render import RenderJob, link_plan, plan_shot
from render_engine.timeline_io import iter_shots
from tests.conftest import make_clip, make_timeline, spec_dict

SIZE = 256
LINE = "Pass the marshmallows, and mind the fire."


def _production(root: Path) -> None:
    settings = tomllib.loads((root / "soloreel.toml").read_text())
    settings["tiers"]["final"] = {"width": SIZE, "height": SIZE, "steps": 2, "model": "vace"}
    settings["tiers"]["proxy"] = {"width": SIZE, "height": SIZE}
    settings["models"] = {"vace": {"source": "models/vace", "kind": "vace"}}
    (root / "soloreel.toml").write_text(tomli_w.dumps(settings))


def _job(root: Path, tier: str, frames: int = 48):
    production = load_production(root)
    spec = spec_dict("talk", shot={"id": "talk", "size": "CU", "subjects": ["jane"]},
                     characters=[{"name": "jane", "position": [0.0, 1.6], "facing": 180,
                                  "action": "talk"}],
                     dialog=[{"speaker": "jane", "text": LINE, "start": 0.3}],
                     render={"final": {"mode": "vace_inpaint"}})
    timeline = make_timeline([make_clip(spec, "TALK", frames)])
    cache = RenderCache(production.renders_dir())
    plan = plan_shot(next(iter(iter_shots(timeline))), production, cache, tier)
    assert plan.problem is None, plan.problem
    job = RenderJob(spec=plan.spec, production=production, tier=tier, first=plan.first,
                    end=plan.end, fps=24, width=SIZE, height=SIZE, out_path=root / "x.mp4",
                    label="TALK", shown=plan.shown)
    return production, cache, plan, job


def _openings(job: RenderJob, count: int) -> np.ndarray:
    """What the lip flap shows at each Wan frame: the gap of its mouth shape."""
    lines = spoken_lines(job.spec, job.production, job.label)
    start = job.shot_seconds(0)
    return np.array([mouth_opening(mouth_shape(lines, "jane", start + i / WAN_FPS))[0]
                     for i in range(count)])


def _check_follows(job: RenderJob, control, count: int) -> None:
    faces = [row[0] for row in control.track.faces]
    assert all(f is not None and f.shape == (FACE_POINTS, 3) for f in faces)
    gaps = np.array([lip_gap(f) for f in faces])
    wanted = _openings(job, count)
    assert wanted.max() > 0.2 and (wanted == 0).sum() >= 3  # speech and silence in the shot
    assert np.corrcoef(gaps, wanted)[0, 1] > 0.95
    assert np.all(gaps[wanted == 0] < 1e-6)  # closed when silent (and on M B P)
    # the drawn frames show it: white dots where the open mouth's lower lip is
    open_frame = int(np.argmax(wanted))
    closed_frame = int(np.flatnonzero(wanted == 0)[0])
    lip = faces[open_frame][57, :2].round().astype(int)
    patch = control.frames[open_frame][lip[1] - 1:lip[1] + 2, lip[0] - 1:lip[0] + 2]
    assert (patch == 255).all(axis=2).any()
    assert not np.array_equal(faces[open_frame][57], faces[closed_frame][57])


def test_drawn_control_video_has_faces_that_speak_the_line(tiny_production: Path) -> None:
    _production(tiny_production)
    production, _cache, plan, job = _job(tiny_production, "final")
    final = plan_final(plan.spec, production)
    count = native_frames_for(job.frame_count, job.fps)
    control = control_video(job, final, count, None)
    assert control.source == "drawn"
    _check_follows(job, control, count)


def test_the_proxy_pose_track_gets_the_faces_too(tiny_production: Path) -> None:
    _production(tiny_production)
    production, cache, proxy_plan, _proxy_job = _job(tiny_production, "proxy")
    link_plan(proxy_plan, production, cache, render=True)
    assert proxy_plan.result is not None, proxy_plan.error
    production, _cache, plan, job = _job(tiny_production, "final")
    entry = proxy_entry(job)
    assert entry is not None and entry.hash == proxy_plan.result.hash
    count = native_frames_for(job.frame_count, job.fps)
    control = control_video(job, plan_final(plan.spec, production), count, entry)
    assert control.source.endswith("/pose.json") and control.track.identified
    _check_follows(job, control, count)


def test_faces_are_drawn_as_dwpose_draws_them() -> None:
    body = standing_pose((128, 250), 240, 180, 0.0)
    face = face_keypoints(body, "D")
    frame = draw_poses(256, 256, [body], faces=[face])
    plain = draw_poses(256, 256, [body])
    added = np.any(frame != plain, axis=2)
    assert (frame[added] == 255).all()  # white dots only, on top of the body
    x, y = face[30, :2].astype(int)  # a nose dot: a filled disc of radius 3
    disc = (frame[y - FACE_RADIUS:y + FACE_RADIUS + 1, x - FACE_RADIUS:x + FACE_RADIUS + 1]
            == 255).all(axis=2)
    assert disc[FACE_RADIUS].all() and disc[:, FACE_RADIUS].all()
    assert face_keypoints(standing_pose((128, 250), 240, 0, 0.0), "D") is None  # from behind
    turned = face_keypoints(standing_pose((128, 250), 240, 120, 0.0), "D")
    assert turned is not None and lip_gap(turned) == pytest.approx(lip_gap(face), rel=0.15)
    assert lip_gap(face_keypoints(body, "X")) == 0 == lip_gap(face_keypoints(body, "A"))


def test_faces_travel_in_the_pose_keypoint_json() -> None:
    from render_engine.pose.openpose import to_pose_keypoint_json

    body = standing_pose((128, 250), 240, 180, 0.0)
    face = face_keypoints(body, "C")
    frame = to_pose_keypoint_json([body, body], 256, 256, faces=[face, None])
    first, second = frame["people"]
    assert len(first["face_keypoints_2d"]) == 3 * FACE_POINTS
    assert np.allclose(np.reshape(first["face_keypoints_2d"], (FACE_POINTS, 3)), face)
    assert second["face_keypoints_2d"] is None
    assert to_pose_keypoint_json([body], 256, 256)["people"][0]["face_keypoints_2d"] is None
