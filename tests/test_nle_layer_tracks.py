"""Layered export across shots: one track per character for the whole timeline (named after
the character), layers at the exported tier's size, and a plain word on where layers of a
final come from."""

from __future__ import annotations

from pathlib import Path

import av
import opentimelineio as otio
import pytest
import tomli_w

from render_engine.cli import main
from render_engine.timeline_io import write_timeline
from tests.conftest import make_clip, make_timeline
from tests.nle_fixtures import our_plugins  # noqa: F401 - fixture
from tests.proxy_fixtures import make_cutout_production

pytestmark = pytest.mark.usefixtures("our_plugins")


def _spec(shot_id: str, names: list[str]) -> dict:
    places = {"ana": [0.4, 3.5], "bo": [-0.9, 4.5]}
    return {"shot": {"id": shot_id, "size": "MS"}, "set": "yard",
            "characters": [{"name": n, "position": places[n], "facing": 180} for n in names],
            "dialog": [], "seed": 5}


def test_one_track_per_character_at_the_tiers_size(tmp_path: Path, capsys) -> None:
    root = make_cutout_production(tmp_path / "prod", 160, 90)
    toml = root / "soloreel.toml"
    text = toml.read_text()
    import tomllib

    settings = tomllib.loads(text)
    settings.setdefault("tiers", {})["placeholder"] = {"width": 96, "height": 54}
    toml.write_text(tomli_w.dumps(settings))
    edit = root / "timelines" / "edit.otio"
    write_timeline(make_timeline([make_clip(_spec("t-1", ["ana", "bo"]), "ONE", 6),
                                  make_clip(_spec("t-2", ["bo"]), "TWO", 6),
                                  make_clip(_spec("t-3", ["ana"]), "THREE", 6)]), edit)
    out = tmp_path / "layered.otio"
    assert main(["-q", "export", str(edit), "--nle", "kdenlive", "--layers", "--tier",
                 "placeholder", "-o", str(out), "--production", str(root)]) == 0
    timeline = otio.adapters.read_from_file(str(out))
    names = [t.name for t in timeline.video_tracks()]
    assert names[1:] == ["bo", "ana", "foreground"]  # bo stands farther: below ana
    by_track = {t.name: [c.name for c in t.find_clips()] for t in timeline.video_tracks()}
    assert by_track["ana"] == ["t-1 ana", "t-3 ana"]  # the same track across the timeline
    assert by_track["bo"] == ["t-1 bo", "t-2 bo"]
    for track in timeline.video_tracks()[1:]:
        for clip in track.find_clips():
            path = clip.media_reference.target_url[len("file://"):]
            with av.open(path) as container:
                stream = container.streams.video[0]
                assert (stream.width, stream.height) == (96, 54)  # the exported tier's size
    capsys.readouterr()
    assert main(["export", str(edit), "--nle", "kdenlive", "--layers", "--tier", "proxy",
                 "--no-render", "-o", str(tmp_path / "p.otio"), "--production",
                 str(root)]) != 2
    assert "layers come from" not in capsys.readouterr().out  # proxy layers are the proxy's


def test_final_layers_say_where_they_come_from(tmp_path: Path, capsys) -> None:
    root = make_cutout_production(tmp_path / "prod", 160, 90)
    edit = root / "timelines" / "edit.otio"
    write_timeline(make_timeline([make_clip(_spec("f-1", ["ana"]), "ONE", 4)]), edit)
    main(["export", str(edit), "--nle", "kdenlive", "--layers", "--tier", "final",
          "-o", str(tmp_path / "f.otio"), "--production", str(root)])
    out = capsys.readouterr()
    assert "layers come from the proxy tier's compositor" in out.out + out.err
    assert "not from the final's own vace_layers" in out.out + out.err
