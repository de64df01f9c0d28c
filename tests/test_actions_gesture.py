"""Gestures driven by the dialog's stress, pointing at a named target, leaning on a table."""

from __future__ import annotations

import math

import numpy as np
import pytest

from render_engine.audio.dialog import SpokenLine
from render_engine.bible import load_production
from render_engine.proxy import lens
from render_engine.proxy.camera import Camera
from render_engine.proxy.cutouts import posture_of
from render_engine.proxy.poses import CharacterActing, acting_for, pose_keypoints, speech_energy
from render_engine.spec import ShotSpec
from tests.conftest import spec_dict
from tests.test_furniture_seats import _furnished

RATE = 16000
HEIGHT_M = 1.75
R_SHOULDER, R_ELBOW, R_WRIST, L_WRIST = 2, 3, 4, 7


def _camera() -> Camera:
    return Camera((0.0, 1.4, 0.0), 0.0, -3.0, 55.0, 1280, 720)


def _line(envelope: list[float], seconds: float = 3.0) -> SpokenLine:
    """A voiced line whose loudness follows `envelope` (one value per equal slice)."""
    t = np.arange(int(seconds * RATE)) / RATE
    slices = np.repeat(np.asarray(envelope), math.ceil(len(t) / len(envelope)))[:len(t)]
    samples = (0.5 * slices * np.sin(2 * np.pi * 180 * t)).astype(np.float32)
    return SpokenLine(samples, RATE, [], "jane", 0.2, False)


def test_speech_energy_follows_the_loudness() -> None:
    env = speech_energy(_line([0.1, 1.0, 0.3]).samples, RATE)
    third = len(env) // 3
    quiet, loud, mid = (env[k * third + 8:(k + 1) * third - 8].mean() for k in range(3))
    assert loud == pytest.approx(1.0, abs=0.05) and quiet < mid < loud


def test_gesture_amplitude_follows_the_line_s_stress(tmp_path) -> None:
    """A talking character's hand rises with the energy of the line it speaks: the wrist's
    height above its rest correlates with the speech energy frame by frame, and silence
    (no line) holds the arm down."""
    production = load_production(_furnished(tmp_path / "p"))
    spec = ShotSpec.model_validate(spec_dict(characters=[
        {"name": "jane", "position": [0.0, 3.5], "action": "talk"}]))
    line = _line([0.05, 0.2, 1.0, 0.15, 0.9, 0.05, 0.6, 0.1])
    acting = acting_for(spec, production, [line])["jane"]
    cam = _camera()
    rest = pose_keypoints(cam, posture_of("stand", 0.0, 3.5, 180, False), HEIGHT_M, 0.0)
    lifts, energies = [], []
    for frame in range(6, 72):
        t = frame / 24
        points = pose_keypoints(cam, posture_of("talk", 0.0, 3.5, 180, False), HEIGHT_M, t,
                                speaking=True, acting=acting)
        lifts.append(rest[R_WRIST, 1] - points[R_WRIST, 1])
        energies.append(acting.energy(t))
    correlation = np.corrcoef(lifts, energies)[0, 1]
    assert correlation > 0.8, correlation
    assert max(lifts) - min(lifts) > 15  # a visible gesture, in pixels


@pytest.mark.parametrize(("target", "side"), [((2.5, 3.5), 1), ((-2.5, 3.0), -1),
                                               ((0.4, 7.0), 0)])
def test_the_arm_points_at_the_named_character(tmp_path, target, side) -> None:
    """`point = "john"`: the right arm's direction on screen is within 12° of the direction
    from the shoulder to John's chest, wherever John stands."""
    production = load_production(_furnished(tmp_path / "p"))
    spec = ShotSpec.model_validate(spec_dict(characters=[
        {"name": "jane", "position": [0.0, 4.0], "facing": 180, "point": "john"},
        {"name": "john", "position": list(target)}], dialog=[]))
    acting = acting_for(spec, production)["jane"]
    cam = _camera()
    points = pose_keypoints(cam, posture_of("stand", 0.0, 4.0, 180, False), HEIGHT_M, 0.5,
                            acting=acting)
    chest = lens.project(cam, np.array(acting.target(0.5)))[:2]
    arm = points[R_WRIST, :2] - points[R_SHOULDER, :2]
    aim = chest - points[R_SHOULDER, :2]
    angle = math.degrees(abs(math.atan2(arm[0] * aim[1] - arm[1] * aim[0], arm @ aim)))
    assert angle < 12, angle
    if side:
        assert np.sign(arm[0]) == side


def test_pointing_at_a_prop_and_reaching_what_is_near(tmp_path) -> None:
    """A prop of the set is a target too; a target within reach is touched by the hand."""
    production = load_production(_furnished(tmp_path / "p"))
    spec = ShotSpec.model_validate(spec_dict(characters=[
        {"name": "jane", "position": [-1.7, 4.9], "facing": 180, "point": "lamp"}],
        dialog=[]))
    acting = acting_for(spec, production)["jane"]
    cam = _camera()
    points = pose_keypoints(cam, posture_of("stand", -1.7, 4.9, 180, False), HEIGHT_M, 0.0,
                            acting=acting)
    lamp = lens.project(cam, np.array([-2.0, 1.6, 5.0]))[:2]
    assert np.linalg.norm(points[R_WRIST, :2] - lamp) < 4


def test_leaning_puts_the_forearms_on_the_table_top(tmp_path) -> None:
    """`lean = "table"` behind the table: the torso tips forward and both elbows and wrists
    lie on the table's top (its height, projected, within 4 px), on its near edge or beyond."""
    production = load_production(_furnished(tmp_path / "p"))
    for action, z in (("stand", 3.95), ("sit", 4.05)):
        spec = ShotSpec.model_validate(spec_dict(characters=[
            {"name": "jane", "position": [0.0, z], "facing": 180, "action": action,
             "lean": "table", **({"seat": "bench"} if action == "sit" else {})}], dialog=[]))
        acting = acting_for(spec, production)["jane"]
        assert acting.surface is not None
        cam = _camera()
        posture = posture_of(action, 0.0, z, 180, False)
        points = pose_keypoints(cam, posture, HEIGHT_M, 0.0, acting=acting)
        upright = pose_keypoints(cam, posture, HEIGHT_M, 0.0, acting=CharacterActing(
            seat=acting.seat))
        for joint in (R_ELBOW, R_WRIST, 6, L_WRIST):
            # the joint's ray meets the table-top plane on the table's footprint
            ray = lens.rotation(cam).T @ np.array([
                (points[joint, 0] - 640) / cam.focal_px, -(points[joint, 1] - 360) / cam.focal_px,
                1.0])
            k = (0.74 + 0.015 - cam.position[1]) / ray[1]
            hit = np.array(cam.position) + k * ray
            assert 2.75 < hit[2] < 3.65 and abs(hit[0]) < 0.8, (action, joint, hit)
        # the head comes forward (lower on screen, towards the camera) when leaning
        assert points[0, 1] > upright[0, 1] + 5
