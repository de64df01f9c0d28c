"""Re-attach ShotSpecs to the clips of an edit that came back from an NLE.

Each video clip is identified by, in order: a spec it still carries, its media path (exported
media, or the cache manifest beside a cache path), its identity marker, its position in the
last export. The editor's changes are honoured: a trim is just the clip's new source range; a
reorder or a move to another track changes nothing; a deleted shot is reported; two or more
clips of one shot are a *split* when their source ranges do not overlap (every piece gets its
own id `<parent>.<n>`, in source order) and a *duplicate* otherwise (the first in timeline order
keeps the id, copies get `<parent>.dup<n>`). Clips nobody knows are left alone and reported.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import opentimelineio as otio

from render_engine.errors import SoloreelError
from render_engine.nle.export import EXPORT_LAYOUT
from render_engine.nle.identity import cache_parts, marker_shot_id, media_path
from render_engine.nle.registry import ShotRegistry
from render_engine.spec import ShotSpec, spec_or_error, write_spec
from render_engine.timeline_io import ShotRef, iter_shots

PROVENANCE = "soloreel_nle"
"""Clip metadata key recording how a clip was matched (and its parent when derived)."""


@dataclass
class Match:
    """One identified clip."""

    ref: ShotRef
    spec: ShotSpec
    how: str
    parent: str | None = None
    kind: str | None = None


@dataclass
class ReattachReport:
    """What the import found: matched clips, clips nobody knows, shots the editor deleted."""

    matched: list[Match] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    layers: int = 0
    """Layer clips of a layered export (`<shot>.layer.<name>.mov`): known, not shots."""
    deleted: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        out = [f"{m.ref.label}: {m.spec.shot.id} (by {m.how}"
               + (f", {m.kind} of {m.parent}" if m.kind else "") + ")" for m in self.matched]
        out += [f"{label}: not a soloreel shot; left alone" for label in self.unknown]
        out += [f"{shot_id}: deleted in the editor" for shot_id in self.deleted]
        return out


def _rebase(clip: otio.schema.Clip, path: Path) -> None:
    """Turn file-relative ranges (MLT in/out) into the cache entry's source frames."""
    parts = cache_parts(path)
    if parts is None or clip.source_range is None:
        return
    first, end = parts[2], parts[3]
    rate = clip.source_range.duration.rate
    reference = clip.media_reference
    available = reference.available_range
    start = available.start_time.rescaled_to(rate).value if available is not None else 0
    if available is not None and round(start) == first:
        return
    shift = otio.opentime.RationalTime(first - start, rate)
    clip.source_range = otio.opentime.TimeRange(clip.source_range.start_time + shift,
                                                clip.source_range.duration)
    reference.available_range = otio.opentime.TimeRange(
        otio.opentime.RationalTime(first, rate), otio.opentime.RationalTime(end - first, rate))


def _identify(ref: ShotRef, registry: ShotRegistry,
              positions: dict[tuple[int, int], str], track_index: int) -> Match | None:
    clip = ref.clip
    if ref.has_spec:
        try:
            spec = spec_or_error(clip)
        except SoloreelError:
            return None
        if spec is None:
            return None
        known = clip.metadata.get(PROVENANCE) or {}
        return Match(ref, spec, str(known.get("matched_by") or "metadata"),
                     known.get("parent"), known.get("kind"))
    path = media_path(clip)
    if path is not None:
        found = registry.by_media(path)
        if found is not None:
            _rebase(clip, path)
            return Match(ref, found[1], "media")
    marked = marker_shot_id(clip)
    spec = registry.spec(marked) if marked else None
    if spec is not None:
        return Match(ref, spec, "marker")
    record = round(clip.trimmed_range_in_parent().start_time.value)
    positioned = positions.get((track_index, record))
    spec = registry.spec(positioned) if positioned else None
    if spec is not None:
        return Match(ref, spec, "position")
    return None


def _renamed(spec: ShotSpec, shot_id: str) -> ShotSpec:
    return spec.model_copy(update={"shot": spec.shot.model_copy(update={"id": shot_id})})


def _overlap(a: otio.opentime.TimeRange, b: otio.opentime.TimeRange) -> bool:
    return a.start_time < b.end_time_exclusive() and b.start_time < a.end_time_exclusive()


def _derive(matches: list[Match], taken: set[str]) -> None:
    """Give the clips of one shot their own ids when the editor split or duplicated it."""
    parent = matches[0].spec.shot.id

    def fresh(stem: str) -> str:
        n = 1
        while f"{stem}{n}" in taken:
            n += 1
        taken.add(f"{stem}{n}")
        return f"{stem}{n}"

    ranges = [m.ref.clip.source_range for m in matches]
    disjoint = all(not _overlap(a, b) for i, a in enumerate(ranges) for b in ranges[i + 1:])
    if disjoint:
        for match in sorted(matches, key=lambda m: m.ref.clip.source_range.start_time.value):
            match.spec, match.parent, match.kind = _renamed(match.spec, fresh(f"{parent}.")), \
                parent, "split"
        return
    for match in matches[1:]:
        match.spec, match.parent, match.kind = _renamed(match.spec, fresh(f"{parent}.dup")), \
            parent, "duplicate"


def _is_layer(clip: otio.schema.Clip) -> bool:
    """True for the stacked layer clips `soloreel export --layers` writes above a shot."""
    reference = clip.media_reference
    url = getattr(reference, "target_url", "") or ""
    name = url.rsplit("/", 1)[-1]
    return ".layer." in name and not name.split(".layer.", 1)[1].startswith("plate")


def reattach(timeline: otio.schema.Timeline, registry: ShotRegistry) -> ReattachReport:
    """Identify every video clip, derive split/duplicate ids, write specs back onto clips."""
    report = ReattachReport()
    layout = registry.layout(EXPORT_LAYOUT)
    positions = {(row["track"], row["record"]): row["shot_id"] for row in layout}
    tracks = list(timeline.video_tracks())
    by_id: dict[str, list[Match]] = defaultdict(list)
    for ref in iter_shots(timeline):
        if _is_layer(ref.clip):
            report.layers += 1  # a --layers export's plate/character/foreground layer
            continue
        match = _identify(ref, registry, positions, tracks.index(ref.track))
        if match is None:
            report.unknown.append(ref.label)
            continue
        by_id[match.spec.shot.id].append(match)
    taken = set(by_id)
    for matches in by_id.values():
        if len(matches) > 1:
            _derive(matches, taken)
        for match in matches:
            write_spec(match.ref.clip, match.spec)
            match.ref.clip.metadata[PROVENANCE] = {
                "matched_by": match.how, "parent": match.parent, "kind": match.kind}
            report.matched.append(match)
    report.matched.sort(key=lambda m: m.ref.number)
    present = set(by_id) | {m.parent for m in report.matched if m.parent}
    report.deleted = sorted({row["shot_id"] for row in layout} - present)
    return report
