"""OpenPose drawing matches the annotators (REFERENCE.md) pixel for pixel; procedural poses."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from render_engine.pose.openpose import (
    FAR_CONF,
    draw_pose,
    draw_poses,
    from_pose_keypoint_json,
    standing_pose,
    to_pose_keypoint_json,
)

# Copied from REFERENCE.md on purpose: the test must not trust the module's own tables.
REF_LIMBS = [[2, 3], [2, 6], [3, 4], [4, 5], [6, 7], [7, 8], [2, 9], [9, 10], [10, 11], [2, 12],
             [12, 13], [13, 14], [2, 1], [1, 15], [15, 17], [1, 16], [16, 18]]
REF_COLORS = [[255, 0, 0], [255, 85, 0], [255, 170, 0], [255, 255, 0], [170, 255, 0],
              [85, 255, 0], [0, 255, 0], [0, 255, 85], [0, 255, 170], [0, 255, 255],
              [0, 170, 255], [0, 85, 255], [0, 0, 255], [85, 0, 255], [170, 0, 255],
              [255, 0, 255], [255, 0, 170], [255, 0, 85]]


def reference_draw(width: int, height: int, people: list[np.ndarray]) -> np.ndarray:
    """The annotators' draw_bodypose, literally: BGR canvas, limbs, canvas * 0.6, joints."""
    canvas = np.zeros((height, width, 3), np.uint8)
    bgr = [c[::-1] for c in REF_COLORS]
    for i in range(17):
        for person in people:
            index = np.array(REF_LIMBS[i]) - 1
            if (person[index, 2] <= 0).any():
                continue
            Y = person[index, 0]  # upstream names: Y holds x, X holds y
            X = person[index, 1]
            m_x, m_y = np.mean(X), np.mean(Y)
            length = ((X[0] - X[1]) ** 2 + (Y[0] - Y[1]) ** 2) ** 0.5
            angle = math.degrees(math.atan2(X[0] - X[1], Y[0] - Y[1]))
            polygon = cv2.ellipse2Poly((int(m_y), int(m_x)), (int(length / 2), 4), int(angle),
                                       0, 360, 1)
            cv2.fillConvexPoly(canvas, polygon, bgr[i])
    canvas = (canvas * 0.6).astype(np.uint8)
    for i in range(18):
        for person in people:
            if person[i, 2] <= 0:
                continue
            cv2.circle(canvas, (int(person[i, 0]), int(person[i, 1])), 4, bgr[i], thickness=-1)
    return canvas[..., ::-1]  # back to RGB


def _two_joint_person(a: int, b: int, start: tuple[float, float],
                      end: tuple[float, float]) -> np.ndarray:
    person = np.zeros((18, 3))
    person[a] = (*start, 1.0)
    person[b] = (*end, 1.0)
    return person


@pytest.mark.parametrize("limb", range(17))
def test_limb_colour_at_midpoint_is_reference_times_0_6(limb: int) -> None:
    a, b = REF_LIMBS[limb][0] - 1, REF_LIMBS[limb][1] - 1
    person = _two_joint_person(a, b, (40.0, 50.0), (120.0, 70.0))
    image = draw_poses(160, 120, [person])
    expected = [int(c * 0.6) for c in REF_COLORS[limb]]
    assert image[60, 80].tolist() == expected
    assert image[50, 40].tolist() == REF_COLORS[a]  # joints at full colour on top
    assert image[70, 120].tolist() == REF_COLORS[b]


def test_every_joint_colour_at_its_centre() -> None:
    person = np.zeros((18, 3))
    for i in range(18):
        person[i] = (10 + 20 * i, 30 + (i % 2) * 40, 1.0)
    lonely = person.copy()
    image = draw_poses(380, 100, [lonely])
    for i in range(18):
        assert image[int(person[i, 1]), int(person[i, 0])].tolist() == REF_COLORS[i]


@pytest.mark.parametrize("facing,action,t", [(180, "stand", 0.0), (180, "walk", 0.4),
                                             (0, "gesture", 1.1), (180, "sit", 2.0)])
def test_matches_the_annotators_pixel_for_pixel(facing: float, action: str, t: float) -> None:
    people = [standing_pose((100, 230), 200, facing, t, action),
              standing_pose((220, 220), 180, 180, t + 0.3, "talk")]
    ours = draw_poses(320, 240, people)
    assert np.array_equal(ours, reference_draw(320, 240, people))


def test_missing_joints_are_skipped_with_their_limbs() -> None:
    person = _two_joint_person(1, 2, (40.0, 50.0), (120.0, 50.0))
    person[2, 2] = 0.0
    image = draw_poses(160, 100, [person])
    assert image[50, 80].tolist() == [0, 0, 0]      # the neck-shoulder limb is gone
    assert image[50, 120].tolist() == [0, 0, 0]     # and the shoulder joint
    assert image[50, 40].tolist() == REF_COLORS[1]  # the neck joint is still drawn


def test_draw_pose_draws_on_a_copy() -> None:
    canvas = np.full((100, 160, 3), 40, np.uint8)
    person = _two_joint_person(1, 2, (40.0, 50.0), (120.0, 50.0))
    result = draw_pose(canvas, person)
    assert (canvas == 40).all()
    assert result[50, 80].tolist() == [153, 0, 0]
    assert result[10, 10].tolist() == [40, 40, 40]  # the plate is not dimmed


def test_far_side_is_drawn_behind_the_near_side() -> None:
    person = np.zeros((18, 3))
    person[[1, 2]] = [(40, 50, FAR_CONF), (120, 50, FAR_CONF)]   # far limb, horizontal
    person[[5, 6]] = [(80, 20, 1.0), (80, 80, 1.0)]              # near limb, vertical
    image = draw_poses(160, 100, [person])
    assert image[50, 80].tolist() == [int(c * 0.6) for c in REF_COLORS[4]]  # near on top


def test_pose_keypoint_json_round_trip() -> None:
    person = standing_pose((100, 200), 150, 0, 0.0, "stand")
    data = to_pose_keypoint_json([person], 320, 240)
    assert data["canvas_width"] == 320 and data["canvas_height"] == 240
    flat = data["people"][0]["pose_keypoints_2d"]
    assert len(flat) == 54
    assert flat[0:3] == [0.0, 0.0, 0.0]          # nose hidden from behind
    assert flat[3:6] == [person[1, 0], person[1, 1], 1.0]
    back = from_pose_keypoint_json(data)[0]
    assert np.allclose(back[:, :2][person[:, 2] > 0], person[:, :2][person[:, 2] > 0])
    kept = to_pose_keypoint_json([standing_pose((100, 200), 150, 90, 0, "stand")], 320, 240,
                                 keep_confidence=True)
    assert FAR_CONF in kept["people"][0]["pose_keypoints_2d"]


def test_standing_pose_proportions_and_facing() -> None:
    feet, height = (200.0, 400.0), 300.0
    front = standing_pose(feet, height, 180, 0.0, "stand")
    assert front.shape == (18, 3)
    assert (front[:, 2] == 1).all()
    assert front[2, 0] < front[5, 0]                       # their right is screen left
    assert front[0, 1] == pytest.approx(feet[1] - 0.9 * height, abs=0.03 * height)
    assert front[[10, 13], 1].max() == pytest.approx(feet[1] - 0.045 * height, abs=3)
    shoulders = front[5, 0] - front[2, 0]
    assert 0.18 * height < shoulders < 0.26 * height
    back = standing_pose(feet, height, 0, 0.0, "stand")
    assert back[[0, 14, 15], 2].tolist() == [0, 0, 0]
    assert back[2, 0] > back[5, 0]
    assert (back[[16, 17], 2] > 0).all()                  # ears still seen from behind
    right = standing_pose(feet, height, 90, 0.0, "stand")
    assert right[0, 0] > right[1, 0]                      # the nose points screen right
    assert right[5, 2] == FAR_CONF and right[2, 2] == 1  # left side far, right side near
    left = standing_pose(feet, height, 270, 0.0, "stand")
    assert left[0, 0] < left[1, 0]
    assert left[2, 2] == FAR_CONF and left[5, 2] == 1


def test_actions_animate() -> None:
    def pose(action: str, t: float) -> np.ndarray:
        return standing_pose((200, 400), 300, 90, t, action)

    idle = np.abs(pose("stand", 0.0) - pose("stand", 1.0))[:, :2].max()
    assert 0 < idle < 0.03 * 300                          # breathing and sway, small
    walk = np.abs(pose("walk", 0.0)[[10, 13], 0] - pose("walk", 0.6)[[10, 13], 0]).max()
    assert walk > 0.1 * 300          # feet travel in a stride (the walk starts feet together)
    talk = np.abs(pose("talk", 0.0)[4] - pose("talk", 0.3)[4])[:2].max()
    assert talk > idle
    gesture = pose("gesture", 0.5)
    assert gesture[4, 1] < gesture[3, 1] < gesture[2, 1] + 0.05 * 300  # the hand goes up
    sit, stand = pose("sit", 0.0), pose("stand", 0.0)
    assert sit[8, 1] > stand[8, 1] + 0.15 * 300          # hips lower when seated
    with pytest.raises(ValueError, match="unknown action"):
        standing_pose((0, 0), 100, 180, 0, "dance")
