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
from render_engine.pose.openpose import (
    SEATED_EYE,
    draw_poses,
    standing_pose,
    to_pose_keypoint_json,
)
from render_engine.proxy import lens
from render_engine.proxy.camera import Camera
from render_engine.proxy.cutouts import NEAR_M, THIGH, Posture, relative_facing


def pose_action(posture: Posture, speaking: bool) -> str:
    """The procedural figure's action: a finished walk stands, a standing speaker talks."""
    action = posture.action
    if action == "walk" and not posture.walking:
        action = "stand"
    if speaking and action in ("stand", "turn"):
        action = "talk"
    return action


def pose_keypoints(camera: Camera, posture: Posture, height_m: float, t: float,
                   speaking: bool = False, seated_eye_m: float | None = None
                   ) -> np.ndarray | None:
    """(18, 3) keypoints in frame pixels for one character, or None when behind the camera.

    A seated figure is scaled like its cut-out (by its height projected at the seat) and
    shifted so its eyes land on the seated eye point above the seat (`seated_eye_m`, default
    the figure's own), exactly where the seated cut-out puts its painted eyes."""
    x, z = posture.x, posture.z
    action = pose_action(posture, speaking)
    if action == "sit":  # the figure's feet are a thigh in front of the seat
        heading = math.radians(posture.facing_deg)
        x += math.sin(heading) * THIGH * height_m
        z += math.cos(heading) * THIGH * height_m
    points = lens.project(camera, np.array([[x, 0.0, z], [x, height_m, z]]))
    if points[0, 2] < NEAR_M:
        return None
    feet = (float(points[0, 0]), float(points[0, 1]))
    if action == "sit":  # scaled at the seat, like the seated cut-out
        seat_px = lens.project(camera, np.array([[posture.x, 0.0, posture.z],
                                                 [posture.x, height_m, posture.z]]))
        height_px = float(np.hypot(*(seat_px[1, :2] - seat_px[0, :2])))
    else:
        height_px = float(np.hypot(*(points[1, :2] - points[0, :2])))
    relative = relative_facing(camera, posture.x, posture.z, posture.facing_deg)
    figure = standing_pose(feet, height_px, relative, t, action,
                           distance=float(points[0, 2]) / height_m,
                           camera_up=camera.position[1] / height_m)
    if action == "sit":
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
