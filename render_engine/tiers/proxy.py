"""The proxy tier: the 2.5D animatic of a shot, its dialog, and the pose control video.

Frames come from `render_engine.proxy.shot.ShotFrames` one at a time and go straight into the
encoder (the production's profile, dialog muxed), while the skeletons of the same frames go
into `pose.mp4` (black, the annotators' colours) and `pose.json` (POSE_KEYPOINT per frame) next
to the movie: the final tier renders over exactly this blocking. Pose drawing and encoding run
on a second thread behind a short queue, so they overlap compositing on two cores and memory
stays flat however long the shot is. Each picture is converted to the encoder's YUV only where
it differs from the previous one (`media.encode.changed_regions`: a still camera's frame changes
around its characters and the fire, a pose frame around its skeletons) — the pictures encoded
are the same.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import numpy as np

from render_engine.audio.dialog import RATE, mix_dialog, spoken_lines
from render_engine.media.encode import VideoWriter, changed_regions, probe, timecode_at
from render_engine.proxy.poses import PoseJsonWriter, pose_frame
from render_engine.proxy.shot import ShotFrames
from render_engine.render import RenderJob

POSE_VIDEO = "pose.mp4"
POSE_JSON = "pose.json"
POSE_PROFILE = "control"
QUEUE_FRAMES = 4
"""Frames waiting for the encoder at most (bounds memory)."""


class _Encoder(threading.Thread):
    """Draws the pose control frames and encodes both movies, from a bounded queue.

    Runs beside the compositor: frame i's skeletons are drawn and written (pose.json,
    pose.mp4) and its picture encoded while frame i + 1 is being composited. One thread for
    both outputs: drawing the skeletons is Python holding the GIL, and a third thread drawing
    them beside the compositor slows its Python as much as it saves in encoding.
    """

    def __init__(self, movie: VideoWriter, poses: VideoWriter, pose_json: PoseJsonWriter,
                 width: int, height: int):
        super().__init__(name="proxy-encoder", daemon=True)
        self.movie, self.poses, self.pose_json = movie, poses, pose_json
        self.size = (width, height)
        self.queue: queue.Queue[tuple[np.ndarray, list[np.ndarray]] | None] = queue.Queue(
            QUEUE_FRAMES)
        self.error: BaseException | None = None
        self.seconds = {"encode": 0.0, "pose_draw": 0.0, "pose_encode": 0.0}
        self._last_frame: np.ndarray | None = None
        """The previous picture and pose frame written (each frame is a new array)."""
        self._last_pose: np.ndarray | None = None

    def run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if self.error is not None:
                continue  # drain, so the producer never blocks on a dead consumer
            try:
                self._write(*item)
            except BaseException as exc:  # reported on the producer's thread
                self.error = exc

    def _write(self, frame: np.ndarray, people: list[np.ndarray]) -> None:
        started = time.perf_counter()
        # only what changed since the previous frame is converted to YUV (the same pictures)
        self.movie.write(frame, changed=changed_regions(frame, self._last_frame))
        self._last_frame = frame
        drawn = time.perf_counter()
        pose = pose_frame(*self.size, people)
        self.pose_json.write(people)
        encoded = time.perf_counter()
        self.poses.write(pose, changed=changed_regions(pose, self._last_pose))
        self._last_pose = pose
        self.seconds["encode"] += drawn - started
        self.seconds["pose_draw"] += encoded - drawn
        self.seconds["pose_encode"] += time.perf_counter() - encoded

    def put(self, frame: np.ndarray, people: list[np.ndarray]) -> None:
        """Queue one frame (blocks while the queue is full); re-raises encoder errors."""
        if self.error is not None:
            raise self.error
        self.queue.put((frame, people))

    def abort(self) -> None:
        """Stop after the queued frames without raising (the caller is already failing)."""
        self.queue.put(None)
        self.join()

    def finish(self) -> None:
        """Wait for the queue to drain; re-raises encoder errors."""
        self.queue.put(None)
        self.join()
        if self.error is not None:
            raise self.error


def render(job: RenderJob) -> dict[str, Any]:
    """Write the shot's proxy movie (handles included), pose.mp4 and pose.json."""
    started = time.perf_counter()
    lines = spoken_lines(job.spec, job.production, job.label)
    first_seconds = job.shot_seconds(0)
    audio = mix_dialog(lines, first_seconds, job.frame_count / job.fps) if lines else None
    shot = ShotFrames(job.spec, job.production, job.width, job.height, job.fps, job.first,
                      job.shown, lines)
    setup = time.perf_counter() - started
    folder = job.out_path.parent
    metadata = {"comment": f"soloreel shot {job.spec.shot.id} tier proxy",
                "title": job.spec.shot.id}
    profile = job.production.settings.encode.profile
    timecode = timecode_at(job.first, job.fps)
    pose_meta = {"comment": f"soloreel shot {job.spec.shot.id} openpose control",
                 "title": f"{job.spec.shot.id} pose"}
    with (VideoWriter(job.out_path, job.width, job.height, job.fps, profile=profile,
                      audio=(audio, RATE) if audio is not None else None,
                      metadata=metadata, timecode=timecode) as movie,
          VideoWriter(folder / POSE_VIDEO, job.width, job.height, job.fps,
                      profile=POSE_PROFILE, metadata=pose_meta,
                      timecode=timecode) as pose_movie,
          PoseJsonWriter(folder / POSE_JSON, job.width, job.height) as pose_json):
        encoder = _Encoder(movie, pose_movie, pose_json, job.width, job.height)
        encoder.start()
        try:
            for index in range(job.frame_count):
                frame = shot.frame(index)
                encoder.put(frame.rgb, frame.people)
                job.progress(1)
        except BaseException:
            encoder.abort()
            raise
        encoder.finish()
    info = probe(job.out_path)
    if info.frame_count != job.frame_count:
        raise RuntimeError(f"encoder wrote {info.frame_count} frames, expected {job.frame_count}")
    poses = probe(folder / POSE_VIDEO)
    if poses.frame_count != job.frame_count:
        raise RuntimeError(f"pose video has {poses.frame_count} frames, expected "
                           f"{job.frame_count}")
    total = time.perf_counter() - started
    stages = {"setup": setup, **shot.times.seconds, **encoder.seconds, "total": total}
    return {
        "media_frames": info.frame_count,
        "pose_video": POSE_VIDEO,
        "pose_json": POSE_JSON,
        "dialog_lines": len(lines),
        "stage_seconds": {k: round(v, 4) for k, v in stages.items()},
        "frames_per_second": round(job.frame_count / total, 2) if total > 0 else None,
    }
