"""Text and sprite helpers for slates: the bundled font, wrapping, fast per-frame glyphs.

Slates are drawn with Pillow's bundled font so a render needs no font files on the machine;
counters that change every frame are blitted from pre-rendered glyph masks instead of being
laid out by Pillow each frame.
"""

from __future__ import annotations

import functools
import math
import unicodedata

import numpy as np
from PIL import Image, ImageDraw, ImageFont

_ASCII = {"\u2014": "-", "\u2013": "-", "\u2212": "-", "\u00a0": " "}


@functools.lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled font (Aileron) at a pixel size; it needs no font files on the system."""
    return ImageFont.load_default(size=max(6, int(size)))  # type: ignore[return-value]


def printable(text: str) -> str:
    """Text reduced to what the bundled font can draw (it has ASCII and a few symbols).

    Dashes become hyphens, accents are dropped (é → e), curly quotes and the ellipsis stay,
    anything else becomes "?", so dialog never renders as empty boxes.
    """
    text = "".join(_ASCII.get(ch, ch) for ch in text)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return "".join(ch if 32 <= ord(ch) < 127 or ch in "·“”‘’…" else "?" for ch in text)


def wrap(text: str, face: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """Greedy word wrap of `text` to lines no wider than `width` pixels in `face`."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if face.getlength(candidate) <= width or not line:
                line = candidate
                while face.getlength(line) > width and len(line) > 1:  # a word wider than all
                    cut = max(1, int(len(line) * width / face.getlength(line)) - 1)
                    lines.append(line[:cut])
                    line = line[cut:]
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return lines


def ellipsize(text: str, face: ImageFont.FreeTypeFont, width: float) -> str:
    """`text` cut to fit `width` pixels in `face`, ending in "..." when cut."""
    if face.getlength(text) <= width:
        return text
    while text and face.getlength(text + "...") > width:
        text = text[:-1]
    return text.rstrip() + "..."


class Glyphs:
    """Pre-rendered glyph masks for the per-frame counters (digits and a few signs)."""

    CHARS = "0123456789:-+/. "

    def __init__(self, size: int) -> None:
        face = font(size)
        ascent, descent = face.getmetrics()
        self.height = ascent + descent
        self.masks: dict[str, np.ndarray] = {}
        for ch in self.CHARS:
            width = max(1, math.ceil(face.getlength(ch)))
            image = Image.new("L", (width, self.height), 0)
            ImageDraw.Draw(image).text((0, 0), ch, font=face, fill=255)
            self.masks[ch] = np.asarray(image, dtype=np.uint16)

    def mask(self, text: str) -> np.ndarray:
        """The text's coverage mask (0..255) as one array."""
        return np.concatenate([self.masks[ch] for ch in text], axis=1)


def blend_mask(frame: np.ndarray, mask: np.ndarray, x: int, y: int,
                color: tuple[int, int, int]) -> None:
    """Paint `color` through a 0..255 coverage mask onto frame at (x, y), clipped."""
    h, w = mask.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, frame.shape[1]), min(y + h, frame.shape[0])
    if x0 >= x1 or y0 >= y1:
        return
    cover = mask[y0 - y:y1 - y, x0 - x:x1 - x, None]
    region = frame[y0:y1, x0:x1].astype(np.uint16)
    frame[y0:y1, x0:x1] = (region * (255 - cover) + np.array(color, np.uint16) * cover) // 255


def blit_rgba(frame: np.ndarray, sprite: np.ndarray, x: int, y: int) -> None:
    """Alpha-composite an RGBA uint8 sprite onto an RGB frame at (x, y), clipped."""
    h, w = sprite.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, frame.shape[1]), min(y + h, frame.shape[0])
    if x0 >= x1 or y0 >= y1:
        return
    part = sprite[y0 - y:y1 - y, x0 - x:x1 - x].astype(np.uint16)
    alpha = part[..., 3:4]
    region = frame[y0:y1, x0:x1].astype(np.uint16)
    frame[y0:y1, x0:x1] = (region * (255 - alpha) + part[..., :3] * alpha) // 255
