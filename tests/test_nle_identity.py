"""Round trips an editor can't break (issue 19): split pieces and duplicates are the shot they
came from, identity never guesses against a file's own name, ranges survive references
without `available_range`, `final` markers feed `render --queued`."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
import pytest

import render_engine.render as render_module
from render_engine.cli import main
from render_engine.nle.identity import media_path
from render_engine.spec import read_spec
from render_engine.tiers import placeholder, proxy
from render_engine.timeline_io import write_timeline
from tests.conftest import make_clip, make_timeline, spec_dict
from tests.nle_fixtures import (
    RT,
    TR,
    our_plugins,  # noqa: F401 - fixture
    read_stripped,
)

pytestmark = pytest.mark.usefixtures("our_plugins")


def _edit(production: Path, tiers: tuple[str, ...] = ("placeholder",), frames: int = 24,
          shots: int = 4) -> Path:
    """A rendered one-track edit; s-4 pushes in, so a split's motion can be checked."""
    clips = []
    for i in range(1, shots + 1):
        extra = {"camera": {"move": "push_in", "amount": 0.6}} if i == 4 else {}
        clips.append(make_clip(spec_dict(f"s-{i}", seed=10 + i, dialog=[], **extra),
                               f"SHOT {i}", frames))
    edit = production / "timelines" / "edit.otio"
    write_timeline(make_timeline(clips), edit)
    for tier in tiers:
        assert main(["-q", "render", str(edit), "--tier", tier, "--jobs", "1",
                     "--production", str(production)]) == 0
    return edit


def _export(edit: Path, production: Path, nle: str, out: Path, tier: str = "placeholder"
            ) -> None:
    assert main(["-q", "export", str(edit), "--nle", nle, "-o", str(out), "--tier", tier,
                 "--production", str(production)]) == 0


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    calls: list[tuple[str, str]] = []

    def counting(tier: str):
        real = {"placeholder": placeholder.render, "proxy": proxy.render}[tier]

        def render(job):
            calls.append((tier, job.spec.shot.id))
            return real(job)
        return render

    monkeypatch.setattr(render_module, "renderer_for", counting)
    return calls


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]


def _frame_at(clip: otio.schema.Clip, source_frame: int) -> np.ndarray:
    """The picture a clip shows at a source frame (its active media, by its available range)."""
    reference = clip.media_reference
    start = round(reference.available_range.start_time.value)
    return _frames(media_path(clip))[source_frame - start]


def _split_and_duplicate(timeline: otio.schema.Timeline) -> None:
    """s-4 razor-split in two at its middle; s-2 duplicated at the end of the track."""
    track = timeline.video_tracks()[0]
    s4 = track[3]
    rate = s4.source_range.duration.rate
    half = RT(s4.source_range.duration.value // 2, rate)
    first, second = s4.deepcopy(), s4.deepcopy()
    first.source_range = TR(s4.source_range.start_time, half)
    second.source_range = TR(s4.source_range.start_time + half,
                             s4.source_range.duration - half)
    second.markers[:] = []  # the razor leaves the marker on the first half only
    track.remove(s4)
    track.append(first)
    track.append(second)
    track.append(track[1].deepcopy())


def test_split_and_duplicate_render_nothing_and_keep_the_motion(
        tiny_production, tmp_path, monkeypatch) -> None:
    edit = _edit(tiny_production, ("placeholder", "proxy"))
    exported = tmp_path / "cut.xml"
    _export(edit, tiny_production, "fcp7", exported, tier="proxy")
    timeline = read_stripped(exported, monkeypatch)
    _split_and_duplicate(timeline)
    back = tmp_path / "back.xml"
    otio.adapters.write_to_file(timeline, str(back), adapter_name="fcp_xml")
    calls = _counting(monkeypatch)
    master = tmp_path / "master.otio"
    assert main(["-q", "import", str(back), "-o", str(master), "--tier", "proxy",
                 "--production", str(tiny_production)]) == 0
    assert main(["-q", "relink", str(master), "--tier", "placeholder",
                 "--production", str(tiny_production)]) == 0
    assert calls == []  # zero renders at every tier
    clips = otio.adapters.read_from_file(str(master)).find_clips()
    ids = [read_spec(c).shot.id for c in clips]
    assert ids == ["s-1", "s-2", "s-3", "s-4.1", "s-4.2", "s-2.dup1"]
    first, second = clips[3], clips[4]
    assert read_spec(second).shot.origin == read_spec(first).shot.origin
    cut = round(second.source_range.start_time.value)
    # both halves show the parent's render, so the picture across the cut moves as it did
    parent = otio.adapters.read_from_file(str(edit)).find_clips()[3]
    for tier in ("proxy", "placeholder"):
        for clip in (first, second, parent):
            clip.active_media_reference_key = tier
        before, after = _frame_at(first, cut - 1), _frame_at(second, cut)
        original = np.abs(_frame_at(parent, cut) - _frame_at(parent, cut - 1)).mean()
        assert np.abs(after - before).mean() == pytest.approx(original, abs=1e-9)
        assert media_path(first) == media_path(parent)  # a trim of one render
        if tier == "proxy":  # the push-in really moves across the cut
            assert original > 0


def test_pieces_without_a_render_at_a_tier_render_their_parent_once(
        tiny_production, tmp_path, monkeypatch) -> None:
    edit = _edit(tiny_production)  # placeholder only: no proxy yet
    exported = tmp_path / "cut.xml"
    _export(edit, tiny_production, "fcp7", exported)
    timeline = read_stripped(exported, monkeypatch)
    _split_and_duplicate(timeline)
    back = tmp_path / "back.xml"
    otio.adapters.write_to_file(timeline, str(back), adapter_name="fcp_xml")
    calls = _counting(monkeypatch)
    master = tmp_path / "master.otio"
    assert main(["-q", "import", str(back), "-o", str(master), "--tier", "proxy",
                 "--production", str(tiny_production)]) == 0
    # one proxy per shot: both halves of s-4 share the parent's render, as does the duplicate
    assert sorted(calls) == [("proxy", f"s-{i}") for i in range(1, 5)]
    clips = otio.adapters.read_from_file(str(master)).find_clips()
    assert media_path(clips[3]) == media_path(clips[4])
    assert media_path(clips[1]) == media_path(clips[5])


def test_a_second_round_trip_keeps_the_pieces(tiny_production, tmp_path, monkeypatch) -> None:
    edit = _edit(tiny_production)
    exported = tmp_path / "cut.xml"
    _export(edit, tiny_production, "fcp7", exported)
    timeline = read_stripped(exported, monkeypatch)
    _split_and_duplicate(timeline)
    back = tmp_path / "back.xml"
    otio.adapters.write_to_file(timeline, str(back), adapter_name="fcp_xml")
    master = tmp_path / "master.otio"
    assert main(["-q", "import", str(back), "-o", str(master),
                 "--production", str(tiny_production)]) == 0
    again = tmp_path / "again.otio"  # the master goes back to the NLE and returns unchanged
    _export(master, tiny_production, "resolve", again)
    timeline = otio.adapters.read_from_file(str(again))
    _strip(timeline, available=True)
    otio.adapters.write_to_file(timeline, str(again))
    calls = _counting(monkeypatch)
    assert main(["-q", "import", str(again), "-o", str(master),
                 "--production", str(tiny_production)]) == 0
    assert calls == []
    clips = otio.adapters.read_from_file(str(master)).find_clips()
    assert [read_spec(c).shot.id for c in clips] == [
        "s-1", "s-2", "s-3", "s-4.1", "s-4.2", "s-2.dup1"]
    assert media_path(clips[3]) == media_path(clips[4])


def test_a_retake_on_a_piece_renders_that_piece_only(tiny_production, tmp_path,
                                                      monkeypatch) -> None:
    edit = _edit(tiny_production)
    exported = tmp_path / "cut.xml"
    _export(edit, tiny_production, "fcp7", exported)
    timeline = read_stripped(exported, monkeypatch)
    _split_and_duplicate(timeline)
    second = timeline.video_tracks()[0][4]
    second.markers.append(otio.schema.Marker(
        name="retake", marked_range=TR(second.source_range.start_time, RT(0, 24))))
    back = tmp_path / "back.xml"
    otio.adapters.write_to_file(timeline, str(back), adapter_name="fcp_xml")
    calls = _counting(monkeypatch)
    assert main(["-q", "import", str(back), "-o", str(tmp_path / "m.otio"),
                 "--production", str(tiny_production)]) == 0
    assert calls == [("placeholder", "s-4.2")]


def _strip(timeline: otio.schema.Timeline, markers: bool = False,
           available: bool = False) -> None:
    for clip in timeline.find_clips():
        for key in list(clip.metadata):
            del clip.metadata[key]
        if markers:
            clip.markers[:] = []
        if available:
            clip.media_reference.available_range = None


def test_no_available_range_keeps_the_source_range(tiny_production, tmp_path,
                                                    monkeypatch) -> None:
    edit = _edit(tiny_production)
    exported = tmp_path / "cut.otio"
    _export(edit, tiny_production, "resolve", exported)
    timeline = otio.adapters.read_from_file(str(exported))
    _strip(timeline, available=True)
    starts = [c.source_range.start_time.value for c in timeline.find_clips()]
    back = tmp_path / "back.otio"
    otio.adapters.write_to_file(timeline, str(back))
    calls = _counting(monkeypatch)
    master = tmp_path / "m.otio"
    assert main(["-q", "import", str(back), "-o", str(master),
                 "--production", str(tiny_production)]) == 0
    assert calls == []
    clips = otio.adapters.read_from_file(str(master)).find_clips()
    assert [c.source_range.start_time.value for c in clips] == starts == [86400.0] * 4


def test_moved_media_without_markers_never_contradicts_a_file_name(
        tiny_production, tmp_path, monkeypatch, capsys) -> None:
    edit = _edit(tiny_production)
    exported = tmp_path / "cut.otio"
    _export(edit, tiny_production, "resolve", exported)
    timeline = otio.adapters.read_from_file(str(exported))
    _strip(timeline, markers=True, available=True)
    moved = tmp_path / "consolidated"
    moved.mkdir()
    track = timeline.video_tracks()[0]
    for clip in track:  # the editor consolidated the media elsewhere (path lost)
        source = media_path(clip)
        shutil.copy(source, moved / source.name)
        clip.media_reference.target_url = (moved / source.name).as_uri()
        clip.name = source.name  # Resolve names master clips after their files
    s2 = track[1]
    track.remove(s2)
    track.insert(2, s2)  # swapped pair: s-3 now sits where s-2 was exported
    assert [media_path(c).stem for c in track] == ["s-1", "s-3", "s-2", "s-4"]
    stranger = track[3]  # a file whose name is another shot's and no shot we know
    shutil.copy(media_path(stranger), moved / "s-9.mov")
    stranger.media_reference.target_url = (moved / "s-9.mov").as_uri()
    stranger.name = "s-9.mov"
    back = tmp_path / "back.otio"
    otio.adapters.write_to_file(timeline, str(back))
    master = tmp_path / "m.otio"
    assert main(["import", str(back), "-o", str(master), "--no-render",
                 "--production", str(tiny_production)]) == 1
    out = capsys.readouterr()
    clips = otio.adapters.read_from_file(str(master)).find_clips()
    found = [read_spec(c).shot.id if "soloreel" in c.metadata else None for c in clips]
    assert found == ["s-1", "s-3", "s-2", None]  # by file name; position never overrode it
    assert "s-3 (by file name: file s-3.mov)" in out.out
    assert "position V1 @ frame" in out.err and "says s-4, but file s-9.mov says s-9" in out.err
    assert [c.name for c in clips[:3]] == ["SHOT 1", "SHOT 3", "SHOT 2"]  # names restored
    assert [c.source_range.start_time.value for c in clips] == [86400.0] * 4


def test_position_still_finds_a_renamed_file(tiny_production, tmp_path, monkeypatch) -> None:
    edit = _edit(tiny_production, shots=2)
    exported = tmp_path / "cut.otio"
    _export(edit, tiny_production, "resolve", exported)
    timeline = otio.adapters.read_from_file(str(exported))
    _strip(timeline, markers=True)
    timeline.find_clips()[1].media_reference.target_url = "file:///graded/A001_C002.mov"
    back = tmp_path / "back.otio"
    otio.adapters.write_to_file(timeline, str(back))
    master = tmp_path / "m.otio"
    assert main(["-q", "import", str(back), "-o", str(master), "--no-render",
                 "--production", str(tiny_production)]) == 0
    clip = otio.adapters.read_from_file(str(master)).find_clips()[1]
    assert read_spec(clip).shot.id == "s-2"
    assert dict(clip.metadata["soloreel_nle"])["matched_by"] == "position"


def test_final_markers_feed_render_queued(tiny_production, tmp_path, monkeypatch,
                                          capsys) -> None:
    edit = _edit(tiny_production, shots=3)
    exported = tmp_path / "cut.otio"
    _export(edit, tiny_production, "resolve", exported)
    timeline = otio.adapters.read_from_file(str(exported))
    clip = timeline.find_clips()[1]
    clip.markers.append(otio.schema.Marker(
        name="final", marked_range=TR(clip.source_range.start_time, RT(0, 24))))
    back = tmp_path / "back.otio"
    otio.adapters.write_to_file(timeline, str(back))
    master = tmp_path / "m.otio"
    assert main(["-q", "import", str(back), "-o", str(master),
                 "--production", str(tiny_production)]) == 0
    capsys.readouterr()
    assert main(["render", str(master), "--tier", "proxy", "--queued",
                 "--production", str(tiny_production)]) == 1
    assert "--tier final" in capsys.readouterr().err
    main(["render", str(master), "--tier", "final", "--queued", "--dry-run",
          "--production", str(tiny_production)])
    out = capsys.readouterr().out
    assert "s-2" in out and "s-1" not in out and "s-3" not in out


def test_production_found_from_media_paths_and_first_import_diffs_the_export(
        tiny_production, tmp_path, monkeypatch, capsys) -> None:
    edit = _edit(tiny_production, shots=3)
    outside = tmp_path / "desktop"
    outside.mkdir()
    exported = outside / "cut.otio"
    _export(edit, tiny_production, "resolve", exported)
    monkeypatch.delenv("SOLOREEL_PRODUCTION", raising=False)
    capsys.readouterr()
    assert main(["import", str(exported), "-o", str(outside / "m.otio")]) == 0
    out = capsys.readouterr().out
    assert "added:" not in out and "removed:" not in out  # the export is the baseline
    assert main(["relink", str(outside / "m.otio")]) == 0
    assert main(["render", str(outside / "m.otio")]) == 0


@pytest.mark.slow
def test_demo_split_and_duplicate_render_nothing(demo_copy: Path, tmp_path: Path,
                                                 monkeypatch) -> None:
    edit = demo_copy / "timelines" / "campfire.otio"
    assert main(["-q", "render", str(edit), "--production", str(demo_copy)]) == 0
    exported = tmp_path / "cut.xml"
    _export(edit, demo_copy, "fcp7", exported)
    timeline = read_stripped(exported, monkeypatch)
    track = timeline.video_tracks()[0]
    shot = track[2]
    rate = shot.source_range.duration.rate
    half = RT(shot.source_range.duration.value // 2, rate)
    first, second = shot.deepcopy(), shot.deepcopy()
    first.source_range = TR(shot.source_range.start_time, half)
    second.source_range = TR(shot.source_range.start_time + half,
                             shot.source_range.duration - half)
    second.markers[:] = []
    index = list(track).index(shot)
    track.remove(shot)
    track.insert(index, second)
    track.insert(index, first)
    track.append(track[5].deepcopy())
    back = tmp_path / "back.xml"
    otio.adapters.write_to_file(timeline, str(back), adapter_name="fcp_xml")
    calls = _counting(monkeypatch)
    master = tmp_path / "master.otio"
    assert main(["-q", "import", str(back), "-o", str(master),
                 "--production", str(demo_copy)]) == 0
    assert calls == []
    clips = otio.adapters.read_from_file(str(master)).video_tracks()[0].find_clips()
    a, b = clips[index], clips[index + 1]
    assert [read_spec(a).shot.id, read_spec(b).shot.id] == [
        f"{read_spec(a).shot.id.rsplit('.', 1)[0]}.1", f"{read_spec(a).shot.id[:-2]}.2"]
    assert media_path(a) == media_path(b)
    cut = round(b.source_range.start_time.value)
    assert np.abs(_frame_at(b, cut) - _frame_at(a, cut - 1)).mean() == pytest.approx(
        np.abs(_frame_at(a, cut) - _frame_at(a, cut - 1)).mean(), abs=1e-9)
