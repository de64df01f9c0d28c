"""OpenPose COCO-18 tracks from the proxy's blocking: the control video the final tier follows.

Each character's skeleton is the procedural `standing_pose` figure placed exactly where its
cut-out stands: at the projected floor point, as tall as the projected height, turned by the
camera-relative facing, with the shot's action (seated figures put their hips over the floor
position, as their cut-outs do). A spec's `pose_track` (POSE_KEYPOINT frames) replaces the
procedural figure. Frames are drawn in the annotators' colours on black by `draw_poses`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from render_engine.bible import Production
from render_engine.errors import SoloreelError
from render_engine.pose.acting import (
    CharacterActing,
    acting_for,
    body_acting,
    figure_eye_height,
    speech_energy,
)
from render_engine.pose.openpose import (
    SEATED_EYE,
    SEATED_HEAD_FORWARD,
    body_keypoints,
    confidence,
    draw_poses,
    to_pose_keypoint_json,
)
from render_engine.proxy import lens
from render_engine.proxy.blocking import FIGURE_EYE_STANDING, SEATED_ACTIONS, seat_of
from render_engine.proxy.camera import Camera
from render_engine.proxy.cutouts import (
    NEAR_M,
    THIGH,
    Posture,
    choose_view,
    relative_facing,
)
from render_engine.spec import ShotSpec

__all__ = ["CharacterActing", "PoseJsonWriter", "PoseTrack", "acting_for", "pose_action",
           "pose_frame", "pose_keypoints", "rest_keypoints", "seat_cutouts",
           "speech_energy"]


def pose_action(posture: Posture, speaking: bool) -> str:
    """The procedural figure's action: a finished walk stands, a standing speaker talks."""
    action = posture.action
    if action == "walk" and not posture.walking:
        action = "stand"
    if speaking and action in ("stand", "turn"):
        action = "talk"
    return action


def pose_keypoints(camera: Camera, posture: Posture, height_m: float, t: float,
                   speaking: bool = False, seated_eye_m: float | None = None,
                   acting: CharacterActing | None = None, lift_m: float = 0.0
                   ) -> np.ndarray | None:
    """(18, 3) keypoints in frame pixels for one character, or None when behind the camera.

    The figure (`body_keypoints`) is built in metres in its own frame, turned to its heading,
    stood on the floor and projected through the shot's camera point by point, so a planted
    foot stays on its ground point and hips on a seat are drawn at the seat's height. A
    seated figure has its hips over the floor position and its feet a thigh in front. A
    seated figure on no seat of the set's (no `acting.seat`) keeps the older placement:
    shifted so its eyes land on the seated eye point (`seated_eye_m`, default the figure's
    own), where the seated cut-out paints its eyes. On a set's seat the hips rest on its top
    and the figure sits SEATED_HEAD_FORWARD back, so its eyes are over the floor position as
    the seated cut-out's are (`seat_cutouts` puts those at the figure's eye height). `lift_m`
    raises (or lowers) the whole figure off the floor (`rest_keypoints`)."""
    x, z = posture.x, posture.z
    action = pose_action(posture, speaking)
    heading = math.radians(posture.facing_deg)
    right = np.array([math.cos(heading), -math.sin(heading)])
    forward = np.array([math.sin(heading), math.cos(heading)])
    if action in SEATED_ACTIONS:  # the figure's feet are a thigh in front of the seat
        reach = THIGH
        if acting is not None and acting.seat is not None:  # eyes over the floor position
            reach -= SEATED_HEAD_FORWARD
        x += forward[0] * reach * height_m
        z += forward[1] * reach * height_m
    ground = lens.project(camera, np.array([x, 0.0, z]))
    if ground[2] < NEAR_M:
        return None
    body = body_keypoints(t, "stand" if action == "turn" else action,
                          body_acting(posture.facing_deg, height_m, t, acting, (x, z), speaking))
    if action == "lie":
        lat, fwd, up = body[:, 0], body[:, 1], body[:, 2]
        body = np.stack([lat, up - 0.5, 0.05 + 0.3 * (fwd + 0.06)], axis=1)
    world = np.empty((18, 3))
    world[:, 0] = x + (body[:, 0] * right[0] + body[:, 1] * forward[0]) * height_m
    world[:, 1] = body[:, 2] * height_m + lift_m
    world[:, 2] = z + (body[:, 0] * right[1] + body[:, 1] * forward[1]) * height_m
    points = lens.project(camera, world)
    if np.any(points[:, 2] < 1e-3):
        return None
    relative = relative_facing(camera, posture.x, posture.z, posture.facing_deg)
    figure = np.empty((18, 3))
    figure[:, :2] = points[:, :2]
    figure[:, 2] = confidence(math.radians(relative), action)
    if action == "sit" and (acting is None or acting.seat is None):
        eye_m = SEATED_EYE * height_m if seated_eye_m is None else seated_eye_m
        eyes = lens.project(camera, np.array([posture.x, eye_m, posture.z]))
        if eyes[2] >= NEAR_M:
            figure[:, :2] += eyes[:2] - figure[14:16, :2].mean(axis=0)
    return figure


class PoseTrack:
    """A character's recorded pose track (POSE_KEYPOINT frames), scaled to the frame."""

    def __init__(self, production: Production, relative: str, width: int, height: int):
        try:
            data = json.loads(production.resolve(relative).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SoloreelError(f"pose track {relative} cannot be read ({exc})") from exc
        frames = data if isinstance(data, list) else data.get("frames", [data])
        self.frames: list[np.ndarray] = []
        for frame in frames:
            people = frame.get("people") or []
            if not people:
                self.frames.append(np.zeros((18, 3)))
                continue
            points = np.asarray(people[0]["pose_keypoints_2d"], np.float64).reshape(18, 3)
            points[:, 0] *= width / float(frame.get("canvas_width", width))
            points[:, 1] *= height / float(frame.get("canvas_height", height))
            self.frames.append(points)
        if not self.frames:
            raise SoloreelError(f"pose track {relative} has no frames")

    def at(self, frame_index: int) -> np.ndarray:
        """The keypoints of a rendered frame (the last one holds past the track's end)."""
        return self.frames[min(max(frame_index, 0), len(self.frames) - 1)]


def pose_frame(width: int, height: int, people: list[np.ndarray]) -> np.ndarray:
    """One control-video frame: every skeleton on black in the standard colours."""
    return draw_poses(width, height, people)


class PoseJsonWriter:
    """Streams per-frame POSE_KEYPOINT dicts into one JSON list (memory stays flat)."""

    def __init__(self, path: Path, width: int, height: int):
        self.path = Path(path)
        self.width, self.height = width, height
        self._handle: TextIO | None = None
        self._count = 0

    def __enter__(self) -> PoseJsonWriter:
        self._handle = self.path.open("w", encoding="utf-8")
        self._handle.write("[")
        return self

    def write(self, people: list[np.ndarray]) -> None:
        """Append one frame."""
        assert self._handle is not None
        frame: dict[str, Any] = to_pose_keypoint_json(people, self.width, self.height)
        self._handle.write(("," if self._count else "") + "\n" + json.dumps(frame))
        self._count += 1

    def __exit__(self, *exc: object) -> None:
        assert self._handle is not None
        self._handle.write("\n]\n")
        self._handle.close()
        self._handle = None


def seat_cutouts(cast: dict[str, Any], spec: ShotSpec, production: Production) -> None:
    """Put the seated cut-outs of characters on a seat (`seat_of`: named, else the nearest
    one under them — the seat their skeleton's hips are on) with their painted eyes where the
    skeleton's are upright on that seat (`figure_eye_height`: the seat's height plus the
    figure's eyes above its hips) instead of on the sheet's painted seat, so the cut-out sits
    on the log, framing aims at its eyes and the pose figure agrees. `cast` maps names to
    `proxy.sheets.CastCutouts` (their `seated_eye_m` is set, per shot)."""
    for character in spec.characters:
        sheet = cast.get(character.name)
        if sheet is None or character.action != "sit":
            continue
        if seat_of(production, spec, character) is None:
            continue
        upright = character.model_copy(update={"lean": None})
        eye = figure_eye_height(upright, sheet.member.height_m, production, spec)
        if eye is not None:
            sheet.seated_eye_m = eye


def rest_keypoints(camera: Camera, posture: Posture, height_m: float, t: float,
                   seated_eye_m: float | None = None,
                   acting: CharacterActing | None = None,
                   views: list[str] | None = None) -> np.ndarray | None:
    """The figure at rest in the pose the character's cut-out view is painted in, placed
    where the unrigged cut-out is (frame pixels; None behind the camera): the neutral pose
    the rigged cut-out's parts turn from (`rig_pose`), breathing at shot time t.

    Standing: the standing figure. Seated on a seat of the height its sheet paints
    (`acting.painted_seat_m` unset): the seated figure on that same seat, as the frame's
    skeleton is. Seated on a seat of another height: the figure seated on the sheet's painted
    seat, moved up or down with the cut-out (its hips, like the cut-out's, on the real seat),
    so only its legs differ from the skeleton's and the rig bends them to the floor. A sheet
    without sit views (`acting.unseated_sheet`): the standing figure with its eyes on the
    seated eye point, where the unrigged standing view is put, so the rig bends its legs into
    the seated skeleton's. Either bend is made only where the rig can draw it: the sheet's
    view for the camera (`views`: the sheet's view names) is a turned one (three-quarter or
    side, where thighs are painted at length) and each thigh's length on screen changes no
    more than the rig stretches (`_thighs_drawable`); seen front-on a flat cut-out cannot
    swing a thigh towards the camera, so the painted legs are kept."""
    if not posture.seated:
        rest = Posture(posture.x, posture.z, posture.facing_deg, "stand", False, False)
        return pose_keypoints(camera, rest, height_m, t, False, seated_eye_m, None)
    rest = Posture(posture.x, posture.z, posture.facing_deg, "sit", False, True)
    seat = getattr(acting, "seat", None)
    seated = pose_keypoints(camera, rest, height_m, t, False, seated_eye_m,
                            None if seat is None else CharacterActing(seat=seat))
    if acting is None or not acting.bends() or seated is None:
        return seated
    if views is not None and not _turned_view(camera, posture, views):
        return seated
    if acting.unseated_sheet:
        painted = _lowered_standing(camera, posture, height_m, t, seated_eye_m, seated)
    else:
        assert seat is not None and acting.painted_seat_m is not None
        on_painted = CharacterActing(seat=seat.model_copy(
            update={"height_m": acting.painted_seat_m}))
        painted = pose_keypoints(camera, rest, height_m, t, False, seated_eye_m, on_painted,
                                 lift_m=seat.height_m - acting.painted_seat_m)
    if painted is None or not _thighs_drawable(painted, seated):
        return seated
    return painted


def _lowered_standing(camera: Camera, posture: Posture, height_m: float, t: float,
                      seated_eye_m: float | None, seated: np.ndarray) -> np.ndarray | None:
    """The standing figure lowered until its eyes are on the seated eye point over the floor
    position (where the unrigged standing view of a sheet without sit views is put), its
    arms those of the `seated` figure at rest: the painted arms stay as painted until the
    skeleton gestures."""
    eye_m = SEATED_EYE * height_m if seated_eye_m is None else seated_eye_m
    heading = math.radians(posture.facing_deg)
    back = SEATED_HEAD_FORWARD * height_m  # the standing eyes are this far ahead of the feet
    standing = Posture(posture.x - math.sin(heading) * back,
                       posture.z - math.cos(heading) * back, posture.facing_deg, "stand")
    figure = pose_keypoints(camera, standing, height_m, t,
                            lift_m=eye_m - FIGURE_EYE_STANDING * height_m)
    if figure is not None:
        figure[2:8, :2] = seated[2:8, :2] - seated[1, :2] + figure[1, :2]
    return figure


def _turned_view(camera: Camera, posture: Posture, views: list[str]) -> bool:
    """Whether the sheet's view for this camera (`cutouts.choose_view`) is a three-quarter or
    side one."""
    relative = relative_facing(camera, posture.x, posture.z, posture.facing_deg)
    name, _mirrored = choose_view(views, relative, True)
    return name.endswith(("three_quarter", "side"))


def _thighs_drawable(painted: np.ndarray, seated: np.ndarray) -> bool:
    """Whether the rig can turn the painted thighs onto the seated figure's: each thigh's
    length on screen changes by no more than the rig's stretch range (`rig_pose`'s
    SCALE_RANGE). Seen front-on a seated thigh points at the camera and is far shorter on
    screen than a painted standing or knee-high one (or far longer, rising to a knee above a
    floor cushion): a flat part stretched that far reads as a broken leg, and its knee lands
    off the skeleton's, so the feet would still miss the floor."""
    from render_engine.proxy.rig_pose import SCALE_RANGE

    for hip, knee in ((8, 9), (11, 12)):
        before = float(np.hypot(*(painted[knee, :2] - painted[hip, :2])))
        after = float(np.hypot(*(seated[knee, :2] - seated[hip, :2])))
        if before < 1e-6 or not SCALE_RANGE[0] <= after / before <= SCALE_RANGE[1]:
            return False
    return True
