"""Keyframes from the NLE and in the plans: the `approve` marker through an FCP7 round trip,
the dry run's keyframe cost, and the queue's keyframe batch (issue 24)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import opentimelineio as otio
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

from render_engine.cli import main
from render_engine.final.registry import drop_shared
from render_engine.hashing import file_digest
from render_engine.spec import read_spec
from render_engine.timeline_io import read_timeline
from tests.conftest import spec_dict
from tests.final_fixtures import build_t2v
from tests.test_keyframe_approval import _edit, _production

pytestmark = pytest.mark.ml


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny t2v pipeline (the other kinds are not rendered here; their entries stay)."""
    root = tmp_path_factory.mktemp("tiny-wan-orders")
    return {"t2v": build_t2v(root / "t2v"), "vace": root / "none", "i2v": root / "none"}


@pytest.fixture(autouse=True)
def _fresh_registry():
    drop_shared()
    yield
    drop_shared()


def _cli(root: Path, *args: str) -> int:
    return main(["-q", *args, "--production", str(root)])


def _keyframe_png(edit: Path, number: int) -> Path:
    clip = list(read_timeline(edit).find_clips())[number]
    url = clip.media_references()["final"].target_url
    return Path(url.removeprefix("file://")).parent / "keyframe.png"


def _export_with_marker(root: Path, edit: Path, out: Path, name: str) -> Path:
    """Export the edit to FCP7 XML and drop a marker `name` on its second clip, as the
    editor would in the NLE."""
    assert _cli(root, "export", str(edit), "--nle", "fcp7", "-o", str(out)) == 0
    tree = ET.parse(out)
    clipitem = tree.getroot().findall(".//clipitem")[1]
    marker = ET.SubElement(clipitem, "marker")
    for tag, text in (("comment", ""), ("name", name), ("in", "86405"), ("out", "-1")):
        ET.SubElement(marker, tag).text = text
    tree.write(out)
    return out


def test_an_approve_marker_from_the_nle_pins_the_keyframe(tiny_production: Path, models,
                                                           tmp_path: Path) -> None:
    root = _production(tiny_production, models)
    edit = _edit(root, spec_dict("m-1", dialog=[]), spec_dict("m-2", dialog=[], seed=5))
    assert _cli(root, "render", str(edit), "--tier", "placeholder") == 0
    assert _cli(root, "render", str(edit), "--tier", "final", "--quality", "keyframe") == 0
    png = _keyframe_png(edit, 1)
    exported = _export_with_marker(root, edit, tmp_path / "cut.xml", "approve")
    master = tmp_path / "master.otio"
    assert _cli(root, "import", str(exported), "-o", str(master), "--no-render") == 0
    clips = otio.adapters.read_from_file(str(master)).find_clips()
    first, second = (read_spec(c) for c in clips)
    assert first.render.final.keyframe is None
    assert second.render.final.keyframe is not None
    assert second.render.final.keyframe.sha256 == file_digest(png)
    assert (root / "keyframes" / f"{file_digest(png)}.png").is_file()
    assert any(m.name == "done: approve" for m in clips[1].markers)
    again = tmp_path / "again.otio"  # an order applies once; the approval stays
    assert _cli(root, "import", str(exported), "-o", str(again), "--no-render") == 0
    assert read_spec(otio.adapters.read_from_file(str(again)).find_clips()[1]
                     ).render.final.keyframe.sha256 == file_digest(png)


def test_a_retake_marker_keeps_the_keyframe_as_an_alternate(tiny_production: Path, models,
                                                            tmp_path: Path) -> None:
    root = _production(tiny_production, models)
    edit = _edit(root, spec_dict("t-1", dialog=[]), spec_dict("t-2", dialog=[], seed=5))
    assert _cli(root, "render", str(edit), "--tier", "placeholder") == 0
    assert _cli(root, "render", str(edit), "--tier", "final", "--quality", "keyframe") == 0
    sha = file_digest(_keyframe_png(edit, 1))
    exported = _export_with_marker(root, edit, tmp_path / "cut.xml", "retake")
    master = tmp_path / "master.otio"
    assert _cli(root, "import", str(exported), "-o", str(master), "--no-render") == 0
    spec = read_spec(otio.adapters.read_from_file(str(master)).find_clips()[1])
    assert spec.seed != 5 and spec.render.final.keyframe is not None
    assert [(t.sha256, t.seed) for t in spec.render.final.keyframe.alternates] == [(sha, 5)]
    assert spec.render.final.keyframe.sha256 is None
    assert (root / "keyframes" / f"{sha}.png").is_file()


def test_the_dry_run_prices_keyframes_per_shot_and_for_the_edit(tiny_production: Path, models,
                                                                capsys) -> None:
    import tomllib

    import tomli_w

    root = _production(tiny_production, models)
    settings = tomllib.loads((root / "soloreel.toml").read_text())
    settings["tiers"]["final"].update(width=1280, height=720, steps=30)  # priced, not rendered
    (root / "soloreel.toml").write_text(tomli_w.dumps(settings))
    edit = _edit(root, spec_dict("d-1", dialog=[]), spec_dict("d-2", dialog=[]))
    capsys.readouterr()
    assert main(["render", str(edit), "--tier", "final", "--quality", "keyframe", "--dry-run",
                 "--production", str(root)]) == 0
    keyframe = capsys.readouterr().out
    assert "final keyframe render plan" in keyframe
    assert "keyframe: the final's render for one Wan frame" in re.sub(r"\s+", " ", keyframe)
    rows = [line for line in keyframe.splitlines() if re.search(r"\bd-[12]\b", line)]
    assert len(rows) == 2 and all(" 1 " in row for row in rows)  # one Wan frame each
    total = re.search(r"total GPU time to render: ([\d.]+) min", keyframe)
    assert total is not None
    assert main(["render", str(edit), "--tier", "final", "--dry-run", "--production",
                 str(root)]) == 0
    full = re.search(r"total GPU time to render: ([\d.]+) min", capsys.readouterr().out)
    assert full is not None
    print(f"keyframes {total.group(1)} min, finals {full.group(1)} min (1280x720, 30 steps)")
    assert 0 < float(total.group(1)) < float(full.group(1))


def test_the_queue_takes_a_keyframe_batch(tiny_production: Path, models) -> None:
    from render_engine.final.quality import keyframe_view
    from render_engine.hashing import shot_hash
    from render_engine.queue.store import JobQueue
    from render_engine.spec import ShotSpec

    root = _production(tiny_production, models)
    edit = _edit(root, spec_dict("q-1", dialog=[]), spec_dict("q-2", dialog=[]))
    assert _cli(root, "queue", "add", str(edit), "--tier", "final", "--quality",
                "keyframe") == 0
    jobs = JobQueue.of(root).jobs()
    assert [j.quality for j in jobs] == ["keyframe", "keyframe"]
    assert len({j.model for j in jobs}) == 1  # one model: one load for the batch
    from render_engine.bible import load_production

    view = keyframe_view(load_production(root))
    assert {j.content_hash for j in jobs} == {
        shot_hash(ShotSpec.model_validate(j.spec), view, "final") for j in jobs}


def test_status_and_storyboard_show_keyframes_and_their_approval(tiny_production: Path,
                                                                models, tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from render_engine.bible import load_production
    from render_engine.cli.status import shot_states

    root = _production(tiny_production, models)
    edit = _edit(root, spec_dict("b-1", dialog=[]), spec_dict("b-2", dialog=[], seed=9))
    assert _cli(root, "render", str(edit), "--tier", "final", "--quality", "keyframe") == 0
    assert _cli(root, "approve", str(edit), "--shots", "1") == 0
    rows = shot_states(edit, load_production(root))
    assert [(r["final"], r["approval"][:8]) for r in rows] == [
        ("keyframe", "approved"), ("keyframe", "")]
    board = tmp_path / "board.html"
    assert _cli(root, "storyboard", str(edit), "-o", str(board)) == 0
    page = board.read_text()
    first = page[page.index('id="shot-1"') - 40:page.index('id="shot-2"')]
    second = page[page.index('id="shot-2"') - 40:]
    assert 'class="panel approved"' in first and "APPROVED keyframe · seed 42" in first
    assert 'data-keyframe="pending"' in second and "keyframe · not approved" in second
    assert "final keyframe" in first  # the final badge says keyframe
    still = np.asarray(Image.open(tmp_path / "board_files" / "001-b-1-keyframe.jpg"))
    png = np.asarray(Image.open(_keyframe_png(edit, 0)).convert("RGB"))
    assert still.shape == png.shape and np.abs(still.astype(int) - png).mean() < 8
    sheet = tmp_path / "sheet.pdf"
    assert _cli(root, "storyboard", str(edit), "-o", str(sheet)) == 0
    assert sheet.read_bytes().startswith(b"%PDF")
    from render_engine.review.contact_sheet import picture
    from render_engine.review.shots import collect

    review = collect(read_timeline(edit), load_production(root))
    pictures = [np.asarray(picture(shot, 400, 240, review.production))
                for shot in review.shots]
    band = [p[-4, 2:40].reshape(-1, 3).mean(axis=0) for p in pictures]  # the label's band
    assert band[0][1] > band[0][0] + 40 and band[0][1] > band[0][2] + 40  # green: approved
    assert band[1].max() < 60  # dark band: a keyframe not approved yet
