"""Extras from one image: cut out on a plain background, anchors from the silhouette.

An extra has no LoRA: its reference image conditions the final tier (VACE reference on white)
and its cut-out is the proxy's `front` view. The background counts as plain when the image's
border pixels all lie within BORDER_TOLERANCE of their median colour; then every pixel connected
to the border within that tolerance becomes transparent (a flood fill, so a white shirt inside
the figure stays). An image with its own transparency is used as it is. Anchors (feet, head
top, eyes, mouth) are estimated from the silhouette with average human proportions — good
enough to place a cut-out and its mouth in an animatic, and editable in the cast file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageFilter

from render_engine.atomic import atomic_path
from render_engine.bible import Production
from render_engine.cast.workspace import Workspace, copy_in, new_character, update_cast
from render_engine.errors import SoloreelError

BORDER_TOLERANCE = 24.0
"""Max colour distance (0–441) of a border pixel from the border's median for a plain
background, and of a background pixel from it."""
EYES_FRACTION = 0.065
"""Eyes below the head top, as a fraction of the standing figure's height (head ≈ 1/7.5)."""
MOUTH_FRACTION = 0.105
MOUTH_WIDTH_FRACTION = 0.35
"""Mouth width as a fraction of the head's width at the mouth row."""


@dataclass
class Cutout:
    """An RGBA cut-out and how it was made."""

    image: Image.Image
    method: str
    """"alpha" (came with transparency), "plain-background" or "none" (kept opaque)."""


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


def silhouette_anchors(alpha: np.ndarray) -> dict[str, Any]:
    """feet, head_top, eyes, mouth, mouth_width (pixels) of the opaque region of `alpha`."""
    solid = alpha >= 128
    if not solid.any():
        raise SoloreelError("the cut-out is empty: nothing opaque to anchor")
    rows = np.flatnonzero(solid.any(axis=1))
    top, bottom = int(rows[0]), int(rows[-1])
    height = bottom - top + 1

    def centre(row: int, band: int = 3) -> float:
        lo, hi = max(top, row - band), min(bottom, row + band) + 1
        xs = np.flatnonzero(solid[lo:hi].any(axis=0))
        return float((xs[0] + xs[-1]) / 2)

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


def new_extra(production: Production, name: str, source: Path, description: str = "",
              height_m: float | None = None) -> tuple[Workspace, dict[str, Any]]:
    """Register an extra from one image: cast/NAME.toml (role extra, no trigger), a `front`
    cut-out view with anchors, and a reference image on white for the final tier."""
    workspace, _member = new_character(production, name, source, description=description,
                                       role="extra")
    with Image.open(source) as opened:
        opened.load()
        cutout = cut_out(opened)
    front = crop_to_content(cutout.image) if cutout.method != "none" else cutout.image
    alpha = np.asarray(front)[..., 3]
    anchors = silhouette_anchors(alpha)
    front_path = workspace.root / "front.png"
    with atomic_path(front_path) as tmp:
        front.save(tmp, format="PNG")
    reference = workspace.root / "reference.png"
    if cutout.method == "none":
        copy_in(workspace.root / "source" / f"source{Path(source).suffix.lower()}", reference)
    else:
        white = Image.new("RGBA", front.size, (255, 255, 255, 255))
        with atomic_path(reference) as tmp:
            Image.alpha_composite(white, front).convert("RGB").save(tmp, format="PNG")
    view = {"image": workspace.relative(front_path), **anchors}
    fields: dict[str, Any] = {"views": {"front": view},
                              "reference_images": [workspace.relative(reference)]}
    if height_m:
        fields["height_m"] = height_m
    member = update_cast(workspace, **fields)
    production.cast[name] = member
    return workspace, {"method": cutout.method, "anchors": anchors, "size": list(front.size)}
