"""Re-attach ShotSpecs to the clips of an edit that came back from an NLE.

Each video clip is identified by, in order of trust: a spec it still carries; its media path
(exported media, or the cache manifest beside a cache path); the shot id in its media file's
own name (`s01-003.mov`: every render is written as `<shot_id>.<ext>`, and NLEs keep file
names when media moves); its identity marker; its position in the last export. Position is
the weakest evidence and never overrides a name that says otherwise: a clip whose file or clip
name names a different shot is left unknown, with both pieces of evidence reported. Every match
records its evidence (`Match.evidence`).

Ranges: when the media reference has no `available_range` (many tools write none) or one that
starts at 0 (MLT's file-relative in/out), the clip's source range is placed in the media's own
timecode window — the render folder's name (`f<first>_<end>`), the render's manifest, the
movie's start timecode, or the registry's record of the shot's media — so a range already in
source frames is kept and a file-relative one is moved, never both.

The editor's changes are honoured: a trim is just the clip's new source range; a reorder or a
move to another track changes nothing; a deleted shot is reported; two or more clips of one
shot are a *split* when their source ranges do not overlap (every piece gets its own id
`<parent>.<n>`, in source order) and a *duplicate* otherwise (the first in timeline order keeps
the id, copies get `<parent>.dup<n>`). A piece keeps its parent's spec and records the parent
as `render_as`, so it links the parent's renders (`render_engine.render.reuse_identity`). Clips
nobody knows are left alone and reported.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import opentimelineio as otio

from render_engine.errors import SoloreelError
from render_engine.nle.export import EXPORT_LAYOUT
from render_engine.nle.identity import (
    cache_parts,
    file_shot_id,
    folder_window,
    marker_shot_id,
    media_path,
)
from render_engine.nle.registry import ShotRegistry
from render_engine.render import PIECE_KEY, piece_digest
from render_engine.spec import ShotSpec, spec_or_error, write_spec
from render_engine.timeline_io import ShotRef, iter_shots

PROVENANCE = PIECE_KEY
"""Clip metadata key recording how a clip was matched (and its parent when derived)."""


@dataclass
class Match:
    """One identified clip."""

    ref: ShotRef
    spec: ShotSpec
    how: str
    parent: str | None = None
    kind: str | None = None
    evidence: str = ""
    render_as: str | None = None
    """The shot whose renders this clip is a trim of (a split piece's or duplicate's root)."""
    render_range: list[int] | None = None
    """That shot's exported source frames [first, end): what a piece renders as when the
    parent has no render at a tier yet (`render_engine.render._reuse_parent`)."""
    render_digest: str | None = None
    """`render.piece_digest` of the parent's spec when the piece was cut from it."""


@dataclass
class ReattachReport:
    """What the import found: matched clips, clips nobody knows, shots the editor deleted."""

    matched: list[Match] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    layers: int = 0
    """Layer clips of a layered export (`<shot>.layer.<name>.mov`): known, not shots."""
    deleted: list[str] = field(default_factory=list)
    rebased: list[str] = field(default_factory=list)
    """Clips whose source range was moved into their media's timecode window, and why."""
    why: dict[str, str] = field(default_factory=dict)
    """Why an unknown clip was left alone (its label → the evidence that was missing or
    contradicted)."""

    def lines(self) -> list[str]:
        """Human-readable summary lines, each match with its evidence."""
        out = [f"{m.ref.label}: {m.spec.shot.id} (by {m.how}"
               + (f": {m.evidence}" if m.evidence else "")
               + (f"; {m.kind} of {m.parent}" if m.kind else "") + ")" for m in self.matched]
        out += [f"{label}: not a soloreel shot; left alone"
                + (f" ({self.why[label]})" if self.why.get(label) else "")
                for label in self.unknown]
        out += [f"{shot_id}: deleted in the editor" for shot_id in self.deleted]
        return out


# --------------------------------------------------------------------------- ranges


def _movie_window(path: Path) -> tuple[int, int] | None:
    """The source frames a movie holds from its start timecode and frame count (PyAV)."""
    if not path.is_file():
        return None
    try:
        from render_engine.media.encode import probe

        info = probe(path)
        if not info.timecode:
            return None
        rate = float(info.fps)
        start = otio.opentime.from_timecode(info.timecode.replace(";", ":"), rate)
        first = round(start.value)
        return first, first + int(info.frame_count)
    except Exception:  # an unreadable or odd file is simply no evidence
        return None


def media_window(path: Path | None, shot_id: str | None,
                 registry: ShotRegistry) -> tuple[tuple[int, int], str] | None:
    """The source frames [first, end) the clip's media holds, and where that was learnt."""
    if path is None:
        return None
    parts = cache_parts(path)
    if parts is not None:
        return (parts[2], parts[3]), "render folder name"
    window = folder_window(path)
    if window is not None:
        return window, "render folder name"
    manifest = path.parent / "manifest.json"
    if manifest.is_file():
        try:
            frames = json.loads(manifest.read_text())["frames"]
            return (int(frames[0]), int(frames[1])), "render manifest"
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            pass
    window = _movie_window(path)
    if window is not None:
        return window, "movie start timecode"
    if shot_id:
        windows = [(first, end) for name, first, end in registry.media_windows(shot_id)
                   if name == path.name]
        if windows:
            return windows[-1], "the registry's record of the file"
    return None


def _rebase(clip: otio.schema.Clip, window: tuple[int, int]) -> bool:
    """Put the clip's source range in source frames of its media's window; True if moved.

    A range that already lies inside the window stays (it is in source frames: a reference
    without `available_range` is not file-relative for that); a range that lies inside the
    reference's own range counted from its start (MLT's in/out, `available_range` at 0, or no
    range at all) moves by the difference."""
    if clip.source_range is None:
        return False
    first, end = window
    rate = clip.source_range.duration.rate
    reference = clip.media_reference
    available = reference.available_range
    start = round(available.start_time.rescaled_to(rate).value) if available is not None else 0
    length = round(available.duration.rescaled_to(rate).value) if available is not None \
        else end - first
    lo = round(clip.source_range.start_time.value)
    hi = lo + round(clip.source_range.duration.value)
    absolute = first <= lo and hi <= end
    relative = start <= lo and hi <= start + length
    moved = False
    if start != first and relative and not (absolute and available is None):
        shift = otio.opentime.RationalTime(first - start, rate)
        clip.source_range = otio.opentime.TimeRange(clip.source_range.start_time + shift,
                                                    clip.source_range.duration)
        moved = True
    reference.available_range = otio.opentime.TimeRange(
        otio.opentime.RationalTime(first, rate), otio.opentime.RationalTime(end - first, rate))
    return moved


# --------------------------------------------------------------------------- identity


def _names(clip: otio.schema.Clip, path: Path | None) -> list[tuple[str, str]]:
    """(candidate shot id, where it was read) from the media file's and the clip's names."""
    found = []
    from_file = file_shot_id(path)
    if from_file:
        found.append((from_file, f"file {path.name if path else ''}"))
    name = (clip.name or "").strip()
    from_clip = file_shot_id(name) or (name if name and " " not in name else None)
    if from_clip and from_clip != from_file:
        found.append((from_clip, f"clip name {name!r}"))
    return found


def _identify(ref: ShotRef, registry: ShotRegistry,
              positions: dict[tuple[int, int], str], track_index: int
              ) -> tuple[Match | None, str]:
    """The clip's match, or None and why not."""
    clip = ref.clip
    if ref.has_spec:
        try:
            spec = spec_or_error(clip)
        except SoloreelError as exc:
            return None, str(exc)
        if spec is None:
            return None, "its spec cannot be read"
        known = clip.metadata.get(PROVENANCE) or {}
        render_as = known.get("render_as")
        span = known.get("render_range")
        return Match(ref, spec, str(known.get("matched_by") or "metadata"),
                     known.get("parent"), known.get("kind"),
                     str(known.get("evidence") or ""),
                     str(render_as) if render_as else None,
                     [int(v) for v in span] if span is not None else None,
                     known.get("render_digest")), ""
    path = media_path(clip)
    marked = marker_shot_id(clip)
    names = _names(clip, path)
    if path is not None:
        shots = registry.media_shots(path)
        if shots:  # exported media: several shots may share it (pieces, duplicates)
            shot_id = marked if marked in shots else shots[0]
            spec = registry.spec(shot_id)
            if spec is not None:
                return Match(ref, spec, "media path", evidence=str(path)), ""
        found = registry.by_media(path)
        if found is not None:
            return Match(ref, found[1], "media path", evidence=str(path)), ""
    for candidate, where in names[:1]:  # the media file's own name
        spec = registry.spec(candidate)
        if spec is not None and where.startswith("file"):
            piece = registry.get(marked) if marked and marked != candidate else None
            if piece is not None and piece.get("render_as") == candidate:
                spec = registry.spec(marked) or spec  # a piece of that shot: its own marker
                return Match(ref, spec, "file name", evidence=f"{where}, marker "
                             f"soloreel:shot={marked} (a piece of {candidate})"), ""
            return Match(ref, spec, "file name", evidence=where), ""
    spec = registry.spec(marked) if marked else None
    if spec is not None:
        return Match(ref, spec, "marker", evidence=f"soloreel:shot={marked}"), ""
    record = round(clip.trimmed_range_in_parent().start_time.value)
    positioned = positions.get((track_index, record))
    spec = registry.spec(positioned) if positioned else None
    if spec is None:
        return None, "no media path, file name, marker or position names a known shot"
    known_ids = set(registry.ids())
    for candidate, where in names:
        if candidate != positioned and (candidate in known_ids or candidate in positions.values()
                                        or (where.startswith("file")
                                        and file_shot_id(path) == candidate
                                        and _looks_like_ours(candidate, known_ids))):
            return None, (f"position V{track_index + 1} @ frame {record} says {positioned}, "
                          f"but {where} says {candidate}; not guessed")
    return Match(ref, spec, "position",
                 evidence=f"V{track_index + 1} @ frame {record} in the last export"), ""


def _looks_like_ours(candidate: str, known_ids: set[str]) -> bool:
    """True when an unknown id is shaped like the production's ids (same prefix before the
    last separator as a known id: `s01-009` beside `s01-002`), so a file name that is
    probably another of our shots is never overridden by position."""
    for sep in ("-", "_", "."):
        if sep in candidate:
            stem = candidate.rsplit(sep, 1)[0] + sep
            if any(known.startswith(stem) for known in known_ids):
                return True
    return False


def _renamed(spec: ShotSpec, shot_id: str) -> ShotSpec:
    return spec.model_copy(update={"shot": spec.shot.model_copy(update={"id": shot_id})})


def _overlap(a: otio.opentime.TimeRange, b: otio.opentime.TimeRange) -> bool:
    return a.start_time < b.end_time_exclusive() and b.start_time < a.end_time_exclusive()


def _derive(matches: list[Match], taken: set[str],
            spans: dict[str, list[int]] | None = None) -> None:
    """Give the clips of one shot their own ids when the editor split or duplicated it; each
    piece renders as the shot's root (`render_as`), so it links the renders already made, and
    carries the root's exported range (`render_range`; else the pieces' union)."""
    parent = matches[0].spec.shot.id
    root = matches[0].render_as or parent
    span = matches[0].render_range or (spans or {}).get(root)
    if span is None:
        starts = [round(m.ref.clip.source_range.start_time.value) for m in matches]
        ends = [round(m.ref.clip.source_range.end_time_exclusive().value) for m in matches]
        span = [min(starts), max(ends)]
    digest = matches[0].render_digest or piece_digest(_renamed(matches[0].spec, root))
    for match in matches:
        match.render_range, match.render_digest = list(span), digest

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
            match.render_as = root
        return
    for match in matches[1:]:
        match.spec, match.parent, match.kind = _renamed(match.spec, fresh(f"{parent}.dup")), \
            parent, "duplicate"
        match.render_as = root


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
    names = {row["shot_id"]: row.get("name") for row in layout}
    spans = {row["shot_id"]: list(row["source"]) for row in layout if row.get("source")}
    tracks = list(timeline.video_tracks())
    by_id: dict[str, list[Match]] = defaultdict(list)
    for ref in iter_shots(timeline):
        if _is_layer(ref.clip):
            report.layers += 1  # a --layers export's plate/character/foreground layer
            continue
        match, why = _identify(ref, registry, positions, tracks.index(ref.track))
        if match is None:
            report.unknown.append(ref.label)
            report.why[ref.label] = why
            continue
        if match.how != "metadata" and not ref.has_spec:
            _place(match, registry, report)
            _restore_name(ref.clip, names.get(match.spec.shot.id))
            record = registry.get(match.spec.shot.id) or {}
            match.render_as = match.render_as or record.get("render_as")
            match.render_range = match.render_range or record.get("render_range")
            match.render_digest = match.render_digest or record.get("render_digest")
            if record.get("parent") and match.parent is None:
                match.parent = record["parent"]
        by_id[match.spec.shot.id].append(match)
    parents = {shot_id: (registry.get(shot_id) or {}).get("parent")
               for shot_id in registry.ids()}
    for shot_id, matches in by_id.items():
        matches.sort(key=lambda m: m.ref.number)
        if len(matches) > 1:  # a piece keeps the id an earlier import gave it (same order)
            taken = set(by_id) | {i for i, parent in parents.items() if parent != shot_id}
            _derive(matches, taken, spans)
        for match in matches:
            write_spec(match.ref.clip, match.spec)
            match.ref.clip.metadata[PROVENANCE] = {
                "matched_by": match.how, "evidence": match.evidence, "parent": match.parent,
                "kind": match.kind, "render_as": match.render_as,
                "render_range": match.render_range if match.render_as else None,
                "render_digest": match.render_digest if match.render_as else None}
            report.matched.append(match)
    report.matched.sort(key=lambda m: m.ref.number)
    present = set(by_id) | {m.parent for m in report.matched if m.parent}
    present |= {m.render_as for m in report.matched if m.render_as}
    report.deleted = sorted({row["shot_id"] for row in layout} - present)
    return report


def _restore_name(clip: otio.schema.Clip, exported: str | None) -> None:
    """Give a clip back the name it was exported with when the NLE renamed it after its media
    file (Resolve names master clips by file: `s01-003.mov`); names the editor typed stay."""
    if not exported or clip.name == exported:
        return
    path = media_path(clip)
    file_names = {path.name, path.stem} if path is not None else set()
    if clip.name in file_names or (clip.name and file_shot_id(clip.name) is not None):
        clip.name = exported


def _place(match: Match, registry: ShotRegistry, report: ReattachReport) -> None:
    """Rebase a matched clip's range into its media's timecode window (see the docstring)."""
    clip = match.ref.clip
    path = media_path(clip)
    found = media_window(path, match.render_as or match.spec.shot.id, registry)
    if found is None and path is not None and match.spec.shot.id != file_shot_id(path):
        found = media_window(path, file_shot_id(path), registry)
    if found is None:
        return
    window, source = found
    if _rebase(clip, window):
        report.rebased.append(f"{match.ref.label}: range moved into the media's frames "
                              f"{window[0]}-{window[1]} ({source})")
