"""Your own film in minutes: a new screenplay and one picture per character give a first cut.

Like a new user: `soloreel init`, a fresh three-scene screenplay with new characters and new
locations, `script2edit --stubs` (cast and set files written, stand-in plates drawn), one
picture per character with `cast new`, then the placeholder and proxy tiers and a `preview`
movie — all through the command line, with no hand edits of the bible (only the test
production's resolution is made small, for speed). The preview is checked for its length, the
stand-in plates' time-of-day colours and the characters' shirts in the shots that hold them.
A few frames are written to PNG in the test's folder for a person to look at.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import tomli_w
from PIL import Image, ImageDraw

from render_engine.bible import load_production
from render_engine.cli import main
from render_engine.media.encode import probe, read_frames
from render_engine.review.shots import collect
from render_engine.timeline_io import read_timeline

SCRIPT = """\
Title: Night Shift

EXT. ROOFTOP GARDEN - NIGHT

MARA waits by the railing. OSKAR walks in.

MARA
You're late.

OSKAR
The lift is broken again.

INT. CORNER DINER - DAY

PRIYA wipes the counter. MARA sits at the bar.

PRIYA
Coffee?

MARA
Black. Lots of it.

EXT. HARBOUR PIER - DUSK

OSKAR and PRIYA look out at the boats.

OSKAR
She'll come round.

PRIYA
She always does.
"""

SHIRTS = {"mara": (200, 40, 200), "oskar": (40, 170, 60), "priya": (220, 200, 40)}
"""Shirt colours no stand-in plate has under any of its lights: magenta, green, yellow."""
HAIR = {"mara": (60, 30, 20), "oskar": (200, 170, 60), "priya": (20, 20, 20)}


def draw_character(path: Path, shirt: tuple[int, int, int], hair: tuple[int, int, int]) -> Path:
    """A simple standing figure (head, hair, eyes, mouth, shirt, arms, legs, shoes) on a plain
    off-white background, as someone might draw or photograph one."""
    image = Image.new("RGB", (300, 840), (245, 245, 240))
    draw = ImageDraw.Draw(image)
    skin, cx = (224, 180, 150), 150
    draw.rectangle([cx - 45, 480, cx - 8, 800], fill=(58, 58, 58))
    draw.rectangle([cx + 8, 480, cx + 45, 800], fill=(58, 58, 58))
    draw.ellipse([cx - 60, 790, cx - 5, 820], fill=(30, 20, 20))
    draw.ellipse([cx + 5, 790, cx + 60, 820], fill=(30, 20, 20))
    draw.rounded_rectangle([cx - 70, 170, cx + 70, 500], radius=30, fill=shirt)
    for side in (-1, 1):
        x0, x1 = sorted((cx + side * 68, cx + side * 100))
        draw.rounded_rectangle([x0, 180, x1, 460], radius=14, fill=shirt)
        draw.ellipse([x0 - 2, 445, x1 + 2, 485], fill=skin)
    draw.rectangle([cx - 18, 140, cx + 18, 185], fill=skin)
    draw.ellipse([cx - 55, 30, cx + 55, 160], fill=skin)
    draw.chord([cx - 58, 22, cx + 58, 120], 180, 360, fill=hair)
    draw.ellipse([cx - 28, 88, cx - 14, 102], fill=(30, 30, 30))
    draw.ellipse([cx + 14, 88, cx + 28, 102], fill=(30, 30, 30))
    draw.line([cx - 18, 128, cx + 18, 128], fill=(150, 60, 60), width=4)
    image.save(path)
    return path


def _shirt_pixels(frame: np.ndarray, name: str) -> int:
    """Pixels of a character's shirt colour under the set's light: magenta (red and blue over
    green), green (over red and blue) or yellow (red and green over blue). No stand-in plate
    colour (sky, haze, floor, grid at night, day or dusk) passes these tests."""
    r, g, b = (frame[..., c].astype(np.int32) for c in range(3))
    found = {"mara": np.minimum(r, b) - g > 40, "oskar": g - np.maximum(r, b) > 20,
             "priya": np.minimum(r, g) - b > 60}[name]
    return int(found.sum())


def test_script_and_pictures_to_a_first_cut(tmp_path: Path, capsys) -> None:
    production = tmp_path / "night-shift"
    assert main(["init", str(production)]) == 0
    settings_path = production / "soloreel.toml"
    settings = tomllib.loads(settings_path.read_text())
    settings["production"]["handles"] = 2
    settings["tiers"]["placeholder"] = {"width": 320, "height": 180}
    settings["tiers"]["proxy"] = {"width": 320, "height": 180}
    settings_path.write_text(tomli_w.dumps(settings))
    script = tmp_path / "night-shift.fountain"
    script.write_text(SCRIPT)
    capsys.readouterr()

    assert main(["script2edit", str(script), "-p", str(production), "--stubs"]) == 0
    out = capsys.readouterr().out
    for name in SHIRTS:
        assert f"wrote cast/{name}.toml" in out
    for name in ("rooftop-garden", "corner-diner", "harbour-pier"):
        assert f"wrote sets/{name}.toml" in out
        assert (production / "sets" / name / "standin_plate.png").is_file()
        assert (production / "sets" / name / "standin_depth.png").is_file()
    assert "suggested" not in out and "ok: " in out

    for name, shirt in SHIRTS.items():
        picture = draw_character(tmp_path / f"{name}.png", shirt, HAIR[name])
        assert main(["cast", "new", name, "--from", str(picture), "-p", str(production)]) == 0
        assert (production / "cast" / name / "anchors.png").is_file()
    out = capsys.readouterr().out
    assert "anchor check: cast/mara/anchors.png" in out and "NOT keyed" not in out
    bible = load_production(production)
    assert bible.problems == []
    assert all(bible.cast[name].views["front"].eyes for name in SHIRTS)

    edit = production / "timelines" / "night-shift.otio"
    for tier in ("placeholder", "proxy"):
        assert main(["render", str(edit), "--tier", tier, "-p", str(production)]) == 0
    movie = tmp_path / "first-cut.mp4"
    assert main(["preview", str(edit), "-o", str(movie), "--tier", "proxy",
                 "-p", str(production)]) == 0
    out = capsys.readouterr().out
    assert "instead of proxy" not in out  # every shot has its proxy

    review = collect(read_timeline(edit), load_production(production))
    assert probe(movie).frame_count == review.frames
    frames = list(read_frames(movie))
    assert len(frames) == review.frames
    looks = tmp_path / "frames"
    looks.mkdir()
    skies = {}
    for shot in review.shots:
        assert shot.spec is not None
        middle = frames[shot.record_start + shot.frames // 2]
        Image.fromarray(middle).save(looks / f"{shot.number:02d}-{shot.spec.shot.id}.png")
        if shot.spec.shot.size == "WS":  # wides: the sky's colour, everyone in the shot
            skies.setdefault(shot.spec.set, middle[:12].reshape(-1, 3).mean(axis=0))
            listed = {c.name: c for c in shot.spec.characters}
            for name in SHIRTS:
                seen = _shirt_pixels(middle, name)
                if name not in listed:
                    assert seen < 5, f"{name} seen in {shot.spec.shot.id} without being there"
                elif listed[name].action != "walk":
                    assert seen > 40, f"{name} not seen in {shot.spec.shot.id}"
    night, day, dusk = skies["rooftop-garden"], skies["corner-diner"], skies["harbour-pier"]
    assert night.mean() < 70 and night[2] > night[0] + 10  # dark blue
    assert day.mean() > 150 and day[2] > day[0] + 20  # light blue
    assert dusk[2] > dusk[1] and 50 < dusk.mean() < 150  # violet, between the two
