"""The demo edit exports to every NLE format cleanly; Resolve media is what Resolve decodes."""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio
import pytest

from render_engine.cli import main
from render_engine.media.encode import probe
from render_engine.nle.identity import MARKER_RE, marker_texts
from tests.nle_fixtures import our_plugins  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("our_plugins")


def test_demo_exports_to_all_four_formats_without_warnings(demo_copy: Path, tmp_path: Path,
                                                           capsys) -> None:
    edit = demo_copy / "timelines" / "campfire.otio"
    shot_count = len(otio.adapters.read_from_file(str(edit)).video_tracks()[0].find_clips())
    assert shot_count >= 9
    for nle, suffix in (("resolve", ".otio"), ("kdenlive", ".otio"), ("fcp7", ".xml"),
                        ("mlt", ".mlt")):
        out = tmp_path / f"{nle}{suffix}"
        assert main(["-q", "export", str(edit), "--nle", nle, "-o", str(out),
                     "--production", str(demo_copy)]) == 0
        assert capsys.readouterr().err == "", f"{nle} export warned"
        timeline = otio.adapters.read_from_file(str(out))
        clips = [c for t in timeline.video_tracks() for c in t.find_clips()]
        assert len(clips) == shot_count  # the shots (dialog is on audio tracks)
        for clip in clips:
            assert len(clip.media_references()) == 1  # flattened: the NLE reads only one
            assert any(MARKER_RE.search(t) for m in clip.markers for t in marker_texts(m))
        suffixes = {Path(c.media_reference.target_url).suffix for c in clips}
        assert suffixes == ({".mov"} if nle in ("resolve", "fcp7") else {".mp4"})
    resolve = otio.adapters.read_from_file(str(tmp_path / "resolve.otio"))
    shots = [c for t in resolve.video_tracks() for c in t.find_clips()]
    infos = [probe(c.media_reference.target_url[len("file://"):]) for c in shots]
    assert {(i.codec, i.pix_fmt) for i in infos} == {("dnxhd", "yuv422p")}  # DNxHR HQ
    spoken = [i for i in infos if i.audio_codec is not None]
    assert spoken and {(i.audio_codec, i.audio_rate) for i in spoken} == {("pcm_s16le", 48000)}
    media = shots[0].media_reference.target_url[len("file://"):]
    assert "/renders/placeholder/" in media and Path(media).stem == \
        shots[0].metadata["soloreel"]["shot"]["id"]
    kdenlive = otio.adapters.read_from_file(str(tmp_path / "kdenlive.otio"))
    infos = [probe(c.media_reference.target_url[len("file://"):])
             for t in kdenlive.video_tracks() for c in t.find_clips()]
    assert {i.codec for i in infos} == {"h264"}
    assert {i.audio_codec for i in infos if i.audio_codec} == {"aac"}
