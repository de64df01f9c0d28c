"""`soloreel preview`: the whole edit as one movie at a tier, falling back per shot.

Each output frame belongs to the shot on top at that time (upper video tracks win, gaps are
black); the shot's media at the asked tier is used when present, else its best tier present,
and a fallback is marked with a corner burn-in (shot id and tier) so nobody mistakes a
placeholder for an approved proxy. A shot with no media at all shows a card.

Stale renders (`render_engine.freshness`: the shot changed, or the cut outgrew its render and
handles) are never shown silently: a shot with no fresh media at any tier shows its stale render
burnt in "STALE", with a warning naming the shot and the frames its last (or first) frame is
held for; a shot whose asked tier is stale but a lower tier is fresh shows the fresh one, with a
warning. With `strict`, a preview that would show any stale render is refused before anything
is written (`PreviewRefused`, naming every such shot). The soundtrack
is every shot's own audio placed at its exact sample position, so picture and sound stay in
sync however the cut's frame counts fall. Frames stream through the encoder; the soundtrack
is held in memory as mono float32 (about 11 MB per minute).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from render_engine.errors import SoloreelError
from render_engine.media.encode import (
    AUDIO_RATE,
    MediaError,
    VideoWriter,
    fps_fraction,
    read_audio,
    read_frames,
    resample_audio,
)
from render_engine.review.frames import card
from render_engine.review.shots import Review, ReviewShot, TierMedia
from render_engine.slate_text import blit_rgba, font, printable


@dataclass(frozen=True)
class Run:
    """Consecutive output frames [start, end) showing one shot (or a gap when shot is None)."""

    start: int
    end: int
    shot: ReviewShot | None


@dataclass
class PreviewResult:
    """What was written: frames, per shot the tier used (None: no media, a card), and the
    warnings (stale renders shown or passed over, frames held because a movie ran short)."""

    path: Path
    frames: int
    used: dict[str, str | None]
    fallbacks: list[str]
    warnings: list[str] = field(default_factory=list)
    held: dict[str, int] = field(default_factory=dict)
    """Shot id → frames held (a still frame standing in for frames the media lacks)."""


class PreviewRefused(SoloreelError):
    """A strict preview would show stale renders; nothing was written."""

    def __init__(self, problems: list[str]):
        super().__init__(
            "preview refused (--strict): " + "; ".join(problems)
            + " — render those shots again, or leave out --strict to preview them marked STALE")
        self.problems = problems


def stale_problems(review: Review, tier: str) -> tuple[dict[str, str], dict[str, str]]:
    """(shots that would show a stale render, shots whose asked tier is stale but show a
    fresh lower tier): shot id → the sentence saying so, in timeline order."""
    shown: dict[str, str] = {}
    passed: dict[str, str] = {}
    for shot in review.shots:
        media = shot.pick(tier)
        if media is not None and media.stale:
            reason = shot.tier_states[media.tier].reason
            held = f"; {media.short} frame(s) hold a still" if media.short else ""
            shown[shot.shot_id] = (f"{shot.shot_id}: nothing fresh at any tier; showing its "
                                   f"stale {media.tier}, burnt in STALE — {reason}{held}")
        elif shot.states.get(tier) == "stale":
            reason = shot.tier_states[tier].reason
            instead = media.tier if media is not None else "a card"
            passed[shot.shot_id] = f"{shot.shot_id}: {tier} is stale — {reason}; showing {instead}"
    return shown, passed


def runs(review: Review) -> list[Run]:
    """The edit as runs of frames per shot; later (upper-track) shots cover earlier ones."""
    owner = np.full(review.frames, -1, np.int64)
    for index, shot in enumerate(review.shots):
        lo, hi = max(0, shot.record_start), min(review.frames, shot.record_start + shot.frames)
        if hi > lo:
            owner[lo:hi] = index
    result: list[Run] = []
    start = 0
    for frame in range(1, review.frames + 1):
        if frame == review.frames or owner[frame] != owner[start]:
            index = int(owner[start])
            result.append(Run(start, frame, review.shots[index] if index >= 0 else None))
            start = frame
    return result


def fit(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale a frame to fit width x height, letterboxed in black when the aspect differs."""
    h, w = frame.shape[:2]
    if (w, h) == (width, height):
        return frame
    scale = min(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    scaled = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_AREA
                        if scale < 1 else cv2.INTER_LINEAR)
    out = np.zeros((height, width, 3), np.uint8)
    x, y = (width - new_w) // 2, (height - new_h) // 2
    out[y:y + new_h, x:x + new_w] = scaled
    return out


def burn_in(text: str, height: int) -> np.ndarray:
    """An RGBA corner label: white text on a translucent amber box."""
    face = font(max(10, height // 22))
    text = printable(text)
    pad = max(3, height // 90)
    ascent, descent = face.getmetrics()
    width = int(face.getlength(text)) + 2 * pad
    image = Image.new("RGBA", (width, ascent + descent + 2 * pad), (200, 110, 0, 210))
    ImageDraw.Draw(image).text((pad, pad), text, font=face, fill=(255, 255, 255, 255))
    return np.asarray(image)


def _run_frames(run: Run, media: TierMedia | None, width: int, height: int,
                label: np.ndarray | None, held: dict[str, int] | None = None
                ) -> Iterator[np.ndarray]:
    """The run's frames: decoded from its media (its first frame held for cut frames before
    the movie starts, its last frame for frames after it ends — counted in `held` by shot
    id), or a card/black, with the burn-in when given."""
    count = run.end - run.start
    if run.shot is None:
        black = np.zeros((height, width, 3), np.uint8)
        for _ in range(count):
            yield black
        return
    if media is None:
        still = fit(card(width, height, run.shot.shot_id,
                         ["not rendered at any tier", run.shot.name]), width, height)
        for _ in range(count):
            yield still
        return
    skip = media.offset + (run.start - run.shot.record_start)
    lead = min(count, max(0, -skip))  # cut frames before the movie's first frame
    made = 0
    last: np.ndarray | None = None
    for index, frame in enumerate(read_frames(media.path)):
        if index < skip:
            continue
        last = fit(frame, width, height)
        if label is not None:
            last = last.copy()
            margin = max(4, height // 40)
            blit_rgba(last, label, margin, margin)
        for _ in range(lead + 1 if made == 0 else 1):
            yield last
            made += 1
            if made == count:
                break
        if made == count:
            break
    missing = count - made
    hold = last if last is not None else np.zeros((height, width, 3), np.uint8)
    for _ in range(missing):
        yield hold
    frozen = missing + min(lead, made)
    if held is not None and frozen:
        held[run.shot.shot_id] = held.get(run.shot.shot_id, 0) + frozen


@functools.lru_cache(maxsize=4)
def _audio(path: Path) -> np.ndarray:
    """A movie's audio as mono float32 at 48 kHz (empty when it has none)."""
    try:
        samples, rate = read_audio(path)
    except MediaError:
        return np.zeros(0, np.float32)
    if rate != AUDIO_RATE and samples.size:
        samples = resample_audio(samples, rate)[0]
    return samples.astype(np.float32)


def _sample(frame: int, fps: Fraction) -> int:
    return round(Fraction(frame) * AUDIO_RATE / fps)


def soundtrack(review: Review, chosen: list[tuple[Run, TierMedia | None]]) -> np.ndarray:
    """The edit's mono soundtrack: each run's slice of its media's audio at its exact place."""
    fps = fps_fraction(review.fps)
    track = np.zeros(_sample(review.frames, fps), np.float32)
    for run, media in chosen:
        if run.shot is None or media is None:
            continue
        audio = _audio(media.path)
        into, until = _sample(run.start, fps), _sample(run.end, fps)
        source = _sample(media.offset + run.start - run.shot.record_start, fps)
        part = audio[source:source + until - into]
        track[into:into + part.size] = part
    return track


def render_preview(review: Review, tier: str, out: Path, width: int | None = None,
                   height: int | None = None, profile: str = "web",
                   progress: Callable[[int], None] | None = None,
                   strict: bool = False) -> PreviewResult:
    """Write the edit as one movie at `tier` (see the module docstring); returns what it used.

    The size defaults to the asked tier's resolution in the production (640x360 without one).
    `strict`: raise PreviewRefused, writing nothing, when a shot would show a stale render.
    """
    if review.frames <= 0:
        raise MediaError("the edit is empty: nothing to preview")
    stale_shown, stale_passed = stale_problems(review, tier)
    if strict and stale_shown:
        raise PreviewRefused(list(stale_shown.values()))
    if width is None or height is None:
        if review.production is not None:
            settings = review.production.settings.tier(tier)
            width, height = settings.width, settings.height
        else:
            width, height = 640, 360
    chosen: list[tuple[Run, TierMedia | None]] = []
    used: dict[str, str | None] = {}
    fallbacks: list[str] = []
    for run in runs(review):
        media = run.shot.pick(tier) if run.shot is not None else None
        chosen.append((run, media))
        if run.shot is not None:
            used[run.shot.shot_id] = media.tier if media else None
            if media is None or media.tier != tier:
                fallbacks.append(run.shot.shot_id)
    audio = soundtrack(review, chosen)
    metadata = {"comment": f"soloreel preview of {review.title} at {tier}",
                "title": review.title}
    with VideoWriter(out, width, height, review.fps, profile=profile,
                     audio=(audio, AUDIO_RATE), metadata=metadata) as writer:
        held: dict[str, int] = {}
        for run, media in chosen:
            label = None
            if run.shot is not None and media is not None and (media.tier != tier
                                                               or media.stale):
                label = burn_in(f"{run.shot.shot_id} · {media.tier}"
                                + (" · STALE" if media.stale else ""), height)
            for frame in _run_frames(run, media, width, height, label, held):
                writer.write(frame)
                if progress:
                    progress(1)
        written = writer.frames_written
    warnings = [*stale_shown.values(), *stale_passed.values()]
    warnings += [f"{shot_id}: its {used.get(shot_id)} movie lacks {count} frame(s) of the cut; "
                 "a still frame is held for them" for shot_id, count in held.items()
                 if shot_id not in stale_shown]
    return PreviewResult(out, written, used, sorted(set(fallbacks)), warnings, held)
