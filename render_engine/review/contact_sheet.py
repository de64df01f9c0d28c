"""The printable contact sheet: N shot panels per A4 landscape page, as PDF or PNG pages.

Each panel is a framed box: the shot's representative frame(s) of its active tier, then the
storyboard's captions (shot, size, move, length, cast, dialog, tiers, estimated final cost).
Both outputs share one layout (`layout`, `caption_lines`) so a PNG page looks like the printed
one. The PDF embeds DejaVu Sans (shipped with matplotlib) for full Unicode captions.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from render_engine.bible import TIERS
from render_engine.review.frames import card, shot_stills
from render_engine.review.shots import Review, ReviewShot, timecode
from render_engine.review.storyboard import dialog_lines, shot_facts
from render_engine.slate_text import wrap as wrap_words

PAGE_W, PAGE_H = 297.0, 210.0
"""A4 landscape, millimetres."""
MARGIN, GAP, HEADER = 10.0, 6.0, 12.0
FRAME_COLOR = (40, 44, 52)
CAPTION_PT = 8.0
LINE_MM = CAPTION_PT * 0.3528 * 1.3


@dataclass(frozen=True)
class Box:
    """A rectangle in millimetres from the page's top-left corner."""

    x: float
    y: float
    w: float
    h: float


def grid(per_page: int) -> tuple[int, int]:
    """(columns, rows) for `per_page` panels on a landscape page."""
    per_page = max(1, per_page)
    columns = max(1, math.ceil(math.sqrt(per_page * 1.5)))
    columns = min(columns, per_page)
    return columns, math.ceil(per_page / columns)


def layout(per_page: int) -> list[Box]:
    """The panel boxes of one page, row by row."""
    columns, rows = grid(per_page)
    width = (PAGE_W - 2 * MARGIN - (columns - 1) * GAP) / columns
    height = (PAGE_H - 2 * MARGIN - HEADER - (rows - 1) * GAP) / rows
    return [Box(MARGIN + c * (width + GAP), MARGIN + HEADER + r * (height + GAP), width, height)
            for r in range(rows) for c in range(columns)][:per_page]


def caption_lines(review: Review, shot: ReviewShot) -> list[tuple[str, str]]:
    """(style, text) caption lines of a panel: "b" bold, "" regular, "d" dim."""
    facts = shot_facts(review, shot)
    lines = [("b", f"#{shot.number}  {shot.shot_id}  {shot.name}")]
    lines.append(("", " | ".join(v for v in (facts.get("size"), facts.get("move"),
                                               f"{facts['duration']} @ {facts['at']}") if v)))
    if facts.get("characters"):
        lines.append(("", f"cast: {facts['characters']}"))
    for who, text in dialog_lines(review, shot):
        lines.append(("", f"{who}: {text}"))
    lines.append(("d", " · ".join(f"{t} {shot.states.get(t, 'missing')}" for t in TIERS)))
    lines.append(("d", f"{facts['final']} ({review.final_source()})"))
    for note in shot.stale_notes():
        lines.append(("d", note))
    if shot.problem:
        lines.append(("d", shot.problem))
    return lines


def _image_area(box: Box, pad: float, caption_rows: int) -> Box:
    """The picture's place inside a panel: full width, 16:9, leaving room for captions."""
    width = box.w - 2 * pad
    room = box.h - 2 * pad - caption_rows * LINE_MM - 1.5
    height = max(5.0, min(width * 9 / 16, room))
    return Box(box.x + pad, box.y + pad, width, height)


def picture(shot: ReviewShot, width: int, height: int, production: Any = None) -> Image.Image:
    """The panel's picture at width x height: the one still, or for a moving shot its
    first/middle/last frames in a 2x2 grid whose fourth cell names the move; a shot with a
    keyframe shows it, tagged (`storyboard.keyframe_still`)."""
    from render_engine.review.storyboard import keyframe_still, tagged_keyframe

    still = keyframe_still(shot, production)
    stills = [("keyframe", tagged_keyframe(still))] if still else shot_stills(shot)
    canvas = Image.new("RGB", (width, height), (0, 0, 0))
    if len(stills) == 1:
        cells = [(0, 0, width, height)]
    else:
        half_w, half_h, gap = width // 2, height // 2, max(1, width // 200)
        cells = [(0, 0, half_w - gap, half_h - gap), (half_w + gap, 0, width, half_h - gap),
                 (0, half_h + gap, half_w - gap, height)]
        move = shot.spec.camera.move.replace("_", " ") if shot.spec else ""
        note = card(width - half_w - gap, height - half_h - gap, move,
                    ["first · middle · last"], color=(0, 0, 0))
        canvas.paste(Image.fromarray(note), (half_w + gap, half_h + gap))
    for (_label, still), (x0, y0, x1, y1) in zip(stills, cells, strict=False):
        image = Image.fromarray(still)
        scale = min((x1 - x0) / image.width, (y1 - y0) / image.height)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
        canvas.paste(image, (x0 + (x1 - x0 - size[0]) // 2, y0 + (y1 - y0 - size[1]) // 2))
    return canvas


def flow(lines: list[tuple[str, str]], rows: int,
         wrap: Callable[[str, str], list[str]]) -> list[tuple[str, str]]:
    """Caption lines laid into `rows` rows: each wrapped to at most two rows (the second cut
    with "…"), the dim status lines at the end always kept."""
    tail = [(style, text) for style, text in lines if style == "d"]
    budget = max(0, rows - len(tail))
    out: list[tuple[str, str]] = []
    for style, text in lines:
        if style == "d":
            continue
        parts = wrap(style, text)
        if len(parts) > 2:
            parts = [parts[0], " ".join(parts[1:])]
        out += [(style, part) for part in parts]
    return out[:budget] + tail


def _pages(review: Review, per_page: int) -> list[list[ReviewShot]]:
    return [review.shots[i:i + per_page] for i in range(0, len(review.shots), per_page)] or [[]]


def _header(review: Review, page: int, pages: int) -> str:
    return (f"{review.title} — contact sheet · {len(review.shots)} shots · "
            f"{timecode(review.frames, review.fps)} · {review.final_total_text()} · "
            f"page {page}/{pages}")


CAPTION_ROWS = 8


def _dejavu() -> tuple[Path, Path] | None:
    try:
        import matplotlib
    except ImportError:
        return None
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
    return (regular, bold) if regular.is_file() and bold.is_file() else None


class _PdfFace:
    """The `getlength` of a PIL font, measured by fpdf in its current font (for wrapping)."""

    def __init__(self, pdf: object) -> None:
        self.pdf = pdf

    def getlength(self, text: str) -> float:
        return float(self.pdf.get_string_width(text))  # type: ignore[attr-defined]


def write_pdf(review: Review, path: Path, per_page: int = 6) -> int:
    """Write the contact sheet PDF; returns the number of pages."""
    from fpdf import FPDF

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_title(f"{review.title} — contact sheet")
    fonts = _dejavu()
    family = "DejaVu" if fonts else "Helvetica"
    if fonts:
        pdf.add_font("DejaVu", "", str(fonts[0]))
        pdf.add_font("DejaVu", "B", str(fonts[1]))

    def clean(text: str) -> str:
        return text if fonts else text.encode("latin-1", "replace").decode("latin-1")

    def fit(text: str, width: float) -> str:
        text = clean(text)
        if pdf.get_string_width(text) <= width:
            return text
        while text and pdf.get_string_width(text + "…") > width:
            text = text[:-1]
        return text.rstrip() + "…"

    pages = _pages(review, per_page)
    boxes = layout(per_page)
    pad = 2.0
    for number, shots in enumerate(pages, start=1):
        pdf.add_page()
        pdf.set_font(family, "B", 11)
        pdf.set_text_color(20, 20, 20)
        pdf.text(MARGIN, MARGIN + 5, fit(_header(review, number, len(pages)), PAGE_W - 2 * MARGIN))
        for shot, box in zip(shots, boxes, strict=False):
            pdf.set_draw_color(*FRAME_COLOR)
            pdf.set_line_width(0.6)
            pdf.rect(box.x, box.y, box.w, box.h)
            area = _image_area(box, pad, CAPTION_ROWS)
            jpeg = io.BytesIO()
            picture(shot, 960, round(960 * area.h / area.w), review.production).save(
                jpeg, "JPEG", quality=88)
            pdf.image(jpeg, area.x, area.y, area.w, area.h)
            y = area.y + area.h + 1.5 + LINE_MM * 0.8
            rows = int((box.y + box.h - pad - (y - LINE_MM * 0.8)) / LINE_MM)

            def wrap(style: str, text: str, width: float = box.w - 2 * pad) -> list[str]:
                pdf.set_font(family, "B" if style == "b" else "", CAPTION_PT)
                return wrap_words(clean(text), _PdfFace(pdf), width)

            for style, text in flow(caption_lines(review, shot), rows, wrap):
                pdf.set_font(family, "B" if style == "b" else "", CAPTION_PT)
                pdf.set_text_color(*((110, 110, 110) if style == "d" else (15, 15, 15)))
                pdf.text(box.x + pad, y, fit(text, box.w - 2 * pad))
                y += LINE_MM
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return len(pages)


def _pil_fonts(size: int) -> tuple[ImageFont.FreeTypeFont, ImageFont.FreeTypeFont]:
    fonts = _dejavu()
    if fonts:
        return (ImageFont.truetype(str(fonts[0]), size), ImageFont.truetype(str(fonts[1]), size))
    face = ImageFont.load_default(size=size)
    return face, face  # type: ignore[return-value]


def write_png(review: Review, path: Path, per_page: int = 6, dpi: int = 150) -> list[Path]:
    """Write the contact sheet as PNG pages (`sheet.png`, `sheet-2.png`, …); returns them."""
    scale = dpi / 25.4
    regular, bold = _pil_fonts(round(CAPTION_PT / 72 * dpi))
    title = _pil_fonts(round(11 / 72 * dpi))[1]

    def fit(face: ImageFont.FreeTypeFont, text: str, width: float) -> str:
        if face.getlength(text) <= width:
            return text
        while text and face.getlength(text + "…") > width:
            text = text[:-1]
        return text.rstrip() + "…"

    pages = _pages(review, per_page)
    boxes = layout(per_page)
    written = []
    pad = 2.0
    for number, shots in enumerate(pages, start=1):
        page = Image.new("RGB", (round(PAGE_W * scale), round(PAGE_H * scale)), "white")
        draw = ImageDraw.Draw(page)
        draw.text((MARGIN * scale, (MARGIN + 1) * scale),
                  fit(title, _header(review, number, len(pages)), (PAGE_W - 2 * MARGIN) * scale),
                  font=title, fill=(20, 20, 20))
        for shot, box in zip(shots, boxes, strict=False):
            draw.rectangle((box.x * scale, box.y * scale, (box.x + box.w) * scale,
                            (box.y + box.h) * scale), outline=FRAME_COLOR,
                           width=max(1, round(0.6 * scale)))
            area = _image_area(box, pad, CAPTION_ROWS)
            size = (round(area.w * scale), round(area.h * scale))
            page.paste(picture(shot, *size, review.production),
                       (round(area.x * scale), round(area.y * scale)))
            y = area.y + area.h + 1.5
            rows = int((box.y + box.h - pad - y) / LINE_MM)

            def wrap(style: str, text: str, width: float = (box.w - 2 * pad) * scale
                     ) -> list[str]:
                return wrap_words(text, bold if style == "b" else regular, width)

            for style, text in flow(caption_lines(review, shot), rows, wrap):
                face = bold if style == "b" else regular
                draw.text((((box.x + pad) * scale), y * scale),
                          fit(face, text, (box.w - 2 * pad) * scale), font=face,
                          fill=(110, 110, 110) if style == "d" else (15, 15, 15))
                y += LINE_MM
        target = path if number == 1 else path.with_name(f"{path.stem}-{number}{path.suffix}")
        target.parent.mkdir(parents=True, exist_ok=True)
        page.save(target)
        written.append(target)
    return written
