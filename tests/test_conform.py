"""The `video` conform adapter through otioconvert, and melt (Kdenlive's engine) agreeing
with it on our MLT export."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from render_engine.cli import main
from render_engine.media.encode import probe, read_audio, read_frames
from render_engine.timeline_io import read_timeline, write_timeline
from tests.nle_fixtures import MANIFEST_PATH, RT, TR, rendered_edit

BIN = Path(sys.executable).parent


def _media(clip: otio.schema.Clip) -> list[np.ndarray]:
    return list(read_frames(clip.media_reference.target_url[len("file://"):]))


def _conform_edit(production: Path) -> otio.schema.Timeline:
    """V1: s-1, dissolve, s-2, gap, missing media; V2: s-3 over part of it."""
    edit = rendered_edit(production, shots=3, dialog=True)
    linked = read_timeline(edit)
    s1, s2, s3 = [c.deepcopy() for c in linked.find_clips()]
    timeline = otio.schema.Timeline(name="conform", global_start_time=RT(86400, 24))
    v1 = otio.schema.Track(name="V1")
    v1.extend([s1, otio.schema.Transition(
        transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve, in_offset=RT(4, 24),
        out_offset=RT(4, 24)), s2, otio.schema.Gap(source_range=TR(RT(0, 24), RT(10, 24)))])
    missing = otio.schema.Clip(name="LOST", media_reference=otio.schema.ExternalReference(
        target_url="file:///nowhere/lost.mp4"), source_range=TR(RT(0, 24), RT(10, 24)))
    v1.append(missing)
    v2 = otio.schema.Track(name="V2")
    v2.extend([otio.schema.Gap(source_range=TR(RT(0, 24), RT(30, 24))), s3])
    s3.source_range = TR(s3.source_range.start_time, RT(20, 24))
    timeline.tracks.extend([v1, v2])
    return timeline


def test_otioconvert_renders_the_film(tiny_production: Path, tmp_path: Path) -> None:
    timeline = _conform_edit(tiny_production)
    edit = tmp_path / "edit.otio"
    write_timeline(timeline, edit)
    film = tmp_path / "film.mp4"
    env = {**os.environ, "OTIO_PLUGIN_MANIFEST_PATH": MANIFEST_PATH,
           "OTIO_DISABLE_ENTRYPOINTS_PLUGINS": "1"}
    subprocess.run([str(BIN / "otioconvert"), "-i", str(edit), "-o", str(film)], check=True,
                   env=env, capture_output=True)
    info = probe(film)
    assert info.frame_count == 68 and (info.width, info.height) == (160, 90)
    assert info.codec == "h264" and info.audio_codec == "aac"
    frames = list(read_frames(film))
    s1, s2, s3 = (_media(c) for c in timeline.find_clips()[:2] + timeline.find_clips()[3:])

    def off(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.abs(a.astype(float) - b.astype(float)).mean())

    def close(a: np.ndarray, b: np.ndarray) -> bool:  # H.264 at 160x90 of a noisy plate
        return off(a, b) < 8

    assert close(frames[10], s1[14])  # handles: file frame = record + 4
    x = (24 - 20 + 0.5) / 8  # the dissolve's mix at the cut
    mixed = s1[28] * (1 - x) + s2[4] * x
    assert close(frames[24], mixed)
    noise = off(frames[10], s1[14])  # what re-encoding a noisy plate costs a plain frame
    assert off(frames[24], mixed) < noise + 2  # the mix, as close as a plain frame gets
    assert min(off(frames[24], s1[28]), off(frames[24], s2[4])) > 1.5 * off(frames[24], mixed)
    assert close(frames[40], s3[14])  # V2 over V1
    assert frames[55].mean() < 3  # the gap is black
    slate = frames[62].reshape(-1, 3).mean(axis=0)
    assert slate[1] < 40 and slate[0] > 60 and slate[2] > 60  # the MISSING MEDIA slate
    audio, rate = read_audio(film)
    assert rate == 48000 and len(audio) == pytest.approx(68 / 24 * 48000, abs=1024)


@pytest.mark.skipif(shutil.which("melt") is None,
                    reason="melt (Debian package `melt`, Kdenlive's engine) is not installed; "
                    "CI installs it through .ci/run")
def test_melt_renders_our_mlt_export_like_our_conform(tiny_production: Path,
                                                      tmp_path: Path) -> None:
    edit = rendered_edit(tiny_production, shots=3, dialog=True)
    timeline = read_timeline(edit)
    track = timeline.video_tracks()[0]
    track.insert(1, otio.schema.Gap(source_range=TR(RT(0, 24), RT(6, 24))))
    track.insert(3, otio.schema.Transition(
        transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve, in_offset=RT(3, 24),
        out_offset=RT(3, 24)))
    write_timeline(timeline, edit)
    project = tmp_path / "cut.mlt"
    assert main(["-q", "export", str(edit), "--nle", "mlt", "-o", str(project),
                 "--production", str(tiny_production)]) == 0
    melted = tmp_path / "melt.mkv"
    subprocess.run(["melt", "-quiet", str(project), "-consumer", f"avformat:{melted}",
                    "vcodec=ffv1", "acodec=pcm_s16le", "pix_fmt=yuv444p"], check=True,
                   capture_output=True, timeout=120, env={**os.environ,
                                                          "QT_QPA_PLATFORM": "offscreen"})
    ours = tmp_path / "ours.mp4"
    from render_engine.conform.compose import conform

    conform(read_timeline(edit), ours)
    theirs, mine = list(read_frames(melted)), list(read_frames(ours))
    assert len(theirs) == len(mine) == 78
    for index, (a, b) in enumerate(zip(theirs, mine, strict=True)):
        difference = float(np.abs(a.astype(float) - b.astype(float)).mean())
        assert difference < 10, f"frame {index}: melt and our conform differ by {difference:.1f}"
