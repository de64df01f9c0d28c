"""Layered export re-renders only the layers that change (issue 19): each character's layer,
the plate and the foreground are cached under their own content address."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
import pytest

from render_engine.cli import main
from render_engine.nle import layers
from render_engine.timeline_io import write_timeline
from tests.conftest import make_clip, make_timeline
from tests.nle_fixtures import our_plugins  # noqa: F401 - fixture
from tests.proxy_fixtures import make_cutout_production

pytestmark = pytest.mark.usefixtures("our_plugins")


def _spec(bo_facing: float = 140, bo_x: float = -0.9, line: str | None = None) -> dict:
    return {"shot": {"id": "l-1", "size": "MS", "subjects": ["ana"]}, "set": "yard",
            "characters": [
                {"name": "ana", "position": [0.4, 3.5], "facing": 220, "action": "talk"},
                {"name": "bo", "position": [bo_x, 4.5], "facing": bo_facing,
                 "action": "stand"}],
            "dialog": [{"speaker": "ana", "text": line}] if line else [], "seed": 5}


def _export(root: Path, spec: dict, out: Path, monkeypatch: pytest.MonkeyPatch,
            rendered: list[list[str]]) -> otio.schema.Timeline:
    edit = root / "timelines" / "edit.otio"
    write_timeline(make_timeline([make_clip(spec, "SHOT 1", 8)]), edit)
    rendered.clear()
    assert main(["-q", "export", str(edit), "--nle", "kdenlive", "--layers", "-o", str(out),
                 "--production", str(root)]) == 0
    return otio.adapters.read_from_file(str(out))


def _layer_files(timeline: otio.schema.Timeline) -> dict[str, str]:
    """Track name → the file its clip plays."""
    return {track.name: track.find_clips()[0].media_reference.target_url
            for track in timeline.video_tracks()}


def _first_frame(url: str) -> np.ndarray:
    with av.open(url[len("file://"):]) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgba").astype(np.int16)


def test_changing_one_character_rerenders_that_layer_only(tmp_path, monkeypatch) -> None:
    root = make_cutout_production(tmp_path / "prod", 160, 90)
    rendered: list[list[str]] = []
    real = layers._render_parts

    def counting(job, wanted, outputs):
        rendered.append(sorted(wanted))
        return real(job, wanted, outputs)

    monkeypatch.setattr(layers, "_render_parts", counting)
    first = _export(root, _spec(), tmp_path / "a.otio", monkeypatch, rendered)
    assert rendered == [["ana", "bo", "foreground", "plate"]]
    before = _layer_files(first)
    assert set(before) >= {"ana", "bo", "foreground"}

    _export(root, _spec(), tmp_path / "b.otio", monkeypatch, rendered)
    assert rendered == []  # all cached

    turned = _export(root, _spec(bo_facing=200), tmp_path / "c.otio", monkeypatch, rendered)
    assert rendered == [["bo"]]  # bo turned: his layer only
    after = _layer_files(turned)
    assert after["bo"] != before["bo"]
    assert {k: v for k, v in after.items() if k != "bo"} == {
        k: v for k, v in before.items() if k != "bo"}
    assert np.abs(_first_frame(after["bo"]) - _first_frame(before["bo"])).mean() > 0

    moved = _export(root, _spec(bo_facing=200, bo_x=-1.4), tmp_path / "d.otio", monkeypatch,
                    rendered)
    assert rendered == [["bo", "foreground"]]  # bo walked off his mark: he and the masks
    assert _layer_files(moved)["ana"] == before["ana"]
