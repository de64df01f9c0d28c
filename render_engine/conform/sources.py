"""Reading clip media for the conform: frames by index (sequential decode), audio, slates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from render_engine.media.encode import AUDIO_RATE, read_audio


class FrameSource:
    """Frames of one media file by index, decoded forward (re-opened to go back).

    Frames past the end hold the last frame; RGBA when the stream has an alpha channel.
    """

    def __init__(self, path: Path, width: int, height: int):
        self.path = path
        self.size = (width, height)
        self._frames: Any = None
        self._index = -1
        self._current: np.ndarray | None = None
        self._done = False

    def _open(self) -> None:
        container = av.open(str(self.path))
        stream = container.streams.video[0]
        alpha = "a" in (stream.codec_context.pix_fmt or "").replace("yuv", "")
        fmt = "rgba" if alpha else "rgb24"
        self._frames = (f.to_ndarray(format=fmt) for f in container.decode(stream))
        self._index, self._current, self._done = -1, None, False

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` (0-based in the file) at the output size."""
        if self._frames is None or index < self._index:
            self._open()
        while self._index < index and not self._done:
            try:
                self._current = next(self._frames)
                self._index += 1
            except StopIteration:
                self._done = True
        if self._current is None:
            raise ValueError(f"{self.path}: no video frames")
        image = self._current
        if (image.shape[1], image.shape[0]) != self.size:
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        return image


def audio_at_output_rate(path: Path) -> np.ndarray | None:
    """The file's audio as mono float32 at 48 kHz (None without an audio stream)."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
    samples, rate = read_audio(path)
    if rate != AUDIO_RATE and len(samples):
        positions = np.arange(round(len(samples) * AUDIO_RATE / rate)) * rate / AUDIO_RATE
        samples = np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)
    return samples


def missing_slate(width: int, height: int, label: str, path: Path | None) -> np.ndarray:
    """A clearly marked MISSING MEDIA frame naming the clip and the file."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = (90, 0, 90)
    scale = max(0.3, width / 900)
    lines = ["MISSING MEDIA", label[:40], (path.name if path else "no reference")[:40]]
    for number, text in enumerate(lines):
        y = int(height * (0.35 + 0.18 * number))
        cv2.putText(image, text, (int(width * 0.06), y), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), max(1, int(scale * 2)), cv2.LINE_AA)
    return image
