"""Live rehearsal: the camera's face meshed frame by frame in an OpenCV window, with a cut-out
face beside it doing what the character's will (the proxy's lip flap, driven live)."""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np
from rich.console import Console

from render_engine.capture.mesh import FaceMesh
from render_engine.capture.track import EXPRESSIONS, OneEuro, head_pose, normalise, raw_features

EXIT_NO_PREVIEW = 2


def display_available() -> bool:
    """Whether a window can open: a display server (X11/Wayland) on Linux, always elsewhere,
    and an OpenCV build with a GUI backend (the project's headless wheel has none)."""
    if sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    info = cv2.getBuildInformation()
    gui = info.split("GUI:", 1)[1].split("\n\n", 1)[0] if "GUI:" in info else ""
    return any(name in gui for name in ("GTK", "QT", "WIN32", "COCOA")) and "NONE" not in gui


def rehearsal_face(expression: dict[str, float], size: int = 240) -> np.ndarray:
    """A plain cut-out face (RGB, `size`²) with the captured expression drawn by the proxy's
    own lip flap (`lipflap.draw_captured`): what the character's mouth, lids, brows and head
    turn do with this frame of the performance, shown beside the camera in the preview."""
    from render_engine.proxy import lipflap
    from render_engine.proxy.cutouts import Sprite

    rgb = np.empty((size, size, 3), np.uint8)
    rgb[:] = (46, 52, 60)
    coverage = np.zeros((size, size), np.uint8)
    centre = (size // 2, size // 2)
    axes = (int(size * 0.34), int(size * 0.44))
    cv2.ellipse(rgb, centre, axes, 0, 0, 360, (214, 172, 146), -1, cv2.LINE_AA)
    cv2.ellipse(coverage, centre, axes, 0, 0, 360, 255, -1, cv2.LINE_AA)
    eye_y, span = int(size * 0.42), size * 0.3
    for side in (-1, 1):
        x = int(size / 2 + side * span / 2)
        cv2.circle(rgb, (x, eye_y), max(2, size // 30), (30, 26, 24), -1, cv2.LINE_AA)
        cv2.line(rgb, (x - size // 14, eye_y - size // 11), (x + size // 14, eye_y - size // 11),
                 (70, 48, 36), max(2, size // 60), cv2.LINE_AA)
    sprite = Sprite(name="rehearsal", view="front", mirrored=False, rgb=rgb,
                    coverage=coverage, x0=0, y0=0, depth=1.0, feet=(size / 2, size - 1),
                    height_px=float(size), up=(0.0, -1.0), world=(0.0, 0.0, 1.0),
                    mouth=(size / 2, size * 0.68, span / lipflap.EYE_SPAN))
    sprite.extra["eyes"] = (size / 2, float(eye_y))
    lipflap.draw_captured(sprite, expression)
    return sprite.rgb


def preview(camera: int, console: Console) -> int:
    """Show camera `camera` with its mesh, head pose and jaw/blink meters until Esc or q;
    exit 2 with one line saying what is missing when no window or camera is available."""
    if not display_available():
        console.print("capture --preview needs a display and OpenCV with a GUI (pip install "
                      "opencv-python in place of opencv-python-headless); record a take and "
                      "run `soloreel capture TAKE.mp4 --character NAME` instead")
        return EXIT_NO_PREVIEW
    source = cv2.VideoCapture(camera)
    if not source.isOpened():
        console.print(f"capture --preview: camera {camera} cannot be opened; try --camera 1")
        return EXIT_NO_PREVIEW
    mesh = FaceMesh()
    smoother = OneEuro(30.0)
    neutral = None
    try:
        while True:
            ok, bgr = source.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            face = mesh.find(rgb)
            if face is None:
                smoother.reset()
                cv2.putText(bgr, "no face", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 1, (0, 0, 255), 2)
            else:
                points = smoother(face.points)
                raw = raw_features(points)
                neutral = raw if neutral is None else neutral
                values = normalise(raw[None], neutral)[0]
                for x, y, _ in points:
                    cv2.circle(bgr, (int(x), int(y)), 1, (0, 255, 0), -1)
                yaw, pitch, roll = head_pose(points)
                text = f"yaw {yaw:+.0f} pitch {pitch:+.0f} roll {roll:+.0f}"
                cv2.putText(bgr, text, (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 0), 2)
                expression = dict(zip(EXPRESSIONS, (float(v) for v in values), strict=True))
                expression.update(yaw=yaw, pitch=pitch, roll=roll)
                face_panel = rehearsal_face(expression, bgr.shape[0] // 2)
                bgr[:face_panel.shape[0], -face_panel.shape[1]:] = face_panel[..., ::-1]
                for row, name in enumerate(("jaw_open", "blink", "smile", "brow_raise")):
                    level = float(np.clip(values[EXPRESSIONS.index(name)], 0, 1))
                    cv2.rectangle(bgr, (20, 60 + 22 * row), (20 + int(160 * level), 76 + 22 * row),
                                  (0, 200, 255), -1)
                    cv2.putText(bgr, name, (190, 74 + 22 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                                (255, 255, 255), 1)
            cv2.imshow("soloreel capture (Esc to stop, n: neutral now)", bgr)
            key = cv2.waitKey(1) & 0xFF
            if key in (27, ord("q")):
                break
            if key == ord("n") and face is not None:
                neutral = raw_features(face.points)
    finally:
        source.release()
        cv2.destroyAllWindows()
    return 0
