"""OTIO adapter `video` (write-only, .mp4/.mov): conform the timeline into one movie file.

    otioconvert -i edit.otio -o film.mp4 [-A width=1280 -A height=720 -A profile=web]

Video tracks are composited in order over black, audio mixed, dissolves honoured, gaps black,
missing media shown as a marked slate (see render_engine.conform). `.mov` defaults to the
`resolve` encode profile (DNxHR + PCM), `.mp4` to `web` (H.264 + AAC).

OTIO loads this module by file path: imports of our code are absolute.
"""

from __future__ import annotations


def write_to_file(input_otio, filepath, width=None, height=None, fps=None, profile=None,
                  **_kwargs) -> None:
    """Render the film; a SerializableCollection conforms its first timeline."""
    import opentimelineio as otio

    from render_engine.conform.compose import conform

    timeline = input_otio
    if not isinstance(timeline, otio.schema.Timeline):
        timeline = next(iter(input_otio.find_children(descended_from_type=otio.schema.Timeline)))
    conform(timeline, filepath, width=int(width) if width else None,
            height=int(height) if height else None, fps=float(fps) if fps else None,
            profile=profile)
