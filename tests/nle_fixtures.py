"""Helpers for the NLE round-trip tests: our plugins through OTIO's real manifest machinery,
a rendered tiny edit, and an "editor" that trims, reorders, splits, duplicates and deletes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import opentimelineio as otio
import otio_fcp_adapter
import pytest

from render_engine.cli import main
from render_engine.timeline_io import write_timeline
from tests.conftest import REPO, make_clip, make_timeline, spec_dict

MANIFEST = REPO / "otio_adapters" / "plugin_manifest.json"
FCP_MANIFEST = Path(otio_fcp_adapter.__file__).parent / "plugin_manifest.json"
MANIFEST_PATH = f"{MANIFEST}{os.pathsep}{FCP_MANIFEST}"
"""Our manifest plus the fcp_xml adapter's (entry points are off in these tests)."""
RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange


@pytest.fixture
def our_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Load exactly our manifest (entry points off) through OTIO's plugin loader."""
    monkeypatch.setenv("OTIO_PLUGIN_MANIFEST_PATH", MANIFEST_PATH)
    monkeypatch.setenv("OTIO_DISABLE_ENTRYPOINTS_PLUGINS", "1")
    monkeypatch.delenv("SOLOREEL_HOOKS", raising=False)
    manifest = otio.plugins.ActiveManifest(force_reload=True)
    names = {a.name for a in manifest.adapters}
    assert {"soloreel_mlt", "video"} <= names
    assert "soloreel_reattach_specs" in manifest.hooks["post_adapter_read"]
    yield
    monkeypatch.undo()
    otio.plugins.ActiveManifest(force_reload=True)


def rendered_edit(production: Path, shots: int = 4, frames: int = 24,
                  dialog: bool = False) -> Path:
    """A one-track edit of `shots` shots, rendered at the placeholder tier (with `dialog`,
    the first shot has a spoken line, so its media has sound)."""
    clips = [make_clip(spec_dict(f"s-{i}", seed=10 + i, **({} if dialog and i == 1 else
                                                           {"dialog": []})), f"SHOT {i}", frames)
             for i in range(1, shots + 1)]
    edit = production / "timelines" / "edit.otio"
    write_timeline(make_timeline(clips), edit)
    assert main(["-q", "render", str(edit), "--production", str(production)]) == 0
    return edit


def read_stripped(path: Path, monkeypatch: pytest.MonkeyPatch) -> otio.schema.Timeline:
    """Read an export the way the NLE sees it: through the adapter, our hook switched off."""
    monkeypatch.setenv("SOLOREEL_HOOKS", "0")
    timeline = otio.adapters.read_from_file(str(path))
    monkeypatch.delenv("SOLOREEL_HOOKS")
    for clip in timeline.find_clips():
        assert "soloreel" not in clip.metadata, "the adapter kept our metadata: not honest"
    return timeline


def edit_like_an_editor(timeline: otio.schema.Timeline) -> None:
    """s-1 trimmed (head +2, tail -3), s-2 duplicated onto a new track V2, s-3 deleted, s-4
    split in two halves that move to the front (a reorder)."""
    track = timeline.video_tracks()[0]
    s1, s2, s3, s4 = list(track)
    rate = s1.source_range.duration.rate
    s1.source_range = TR(s1.source_range.start_time + RT(2, rate),
                         s1.source_range.duration - RT(5, rate))
    copy = s2.deepcopy()
    half = RT(s4.source_range.duration.value // 2, rate)
    first = s4.deepcopy()
    first.source_range = TR(s4.source_range.start_time, half)
    second = s4.deepcopy()
    second.source_range = TR(s4.source_range.start_time + half,
                             s4.source_range.duration - half)
    for item in list(track):
        track.remove(item)
    for item in (first, second, s1, s2):
        track.append(item)
    upper = otio.schema.Track(name="V2", kind=otio.schema.TrackKind.Video)
    upper.append(otio.schema.Gap(source_range=TR(RT(0, rate), RT(60, rate))))
    upper.append(copy)
    timeline.tracks.append(upper)
    del s3


def check_imported(master: otio.schema.Timeline, trimmed_start: float) -> None:
    """Every surviving clip has the right spec and range after the editor's changes."""
    from render_engine.spec import read_spec

    v1, v2 = master.video_tracks()
    ids = [read_spec(c).shot.id for c in v1.find_clips()]
    assert ids == ["s-4.1", "s-4.2", "s-1", "s-2"]
    halves = [read_spec(c) for c in v1.find_clips()[:2]]
    assert all(h.seed == 14 and h.set == "yard" for h in halves)  # both halves keep the spec
    s1 = v1.find_clips()[2]
    assert s1.source_range.start_time.value == trimmed_start and \
        s1.source_range.duration.value == 19
    assert read_spec(s1).seed == 11
    (dup,) = v2.find_clips()
    assert read_spec(dup).shot.id == "s-2.dup1" and read_spec(dup).seed == 12
    assert "s-3" not in {read_spec(c).shot.id for c in master.find_clips()}
