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
from render_engine.proxy.blocking import SEATED_ACTIONS
from render_engine.proxy.camera import Camera
from render_engine.proxy.cutouts import NEAR_M, THIGH, Posture, relative_facing
from render_engine.spec import ShotSpec

__all__ = ["CharacterActing", "PoseJsonWriter", "PoseTrack", "acting_for", "pose_action",
           "pose_frame", "pose_keypoints", "seat_cutouts", "speech_energy"]


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
                   acting: CharacterActing | None = None) -> np.ndarray | None:
    """(18, 3) keypoints in frame pixels for one character, or None when behind the camera.

    The figure (`body_keypoints`) is built in metres in its own frame, turned to its heading,
    stood on the floor and projected through the shot's camera point by point, so a planted
    foot stays on its ground point and hips on a seat are drawn at the seat's height. A
    seated figure has its hips over the floor position and its feet a thigh in front. A
    seated figure on no seat of the set's (no `acting.seat`) keeps the older placement:
    shifted so its eyes land on the seated eye point (`seated_eye_m`, default the figure's
    own), where the seated cut-out paints its eyes. On a set's seat the hips rest on its top
    and the figure sits SEATED_HEAD_FORWARD back, so its eyes are over the floor position as
    the seated cut-out's are (`seat_cutouts` puts those at the figure's eye height)."""
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
    world[:, 1] = body[:, 2] * height_m
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
    """Put the seated cut-outs of characters on a named seat with their painted eyes where
    the skeleton's are upright on that seat (`figure_eye_height`: the seat's height plus the
    figure's eyes above its hips) instead of on the sheet's knee-high seat, so the cut-out
    sits on the log, framing aims at its eyes and the pose figure agrees. `cast` maps names
    to `proxy.sheets.CastCutouts` (their `seated_eye_m` is set, per shot)."""
    for character in spec.characters:
        sheet = cast.get(character.name)
        if sheet is None or character.action != "sit" or not character.seat:
            continue
        upright = character.model_copy(update={"lean": None})
        eye = figure_eye_height(upright, sheet.member.height_m, production)
        if eye is not None:
            sheet.seated_eye_m = eye
