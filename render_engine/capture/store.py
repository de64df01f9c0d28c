"""Captured performances on disk, keyed by the take's bytes, and looked up by dialog line.

`soloreel capture` stores a take's performance under `renders/capture/<sha256 of the take>/`
(`performance.npz`, written atomically); a dialog line whose `recording` is that take then
carries it: its audio is the take converted to the character's voice and aligned to the line's
text (`audio.dialog`, `audio.conversion`), and its expression track plays from the line's
`start` on the edit, frame for frame with the take, so moving or retiming the line moves the
performance with it. Renders only read this cache; they never run the face models.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from render_engine.atomic import write_bytes_atomic
from render_engine.bible import Production
from render_engine.capture.mesh import FaceMesh
from render_engine.capture.track import EXPRESSIONS, POSE, Performance, capture_frames
from render_engine.errors import SoloreelError
from render_engine.spec import DialogLine, ShotSpec

CAPTURE_VERSION = 3
"""Bumped when the mesh, smoothing or expression measures change their output."""
FILE = "performance.npz"


def take_digest(path: Path) -> str:
    """SHA-256 of the take's bytes and the capture version: the performance's cache key."""
    digest = hashlib.sha256(f"capture-{CAPTURE_VERSION}:".encode())
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def capture_folder(take: Path, production: Production) -> Path:
    """Where the performance of `take` is (or will be) stored in `production`."""
    return production.renders_dir() / "capture" / take_digest(take)


def save(performance: Performance, path: Path) -> None:
    """Write `performance` to `path` (.npz) atomically."""
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, fps=performance.fps, size=np.asarray(performance.size),
        points=performance.points.astype(np.float32), pose=performance.pose,
        expressions=performance.expressions, neutral=performance.neutral,
        missing=np.asarray(performance.missing, np.int64),
        times=performance.times if performance.times is not None else np.zeros(0),
        channels=np.asarray(EXPRESSIONS), pose_channels=np.asarray(POSE))
    write_bytes_atomic(path, buffer.getvalue())


def load(path: Path) -> Performance:
    """A performance written by `save`."""
    with np.load(path) as data:
        if tuple(data["channels"]) != EXPRESSIONS:
            raise SoloreelError(f"{path} was captured by another soloreel version; run "
                                "`soloreel capture` on the take again")
        return Performance(float(data["fps"]), (int(data["size"][0]), int(data["size"][1])),
                           data["points"].astype(np.float64), data["pose"],
                           data["expressions"], data["neutral"],
                           [int(i) for i in data["missing"]],
                           data["times"] if data["times"].size else None)


def read_frames(path: Path, times: list[float] | None = None
                ) -> tuple[Iterator[np.ndarray], float, int]:
    """The take's video frames (RGB), its frame rate and frame count (0 when unknown); a
    SoloreelError naming the file when it has no video. `times`, when given, gets each
    frame's time from the start of the take's sound (its first audio sample, where the
    converted line starts) as the frame is read."""
    import av

    try:
        container = av.open(str(path))
    except (OSError, av.error.FFmpegError) as exc:
        raise SoloreelError(f"capture: cannot read {path} ({exc}); record the take as a video "
                            "file (MP4, MOV, MKV, WebM)") from exc
    if not container.streams.video:
        container.close()
        raise SoloreelError(f"capture: {path} has no video; record the take with the camera on")
    stream = container.streams.video[0]
    rate = float(stream.average_rate or stream.guessed_rate or 25)
    origin = 0.0
    if container.streams.audio:
        sound = container.streams.audio[0]
        if sound.start_time is not None and sound.time_base is not None:
            origin = float(sound.start_time * sound.time_base)

    def frames() -> Iterator[np.ndarray]:
        with container:
            for index, frame in enumerate(container.decode(stream)):
                if times is not None:
                    times.append(frame.time - origin if frame.time is not None
                                 else index / rate)
                yield frame.to_ndarray(format="rgb24")

    return frames(), rate, int(stream.frames or 0)


def capture_take(take: Path, production: Production | None = None,
                 mesh: FaceMesh | None = None) -> Performance:
    """The performance of the take at `take`: from the production's cache when this take's
    bytes were captured before, else captured now (and stored when there is a production)."""
    take = Path(take)
    if not take.is_file():
        raise SoloreelError(f"capture: take {take} does not exist; check the path")
    target = capture_folder(take, production) / FILE if production is not None else None
    if target is not None and target.is_file():
        return load(target)
    times: list[float] = []
    frames, fps, _ = read_frames(take, times)
    performance = capture_frames(frames, fps, mesh, times)
    if performance.frames == 0:
        raise SoloreelError(f"capture: {take} holds no frames; record the take again")
    if target is not None:
        save(performance, target)
    return performance


@dataclass(frozen=True)
class LineCapture:
    """A dialog line played by a captured take: who speaks, from when (shot seconds)."""

    speaker: str
    start: float
    performance: Performance
    take: Path | None = None
    take_address: str = ""


def line_captures(spec: ShotSpec, production: Production) -> list[LineCapture]:
    """The shot's dialog lines whose recording has been captured (V.O. lines excluded: no
    face to drive); lines without a capture keep their visemes."""
    return [LineCapture(line.speaker, line.start,
                        load(production.renders_dir() / "capture" / address / FILE), take,
                        address)
            for line, take, address in _captured_lines(spec, production)]


def captured_takes(spec: ShotSpec, production: Production) -> list[str]:
    """The capture addresses (`take_digest`) of the shot's dialog lines played by a captured
    take, in line order: part of a render's content hash, so capturing a take (or a new
    capture version) re-renders the shots whose lines it plays; empty when none is."""
    return [address for _line, _take, address in _captured_lines(spec, production)]


def _captured_lines(spec: ShotSpec, production: Production
                    ) -> list[tuple[DialogLine, Path, str]]:
    """(line, take, capture address) of the shot's lines whose take has been captured."""
    found = []
    for line in spec.dialog:
        if not line.recording or line.audio_only:
            continue
        try:
            take = production.resolve(line.recording)
        except SoloreelError:
            continue
        if not take.is_file():
            continue
        address = take_digest(take)
        if (production.renders_dir() / "capture" / address / FILE).is_file():
            found.append((line, take, address))
    return found


def expression_at(captures: list[LineCapture], speaker: str, seconds: float
                  ) -> dict[str, float] | None:
    """The speaker's captured expression and head pose at shot time `seconds` (the take's
    frame under that moment, counted from the line's start), or None when no captured line
    of theirs is playing or the take has no face in that frame (visemes then take over)."""
    for capture in captures:
        if capture.speaker != speaker:
            continue
        index = capture.performance.frame_at(seconds - capture.start)
        if index is None:
            continue
        row = capture.performance.expressions[index]
        pose = capture.performance.pose[index]
        if not (np.all(np.isfinite(row)) and np.all(np.isfinite(pose))):
            return None
        values = dict(zip(EXPRESSIONS, (float(v) for v in row), strict=True))
        values.update(zip(POSE, (float(v) for v in pose), strict=True))
        return values
    return None


def take_face_crops(captures: list[LineCapture], speaker: str, times: list[float],
                    size: int, margin: float) -> dict[int, np.ndarray]:
    """`size`² crops of the performer's own face from the take, for each of `times` (shot
    seconds) at which `speaker` is playing a captured line: square, centred on the face
    mesh of that take frame, its side the mesh's extent x `margin` (what Wan-Animate's
    preprocessing cuts for `face_video`), padded with edge pixels. Keyed by the index into
    `times`; moments with no captured face are left out (the caller keeps its own crop)."""
    import cv2

    wanted: dict[tuple[int, int], list[int]] = {}
    for position, seconds in enumerate(times):
        for number, capture in enumerate(captures):
            if capture.speaker != speaker or capture.take is None:
                continue
            index = capture.performance.frame_at(seconds - capture.start)
            if index is not None and np.isfinite(capture.performance.points[index]).all():
                wanted.setdefault((number, index), []).append(position)
                break
    crops: dict[int, np.ndarray] = {}
    for number, capture in enumerate(captures):
        indices = {i for n, i in wanted if n == number}
        if not indices or capture.take is None:
            continue
        frames, _, _ = read_frames(capture.take)
        last = max(indices)
        for index, rgb in enumerate(frames):
            if index in indices:
                points = capture.performance.points[index][:, :2]
                low, high = points.min(axis=0), points.max(axis=0)
                side = max(float((high - low).max()) * margin, 8.0)
                cx, cy = (low + high) / 2
                x0, y0 = round(cx - side / 2), round(cy - side / 2)
                x1, y1 = x0 + round(side), y0 + round(side)
                h, w = rgb.shape[:2]
                pad = max(0, -x0, -y0, x1 - w, y1 - h)
                padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE) \
                    if pad else rgb
                crop = np.ascontiguousarray(padded[y0 + pad:y1 + pad, x0 + pad:x1 + pad])
                crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA
                                  if crop.shape[0] > size else cv2.INTER_CUBIC)
                for position in wanted[(number, index)]:
                    crops[position] = crop
            if index >= last:
                frames.close()  # type: ignore[attr-defined]
                break
    return crops
