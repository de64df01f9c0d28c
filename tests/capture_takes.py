"""Synthetic takes for the capture tests, built from a real face photo bundled offline.

The photo is matplotlib's `sample_data/grace_hopper.jpg` (matplotlib is a core dependency;
scikit-image's astronaut is not installed here). A take moves, scales, rolls and yaws that photo
and opens its mouth by warping the lower lip and chin down and darkening the gap between the
lips, frame by frame, with a synthetic voice-like audio track whose loudness follows the mouth.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import matplotlib
import numpy as np
import pytest
from PIL import Image

from render_engine.capture import models

NEEDS_MODELS = pytest.mark.skipif(
    not (models.model_dir() / models.MESH.name).is_file()
    or importlib.util.find_spec("ai_edge_litert") is None,
    reason=f"face models or ai-edge-litert not installed; run {models.FETCH_COMMAND} and "
    "pip install -e '.[ml]'")
"""Capture tests run MediaPipe's models, which the install step fetches (never a test)."""

PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
MOUTH = (268.0, 278.5, 37.0)
"""Mouth centre x, y and half width in the photo's pixels (measured with the face mesh)."""
GAP_PX = 34.0
"""Lower-lip drop of a fully open mouth, photo pixels."""
FACE_CENTRE = (266.0, 240.0)


def photo() -> np.ndarray:
    """The bundled face photo as RGB uint8."""
    return np.asarray(Image.open(PHOTO).convert("RGB"))


def open_mouth(rgb: np.ndarray, amount: float) -> np.ndarray:
    """The photo with its mouth opened by `amount` (0 shut, 1 wide): lower lip and chin pushed
    down (fading out towards the cheeks and the neck) and the lens between the lips dark."""
    if amount <= 0:
        return rgb.copy()
    h, w = rgb.shape[:2]
    cx, cy, half = MOUTH
    drop = GAP_PX * amount
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    across = np.exp(-(((xx - cx) / (1.5 * half)) ** 2))
    below = np.clip((yy - cy) / 4.0, 0.0, 1.0) * np.clip((cy + 150 - yy) / 60.0, 0.0, 1.0)
    shift = drop * across * below
    out = cv2.remap(rgb, xx, yy - shift, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    lens = np.clip(1 - ((xx - cx) / half) ** 2, 0.0, 1.0)
    inside = (yy > cy) & (yy < cy + drop * lens)
    out[inside] = (58, 22, 26)
    return out


@dataclass(frozen=True)
class Motion:
    """Per-frame placement: mouth opening, picture-plane offset (px), scale, roll (deg),
    yaw (deg, the head turned with the depth of its own face mesh, `turn_head`)."""

    mouth: float = 0.0
    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0
    roll: float = 0.0
    yaw: float = 0.0


_MESH: np.ndarray | None = None


def photo_mesh() -> np.ndarray:
    """The photo's own 468-point mesh (x, y, z pixels), the head model the yaw turns."""
    global _MESH
    if _MESH is None:
        from render_engine.capture.mesh import FaceMesh

        face = FaceMesh().find(photo())
        assert face is not None
        _MESH = face.points
    return _MESH


def turn_head(rgb: np.ndarray, yaw_deg: float) -> np.ndarray:
    """The photo with the head turned `yaw_deg` about its vertical axis (+: nose to picture
    right): each triangle of the face mesh (plus a frame of fixed points round the picture)
    moves by its depth, x' = x cos - (z - z0) sin, a piecewise-affine warp with parallax."""
    if abs(yaw_deg) < 1e-6:
        return rgb.copy()
    h, w = rgb.shape[:2]
    mesh = photo_mesh()
    fx = float(mesh[:, 0].mean())
    z0 = float(np.median(mesh[:, 2]))
    edge = [(x, y) for x in np.linspace(0, w - 1, 6) for y in (0, h - 1)]
    edge += [(x, y) for y in np.linspace(0, h - 1, 6)[1:-1] for x in (0, w - 1)]
    src = np.vstack([mesh[:, :2], np.asarray(edge, np.float64)])
    depth = np.concatenate([mesh[:, 2], np.full(len(edge), z0)])
    yaw = math.radians(yaw_deg)
    dst = src.copy()
    face = slice(0, len(mesh))
    dst[face, 0] = fx + (src[face, 0] - fx) * math.cos(yaw) - (depth[face] - z0) * math.sin(yaw)
    subdiv = cv2.Subdiv2D((-1, -1, w + 2, h + 2))
    index = {}
    for i, (x, y) in enumerate(src):
        key = (round(float(x), 3), round(float(y), 3))
        if key not in index:
            index[key] = i
            subdiv.insert((float(x), float(y)))
    out = rgb.copy()
    lookup = {k: v for k, v in index.items()}
    for tri in subdiv.getTriangleList():
        ids = []
        for k in range(3):
            key = (round(float(tri[2 * k]), 3), round(float(tri[2 * k + 1]), 3))
            if key not in lookup:
                break
            ids.append(lookup[key])
        if len(ids) != 3:
            continue
        s, d = src[ids].astype(np.float32), dst[ids].astype(np.float32)
        x0, y0 = np.floor(d.min(0)).astype(int)
        x1, y1 = np.ceil(d.max(0)).astype(int) + 1
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 <= x0 or y1 <= y0:
            continue
        matrix = cv2.getAffineTransform(s, (d - (x0, y0)).astype(np.float32))
        patch = cv2.warpAffine(rgb, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(mask, np.round(d - (x0, y0)).astype(np.int32), 1)
        region = out[y0:y1, x0:x1]
        region[mask > 0] = patch[mask > 0]
    return out


def frame(motion: Motion, size: tuple[int, int] = (480, 360), face: bool = True) -> np.ndarray:
    """One frame of a take: the photo placed by `motion` on a plain wall (no face when
    `face` is False: the wall alone, as when the performer steps out)."""
    w, h = size
    wall = np.full((h, w, 3), (92, 104, 118), np.uint8)
    if not face:
        return wall
    src = turn_head(open_mouth(photo(), motion.mouth), motion.yaw)
    base = 0.62 * motion.scale  # photo px -> frame px
    fx, fy = FACE_CENTRE
    corners = np.array([[0, 0], [src.shape[1], 0], [src.shape[1], src.shape[0]],
                        [0, src.shape[0]]], np.float64)
    pts = (corners - (fx, fy)) * base
    roll = math.radians(motion.roll)
    rot = np.array([[math.cos(roll), -math.sin(roll)], [math.sin(roll), math.cos(roll)]])
    pts = pts @ rot.T + (w / 2 + motion.dx, h / 2 + motion.dy)
    matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), pts.astype(np.float32))
    out = cv2.warpPerspective(src, matrix, (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = cv2.warpPerspective(np.full(src.shape[:2], 255, np.uint8), matrix, (w, h))
    return np.where(mask[..., None] > 128, out, wall)


def write_take(path: Path, motions: list[Motion | None], fps: int = 25,
               rate: int = 16000) -> Path:
    """Write an MP4 take (H.264 + AAC) of `motions` (None: a frame with no face); its audio
    is a buzzy voice-like tone whose loudness follows the mouth opening."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = [frame(m) if m is not None else frame(Motion(), face=False) for m in motions]
    h, w = frames[0].shape[:2]
    openings = np.array([m.mouth if m is not None else 0.0 for m in motions])
    samples = int(len(motions) * rate / fps)
    t = np.arange(samples) / rate
    envelope = np.interp(t, np.arange(len(motions)) / fps, openings)
    voice = np.sign(np.sin(2 * math.pi * 140 * t)) * 0.3 + np.sin(2 * math.pi * 700 * t) * 0.2
    audio = (voice * envelope * 0.8).astype(np.float32)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        video.options = {"crf": "12"}
        sound = container.add_stream("aac", rate=rate)
        sound.layout = "mono"
        for rgb in frames:
            for packet in video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        block = 1024
        for start in range(0, samples, block):
            chunk = audio[start:start + block][None, :]
            af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            af.sample_rate = rate
            af.pts = start
            af.time_base = Fraction(1, rate)
            for packet in sound.encode(af):
                container.mux(packet)
        for packet in sound.encode():
            container.mux(packet)
    return path
