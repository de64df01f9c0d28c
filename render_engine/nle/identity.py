"""How a clip keeps its identity through an NLE that drops custom metadata.

Two things survive every NLE soloreel targets: the *media path* of the active reference and
*marker* text (Resolve keeps marker notes as `Resolve_OTIO.Note`, Kdenlive keeps marker
comments, FCP7 XML keeps `<comment>`). Our media paths are cache paths,
`renders/<tier>/<hash>/f<first>_<end>/<shot_id>.<ext>`, unique per render and carrying the shot
id; every exported clip also gets a marker whose text is `soloreel:shot=<shot_id>`.

Everything here is pure string work so the post-read hook stays cheap for foreign timelines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import opentimelineio as otio

MARKER_PREFIX = "soloreel:shot="
MARKER_RE = re.compile(r"soloreel:shot=([A-Za-z0-9][A-Za-z0-9._-]*)")
CACHE_PATH_RE = re.compile(
    r"[/\\]renders[/\\](placeholder|proxy|final)[/\\]([0-9a-f]{64})[/\\]f(-?\d+)_(-?\d+)[/\\]"
    r"([^/\\]+)$")
"""A media path inside a production's render cache: tier, hash, first, end, file name."""


def shot_marker(shot_id: str, at: otio.opentime.RationalTime, nle: str) -> otio.schema.Marker:
    """The identity marker for an exported clip, written where `nle` keeps marker text."""
    note = f"{MARKER_PREFIX}{shot_id}"
    marker = otio.schema.Marker(
        name=note, marked_range=otio.opentime.TimeRange(at, otio.opentime.RationalTime(0, at.rate)),
        color=otio.schema.MarkerColor.CYAN, comment=note)
    marker.metadata["Resolve_OTIO"] = {"Note": note, "Keywords": []}
    if nle == "fcp7":
        marker.metadata["fcp_xml"] = {"comment": note}
    return marker


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a (possibly nested) metadata value."""
    if isinstance(value, str):
        yield value
    elif hasattr(value, "items"):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple) or type(value).__name__ == "AnyVector":
        for item in value:
            yield from _strings(item)


def marker_texts(marker: otio.schema.Marker) -> list[str]:
    """Every piece of text an NLE may have kept on a marker: name, comment, metadata notes."""
    texts = [marker.name or "", getattr(marker, "comment", "") or ""]
    texts += list(_strings(marker.metadata))
    return [t for t in texts if t]


def marker_shot_id(clip: otio.core.Item) -> str | None:
    """The shot id an identity marker on the clip names, if any."""
    for marker in clip.markers:
        for text in marker_texts(marker):
            match = MARKER_RE.search(text)
            if match:
                return match[1]
    return None


def media_path(clip: otio.schema.Clip) -> Path | None:
    """The local file the clip's active reference points at (None for other references)."""
    try:
        reference = clip.media_reference
    except Exception:  # a malformed reference is simply not ours
        return None
    url = getattr(reference, "target_url", None)
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path if parsed.scheme else url))
    return None


def cache_parts(path: Path | None) -> tuple[str, str, int, int, str] | None:
    """(tier, hash, first, end, file name) when `path` is a render cache path."""
    if path is None:
        return None
    match = CACHE_PATH_RE.search(str(path))
    if not match:
        return None
    return match[1], match[2], int(match[3]), int(match[4]), match[5]


def production_of(path: Path | None) -> Path | None:
    """The production folder holding a cache path (`<production>/renders/...`), if it exists."""
    if cache_parts(path) is None:
        return None
    assert path is not None
    root = path.parents[4]
    return root if (root / "soloreel.toml").is_file() else None


def looks_ours(timeline: Any) -> bool:
    """Cheap test: does any clip carry our marker or point into a render cache?"""
    find_clips = getattr(timeline, "find_clips", None)
    if find_clips is None:
        return False
    for clip in find_clips():
        if cache_parts(media_path(clip)) is not None or marker_shot_id(clip) is not None:
            return True
    return False


SHOT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MEDIA_SUFFIXES = (".mov", ".mp4", ".mxf", ".mkv", ".avi", ".m4v", ".webm")


def file_shot_id(path: Path | str | None) -> str | None:
    """The shot id a media file's own name carries, if it looks like one of ours.

    Every render is written as `<shot_id>.<ext>` (a layered plate `<shot_id>.layer.plate.<ext>`)
    and NLEs keep file names when they relink or consolidate media, so the name is evidence of
    identity that survives a moved file. Returns the candidate id; whether it is a known shot
    is for the registry to say."""
    if path is None:
        return None
    name = Path(str(path)).name
    lower = name.lower()
    suffix = next((s for s in MEDIA_SUFFIXES if lower.endswith(s)), None)
    if suffix is None:
        return None
    stem = name[: -len(suffix)]
    if ".layer." in stem:
        stem = stem.split(".layer.", 1)[0]
    return stem if stem and SHOT_ID_RE.match(stem) else None


def folder_window(path: Path | str | None) -> tuple[int, int] | None:
    """The source frames [first, end) a render folder's name states (`.../f86388_86544/x.mov`),
    for a media file still inside its render folder even when it left the production."""
    if path is None:
        return None
    match = re.search(r"[/\\]f(-?\d+)_(-?\d+)[/\\][^/\\]+$", str(path))
    return (int(match[1]), int(match[2])) if match else None
