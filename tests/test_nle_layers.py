"""Layered export: plate, character layers with real alpha and the foreground stack back into
the flat proxy frame."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
import pytest

from render_engine.bible import load_production
from render_engine.cli import main
from render_engine.nle.layers import over
from render_engine.proxy.shot import ShotFrames
from render_engine.spec import ShotSpec
from render_engine.timeline_io import write_timeline
from tests.conftest import make_clip, make_timeline
from tests.nle_fixtures import our_plugins  # noqa: F401 - fixture
from tests.proxy_fixtures import make_cutout_production

pytestmark = pytest.mark.usefixtures("our_plugins")

FRAMES = 10


def _spec(shot_id: str, pair: bool) -> dict:
    characters = [{"name": "ana", "position": [0.4, 3.5], "facing": 220, "action": "talk"}]
    if pair:
        characters.append({"name": "bo", "position": [-0.9, 4.5], "facing": 140,
                           "action": "walk", "path": [[-0.3, 4.0]]})
    return {"shot": {"id": shot_id, "size": "MS", "subjects": ["ana"]}, "set": "yard",
            "characters": characters, "dialog": [], "seed": 5}


def _decode(path: str, fmt: str) -> tuple[str, list[np.ndarray]]:
    """The stream's pixel format and every frame as `fmt` arrays."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format=fmt) for frame in container.decode(stream)]
        return stream.codec_context.pix_fmt, frames


def _path(clip: otio.schema.Clip) -> str:
    return clip.media_reference.target_url[len("file://"):]


def test_layered_export_stacks_plate_characters_and_foreground(tmp_path: Path) -> None:
    root = make_cutout_production(tmp_path / "prod", 160, 90)
    edit = root / "timelines" / "edit.otio"
    write_timeline(make_timeline([make_clip(_spec("l-1", True), "SHOT 1", FRAMES),
                                  make_clip(_spec("l-2", False), "SHOT 2", FRAMES)]), edit)
    out = tmp_path / "layered.otio"
    assert main(["-q", "export", str(edit), "--nle", "kdenlive", "--layers", "-o", str(out),
                 "--production", str(root)]) == 0
    timeline = otio.adapters.read_from_file(str(out))
    tracks = list(timeline.video_tracks())
    assert len(tracks) == 1 + 2 + 1  # plate, two characters, foreground
    per_shot: dict[str, list[otio.schema.Clip]] = {}
    for track in tracks:
        for clip in track.find_clips():
            per_shot.setdefault(Path(_path(clip)).name.split(".")[0], []).append(clip)
    assert {k: len(v) for k, v in per_shot.items()} == {"l-1": 4, "l-2": 3}
    top = tracks[-1].find_clips()
    assert len(top) == 2 and all("foreground" in _path(c) for c in top)  # masks on top
    for clips in per_shot.values():  # every layer sits exactly over its plate
        ranges = [(c.range_in_parent(), c.source_range) for c in clips]
        assert all(r == ranges[0] for r in ranges)

    plate, *layers = per_shot["l-1"]
    assert "/renders/layers/" in _path(plate)  # cached like any render, under its own tier
    assert "plate" in _path(plate) and "foreground" in _path(layers[-1])
    again = tmp_path / "again.otio"  # content-addressed: a second export finds them cached
    assert main(["-q", "export", str(edit), "--nle", "kdenlive", "--layers", "--no-render",
                 "-o", str(again), "--production", str(root)]) == 0
    _fmt, plate_frames = _decode(_path(plate), "rgb24")
    decoded = []
    for clip in layers:
        pix_fmt, frames = _decode(_path(clip), "rgba")
        assert pix_fmt.startswith("yuva")  # ProRes 4444 with its alpha plane
        decoded.append(frames)
        assert len(frames) == len(plate_frames)
    for frames in decoded[:2]:  # character layers: some transparent, some opaque pixels
        alpha = np.stack([f[..., 3] for f in frames])
        assert (alpha == 0).mean() > 0.3 and (alpha > 250).mean() > 0.01

    production = load_production(root)
    spec = ShotSpec.model_validate(_spec("l-1", True))
    available = plate.media_reference.available_range
    first = round(available.start_time.value)
    shown = (round(plate.source_range.start_time.value),
             round(plate.source_range.end_time_exclusive().value))
    flat = ShotFrames(spec, production, 160, 90, 24, first, shown)
    for index in (0, len(plate_frames) // 2, len(plate_frames) - 1):
        stacked = plate_frames[index]
        for frames in decoded:
            stacked = over(stacked, frames[index])
        diff = np.abs(stacked.astype(int) - flat.frame(index).rgb.astype(int))
        assert diff.mean() < 3.0, (index, diff.mean())

    master = tmp_path / "master.otio"  # importing the layered export: layers are not shots
    assert main(["-q", "import", str(out), "-o", str(master), "--production", str(root)]) == 0
    imported = [c for c in otio.adapters.read_from_file(str(master)).find_clips()
                if "soloreel" in c.metadata]
    assert sorted(dict(c.metadata["soloreel"])["shot"]["id"] for c in imported) == ["l-1", "l-2"]
