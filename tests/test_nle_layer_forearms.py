"""Layered export of a character leaning on a table (issue 20, item 4): its forearms, drawn in
front of the table's mask by the proxy, are a layer of their own above the foreground, so the
stacked layers give back the proxy frame and the editor can move the arms with the figure."""

from __future__ import annotations

import tomllib
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
import pytest
import tomli_w

from render_engine.bible import Production, load_production
from render_engine.cli import main
from render_engine.nle import layers
from render_engine.proxy import framing
from render_engine.proxy.shot import ShotFrames
from render_engine.spec import ShotSpec
from render_engine.timeline_io import write_timeline
from tests.conftest import make_clip, make_timeline
from tests.nle_fixtures import our_plugins  # noqa: F401 - fixture

W, H = 320, 180
FIRST = 86400
SHOWN = (FIRST, FIRST + 24)


def _spec(john_facing: float = 180, ranger_facing: float = 200, shot_id: str = "lean-1"
          ) -> dict:
    """John on the patio's bench leaning on its table, the ranger standing farther back (a
    blocking of our own, not one of the demo's shots)."""
    return {"shot": {"id": shot_id, "size": "MS"}, "set": "patio", "seed": 3, "dialog": [],
            "characters": [
                {"name": "john", "position": [-0.4, 3.95], "facing": john_facing,
                 "action": "sit", "seat": "bench", "lean": "table"},
                {"name": "ranger", "position": [0.9, 5.8], "facing": ranger_facing,
                 "action": "stand"}]}


@pytest.fixture(scope="module")
def production(demo_production: Path) -> Production:
    return load_production(demo_production)


def _stack(cut: layers.LayerFrame) -> np.ndarray:
    stacked = cut.plate
    for layer in cut.layers.values():
        stacked = layers.over(stacked, layer)
    return stacked


def test_stacked_layers_give_back_the_leaning_proxy_frame(production: Production) -> None:
    spec = ShotSpec.model_validate(_spec())
    flat = ShotFrames(spec, production, W, H, 24, FIRST, SHOWN)
    order = layers.depth_order(spec, production, framing.frame_shot(spec, production, W, H),
                               SHOWN, 24)
    cutter = layers.ShotLayers(ShotFrames(spec, production, W, H, 24, FIRST, SHOWN), order)
    assert cutter.names == ["ranger", "john", "foreground", "john.forearms"]
    for index in (0, 12):
        cut = cutter.frame(index)
        assert list(cut.layers) == cutter.names
        frame = flat.frame(index)
        diff = np.abs(_stack(cut).astype(int) - frame.rgb.astype(int))
        assert diff.mean() < 3.0, (index, diff.mean())  # the plain case's tolerance
        assert np.percentile(diff, 99) < 12, (index, np.percentile(diff, 99))

        (arms,) = [s for s in frame.sprites if s.extra.get("layer_of") == "john"]
        (body,) = [s for s in frame.sprites if s.name == "john" and "layer_of" not in s.extra]
        table, _depth = flat.plates.foreground(frame.camera)[0]  # the patio's table mask
        table = np.asarray(table)
        x0, y0, x1, y1 = arms.bbox
        on_top = (arms.coverage > 200) & (table[y0:y1, x0:x1] > 0.9)
        assert on_top.sum() > 30  # forearm pixels over the table top...
        ys, xs = np.nonzero(on_top)
        ys, xs = ys + y0, xs + x0
        forearms, figure = cut.layers["john.forearms"], cut.layers["john"]
        assert forearms[ys, xs, 3].mean() > 200  # ...are in the forearms layer
        assert figure[ys, xs, 3].mean() < 10  # ...and not in the character's
        shown = np.abs(_stack(cut)[ys, xs].astype(int) - frame.rgb[ys, xs])
        assert shown.mean() < 6
        reach = np.zeros((H, W), bool)  # where the arms sprite draws at all
        reach[y0:y1, x0:x1] = arms.coverage > 0
        bx0, by0, bx1, by1 = body.bbox  # the figure under the table (legs, lap)...
        legs = np.zeros((H, W), bool)
        legs[by0:by1, bx0:bx1] = (body.coverage > 200) & (table[by0:by1, bx0:bx1] > 0.99)
        assert legs.sum() > 30
        assert figure[legs, 3].mean() < 10  # ...is hidden in the character's layer
        assert forearms[legs & ~reach, 3].max() == 0  # ...and not in the arms' layer


def _small_copy(demo_copy: Path) -> Path:
    """The demo copy at a small proxy size with short handles (a quick export)."""
    toml = demo_copy / "soloreel.toml"
    settings = tomllib.loads(toml.read_text())
    settings["production"]["handles"] = 2
    settings["tiers"]["proxy"] = {**settings["tiers"]["proxy"], "width": 192, "height": 108}
    toml.write_text(tomli_w.dumps(settings))
    return demo_copy


def _export(root: Path, spec: dict, out: Path) -> otio.schema.Timeline:
    edit = root / "timelines" / "lean.otio"
    write_timeline(make_timeline([make_clip(spec, "LEAN", 6)]), edit)
    assert main(["-q", "export", str(edit), "--nle", "kdenlive", "--layers", "-o", str(out),
                 "--production", str(root)]) == 0
    return otio.adapters.read_from_file(str(out))


def _files(timeline: otio.schema.Timeline) -> dict[str, str]:
    """Track name → the file its first clip plays."""
    return {track.name: track.find_clips()[0].media_reference.target_url[len("file://"):]
            for track in timeline.video_tracks()}


@pytest.mark.usefixtures("our_plugins")
def test_export_stacks_forearms_above_the_foreground_and_caches_them_with_the_figure(
        demo_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _small_copy(demo_copy)
    rendered: list[list[str]] = []
    real = layers._render_parts

    def counting(job, wanted, outputs):  # type: ignore[no-untyped-def]
        rendered.append(sorted(wanted))
        return real(job, wanted, outputs)

    monkeypatch.setattr(layers, "_render_parts", counting)
    timeline = _export(root, _spec(), tmp_path / "a.otio")
    assert rendered == [["foreground", "john", "john.forearms", "plate", "ranger"]]
    names = [track.name for track in timeline.video_tracks()]
    assert names[1:] == ["ranger", "john", "foreground", "john.forearms"]  # arms on top
    before = _files(timeline)
    assert Path(before["john.forearms"]).name == layers.layer_file("lean-1", "john.forearms")
    (clip,) = timeline.video_tracks()[-1].find_clips()
    assert clip.name == "lean-1 john.forearms"
    with av.open(before["john.forearms"]) as container:
        assert container.streams.video[0].codec_context.pix_fmt.startswith("yuva")
        alpha = np.stack([f.to_ndarray(format="rgba")[..., 3]
                          for f in container.decode(video=0)])
    assert 0 < (alpha > 200).mean() < 0.05  # the arms, and nothing but the arms

    rendered.clear()
    _export(root, _spec(john_facing=170), tmp_path / "b.otio")
    assert rendered == [["john", "john.forearms"]]  # john turned: both his layers
    rendered.clear()
    after = _files(_export(root, _spec(john_facing=170, ranger_facing=160),
                           tmp_path / "c.otio"))
    assert rendered == [["ranger"]]  # the ranger turned: john's layers stay cached
    assert after["john.forearms"] != before["john.forearms"]  # (john turned before)
    assert after["foreground"] == before["foreground"]
