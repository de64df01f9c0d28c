"""The proxy on the demo's own shots and painted sheets.

Seated characters: framing, the cut-out's painted eyes and the pose figure agree on one eye
point, so a close-up of someone sitting keeps their eyes on the thirds line (push-ins too) and
their feet stay on the floor in wide shots. Plates: still cameras get the sharp parallax warp,
moving ones the fast one, unless `[tiers.proxy] parallax` forces one."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from render_engine.bible import Production, load_production
from render_engine.cache import RenderCache
from render_engine.demo.production import EDIT_FILE
from render_engine.proxy import lens
from render_engine.proxy.blocking import (
    EYE_SITTING,
    eye_point,
    find_character,
    seated_eye_ratio,
)
from render_engine.proxy.cutouts import THIGH
from render_engine.proxy.shot import ShotFrames
from render_engine.render import plan_shot
from render_engine.spec import ShotSpec
from render_engine.timeline_io import iter_shots, read_timeline

W, H = 640, 360


@pytest.fixture(scope="module")
def production(demo_production: Path) -> Production:
    return load_production(demo_production)


@pytest.fixture(scope="module")
def plans(production: Production, demo_production: Path) -> dict:
    cache = RenderCache(production.renders_dir())
    refs = [r for r in iter_shots(read_timeline(demo_production / EDIT_FILE)) if r.has_spec]
    found = {}
    for ref in refs:
        plan = plan_shot(ref, production, cache, "proxy")
        found[plan.spec.shot.id] = plan
    return found


def _frames(plan, production: Production) -> ShotFrames:
    return ShotFrames(plan.spec, production, W, H, production.settings.production.fps,
                      plan.first, plan.shown)


def test_the_sheet_sets_the_seated_eye_height(production: Production) -> None:
    member = production.member("jane")
    front, sit = member.views["front"], member.views["sit_front"]
    px_per_m = (front.feet[1] - front.head_top[1]) / member.height_m
    painted = (sit.feet[1] - sit.eyes[1]) / px_per_m / member.height_m
    assert seated_eye_ratio(production, "jane") == pytest.approx(painted, abs=1e-6)
    assert abs(painted - EYE_SITTING) > 0.02  # the sheet, not the default, decides
    spec = ShotSpec.model_validate({"shot": {"id": "t"}, "set": "campfire", "characters": [
        {"name": "jane", "position": [1.0, 4.0], "action": "sit"}]})
    assert eye_point(spec, production, "jane")[1] == pytest.approx(painted * member.height_m)
    assert seated_eye_ratio(None, "jane") == EYE_SITTING


@pytest.mark.parametrize("shot_id", ["s01-002", "s01-003", "s01-005", "s01-006"])
def test_seated_close_ups_keep_the_painted_eyes_on_the_third(
        plans: dict, production: Production, shot_id: str) -> None:
    plan = plans[shot_id]
    subject = plan.spec.shot.subjects[0]
    assert find_character(plan.spec, subject).action == "sit"
    shot = _frames(plan, production)
    for index in (0, plan.frames // 2, plan.frames - 1):  # the CU pushes in over the shot
        frame = shot.frame(index)
        sprite = next(s for s in frame.sprites if s.name == subject)
        eye_u, eye_v = sprite.extra["eyes"]
        assert abs(eye_v - H / 3) <= 0.03 * H, (shot_id, index, eye_v)
        assert 0.05 * W < eye_u < 0.95 * W
        # the control video's figure has its eyes where the cut-out's are
        # (the other speaker may be behind the camera: take the figure nearest the eyes)
        pose_eyes = min((p[14:16, :2].mean(axis=0) for p in frame.people),
                        key=lambda e: np.hypot(e[0] - eye_u, e[1] - eye_v))
        assert np.hypot(pose_eyes[0] - eye_u, pose_eyes[1] - eye_v) <= 0.015 * W, (
            shot_id, index, pose_eyes, (eye_u, eye_v))


def test_seated_feet_stay_on_the_floor_in_a_two_shot(plans: dict,
                                                     production: Production) -> None:
    plan = plans["s01-004"]
    shot = _frames(plan, production)
    frame = shot.frame(0)
    assert {s.name for s in frame.sprites} == {"john", "jane"}
    for sprite in frame.sprites:
        character = find_character(plan.spec, sprite.name)
        height = production.member(sprite.name).height_m
        heading = np.radians(character.facing)
        forward = np.array([np.sin(heading), 0.0, np.cos(heading)])
        seat = np.array([character.position[0], 0.0, character.position[1]])
        lo = lens.project(frame.camera, seat)[1] - 0.5
        hi = lens.project(frame.camera, seat + forward * THIGH * height)[1] - 0.5
        feet_v = sprite.extra["feet"][1]
        assert min(lo, hi) - 0.01 * H <= feet_v <= max(lo, hi) + 0.01 * H, (
            sprite.name, feet_v, lo, hi)


def test_still_cameras_get_the_sharp_plate_and_moving_ones_the_fast(
        plans: dict, production: Production) -> None:
    from render_engine.proxy.shot import parallax_for

    still, moving = plans["s01-002"].spec, plans["s01-006"].spec
    assert (still.camera.move, moving.camera.move) == ("static", "push_in")
    assert (parallax_for(still, production), parallax_for(moving, production)) == (
        "sharp", "fast")
    forced = production.settings.model_copy(update={"tiers": {
        **production.settings.tiers,
        "proxy": production.settings.tier("proxy").model_copy(update={"parallax": "sharp"})}})
    sharp = copy.copy(production)
    sharp.settings = forced
    assert parallax_for(moving, sharp) == "sharp"
    assert _frames(plans["s01-006"], sharp).plates.parallax == "sharp"
