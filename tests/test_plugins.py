"""Our OTIO plugins through OTIO's real plugin machinery (entry point and manifest path)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import opentimelineio as otio

from render_engine.spec import NAMESPACE, read_spec
from render_engine.timeline_io import write_timeline
from tests.conftest import REPO, make_clip, make_timeline, spec_dict

MANIFEST = REPO / "otio_adapters" / "plugin_manifest.json"
BIN = Path(sys.executable).parent


def _python(code: str, **env: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, **env}, check=True)
    return result.stdout


def test_installed_entry_point_lists_our_plugins() -> None:
    out = _python(
        "import json, opentimelineio as otio\n"
        "m = otio.plugins.ActiveManifest()\n"
        "print(json.dumps({'adapters': otio.adapters.available_adapter_names(),"
        " 'hooks': list(m.hooks['post_adapter_read'])}))")
    found = json.loads(out)
    assert "soloreel_shotlist" in found["adapters"]
    assert "fcp_xml" in found["adapters"]  # opentimelineio-plugins is installed too
    assert found["hooks"] == ["soloreel_upgrade_specs", "soloreel_reattach_specs"]


def test_manifest_path_with_entry_points_disabled() -> None:
    out = _python(
        "import opentimelineio as otio\n"
        "m = otio.plugins.ActiveManifest(force_reload=True)\n"
        "print(sorted(a.name for a in m.adapters), list(m.hooks['post_adapter_read']))",
        OTIO_PLUGIN_MANIFEST_PATH=str(MANIFEST), OTIO_DISABLE_ENTRYPOINTS_PLUGINS="1")
    assert "soloreel_shotlist" in out and "soloreel_upgrade_specs" in out


def test_otioconvert_writes_and_reads_a_shot_list(tmp_path: Path) -> None:
    edit = tmp_path / "edit.otio"
    clips = [make_clip(spec_dict("a-1"), "A", 48),
             make_clip(spec_dict("a-2", dialog=[{"speaker": "jane", "text": "Hi, John."}],
                                 characters=[{"name": "jane"}, {"name": "john"}]), "B", 36)]
    write_timeline(make_timeline(clips), edit)
    shotlist = tmp_path / "edit.csv"
    subprocess.run([str(BIN / "otioconvert"), "-i", str(edit), "-o", str(shotlist)], check=True)
    rows = shotlist.read_text().splitlines()
    assert rows[0].startswith("number,shot_id,clip_name,record_in,record_out,frames,size")
    assert rows[1].startswith("1,a-1,A,01:00:00:00,01:00:02:00,48,MCU")
    assert "jane;john" in rows[2] and "JANE: Hi, John." in rows[2]

    back = tmp_path / "back.otio"
    subprocess.run([str(BIN / "otioconvert"), "-i", str(shotlist), "-o", str(back)], check=True)
    timeline = otio.adapters.read_from_file(str(back))
    read = [read_spec(c) for c in timeline.find_clips()]
    assert [s.shot.id for s in read] == ["a-1", "a-2"]
    assert [c.source_range.duration.value for c in timeline.find_clips()] == [48, 36]
    assert read[1].dialog[0].text == "Hi, John." and read[1].character_names() == ["jane", "john"]


def test_upgrade_hook_runs_on_read_and_ignores_foreign_timelines(tmp_path: Path) -> None:
    old = make_clip(None, "old")
    old.metadata[NAMESPACE] = {"version": 1, "shot": {"id": "o-1", "camera": {"move": "pan_left"}},
                               "set": "yard", "dialog": [{"speaker": "jane", "text": "Hi",
                                                          "at": 1.5}]}
    foreign = make_clip(None, "foreign")
    foreign.metadata["resolve"] = {"color": "Blue"}
    path = tmp_path / "old.otio"
    otio.adapters.write_to_file(make_timeline([old, foreign]), str(path))
    timeline = otio.adapters.read_from_file(str(path))
    upgraded = dict(timeline.find_clips()[0].metadata[NAMESPACE])
    assert upgraded["version"] == 2
    assert dict(upgraded["camera"])["move"] == "pan_left"
    assert dict(next(iter(upgraded["dialog"])))["start"] == 1.5
    assert dict(timeline.find_clips()[1].metadata) == {"resolve": {"color": "Blue"}}


def test_hooks_decide_in_one_cheap_pass_without_reading_metadata(tmp_path: Path) -> None:
    from otio_adapters.hooks import _scan

    rate = 24
    span = otio.opentime.TimeRange(otio.opentime.RationalTime(0, rate),
                                   otio.opentime.RationalTime(10, rate))

    def clip(url: str | None, note: str = "") -> otio.schema.Clip:
        reference = otio.schema.ExternalReference(target_url=url, available_range=span) \
            if url else None
        made = otio.schema.Clip(name="c", media_reference=reference, source_range=span)
        made.metadata["Resolve_OTIO"] = {"Link Group ID": 1}
        if note:
            marker = otio.schema.Marker(name="Marker", marked_range=span)
            marker.metadata["Resolve_OTIO"] = {"Note": note}
            made.markers.append(marker)
        return made

    foreign = make_timeline([clip("file:///footage/A001.mov", "check focus"),
                             clip("file:///footage/A002.mov")])
    assert _scan.candidates(foreign) == []
    _scan.forget()
    ours = make_timeline([clip("file:///footage/A001.mov"),
                          clip("file:///p/renders/proxy/ab/f1_2/s-1.mp4"),
                          clip("file:///elsewhere/renamed.mov", "soloreel:shot=s-2"),
                          clip(None)])
    found = [why for _clip, why in _scan.candidates(ours)]
    assert found == ["cache", "marker", "nomedia"]
    assert _scan.candidates(ours) is _scan.candidates(ours)  # one pass for both hooks
    _scan.forget()


def test_hooks_bench_measures_both_sides(tmp_path: Path) -> None:
    from bench.hooks_overhead import foreign_timeline, measure

    path = foreign_timeline(tmp_path / "foreign.otio", clips=200)
    found = measure(path, rounds=1)
    assert found["with"] > 0 and found["without"] > 0 and found["inside"] >= 0


def test_hooks_first_look_at_a_sample_then_read_all_of_ours(monkeypatch) -> None:
    """Someone else's long timeline is dismissed after a sample of its clips (the head of each
    track, every STRIDE-th after); one clip of ours in the sample has every clip read; the
    reads of soloreel itself always read every clip."""
    from otio_adapters.hooks import _scan

    rate = 24
    span = otio.opentime.TimeRange(otio.opentime.RationalTime(0, rate),
                                   otio.opentime.RationalTime(10, rate))

    def timeline(marked: list[int], cache: int | None = None) -> otio.schema.Timeline:
        clips = []
        for index in range(400):
            folder = "p/renders/proxy/ab/f1_2" if index == cache else "footage"
            clip = otio.schema.Clip(name=f"c{index}", source_range=span,
                                    media_reference=otio.schema.ExternalReference(
                                        target_url=f"file:///{folder}/A{index}.mov",
                                        available_range=span))
            if index in marked:
                clip.markers.append(otio.schema.Marker(name=f"soloreel:shot=s-{index}",
                                                       marked_range=span))
            clips.append(clip)
        return make_timeline(clips)

    off = _scan.PROBE + 2 * _scan.STRIDE + 3  # a clip the sample skips
    on = _scan.PROBE + 2 * _scan.STRIDE  # one it reads
    lone = timeline([off])
    assert _scan.candidates(lone) == []  # dismissed: `soloreel import` finds that one
    assert [c.name for c, _why in _scan.candidates(lone, True)] == [f"c{off}"]
    _scan.forget()
    sampled = timeline([on, off])  # the sample finds one of ours: every clip is read
    assert [c.name for c, _why in _scan.candidates(sampled)] == [f"c{on}", f"c{off}"]
    _scan.forget()
    partly = timeline([off], cache=on)  # a render of ours in the sample: every clip is read
    assert [(c.name, why) for c, why in _scan.candidates(partly)] == [
        (f"c{on}", "cache"), (f"c{off}", "marker")]
    _scan.forget()
    assert _scan.thorough({"production": "/films/tiny"})
    monkeypatch.delenv("SOLOREEL_PRODUCTION", raising=False)
    assert _scan.thorough({})  # this process imported soloreel: its reads read every clip
    monkeypatch.delitem(sys.modules, "render_engine")
    assert not _scan.thorough({})  # another tool's read: the sampled first look
