"""Rigged cut-outs in close-ups (issue 20): a figure whose hips are below the frame is posed as
one piece, and the head turns with the skeleton's eye line, not its neck-to-head bone.

The figures here are drawn by the test (flat-coloured parts over the procedural figure's
joints, with markers at the eyes, the neck and the chest), and the lean is made by the test
too: the upper body turned about the hips towards a pinhole camera, so the head and shoulders
grow and move down on screen while the eye line stays level."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from render_engine.bible import Production, load_production
from render_engine.proxy import rig, rig_pose
from render_engine.proxy.shot import ShotFrames
from render_engine.spec import ShotSpec

VIEW = (384, 512)  # width, height of the drawn views
GROUND = (191.5, 495.5)
TALL = 470.0
SKIN, TORSO, ARM, LEG = (240, 200, 160), (200, 40, 40), (40, 200, 40), (200, 200, 40)
EYE, NECK, CHEST = (0, 255, 255), (255, 0, 255), (255, 128, 0)
LIMBS = ("r_upper_arm", "r_lower_arm", "l_upper_arm", "l_lower_arm", "r_upper_leg",
         "r_lower_leg", "l_upper_leg", "l_lower_leg")
UPPER = (0, 1, 2, 5, 14, 15, 16, 17)
"""The joints a lean turns about the hips (the arms are placed by each test)."""


def _point(p: np.ndarray) -> tuple[int, int]:
    return round(float(p[0])), round(float(p[1]))


def drawn_view(joints: np.ndarray) -> np.ndarray:
    """An RGBA figure painted over `joints` (20, 2): torso quad, neck, head disc, limbs as
    thick lines, and markers: cyan eyes, a magenta neck, an orange chest (on the spine,
    0.25 of the way from the neck to the hips)."""
    image = np.zeros((VIEW[1], VIEW[0], 4), np.uint8)
    quad = np.round(joints[[2, 5, 11, 8]]).astype(np.int32)
    cv2.fillConvexPoly(image, quad, (*TORSO, 255))
    for name in LIMBS:
        spec = rig.PARTS[name]
        colour = LEG if "leg" in name else ARM
        cv2.line(image, _point(joints[spec.pivot]), _point(joints[spec.end]), (*colour, 255),
                 14 if "leg" in name else 10)
    cv2.line(image, _point(joints[1]), _point(joints[rig.HEAD]), (*SKIN, 255), 14)
    cv2.circle(image, _point(joints[rig.HEAD]), 30, (*SKIN, 255), -1)
    for eye in (14, 15):
        cv2.circle(image, _point(joints[eye]), 3, (*EYE, 255), -1)
    cv2.circle(image, _point(joints[1]), 4, (*NECK, 255), -1)
    chest = joints[1] + 0.25 * (joints[rig.MID_HIP] - joints[1])
    cv2.circle(image, _point(chest), 4, (*CHEST, 255), -1)
    return image


def seated() -> tuple[np.ndarray, np.ndarray, rig.Rig]:
    """(joints (20, 2), view, rig) of a seated front view."""
    joints = rig.fitted_joints("sit_front", GROUND, TALL, None,
                               (GROUND[0], GROUND[1] - 0.72 * TALL))
    view = drawn_view(joints)
    return joints, view, rig.build_rig(view, "sit_front", joints, TALL)


def standing() -> tuple[np.ndarray, np.ndarray, rig.Rig]:
    """(joints (20, 2), view, rig) of a standing front view."""
    joints = rig.fitted_joints("front", GROUND, TALL, None, (GROUND[0], GROUND[1] - TALL))
    view = drawn_view(joints)
    return joints, view, rig.build_rig(view, "front", joints, TALL)


def framing(scale: float, turn_deg: float, at: tuple[float, float],
            joints: np.ndarray) -> np.ndarray:
    """2x3 view → frame: the view scaled, rolled by `turn_deg` and moved so its eyes' midpoint
    lands on `at` (frame pixels)."""
    c, s = scale * math.cos(math.radians(turn_deg)), scale * math.sin(math.radians(turn_deg))
    linear = np.array([[c, -s], [s, c]])
    eyes = joints[[14, 15]].mean(axis=0)
    return np.concatenate([linear, (np.asarray(at) - linear @ eyes)[:, None]], axis=1)


def placed(matrix: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """The view's joints placed by `matrix`, as an (18, 3) skeleton."""
    points = joints[:18] @ matrix[:, :2].T + matrix[:, 2]
    return np.concatenate([points, np.ones((18, 1))], axis=1)


def leaned(neutral: np.ndarray, degrees: float, centre: tuple[float, float],
           distance: float) -> np.ndarray:
    """The neutral skeleton with its upper body turned `degrees` about the hips towards a
    pinhole camera `distance` pixels away looking at `centre`: each joint's height over the
    hips shrinks by the cosine, it comes nearer by the sine, and its offset from `centre`
    grows as it nears (perspective)."""
    out = neutral.copy()
    hip_y = float(neutral[[8, 11], 1].mean())
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    for j in UPPER:
        x, y = neutral[j, :2]
        height = hip_y - y
        near = distance / (distance - height * s)
        out[j, :2] = (centre[0] + (x - centre[0]) * near,
                      centre[1] + (hip_y - height * c - centre[1]) * near)
    return out


def rendered(view: np.ndarray, the_rig: rig.Rig, matrix: np.ndarray, skeleton: np.ndarray,
             neutral: np.ndarray, size: tuple[int, int], **options: object
             ) -> tuple[np.ndarray, rig_pose.Posed | None]:
    """(the frame's straight RGBA, the Posed) of the view posed into a frame of `size`; a
    rest pose (None) draws the unrigged cut-out."""
    posed = rig_pose.pose(the_rig, 0, view, matrix, skeleton, size, neutral=neutral,
                          **options)  # type: ignore[arg-type]
    if posed is None:
        return unrigged(view, matrix, size), None
    frame = np.zeros((size[1], size[0], 4), np.uint8)
    x0, y0 = posed.origin
    h, w = posed.rgba.shape[:2]
    frame[y0:y0 + h, x0:x0 + w] = posed.rgba[:size[1] - y0, :size[0] - x0]
    return frame, posed


def unrigged(view: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.warpAffine(view, matrix, size, flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))


def eye_point(frame: np.ndarray) -> np.ndarray:
    """The painted eyes' midpoint: the centroid of the eye markers, each pixel weighted by how
    much of the marker's cyan (against the skin) it shows."""
    red, blue = frame[..., 0].astype(float), frame[..., 2].astype(float)
    weight = np.clip((SKIN[0] - red) / SKIN[0], 0.0, 1.0) * (blue >= 150) * (frame[..., 3] > 250)
    ys, xs = np.nonzero(weight)
    assert xs.size > 10, "no eyes in the frame"
    w = weight[ys, xs]
    return np.array([(xs * w).sum(), (ys * w).sum()]) / w.sum()


def marker(frame: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    hit = (np.abs(frame[..., :3].astype(int) - colour).sum(axis=2) < 60) & (frame[..., 3] > 250)
    ys, xs = np.nonzero(hit)
    assert xs.size > 5, colour
    return np.array([xs.mean(), ys.mean()])


def eye_line_deg(frame: np.ndarray) -> float:
    """The on-screen angle of the line through the two eye markers."""
    red, blue = frame[..., 0].astype(int), frame[..., 2].astype(int)
    hit = ((red < 120) & (blue >= 200) & (frame[..., 3] > 250)).astype(np.uint8)
    count, _labels, stats, centres = cv2.connectedComponentsWithStats(hit)
    blobs = sorted(range(1, count), key=lambda i: -stats[i, cv2.CC_STAT_AREA])[:2]
    assert len(blobs) == 2
    (ax, ay), (bx, by) = sorted(centres[blobs].tolist())
    return math.degrees(math.atan2(by - ay, bx - ax))


def holes(frame: np.ndarray, below: float) -> int:
    """Transparent pixels inside the figure: those enclosed by it (not connected to the
    frame's border) anywhere, and, above row `below` (head, neck, shoulders), those in cracks
    narrower than about 9 px (what a morphological closing fills)."""
    solid = (frame[..., 3] > 127).astype(np.uint8)
    _count, labels = cv2.connectedComponents(1 - solid)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    enclosed = (solid == 0) & ~np.isin(labels, border)
    padded = cv2.copyMakeBorder(solid, 9, 9, 9, 9, cv2.BORDER_CONSTANT, value=0)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    closed = cv2.morphologyEx(padded, cv2.MORPH_CLOSE, kernel)[9:-9, 9:-9]
    cracks = (closed > 0) & (solid == 0)
    cracks[max(0, int(below)):] = False
    return int((enclosed | cracks).sum())


def spine_deg(frame: np.ndarray) -> float:
    """The on-screen slant (degrees from vertical) of the neck marker → chest marker line."""
    neck, chest = marker(frame, NECK), marker(frame, CHEST)
    return math.degrees(math.atan2(chest[0] - neck[0], chest[1] - neck[1]))


def _angle(matrix: np.ndarray) -> float:
    return math.degrees(math.atan2(matrix[1, 0], matrix[0, 0]))


@pytest.mark.parametrize(("scale", "roll", "at", "size"), [
    (1.0, 0.0, (80.0, 78.0), (320, 220)),     # an MCU, the sitter left of centre
    (0.7, 4.0, (250.0, 60.0), (320, 160)),    # smaller, rolled camera, right of centre
])
def test_a_seated_leaner_in_a_close_up_is_posed_in_one_piece(
        scale: float, roll: float, at: tuple[float, float], size: tuple[int, int]) -> None:
    joints, view, the_rig = seated()
    matrix = framing(scale, roll, at, joints)
    neutral = placed(matrix, joints)
    assert neutral[[8, 11], 1].min() > size[1]  # the hips are below the frame
    plain = unrigged(view, matrix, size)
    plain_slant = spine_deg(plain)
    neck_row = float(marker(plain, NECK)[1])
    plain_holes = holes(plain, neck_row)
    width, height = size
    for degrees in (0.0, 10.0, 20.0, 30.0, 40.0):
        skeleton = leaned(neutral, degrees, (width / 2, height / 2), 700.0)
        # the forearms reach for a table top below the frame
        skeleton[[3, 4, 6, 7], :2] = [[at[0] - 40, height + 40], [at[0] - 10, height + 80],
                                      [at[0] + 40, height + 40], [at[0] + 10, height + 80]]
        frame, posed = rendered(view, the_rig, matrix, skeleton, neutral, size,
                                split=rig_pose.FOREARMS)
        if degrees == 0.0:
            continue  # arms out of frame only: the cut-out may stay as painted
        assert posed is not None
        assert len({id(m) for m in posed.transforms.values()}) == 1, degrees  # one piece
        assert not posed.layers  # no forearm layer: the arms stay with the body
        wanted = skeleton[[14, 15], :2].mean(axis=0)
        assert np.hypot(*(eye_point(frame) - wanted)) <= 3.0, degrees
        slant = spine_deg(frame) - plain_slant
        assert abs(slant) <= rig_pose.BUST_TURN_DEG + 1.0, (degrees, slant)
        grown = float(np.hypot(*posed.transforms["torso"][:, 0]))
        assert grown >= 1.0 - 1e-6  # coming nearer grows the figure; it never shrinks
        neck_row = float(marker(frame, NECK)[1])
        assert holes(frame, neck_row) <= plain_holes * grown ** 2 + 8, degrees
    assert grown > 1.05  # the 40 degree lean shows as a bigger head and shoulders


def test_the_pose_fades_from_bones_to_one_piece_as_the_hips_leave_the_frame() -> None:
    """The same lean, framed lower and lower: with the hips in the frame the parts follow
    their bones; a short band below the bottom edge later it is one piece; the eyes move
    smoothly all the way (no pop as the framing changes)."""
    joints, _view, the_rig = seated()
    matrix = framing(1.0, 0.0, (160.0, 80.0), joints)
    neutral = placed(matrix, joints)
    skeleton = leaned(neutral, 35.0, (160.0, 120.0), 700.0)
    skeleton[3:5, 0] -= 25.0  # an arm moved: the bones differ from one piece
    hips = float(neutral[[8, 11], 1].mean())
    eye = joints[[14, 15]].mean(axis=0) @ matrix[:, :2].T + matrix[:, 2]
    kinds, eyes = [], []
    for height in range(int(hips) + 30, int(hips) - 60, -2):  # the frame's bottom rises
        found = rig_pose.part_transforms(the_rig, matrix, skeleton, neutral,
                                         frame_size=(320, height))
        kinds.append(len({id(m) for m in found.values()}))
        eyes.append(found["head"][:, :2] @ eye + found["head"][:, 2])
    assert kinds[0] > 3 and kinds[-1] == 1
    steps = np.hypot(*np.diff(np.array(eyes), axis=0).T)
    assert steps.max() < 3.0
    assert np.hypot(*(eyes[-1] - skeleton[[14, 15], :2].mean(axis=0))) < 0.5


def _head_moved(neutral: np.ndarray, shift: tuple[float, float], grow: float,
                roll_deg: float) -> np.ndarray:
    """The neutral with its head points grown, rolled about their centre and shifted."""
    moved = neutral.copy()
    heads = list(rig.HEAD_POINTS)
    centre = neutral[heads, :2].mean(axis=0)
    c, s = math.cos(math.radians(roll_deg)), math.sin(math.radians(roll_deg))
    spin = grow * np.array([[c, -s], [s, c]])
    moved[heads, :2] = (neutral[heads, :2] - centre) @ spin.T + centre + shift
    return moved


def _bone_turn_deg(neutral: np.ndarray, skeleton: np.ndarray) -> float:
    """How far the neck-to-head-centre bone turned (what the head used to follow)."""
    heads = list(rig.HEAD_POINTS)
    before = neutral[heads, :2].mean(axis=0) - neutral[1, :2]
    after = skeleton[heads, :2].mean(axis=0) - skeleton[1, :2]
    return math.degrees(math.atan2(after[1], after[0]) - math.atan2(before[1], before[0]))


@pytest.mark.parametrize("bust", [False, True])
def test_the_head_rolls_with_the_eye_line_not_the_neck_bone(bust: bool) -> None:
    """Whole figure in frame (bones) and a bust (one piece): rolling the skeleton's eye line
    rolls the painted head; the head coming towards the camera, down and sideways with a
    level eye line (the neck-to-head bone swings), leaves it level."""
    joints, view, the_rig = standing()
    matrix = framing(1.0, 0.0, (160.0, 70.0), joints)
    neutral = placed(matrix, joints)
    size = (320, 200) if bust else (320, 520)
    assert (neutral[[8, 11], 1].min() > size[1]) == bust
    plain = unrigged(view, matrix, size)
    assert abs(eye_line_deg(plain)) < 0.5
    rolled = _head_moved(neutral, (0.0, 0.0), 1.0, 10.0)
    frame, posed = rendered(view, the_rig, matrix, rolled, neutral, size)
    assert posed is not None
    wanted = 10.0 - (rig_pose.HEAD_ROLL_DEAD_DEG if bust else 0.0)
    assert abs(eye_line_deg(frame) - wanted) < 1.5, eye_line_deg(frame)
    assert abs(_angle(posed.transforms["head"]) - wanted) < 1.0
    nearer = _head_moved(neutral, (14.0, 16.0), 1.12, 0.0)
    assert abs(_bone_turn_deg(neutral, nearer)) > 5.0  # the bone swung...
    frame, posed = rendered(view, the_rig, matrix, nearer, neutral, size)
    assert abs(eye_line_deg(frame)) < 1.0  # ...the head did not
    if bust:  # the bust follows the face, in one piece
        assert posed is not None
        assert posed.transforms["head"] is posed.transforms["torso"]
        assert np.hypot(*(eye_point(frame) - nearer[[14, 15], :2].mean(axis=0))) <= 3.0
    else:  # the head turns about the neck, and did not: the cut-out stays as painted
        assert posed is None or abs(_angle(posed.transforms["head"])) < 0.5


def test_a_bust_turns_at_most_a_few_degrees() -> None:
    """The whole upper body rolled 15 degrees (a sideways sway): the bust follows the face
    but slants at most `BUST_TURN_DEG`, and the head rolls the rest, up to its own clamp."""
    joints, _view, the_rig = seated()
    matrix = framing(1.0, 0.0, (160.0, 60.0), joints)
    neutral = placed(matrix, joints)
    rolled = neutral.copy()
    hips = neutral[[8, 11], :2].mean(axis=0)
    turn = math.radians(15.0)
    spin = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    rolled[list(UPPER), :2] = (neutral[list(UPPER), :2] - hips) @ spin.T + hips
    found = rig_pose.part_transforms(the_rig, matrix, rolled, neutral, frame_size=(320, 200))
    assert _angle(found["torso"]) == pytest.approx(rig_pose.BUST_TURN_DEG, abs=1e-6)
    head = min(15.0, rig_pose.HEAD_TURN_DEG) - rig_pose.HEAD_ROLL_DEAD_DEG
    assert _angle(found["head"]) == pytest.approx(head, abs=0.01)
    eyes = joints[[14, 15]].mean(axis=0) @ matrix[:, :2].T + matrix[:, 2]
    landed = found["torso"][:, :2] @ eyes + found["torso"][:, 2]
    assert np.hypot(*(landed - rolled[[14, 15], :2].mean(axis=0))) < 1e-6


def test_profile_eyes_seen_edge_on_fall_back_to_the_ears() -> None:
    """Eyes nearly on top of each other (a profile) say nothing about the roll: the ears'
    line is used instead."""
    _joints, _view, the_rig = standing()
    matrix = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    neutral = placed(matrix, the_rig.joints)
    neutral[15, :2] = neutral[14, :2] + (1.0, 0.0)  # edge-on eyes
    skeleton = _head_moved(neutral, (0.0, 0.0), 1.0, 8.0)
    skeleton[15, :2] = skeleton[14, :2] + (0.0, 1.0)  # noise: a quarter turn of a 1 px line
    found = rig_pose.part_transforms(the_rig, matrix, skeleton, neutral)
    assert abs(_angle(found["head"]) - 8.0) < 0.5


def test_an_arm_in_the_frame_still_gestures_on_a_bust() -> None:
    joints, view, the_rig = seated()
    matrix = framing(1.0, 0.0, (160.0, 60.0), joints)
    neutral = placed(matrix, joints)
    size = (320, 200)
    down = neutral.copy()
    down[[3, 4], :2] = [[100.0, 260.0], [120.0, 300.0]]  # below the frame
    _frame, posed = rendered(view, the_rig, matrix, down, neutral, size)
    assert posed is None  # an arm reaching below the frame leaves the bust as painted
    raised = neutral.copy()  # the right arm swung 70 degrees out from the body
    shoulder = neutral[2, :2]
    turn = math.radians(70.0)
    spin = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    raised[[3, 4], :2] = (neutral[[3, 4], :2] - shoulder) @ spin.T + shoulder
    assert (raised[[3, 4], :2] > 0).all() and (raised[[3, 4], 1] < size[1]).all()
    _frame, posed = rendered(view, the_rig, matrix, raised, neutral, size)
    assert posed is not None
    assert posed.transforms["r_lower_arm"] is not posed.transforms["torso"]
    assert posed.transforms["head"] is posed.transforms["torso"]
    forearm = posed.transforms["r_lower_arm"]
    wrist = forearm[:, :2] @ (joints[4] @ matrix[:, :2].T + matrix[:, 2]) + forearm[:, 2]
    assert np.hypot(*(wrist - raised[4, :2])) < 2.0


@pytest.fixture(scope="module")
def production(demo_production: Path) -> Production:
    return load_production(demo_production)


def test_a_patio_leaner_in_an_mcu_is_posed_whole_with_the_figures_eyes(
        production: Production) -> None:
    """The demo's own sheet: Jane leaning on the patio table in an MCU acts (her lean moves
    her), in one piece, her painted eyes near the pose figure's."""
    spec = ShotSpec.model_validate({
        "shot": {"id": "lean", "size": "MCU", "subjects": ["jane"]}, "set": "patio",
        "characters": [{"name": "jane", "position": [0.75, 3.95], "facing": 180,
                        "action": "sit", "seat": "bench", "lean": "table"}], "seed": 3})
    frames = ShotFrames(spec, production, 640, 360, 24, 86400, (86400, 86448))
    for index in (0, 24):
        frame = frames.frame(index)
        sprite = next(s for s in frame.sprites if s.name == "jane")
        posed = sprite.extra.get("posed")
        assert posed is not None, index
        assert len({id(m) for m in posed.transforms.values()}) == 1
        assert abs(_angle(posed.transforms["torso"])) <= rig_pose.BUST_TURN_DEG + 1e-6
        eye = np.array(sprite.extra["eyes"])
        figure = min((p[14:16, :2].mean(axis=0) for p in frame.people),
                     key=lambda e: float(np.hypot(*(e - eye))))
        assert np.hypot(*(figure - eye)) <= 0.015 * 640, (index, eye, figure)
