"""A captured expression on a cut-out (issue 23): the mouth opens with the jaw, the lids
close with a blink, the brows rise, the face slides with a head turn; and the control face
closes its eyes and lifts its brows with the capture."""

from __future__ import annotations

import numpy as np

from render_engine.pose.face import face_keypoints
from render_engine.pose.openpose import standing_pose
from render_engine.proxy import lipflap
from render_engine.proxy.cutouts import Sprite

SKIN = (200, 160, 140)
BROW = (40, 30, 20)


def _face_sprite() -> Sprite:
    """A 120x160 skin-coloured head: eyes' midpoint at (60, 60), a dark brow line at rows
    44-46 over each eye, mouth anchor at (60, 100), 30 px wide."""
    rgb = np.empty((160, 120, 3), np.uint8)
    rgb[:] = SKIN
    rgb[44:47, 25:50] = BROW
    rgb[44:47, 70:95] = BROW
    sprite = Sprite(name="ana", view="front", mirrored=False, rgb=rgb,
                    coverage=np.full((160, 120), 255, np.uint8), x0=0, y0=0, depth=2.0,
                    feet=(60, 159), height_px=160, up=(0.0, -1.0), world=(0.0, 0.9, 2.0),
                    mouth=(60.0, 100.0, 30.0))
    sprite.extra["eyes"] = (60.0, 60.0)
    return sprite


def _dark_rows(rgb: np.ndarray, columns: slice, rows: slice) -> np.ndarray:
    return np.flatnonzero(rgb[rows, columns].mean(axis=(1, 2)) < 110) + rows.start


def _drawn(expression: dict[str, float]) -> np.ndarray:
    sprite = _face_sprite()
    assert lipflap.draw_captured(sprite, expression)
    return sprite.rgb


def test_the_mouth_opening_grows_with_the_jaw() -> None:
    heights = []
    for jaw in (0.0, 0.25, 0.5, 1.0):
        rgb = _drawn({"jaw_open": jaw})
        inside = np.all(np.abs(rgb.astype(int) - lipflap.INSIDE) < 8, axis=2)
        heights.append(np.flatnonzero(inside[:, 60]).size)
    assert heights == sorted(heights) and heights[-1] > 4 * max(heights[0], 1)


def test_a_blink_closes_the_eyes_and_a_raise_lifts_the_brows() -> None:
    open_eyes = _face_sprite()
    open_eyes.rgb[55:65, 35:45] = (20, 20, 20)  # a painted pupil under the left lid
    shut = _face_sprite()
    shut.rgb[55:65, 35:45] = (20, 20, 20)
    lipflap.draw_captured(open_eyes, {"blink": 0.0})
    lipflap.draw_captured(shut, {"blink": 1.0})
    assert (open_eyes.rgb[55:65, 35:45] < 60).all()
    assert (shut.rgb[55:65, 35:45] > 120).mean() > 0.8  # skin-coloured lid over it
    rest = _dark_rows(_drawn({}), slice(30, 45), slice(30, 56))
    raised = _dark_rows(_drawn({"brow_raise": 1.0}), slice(30, 45), slice(30, 56))
    lowered = _dark_rows(_drawn({"brow_raise": -1.0}), slice(30, 45), slice(30, 56))
    assert raised.mean() < rest.mean() - 2 and lowered.mean() > rest.mean() + 2


def test_a_head_turn_slides_the_face_the_way_the_nose_points() -> None:
    def mouth_x(yaw: float) -> float:
        rgb = _drawn({"jaw_open": 1.0, "yaw": yaw})
        inside = np.all(np.abs(rgb.astype(int) - lipflap.INSIDE) < 8, axis=2)
        return float(np.flatnonzero(inside.any(axis=0)).mean())

    left, centre, right = mouth_x(-25.0), mouth_x(0.0), mouth_x(25.0)
    assert left < centre - 3 and right > centre + 3
    assert abs(mouth_x(80.0) - mouth_x(30.0)) < 1.0  # kept slight: clamped at 30°


def test_the_control_face_blinks_and_raises_its_brows() -> None:
    body = standing_pose((200.0, 400.0), 300.0, 180.0, 0.0)
    rest = face_keypoints(body, "X", {})
    blink = face_keypoints(body, "X", {"blink": 1.0, "brow_raise": 1.0})
    assert rest is not None and blink is not None
    assert np.abs(rest[37, 1] - rest[41, 1]) > 1.0
    assert np.abs(blink[37, 1] - blink[41, 1]) < 1e-6  # upper lid on the lower
    assert (blink[17:27, 1] < rest[17:27, 1] - 1.0).all()  # brows up the picture


def test_the_rehearsal_face_opens_its_mouth_with_the_jaw() -> None:
    from render_engine.capture.live import rehearsal_face

    def opening(jaw: float) -> int:
        rgb = rehearsal_face({"jaw_open": jaw}, 200)
        inside = np.all(np.abs(rgb.astype(int) - lipflap.INSIDE) < 8, axis=2)
        return int(inside.sum())

    shut, half, wide = opening(0.0), opening(0.5), opening(1.0)
    assert shut < half < wide and wide > 5 * max(shut, 1)
    assert rehearsal_face({"blink": 1.0}, 200)[84, 70:130].mean() > 120  # lids over the eyes
