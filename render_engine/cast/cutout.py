"""One picture of a character → a keyed cut-out view with anchors, and a check image of them.

Used by `soloreel cast new` (leads) and `soloreel cast extra` (extras) alike: the picture is cut
out when it has transparency or a plain background, cropped, its anchors (feet, head top, eyes,
mouth) estimated from the silhouette, and `cast/NAME/anchors.png` drawn — the cut-out on a
checkerboard with every anchor marked and a pixel ruler — so a wrong anchor is seen at once and
corrected with `--anchor eyes=X,Y` (image pixels of the view), which rewrites the cast file.

The background counts as plain when the picture's border pixels all lie within
BORDER_TOLERANCE of their median colour; then every pixel connected to the border within that
tolerance becomes transparent (a flood fill, so a white shirt inside the figure stays).

Anchors come from the silhouette's width, row by row: the shoulders are the first row much wider
than the head above them, the chin where the head has narrowed most of the way to the neck;
eyes sit a little below half-way down the head and the mouth four fifths of the way. A
silhouette with no such shape (a block, a figure with raised arms) falls back to average human
proportions (head ≈ 1/7.5 of the height).

A standing picture also gives a derived `sit_front` view (`seated_view`): the legs folded
under the body onto a stool, so a character the script seats sits in the animatic until a
painted seated view replaces it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from render_engine.atomic import atomic_path
from render_engine.bible import CastMember, Production
from render_engine.cast.workspace import (
    Workspace,
    check_image,
    new_character,
    read_cast_raw,
    registrable,
    update_cast,
    write_cast,
)
from render_engine.errors import SoloreelError
from render_engine.proxy.keying import key_screen, screen_colour
from render_engine.slate_text import font

BORDER_TOLERANCE = 24.0
"""Max colour distance (0–441) of a border pixel from the border's median for a plain
background, and of a background pixel from it."""
EYES_FRACTION = 0.065
"""Eyes below the head top, as a fraction of the standing figure's height (head ≈ 1/7.5),
when the silhouette shows no head."""
MOUTH_FRACTION = 0.105
MOUTH_WIDTH_FRACTION = 0.35
"""Mouth width as a fraction of the head's width at the mouth row."""
EYES_IN_HEAD = 0.55
MOUTH_IN_HEAD = 0.8
"""Eyes and mouth below the head top, as fractions of the head (top of the head to chin)."""
SHOULDER_JUMP = 1.4
"""A row this much wider than the head above it is the shoulders."""
HEAD_RANGE = (0.06, 0.45)
"""A head found from the silhouette must be this fraction of the figure's height."""
PORTRAIT_HEAD = 0.3
"""A head taller than this fraction of the picture: a portrait, not a whole figure."""
ANCHOR_NAMES = ("feet", "eyes", "mouth", "head_top", "mouth_width")
"""What `--anchor NAME=…` may set: points as X,Y in view pixels, mouth_width as one number."""
CHECK_MAX_SIDE = 1024
"""The anchor check image is scaled down to at most this many pixels high."""
HIPS_FRACTION = 0.53
"""Hips below the head top, in figure heights, where no gap between the legs shows them."""
SEAT_LEGS = 0.45
"""A derived seated view keeps this share of the legs' painted length (foreshortened)."""
SEATED_VIEW = "sit_front"
STOOL = (112, 84, 60)
STOOL_SHADE = (84, 62, 44)
"""The stool a derived seated view sits on: seat and legs."""
MARKS: dict[str, tuple[int, int, int]] = {
    "head_top": (40, 200, 80), "eyes": (30, 160, 255), "mouth": (240, 40, 160),
    "feet": (255, 170, 0)}


@dataclass
class Cutout:
    """An RGBA cut-out and how it was made."""

    image: Image.Image
    method: str
    """"alpha" (came with transparency), "plain-background" or "none" (kept opaque)."""


@dataclass
class ViewMade:
    """What `make_view` wrote: the view image, its anchors and how it was keyed."""

    image: Path
    anchors: dict[str, Any]
    method: str
    """"alpha", "plain-background" (cut out here), "screen" (the proxy keys it) or "none"."""
    size: tuple[int, int]
    check: Path
    warnings: list[str] = field(default_factory=list)


def cut_out(image: Image.Image, tolerance: float = BORDER_TOLERANCE) -> Cutout:
    """Transparent background when the image has one or its background is plain."""
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba)[..., 3]
        if alpha.min() < 128:
            return Cutout(rgba, "alpha")
    rgb = np.asarray(image.convert("RGB"), np.float32)
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    median = np.median(border, axis=0)
    if np.linalg.norm(border - median, axis=1).max() > tolerance:
        return Cutout(image.convert("RGBA"), "none")
    close = np.linalg.norm(rgb - median, axis=2) <= tolerance
    _count, labels = cv2.connectedComponents(close.astype(np.uint8), connectivity=4)
    edge_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0],
                                            labels[:, -1]]))
    background = close & np.isin(labels, edge_labels)
    alpha = np.where(background, 0, 255).astype(np.uint8)
    soft = Image.fromarray(alpha).filter(ImageFilter.GaussianBlur(0.7))
    rgba = image.convert("RGBA")
    rgba.putalpha(soft)
    return Cutout(rgba, "plain-background")


def _chin_row(widths: np.ndarray, top: int, height: int) -> int | None:
    """The chin row (absolute) from the silhouette's width per row, or None when the
    silhouette shows no head narrower than the shoulders below it.

    The shoulders are the first row SHOULDER_JUMP times wider than the rows above it; the neck
    the lowest of the narrowest rows above them; the chin the first row below the head's
    widest where the head has narrowed most of the way to the neck's width.
    """
    limit = min(top + int(HEAD_RANGE[1] * height) + 1, widths.size)
    first = top + max(2, int(HEAD_RANGE[0] * height))
    for row in range(first, limit):
        lo = top + (row - top) // 3
        above = widths[lo:row]
        if not above.size or widths[row] <= SHOULDER_JUMP * max(float(np.median(above)), 1.0):
            continue
        neck_width = float(above.min())
        neck = lo + int(np.flatnonzero(above <= neck_width * 1.05 + 0.5)[-1])
        head = widths[top:neck + 1]
        widest = top + int(np.argmax(head))
        limit_width = neck_width + 0.25 * (float(widths[widest]) - neck_width)
        narrow = np.flatnonzero(widths[widest:neck + 1] < limit_width)
        chin = widest + int(narrow[0]) if narrow.size else neck
        return chin if HEAD_RANGE[0] * height <= chin - top <= HEAD_RANGE[1] * height else None
    return None


def silhouette_anchors(alpha: np.ndarray) -> dict[str, Any]:
    """feet, head_top, eyes, mouth, mouth_width (pixels) of the opaque region of `alpha`."""
    solid = alpha >= 128
    if not solid.any():
        raise SoloreelError("the cut-out is empty: nothing opaque to anchor")
    rows = np.flatnonzero(solid.any(axis=1))
    top, bottom = int(rows[0]), int(rows[-1])
    height = bottom - top + 1
    any_cols = solid.any(axis=1)
    first = np.where(any_cols, solid.argmax(axis=1), 0)
    last = np.where(any_cols, solid.shape[1] - 1 - solid[:, ::-1].argmax(axis=1), -1)
    widths = (last - first + 1).astype(np.float64)

    def centre(row: int, band: int = 3) -> float:
        lo, hi = max(top, row - band), min(bottom, row + band) + 1
        xs = np.flatnonzero(solid[lo:hi].any(axis=0))
        return float((xs[0] + xs[-1]) / 2)

    chin = _chin_row(widths, top, height)
    if chin is not None:
        eyes_row = top + EYES_IN_HEAD * (chin - top)
        mouth_row = top + MOUTH_IN_HEAD * (chin - top)
    else:
        eyes_row = top + EYES_FRACTION * height
        mouth_row = top + MOUTH_FRACTION * height
    xs = np.flatnonzero(solid[int(mouth_row)])
    head_width = float(xs[-1] - xs[0] + 1) if xs.size else height * 0.1
    return {"feet": [centre(bottom), float(bottom)], "head_top": [centre(top), float(top)],
            "eyes": [centre(int(eyes_row)), round(eyes_row, 1)],
            "mouth": [centre(int(mouth_row)), round(mouth_row, 1)],
            "mouth_width": round(head_width * MOUTH_WIDTH_FRACTION, 1)}


def crop_to_content(image: Image.Image, margin: int = 8) -> Image.Image:
    """Crop an RGBA image to its opaque box plus a margin."""
    box = image.getchannel("A").point(lambda a: 255 if a >= 16 else 0).getbbox()
    if box is None:
        return image
    left, top, right, bottom = box
    return image.crop((max(0, left - margin), max(0, top - margin),
                       min(image.width, right + margin), min(image.height, bottom + margin)))


# --------------------------------------------------------------------------- corrections


def parse_anchor(text: str) -> tuple[str, Any]:
    """`eyes=256,240` → ("eyes", [256.0, 240.0]); `mouth_width=30` → ("mouth_width", 30.0)."""
    match = re.fullmatch(r"\s*([a-z_]+)\s*=\s*(.+?)\s*", text)
    name = match.group(1) if match else ""
    if name not in ANCHOR_NAMES:
        raise SoloreelError(f'--anchor "{text}": want NAME=X,Y with NAME one of '
                            f"{', '.join(ANCHOR_NAMES[:-1])} (or mouth_width=PIXELS), "
                            "e.g. --anchor eyes=256,240")
    assert match is not None
    try:
        numbers = [float(part) for part in match.group(2).split(",")]
    except ValueError:
        numbers = []
    want = 1 if name == "mouth_width" else 2
    if len(numbers) != want or any(n < 0 for n in numbers):
        shape = "PIXELS" if want == 1 else "X,Y"
        raise SoloreelError(f'--anchor "{text}": {name} wants {shape} (image pixels of the '
                            "view, as anchors.png shows them), e.g. "
                            f"--anchor {name}={'30' if want == 1 else '256,240'}")
    return name, numbers[0] if want == 1 else numbers


def apply_anchors(anchors: dict[str, Any], corrections: list[str],
                  size: tuple[int, int]) -> dict[str, Any]:
    """`anchors` with the `--anchor` corrections applied; points must lie in the view."""
    result = dict(anchors)
    for text in corrections:
        name, value = parse_anchor(text)
        if name != "mouth_width" and not (value[0] <= size[0] and value[1] <= size[1]):
            raise SoloreelError(f'--anchor "{text}": outside the view ({size[0]}x{size[1]} '
                                "pixels); read the position off anchors.png")
        result[name] = value
    return result


# --------------------------------------------------------------------------- check image


def _checkerboard(width: int, height: int, cell: int = 16) -> Image.Image:
    ys, xs = np.mgrid[0:height, 0:width]
    light = ((xs // cell + ys // cell) % 2).astype(bool)
    board = np.where(light[..., None], np.uint8(205), np.uint8(160)).repeat(3, axis=2)
    return Image.fromarray(board).convert("RGBA")


def anchor_check(view: Image.Image, anchors: dict[str, Any]) -> Image.Image:
    """The cut-out on a checkerboard (what is keyed shows the squares) with head top, eyes,
    mouth (its width) and feet marked and labelled in view pixels, and a pixel ruler."""
    rgba = view.convert("RGBA")
    scale = min(1.0, CHECK_MAX_SIDE / rgba.height)
    scale = max(scale, 256 / rgba.height) if rgba.height < 256 else scale  # tiny: enlarge
    size = (max(1, round(rgba.width * scale)), max(1, round(rgba.height * scale)))
    shown = rgba.resize(size, Image.Resampling.LANCZOS if scale < 1 else
                        Image.Resampling.NEAREST)
    ruler, label_w = 28, 170
    canvas = Image.new("RGBA", (size[0] + ruler + label_w, size[1] + ruler + 40),
                       (40, 40, 40, 255))
    canvas.paste(Image.alpha_composite(_checkerboard(*size), shown), (ruler, ruler))
    draw = ImageDraw.Draw(canvas)
    small = font(11)
    step = _ruler_step(rgba.height)
    for value in range(0, max(rgba.width, rgba.height) + 1, step):
        at = ruler + value * scale
        if value <= rgba.width:
            draw.line([(at, ruler - 6), (at, ruler)], fill=(220, 220, 220))
            draw.text((at, ruler - 8), str(value), font=small, fill=(220, 220, 220),
                      anchor="mb")
        if value <= rgba.height:
            draw.line([(ruler - 6, at), (ruler, at)], fill=(220, 220, 220))
            draw.text((ruler - 8, at), str(value), font=small, fill=(220, 220, 220),
                      anchor="rm")
    label = font(14)
    marks = sorted((float(anchors[name][1]), name) for name in MARKS
                    if anchors.get(name) is not None)
    label_y = -1e9
    for _row, name in marks:
        colour, point = MARKS[name], anchors[name]
        x, y = ruler + float(point[0]) * scale, ruler + float(point[1]) * scale
        if name == "mouth" and anchors.get("mouth_width"):
            half = float(anchors["mouth_width"]) * scale / 2
            draw.line([(x - half, y), (x + half, y)], fill=colour, width=3)
        else:
            draw.line([(x - 10, y), (x + 10, y)], fill=colour, width=2)
            draw.line([(x, y - 10), (x, y + 10)], fill=colour, width=2)
        draw.ellipse([x - 3, y - 3, x + 3, y + 3], outline=(0, 0, 0), fill=colour)
        label_y = max(y, label_y + 17)  # labels of close anchors do not overlap
        edge = ruler + size[0]
        draw.line([(x + 12, y), (edge + 2, y), (edge + 8, label_y)], fill=colour, width=1)
        draw.text((edge + 10, label_y), f"{name} {point[0]:g},{point[1]:g}", font=label,
                  fill=colour, anchor="lm")
    return canvas.convert("RGB")


def _ruler_step(extent: int) -> int:
    for step in (10, 20, 50, 100, 200, 500, 1000):
        if extent / step <= 12:
            return step
    return 2000


def write_check(view: Image.Image, anchors: dict[str, Any], target: Path) -> Path:
    """Write the anchor check image of a view (atomically)."""
    with atomic_path(target) as tmp:
        anchor_check(view, anchors).save(tmp, format="PNG")
    return target


def check_path(folder: Path, view: str) -> Path:
    """Where a view's anchor check image goes: anchors.png for `front`, else anchors-VIEW.png."""
    return folder / ("anchors.png" if view == "front" else f"anchors-{view}.png")


# --------------------------------------------------------------------------- making a view


def keyed_how(picture: Image.Image) -> str:
    """How a view image is keyed: "alpha" (it has transparency), "screen" (opaque on a green
    or blue screen, which the proxy keys) or "none" (an opaque rectangle)."""
    rgba = np.asarray(picture.convert("RGBA"))
    if rgba[..., 3].min() < 128:
        return "alpha"
    return "screen" if screen_colour(rgba[..., :3]) is not None else "none"


def keying_warnings(method: str, anchors: dict[str, Any], size: tuple[int, int]) -> list[str]:
    """What to tell the user about a cut-out: an unkeyed background, a portrait."""
    warnings = []
    if method == "none":
        warnings.append("the picture has no transparency and its background is not one plain "
                        "colour, so it is NOT keyed: the proxy shows it as an opaque rectangle; "
                        "give a PNG with transparency or a figure on a plain background")
    head = float(anchors["eyes"][1] - anchors["head_top"][1]) / max(EYES_IN_HEAD, 1e-6)
    figure = float(anchors["feet"][1] - anchors["head_top"][1]) or float(size[1])
    if head > PORTRAIT_HEAD * figure:
        warnings.append(f"the head is {head / figure:.0%} of the figure: a portrait or a very "
                        "stylised figure? The proxy stands the picture as a whole figure from "
                        "head_top to feet; check anchors.png and correct with --anchor")
    return warnings


def make_view(source: Path, folder: Path, view: str = "front",
              corrections: list[str] | None = None) -> ViewMade:
    """Cut out `source` into folder/VIEW.png with anchors (corrections applied) and write its
    anchor check image; the cast file is the caller's to update."""
    try:
        with Image.open(source) as opened:
            opened.load()
            cutout = cut_out(opened)
    except OSError as exc:
        raise SoloreelError(f"{source} is not a readable image ({exc})") from exc
    picture = crop_to_content(cutout.image) if cutout.method != "none" else cutout.image
    method = cutout.method if cutout.method != "none" else keyed_how(picture)
    alpha = np.asarray(picture)[..., 3]
    if method == "screen":  # the proxy keys it: anchor what its keyer keeps
        alpha = key_screen(np.asarray(picture)[..., :3])[..., 3]
    anchors = apply_anchors(silhouette_anchors(alpha), corrections or [], picture.size)
    target = folder / f"{view}.png"
    with atomic_path(target) as tmp:
        picture.save(tmp, format="PNG")
    check = write_check(picture, anchors, check_path(folder, view))
    return ViewMade(target, anchors, method, picture.size, check,
                    keying_warnings(method, anchors, picture.size))


# --------------------------------------------------------------------------- a seated view


def _crotch_row(alpha: np.ndarray, x: float, top: int, feet: int) -> int | None:
    """The first row below the figure's middle where the column between the feet is clear
    for a few rows (the gap between the legs), or None (a dress, legs together)."""
    column = alpha[:, max(0, int(x) - 1):int(x) + 2].max(axis=1) < 128
    for row in range(top + int(0.4 * (feet - top)), feet - 4):
        if column[row:row + 5].all():
            return row
    return None


def _resize_rows(rgba: np.ndarray, rows: int) -> np.ndarray:
    """Straight RGBA resized to `rows` rows, filtered premultiplied (no dark fringes)."""
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    premultiplied = np.concatenate([rgba[..., :3] * alpha, alpha * 255.0], axis=2)
    small = cv2.resize(premultiplied, (rgba.shape[1], rows), interpolation=cv2.INTER_AREA)
    cover = np.maximum(small[..., 3:4] / 255.0, 1e-6)
    colour = np.where(small[..., 3:4] > 0, small[..., :3] / cover, 0)
    return np.clip(np.concatenate([colour, small[..., 3:4]], axis=2) + 0.5, 0,
                   255).astype(np.uint8)


def seated_view(picture: Image.Image, anchors: dict[str, Any]
                ) -> tuple[Image.Image, dict[str, Any]] | None:
    """A `sit_front` view derived from a standing front view, so a character the script
    seats sits (the proxy puts a seated figure's eyes at the seated eye height and would push
    a standing picture's legs through the floor): the body above the hips as painted, the legs
    foreshortened to SEAT_LEGS of their length (thighs towards the camera) and a stool behind
    them. An animatic stand-in for a painted seated view; None for a figure too small."""
    rgba = np.asarray(picture.convert("RGBA"))
    top, feet = round(float(anchors["head_top"][1])), round(float(anchors["feet"][1]))
    if feet - top < 40 or feet >= rgba.shape[0]:
        return None
    figure = feet - top
    hips = _crotch_row(rgba[..., 3], anchors["feet"][0], top, feet) or \
        top + int(HIPS_FRACTION * figure)
    legs = rgba[hips:feet + 1]
    folded = _resize_rows(legs, max(2, round(legs.shape[0] * SEAT_LEGS)))
    margin = rgba[feet + 1:]
    body = np.concatenate([rgba[:hips], folded, margin], axis=0)
    new_feet = hips + folded.shape[0] - 1
    solid = np.flatnonzero(rgba[hips, :, 3] >= 128)
    centre = float(anchors["feet"][0])
    half = max(float(solid[-1] - solid[0]) * 0.6 if solid.size else 0.0, 0.12 * figure)
    pad = max(0, int(np.ceil(half + 0.02 * figure - min(centre, body.shape[1] - centre))) + 2)
    body = np.pad(body, ((0, 0), (pad, pad), (0, 0)))
    centre += pad
    stool = Image.new("RGBA", (body.shape[1], body.shape[0]), (0, 0, 0, 0))
    draw = ImageDraw.Draw(stool)
    seat_top = hips + 0.02 * figure
    seat = (centre - half, seat_top, centre + half, seat_top + 0.035 * figure)
    leg = 0.022 * figure
    for x in (centre - half + leg, centre + half - 2 * leg):
        draw.rectangle((x, seat[3] - 1, x + leg, new_feet), fill=(*STOOL_SHADE, 255))
    draw.rounded_rectangle(seat, radius=0.01 * figure, fill=(*STOOL, 255))
    seated = Image.alpha_composite(stool, Image.fromarray(body))
    moved = {"feet": [centre, float(new_feet)]}
    for name in ("head_top", "eyes", "mouth"):
        if anchors.get(name) is not None:
            moved[name] = [float(anchors[name][0]) + pad, float(anchors[name][1])]
    if anchors.get("mouth_width") is not None:
        moved["mouth_width"] = anchors["mouth_width"]
    return seated, moved


def make_seated(front: Path, anchors: dict[str, Any], folder: Path) -> ViewMade | None:
    """Write folder/sit_front.png derived from the front view (see `seated_view`)."""
    with Image.open(front) as opened:
        made = seated_view(opened.convert("RGBA"), anchors)
    if made is None:
        return None
    picture, seated_anchors = made
    target = folder / f"{SEATED_VIEW}.png"
    with atomic_path(target) as tmp:
        picture.save(tmp, format="PNG")
    check = write_check(picture, seated_anchors, check_path(folder, SEATED_VIEW))
    return ViewMade(target, seated_anchors, "alpha", picture.size, check)


# --------------------------------------------------------------------------- the cast file


def view_entry(workspace: Workspace, made: ViewMade) -> dict[str, Any]:
    """The `views.NAME` table of a cast file for a made view."""
    return {"image": workspace.relative(made.image), **made.anchors}


def record_views(workspace: Workspace, made: dict[str, ViewMade], **fields: Any) -> CastMember:
    """Write made views, with any other top-level `fields`, into cast/NAME.toml (other views
    kept)."""
    views = dict(read_cast_raw(workspace).get("views") or {})
    for view, one in made.items():
        views[view] = view_entry(workspace, one)
    member = update_cast(workspace, views=views, **fields)
    workspace.production.cast[workspace.name] = member
    return member


def new_with_view(production: Production, name: str, source: Path,
                  corrections: list[str] | None = None, *, outfit: str | None = None,
                  trigger: str | None = None, description: str = "", role: str = "lead",
                  **fields: Any) -> tuple[Workspace, ViewMade, CastMember]:
    """Register a character (`new_character`: a new one, or a stub filled in) with `source`
    cut out as its `front` view (and a derived `sit_front`, see `seated_view`, when it was
    keyed). The views are made before anything is registered, so a picture that cannot be cut
    out leaves the bible as it was."""
    registrable(production, name)
    check_image(Path(source))
    folder = Workspace(production, name).root
    made = make_view(Path(source), folder, "front", corrections)
    views = {"front": made}
    if made.method in ("alpha", "plain-background"):
        seated = make_seated(made.image, made.anchors, folder)
        if seated is not None:
            views[SEATED_VIEW] = seated
    workspace, _member = new_character(production, name, Path(source), outfit, trigger,
                                       description, role)
    return workspace, made, record_views(workspace, views, **fields)


def correct_anchors(production: Production, name: str, view: str,
                    corrections: list[str]) -> ViewMade:
    """Rewrite a view's anchors in cast/NAME.toml with `--anchor` corrections (none: only
    redraw the check image) and redraw its anchor check image."""
    member = production.member(name)
    workspace = Workspace(production, member.name)
    raw = read_cast_raw(workspace)
    views = dict(raw.get("views") or {})
    if view not in views:
        raise SoloreelError(f"cast/{member.name}.toml has no view {view!r} (views: "
                            f"{', '.join(sorted(views)) or 'none'}); make one with `soloreel "
                            f"cast new {member.name} --from PICTURE.png`")
    entry = dict(views[view])
    path = production.cast_file(member, entry["image"])
    try:
        with Image.open(path) as opened:
            picture = opened.convert("RGBA")
    except OSError as exc:
        raise SoloreelError(f"cast/{member.name}.toml views.{view}.image: cannot read {path} "
                            f"({exc}); fix the path") from exc
    current = {key: entry[key] for key in ANCHOR_NAMES if entry.get(key) is not None}
    if not {"feet", "eyes", "mouth", "head_top"} <= set(current):
        current = {**silhouette_anchors(np.asarray(picture)[..., 3]), **current}
    anchors = apply_anchors(current, corrections, picture.size)
    if corrections:
        views[view] = {**entry, **anchors}
        derived = views.get(SEATED_VIEW, {}).get("image")
        if view == "front" and derived == f"{member.name}/{SEATED_VIEW}.png":
            seated = make_seated(path, anchors, workspace.root)  # follows the front's anchors
            if seated is not None:
                views[SEATED_VIEW] = view_entry(workspace, seated)
        raw["views"] = views
        production.cast[member.name] = write_cast(workspace, raw)
    check = write_check(picture, anchors, check_path(workspace.root, view))
    method = keyed_how(picture)
    return ViewMade(path, anchors, method, picture.size, check,
                    keying_warnings(method, anchors, picture.size))
