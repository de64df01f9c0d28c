"""OTIO adapter `soloreel_storyboard` (write only): an edit as a storyboard page or contact sheet.

`.html`/`.htm`: one self-contained page (inline CSS/JS, stills in `<stem>_files/` beside it,
or inlined with `embed=True`) with an animatic player; `.pdf`/`.png` (when this adapter is
named explicitly, e.g. `otioconvert -a` or `adapter_name=`): the printable contact sheet. The
manifest claims only html/htm, so PDF and PNG stay free for other tools.

Tier states and media come from the production: the `production` argument, else
$SOLOREEL_PRODUCTION, else the folder above the linked media holding soloreel.toml; without
one, the media the clips link is used as is.

Loaded by OTIO by file path: imports of our own code are absolute.
"""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio

from render_engine.errors import SoloreelError
from render_engine.review.contact_sheet import write_pdf, write_png
from render_engine.review.shots import load_review
from render_engine.review.storyboard import write_storyboard


def write_to_string(input_otio: otio.schema.Timeline, production: str | None = None,
                    **_kwargs: object) -> str:
    """The storyboard page with its stills inlined and media as file:// URLs."""
    return write_storyboard(load_review(input_otio, production), None, embed=True)


def write_to_file(input_otio: otio.schema.Timeline, filepath: str,
                  production: str | None = None, embed: bool = False, per_page: int = 6,
                  **_kwargs: object) -> None:
    """Write the page (.html/.htm) or the contact sheet (.pdf, .png) for the edit."""
    path = Path(filepath)
    review = load_review(input_otio, production, hint=path)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        write_storyboard(review, path, embed=bool(embed))
    elif suffix == ".pdf":
        write_pdf(review, path, int(per_page))
    elif suffix == ".png":
        write_png(review, path, int(per_page))
    else:
        raise SoloreelError(f"{path.name}: the storyboard adapter writes .html, .pdf or .png")
