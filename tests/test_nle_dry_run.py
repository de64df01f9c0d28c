"""A full editor round trip through every export format, planned by `soloreel import --dry-run`:
trims, a split, a duplicate, a deletion, a reorder, an extension and three orders render
exactly what they ask for, and the table a user reads says so before anything happens."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

import render_engine.render as render_module
from render_engine.cli import main
from render_engine.nle.registry import ShotRegistry
from render_engine.spec import read_spec
from render_engine.tiers import placeholder
from render_engine.timeline_io import write_timeline
from tests.conftest import make_clip, make_timeline, spec_dict
from tests.nle_fixtures import (
    RT,
    TR,
    our_plugins,  # noqa: F401 - fixture
    read_stripped,
)

pytestmark = pytest.mark.usefixtures("our_plugins")
FORMATS = {"resolve": ("otio_json", ".otio"), "kdenlive": ("otio_json", ".otio"),
           "fcp7": ("fcp_xml", ".xml"), "mlt": ("soloreel_mlt", ".mlt")}


def _edit(production: Path) -> Path:
    clips = [make_clip(spec_dict(f"s-{i}", seed=10 + i, dialog=[]), f"SHOT {i}", 24)
             for i in range(1, 6)]
    edit = production / "timelines" / "edit.otio"
    write_timeline(make_timeline(clips), edit)
    assert main(["-q", "render", str(edit), "--jobs", "1", "--production",
                 str(production)]) == 0
    return edit


def _order(clip: otio.schema.Clip, text: str) -> None:
    clip.markers.append(otio.schema.Marker(
        name=text, comment=text,
        marked_range=TR(clip.source_range.start_time + RT(1, 24), RT(0, 24))))


def _like_an_editor(timeline: otio.schema.Timeline) -> None:
    """Trim s-1 inside its handles, split s-4 (its second half extended 10 frames past the
    render's handles), duplicate s-2 onto V2, delete s-3, move the halves to the front; orders:
    `retake` on s-2, `fix: ...` on s-5, `final` on s-1."""
    track = timeline.video_tracks()[0]
    s1, s2, s3, s4, s5 = list(track)
    s1.source_range = TR(s1.source_range.start_time + RT(2, 24),
                         s1.source_range.duration - RT(5, 24))
    copy = s2.deepcopy()
    first, second = s4.deepcopy(), s4.deepcopy()
    first.source_range = TR(s4.source_range.start_time, RT(12, 24))
    second.source_range = TR(s4.source_range.start_time + RT(12, 24), RT(22, 24))
    second.markers[:] = []
    _order(s2, "retake")
    _order(s5, "fix: warmer light")
    _order(s1, "final")
    for item in list(track):
        track.remove(item)
    for item in (first, second, s1, s2, s5):
        track.append(item)
    upper = otio.schema.Track(name="V2", kind=otio.schema.TrackKind.Video)
    upper.append(otio.schema.Gap(source_range=TR(RT(0, 24), RT(70, 24))))
    upper.append(copy)
    timeline.tracks.append(upper)
    del s3


def _rows(text: str) -> dict[str, list[str]]:
    """Table rows by shot id (the table's box-drawing cells split on │)."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 9 and cells[2].startswith("s-"):
            rows[cells[2]] = cells
    return rows


@pytest.mark.parametrize("nle", sorted(FORMATS))
def test_dry_run_table_names_exactly_what_the_edit_asks_for(
        tiny_production, tmp_path, monkeypatch, capsys, nle) -> None:
    adapter, suffix = FORMATS[nle]
    edit = _edit(tiny_production)
    exported = tmp_path / f"cut{suffix}"
    assert main(["-q", "export", str(edit), "--nle", nle, "-o", str(exported),
                 "--production", str(tiny_production)]) == 0
    timeline = read_stripped(exported, monkeypatch) if nle in ("fcp7", "mlt") else \
        otio.adapters.read_from_file(str(exported))
    for clip in timeline.find_clips():  # what the NLE keeps: no metadata of ours
        for key in list(clip.metadata):
            del clip.metadata[key]
    _like_an_editor(timeline)
    back = tmp_path / f"back{suffix}"
    otio.adapters.write_to_file(timeline, str(back), adapter_name=adapter)
    if nle == "mlt" and shutil.which("melt"):  # Kdenlive's engine plays the edited project
        played = tmp_path / "melt.mkv"
        subprocess.run(["melt", "-quiet", str(back), "-consumer", f"avformat:{played}",
                        "vcodec=ffv1", "an=1"], check=True, capture_output=True, timeout=120,
                       env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
        assert played.stat().st_size > 0
    monkeypatch.setenv("COLUMNS", "400")
    capsys.readouterr()
    registry_files = sorted(p.name for p in (tiny_production / "registry").rglob("*"))
    master = tmp_path / "master.otio"
    assert main(["import", str(back), "--dry-run", "--production", str(tiny_production)]) == 0
    out = capsys.readouterr()
    rows = _rows(out.out)
    assert set(rows) == {"s-4.1", "s-4.2", "s-1", "s-2", "s-5", "s-2.dup1"}, out.out
    rendering = {shot for shot, cells in rows.items() if cells[6].startswith("render")}
    assert rendering == {"s-2", "s-5", "s-4.2"}  # retake, fix, the extension
    assert {shot for shot, cells in rows.items() if "queued" in cells[8]} == {"s-1"}
    assert rows["s-4.1"][4] == "split of s-4" and rows["s-2.dup1"][4] == "duplicate of s-2"
    assert rows["s-1"][4] == "trim, moved" and rows["s-1"][5] == "final"
    assert rows["s-2"][5] == "retake" and rows["s-5"][5] == "fix: warmer light"
    assert rows["s-4.1"][6] == "linked s-4"
    assert rows["s-4.2"][6] == "renders 10 missing frames of s-4"  # past the handles
    assert "placeholder 3 shot(s) / 74 frames" in out.out  # 32 + 32 + 10
    assert "s-3: deleted in the editor" in out.err
    assert not master.exists()  # a dry run writes nothing
    assert sorted(p.name for p in (tiny_production / "registry").rglob("*")) == registry_files

    calls: list[str] = []

    def counting(tier):
        def render(job):
            calls.append(job.spec.shot.id)
            return placeholder.render(job)
        return render

    monkeypatch.setattr(render_module, "renderer_for", counting)
    assert main(["-q", "import", str(back), "-o", str(master), "--production",
                 str(tiny_production)]) == 0
    assert sorted(calls) == ["s-2", "s-5"]  # the table told the truth: whole renders,
    extended = [json.loads(m.read_text()) for m in  # and the extension's missing frames
                (tiny_production / "renders" / "placeholder").glob("*/f*/manifest.json")]
    assert [m["frames_rendered"] for m in extended if "extended_from" in m] == [10]
    assert ShotRegistry(tiny_production).final_queue() == ["s-1"]
    imported = otio.adapters.read_from_file(str(master))
    ids = [read_spec(c).shot.id for c in imported.video_tracks()[0].find_clips()]
    assert ids == ["s-4.1", "s-4.2", "s-1", "s-2", "s-5"]
    calls.clear()
    assert main(["-q", "import", str(back), "-o", str(master), "--production",
                 str(tiny_production)]) == 0
    assert calls == []  # orders apply once


def test_mlt_keeps_the_start_time_and_the_dialog_track(tiny_production, tmp_path) -> None:
    clips = [make_clip(spec_dict(f"m-{i}", dialog=[]), f"SHOT {i}", 24) for i in (1, 2)]
    timeline = make_timeline(clips)
    line = tmp_path / "line.wav"
    with wave.open(str(line), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48000)
        out.writeframes((np.sin(np.arange(48000) / 9) * 8000).astype(np.int16).tobytes())
    dialog = otio.schema.Track(name="jane", kind=otio.schema.TrackKind.Audio)
    dialog.append(otio.schema.Clip(name="jane line", source_range=TR(RT(0, 24), RT(20, 24)),
                                   media_reference=otio.schema.ExternalReference(
                                       target_url=line.as_uri(),
                                       available_range=TR(RT(0, 24), RT(24, 24)))))
    timeline.tracks.append(dialog)
    edit = tiny_production / "timelines" / "edit.otio"
    write_timeline(timeline, edit)
    assert main(["-q", "render", str(edit), "--jobs", "1", "--production",
                 str(tiny_production)]) == 0
    project = tmp_path / "cut.mlt"
    assert main(["-q", "export", str(edit), "--nle", "mlt", "-o", str(project),
                 "--production", str(tiny_production)]) == 0
    back = otio.adapters.read_from_file(str(project))
    assert back.global_start_time == RT(86400, 24)
    (audio,) = back.audio_tracks()
    assert audio.name == "jane" and audio.find_clips()[0].media_reference.target_url.endswith(
        "line.wav")
    assert [t.name for t in back.video_tracks()] == ["V1"]
    if shutil.which("melt"):  # melt plays the dialog: the movie has sound
        played = tmp_path / "melt.mkv"
        subprocess.run(["melt", "-quiet", str(project), "-consumer", f"avformat:{played}",
                        "vcodec=ffv1", "acodec=pcm_s16le"], check=True, capture_output=True,
                       timeout=120, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
        import av

        with av.open(str(played)) as container:
            assert container.streams.audio
            samples = np.concatenate([f.to_ndarray().ravel()
                                      for f in container.decode(audio=0)])
        assert np.abs(samples).max() > 0.05
