"""One cheap pass deciding whether a timeline can be soloreel's, shared by the read hooks.

OTIO runs `post_adapter_read` hooks on every timeline any tool reads once soloreel is
installed, so for someone else's timeline they must cost next to nothing. Reading a clip's
metadata keys through OTIO's Python bindings is slow (an `AnyDictionary` membership test costs
tens of microseconds), and even a clip's Python wrapper costs a microsecond or two, so a first
look reads only a sample of the clips (the head of every track, then every STRIDE-th): their
active reference's URL and their markers' names/comments. Only when one of them can be ours —
no media but a spec (a screenplay's edit before any render), a URL into a render cache
(`/renders/`, error slates included), or a marker that mentions `soloreel:` — is every clip
looked at, and only the clips that can be ours are then looked at closely (soloreel's own reads
always look at every clip: `thorough`). The verdict is kept for the next hook of the same read,
so the two hooks cost one pass together.

OTIO loads hooks by file path; this module is imported by its package name.
"""

from __future__ import annotations

import gc
import itertools
import os
import sys
from collections.abc import Iterator
from typing import Any

OURS = "soloreel:"
RENDERS = ("/renders/", "\\renders\\")

_last: tuple[Any, list[tuple[Any, str]], bool] | None = None


def _marked(markers: Any) -> bool:
    """True when a marker's name, comment or NLE note mentions `soloreel:`."""
    for marker in markers:
        if OURS in (marker.name or "") or OURS in (getattr(marker, "comment", "") or ""):
            return True
        metadata = marker.metadata
        if len(metadata) and OURS in str(metadata.get("Resolve_OTIO") or ""):
            return True  # Resolve keeps marker notes only as Resolve_OTIO.Note
    return False


def _getters() -> tuple[Any, Any]:
    """The clip's active-reference and markers getters themselves (skips the descriptor
    lookup on every clip), else plain attribute access."""
    try:
        import opentimelineio as otio

        clip = otio.schema.Clip
        return clip.media_reference.fget, clip.markers.fget
    except (ImportError, AttributeError):  # pragma: no cover - OTIO without the properties
        return (lambda clip: clip.media_reference), (lambda clip: clip.markers)


PROBE = 64
"""Items at the head of every track that the first look always reads."""
STRIDE = 16
"""Past the head, the first look reads every STRIDE-th item of a track."""
NAMESPACE = "soloreel"


def thorough(argument_map: Any = None) -> bool:
    """Whether a read wants every clip looked at, never a sample: soloreel's own reads (the
    `production` hook argument, $SOLOREEL_PRODUCTION, or soloreel already imported in the
    reading process). Other tools' reads get the sampled first look (`candidates`)."""
    try:
        named = bool((argument_map or {}).get("production"))
    except AttributeError:
        named = False
    return named or bool(os.environ.get("SOLOREEL_PRODUCTION")) or "render_engine" in sys.modules


def _why(clip: Any, reference_of: Any, markers_of: Any) -> str | None:
    """`nomedia`, `cache`, `marker` or None (cannot be ours) for one clip."""
    url = getattr(reference_of(clip), "target_url", None)
    if url is None:
        return "nomedia"
    if RENDERS[0] in url or RENDERS[1] in url:
        return "cache"
    markers = markers_of(clip)
    return "marker" if markers and _marked(markers) else None


def _sample(composition: Any, clip_type: Any, composition_type: Any) -> Iterator[Any]:
    """The clips at the head of every track (PROBE items) and every STRIDE-th after, nested
    compositions sampled the same way; only those items get a Python wrapper."""
    count = len(composition)
    for index in itertools.chain(range(min(count, PROBE)), range(PROBE, count, STRIDE)):
        item = composition[index]
        if isinstance(item, clip_type):
            yield item
        elif isinstance(item, composition_type):
            yield from _sample(item, clip_type, composition_type)


def _looks_ours(timeline: Any, reference_of: Any, markers_of: Any) -> bool:
    """The first look: does any sampled clip point into a render cache, carry a `soloreel:`
    marker, or (without media) carry a spec? A soloreel edit shows it on every shot (every
    exported clip has its marker and its render), so the head of a track tells; someone
    else's timeline is dismissed after a few hundred clips whatever its length."""
    import opentimelineio as otio

    for clip in _sample(timeline.tracks, otio.schema.Clip, otio.core.Composition):
        why = _why(clip, reference_of, markers_of)
        if why in ("cache", "marker") or (why == "nomedia" and NAMESPACE in clip.metadata):
            return True
    return False


def candidates(timeline: Any, every: bool = False) -> list[tuple[Any, str]]:
    """(clip, why) for every clip that can be ours, in timeline order: `nomedia`, `cache` or
    `marker`; [] for a timeline that cannot be ours. Remembered until `forget` for the hook
    that runs next.

    Unless `every` (see `thorough`), a first look at a sample of the clips (`_looks_ours`)
    decides: nothing of ours there, and the timeline is someone else's — a clip of ours the
    sample skipped in a long foreign timeline is left to `soloreel import`, which re-attaches
    whatever the hook left. Otherwise every clip is looked at: its media URL and markers."""
    global _last
    if _last is not None and _last[0] is timeline and (_last[2] or not every):
        return _last[1]
    found: list[tuple[Any, str]] = []
    find_clips = getattr(timeline, "find_clips", None)
    complete = every
    if find_clips is not None:
        reference_of, markers_of = _getters()
        collecting = gc.isenabled()
        gc.disable()  # the pass makes short-lived wrappers only; no cycle scans of the timeline
        try:
            complete = (every or not hasattr(timeline, "tracks")
                        or _looks_ours(timeline, reference_of, markers_of))
            if complete:
                for clip in find_clips():
                    why = _why(clip, reference_of, markers_of)
                    if why is not None:
                        found.append((clip, why))
        finally:
            if collecting:
                gc.enable()
    _last = (timeline, found, complete)
    return found


def forget() -> None:
    """Drop the remembered verdict (the last hook of a read calls this)."""
    global _last
    _last = None
