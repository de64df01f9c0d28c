"""One cheap pass deciding whether a timeline can be soloreel's, shared by the read hooks.

OTIO runs `post_adapter_read` hooks on every timeline any tool reads once soloreel is
installed, so for someone else's timeline they must cost next to nothing. Reading a clip's
metadata keys through OTIO's Python bindings is slow (an `AnyDictionary` membership test costs
tens of microseconds), so the pass never touches clip metadata: per clip it reads the active
reference's URL and the markers' names/comments, which are cheap, and keeps the clips that can
be ours — no media at all (a screenplay's edit before any render), a URL into a render cache
(`/renders/`, error slates included), or a marker that mentions `soloreel:`. Only those clips are
then looked at closely. The verdict is kept for the next hook of the same read, so the two
hooks cost one pass together.

OTIO loads hooks by file path; this module is imported by its package name.
"""

from __future__ import annotations

import gc
from typing import Any

OURS = "soloreel:"
RENDERS = ("/renders/", "\\renders\\")

_last: tuple[Any, list[tuple[Any, str]]] | None = None


def _marked(markers: Any) -> bool:
    """True when a marker's name, comment or NLE note mentions `soloreel:`."""
    for marker in markers:
        if OURS in (marker.name or "") or OURS in (getattr(marker, "comment", "") or ""):
            return True
        metadata = marker.metadata
        if len(metadata) and OURS in str(metadata.get("Resolve_OTIO") or ""):
            return True  # Resolve keeps marker notes only as Resolve_OTIO.Note
    return False


def _reference_getter(timeline: Any) -> Any:
    """The fastest way to a clip's active reference: the property's getter itself (skips the
    descriptor lookup on every clip), else plain attribute access."""
    try:
        import opentimelineio as otio

        return otio.schema.Clip.media_reference.fget
    except (ImportError, AttributeError):  # pragma: no cover - OTIO without the property
        return lambda clip: clip.media_reference


def candidates(timeline: Any) -> list[tuple[Any, str]]:
    """(clip, why) for every clip that can be ours: `nomedia`, `cache` or `marker`; [] for a
    timeline that cannot be ours. Remembered until `forget` for the hook that runs next."""
    global _last
    if _last is not None and _last[0] is timeline:
        return _last[1]
    found: list[tuple[Any, str]] = []
    find_clips = getattr(timeline, "find_clips", None)
    if find_clips is not None:
        reference_of = _reference_getter(timeline)
        collecting = gc.isenabled()
        gc.disable()  # the pass makes short-lived wrappers only; no cycle scans of the timeline
        try:
            for clip in find_clips():
                url = getattr(reference_of(clip), "target_url", None)
                if url is None:
                    found.append((clip, "nomedia"))
                elif RENDERS[0] in url or RENDERS[1] in url:
                    found.append((clip, "cache"))
                else:
                    markers = clip.markers
                    if markers and _marked(markers):
                        found.append((clip, "marker"))
        finally:
            if collecting:
                gc.enable()
    _last = (timeline, found)
    return found


def forget() -> None:
    """Drop the remembered verdict (the last hook of a read calls this)."""
    global _last
    _last = None
