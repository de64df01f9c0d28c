"""NLE round trips through the real adapters (FCP7 XML, MLT XML, Resolve-style .otio): export,
lose the metadata like the NLE does, edit, import — every surviving clip has the right spec."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import opentimelineio as otio
import pytest

import render_engine.render as render_module
from render_engine.cli import main
from render_engine.nle.registry import ShotRegistry
from render_engine.spec import NAMESPACE, read_spec
from render_engine.tiers import placeholder
from tests.nle_fixtures import (
    MANIFEST_PATH,
    check_imported,
    edit_like_an_editor,
    our_plugins,  # noqa: F401 - fixture
    read_stripped,
    rendered_edit,
)

pytestmark = pytest.mark.usefixtures("our_plugins")


def _export(edit: Path, production: Path, nle: str, out: Path) -> None:
    assert main(["-q", "export", str(edit), "--nle", nle, "-o", str(out),
                 "--production", str(production)]) == 0


def _import(path: Path, production: Path, master: Path, *extra: str) -> int:
    return main(["-q", "import", str(path), "-o", str(master), "--production",
                 str(production), *extra])


@pytest.mark.parametrize(("nle", "suffix", "adapter"), [
    ("fcp7", ".xml", "fcp_xml"), ("mlt", ".mlt", "soloreel_mlt"),
    ("resolve", ".otio", "otio_json")])
def test_round_trip_keeps_every_spec(tiny_production, tmp_path, monkeypatch, nle, suffix,
                                     adapter) -> None:
    edit = rendered_edit(tiny_production)
    exported = tmp_path / f"cut{suffix}"
    _export(edit, tiny_production, nle, exported)
    timeline = read_stripped(exported, monkeypatch) if nle != "resolve" else \
        otio.adapters.read_from_file(str(exported))
    if nle == "resolve":  # Resolve discards unknown metadata keys on import
        for clip in timeline.find_clips():
            for key in list(clip.metadata):
                del clip.metadata[key]
            for marker in clip.markers:  # ...and keeps marker notes only as Resolve_OTIO
                for key in [k for k in marker.metadata if k != "Resolve_OTIO"]:
                    del marker.metadata[key]
                marker.name, marker.comment = "Marker", ""
            clip.media_reference.target_url = "file:///elsewhere/renamed.mov"  # relinked
    edit_like_an_editor(timeline)
    back = tmp_path / f"back{suffix}"
    otio.adapters.write_to_file(timeline, str(back), adapter_name=adapter)
    master = tmp_path / "master.otio"
    assert _import(back, tiny_production, master, "--no-render") == 0
    imported = otio.adapters.read_from_file(str(master))
    check_imported(imported, 86402)  # MLT's file-relative in/out come back re-based
    registry = ShotRegistry(tiny_production)
    assert registry.get("s-4.1")["parent"] == "s-4"


def test_hook_reattaches_on_read_and_relink_renders_only_changes(
        tiny_production, tmp_path, monkeypatch) -> None:
    edit = rendered_edit(tiny_production)
    exported = tmp_path / "cut.xml"
    _export(edit, tiny_production, "fcp7", exported)
    timeline = otio.adapters.read_from_file(str(exported))  # our hook runs here
    assert [read_spec(c).shot.id for c in timeline.find_clips()] == ["s-1", "s-2", "s-3", "s-4"]
    timeline = read_stripped(exported, monkeypatch)
    edit_like_an_editor(timeline)
    back = tmp_path / "back.xml"
    otio.adapters.write_to_file(timeline, str(back), adapter_name="fcp_xml")
    calls: list[str] = []

    def counting(tier):
        def render(job):
            calls.append(job.spec.shot.id)
            return placeholder.render(job)
        return render

    monkeypatch.setattr(render_module, "renderer_for", counting)
    master = tmp_path / "master.otio"
    assert main(["relink", str(edit), "--production", str(tiny_production)]) == 0
    assert _import(back, tiny_production, master) == 0
    # split halves and the duplicate are trims of renders already made; s-1's trim stays
    # inside its handles: nothing renders
    assert calls == []
    calls.clear()
    assert main(["-q", "relink", str(master), "--production", str(tiny_production)]) == 0
    assert calls == []


def test_unknown_clips_are_left_alone_and_reported(tiny_production, tmp_path, capsys) -> None:
    edit = rendered_edit(tiny_production, shots=2)
    exported = tmp_path / "cut.xml"
    _export(edit, tiny_production, "fcp7", exported)
    timeline = otio.adapters.read_from_file(str(exported))
    span = otio.opentime.TimeRange(otio.opentime.RationalTime(0, 24),
                                   otio.opentime.RationalTime(10, 24))
    stranger = otio.schema.Clip(name="B-ROLL", media_reference=otio.schema.ExternalReference(
        target_url="file:///footage/broll.mov", available_range=span), source_range=span)
    timeline.video_tracks()[0].append(stranger)
    back = tmp_path / "back.xml"
    otio.adapters.write_to_file(timeline, str(back), adapter_name="fcp_xml")
    assert _import(back, tiny_production, tmp_path / "m.otio", "--no-render") == 1
    assert 'not a soloreel shot; left alone' in capsys.readouterr().err
    master = otio.adapters.read_from_file(str(tmp_path / "m.otio"))
    assert NAMESPACE not in master.find_clips()[-1].metadata


def test_retake_marker_in_fcp7_xml_renders_one_new_take(tiny_production, tmp_path,
                                                        monkeypatch) -> None:
    edit = rendered_edit(tiny_production, shots=3)
    exported = tmp_path / "cut.xml"
    _export(edit, tiny_production, "fcp7", exported)
    tree = ET.parse(exported)
    clipitem = tree.getroot().findall(".//clipitem")[1]  # the editor marks the second shot
    marker = ET.SubElement(clipitem, "marker")
    for tag, text in (("comment", ""), ("name", "retake"), ("in", "86405"), ("out", "-1")):
        ET.SubElement(marker, tag).text = text
    tree.write(exported)
    old = otio.adapters.read_from_file(str(exported)).find_clips()[1].media_reference.target_url
    calls: list[tuple[str, int]] = []

    def counting(tier):
        def render(job):
            calls.append((job.spec.shot.id, job.spec.seed))
            return placeholder.render(job)
        return render

    monkeypatch.setattr(render_module, "renderer_for", counting)
    master = tmp_path / "master.otio"
    assert _import(exported, tiny_production, master) == 0
    assert len(calls) == 1 and calls[0][0] == "s-2" and calls[0][1] != 12
    clip = otio.adapters.read_from_file(str(master)).find_clips()[1]
    assert read_spec(clip).seed == calls[0][1]
    references = clip.media_references()
    assert references["take1"].target_url == old  # the old take, kept as an alternate
    assert Path(references["take1"].target_url[len("file://"):]).is_file()
    assert clip.media_reference.target_url != old
    calls.clear()
    assert _import(exported, tiny_production, master) == 0  # an order applies once
    assert calls == []


def test_hook_costs_nothing_for_foreign_timelines(tmp_path: Path) -> None:
    foreign = otio.schema.Timeline(name="someone else's")
    track = otio.schema.Track()
    foreign.tracks.append(track)
    span = otio.opentime.TimeRange(otio.opentime.RationalTime(0, 24),
                                   otio.opentime.RationalTime(10, 24))
    track.append(otio.schema.Clip(name="x", media_reference=otio.schema.ExternalReference(
        target_url="file:///footage/a.mov", available_range=span), source_range=span))
    path = tmp_path / "foreign.xml"
    otio.adapters.write_to_file(foreign, str(path), adapter_name="fcp_xml")
    code = ("import sys, opentimelineio as otio\n"
            f"t = otio.adapters.read_from_file({str(path)!r})\n"
            "print(sorted(m for m in sys.modules if m.startswith('render_engine')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "OTIO_PLUGIN_MANIFEST_PATH":
                                          MANIFEST_PATH, "OTIO_DISABLE_ENTRYPOINTS_PLUGINS": "1"})
    loaded = set(eval(out.stdout))  # only the string checks, none of the engine
    assert loaded <= {"render_engine", "render_engine.nle", "render_engine.nle.identity"}
