"""Walks that read: planted feet, foot speed matching ground speed, a clean stop, turns.

The skeletons come from the proxy's `pose_keypoints` (what pose.json, the control video and
the rigged cut-outs follow) seen through a still camera, so pixel tolerances are pixel ones.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from render_engine.pose.openpose import STEP, gait
from render_engine.proxy.blocking import WALK_SPEED_M_S, character_floor
from render_engine.proxy.camera import Camera
from render_engine.proxy.cutouts import posture_of
from render_engine.proxy.poses import CharacterActing, pose_keypoints
from render_engine.spec import CharacterSpec

R_ANKLE, L_ANKLE = 10, 13
FPS = 24
HEIGHT_M = 1.8


def _camera() -> Camera:
    return Camera((0.0, 1.4, 0.0), 0.0, -4.0, 60.0, 1280, 720)


def _walk(path: list[tuple[float, float]], seconds: float
          ) -> tuple[CharacterSpec, list[np.ndarray], list[tuple[float, float]]]:
    """A walker's skeletons and floor points at every frame of `seconds`."""
    char = CharacterSpec(name="walker", position=path[0], action="walk", path=path[1:])
    total = sum(math.dist(a, b) for a, b in itertools.pairwise(path))
    acting = CharacterActing(walk_total_m=total)
    cam = _camera()
    frames, floors = [], []
    for index in range(round(seconds * FPS)):
        t = index / FPS
        x, z, facing, walking = character_floor(char, t)
        posture = posture_of("walk", x, z, facing, walking)
        points = pose_keypoints(cam, posture, HEIGHT_M, t, acting=acting)
        assert points is not None
        frames.append(points)
        floors.append((x, z))
    return char, frames, floors


def _stance_runs(values: np.ndarray, still: float = 0.05) -> list[tuple[int, int]]:
    """Runs of frames (start, end inclusive) where a foot moves less than `still` px/frame."""
    speed = np.linalg.norm(np.diff(values, axis=0), axis=1)
    runs, start = [], None
    for index, moving in enumerate(speed > still):
        if not moving and start is None:
            start = index
        if moving and start is not None:
            runs.append((start, index))
            start = None
    if start is not None:
        runs.append((start, len(speed)))
    return [run for run in runs if run[1] - run[0] >= 2]


def test_the_stance_foot_stays_on_its_ground_point() -> None:
    """Across the walk, each foot in contact with the ground stays within 2 px of where it
    landed while the body moves on; the gait's own stance phases (from `gait`) are used, not
    a speed threshold, so a sliding foot cannot hide."""
    path = [(-2.5, 7.0), (2.5, 5.5)]
    _, frames, _ = _walk(path, 5.0)
    total = math.dist(*path)
    worst = 0.0
    stances = 0
    for foot, ankle in ((0, R_ANKLE), (1, L_ANKLE)):
        landed: np.ndarray | None = None
        for index, points in enumerate(frames):
            walked = min(index / FPS * WALK_SPEED_M_S, total) / HEIGHT_M
            _, lifts, swinging = gait(walked, total / HEIGHT_M)
            planted = swinging != foot and lifts[foot] == 0
            if planted:
                if landed is None:
                    landed = points[ankle, :2].copy()
                    stances += 1
                worst = max(worst, float(np.linalg.norm(points[ankle, :2] - landed)))
            else:
                landed = None
    assert stances >= 6  # several steps of each foot
    assert worst <= 2.0, f"a planted ankle slid {worst:.2f} px"


def test_feet_move_as_fast_as_the_ground() -> None:
    """Each foot travels the path's length once (its ground point moves with the body on
    average: no moonwalk, no skating), and both feet end where the walk ends."""
    path = [(0.0, 4.0), (0.0, 9.0)]
    total = math.dist(*path) / HEIGHT_M
    for foot in (0, 1):
        positions = []
        for walked in np.linspace(0.0, total, 2001):
            offsets, _, _ = gait(float(walked), total)
            positions.append(walked + offsets[foot])
        travel = np.abs(np.diff(positions)).sum()
        assert travel == pytest.approx(total, rel=1e-3)
        assert positions[-1] == pytest.approx(total)
    # in pixels too: a foot's mean ground speed over the walk equals the body's
    _char, frames, floors = _walk(path, 5.0)
    cam = _camera()
    from render_engine.proxy import lens

    seconds = math.dist(*path) / WALK_SPEED_M_S
    frames_walking = int(seconds * FPS)
    body = np.array([lens.project(cam, np.array([x, 0.0, z]))[:2] for x, z in floors])
    body_px = np.linalg.norm(body[frames_walking] - body[0])
    for ankle in (R_ANKLE, L_ANKLE):
        track = np.array([f[ankle, :2] for f in frames])
        foot_px = np.linalg.norm(track[frames_walking + 1] - track[0])
        assert foot_px == pytest.approx(body_px, rel=0.08)


def test_stride_comes_from_leg_length_and_the_walk_ends_standing() -> None:
    """The step is ~0.36 of the figure's height (Alexander's step/stature relation), the
    fitted steps stay within a quarter of it, and after the last step the figure stands with
    its feet together: the frames either side of the walk's end differ by under 3 px."""
    assert 0.3 < STEP < 0.42
    path = [(3.5, 6.0), (1.0, 5.0)]
    char, frames, _ = _walk(path, 4.0)
    end = math.dist(*path) / WALK_SPEED_M_S
    arrived = math.ceil(end * FPS)
    jump = np.abs(frames[arrived + 1][:, :2] - frames[arrived][:, :2]).max()
    assert jump < 3.0
    x, z, facing, walking = character_floor(char, (len(frames) - 1) / FPS)
    assert not walking
    stand = pose_keypoints(_camera(), posture_of("stand", x, z, facing, False), HEIGHT_M,
                           (len(frames) - 1) / FPS)
    assert stand is not None
    legs = [8, 9, 10, 11, 12, 13]
    assert np.abs(frames[-1][legs, :2] - stand[legs, :2]).max() < 3.0  # feet together


def test_legs_move_during_the_walk_and_the_knees_bend() -> None:
    """The legs swing (the ankles cross) and the swing leg's knee bends: not a gliding statue."""
    _, frames, _ = _walk([(-3.0, 6.0), (3.0, 6.0)], 4.0)
    gap = np.array([f[R_ANKLE, 0] - f[L_ANKLE, 0] for f in frames[:96]])
    assert gap.max() > 10 and gap.min() < -10  # the feet pass each other (walking across)
    lifted = [f[[R_ANKLE, L_ANKLE], 1].min() for f in frames[:96]]
    assert max(lifted) - min(lifted) > 3  # a foot leaves the ground


def test_a_turn_turns_round_over_time() -> None:
    """`turn` turns from its facing to the opposite one, smoothly and monotonically."""
    char = CharacterSpec(name="t", position=(0.0, 4.0), facing=180.0, action="turn")
    headings = [character_floor(char, k / FPS)[2] for k in range(40)]
    assert headings[0] == pytest.approx(180.0)
    assert headings[-1] == pytest.approx(0.0, abs=1e-6) or headings[-1] == pytest.approx(360.0)
    unwrapped = np.unwrap(np.radians(headings))
    steps = np.diff(unwrapped)
    assert np.all(steps >= -1e-9) or np.all(steps <= 1e-9)
    assert np.abs(steps).max() < math.radians(20)


def test_a_walker_turns_smoothly_at_a_waypoint() -> None:
    """Round a corner the heading eases from one segment's to the next (no snap), and the
    body still follows the path exactly."""
    char = CharacterSpec(name="w", position=(0.0, 5.0), action="walk",
                         path=[(2.0, 5.0), (2.0, 8.0)])
    headings, points = [], []
    for k in range(int(5.0 / WALK_SPEED_M_S * FPS)):
        x, z, facing, _ = character_floor(char, k / FPS)
        headings.append(facing)
        points.append((x, z))
    steps = np.abs(np.diff(np.unwrap(np.radians(headings))))
    assert math.degrees(steps.max()) < 12  # 90° spread over ~0.6 s, not one frame
    assert headings[0] == pytest.approx(90.0) and headings[-1] == pytest.approx(0.0)
    assert all(abs(z - 5.0) < 1e-9 or abs(x - 2.0) < 1e-9 for x, z in points)
