"""Character workspaces, picking, captions, dataset checks and extras (no torch needed).

The dataset checks run on planted cases: too few images (error under 4, warning under 10), a
tiny image (error), a near-duplicate pair (warning) and missing views (warning).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from render_engine.bible import load_production
from render_engine.cast.dataset import (
    caption_text,
    check_dataset,
    contact_sheet,
    flagged_ids,
    hamming,
    import_sheet,
    perceptual_hash,
)
from render_engine.cast.extra import cut_out, silhouette_anchors
from render_engine.cast.workspace import SUBFOLDERS, Workspace, make_trigger, new_character
from render_engine.cli import main
from render_engine.errors import SoloreelError

VIEWS = ("front", "three_quarter", "side", "back")


def figure(index: int, size: int = 320, background=(240, 240, 240)) -> np.ndarray:
    """A distinct picture per index: a figure plus a few random blocks (distinct structure,
    so perceptual hashes of different indices are far apart)."""
    image = np.zeros((size, size, 3), np.uint8)
    image[:] = background
    rng = np.random.default_rng(index)
    for _ in range(6):
        x0, y0 = rng.integers(0, size * 3 // 4, 2)
        w, h = rng.integers(size // 8, size // 2, 2)
        image[y0:y0 + h, x0:x0 + w] = rng.integers(0, 255, 3)
    return image


def plant(folder: Path, count: int, size: int = 320, views: tuple[str, ...] = VIEWS) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        view = views[index % len(views)]
        Image.fromarray(figure(index, size)).save(folder / f"{view}-{index:02d}.png")


@pytest.fixture
def production(tiny_production: Path):
    return load_production(tiny_production)


def test_trigger_words_are_camel_case_and_unique() -> None:
    assert make_trigger("jane", "sunflower dress", set()) == "JaneSunflowerDress"
    assert make_trigger("old-tom", None, set()) == "OldTom"
    assert make_trigger("jane", "sunflower dress", {"janesunflowerdress"}) == \
        "JaneSunflowerDress2"


def test_cast_new_registers_a_lead_and_its_workspace(tiny_production: Path, tmp_path) -> None:
    face = tmp_path / "face.png"
    Image.fromarray(figure(1)).save(face)
    code = main(["cast", "new", "mara", "--from", str(face), "--outfit", "red coat",
                 "-p", str(tiny_production)])
    assert code == 0
    cast = tomllib.loads((tiny_production / "cast" / "mara.toml").read_text())
    assert cast["role"] == "lead" and cast["trigger"] == "MaraRedCoat"
    assert cast["reference_images"] == ["mara/source/source.png"]
    for sub in SUBFOLDERS:
        assert (tiny_production / "cast" / "mara" / sub).is_dir()
    production = load_production(tiny_production)
    assert not production.problems, production.problems
    assert main(["cast", "new", "mara", "--from", str(face), "-p", str(tiny_production)]) == 1
    with pytest.raises(SoloreelError, match="already used"):
        new_character(production, "mara2", face, trigger="maraRedCoat")


def test_dataset_checks_on_planted_cases(tmp_path: Path) -> None:
    few = tmp_path / "few"
    plant(few, 3)
    report = check_dataset(few)
    assert not report.ok and any("at least 4" in e for e in report.errors)

    some = tmp_path / "some"
    plant(some, 6)
    report = check_dataset(some)
    assert report.ok and any("only 6 images" in w for w in report.warnings)
    assert not report.duplicates

    enough = tmp_path / "enough"
    plant(enough, 12)
    report = check_dataset(enough, recommended_side=256)
    assert report.ok and not [w for w in report.warnings if "caption" not in w], report.warnings

    tiny = tmp_path / "tiny"
    plant(tiny, 5)
    Image.fromarray(figure(9, 96)).save(tiny / "front-tiny.png")
    report = check_dataset(tiny)
    assert [e for e in report.errors if "front-tiny.png" in e and "too small" in e]

    dupes = tmp_path / "dupes"
    plant(dupes, 10)
    near = figure(3).astype(np.int16) + np.random.default_rng(0).integers(-6, 7, (320, 320, 3))
    Image.fromarray(np.clip(near, 0, 255).astype(np.uint8)).save(dupes / "side-copy.png")
    report = check_dataset(dupes)
    assert report.ok
    assert [(a, b) for a, b, _ in report.duplicates] == [("back-03.png", "side-copy.png")]
    assert any("near-duplicates" in w for w in report.warnings)

    fronts = tmp_path / "fronts"
    plant(fronts, 10, views=("front",))
    report = check_dataset(fronts)
    assert any("no three_quarter, side, back view" in w for w in report.warnings)


def test_perceptual_hash_tells_different_figures_apart() -> None:
    a = perceptual_hash(Image.fromarray(figure(1)))
    b = perceptual_hash(Image.fromarray(figure(2)))
    resized = perceptual_hash(Image.fromarray(figure(1)).resize((200, 200)))
    assert hamming(a, resized) <= 6 < hamming(a, b)


def test_import_pick_by_id_and_by_flag_file_builds_a_captioned_dataset(
        tiny_production: Path, tmp_path: Path, production, capsys) -> None:
    sheet = np.full((320, 4 * 320, 3), 250, np.uint8)
    for cell in range(3):  # the fourth cell stays empty and is skipped
        sheet[:, cell * 320:(cell + 1) * 320] = figure(cell)
    Image.fromarray(sheet).save(tmp_path / "sheet.png")
    workspace = Workspace(production, "jane")
    workspace.ensure()
    ids = import_sheet(workspace, tmp_path / "sheet.png", (4, 1), ["front", "side", "back"])
    assert ids == ["c001", "c002", "c003"]
    meta = json.loads((workspace.folder("candidates") / "c002.json").read_text())
    assert meta["origin"] == "import" and meta["view"] == "side" and meta["cell"] == [1, 0]

    (workspace.folder("picks") / "c003.png").write_bytes(b"")  # the file-browser way
    assert main(["cast", "pick", "jane", "c001", "-p", str(tiny_production)]) == 1  # < 4
    assert flagged_ids(workspace) == ["c001", "c003"]
    dataset = workspace.folder("dataset")
    assert sorted(p.name for p in dataset.glob("*.png")) == ["c001.png", "c003.png"]
    assert (dataset / "c001.txt").read_text().strip() == \
        "JaneTrigger, front view, neutral expression"
    (dataset / "c003.txt").write_text("JaneTrigger, back view, hand edited\n")
    assert main(["cast", "pick", "jane", "--drop", "c001", "-p", str(tiny_production)]) == 1
    assert sorted(p.name for p in dataset.glob("*.png")) == ["c003.png"]
    assert (dataset / "c003.txt").read_text() == "JaneTrigger, back view, hand edited\n"
    sheet_path = contact_sheet(workspace)
    with Image.open(sheet_path) as image:
        assert image.width == 6 * 160
    assert main(["cast", "pick", "jane", "c099", "-p", str(tiny_production)]) == 1
    assert "unknown candidate id(s): c099" in capsys.readouterr().err


def test_captions_name_trigger_view_expression_outfit() -> None:
    assert caption_text("JaneSunflowerDress", "three_quarter", "smiling", "sunflower dress") \
        == "JaneSunflowerDress, three-quarter view, smiling expression, wearing sunflower dress"


def test_extra_from_one_image_is_cut_out_with_anchors(tiny_production: Path, tmp_path) -> None:
    image = np.full((400, 200, 3), (20, 160, 40), np.uint8)  # a green-screen-ish plain ground
    image[40:100, 70:130] = (230, 190, 150)  # head
    image[100:380, 50:150] = (250, 250, 250)  # white coat: must stay opaque (not connected)
    image[100:380, 50:52] = (30, 30, 30)
    Image.fromarray(image).save(tmp_path / "keeper.png")
    code = main(["cast", "extra", "storekeeper", "--from", str(tmp_path / "keeper.png"),
                 "-p", str(tiny_production)])
    assert code == 0
    cast = tomllib.loads((tiny_production / "cast" / "storekeeper.toml").read_text())
    assert cast["role"] == "extra" and cast["trigger"] == ""
    front = cast["views"]["front"]
    with Image.open(tiny_production / "cast" / front["image"]) as cut:
        alpha = np.asarray(cut)[..., 3]
        assert alpha[0, 0] == 0 and alpha[cut.height // 2, cut.width // 2] == 255
        top = front["head_top"][1]
        assert front["feet"][1] == pytest.approx(cut.height - 1 - 8, abs=1)
        assert top == pytest.approx(8, abs=1)
        assert top < front["eyes"][1] < front["mouth"][1] < front["feet"][1]
    assert cast["reference_images"] == ["storekeeper/reference.png"]
    assert not load_production(tiny_production).problems


def test_busy_background_is_not_cut_and_alpha_is_kept() -> None:
    busy = Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), np.uint8))
    assert cut_out(busy).method == "none"
    rgba = np.zeros((64, 32, 4), np.uint8)
    rgba[8:60, 8:24] = 255
    made = cut_out(Image.fromarray(rgba))
    assert made.method == "alpha"
    anchors = silhouette_anchors(np.asarray(made.image)[..., 3])
    assert anchors["feet"] == [15.5, 59.0] and anchors["head_top"] == [15.5, 8.0]


def test_voice_action_is_still_registered() -> None:
    from render_engine.cli import build_parser

    args = build_parser().parse_args(["cast", "voice", "jane", "--pitch", "40"])
    assert args.cast_action == "voice" and args.pitch == 40


def test_demo_leads_have_generated_captioned_datasets(demo_production: Path) -> None:
    production = load_production(demo_production)
    assert {n: m.role for n, m in production.cast.items()} == \
        {"jane": "lead", "john": "lead", "ranger": "extra"}
    for name in ("john", "jane"):
        report = check_dataset(demo_production / "cast" / name / "dataset")
        assert report.ok and not report.warnings, report.warnings
        assert len(report.images) == 12
        caption = (demo_production / "cast" / name / "dataset" / "front.txt").read_text()
        assert caption.startswith(production.cast[name].trigger + ", front view")
