"""`soloreel cast new NAME --from PICTURE`: a lead with a keyed cut-out the proxy can use now.

The same cut-out code as `cast extra` (one implementation): a figure on a plain background is
keyed, cropped and anchored from its silhouette (eyes and mouth found in the head, not in the
hair), a seated view is derived for scenes where the character sits, `cast/NAME/anchors.png`
shows the anchors, `--anchor NAME=X,Y` corrects them (on `new`, `extra` and `cast anchors`), and
an unkeyed picture is reported. A stub from `script2edit --stubs` is filled in.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from render_engine.bible import load_production
from render_engine.cast.cutout import parse_anchor, seated_view, silhouette_anchors
from render_engine.cli import main
from render_engine.errors import SoloreelError
from render_engine.proxy.blocking import seated_eye_ratio
from render_engine.scaffold import write_stubs
from tests.test_first_cut import draw_character

DRAWN_EYES_Y = 95
DRAWN_MOUTH_Y = 128
DRAWN_TOP_Y = 22
"""Where draw_character paints the eyes, the mouth and the top of the hair (picture rows)."""


def _cast(production: Path, name: str) -> dict:
    return tomllib.loads((production / "cast" / f"{name}.toml").read_text())


def test_cast_new_makes_a_keyed_anchored_view(tiny_production: Path, tmp_path: Path,
                                              capsys) -> None:
    picture = draw_character(tmp_path / "mara.png", (200, 40, 200), (60, 30, 20))
    assert main(["cast", "new", "mara", "--from", str(picture), "--outfit", "red coat",
                 "-p", str(tiny_production)]) == 0
    out = capsys.readouterr().out
    assert "cut out (plain background)" in out
    assert "anchor check: cast/mara/anchors.png" in out and "warning" not in out
    assert "seated view cast/mara/sit_front.png" in out
    cast = _cast(tiny_production, "mara")
    assert cast["role"] == "lead" and cast["trigger"] == "MaraRedCoat"
    assert cast["reference_images"] == ["mara/source/source.png"]
    front = cast["views"]["front"]
    assert front["image"] == "mara/front.png"
    with Image.open(tiny_production / "cast" / "mara" / "front.png") as cut:
        alpha = np.asarray(cut)[..., 3]
        assert alpha[0, 0] == 0 and alpha[cut.height // 2, cut.width // 2] == 255
    offset = DRAWN_TOP_Y - front["head_top"][1]  # the crop's offset from the picture
    assert front["eyes"][1] + offset == pytest.approx(DRAWN_EYES_Y, abs=4)  # not in the hair
    assert front["mouth"][1] + offset == pytest.approx(DRAWN_MOUTH_Y, abs=4)
    assert front["feet"][1] > 780
    with Image.open(tiny_production / "cast" / "mara" / "anchors.png") as check:
        assert check.width > alpha.shape[1] and check.height > alpha.shape[0]
    production = load_production(tiny_production)
    assert production.problems == []
    member = production.member("mara")
    assert set(member.views) == {"front", "sit_front"}
    ratio = seated_eye_ratio(production, "mara")  # the derived seat puts the eyes where
    assert 0.6 < ratio < 0.8  # a seated person's are
    assert main(["cast", "new", "mara", "--from", str(picture),
                 "-p", str(tiny_production)]) == 1
    assert "already exists" in capsys.readouterr().err


def test_anchors_are_corrected_by_flag_and_redrawn(tiny_production: Path, tmp_path: Path,
                                                   capsys) -> None:
    picture = draw_character(tmp_path / "oskar.png", (40, 170, 60), (200, 170, 60))
    assert main(["cast", "new", "oskar", "--from", str(picture), "--anchor", "eyes=100,70",
                 "--anchor", "mouth_width=30", "-p", str(tiny_production)]) == 0
    front = _cast(tiny_production, "oskar")["views"]["front"]
    assert front["eyes"] == [100.0, 70.0] and front["mouth_width"] == 30.0
    check = tiny_production / "cast" / "oskar" / "anchors.png"
    first = check.read_bytes()
    capsys.readouterr()
    assert main(["cast", "anchors", "oskar", "--anchor", "eyes=111,80", "--anchor",
                 "feet=111,800", "-p", str(tiny_production)]) == 0
    out = capsys.readouterr().out
    assert "views.front anchors rewritten" in out and "eyes 111,80" in out
    views = _cast(tiny_production, "oskar")["views"]
    assert views["front"]["eyes"] == [111.0, 80.0] and views["front"]["feet"] == [111.0, 800.0]
    assert views["front"]["mouth_width"] == 30.0  # what was not corrected stays
    assert views["sit_front"]["eyes"][1] == 80.0  # the derived seated view follows
    assert check.read_bytes() != first
    assert load_production(tiny_production).problems == []
    for bad in ("nose=1,2", "eyes=1", "eyes=a,b", "eyes=5000,10"):
        assert main(["cast", "anchors", "oskar", "--anchor", bad,
                     "-p", str(tiny_production)]) == 1
        err = capsys.readouterr().err
        assert "--anchor" in err and "Traceback" not in err and err.count("\n") == 1
    assert main(["cast", "anchors", "oskar", "--view", "back",
                 "-p", str(tiny_production)]) == 1
    assert "has no view 'back'" in capsys.readouterr().err


def test_extra_and_new_share_one_cut_out(tiny_production: Path, tmp_path: Path,
                                         capsys) -> None:
    picture = draw_character(tmp_path / "keeper.png", (220, 200, 40), (20, 20, 20))
    assert main(["cast", "extra", "keeper", "--from", str(picture), "--anchor",
                 "head_top=111,10", "-p", str(tiny_production)]) == 0
    out = capsys.readouterr().out
    assert "cast/keeper.toml: extra" in out and "anchor check: cast/keeper/anchors.png" in out
    assert main(["cast", "new", "lead", "--from", str(picture), "-p", str(tiny_production)]) == 0
    extra = _cast(tiny_production, "keeper")["views"]["front"]
    lead = _cast(tiny_production, "lead")["views"]["front"]
    assert extra["head_top"] == [111.0, 10.0]
    assert {k: v for k, v in extra.items() if k not in ("image", "head_top")} == \
        {k: v for k, v in lead.items() if k not in ("image", "head_top")}
    assert (tiny_production / "cast" / "keeper" / "front.png").read_bytes() == \
        (tiny_production / "cast" / "lead" / "front.png").read_bytes()


def test_unkeyed_pictures_are_reported(tiny_production: Path, tmp_path: Path, capsys) -> None:
    busy = tmp_path / "busy.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (200, 100, 3), np.uint8)).save(
        busy)
    assert main(["cast", "new", "noisy", "--from", str(busy), "-p", str(tiny_production)]) == 0
    out = capsys.readouterr().out
    assert "NOT keyed" in out and "warning: the picture has no transparency" in out
    assert "sit_front" not in _cast(tiny_production, "noisy")["views"]  # nothing to seat
    rgba = np.zeros((300, 120, 4), np.uint8)
    rgba[20:290, 30:90] = (90, 60, 200, 255)
    Image.fromarray(rgba).save(tmp_path / "cut.png")
    assert main(["cast", "extra", "blue", "--from", str(tmp_path / "cut.png"),
                 "-p", str(tiny_production)]) == 0
    out = capsys.readouterr().out
    assert "its own transparency" in out and "NOT keyed" not in out


def test_cast_new_fills_in_a_script_stub(tiny_production: Path, tmp_path: Path) -> None:
    stub = {"name": "priya", "display_name": "Priya", "role": "extra", "description": ""}
    [(path, written)] = write_stubs(tiny_production, {"cast": {"priya": stub}})
    assert written and path.read_text().startswith("# cast/priya.toml: a stub")
    picture = draw_character(tmp_path / "priya.png", (40, 170, 60), (20, 20, 20))
    assert main(["cast", "new", "priya", "--from", str(picture), "--description",
                 "a night-shift cook", "-p", str(tiny_production)]) == 0
    cast = _cast(tiny_production, "priya")
    assert cast["display_name"] == "Priya" and cast["role"] == "lead"
    assert cast["description"] == "a night-shift cook" and "front" in cast["views"]
    assert load_production(tiny_production).problems == []


def test_silhouette_anchors_find_the_head() -> None:
    alpha = np.zeros((400, 200), np.uint8)
    alpha[40:100, 70:130] = 255  # a square head
    alpha[100:380, 50:150] = 255  # a wider body right under it
    anchors = silhouette_anchors(alpha)
    assert 40 < anchors["eyes"][1] < anchors["mouth"][1] < 100  # both inside the head
    block = np.zeros((64, 32), np.uint8)
    block[8:60, 8:24] = 255  # no head to find: average proportions
    assert silhouette_anchors(block)["eyes"][1] == pytest.approx(8 + 0.065 * 52, abs=0.1)
    assert parse_anchor("feet = 12.5,300") == ("feet", [12.5, 300.0])
    with pytest.raises(SoloreelError, match="mouth_width wants PIXELS"):
        parse_anchor("mouth_width=1,2")
    rgba = np.zeros((400, 200, 4), np.uint8)
    rgba[..., 3] = alpha
    seated = seated_view(Image.fromarray(rgba), anchors)
    assert seated is not None
    picture, moved = seated
    assert moved["feet"][1] < anchors["feet"][1] and picture.height < 400
    assert moved["eyes"][1] == anchors["eyes"][1]
