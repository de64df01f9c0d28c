"""Stand-in figures: a cast stub renders from minute one.

A cast stub (`script2edit --stubs`) names a generated stand-in figure as its `front` and
`sit_front` views, with anchors; loading the production draws them (deterministically, never
over a user's own view), the proxy draws a stub character in its own colour, validate notes the
stand-in instead of claiming "no views", and `cast new` replaces the stand-in views.
"""

from __future__ import annotations

import colorsys
import tomllib
from pathlib import Path

import numpy as np
import tomli_w
from PIL import Image

from render_engine.bible import load_production
from render_engine.cli import main
from render_engine.scaffold import write_stubs
from render_engine.standin import STANDIN_FRONT, STANDIN_SIT_FRONT, figure_colour
from tests.test_first_cut import draw_character

STUB = {"name": "priya", "display_name": "Priya", "role": "extra", "description": ""}

SCRIPT = """\
Title: Coffee

INT. CORNER DINER - DAY

PRIYA wipes the counter. MARA stands at the bar.

PRIYA
Coffee?

MARA
Black. Lots of it.
"""


def _stub(root: Path) -> Path:
    [(path, written)] = write_stubs(root, {"cast": {"priya": STUB}})
    assert written
    return path


def test_a_cast_stub_gets_standin_views_with_anchors(tiny_production: Path) -> None:
    toml = _stub(tiny_production)
    text = toml.read_text()
    assert "STAND-IN figure" in text and "cast new priya --from PICTURE" in text
    views = tomllib.loads(text)["views"]
    assert views["front"]["image"] == f"priya/{STANDIN_FRONT}"
    assert views["sit_front"]["image"] == f"priya/{STANDIN_SIT_FRONT}"
    production = load_production(tiny_production)
    assert production.problems == []
    for view in views.values():
        with Image.open(tiny_production / "cast" / view["image"]) as opened:
            rgba = np.asarray(opened)
        assert rgba.shape[2] == 4 and rgba[0, 0, 3] == 0  # transparent around the figure
        height, width = rgba.shape[:2]
        for anchor in ("feet", "eyes", "mouth", "head_top"):
            x, y = view[anchor]
            assert 0 <= x < width and 0 <= y < height, anchor
        assert views["front"]["head_top"][1] < view["eyes"][1] < view["mouth"][1] \
            < view["feet"][1]
        x, y = (round(v) for v in view["mouth"])
        assert rgba[y, x, 3] == 255  # the mouth is on the head
    assert production.cast["priya"].views["sit_front"].feet[1] < views["front"]["feet"][1]


def test_standin_figures_are_redrawn_identically_and_never_over_your_own(
        tiny_production: Path) -> None:
    _stub(tiny_production)
    load_production(tiny_production)
    folder = tiny_production / "cast" / "priya"
    first = {name: (folder / name).read_bytes() for name in (STANDIN_FRONT, STANDIN_SIT_FRONT)}
    for name in first:
        (folder / name).unlink()
    load_production(tiny_production)
    assert {name: (folder / name).read_bytes() for name in first} == first
    own = folder / "front.png"  # a user's own view is never drawn over
    Image.new("RGBA", (64, 128), (1, 2, 3, 255)).save(own)
    toml = tiny_production / "cast" / "priya.toml"
    raw = tomllib.loads(toml.read_text())
    raw["views"]["front"]["image"] = "priya/front.png"
    toml.write_text(tomli_w.dumps(raw))
    load_production(tiny_production)
    with Image.open(own) as opened:
        assert opened.size == (64, 128) and opened.getpixel((0, 0)) == (1, 2, 3, 255)


def test_cast_new_replaces_the_standin_views(tiny_production: Path, tmp_path: Path,
                                             capsys) -> None:
    _stub(tiny_production)
    load_production(tiny_production)
    picture = draw_character(tmp_path / "priya.png", (40, 170, 60), (20, 20, 20))
    assert main(["cast", "new", "priya", "--from", str(picture), "-p",
                 str(tiny_production)]) == 0
    views = tomllib.loads((tiny_production / "cast" / "priya.toml").read_text())["views"]
    assert views["front"]["image"] == "priya/front.png"
    assert views["sit_front"]["image"] == "priya/sit_front.png"
    assert load_production(tiny_production).problems == []
    capsys.readouterr()
    unkeyed = tmp_path / "boxy.png"  # an unkeyed picture gets no seated view: none left over
    noise = np.random.default_rng(7).integers(0, 256, (400, 200, 3), dtype=np.uint8)
    Image.fromarray(noise).save(unkeyed)
    write_stubs(tiny_production, {"cast": {"oskar": {**STUB, "name": "oskar"}}})
    assert main(["cast", "new", "oskar", "--from", str(unkeyed), "-p",
                 str(tiny_production)]) == 0
    views = tomllib.loads((tiny_production / "cast" / "oskar.toml").read_text())["views"]
    assert [view["image"] for view in views.values()] == ["oskar/front.png"]


def _near_hue(frame: np.ndarray, colour: tuple[int, int, int]) -> int:
    """Pixels of a saturated colour of about the same hue as `colour` (the light shifts
    brightness and tint a little, not the hue of a saturated mannequin much)."""
    hue = colorsys.rgb_to_hsv(*(c / 255 for c in colour))[0]
    rgb = frame[..., :3].astype(np.float32) / 255.0
    high, low = rgb.max(axis=2), rgb.min(axis=2)
    chroma = high - low
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    safe = np.maximum(chroma, 1e-6)
    h = np.where(high == r, ((g - b) / safe) % 6, np.where(high == g, (b - r) / safe + 2,
                                                            (r - g) / safe + 4)) / 6.0
    distance = np.minimum(np.abs(h - hue), 1 - np.abs(h - hue))
    return int(((distance < 0.04) & (chroma > 0.25)).sum())


def test_a_stub_character_renders_in_the_proxy(tmp_path: Path, capsys) -> None:
    production = tmp_path / "coffee"
    assert main(["init", str(production)]) == 0
    settings_path = production / "soloreel.toml"
    settings = tomllib.loads(settings_path.read_text())
    settings["production"]["handles"] = 0
    settings["tiers"]["proxy"] = {"width": 320, "height": 180}
    settings_path.write_text(tomli_w.dumps(settings))
    script = tmp_path / "coffee.fountain"
    script.write_text(SCRIPT)
    assert main(["script2edit", str(script), "-p", str(production), "--stubs"]) == 0
    out = capsys.readouterr().out
    assert "stand-in figure cast/priya/standin_front.png" in out
    picture = draw_character(tmp_path / "mara.png", (200, 40, 200), (60, 30, 20))
    assert main(["cast", "new", "mara", "--from", str(picture), "-p", str(production)]) == 0
    edit = production / "timelines" / "coffee.otio"
    capsys.readouterr()
    assert main(["validate", str(edit), "-p", str(production)]) == 0
    out = capsys.readouterr().out
    assert "no views" not in out and 'character "priya" is a stand-in figure' in out
    assert main(["render", str(edit), "--tier", "proxy", "-p", str(production)]) == 0
    movie = tmp_path / "coffee.mp4"
    assert main(["preview", str(edit), "-o", str(movie), "--tier", "proxy",
                 "-p", str(production)]) == 0
    assert "instead of proxy" not in capsys.readouterr().out

    from render_engine.media.encode import read_frames
    from render_engine.review.shots import collect
    from render_engine.timeline_io import read_timeline

    review = collect(read_timeline(edit), load_production(production))
    frames = list(read_frames(movie))
    colour = figure_colour("priya")
    seen = {}
    for shot in review.shots:
        assert shot.spec is not None
        middle = frames[shot.record_start + shot.frames // 2]
        listed = {c.name for c in shot.spec.characters}
        seen[shot.spec.shot.id] = (_near_hue(middle, colour), "priya" in listed)
        if shot.spec.shot.size == "WS" and "priya" in listed:
            Image.fromarray(middle).save(tmp_path / "standin-figure.png")
    assert (tmp_path / "standin-figure.png").is_file()
    assert any(count > 40 for count, there in seen.values() if there), seen
