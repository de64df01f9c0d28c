"""The placeholder tier's frame painter: the set's plate, OpenPose blocking and a slate.

A placeholder must be instant for a whole film, so a slate is a still picture: the darkened
plate, the blocking held in its pose, the slate panels (the shot's source timecode in, its
length in frames and seconds: the movie's timecode track gives every NLE the running source
timecode, so nothing ticks) in each state the shot passes through (the dialog line being
spoken, the handles), each painted once per shot. Only what the blocking moves changes from
frame to frame: walks along their paths and pose tracks. `placeholder_frames` repaints only
those, in one buffer, and says which regions changed, so the encoder converts just them, or
nothing at all for an unchanged frame (`VideoWriter.write(frame, changed=...)`). A scene's
shots share their blocking, so the skeletons of one frame time are posed and painted once for
all of them (`_PEOPLE_CACHE`).
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from render_engine.bible import Production, SetSpec
from render_engine.errors import SoloreelError
from render_engine.media.encode import Box, timecode_at
from render_engine.pose.acting import CharacterActing, acting_for, body_acting
from render_engine.pose.openpose import (
    SEAT_FORWARD,
    SEATED_HEAD_FORWARD,
    Acting,
    paint_people,
    standing_pose,
)
from render_engine.slate_text import blit_rgba, ellipsize, font, printable, wrap
from render_engine.spec import CharacterSpec, DialogLine, ShotSpec

DARKEN = 0.62
"""Plate brightness under the slate, so text reads on any plate."""
HORIZON_FRACTION = 0.45
"""Horizon row (fraction of the height) for plates that do not say where theirs is."""
WALK_SPEED_M_S = 1.2
WORDS_PER_SECOND = 2.6
"""Speaking rate used to guess how long a dialog line stays highlighted."""

PANEL = (12, 14, 19)
PANEL_ALPHA = 0.74
TEXT = (240, 242, 245)
DIM = (158, 165, 176)
ACCENT = (255, 193, 59)
HANDLE = (255, 214, 0)
ERROR_RED = (150, 18, 24)

SIZE_NAMES = {
    "EWS": "extreme wide", "WS": "wide", "FS": "full shot", "MWS": "medium wide",
    "MS": "medium", "MCU": "medium close-up", "CU": "close-up", "ECU": "extreme close-up",
    "OTS": "over the shoulder", "TWO": "two-shot",
}
ANGLE_NAMES = {"eye": "eye level", "high": "high angle", "low": "low angle",
               "overhead": "overhead", "dutch": "dutch angle"}


# --------------------------------------------------------------------------- the plate


@dataclass(frozen=True)
class PlateView:
    """The plate as the placeholder frame sees it, with the pinhole that places characters."""

    image: np.ndarray
    """HxWx3 uint8, darkened."""
    focal_px: float
    horizon_y: float
    camera_height_m: float
    note: str = ""
    """Why the plate is missing, if it is."""
    key: Hashable = ()
    """What the pixels were made from (file, its mtime, crop, size): keys caches of them."""


def _crop_box(kind: str, hfov_deg: float, plate_w: int, plate_h: int, width: int, height: int,
              horizon_row: int | None) -> tuple[tuple[float, float, float, float], float]:
    """The plate region shown in a width x height frame, and the plate's focal length in px.

    Flat plates are cover-fitted with a rectilinear focal length from their field of view. Wide
    and 360° plates use their pixels-per-radian: a wide plate shows its centre at full height,
    a 360° plate a 70° window around the horizon (no reprojection at this tier).
    """
    aspect = width / height
    if kind == "flat":
        focal = (plate_w / 2) / math.tan(math.radians(min(hfov_deg, 170.0)) / 2)
    else:
        focal = plate_w / math.radians(hfov_deg)
    if kind == "360":
        crop_w = min(plate_w, focal * math.radians(70.0))
        crop_h = min(plate_h, crop_w / aspect)
        crop_w = crop_h * aspect
        centre_y = horizon_row if horizon_row is not None else plate_h / 2
        y0 = min(max(centre_y - crop_h / 2, 0.0), plate_h - crop_h)
        x0 = (plate_w - crop_w) / 2
    else:
        scale = max(width / plate_w, height / plate_h)
        crop_w, crop_h = width / scale, height / scale
        x0, y0 = (plate_w - crop_w) / 2, (plate_h - crop_h) / 2
    return (x0, y0, x0 + crop_w, y0 + crop_h), focal


@functools.lru_cache(maxsize=16)
def _load_plate(path: str, mtime_ns: int, kind: str, hfov_deg: float, horizon_row: int | None,
                camera_height_m: float, width: int, height: int) -> PlateView:
    with Image.open(path) as source:
        image = source.convert("RGB")
    box, focal = _crop_box(kind, hfov_deg, image.width, image.height, width, height,
                           horizon_row)
    scale = width / (box[2] - box[0])
    resized = image.resize((width, height), Image.Resampling.LANCZOS, box=box)
    pixels = (np.asarray(resized, dtype=np.float32) * DARKEN).astype(np.uint8)
    pixels.setflags(write=False)
    horizon = ((horizon_row - box[1]) * scale if horizon_row is not None
               else HORIZON_FRACTION * height)
    key = (path, mtime_ns, kind, hfov_deg, horizon_row, camera_height_m, width, height)
    return PlateView(pixels, focal * scale, horizon, camera_height_m, key=key)


def plate_view(spec: ShotSpec, production: Production, set_spec: SetSpec, width: int,
               height: int) -> PlateView:
    """The shot's plate (its own override or the set's), cropped, scaled and darkened."""
    plate = set_spec.plate
    shown = spec.plate or f"sets/{plate.image}"
    try:
        path = (production.resolve(spec.plate) if spec.plate
                else production.set_file(set_spec, plate.image))
        kind = plate.kind if not spec.plate else "flat"
        horizon = plate.horizon_row if not spec.plate else None
        return _load_plate(str(path), path.stat().st_mtime_ns, kind, plate.hfov_deg, horizon,
                           plate.camera_height_m, width, height)
    except FileNotFoundError as exc:
        raise SoloreelError(f"plate {shown} does not exist; add the file or fix the "
                            "path") from exc
    except (OSError, ValueError) as exc:
        raise SoloreelError(f"plate {shown} cannot be read as an image ({exc}); "
                            "re-export it as PNG or JPEG") from exc


# --------------------------------------------------------------------------- blocking


def _walk_position(char: CharacterSpec,
                   seconds: float) -> tuple[tuple[float, float], float, bool]:
    """Floor position, heading and whether still walking, `seconds` into the shot.

    A walk follows `position` then the `path` waypoints at walking speed and stops at the
    last one; a walk without waypoints walks on the spot.
    """
    points = [tuple(char.position), *[tuple(p) for p in char.path]]
    if char.action != "walk" or len(points) < 2:
        return (char.position[0], char.position[1]), char.facing, char.action == "walk"
    distance = max(0.0, seconds) * WALK_SPEED_M_S
    heading = char.facing
    for (x0, z0), (x1, z1) in itertools.pairwise(points):
        length = math.hypot(x1 - x0, z1 - z0)
        if length < 1e-6:
            continue
        heading = math.degrees(math.atan2(x1 - x0, z1 - z0)) % 360
        if distance <= length:
            f = distance / length
            return (x0 + (x1 - x0) * f, z0 + (z1 - z0) * f), heading, True
        distance -= length
    return (points[-1][0], points[-1][1]), heading, False


def _load_pose_track(production: Production, relative: str, width: int,
                     height: int) -> list[np.ndarray] | None:
    """A pose track (a list of POSE_KEYPOINT frames) scaled to the frame; None if unreadable."""
    try:
        data = json.loads(production.resolve(relative).read_text(encoding="utf-8"))
        frames = data if isinstance(data, list) else data.get("frames", [data])
        track = []
        for frame in frames:
            scale_x = width / float(frame.get("canvas_width", width))
            scale_y = height / float(frame.get("canvas_height", height))
            values = frame["people"][0]["pose_keypoints_2d"]
            points = np.asarray(values, dtype=np.float64).reshape(18, 3)
            points[:, 0] *= scale_x
            points[:, 1] *= scale_y
            track.append(points)
        return track or None
    except (OSError, SoloreelError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None


@dataclass
class _Actor:
    spec: CharacterSpec
    label: str
    height_m: float
    track: list[np.ndarray] | None
    tags: tuple[np.ndarray, np.ndarray]
    """Name tag sprites (RGBA): normal and speaking."""
    acting: CharacterActing | None = None
    """Seat, surface, pointing target and path length: the proxy's skeleton does the same."""


# --------------------------------------------------------------------------- the slate


def _speaking_windows(lines: list[DialogLine]) -> list[tuple[float, float]]:
    """When each dialog line is highlighted: its start until the next line or its guessed end."""
    windows = []
    for index, line in enumerate(lines):
        guess = line.start + 0.6 + len(line.text.split()) / WORDS_PER_SECOND
        later = [other.start for other in lines[index + 1:] if other.start > line.start]
        windows.append((line.start, min([guess, *later])))
    return windows


def _timecode(frames: int, fps: float) -> str:
    nominal = max(1, round(fps))
    sign = "-" if frames < 0 else ""
    frames = abs(frames)
    seconds, ff = divmod(frames, nominal)
    minutes, ss = divmod(seconds, 60)
    hh, mm = divmod(minutes, 60)
    return f"{sign}{hh:02d}:{mm:02d}:{ss:02d}:{ff:02d}"


def _move_text(spec: ShotSpec) -> str:
    camera = spec.camera
    if camera.position is not None:
        x, h, z = camera.position
        text = f"camera at ({x:g}, {h:g}, {z:g}) m"
        if camera.focal_mm:
            text += f", {camera.focal_mm:g} mm"
    else:
        text = camera.move.replace("_", " ")
        if camera.move == "track" and camera.target:
            text += f" {camera.target.upper()}"
        if camera.amount and camera.move != "static":
            text += f" {camera.amount * 100:.0f}%"
        if camera.move != "static":
            text += f", ease {camera.ease.replace('_', '-')}"
    if camera.handheld:
        text += ", handheld"
    return text


@dataclass(frozen=True)
class _SlateState:
    """One state of the slate over the plate, ready for per-frame compositing."""

    base: np.ndarray
    """The plate with the slate on top (uint8 RGB)."""
    panels: tuple[tuple[Box, np.ndarray, np.ndarray], ...]
    """Where the overlay covers the plate: (box, 256 - overlay alpha (uint16 hxwx1), overlay
    colour x alpha (uint16 hxwx3)); outside them the overlay is transparent."""


def _cover_boxes(mask: np.ndarray, gap: int) -> list[Box]:
    """Boxes that together hold every True pixel of `mask`, cut along empty bands of at least
    `gap` rows or columns (an XY cut): a slate's panels, tag and border strips."""
    boxes: list[Box] = []
    stack = [(0, 0, mask.shape[1], mask.shape[0], 0, False)]
    while stack:
        x0, y0, x1, y1, axis, tried = stack.pop()
        filled = np.flatnonzero(mask[y0:y1, x0:x1].any(axis=1 - axis))
        if not filled.size:
            continue
        cuts = np.flatnonzero(np.diff(filled) > gap)
        starts = np.r_[filled[0], filled[cuts + 1]]
        ends = np.r_[filled[cuts], filled[-1]] + 1
        origin = y0 if axis == 0 else x0
        for start, end in zip(starts + origin, ends + origin, strict=True):
            box = ((x0, int(start), x1, int(end)) if axis == 0
                   else (int(start), y0, int(end), y1))
            if len(starts) == 1 and tried:
                boxes.append(box)
            else:
                stack.append((*box, 1 - axis, len(starts) == 1))
    return boxes


class _Slate:
    """The static overlay of one shot: panels and text in every state the shot passes through."""

    def __init__(self, spec: ShotSpec, production: Production, plate: PlateView, actors:
                 list[_Actor], width: int, height: int, frame_count: int, fps: float,
                 shot_label: str, handles: tuple[int, int], source_first: int | None) -> None:
        self.spec, self.plate, self.actors = spec, plate, actors
        self.width, self.height, self.fps = width, height, fps
        self.frame_count, self.handles = frame_count, handles
        self.cut_frames = max(0, frame_count - handles[0] - handles[1])
        self.shot_label = shot_label
        self.production = production
        self.u = min(height / 360.0, width / 480.0)
        u = self.u
        self.compact = height < 240
        """Small frames keep only the label, the shot size, the counters and two dialog rows."""
        self.margin = round(12 * u)
        self.pad = max(2, round(8 * u))
        self.big, self.small = font(max(30 * u, 10)), font(max(13 * u, 7))
        self.tiny = font(max(10.5 * u, 7))
        self.dialog_face = font(max(14 * u, 7))
        self.tc_face = font(max(19 * u, 8))
        self.tc_text = (timecode_at(source_first + handles[0], fps) if source_first is not None
                        else _timecode(0, fps))
        """The source timecode of the cut's first frame (the movie's timecode track counts on
        from it in the NLE); the cut's own 00:00:00:00 when the source frame is not known."""
        self.frames_text = f"{self.cut_frames} fr"
        if handles[0] or handles[1]:
            self.frames_text += f" + {handles[0]}/{handles[1]} handles"
        self.length_text = f"{self.cut_frames / fps:.2f} s  ·  {fps:g} fps"
        self.windows = _speaking_windows(spec.dialog)
        self._states: dict[tuple[int | None, str | None], _SlateState] = {}
        self._fixed: Image.Image | None = None
        """The header and counter panels (`_draw_fixed`), drawn by the first state."""
        self._layout()

    # -- layout -----------------------------------------------------------------------------

    def _layout(self) -> None:
        u, m, pad = self.u, self.margin, self.pad
        w = self.width
        rows = self._counter_rows()
        value_w = max(face.getlength(text) for _label, text, _y, face in rows)
        label_w = 0 if self.compact else max(
            self.tiny.getlength(label) for label, *_rest in rows) + round(10 * u)
        counter_w = math.ceil(label_w + value_w) + 2 * pad
        bottom = rows[-1][2] + rows[-1][3].size + pad
        self.counter_box = (w - m - counter_w, m, w - m, bottom)
        header_w = self.counter_box[0] - m - round(10 * u) - m
        self.header_lines = self._header_text(header_w - 2 * pad)
        content_w = max(face.getlength(text) for text, face, _ in self.header_lines)
        header_w = min(header_w, math.ceil(content_w) + 2 * pad)
        self.header_box = (m, m, m + header_w, m + 2 * pad + self._header_height())
        self.dialog_lines = self._dialog_text(w - 2 * m - 2 * pad - round(6 * u))
        line_h = self.dialog_face.size * 1.3
        rows = sum(len(text) for _, text in self.dialog_lines)
        if rows:
            box_h = round(rows * line_h + 2 * pad)
            self.dialog_box: tuple[int, int, int, int] | None = (
                m, self.height - m - box_h, w - m, self.height - m)
        else:
            self.dialog_box = None

    def _header_text(self, width: float) -> list[tuple[str, ImageFont.FreeTypeFont, tuple]]:
        spec = self.spec
        set_name = spec.set + (f" / {spec.lighting}" if spec.lighting else "")
        label = printable(self.shot_label or spec.shot.id)
        lines = [(ellipsize(f"PLACEHOLDER  ·  {printable(set_name)}", self.tiny, width),
                  self.tiny, ACCENT),
                 (ellipsize(label, self.big, width), self.big, TEXT)]
        if self.compact:
            size = f"{spec.shot.size}  ·  {ANGLE_NAMES[spec.shot.angle]}"
            return [*lines[1:], (ellipsize(size, self.small, width), self.small, TEXT)]
        if spec.shot.id not in label:
            lines.append((ellipsize(f"shot {spec.shot.id}", self.small, width), self.small, DIM))
        size = f"{spec.shot.size} ({SIZE_NAMES[spec.shot.size]})  ·  "
        size += ANGLE_NAMES[spec.shot.angle]
        if spec.shot.subjects:
            size += "  ·  on " + ", ".join(s.upper() for s in spec.shot.subjects)
        lines.append((ellipsize(printable(size), self.small, width), self.small, TEXT))
        lines.append((ellipsize(printable(_move_text(spec)), self.small, width), self.small,
                      DIM))
        cast = "  ·  ".join(
            f"{actor.label} ({actor.spec.action})" for actor in self.actors) or "no characters"
        for row in wrap(printable(cast), self.small, width)[:2]:
            lines.append((row, self.small, TEXT))
        if self.plate.note:
            lines.append((ellipsize(printable(self.plate.note), self.tiny, width), self.tiny,
                          ACCENT))
        return lines

    def _header_height(self) -> int:
        return round(sum(face.size * (1.45 if face is self.big else 1.3)
                         for _, face, _ in self.header_lines))

    def _dialog_text(self, width: float) -> list[tuple[str, list[str]]]:
        """(speaker label, wrapped rows) per dialog line, capped to a third of the frame."""
        result = []
        max_rows = max(1, int(self.height * 0.3 / (self.dialog_face.size * 1.3)))
        if self.compact:
            max_rows = min(max_rows, 2)
        used = 0
        speakers = [printable(self._label(line.speaker)) + (" (V.O.)" if line.audio_only else "")
                    for line in self.spec.dialog]
        self.speaker_col = min(width * 0.35, max(
            [self.dialog_face.getlength(name + "  ") for name in speakers] or [0.0]))
        for index, line in enumerate(self.spec.dialog):
            speaker = ellipsize(speakers[index], self.dialog_face,
                                 self.speaker_col - self.dialog_face.getlength("  "))
            text = printable(line.text)
            if line.parenthetical:
                text = f"({printable(line.parenthetical)}) {text}"
            rows = wrap(text, self.dialog_face, width - self.speaker_col)
            left = max_rows - used
            if len(rows) > left or (left == 1 and index < len(self.spec.dialog) - 1):
                more = len(self.spec.dialog) - index
                keep = max(0, left - 1)
                if keep:
                    result.append((speaker, rows[:keep]))
                result.append(("", [f"+ {more} more line{'s' if more > 1 else ''}"
                                    if keep else f"... {more} more"]))
                break
            result.append((speaker, rows))
            used += len(rows)
        return result

    def _label(self, name: str) -> str:
        for actor in self.actors:
            if actor.spec.name.lower() == name.lower():
                return actor.label
        try:
            return self.production.member(name).label.upper()
        except SoloreelError:
            return name.upper()

    # -- states -----------------------------------------------------------------------------

    def active_line(self, seconds: float) -> int | None:
        """The index of the dialog line highlighted at `seconds` into the cut, if any."""
        for index, (start, end) in enumerate(self.windows):
            if start <= seconds < end:
                return index
        return None

    def state(self, active: int | None, handle: str | None) -> _SlateState:
        """The composited base frame and overlay of one slate state, painted once and cached."""
        key = (active, handle)
        if key not in self._states:
            overlay = np.asarray(self._overlay(active, handle))
            plate = self.plate.image
            base = plate.copy()
            panels = []
            covered = overlay[..., 3] > 0
            boxes = []
            if handle:  # the border's strips (an XY cut cannot split a frame's border)
                band, (w, h) = _hazard_band(self.u), (self.width, self.height)
                boxes = [box for box in ((0, 0, w, band), (0, h - band, w, h),
                                         (0, band, band, h - band), (w - band, band, w, h - band))
                         if box[0] < box[2] and box[1] < box[3]]
                for x0, y0, x1, y1 in boxes:
                    covered[y0:y1, x0:x1] = False
            for box in boxes + self._cover(covered, handle):
                x0, y0, x1, y1 = box
                part = overlay[y0:y1, x0:x1].astype(np.uint16)
                alpha = (part[..., 3:4] * 256 + 127) // 255
                premult = part[..., :3] * alpha
                inverse = 256 - alpha
                base[y0:y1, x0:x1] = ((plate[y0:y1, x0:x1] * inverse + premult) >> 8).astype(
                    np.uint8)
                panels.append((box, inverse, premult))
            self._states[key] = _SlateState(base, tuple(panels))
        return self._states[key]

    def _cover(self, covered: np.ndarray, handle: str | None) -> list[Box]:
        """Disjoint boxes holding every pixel the overlay covers (inside the border): the
        panels' and the HANDLE tag's boxes from the layout, or, should anything be drawn
        outside them, an XY cut of the covered pixels."""
        w, h = self.width, self.height
        layout = [self.header_box, self.counter_box]
        layout += [self.dialog_box] if self.dialog_box else []
        layout += [self._tag_box(handle)] if handle else []
        boxes = _merge([(max(0, x0 - 1), max(0, y0 - 1), min(w, x1 + 2), min(h, y1 + 2))
                        for x0, y0, x1, y1 in layout])
        inside = np.zeros_like(covered)
        for x0, y0, x1, y1 in boxes:
            inside[y0:y1, x0:x1] = True
        if (covered & ~inside).any():
            return _cover_boxes(covered, gap=1)
        return boxes

    def _panel(self, draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int]) -> None:
        draw.rounded_rectangle(box, radius=max(1, round(6 * self.u)),
                               fill=(*PANEL, round(255 * PANEL_ALPHA)))

    def _overlay(self, active: int | None, handle: str | None) -> np.ndarray:
        """The slate's RGBA overlay in one state, as drawn in this order on a transparent
        frame: the hazard border (handles), the header and counter panels, the dialog, the
        HANDLE tag. The panels are drawn once per shot and the border once per frame size
        (drawing text is most of a slate's cost); that is the same picture as long as nothing
        but the border reaches into the border's strips, which is checked."""
        if self._fixed is None:
            self._fixed = Image.new("RGBA", (self.width, self.height), (0, 0, 0, 0))
            self._draw_fixed(ImageDraw.Draw(self._fixed))
        image = self._fixed.copy()
        self._draw_changing(ImageDraw.Draw(image), active, handle)
        pixels = np.array(image)
        if not handle:
            return pixels
        band, (w, h) = _hazard_band(self.u), (self.width, self.height)
        strips = [np.s_[:band], np.s_[h - band:], np.s_[band:h - band, :band],
                  np.s_[band:h - band, w - band:]]
        if band * 2 >= min(w, h) or any(pixels[strip][..., 3].any() for strip in strips):
            image = Image.new("RGBA", (self.width, self.height), (0, 0, 0, 0))
            draw = ImageDraw.Draw(image)
            _draw_hazard_border(draw, w, h, self.u)
            self._draw_fixed(draw)
            self._draw_changing(draw, active, handle)
            return np.array(image)
        hazard = _hazard_border(w, h, self.u)
        for strip in strips:
            pixels[strip] = hazard[strip]
        return pixels

    def _draw_fixed(self, draw: ImageDraw.ImageDraw) -> None:
        """The header and counter panels with their text: the same in every state."""
        pad = self.pad
        self._panel(draw, self.header_box)
        y = self.header_box[1] + pad
        for text, face, color in self.header_lines:
            draw.text((self.header_box[0] + pad, y), text, font=face, fill=(*color, 255))
            y += face.size * (1.45 if face is self.big else 1.3)
        box = self.counter_box
        self._panel(draw, box)
        x0 = box[0] + pad
        for label, text, y_row, face in self._counter_rows():
            if label:
                draw.text((x0, y_row + face.size * 0.55), label, font=self.tiny,
                          fill=(*DIM, 255), anchor="lm")
            draw.text((box[2] - pad, y_row), text, font=face, fill=(*TEXT, 255), anchor="ra")

    def _draw_changing(self, draw: ImageDraw.ImageDraw, active: int | None,
                       handle: str | None) -> None:
        """What a state adds over the fixed panels: the dialog (its active line) and the
        HANDLE tag."""
        if self.dialog_box:
            self._draw_dialog(draw, active)
        if handle:
            self._draw_handle_tag(draw, handle)

    def _counter_rows(self) -> list[tuple[str, str, int, ImageFont.FreeTypeFont]]:
        """(label, text, top y, face) of the source timecode in, the frames and the length rows
        of the counter panel (small frames: the timecode and the frames, unlabelled)."""
        top = self.margin + self.pad
        frame_y = top + self.tc_face.size + round(4 * self.u)
        if self.compact:
            return [("", self.tc_text, top, self.tc_face),
                    ("", f"{self.cut_frames} fr", frame_y, self.small)]
        length_y = frame_y + self.small.size + round(3 * self.u)
        return [("TC IN", self.tc_text, top, self.tc_face),
                ("FRAMES", self.frames_text, frame_y, self.small),
                ("LENGTH", self.length_text, length_y, self.small)]

    def _draw_dialog(self, draw: ImageDraw.ImageDraw, active: int | None) -> None:
        assert self.dialog_box is not None
        self._panel(draw, self.dialog_box)
        pad, face = self.pad, self.dialog_face
        line_h = face.size * 1.3
        x0 = self.dialog_box[0] + pad + round(6 * self.u)
        y = self.dialog_box[1] + pad
        for index, (speaker, rows) in enumerate(self.dialog_lines):
            lit = active is None or index == active
            if index == active:
                draw.rectangle((self.dialog_box[0] + pad, y + 1, self.dialog_box[0] + pad
                                + max(1, round(2 * self.u)), y + len(rows) * line_h - 2),
                               fill=(*ACCENT, 255))
            indent = self.speaker_col if speaker else 0
            if speaker:
                draw.text((x0, y), speaker, font=face, fill=(*(ACCENT if lit else DIM), 255))
            for row in rows:
                draw.text((x0 + indent, y), row, font=face,
                          fill=(*(TEXT if lit else DIM), 255))
                y += line_h

    def _tag_box(self, handle: str) -> Box:
        """Where the HANDLE tag goes: between the header and the counters (centred if they
        leave no room); (x0, y0, x1, y1), the corners inclusive as PIL draws them."""
        u, w, h = self.u, self.width, self.height
        band = max(2, round(6 * u))
        tag_w = round(self._tag_face().getlength(self._tag_text(handle)) + 20 * u)
        tag_h = round(self._tag_face().size * 1.6)
        x0 = (self.header_box[2] + self.counter_box[0]) // 2 - tag_w // 2
        x0 = min(max(x0, band), w - band - tag_w)
        y0 = self.margin
        if x0 < self.header_box[2] + 2 and y0 < self.header_box[3]:
            x0, y0 = (w - tag_w) // 2, (h - tag_h) // 2
        return x0, y0, x0 + tag_w, y0 + tag_h

    def _tag_face(self) -> ImageFont.FreeTypeFont:
        return font(16 * self.u)

    @staticmethod
    def _tag_text(handle: str) -> str:
        return f"HANDLE  ·  {handle.upper()}"

    def _draw_handle_tag(self, draw: ImageDraw.ImageDraw, handle: str) -> None:
        """The HANDLE tag (`_tag_box`): this frame is outside the cut."""
        x0, y0, x1, y1 = self._tag_box(handle)
        draw.rectangle((x0, y0, x1, y1), fill=(*HANDLE, 255))
        draw.text(((x0 + x1) / 2, (y0 + y1) / 2), self._tag_text(handle), font=self._tag_face(),
                  fill=(0, 0, 0, 255), anchor="mm")


def _hazard_band(u: float) -> int:
    """Width in pixels of the hazard border's strips."""
    return max(2, round(6 * u))


def _draw_hazard_border(draw: ImageDraw.ImageDraw, w: int, h: int, u: float) -> None:
    """Yellow/black hazard stripes round the frame: this frame is outside the cut."""
    band = _hazard_band(u)
    stripe = max(4, round(14 * u))
    draw.rectangle((0, 0, w - 1, h - 1), fill=(0, 0, 0, 255))
    for k in range(-h, w + h, stripe * 2):
        poly = [(k, 0), (k + stripe, 0), (k + stripe - h, h), (k - h, h)]
        draw.polygon(poly, fill=(*HANDLE, 255))
    draw.rectangle((band, band, w - 1 - band, h - 1 - band), fill=(0, 0, 0, 0))


@functools.lru_cache(maxsize=8)
def _hazard_border(w: int, h: int, u: float) -> np.ndarray:
    """The hazard border alone as an RGBA frame (read-only), drawn once per frame size."""
    image = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    _draw_hazard_border(ImageDraw.Draw(image), w, h, u)
    pixels = np.array(image)
    pixels.setflags(write=False)
    return pixels


@functools.lru_cache(maxsize=256)
def _name_tags(label: str, u: float) -> tuple[np.ndarray, np.ndarray]:
    """Two RGBA name-tag sprites: normal (dark) and speaking (accent); made once per label
    and size (read-only: shared by every shot the character is in)."""
    face = font(11 * u)
    text_w = math.ceil(face.getlength(label))
    w, h = text_w + round(10 * u), round(face.size * 1.5)
    tags = []
    for fill, ink in (((*PANEL, 200), (*TEXT, 255)), ((*ACCENT, 240), (*PANEL, 255))):
        image = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        draw = ImageDraw.Draw(image)
        draw.rounded_rectangle((0, 0, w - 1, h - 1), radius=max(1, h // 2), fill=fill)
        draw.text((w / 2, h / 2), label, font=face, fill=ink, anchor="mm")
        tag = np.array(image)
        tag.setflags(write=False)
        tags.append(tag)
    return tags[0], tags[1]


def _actors(spec: ShotSpec, production: Production, width: int, height: int,
            u: float) -> list[_Actor]:
    actors = []
    actings = acting_for(spec, production)
    for char in spec.characters:
        try:
            member = production.member(char.name)
            label, height_m = member.label.upper(), member.height_m
        except SoloreelError:
            label, height_m = char.name.upper(), 1.75
        track = (_load_pose_track(production, char.pose_track, width, height)
                 if char.pose_track else None)
        actors.append(_Actor(char, printable(label), height_m, track,
                             _name_tags(printable(label), u), actings.get(char.name)))
    return actors


@functools.lru_cache(maxsize=16384)
def _standing_pose(feet: tuple[float, float], height_px: float, facing_deg: float, t: float,
                   action: str, distance: float, camera_up: float,
                   acting: Acting | None = None) -> np.ndarray:
    """`standing_pose`, memoised (read-only result): the shots of a scene pose the same
    figures at the same frame times, so each pose is computed once for all of them."""
    keypoints = standing_pose(feet, height_px, facing_deg, t, action, distance=distance,
                              camera_up=camera_up, acting=acting)
    keypoints.setflags(write=False)
    return keypoints


def _moves(actor: _Actor) -> bool:
    """Whether the character's blocking moves it during a shot (a pose track, a walk): the
    only thing on a slate that changes from frame to frame."""
    return bool(actor.track) or actor.spec.action == "walk"


def _pose(actor: _Actor, plate: PlateView, width: int, seconds: float, shot_seconds: float,
          frame_index: int, speaking: bool) -> tuple[float, np.ndarray] | None:
    """(depth in metres, keypoints) of one character at one frame; None when behind the camera.

    A character who does not move (`_moves`) is held in its pose at time 0 (no idle sway,
    breathing or gesturing: the slate is a still picture of the blocking); a walker walks.
    """
    if actor.track:
        return 0.0, actor.track[min(frame_index, len(actor.track) - 1)]
    (x, z), heading, walking = _walk_position(actor.spec, shot_seconds)
    if actor.spec.action in ("sit", "sit_down", "stand_up"):  # feet a thigh before the seat
        reach = SEAT_FORWARD - (SEATED_HEAD_FORWARD if getattr(actor.acting, "seat", None)
                                else 0.0)  # on a set's seat: eyes over the position
        x += math.sin(math.radians(heading)) * reach * actor.height_m
        z += math.cos(math.radians(heading)) * reach * actor.height_m
    if z <= 0.3:
        return None
    z = max(z, 0.8)
    focal = plate.focal_px
    feet = (width / 2 + focal * x / z, plate.horizon_y + focal * plate.camera_height_m / z)
    action = actor.spec.action
    if speaking and action in ("stand", "turn"):
        action = "talk"
    if action == "walk" and not walking:
        action = "stand"
    t = seconds if _moves(actor) else 0.0
    acting = body_acting(heading, actor.height_m, shot_seconds, actor.acting, (x, z)) if (
        actor.acting is not None) else None
    keypoints = _standing_pose(feet, focal * actor.height_m / z, heading, t, action,
                               z / actor.height_m, plate.camera_height_m / actor.height_m,
                               acting)
    return z, keypoints


_Person = tuple[float, np.ndarray, _Actor, bool]
"""(depth in metres, keypoints, the actor, whether speaking) of one figure in one frame."""


class _Shot:
    """One shot's painter: the plate, the actors and the slate, and what one frame shows."""

    def __init__(self, spec: ShotSpec, production: Production, width: int, height: int,
                 frame_count: int, fps: float, shot_label: str, handles: tuple[int, int],
                 start_seconds: float | None, source_first: int | None = None) -> None:
        if width < 16 or height < 16 or frame_count < 0:
            raise ValueError(
                f"bad placeholder geometry {width}x{height}, {frame_count} frames")
        set_spec = production.set(spec.set)
        self.plate = plate_view(spec, production, set_spec, width, height)
        self.u = min(height / 360.0, width / 480.0)
        self.actors = _actors(spec, production, width, height, self.u)
        self.slate = _Slate(spec, production, self.plate, self.actors, width, height,
                            frame_count, fps, shot_label, handles, source_first)
        self.still = not any(_moves(actor) for actor in self.actors)
        """No one moves: a frame's figures follow from its slate state (who speaks) alone."""
        self.spec, self.width, self.fps = spec, width, fps
        self.frame_count, self.handles, self.start_seconds = frame_count, handles, start_seconds
        self._held: dict[int | None, list[_Person]] = {}
        """The figures of a still shot by the dialog line being spoken (None: no line)."""

    def at(self, index: int) -> tuple[_SlateState, list[_Person], Hashable]:
        """The slate state and the posed figures of frame `index`, and a key that is equal
        for two frames only when their figures are (None: they may differ from any other)."""
        head, tail = self.handles
        seconds = index / self.fps
        shot_seconds = (index - head) / self.fps if self.start_seconds is None else (
            self.start_seconds + index / self.fps)
        handle = ("head" if index < head
                  else ("tail" if index >= self.frame_count - tail else None))
        active = self.slate.active_line(shot_seconds)
        state = self.slate.state(active, handle)
        if self.still and active in self._held:
            return state, self._held[active], ("held", active)
        speaker = self.spec.dialog[active].speaker.lower() if active is not None else None
        people = []
        for actor in self.actors:
            speaking = speaker == actor.spec.name.lower()
            posed = _pose(actor, self.plate, self.width, seconds, shot_seconds, index,
                          speaking)
            if posed is not None:
                people.append((posed[0], posed[1], actor, speaking))
        if not self.still:
            return state, people, None
        self._held[active] = people
        return state, people, ("held", active)

    def paint(self, index: int) -> np.ndarray:
        """Frame `index` painted whole: the slate state and the figures."""
        state, people, _key = self.at(index)
        frame = state.base.copy()
        if people:
            _composite_people(frame, self.plate.image, state, people)
        return frame


def render_placeholder_frames(
    spec: ShotSpec, production: Production, width: int, height: int, frame_count: int,
    fps: float, shot_label: str, handles: tuple[int, int] = (0, 0),
    start_seconds: float | None = None, source_first: int | None = None,
) -> Iterator[np.ndarray]:
    """Yield the placeholder frames of one shot (HxWx3 uint8 RGB), handles included.

    Each frame shows the darkened plate, an OpenPose skeleton per character at its floor
    position (pinhole from the plate's horizon and camera height), and a slate: shot label,
    size, angle, camera move, characters, dialog (the line being spoken highlighted), the
    source timecode of the cut's first frame (`source_first` is the first frame rendered, in
    source frames), the cut's length in frames and seconds. Frames in the handles (the first
    handles[0], the last handles[1]) carry a hazard border and a HANDLE tag. `start_seconds`
    is the shot time (seconds from the spec's origin, which dialog `start` counts from) of the
    first frame; by default the cut starts at shot time 0. Every frame is painted whole and is
    an array of its own (`placeholder_frames` is the fast road to an encoder). Raises
    SoloreelError when the shot's set is not in the bible.
    """
    shot = _Shot(spec, production, width, height, frame_count, fps, shot_label, handles,
                 start_seconds, source_first)
    for index in range(frame_count):
        yield shot.paint(index)


def placeholder_frames(
    spec: ShotSpec, production: Production, width: int, height: int, frame_count: int,
    fps: float, shot_label: str, handles: tuple[int, int] = (0, 0),
    start_seconds: float | None = None, source_first: int | None = None,
) -> Iterator[tuple[np.ndarray, list[Box] | None]]:
    """The frames of `render_placeholder_frames`, pixel for pixel, for an encoder: yields
    (frame, changed) where `frame` is one buffer repainted in place (valid until the next
    frame is asked for; copy it to keep it) and `changed` the boxes (x0, y0, x1, y1) outside
    which it equals the previous frame (None for the first frame: take it whole; []: the
    frame is the previous one).

    Only what moves is repainted: where the last frame's figures were is put back from the
    slate state, then this frame's are drawn, and `changed` holds boxes round the pixels that
    really differ. Figures held still are not even posed again, and come from `_PEOPLE_CACHE`
    when a shot of the same scene already painted them at this frame time.
    """
    shot = _Shot(spec, production, width, height, frame_count, fps, shot_label, handles,
                 start_seconds, source_first)
    frame = previous = np.empty(0, np.uint8)
    shown: _SlateState | None = None
    shown_patch: tuple[Box, np.ndarray] | None = None
    shown_key: Hashable = None
    for index in range(frame_count):
        state, people, key = shot.at(index)
        if state is shown and key is not None and key == shown_key:
            yield frame, []
            continue
        patch = _cached_people_patch(shot.plate, people) if people else None
        changed: list[Box] | None = []
        if state is not shown:  # a new slate state: where it differs from the last frame
            frame = state.base.copy()
            if patch is not None:
                _apply_people(frame, state, *patch)
            changed = (None if shown is None
                       else _compare(frame, previous, [(0, 0, frame.shape[1], frame.shape[0])]))
            previous = frame.copy()
        elif patch is not shown_patch:
            old = [shown_patch[0]] if shown_patch is not None else []
            _restore(frame, state, old)
            if patch is not None:
                _apply_people(frame, state, *patch)
            changed = _compare(frame, previous, old + ([patch[0]] if patch is not None else []))
        shown, shown_patch, shown_key = state, patch, key
        yield frame, changed


def _restore(frame: np.ndarray, state: _SlateState, boxes: list[Box]) -> None:
    """Put the slate state back inside `boxes` (what was painted over it there goes)."""
    for x0, y0, x1, y1 in boxes:
        frame[y0:y1, x0:x1] = state.base[y0:y1, x0:x1]


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _compare(frame: np.ndarray, previous: np.ndarray, boxes: list[Box]) -> list[Box]:
    """Where `frame` differs from `previous` inside `boxes` (tight boxes); `previous` is
    brought up to date there."""
    changed = []
    for x0, y0, x1, y1 in _merge(boxes):
        changed += _changes(frame[y0:y1, x0:x1], previous[y0:y1, x0:x1], x0, y0)
        previous[y0:y1, x0:x1] = frame[y0:y1, x0:x1]
    return changed


def _merge(boxes: list[Box]) -> list[Box]:
    """The boxes with overlapping ones joined into their bounding box (so no pixel is in two)."""
    merged = list(boxes)
    joined = True
    while joined:
        joined = False
        for i, j in itertools.combinations(range(len(merged)), 2):
            (a0, b0, a1, b1), (x0, y0, x1, y1) = merged[i], merged[j]
            if x0 < a1 and a0 < x1 and y0 < b1 and b0 < y1:
                merged[i] = (min(x0, a0), min(y0, b0), max(x1, a1), max(y1, b1))
                del merged[j]
                joined = True
                break
    return merged


CHANGE_GAP = 24
"""Changed columns this far apart are reported as separate boxes (two figures moving at
either side of the frame are two small regions, not one wide one)."""


def _changes(new: np.ndarray, old: np.ndarray, x0: int, y0: int) -> list[Box]:
    """Boxes (in frame coordinates, `new` sitting at x0, y0) round the pixels that differ."""
    differs = (new != old).reshape(new.shape[0], -1)  # rows x (columns x channels): numpy
    columns = np.flatnonzero(differs.any(axis=0).reshape(-1, 3).any(axis=1))  # reduces 2D fast
    if not columns.size:
        return []
    breaks = np.flatnonzero(np.diff(columns) > CHANGE_GAP)
    boxes = []
    for first, last in zip(np.r_[columns[0], columns[breaks + 1]],
                           np.r_[columns[breaks], columns[-1]], strict=True):
        rows = np.flatnonzero(differs[:, 3 * first:3 * last + 3].any(axis=1))
        boxes.append((x0 + int(first), y0 + int(rows[0]), x0 + int(last) + 1,
                      y0 + int(rows[-1]) + 1))
    return boxes


_PEOPLE_CACHE: OrderedDict[Hashable, tuple[Box, np.ndarray] | None] = OrderedDict()
"""Painted figures (their box, and the plate under them with skeletons and name tags), by the
plate and the figures' exact poses: the shots of a scene share them frame time by frame time.
Least recently used first; `_PEOPLE_CACHE_BYTES` at most."""
_PEOPLE_CACHE_BYTES = 96 << 20
_people_cache_size = [0]
_PEOPLE_LOCK = threading.Lock()


def _cached_people_patch(plate: PlateView,
                         people: list[_Person]) -> tuple[Box, np.ndarray] | None:
    """`_people_patch`, looked up first in `_PEOPLE_CACHE` (read-only: shared). The name tags
    are keyed by label: their size follows the frame's, which the plate's key holds."""
    if not plate.key:
        return _people_patch(plate.image, people)
    key = (plate.key, tuple((depth, keypoints.tobytes(), actor.label, speaking)
                            for depth, keypoints, actor, speaking in people))
    with _PEOPLE_LOCK:
        if key in _PEOPLE_CACHE:
            _PEOPLE_CACHE.move_to_end(key)
            return _PEOPLE_CACHE[key]
    patch = _people_patch(plate.image, people)
    if patch is not None:
        patch[1].setflags(write=False)
    with _PEOPLE_LOCK:
        if key not in _PEOPLE_CACHE:
            _PEOPLE_CACHE[key] = patch
            _people_cache_size[0] += patch[1].nbytes if patch is not None else 0
        while _people_cache_size[0] > _PEOPLE_CACHE_BYTES and _PEOPLE_CACHE:
            _old_key, old = _PEOPLE_CACHE.popitem(last=False)
            if old is not None:
                _people_cache_size[0] -= old[1].nbytes
    return patch


def _people_patch(plate: np.ndarray,
                  people: list[_Person]) -> tuple[Box, np.ndarray] | None:
    """The box the figures cover (skeletons, name tags, a margin) and the plate inside it with
    them painted on; None when nothing shows."""
    height, width = plate.shape[:2]
    boxes = []
    tags = []
    for _depth, keypoints, actor, speaking in people:
        visible = keypoints[keypoints[:, 2] > 0]
        if not len(visible):
            continue
        tag = actor.tags[1 if speaking else 0]
        head_x = float(visible[:, 0].mean() if keypoints[1, 2] <= 0 else keypoints[1, 0])
        top = float(visible[:, 1].min())
        tx, ty = round(head_x - tag.shape[1] / 2), round(top - tag.shape[0] - 8)
        tags.append((tag, tx, ty))
        boxes.append((visible[:, 0].min() - 8, top - 8, visible[:, 0].max() + 8,
                      visible[:, 1].max() + 8))
        boxes.append((tx, ty, tx + tag.shape[1], ty + tag.shape[0]))
    if not boxes:
        return None
    x0 = max(0, math.floor(min(b[0] for b in boxes)))
    y0 = max(0, math.floor(min(b[1] for b in boxes)))
    x1 = min(width, math.ceil(max(b[2] for b in boxes)))
    y1 = min(height, math.ceil(max(b[3] for b in boxes)))
    if x0 >= x1 or y0 >= y1:
        return None
    scratch = plate[y0:y1, x0:x1].copy()
    offset = np.array([x0, y0, 0.0])
    for _depth, keypoints, _actor, _speaking in sorted(people, key=lambda p: -p[0]):
        paint_people(scratch, [keypoints - offset])
    for tag, tx, ty in tags:
        blit_rgba(scratch, tag, tx - x0, ty - y0)
    return (x0, y0, x1, y1), scratch


def _apply_people(frame: np.ndarray, state: _SlateState, box: Box,
                  scratch: np.ndarray) -> None:
    """Put painted figures into a frame under the slate: copied as they are, and composited
    again under the overlay where a panel of it covers them."""
    x0, y0, x1, y1 = box
    frame[y0:y1, x0:x1] = scratch
    for (px0, py0, px1, py1), inverse, premult in state.panels:
        ix0, iy0, ix1, iy1 = max(x0, px0), max(y0, py0), min(x1, px1), min(y1, py1)
        if ix0 < ix1 and iy0 < iy1:
            under = scratch[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0]
            cover = (slice(iy0 - py0, iy1 - py0), slice(ix0 - px0, ix1 - px0))
            frame[iy0:iy1, ix0:ix1] = ((under * inverse[cover] + premult[cover]) >> 8).astype(
                np.uint8)


def _composite_people(frame: np.ndarray, plate: np.ndarray, state: _SlateState,
                      people: list[_Person]) -> None:
    """Draw skeletons and name tags on the plate under the slate, inside their bounding box.

    Only rows the slate covers are re-composited; elsewhere the drawing is copied as it is.
    """
    patch = _people_patch(plate, people)
    if patch is not None:
        _apply_people(frame, state, *patch)


def render_error_slate(width: int, height: int, frame_count: int, shot_label: str,
                       reason: str) -> Iterator[np.ndarray]:
    """Yield `frame_count` frames of a red RENDER FAILED slate naming the shot and the reason.

    Put on the timeline in place of a shot that could not be rendered, so the edit still plays
    and the editor sees at a glance what broke and why.
    """
    u = min(height / 360.0, width / 480.0)
    image = Image.new("RGB", (width, height), ERROR_RED)
    draw = ImageDraw.Draw(image)
    stripe = max(4, round(14 * u))
    band = max(3, round(10 * u))
    for k in range(-height, width + height, stripe * 2):
        draw.polygon([(k, 0), (k + stripe, 0), (k + stripe - height, height), (k - height,
                                                                                 height)],
                     fill=(30, 4, 6))
    draw.rectangle((band, band, width - 1 - band, height - 1 - band), fill=ERROR_RED)
    margin = round(28 * u)
    inner = width - 2 * margin
    title, label_face, body = font(40 * u), font(22 * u), font(15 * u)
    y = margin
    draw.text((margin, y), ellipsize("RENDER FAILED", title, inner), font=title,
              fill=(255, 255, 255))
    y += round(title.size * 1.3)
    draw.text((margin, y), ellipsize(printable(shot_label), label_face, inner),
              font=label_face, fill=(255, 220, 200))
    y += round(label_face.size * 1.6)
    draw.line((margin, y, width - margin, y), fill=(255, 160, 150), width=max(1, round(u)))
    y += round(10 * u)
    line_h = round(body.size * 1.35)
    rows = wrap(printable(reason.strip() or "unknown error"), body, inner)
    room = max(1, (height - band - y - round(8 * u)) // line_h)
    if len(rows) > room:
        rows = [*rows[:room - 1], ellipsize(rows[room - 1] + " ...", body, inner)]
    for row in rows:
        draw.text((margin, y), row, font=body, fill=(255, 255, 255))
        y += line_h
    frame = np.asarray(image, dtype=np.uint8)
    for _ in range(frame_count):
        yield frame.copy()

