"""Face detection and the 468-point face mesh on one picture, with MediaPipe's own models.

Detection is BlazeFace short range (Bazarevsky et al. 2019, "BlazeFace: Sub-millisecond Neural
Face Detection on Mobile GPUs"): a 128x128 RGB input scaled to [-1, 1], letterboxed; 896 SSD
anchors from MediaPipe's `SsdAnchorsCalculator` options in
`mediapipe/modules/face_detection/face_detection_short_range.pbtxt` (4 layers, strides
8/16/16/16, min scale 0.1484375, max scale 0.75, offset 0.5, one aspect ratio plus the
interpolated one, fixed anchor size) and the box decoding of its `TensorsToDetectionsCalculator`
options (16 values per box: centre, size, 6 keypoints, all over 128 and relative to the
anchor; sigmoid score clipped at 100; minimum score 0.5; weighted non-maximum suppression at
0.3 IoU). The mesh (Kartynnik et al. 2019, "Real-time Facial Surface Geometry from Monocular
Video on Mobile GPUs") reads a 192x192 crop in [0, 1], the crop being the detection's box turned
to the eye line and scaled by 1.5 to a square (`face_detection_front_detection_to_roi.pbtxt`:
rotation from keypoint 0 to 1, target angle 0, scale 1.5, square_long); it gives 468 points
(x, y, z in crop pixels) and a face-presence logit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from render_engine.capture import models
from render_engine.errors import SoloreelError

DETECT_SIZE = 128
MESH_SIZE = 192
MIN_DETECTION = 0.5
"""`min_score_thresh` of MediaPipe's short-range face detector."""
SUPPRESSION_IOU = 0.3
"""`min_suppression_threshold` of its weighted non-maximum suppression."""
MIN_PRESENCE = 0.5
"""Face presence (sigmoid of the mesh's flag) below which a frame has no face."""
ROI_SCALE = 1.5


def ssd_anchors() -> np.ndarray:
    """The 896 anchor centres (x, y in [0, 1]) of the short-range detector, in MediaPipe's
    order: per layer group of equal stride, row by row, column by column, anchors per cell
    (2 per scale-and-interpolated-scale pair for each layer sharing the stride)."""
    strides = (8, 16, 16, 16)
    centres: list[tuple[float, float]] = []
    layer = 0
    while layer < len(strides):
        repeats = 0
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            repeats += 2  # aspect ratio 1.0 plus the interpolated scale, fixed size
            last += 1
        size = math.ceil(DETECT_SIZE / strides[layer])
        for y in range(size):
            for x in range(size):
                for _ in range(repeats):
                    centres.append(((x + 0.5) / size, (y + 0.5) / size))
        layer = last
    return np.asarray(centres, np.float32)


ANCHORS = ssd_anchors()


@dataclass(frozen=True)
class Detection:
    """A face found in a picture: box (x0, y0, x1, y1) and 6 keypoints (right eye, left eye,
    nose tip, mouth, right ear, left ear) in picture pixels, and its score."""

    box: tuple[float, float, float, float]
    keypoints: np.ndarray
    score: float


@dataclass(frozen=True)
class Face:
    """One face's mesh: (468, 3) points in picture pixels (z in the same units, smaller is
    nearer), face presence in [0, 1], and the detection it came from."""

    points: np.ndarray
    presence: float
    detection: Detection


def _interpreter(model: models.ModelFile, folder: Path | None) -> Any:
    path = models.model_path(model, folder)
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise SoloreelError(
            "capture: the face models run on ai-edge-litert, which is not installed; "
            "install the ml extra: pip install -e '.[ml]' (or pip install ai-edge-litert)"
        ) from exc

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    return interpreter


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class FaceMesh:
    """The detector and the mesh, loaded once; `find(rgb)` gives the face in a picture."""

    def __init__(self, folder: Path | None = None) -> None:
        """Load both models from `folder` (default: the installed model folder); a missing or
        altered model is a SoloreelError naming the fetch command."""
        self._detector = _interpreter(models.DETECTOR, folder)
        self._mesh = _interpreter(models.MESH, folder)
        self._det_in = self._detector.get_input_details()[0]["index"]
        outs = {d["name"]: d["index"] for d in self._detector.get_output_details()}
        self._regressors, self._scores = outs["regressors"], outs["classificators"]
        self._mesh_in = self._mesh.get_input_details()[0]["index"]
        mesh_outs = sorted(self._mesh.get_output_details(), key=lambda d: -int(np.prod(d["shape"])))
        self._points_out, self._flag_out = mesh_outs[0]["index"], mesh_outs[1]["index"]

    def detect(self, rgb: np.ndarray) -> Detection | None:
        """The most confident face in `rgb` (H, W, 3 uint8), or None below the detector's
        threshold."""
        h, w = rgb.shape[:2]
        side = max(h, w)
        scale = DETECT_SIZE / side
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        pad_x, pad_y = (DETECT_SIZE - nw) // 2, (DETECT_SIZE - nh) // 2
        canvas = np.zeros((DETECT_SIZE, DETECT_SIZE, 3), np.float32)
        resized = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
        canvas[pad_y:pad_y + nh, pad_x:pad_x + nw] = resized.astype(np.float32) / 127.5 - 1.0
        canvas[:pad_y] = canvas[pad_y + nh:] = -1.0
        canvas[:, :pad_x] = canvas[:, pad_x + nw:] = -1.0
        self._detector.set_tensor(self._det_in, canvas[None])
        self._detector.invoke()
        raw = self._detector.get_tensor(self._regressors)[0].astype(np.float64)
        logits = self._detector.get_tensor(self._scores)[0, :, 0].astype(np.float64)
        scores = _sigmoid(np.clip(logits, -100.0, 100.0))
        keep = np.flatnonzero(scores >= MIN_DETECTION)
        if keep.size == 0:
            return None
        anchors = ANCHORS[keep].astype(np.float64)
        values = raw[keep] / DETECT_SIZE
        cx, cy = values[:, 0] + anchors[:, 0], values[:, 1] + anchors[:, 1]
        bw, bh = values[:, 2], values[:, 3]
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        kps = values[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]
        best = int(np.argmax(scores[keep]))
        overlap = _iou(boxes[best], boxes) >= SUPPRESSION_IOU
        weights = scores[keep][overlap]
        box = (boxes[overlap] * weights[:, None]).sum(0) / weights.sum()
        kp = (kps[overlap] * weights[:, None, None]).sum(0) / weights.sum()

        def to_picture(xy: np.ndarray) -> np.ndarray:  # undo the letterbox
            return np.stack([(xy[..., 0] * DETECT_SIZE - pad_x) / scale,
                             (xy[..., 1] * DETECT_SIZE - pad_y) / scale], axis=-1)

        corners = to_picture(box.reshape(2, 2)).reshape(4)
        return Detection(tuple(float(v) for v in corners), to_picture(kp),
                         float(scores[keep][best]))

    def mesh(self, rgb: np.ndarray, detection: Detection) -> Face:
        """The 468-point mesh of the face `detection` found in `rgb`."""
        x0, y0, x1, y1 = detection.box
        right_eye, left_eye = detection.keypoints[0], detection.keypoints[1]
        angle = math.atan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0])
        side = ROI_SCALE * max(x1 - x0, y1 - y0)
        centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        return self.mesh_roi(rgb, centre, side, angle, detection)

    def mesh_roi(self, rgb: np.ndarray, centre: np.ndarray, side: float, angle: float,
                 detection: Detection) -> Face:
        """The mesh read from the square crop of `side` pixels at `centre`, turned `angle`
        radians (its x axis along the eye line), mapped back to picture pixels."""
        cos, sin = math.cos(angle), math.sin(angle)
        unit = side / MESH_SIZE
        # crop pixel (u, v) -> picture: centre + R (u - 96, v - 96) * unit
        to_picture = np.array([
            [cos * unit, -sin * unit, centre[0] - (cos - sin) * unit * MESH_SIZE / 2],
            [sin * unit, cos * unit, centre[1] - (sin + cos) * unit * MESH_SIZE / 2],
        ])
        crop = cv2.warpAffine(rgb, to_picture, (MESH_SIZE, MESH_SIZE),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        self._mesh.set_tensor(self._mesh_in, (crop.astype(np.float32) / 255.0)[None])
        self._mesh.invoke()
        raw = self._mesh.get_tensor(self._points_out).reshape(468, 3).astype(np.float64)
        flag = float(self._mesh.get_tensor(self._flag_out).reshape(-1)[0])
        points = np.empty_like(raw)
        points[:, :2] = raw[:, :2] @ to_picture[:, :2].T + to_picture[:, 2]
        points[:, 2] = raw[:, 2] * unit
        return Face(points, float(_sigmoid(np.array(flag))), detection)

    def find(self, rgb: np.ndarray, previous: Face | None = None) -> Face | None:
        """The face in `rgb`: detected, meshed, and kept only when the mesh agrees it is a face
        (presence >= 0.5); None otherwise — a missing face is reported, never guessed.

        When the detector misses (motion blur, a hand near the face) and the last frame had
        a face, the mesh is read where that face was, as MediaPipe's face mesh tracks between
        detections (`face_landmark_landmarks_to_roi.pbtxt`: the landmarks' box, turned to the
        33-263 eye-corner line, scaled 1.5, square); its presence flag still decides."""
        detection = self.detect(rgb)
        if detection is not None:
            face = self.mesh(rgb, detection)
            if face.presence >= MIN_PRESENCE:
                return face
        if previous is None:
            return None
        points = previous.points[:, :2]
        low, high = points.min(axis=0), points.max(axis=0)
        eyes = points[263] - points[33]
        angle = math.atan2(float(eyes[1]), float(eyes[0]))
        side = ROI_SCALE * float((high - low).max())
        box = (float(low[0]), float(low[1]), float(high[0]), float(high[1]))
        face = self.mesh_roi(rgb, (low + high) / 2, side, angle,
                             Detection(box, previous.detection.keypoints, 0.0))
        return face if face.presence >= MIN_PRESENCE else None


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)
