"""Stand-in set plates and the bible stubs that name them.

A set stub (`script2edit --stubs`) names a generated stand-in plate and depth map; loading the
production draws them (deterministically, again when missing or when the plate settings
change), the depth map puts every floor pixel on the floor in the proxy's own conventions for
each plate kind, the content hash covers the stand-in's bytes like any plate's, and the
user's own plate replaces it. Stubs never replace a file already there.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from PIL import Image, PngImagePlugin

from render_engine.bible import Plate, load_production
from render_engine.cli import main
from render_engine.hashing import shot_hash
from render_engine.proxy.projection import SKY_MM, PlateModel
from render_engine.scaffold import _write_new, write_stubs
from render_engine.spec import ShotSpec
from render_engine.standin import (
    KEY,
    LIGHTING,
    PALETTES,
    STANDIN_DEPTH,
    STANDIN_PLATE,
    paint_depth,
    plate_size,
)
from tests.conftest import spec_dict

SUGGESTION = {"name": "moon-base", "description": "moon base",
              "plate": {"kind": "flat", "image": "moon-base/plate.png"},
              "lighting": {"night": {}}, "default_lighting": "night"}


def _stub(root: Path, **plate) -> Path:
    entry = {**SUGGESTION, "plate": {**SUGGESTION["plate"], **plate}}
    [(path, written)] = write_stubs(root, {"sets": {"moon-base": entry}})
    assert written
    return path


def test_a_set_stub_renders_from_its_first_load(tiny_production: Path) -> None:
    toml = _stub(tiny_production)
    text = toml.read_text()
    assert text.startswith("# sets/moon-base.toml: a stub") and "STAND-IN" in text
    raw = tomllib.loads(text)
    assert raw["plate"]["image"] == f"moon-base/{STANDIN_PLATE}"
    assert raw["plate"]["depth"] == f"moon-base/{STANDIN_DEPTH}"
    assert raw["lighting"]["night"] == LIGHTING["night"]  # the script's NIGHT, lit as night
    production = load_production(tiny_production)
    assert production.problems == []
    folder = tiny_production / "sets" / "moon-base"
    plate, depth = folder / STANDIN_PLATE, folder / STANDIN_DEPTH
    with Image.open(plate) as image:
        assert image.size == plate_size(production.sets["moon-base"].plate)
        pixels = np.asarray(image.convert("RGB"))
    sky = pixels[:20].reshape(-1, 3).mean(axis=0)
    assert np.abs(sky - PALETTES["night"]["sky"]).max() < 25  # the night's colour
    horizon = pixels.shape[0] // 2
    label = pixels[horizon - 140:horizon - 20, pixels.shape[1] // 2 - 300:pixels.shape[1] // 2
                   + 300]
    assert np.abs(label.astype(int) - sky).max() > 80  # the location's name is written there
    with Image.open(depth) as image:
        millimetres = np.asarray(image)
    assert millimetres.dtype == np.uint16 and millimetres.shape == pixels.shape[:2]
    assert (millimetres[:horizon - 1] == SKY_MM).all() and (millimetres[-1] < 3000).all()

    # the content hash covers the stand-in's bytes, like any plate's
    spec = ShotSpec.model_validate(spec_dict(set="moon-base", dialog=[]))
    before = shot_hash(spec, production, "proxy")
    original = plate.read_bytes()
    with Image.open(plate) as image:
        settings = image.info[KEY]
    touched = pixels.copy()
    touched[0, 0] = (255, 0, 0)
    info = PngImagePlugin.PngInfo()
    info.add_text(KEY, settings)
    Image.fromarray(touched).save(plate, pnginfo=info)
    production = load_production(tiny_production)
    assert plate.read_bytes() != original  # up to date by its settings: kept as it is
    assert shot_hash(spec, production, "proxy") != before

    # deleted: drawn again, the same bytes (deterministic)
    plate.unlink()
    depth_bytes = depth.read_bytes()
    depth.unlink()
    production = load_production(tiny_production)
    assert plate.read_bytes() == original and depth.read_bytes() == depth_bytes
    assert shot_hash(spec, production, "proxy") == before


def test_the_standin_follows_the_plate_settings(tiny_production: Path) -> None:
    toml = _stub(tiny_production)
    load_production(tiny_production)
    depth = tiny_production / "sets" / "moon-base" / STANDIN_DEPTH
    with Image.open(depth) as image:
        low = np.asarray(image)[-1, 0]
    raw = tomllib.loads(toml.read_text())
    raw["plate"]["camera_height_m"] = 3.0
    toml.write_text(tomli_w.dumps(raw))
    assert load_production(tiny_production).problems == []
    with Image.open(depth) as image:
        high = np.asarray(image)[-1, 0]
    assert high == pytest.approx(2 * low, rel=0.01)  # twice as high: the floor twice as far


@pytest.mark.parametrize("kind, hfov", [("flat", 90.0), ("wide", 150.0), ("360", 360.0)])
def test_the_depth_map_is_the_floor_in_the_proxy_conventions(kind: str, hfov: float) -> None:
    plate = Plate(kind=kind, image="x/standin_plate.png", hfov_deg=hfov, camera_height_m=1.5)
    size = (320, 240) if kind != "360" else (360, 180)
    millimetres = paint_depth(plate, size).astype(np.float64)
    model = PlateModel(kind, size[0], size[1], hfov, size[1] / 2, 1.5)
    u, v = np.meshgrid(np.arange(size[0]) + 0.5, np.arange(size[1]) + 0.5)
    floor = millimetres < 65000
    assert floor.any() and (millimetres[: size[1] // 2 - 1] == SKY_MM).all()
    ray = millimetres / 1000.0 * model.ray_scale(u, v)
    heights = 1.5 + model.directions(u, v)[..., 1] * ray
    assert np.abs(heights[floor]).max() < 0.005  # every floor pixel lies on the floor


def test_your_own_plate_replaces_the_standin(tiny_production: Path) -> None:
    toml = _stub(tiny_production)
    load_production(tiny_production)
    own = tiny_production / "sets" / "moon-base" / "plate.png"
    Image.fromarray(np.full((360, 640, 3), 90, np.uint8)).save(own)
    raw = tomllib.loads(toml.read_text())
    raw["plate"]["image"] = "moon-base/plate.png"
    toml.write_text(tomli_w.dumps(raw))
    production = load_production(tiny_production)
    assert production.problems == []
    with Image.open(tiny_production / "sets" / "moon-base" / STANDIN_DEPTH) as image:
        assert image.size == (640, 360)  # a floor-plane depth at the size of your plate
    del raw["plate"]["depth"]
    toml.write_text(tomli_w.dumps(raw))
    production = load_production(tiny_production)
    assert production.problems == [] and production.sets["moon-base"].plate.depth is None


def test_script2edit_stubs_write_what_is_missing_and_never_replace(tiny_production: Path,
                                                                    capsys) -> None:
    script = tiny_production / "moon.fountain"
    script.write_text("INT. MOON BASE - NIGHT\n\nJANE\nHello?\n\nZOË (O.S.)\nUp here.\n")
    code = main(["script2edit", str(script), "-p", str(tiny_production), "--stubs"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "wrote cast/zoe.toml" in out and "wrote sets/moon-base.toml" in out
    assert "2 bible stub(s) written" in out and "ok: " in out and "suggested" not in out
    zoe = tomllib.loads((tiny_production / "cast" / "zoe.toml").read_text())
    views = zoe.pop("views")
    assert zoe == {"name": "zoe", "display_name": "Zoë", "role": "extra", "description": ""}
    assert views["front"]["image"] == "zoe/standin_front.png"  # a stand-in figure until cast new
    assert (tiny_production / "cast" / "zoe" / "standin_front.png").is_file()
    written = {p: p.read_bytes() for p in (tiny_production / "cast").glob("*.toml")}
    assert main(["script2edit", str(script), "-p", str(tiny_production), "--stubs"]) == 0
    assert "stub(s) written" not in capsys.readouterr().out  # nothing missing any more
    assert {p: p.read_bytes() for p in written} == written

    broken = tiny_production / "cast" / "bob.toml"
    broken.write_text("name = [not toml\n")
    script.write_text("INT. MOON BASE - NIGHT\n\nBOB\nAnyone?\n")
    code = main(["script2edit", str(script), "-p", str(tiny_production), "--stubs"])
    out = capsys.readouterr().out
    assert code == 1 and "kept cast/bob.toml: it exists already" in out
    assert broken.read_text() == "name = [not toml\n"
    assert not _write_new(broken, "replaced") and broken.read_text() == "name = [not toml\n"


def test_init_from_a_script(tmp_path: Path, capsys) -> None:
    script = tmp_path / "pilot.fountain"
    script.write_text("EXT. BEACH - DAWN\n\nNOOR\nThe tide is out.\n")
    folder = tmp_path / "pilot"
    assert main(["init", str(folder), "--from", str(script)]) == 0
    out = capsys.readouterr().out
    assert "wrote cast/noor.toml" in out and "wrote sets/beach.toml" in out
    assert (folder / "scripts" / "pilot.fountain").read_text() == script.read_text()
    assert (folder / "timelines" / "pilot.otio").is_file()
    assert (folder / "sets" / "beach" / STANDIN_PLATE).is_file()
    beach = load_production(folder).sets["beach"]
    assert beach.default_lighting == "dawn" and beach.lighting["dawn"].key_elevation_deg == 8
    assert main(["init", str(tmp_path / "other"), "--from", str(tmp_path / "nope")]) == 1
    assert "no such screenplay" in capsys.readouterr().err
