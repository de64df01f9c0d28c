"""Rigged cut-outs (issue 20, items 1 and 4): views split into parts that follow the skeleton.

The views here are drawn by the test (a figure with one flat colour per body part, painted over
the procedural figure's joints), not the demo's art, plus the stand-in mannequin every new
character starts as."""

from __future__ import annotations

import math
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import tomli_w

from render_engine.bible import load_production
from render_engine.errors import SoloreelError
from render_engine.pose.openpose import standing_pose
from render_engine.proxy import cutouts, rig, rig_pose
from render_engine.proxy.camera import Camera
from render_engine.proxy.compositor import compose
from render_engine.proxy.sheets import CastCutouts
from render_engine.standin import figure_views

SIZE = (384, 512)  # view width, height
GROUND = (191.5, 495.5)
TALL = 470.0
COLOURS = {
    "torso": (200, 40, 40), "head": (240, 200, 160), "r_upper_arm": (40, 200, 40),
    "r_lower_arm": (40, 120, 40), "l_upper_arm": (40, 40, 200), "l_lower_arm": (40, 40, 120),
    "r_upper_leg": (200, 200, 40), "r_lower_leg": (120, 120, 40), "l_upper_leg": (200, 40, 200),
    "l_lower_leg": (120, 40, 120),
}


def drawn_view(joints: np.ndarray) -> np.ndarray:
    """An RGBA figure painted over `joints` (20, 2): limbs as thick lines, torso as a quad,
    head as a disc, each in its own colour; limbs drawn over the torso."""
    width, height = SIZE
    image = np.zeros((height, width, 4), np.uint8)
    quad = np.round(joints[[2, 5, 11, 8]]).astype(np.int32)
    cv2.fillConvexPoly(image, quad, (*COLOURS["torso"], 255))
    centre = joints[rig.HEAD]
    cv2.circle(image, (round(centre[0]), round(centre[1])), 30, (*COLOURS["head"], 255), -1)
    for name, spec in rig.PARTS.items():
        if name not in COLOURS or name in ("torso", "head"):
            continue
        a, b = joints[spec.pivot], joints[spec.end]
        thick = 14 if "leg" in name else 10
        cv2.line(image, (round(a[0]), round(a[1])), (round(b[0]), round(b[1])),
                 (*COLOURS[name], 255), thick)
    return image


def front_joints() -> np.ndarray:
    return rig.fitted_joints("front", GROUND, TALL, None, (GROUND[0], GROUND[1] - TALL))


def limb_angle(rgba: np.ndarray, colour: tuple[int, int, int], ends: np.ndarray) -> float:
    """Direction (degrees, 0..180) of the principal axis of the pixels painted `colour`, away
    from the joints `ends` (2, 2) where neighbouring parts overlap."""
    hit = (np.abs(rgba[..., :3].astype(int) - colour).sum(axis=2) < 12) & (rgba[..., 3] > 250)
    ys, xs = np.nonzero(hit)
    away = np.min([np.hypot(xs - x, ys - y) for x, y in ends], axis=0) > 0.035 * TALL
    xs, ys = xs[away], ys[away]
    assert xs.size > 40, f"no pixels of {colour}"
    cov = np.cov(np.stack([xs, ys]).astype(float))
    vals, vecs = np.linalg.eigh(cov)
    vx, vy = vecs[:, np.argmax(vals)]
    return math.degrees(math.atan2(vy, vx)) % 180.0


def bone_angle(points: np.ndarray, a: int, b: int) -> float:
    d = points[b, :2] - points[a, :2]
    return math.degrees(math.atan2(d[1], d[0])) % 180.0


def identity() -> np.ndarray:
    return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def posed_image(view: np.ndarray, the_rig: rig.Rig, skeleton: np.ndarray,
                size: tuple[int, int] = SIZE) -> np.ndarray:
    """The view posed by `skeleton` into a canvas of its own size (view = frame)."""
    posed = rig_pose.pose(the_rig, 0, view, identity(), skeleton, size, force=True)
    assert posed is not None
    canvas = np.zeros((size[1], size[0], 4), np.uint8)
    x0, y0 = posed.origin
    h, w = posed.rgba.shape[:2]
    canvas[y0:y0 + h, x0:x0 + w] = posed.rgba
    return canvas


def test_the_drawn_view_is_split_into_every_part_with_pivots() -> None:
    joints = front_joints()
    view = drawn_view(joints)
    the_rig = rig.build_rig(view, "front", joints, TALL)
    assert set(the_rig.order) == set(rig.PARTS)
    labels = the_rig.labels
    for name in ("r_upper_arm", "l_lower_leg", "head", "torso"):
        index = list(rig.PARTS).index(name)
        colour = np.array(COLOURS[name])
        painted = (np.abs(view[..., :3].astype(int) - colour).sum(axis=2) < 12)
        share = (labels[painted] == index).mean()
        assert share > 0.8, (name, share)
    # feathered seams: masks overlap where parts are jointed (elbow), not elsewhere
    upper, lower = the_rig.masks["r_upper_arm"], the_rig.masks["r_lower_arm"]
    both = np.zeros(labels.shape, np.float32), np.zeros(labels.shape, np.float32)
    for canvas, name, mask in ((both[0], "r_upper_arm", upper), (both[1], "r_lower_arm", lower)):
        x0, y0, x1, y1 = the_rig.boxes[name]
        canvas[y0:y1, x0:x1] = mask / 255.0
    overlap = (both[0] > 0.2) & (both[1] > 0.2)
    elbow = joints[3]
    ys, xs = np.nonzero(overlap)
    assert xs.size > 20
    assert np.hypot(xs - elbow[0], ys - elbow[1]).max() < 0.1 * TALL


def test_rest_pose_gives_the_unrigged_pixels(tiny_production: Path) -> None:
    """Placed through `cutouts.place`: a skeleton equal to the neutral figure leaves the cut-out
    exactly as the unrigged warp draws it, while a moved arm changes it."""
    joints = front_joints()
    Path(tiny_production / "cast" / "jane" / "front.png").unlink()
    cv2.imwrite(str(tiny_production / "cast" / "jane" / "front.png"),
                cv2.cvtColor(drawn_view(joints), cv2.COLOR_RGBA2BGRA))
    data = {"name": "jane", "trigger": "JaneTrigger", "height_m": 1.7,
            "views": {"front": {"image": "jane/front.png", "feet": [192, 496],
                                "head_top": [192, 26]}},
            "reference_images": ["jane/front.png"]}
    (tiny_production / "cast" / "jane.toml").write_text(tomli_w.dumps(data))
    production = load_production(tiny_production)
    cast = CastCutouts(production, production.member("jane"))
    camera = Camera((0.0, 1.0, 0.0), 0.0, 0.0, 50.0, 320, 180)
    posture = cutouts.Posture(0.0, 3.0, 180.0)
    plain = cutouts.place(cast, camera, posture, 0.0)
    assert plain is not None
    figure = standing_pose(plain.feet, plain.height_px, 180.0, 0.0)
    same = cutouts.place(cast, camera, posture, 0.0, skeleton=figure, neutral=figure)
    assert same is not None and "posed" not in same.extra
    assert same.bbox == plain.bbox
    assert np.array_equal(same.rgb, plain.rgb) and np.array_equal(same.coverage, plain.coverage)
    raised = figure.copy()
    shoulder = raised[2, :2]
    raised[3, :2] = shoulder + (raised[3, :2] - shoulder) @ np.array([[0.0, -1.0], [1.0, 0.0]])
    raised[4, :2] = raised[3, :2] + (raised[3, :2] - shoulder)
    moved = cutouts.place(cast, camera, posture, 0.0, skeleton=raised, neutral=figure)
    assert moved is not None and "posed" in moved.extra
    assert moved.bbox != plain.bbox or not np.array_equal(moved.coverage, plain.coverage)


def test_forced_rest_pose_composites_without_seams() -> None:
    """Posing at rest through the part layers (no shortcut) redraws the view: the feathered
    overlaps leave no seam inside the body."""
    joints = front_joints()
    view = drawn_view(joints)
    the_rig = rig.build_rig(view, "front", joints, TALL)
    rest = np.concatenate([joints[:18], np.ones((18, 1))], axis=1)
    posed = posed_image(view, the_rig, rest)
    solid = view[..., 3] == 255
    assert (posed[..., 3][solid] >= 250).mean() > 0.995
    diff = np.abs(posed[..., :3].astype(int) - view[..., :3].astype(int)).sum(axis=2)
    assert (diff[solid] > 12).mean() < 0.01


@pytest.mark.parametrize("angle", [20.0, 45.0, 70.0])
def test_rendered_limb_angles_follow_the_skeleton(angle: float) -> None:
    joints = front_joints()
    view = drawn_view(joints)
    the_rig = rig.build_rig(view, "front", joints, TALL)
    skeleton = np.concatenate([joints[:18], np.ones((18, 1))], axis=1)
    turn = math.radians(angle)
    rotation = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    shoulder = skeleton[2, :2].copy()
    skeleton[3, :2] = shoulder + rotation @ (skeleton[3, :2] - shoulder)
    skeleton[4, :2] = skeleton[3, :2] + rotation @ rotation @ (joints[4] - joints[3])
    hip = skeleton[11, :2].copy()
    leg = np.array([[math.cos(0.5), -math.sin(0.5)], [math.sin(0.5), math.cos(0.5)]])
    skeleton[12, :2] = hip + leg @ (skeleton[12, :2] - hip)
    skeleton[13, :2] = skeleton[12, :2] + (joints[13] - joints[12])
    posed = posed_image(view, the_rig, skeleton)
    for name, (a, b) in {"r_upper_arm": (2, 3), "r_lower_arm": (3, 4), "l_upper_leg": (11, 12),
                         "l_lower_leg": (12, 13)}.items():
        measured = limb_angle(posed, COLOURS[name], skeleton[[a, b], :2])
        wanted = bone_angle(skeleton, a, b)
        error = abs((measured - wanted + 90.0) % 180.0 - 90.0)
        assert error < 4.0, (name, measured, wanted)


def test_a_walking_skeleton_moves_the_legs_not_the_head() -> None:
    """A side view walks: the walk cycle's legs (hung from the standing figure's hips) swing
    the painted legs; the head region does not change."""
    joints = rig.fitted_joints("side", GROUND, TALL, None, (GROUND[0], GROUND[1] - TALL))
    view = drawn_view(joints)
    the_rig = rig.build_rig(view, "side", joints, TALL)
    neutral = standing_pose(GROUND, TALL, 270.0, 0.0, "stand", distance=50.0)
    frames = []
    for t in (0.0, 0.275, 0.55, 0.825):
        walk = standing_pose(GROUND, TALL, 270.0, t, "walk", distance=50.0)
        skeleton = neutral.copy()
        hips = walk[[8, 11], :2].mean(axis=0) - neutral[[8, 11], :2].mean(axis=0)
        skeleton[8:14, :2] = walk[8:14, :2] - hips
        posed = rig_pose.pose(the_rig, 0, view, identity(), skeleton, SIZE, force=True,
                              neutral=neutral)
        assert posed is not None
        canvas = np.zeros((SIZE[1], SIZE[0], 4), np.uint8)
        x0, y0 = posed.origin
        canvas[y0:y0 + posed.rgba.shape[0], x0:x0 + posed.rgba.shape[1]] = posed.rgba
        frames.append(canvas.astype(int))
    knee_y = int(joints[9, 1])
    head_y = int(joints[1, 1]) - 10
    leg_change = min(np.abs(f - frames[0])[knee_y:].sum() for f in frames[1:3])
    head_change = max(np.abs(f - frames[0])[:head_y].sum() for f in frames[1:])
    assert leg_change > 300 * 255
    assert head_change == 0


def test_forearms_on_a_table_are_drawn_over_its_mask_and_legs_under_it() -> None:
    """Per-part depth: the split forearm layer sits in front of the table's mask, the rest of
    the character behind it."""
    joints = front_joints()
    view = drawn_view(joints)
    the_rig = rig.build_rig(view, "front", joints, TALL)
    rest = np.concatenate([joints[:18], np.ones((18, 1))], axis=1)
    lean = rest.copy()  # forearms forward onto the table top: horizontal at elbow height
    for elbow, wrist, side in ((3, 4, -1.0), (6, 7, 1.0)):
        length = float(np.hypot(*(joints[wrist] - joints[elbow])))
        lean[wrist, :2] = joints[elbow] + (side * length, 0.0)
    posed = rig_pose.pose(the_rig, 0, view, identity(), lean, SIZE, split=rig_pose.FOREARMS)
    assert posed is not None and "split" in posed.layers
    body = cutouts.Sprite("jane", "front", False, np.ascontiguousarray(posed.rgba[..., :3]),
                          np.ascontiguousarray(posed.rgba[..., 3]), *posed.origin, 4.0,
                          GROUND, TALL, (0.0, -1.0), (0.0, 0.8, 4.0))
    body.extra["posed"] = posed
    layers = rig_pose.split_sprites(body, 3.0 - rig_pose.IN_FRONT_M)
    assert len(layers) == 1 and layers[0].depth < 3.0
    table_top = int(joints[3, 1]) - 8
    mask = np.zeros((SIZE[1], SIZE[0]), np.float32)
    mask[table_top:, :] = 1.0
    background = np.full((SIZE[1], SIZE[0], 3), 10, np.uint8)
    frame = compose(background, None, [(mask, 3.0)], [body, *layers])
    forearm = (np.abs(frame.astype(int) - COLOURS["r_lower_arm"]).sum(axis=2) < 12)
    legs = (np.abs(frame.astype(int) - COLOURS["r_lower_leg"]).sum(axis=2) < 12)
    assert forearm[table_top:].sum() > 200
    assert legs.sum() == 0
    alone = compose(background, None, [(mask, 3.0)], [body])  # unsplit: all behind the table
    forearm_alone = (np.abs(alone.astype(int) - COLOURS["r_lower_arm"]).sum(axis=2) < 12)
    assert forearm_alone[table_top:].sum() == 0


def test_the_standin_mannequin_rigs_and_walks() -> None:
    front, _seated, _views = figure_views("extra")
    view = np.asarray(front.convert("RGBA"))
    solid = np.nonzero(view[..., 3] > 8)
    ground = (float(np.median(solid[1])), float(solid[0].max()))
    tall = float(solid[0].max() - solid[0].min())
    the_rig = rig.rig_for(view, "front", ground, tall, None, (ground[0], ground[1] - tall))
    assert {"head", "torso", "r_lower_leg", "l_foot"} <= set(the_rig.order)
    neutral = standing_pose(ground, tall, 180.0, 0.0, "stand", distance=50.0)
    walk = standing_pose(ground, tall, 270.0, 0.3, "walk", distance=50.0)
    skeleton = neutral.copy()  # the walk's legs, swung sideways, hung from the same hips
    hips = walk[[8, 11], :2].mean(axis=0) - neutral[[8, 11], :2].mean(axis=0)
    skeleton[8:14, :2] = walk[8:14, :2] - hips
    size = (view.shape[1], view.shape[0])
    posed = rig_pose.pose(the_rig, 0, view, identity(), skeleton, size, neutral=neutral)
    assert posed is not None
    canvas = np.zeros_like(view)
    x0, y0 = posed.origin
    h, w = posed.rgba.shape[:2]
    canvas[y0:y0 + h, x0:x0 + w] = posed.rgba[:canvas.shape[0] - y0, :canvas.shape[1] - x0]
    knee = int(ground[1] - 0.3 * tall)
    assert np.abs(canvas[knee:, :, 3].astype(int) - view[knee:, :, 3]).sum() > 50 * 255
    top = int(ground[1] - 0.85 * tall)
    assert np.abs(canvas[:top].astype(int) - view[:top]).max() <= 2
    # its seated view: arms raised sideways move, the head does not
    sit = np.asarray(_seated.convert("RGBA"))
    rows = np.nonzero(sit[..., 3] > 8)[0]
    sit_ground = (ground[0], float(rows.max()))
    sit_rig = rig.rig_for(sit, "sit_front", sit_ground, tall, None,
                          (sit_ground[0], float(rows.min())))
    rest = np.concatenate([sit_rig.joints[:18], np.ones((18, 1))], axis=1)
    raised = rest.copy()
    for shoulder, side in ((2, 1.0), (5, -1.0)):  # 60 degrees out from the body
        turn = math.radians(60.0) * side
        spin = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
        for joint in (shoulder + 1, shoulder + 2):
            raised[joint, :2] = rest[shoulder, :2] + spin @ (rest[joint, :2] - rest[shoulder, :2])
    size = (sit.shape[1], sit.shape[0])
    posed = rig_pose.pose(sit_rig, 0, sit, identity(), raised, size)
    assert posed is not None
    canvas = np.zeros_like(sit)
    x0, y0 = posed.origin
    h, w = posed.rgba.shape[:2]
    canvas[y0:y0 + h, x0:x0 + w] = posed.rgba[:canvas.shape[0] - y0, :canvas.shape[1] - x0]
    elbow_y = int(rest[3, 1])
    head_y = int(rest[0, 1])  # above the nose
    assert np.abs(canvas[elbow_y - 60:elbow_y].astype(int) - sit[elbow_y - 60:elbow_y]).sum() \
        > 50 * 255
    assert np.abs(canvas[:head_y].astype(int) - sit[:head_y]).max() <= 2


def test_rig_file_wins_and_is_validated(tmp_path: Path) -> None:
    joints = front_joints()
    view = drawn_view(joints)
    image = tmp_path / "front.png"
    cv2.imwrite(str(image), cv2.cvtColor(view, cv2.COLOR_RGBA2BGRA))
    args = ("front", GROUND, TALL, None, (GROUND[0], GROUND[1] - TALL))
    auto = rig.rig_for(view, *args, image=image)
    assert auto.source == "auto"
    written = rig.write_rig_file(image, auto, view, "front")
    assert written == tmp_path / "front.rig.toml"
    assert rig.write_rig_file(image, auto, view, "front") is None  # never over a file
    text = re.sub(r"r_elbow = \[([0-9.]+)",
                  lambda m: f"r_elbow = [{float(m.group(1)) - 40.0:.1f}", written.read_text())
    written.write_text(text)
    corrected = rig.rig_for(view, *args, image=image)
    assert corrected.source == str(written)
    assert corrected.joints[3, 0] == pytest.approx(auto.joints[3, 0] - 40.0, abs=0.11)
    assert not np.array_equal(corrected.labels, auto.labels)  # the arm is split anew
    other = view.copy()
    other[0, 0] = (1, 2, 3, 4)  # other image content: an unedited automatic rig is stale
    assert rig.rig_for(other, *args, image=image).source == "auto"
    written.write_text(text.replace("edited = false", "edited = true"))
    assert rig.rig_for(other, *args, image=image).source == str(written)
    written.write_text(text.replace("r_knee = [", "r_knee = [\"x\", "))
    with pytest.raises(SoloreelError, match=r"joints\.r_knee"):
        rig.rig_for(view, *args, image=image)
    written.write_text(text.replace("[radius]", "[radius]\nwing = 3.0"))
    with pytest.raises(SoloreelError, match=r"radius\.wing"):
        rig.rig_for(view, *args, image=image)
