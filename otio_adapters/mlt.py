"""OTIO adapter `soloreel_mlt`: MLT XML, the project format of Kdenlive's engine `melt`.

Writing: one `avformat` producer per clip (in/out in the file's own frames), one playlist per
video track (clips, blanks), a black background track, and per upper track a `qtblend` (video)
and `mix` (audio) transition, as Kdenlive builds them. A dissolve becomes a small transition
tractor (`luma` + `mix`) between the two clips, as Shotcut writes it. Clip markers go on the
producer as `kdenlive:markers` (position in file frames, comment).

Audio tracks (the dialog and room tone) become playlists marked `kdenlive:audio_track`, shown
with `hide="video"` as Kdenlive does; a clip without a media file becomes a blank. The
timeline's global start time is kept as the main tractor's `soloreel:global_start_frame`
property (melt and Kdenlive keep tractor properties), so record times read back as written.

Reading keeps only what MLT holds: file paths, in/out (file-relative, so the reference's
available range starts at 0), blanks, dissolves, marker comments, audio tracks, the start
frame. OTIO metadata does not survive, exactly like a real Kdenlive round trip.

OTIO loads this module by file path: imports of our code are absolute.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import opentimelineio as otio

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange


def _prop(parent: ET.Element, name: str, value: Any) -> None:
    ET.SubElement(parent, "property", name=name).text = str(value)


def _path(reference: Any) -> str:
    url = getattr(reference, "target_url", "") or ""
    parsed = urlparse(url)
    return unquote(parsed.path) if parsed.scheme == "file" else url


def _frames(time: otio.opentime.RationalTime, rate: float) -> int:
    return round(time.rescaled_to(rate).value)


def _file_in(clip: otio.schema.Clip, rate: float) -> int:
    """The clip's first frame counted from the start of its media file."""
    available = clip.media_reference.available_range
    start = _frames(available.start_time, rate) if available is not None else 0
    return _frames(clip.source_range.start_time, rate) - start


def _media_length(clip: otio.schema.Clip, rate: float, fallback: int) -> int:
    available = clip.media_reference.available_range
    return _frames(available.duration, rate) if available is not None else fallback


class _Writer:
    def __init__(self, timeline: otio.schema.Timeline, rate: float):
        self.timeline = timeline
        self.rate = rate
        self.root = ET.Element("mlt", LC_NUMERIC="C", version="7.12.0", title=timeline.name)
        self.defs: list[ET.Element] = []
        """Producers, playlists and transition tractors, each before anything using it."""
        self.count = 0

    def _id(self, kind: str) -> str:
        self.count += 1
        return f"{kind}{self.count}"

    def producer(self, clip: otio.schema.Clip) -> str:
        ident = self._id("producer")
        length = max(_media_length(clip, self.rate, 0),
                     _file_in(clip, self.rate) + _frames(clip.source_range.duration, self.rate))
        element = ET.Element("producer", id=ident, **{"in": "0", "out": str(length - 1)})
        _prop(element, "length", length)
        _prop(element, "resource", _path(clip.media_reference))
        _prop(element, "mlt_service", "avformat")
        markers = []
        offset = _frames(clip.source_range.start_time, self.rate) - _file_in(clip, self.rate)
        for marker in clip.markers:
            note = getattr(marker, "comment", "") or marker.name
            markers.append({"pos": _frames(marker.marked_range.start_time, self.rate) - offset,
                            "type": 0, "comment": note})
        if markers:
            _prop(element, "kdenlive:markers", json.dumps(markers))
        self.defs.append(element)
        return ident

    def entry(self, playlist: ET.Element, clip: otio.schema.Clip, cut_head: int = 0,
              cut_tail: int = 0) -> None:
        first = _file_in(clip, self.rate) + cut_head
        last = _file_in(clip, self.rate) + _frames(clip.source_range.duration, self.rate) \
            - cut_tail - 1
        if last >= first:
            ET.SubElement(playlist, "entry", producer=self.producer(clip),
                          **{"in": str(first), "out": str(last)})

    def dissolve(self, playlist: ET.Element, before: otio.schema.Clip, after: otio.schema.Clip,
                 head: int, tail: int) -> None:
        """A transition tractor: `before` running on under `after` for head+tail frames."""
        length = head + tail
        tracks = []
        for clip, first in ((before, _file_in(before, self.rate)
                             + _frames(before.source_range.duration, self.rate) - head),
                            (after, _file_in(after, self.rate) - head)):
            inner = ET.Element("playlist", id=self._id("playlist"))
            ET.SubElement(inner, "entry", producer=self.producer(clip),
                          **{"in": str(first), "out": str(first + length - 1)})
            self.defs.append(inner)
            tracks.append(inner.get("id"))
        tractor = ET.Element("tractor", id=self._id("transition"),
                             **{"in": "0", "out": str(length - 1)})
        _prop(tractor, "shotcut:transition", "lumaMix")
        for ident in tracks:
            ET.SubElement(tractor, "track", producer=ident)
        for service in ("luma", "mix"):
            transition = ET.SubElement(tractor, "transition", id=self._id(service),
                                       **{"in": "0", "out": str(length - 1)})
            _prop(transition, "mlt_service", service)
            _prop(transition, "a_track", 0)
            _prop(transition, "b_track", 1)
            if service == "mix":
                _prop(transition, "start", 0.0)
                _prop(transition, "end", 1.0)
        self.defs.append(tractor)
        ET.SubElement(playlist, "entry", producer=tractor.get("id"),
                      **{"in": "0", "out": str(length - 1)})

    def track(self, track: otio.schema.Track) -> ET.Element:
        playlist = ET.Element("playlist", id=self._id("playlist"))
        if track.name:
            _prop(playlist, "kdenlive:track_name", track.name)
        if track.kind == otio.schema.TrackKind.Audio:
            _prop(playlist, "kdenlive:audio_track", 1)
        children = list(track)
        for index, item in enumerate(children):
            if isinstance(item, otio.schema.Gap):
                ET.SubElement(playlist, "blank",
                              length=str(_frames(item.source_range.duration, self.rate)))
            elif isinstance(item, otio.schema.Clip) and not _has_media(item):
                ET.SubElement(playlist, "blank",  # no file for melt to play: silence/black
                              length=str(_frames(item.source_range.duration, self.rate)))
            elif isinstance(item, otio.schema.Clip):
                before = children[index - 1] if index else None
                after = children[index + 1] if index + 1 < len(children) else None
                head = _frames(before.out_offset, self.rate) \
                    if isinstance(before, otio.schema.Transition) else 0
                tail = _frames(after.in_offset, self.rate) \
                    if isinstance(after, otio.schema.Transition) else 0
                self.entry(playlist, item, head, tail)
                if isinstance(after, otio.schema.Transition) and index + 2 < len(children):
                    self.dissolve(playlist, item, children[index + 2],
                                  _frames(after.in_offset, self.rate),
                                  _frames(after.out_offset, self.rate))
        self.defs.append(playlist)
        return playlist

    def build(self, width: int, height: int) -> ET.Element:
        fps = Fraction(self.rate).limit_denominator(1001)
        ET.SubElement(self.root, "profile", description="soloreel", width=str(width),
                      height=str(height), progressive="1", sample_aspect_num="1",
                      sample_aspect_den="1", display_aspect_num=str(width),
                      display_aspect_den=str(height), frame_rate_num=str(fps.numerator),
                      frame_rate_den=str(fps.denominator), colorspace="709")
        duration = _frames(self.timeline.duration(), self.rate)
        black = ET.Element("producer", id="black_track", **{"in": "0",
                                                           "out": str(duration - 1)})
        _prop(black, "length", duration)
        _prop(black, "mlt_service", "color")
        _prop(black, "resource", "0x000000ff")
        video = [self.track(t) for t in self.timeline.video_tracks()]
        audio = [self.track(t) for t in self.timeline.audio_tracks()]
        main = ET.Element("tractor", id="main", **{"in": "0", "out": str(duration - 1)})
        start = self.timeline.global_start_time
        if start is not None:  # kept by melt and Kdenlive as a tractor property
            _prop(main, START_PROPERTY, _frames(start, self.rate))
        ET.SubElement(main, "track", producer="black_track")
        for playlist in audio:  # Kdenlive puts audio tracks below the video tracks
            ET.SubElement(main, "track", producer=playlist.get("id"), hide="video")
        for playlist in video:
            ET.SubElement(main, "track", producer=playlist.get("id"))
        for number in range(1, len(audio) + len(video) + 1):
            is_audio = number <= len(audio)
            for service in ("mix",) if is_audio else ("mix", "qtblend"):
                transition = ET.SubElement(main, "transition", id=self._id(service))
                _prop(transition, "mlt_service", service)
                _prop(transition, "a_track", 0)
                _prop(transition, "b_track", number)
                _prop(transition, "always_active", 1)
                if service == "mix":
                    _prop(transition, "sum", 1)
        for element in [black, *self.defs, main]:
            self.root.append(element)
        self.root.set("producer", "main")
        ET.indent(self.root)
        return self.root


START_PROPERTY = "soloreel:global_start_frame"
"""Main tractor property holding the timeline's global start time (frames at the profile rate):
MLT has no timeline start of its own, and without it every record time reads 00:00:00:00."""


def _has_media(clip: otio.schema.Clip) -> bool:
    return bool(getattr(clip.media_reference, "target_url", None))


def _size(timeline: otio.schema.Timeline) -> tuple[int, int]:
    """Frame size from the first clip's media (PyAV), else 1920x1080."""
    for clip in timeline.find_clips():
        path = Path(_path(clip.media_reference))
        if path.is_file():
            from render_engine.media.encode import probe

            info = probe(path)
            return info.width, info.height
    return 1920, 1080


def write_to_string(input_otio, width: int | None = None, height: int | None = None,
                    **_kwargs) -> str:
    """The timeline as MLT XML (frame size from `width`/`height` or the first media file)."""
    rate = input_otio.global_start_time.rate if input_otio.global_start_time else next(
        (c.source_range.duration.rate for c in input_otio.find_clips()), 24.0)
    if not (width and height):
        width, height = _size(input_otio)
    root = _Writer(input_otio, rate).build(int(width), int(height))
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")


# --------------------------------------------------------------------------- reading


def _props(element: ET.Element) -> dict[str, str]:
    return {p.get("name", ""): p.text or "" for p in element.findall("property")}


def _clip(producer: ET.Element, first: int, last: int, rate: float) -> otio.schema.Clip:
    props = _props(producer)
    resource = props.get("resource", "")
    length = int(props.get("length") or int(producer.get("out", "0")) + 1)
    reference = otio.schema.ExternalReference(
        target_url=Path(resource).resolve().as_uri() if resource else "",
        available_range=TR(RT(0, rate), RT(length, rate)))
    clip = otio.schema.Clip(name=Path(resource).stem, media_reference=reference,
                            source_range=TR(RT(first, rate), RT(last - first + 1, rate)))
    for marker in json.loads(props.get("kdenlive:markers") or "[]"):
        clip.markers.append(otio.schema.Marker(
            name=marker.get("comment", ""), comment=marker.get("comment", ""),
            marked_range=TR(RT(int(marker.get("pos", 0)), rate), RT(0, rate))))
    return clip


def _read_playlist(playlist: ET.Element, elements: dict[str, ET.Element],
                   rate: float, audio: bool = False) -> otio.schema.Track:
    props = _props(playlist)
    track = otio.schema.Track(
        name=props.get("kdenlive:track_name") or playlist.get("id", ""),
        kind=otio.schema.TrackKind.Audio if audio else otio.schema.TrackKind.Video)
    pending_head = 0
    for child in playlist:
        if child.tag == "blank":
            track.append(otio.schema.Gap(source_range=TR(RT(0, rate),
                                                         RT(int(child.get("length")), rate))))
            continue
        if child.tag != "entry":
            continue
        first, last = int(child.get("in", "0")), int(child.get("out", "0"))
        target = elements[child.get("producer", "")]
        if target.tag == "tractor":  # a dissolve: split its length around the cut
            length = last - first + 1
            head, tail = length // 2, length - length // 2
            previous = track[-1] if len(track) else None
            if isinstance(previous, otio.schema.Clip):
                previous.source_range = TR(previous.source_range.start_time,
                                           previous.source_range.duration + RT(head, rate))
            track.append(otio.schema.Transition(
                transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                in_offset=RT(head, rate), out_offset=RT(tail, rate)))
            pending_head = tail
            continue
        clip = _clip(target, first - pending_head, last, rate)
        pending_head = 0
        track.append(clip)
    return track


def read_from_string(input_str: str, **_kwargs) -> otio.schema.Timeline:
    """An MLT XML document as a timeline (video tracks; background tracks skipped)."""
    root = ET.fromstring(input_str)
    profile = root.find("profile")
    rate = 24.0
    if profile is not None:
        rate = float(Fraction(int(profile.get("frame_rate_num", "24")),
                              int(profile.get("frame_rate_den", "1"))))
    elements = {e.get("id", ""): e for e in root if e.get("id")}
    main = elements.get(root.get("producer", "")) or root.findall("tractor")[-1]
    timeline = otio.schema.Timeline(name=root.get("title", ""))
    start = _props(main).get(START_PROPERTY)
    if start and start.lstrip("-").isdigit():
        timeline.global_start_time = RT(int(start), rate)
    for track in main.findall("track"):
        element = elements.get(track.get("producer", ""))
        if element is None or element.tag != "playlist":
            continue
        audio = track.get("hide") == "video" or _props(element).get(
            "kdenlive:audio_track") == "1"
        timeline.tracks.append(_read_playlist(element, elements, rate, audio))
    return timeline
