"""Rig parts that follow the painting (boundaries on painted edges) and the torso painted
under the arms, on a figure drawn here: a three-quarter figure whose near sleeve hangs over
the chest, the same colour as the shirt and parted from it only by a dark outline, with a
badge of its own colour on the chest right beside that outline."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from render_engine.proxy import rig
from tests.test_rig_posing import posed_image

SIZE = (400, 500)  # view width, height
GROUND = (200.0, 485.0)
TALL = 450.0
SHIRT = (70, 130, 170)
SLEEVE = (74, 126, 166)  # the sleeve is painted like the shirt: only its outline parts them
OUTLINE = (25, 25, 30)
BADGE = (250, 230, 40)
SKIN = (230, 180, 140)
TROUSERS = (60, 60, 90)
VIEW = "three_quarter"
NEAR = ("l_upper_arm", "l_lower_arm", "l_hand")
OUT_PX = 12.0
"""The near sleeve is painted this far further out than the fitted arm's bone."""
BADGE_AT = 18.0
"""The badge's centre lies this far inside the sleeve's centre line."""


def joints() -> np.ndarray:
    return rig.fitted_joints(VIEW, GROUND, TALL, None, (GROUND[0], GROUND[1] - TALL))


def _line(image: np.ndarray, a: np.ndarray, b: np.ndarray, colour: tuple[int, int, int],
          thick: int) -> None:
    cv2.line(image, (round(a[0]), round(a[1])), (round(b[0]), round(b[1])), (*colour, 255),
             thick, cv2.LINE_AA)


def painted(j: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(RGBA view, torso polygon mask, badge mask): a torso broader than the fitted figure's,
    legs, a head, the far arm behind, the near arm outlined over the chest's side."""
    width, height = SIZE
    image = np.zeros((height, width, 4), np.uint8)
    spine = j[1]
    for side in ("r",):  # the far arm, behind the body
        _line(image, j[2], j[3], OUTLINE, 30)
        _line(image, j[3], j[4], OUTLINE, 26)
        _line(image, j[2], j[3], SLEEVE, 24)
        _line(image, j[3], j[4], SLEEVE, 20)
        del side
    for hip, knee, ankle in ((8, 9, 10), (11, 12, 13)):
        _line(image, j[hip], j[knee], TROUSERS, 34)
        _line(image, j[knee], j[ankle], TROUSERS, 28)
    shoulders = [spine + 1.35 * (j[k] - spine) for k in (2, 5)]
    hips = [j[rig.MID_HIP] + 1.6 * (j[k] - j[rig.MID_HIP]) for k in (11, 8)]
    quad = np.round(np.array([*shoulders, *hips])).astype(np.int32)
    body = np.zeros((height, width), np.uint8)
    cv2.fillConvexPoly(body, cv2.convexHull(quad), 1)
    image[body > 0] = (*SHIRT, 255)
    centre = j[rig.HEAD]
    cv2.circle(image, (round(centre[0]), round(centre[1])), 32, (*SKIN, 255), -1)
    _line(image, j[1] + (0, 4), centre, SKIN, 26)
    image[body > 0] = (*SHIRT, 255)  # the collar over the neck's foot
    # the near arm, painted a little further out than the fitted figure's (a broad sheet),
    # over the chest's side: outline, then the sleeve
    upper = j[6] - j[5]
    across = np.array([upper[1], -upper[0]]) / np.hypot(*upper)
    if across @ (spine - j[5]) < 0:
        across = -across  # towards the spine
    out = -OUT_PX * across
    _line(image, j[5] + out, j[6] + out, OUTLINE, 30)
    _line(image, j[6] + out, j[7] + out, OUTLINE, 26)
    _line(image, j[5] + out, j[6] + out, SLEEVE, 24)
    _line(image, j[6] + out, j[7] + out, SLEEVE, 20)
    hand = j[7] + out
    cv2.circle(image, (round(hand[0]), round(hand[1])), 12, (*SKIN, 255), -1)
    # the badge: on the chest, just inside the sleeve's outline (towards the spine)
    middle = j[5] + 0.3 * upper + across * (BADGE_AT - OUT_PX)
    badge = np.zeros((height, width), np.uint8)
    cv2.rectangle(badge, (round(middle[0]) - 6, round(middle[1]) - 4),
                  (round(middle[0]) + 6, round(middle[1]) + 4), 1, -1)
    image[badge > 0] = (*BADGE, 255)
    return image, body > 0, badge > 0


def part_mask(the_rig: rig.Rig, name: str) -> np.ndarray:
    """A part's hard pixels (its label) over the whole view."""
    return the_rig.labels == list(rig.PARTS).index(name)


def near(colour: tuple[int, int, int], rgba: np.ndarray, tolerance: int = 30) -> np.ndarray:
    return (np.abs(rgba[..., :3].astype(int) - colour).sum(axis=2) < tolerance) & (
        rgba[..., 3] > 200)


def swung(j: np.ndarray, degrees: float) -> np.ndarray:
    """The rest skeleton with the near arm swung out (away from the body) about its
    shoulder."""
    skeleton = np.concatenate([j[:18], np.ones((18, 1))], axis=1)
    shoulder = j[5]
    sign = 1.0 if j[5][0] > j[1][0] else -1.0  # out is away from the spine
    turn = math.radians(-degrees * sign)
    rotation = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    for k in (6, 7):
        skeleton[k, :2] = shoulder + rotation @ (j[k] - shoulder)
    return skeleton


def posed(view: np.ndarray, the_rig: rig.Rig, skeleton: np.ndarray) -> np.ndarray:
    """The view posed by `skeleton` into a canvas of the view's size."""
    return posed_image(view, the_rig, skeleton, SIZE)


def test_badge_goes_with_the_chest_and_the_sleeve_with_the_arm() -> None:
    j = joints()
    view, _body, badge = painted(j)
    the_rig = rig.build_rig(view, VIEW, j, TALL)
    arm = np.zeros(badge.shape, bool)
    for name in NEAR:
        arm |= part_mask(the_rig, name)
    torso = part_mask(the_rig, "torso")
    assert badge.sum() > 60
    assert torso[badge].mean() > 0.95, "the badge is painted on the chest"
    # the sleeve: its own colour strictly between its outlines, away from the shoulder joint
    sleeve_line = np.zeros(badge.shape, np.uint8)
    a, b = j[5] + 0.25 * (j[6] - j[5]), j[6]
    out = np.array([math.copysign(OUT_PX, j[5][0] - j[1][0]), 0.0])
    a, b = a + out, b + out
    cv2.line(sleeve_line, (round(a[0]), round(a[1])), (round(b[0]), round(b[1])), 1, 20)
    sleeve = (sleeve_line > 0) & near(SLEEVE, view, 8)
    assert sleeve.sum() > 500
    assert arm[sleeve].mean() > 0.9


def test_prior_split_alone_would_give_the_badge_to_the_arm(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The figure is a real test of the painted boundaries: the nearest-bone split alone
    hands the badge to the arm."""
    j = joints()
    view, _body, badge = painted(j)
    monkeypatch.setattr(rig, "followed_boundaries",
                        lambda _rgba, scores, _h: np.argmin(scores, axis=0).astype(np.int16))
    the_rig = rig.build_rig(view, VIEW, j, TALL)
    arm = np.zeros(badge.shape, bool)
    for name in NEAR:
        arm |= part_mask(the_rig, name)
    assert arm[badge].mean() > 0.3


def test_swung_arm_uncovers_shirt_and_carries_no_badge() -> None:
    j = joints()
    view, body, badge = painted(j)
    the_rig = rig.build_rig(view, VIEW, j, TALL)
    assert rig.UNDERLAY in the_rig.order and the_rig.order[0] == rig.UNDERLAY
    for degrees in (35.0, 50.0):
        image = posed(view, the_rig, swung(j, degrees))
        inside = cv2.erode(body.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        assert (image[..., 3][inside] >= 250).mean() > 0.995, "no hole inside the torso"
        # where the arm was and is no more: opaque shirt, not background
        arm_was = np.zeros(body.shape, bool)
        for name in NEAR:
            arm_was |= part_mask(the_rig, name)
        uncovered = inside & arm_was & ~near(SLEEVE, image, 12) & ~near(OUTLINE, image, 40)
        uncovered &= ~near(SKIN, image)
        assert uncovered.sum() > 150
        shirt = near(SHIRT, image, 40)
        assert shirt[uncovered].mean() > 0.9, "the uncovered chest is shirt-coloured"
        # badge-coloured pixels stay where the badge is painted
        ring = cv2.dilate(badge.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        assert near(BADGE, image, 60)[~ring].sum() < 5
        assert near(BADGE, image, 60)[badge].mean() > 0.9


def test_rest_pose_hides_the_underlay() -> None:
    """Drawn at rest through the part layers, the underlay stays hidden: the view's opaque
    pixels come back (no halo outside the figure either)."""
    j = joints()
    view, _body, _badge = painted(j)
    the_rig = rig.build_rig(view, VIEW, j, TALL)
    image = posed(view, the_rig, np.concatenate([j[:18], np.ones((18, 1))], axis=1))
    solid = view[..., 3] == 255
    diff = np.abs(image[..., :3].astype(int) - view[..., :3].astype(int)).sum(axis=2)
    assert (diff[solid] > 12).mean() < 0.01
    assert (image[..., 3][view[..., 3] == 0] > 8).mean() < 0.002


def test_rigging_is_deterministic() -> None:
    j = joints()
    view, _body, _badge = painted(j)
    first = rig.build_rig(view, VIEW, j, TALL)
    second = rig.build_rig(view.copy(), VIEW, j.copy(), TALL)
    assert np.array_equal(first.labels, second.labels)
    assert first.order == second.order and first.boxes == second.boxes
    for name in first.masks:
        assert np.array_equal(first.masks[name], second.masks[name])


def test_old_automatic_rig_files_are_ignored_edited_ones_kept(tmp_path: Path) -> None:
    j = joints()
    view, _body, _badge = painted(j)
    the_rig = rig.build_rig(view, VIEW, j, TALL)
    digest = rig.image_digest(view)
    text = rig.rig_text(the_rig, digest, VIEW)
    assert "torso_under" not in text
    path = tmp_path / "v.rig.toml"
    path.write_text(text)
    assert rig.read_rig_file(path, view.shape[:2], digest) is not None
    old = text.replace(f"version = {rig.RIG_VERSION}", "version = 1")
    path.write_text(old)
    assert rig.read_rig_file(path, view.shape[:2], digest) is None
    path.write_text(old.replace("edited = false", "edited = true"))
    assert rig.read_rig_file(path, view.shape[:2], digest) is not None


def _broad_front(arms_out: float, hands_in_front: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(RGBA front view, fitted joints): a broad figure whose painted arms hang `arms_out`
    pixels further out than the fitted figure's (or are folded in front of the belly)."""
    width, height = SIZE
    j = rig.fitted_joints("front", GROUND, TALL, None, (GROUND[0], GROUND[1] - TALL))
    image = np.zeros((height, width, 4), np.uint8)
    for hip, knee, ankle in ((8, 9, 10), (11, 12, 13)):
        _line(image, j[hip], j[knee], TROUSERS, 34)
        _line(image, j[knee], j[ankle], TROUSERS, 28)
    spine = j[1]
    shoulders = [spine + 1.2 * (j[k] - spine) for k in (2, 5)]
    hips = [j[rig.MID_HIP] + 1.3 * (j[k] - j[rig.MID_HIP]) for k in (11, 8)]
    cv2.fillConvexPoly(image, cv2.convexHull(np.round(np.array([*shoulders, *hips]))
                                             .astype(np.int32)), (*SHIRT, 255))
    centre = j[rig.HEAD]
    cv2.circle(image, (round(centre[0]), round(centre[1])), 32, (*SKIN, 255), -1)
    for shoulder, elbow, wrist in ((2, 3, 4), (5, 6, 7)):
        side = np.sign(j[shoulder, 0] - spine[0])
        if hands_in_front:
            belly = j[rig.MID_HIP] + (0.0, -40.0)
            _line(image, j[shoulder], j[elbow], SLEEVE, 22)
            _line(image, j[elbow], belly, SLEEVE, 18)
            continue
        out = np.array([side * arms_out, 0.0])
        _line(image, j[shoulder] + out * 0.5, j[elbow] + out, OUTLINE, 26)
        _line(image, j[elbow] + out, j[wrist] + out, OUTLINE, 22)
        _line(image, j[shoulder] + out * 0.5, j[elbow] + out, SLEEVE, 20)
        _line(image, j[elbow] + out, j[wrist] + out, SLEEVE, 16)
        hand = j[wrist] + out + (0.0, 10.0)
        cv2.circle(image, (round(hand[0]), round(hand[1])), 10, (*SKIN, 255), -1)
    return image, j


def test_hanging_arms_are_fitted_onto_the_painted_sleeves() -> None:
    image, fitted = _broad_front(arms_out=24.0)
    moved = rig.arms_on_silhouette(fitted, image[..., 3], "front", TALL)
    for elbow, wrist in ((3, 4), (6, 7)):
        side = np.sign(fitted[wrist, 0] - fitted[rig.MID_HIP, 0])
        for joint in (elbow, wrist):  # the painted sleeve's centre is 24 px further out
            assert abs(moved[joint, 0] - (fitted[joint, 0] + side * 24.0)) <= 6.0, joint
            assert side * (moved[joint, 0] - fitted[joint, 0]) > 12.0
        assert np.allclose(moved[joint, 1], fitted[joint, 1])
    built = rig.build_rig(image, "front", moved, TALL)
    sleeve = np.all(image[..., :3] == SLEEVE, axis=2) & (image[..., 3] == 255)
    arms = np.isin(built.labels, [list(rig.PARTS).index(n) for n in rig.PARTS if "arm" in n
                                  or "hand" in n])
    assert arms[sleeve].mean() > 0.9  # the sleeves go with the arms
    shirt = np.all(image[..., :3] == SHIRT, axis=2)
    assert arms[shirt].mean() < 0.05  # the shirt stays with the torso


def test_arms_held_in_front_and_profiles_keep_the_fitted_arms() -> None:
    image, fitted = _broad_front(arms_out=0.0, hands_in_front=True)
    assert np.array_equal(rig.arms_on_silhouette(fitted, image[..., 3], "front", TALL), fitted)
    wide, _ = _broad_front(arms_out=24.0)
    for view in ("side", "sit_front"):
        assert np.array_equal(rig.arms_on_silhouette(fitted, wide[..., 3], view, TALL), fitted)
