"""Extras from one image: cut out on a plain background, anchors from the silhouette.

An extra has no LoRA: its reference image conditions the final tier (VACE reference on white)
and its cut-out is the proxy's `front` view. The cut-out, its anchors and the anchor check image
are `render_engine.cast.cutout`'s, the same as a lead's from `soloreel cast new`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from render_engine.atomic import atomic_path
from render_engine.bible import Production
from render_engine.cast.cutout import (
    Cutout,
    crop_to_content,
    cut_out,
    new_with_view,
    silhouette_anchors,
)
from render_engine.cast.workspace import Workspace, copy_in, update_cast

__all__ = ["Cutout", "crop_to_content", "cut_out", "new_extra", "silhouette_anchors"]


def new_extra(production: Production, name: str, source: Path, description: str = "",
              height_m: float | None = None, corrections: list[str] | None = None
              ) -> tuple[Workspace, dict[str, Any]]:
    """Register an extra from one image: cast/NAME.toml (role extra, no trigger), a `front`
    cut-out view with anchors (`corrections`: `--anchor NAME=X,Y`), its anchor check image, and
    a reference image on white for the final tier."""
    fields: dict[str, Any] = {"height_m": height_m} if height_m else {}
    workspace, made, _member = new_with_view(production, name, Path(source), corrections,
                                             description=description, role="extra", **fields)
    reference = workspace.root / "reference.png"
    if made.method in ("none", "screen"):
        copy_in(workspace.root / "source" / f"source{Path(source).suffix.lower()}", reference)
    else:
        with Image.open(made.image) as front:
            white = Image.new("RGBA", front.size, (255, 255, 255, 255))
            with atomic_path(reference) as tmp:
                Image.alpha_composite(white, front.convert("RGBA")).convert("RGB").save(
                    tmp, format="PNG")
    member = update_cast(workspace, reference_images=[workspace.relative(reference)])
    production.cast[name] = member
    return workspace, {"method": made.method, "anchors": made.anchors, "size": list(made.size),
                       "check": made.check, "warnings": made.warnings}
