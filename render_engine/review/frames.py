"""Stills for review panels: representative frames of a shot's active tier, or a card saying
why there is no picture yet."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from render_engine.media.encode import read_frames
from render_engine.review.shots import ReviewShot, TierMedia
from render_engine.slate_text import ellipsize, font, printable


def frame_indices(frames: int, moving: bool) -> list[int]:
    """Which frames of a cut represent it: the middle one, or first/middle/last when moving."""
    if frames <= 0:
        return []
    if not moving or frames < 3:
        return [frames // 2]
    return [0, frames // 2, frames - 1]


def grab_frames(media: TierMedia, indices: list[int]) -> list[np.ndarray]:
    """Decode the cut's frames at `indices` (counted from the cut's first frame).

    Decoding streams from the file's start and stops after the last wanted frame, so memory
    stays at one frame; a short movie yields its last frame for indices past its end.
    """
    wanted = {media.offset + i: n for n, i in enumerate(indices)}
    found: dict[int, np.ndarray] = {}
    last: np.ndarray | None = None
    stop = max(wanted) if wanted else -1
    for index, frame in enumerate(read_frames(media.path)):
        last = frame
        if index in wanted:
            found[wanted[index]] = frame
        if index >= stop:
            break
    if last is None:
        return []
    return [found.get(n, last) for n in range(len(indices))]


def card(width: int, height: int, title: str, lines: list[str],
         color: tuple[int, int, int] = (70, 70, 78)) -> np.ndarray:
    """A plain card (for shots with no media, or clips that cannot be read)."""
    image = Image.new("RGB", (width, height), (24, 24, 28))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width - 1, height - 1), outline=color, width=max(2, height // 60))
    big, small = font(max(10, height // 9)), font(max(8, height // 16))
    y = height // 3
    text = ellipsize(printable(title), big, width * 0.9)
    draw.text(((width - big.getlength(text)) / 2, y), text, font=big, fill=(235, 235, 235))
    y += int(height / 7)
    for line in lines:
        text = ellipsize(printable(line), small, width * 0.9)
        draw.text(((width - small.getlength(text)) / 2, y), text, font=small,
                  fill=(190, 190, 190))
        y += int(height / 11)
    return np.asarray(image)


def shot_stills(shot: ReviewShot, width: int = 480, height: int = 270
                ) -> list[tuple[str, np.ndarray]]:
    """(label, RGB image) per representative frame of the shot's active tier, or one card."""
    media = shot.shown()
    if media is None:
        notes = shot.stale_notes()
        why = shot.problem or (notes[0] if notes else "not rendered at any tier yet")
        return [("card", card(width, height, shot.shot_id, ["no picture", why[:120]]))]
    indices = frame_indices(min(shot.frames, media.frames), shot.moving)
    names = ["first", "middle", "last"] if len(indices) == 3 else ["middle"]
    try:
        frames = grab_frames(media, indices)
    except Exception as exc:  # unreadable media must not sink the whole board
        return [("card", card(width, height, shot.shot_id, ["media unreadable", str(exc)[:120]]))]
    if not frames:
        return [("card", card(width, height, shot.shot_id, ["media holds no frames"]))]
    stills = []
    for name, frame in zip(names, frames, strict=True):
        image = Image.fromarray(frame)
        if image.width > width:
            image = image.resize((width, round(image.height * width / image.width)),
                                 Image.Resampling.LANCZOS)
        stills.append((name, np.asarray(image)))
    return stills
