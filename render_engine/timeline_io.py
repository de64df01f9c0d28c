"""Reading timelines and walking their shots, with errors a user can act on."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import opentimelineio as otio

from render_engine.atomic import atomic_path
from render_engine.errors import SoloreelError
from render_engine.spec import NAMESPACE


def read_timeline(path: Path | str, **adapter_args: object) -> otio.schema.Timeline:
    """Read any timeline OTIO can read; one clear SoloreelError instead of a deep traceback."""
    path = Path(path)
    if not path.is_file():
        raise SoloreelError(f"{path}: no such timeline file")
    try:
        result = otio.adapters.read_from_file(str(path), **adapter_args)
    except otio.exceptions.NoKnownAdapterForExtensionError as exc:
        raise SoloreelError(
            f"{path}: no OTIO adapter reads '{path.suffix}' files; "
            f"known: {', '.join(sorted(otio.adapters.available_adapter_names()))}"
        ) from exc
    except Exception as exc:  # adapters raise anything; the user needs the file and reason
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SoloreelError(f"{path}: cannot be read as a timeline ({reason[:300]})") from exc
    if isinstance(result, otio.schema.SerializableCollection):
        timelines = list(result.find_children(descended_from_type=otio.schema.Timeline))
        if not timelines:
            raise SoloreelError(f"{path}: holds no timeline")
        result = timelines[0]
    if not isinstance(result, otio.schema.Timeline):
        raise SoloreelError(f"{path}: holds a {type(result).__name__}, not a timeline")
    return result


def write_timeline(
    timeline: otio.schema.Timeline, path: Path | str, **adapter_args: object
) -> None:
    """Write a timeline atomically (temp file + rename), any adapter by suffix."""
    path = Path(path)
    with atomic_path(path) as tmp:
        adapter = otio.adapters.from_filepath(str(path))
        otio.adapters.write_to_file(timeline, str(tmp), adapter_name=adapter.name, **adapter_args)


@dataclass
class ShotRef:
    """A clip of the timeline with where it sits: its number, track and record time."""

    number: int
    clip: otio.schema.Clip
    track: otio.schema.Track
    record_start: otio.opentime.RationalTime
    rate: float

    @property
    def timecode(self) -> str:
        try:
            return otio.opentime.to_timecode(self.record_start, self.rate)
        except ValueError:  # non-SMPTE rates still deserve a readable position
            return f"{self.record_start.to_seconds():.3f}s"

    @property
    def label(self) -> str:
        """`shot 12 "JANE CU" @ 00:01:13:04`: how problems name a clip."""
        return f'shot {self.number} "{self.clip.name}" @ {self.timecode}'

    @property
    def has_spec(self) -> bool:
        return NAMESPACE in self.clip.metadata


def timeline_rate(timeline: otio.schema.Timeline) -> float:
    """The timeline's frame rate: its global start time's, else the first clip's, else 24."""
    if timeline.global_start_time is not None:
        return timeline.global_start_time.rate
    for clip in timeline.find_clips():
        if clip.source_range is not None:
            return clip.source_range.duration.rate
    return 24.0


def iter_shots(timeline: otio.schema.Timeline, video_only: bool = True) -> Iterator[ShotRef]:
    """Every clip in track order (video tracks first, top to bottom), numbered from 1."""
    rate = timeline_rate(timeline)
    start = timeline.global_start_time or otio.opentime.RationalTime(0, rate)
    number = 0
    tracks = list(timeline.video_tracks())
    if not video_only:
        tracks += list(timeline.audio_tracks())
    for track in tracks:
        for clip in track.find_clips(shallow_search=True):
            number += 1
            try:
                in_parent = clip.trimmed_range_in_parent()
                record = start + in_parent.start_time.rescaled_to(rate)
            except Exception:  # a clip with no range still gets a position
                record = start
            yield ShotRef(number, clip, track, record, rate)


def production_from_env(value: str | None) -> Path | None:
    """The production folder named on the command line or by SOLOREEL_PRODUCTION."""
    chosen = value or os.environ.get("SOLOREEL_PRODUCTION")
    return Path(chosen) if chosen else None


def production_of_timeline(path: Path | str) -> Path | None:
    """The production a timeline's media belong to, found from its media paths.

    An edit saved outside the production (a Resolve export on the desktop, a copy in a mail)
    still points into the production's render cache (`<production>/renders/<tier>/<hash>/
    f<first>_<end>/<file>`), so the first clip reference that does names the production, as
    long as that folder holds a `soloreel.toml`. None when no reference points into one."""
    from render_engine.nle.identity import cache_parts, media_path, production_of

    try:
        timeline = read_timeline(path)
    except SoloreelError:
        return None
    for clip in timeline.find_clips():
        for reference in clip.media_references().values():
            url = getattr(reference, "target_url", None)
            if not url or "renders" not in url:
                continue
            probe_clip = otio.schema.Clip(media_reference=reference.clone())
            candidate = media_path(probe_clip)
            if cache_parts(candidate) is not None:
                found = production_of(candidate)
                if found is not None:
                    return found
    return None
