"""A split piece dragged past its parent render's handles renders only the missing frames
(issue 19): the new render is the parent's packets plus the missing segment, on the parent's
camera-move clock, cached under the parent's content hash like any render."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
import pytest
import tomli_w

import render_engine.render as render_module
from render_engine.cache import RenderCache
from render_engine.cli import main
from render_engine.nle.identity import media_path
from render_engine.placeholder import _Shot
from render_engine.proxy.shot import ShotFrames
from render_engine.spec import read_spec
from render_engine.tiers import placeholder, proxy
from render_engine.timeline_io import write_timeline
from tests.conftest import REPO, make_clip, make_timeline, spec_dict
from tests.nle_fixtures import (
    RT,
    TR,
    our_plugins,  # noqa: F401 - fixture
    read_stripped,
)

pytestmark = pytest.mark.usefixtures("our_plugins")
HANDLES = 4  # the tiny production's
EXTRA = 10  # frames the second half reaches past the parent's render


def _edit(production: Path, tier: str, dialog: bool = False) -> Path:
    clips = [make_clip(spec_dict(f"s-{i}", seed=10 + i, **({} if dialog else {"dialog": []}),
                                 **({"camera": {"move": "push_in", "amount": 0.6}}
                                    if i == 2 else {})), f"SHOT {i}", 24) for i in (1, 2)]
    edit = production / "timelines" / "edit.otio"
    write_timeline(make_timeline(clips), edit)
    assert main(["-q", "render", str(edit), "--tier", tier, "--jobs", "1",
                 "--production", str(production)]) == 0
    return edit


def _split_and_extend(production: Path, edit: Path, tmp_path: Path, tier: str,
                      monkeypatch: pytest.MonkeyPatch, head: bool = False) -> Path:
    """Export, razor-split s-2 at its middle and drag the second half EXTRA frames past the
    render's tail handle (`head`: the first half EXTRA frames before its head handle), as an
    editor's FCP7 XML."""
    exported = tmp_path / "cut.xml"
    assert main(["-q", "export", str(edit), "--nle", "fcp7", "-o", str(exported), "--tier",
                 tier, "--production", str(production)]) == 0
    timeline = read_stripped(exported, monkeypatch)
    track = timeline.video_tracks()[0]
    s2 = track[1]
    start = s2.source_range.start_time
    first, second = s2.deepcopy(), s2.deepcopy()
    first.source_range = (TR(start - RT(EXTRA, 24), RT(12 + EXTRA, 24)) if head
                          else TR(start, RT(12, 24)))
    second.source_range = TR(start + RT(12, 24), RT(12 if head else 12 + EXTRA, 24))
    second.markers[:] = []
    track.remove(s2)
    track.append(first)
    track.append(second)
    back = tmp_path / "back.xml"
    otio.adapters.write_to_file(timeline, str(back), adapter_name="fcp_xml")
    return back


def _count_frames(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Frames composited (proxy) or painted (placeholder) one at a time, and whole renders."""
    counts = {"frames": 0, "whole": 0}
    frame, paint = ShotFrames.frame, _Shot.paint

    def counted_frame(self, index):
        counts["frames"] += 1
        return frame(self, index)

    def counted_paint(self, index):
        counts["frames"] += 1
        return paint(self, index)

    def counting(tier):
        real = {"placeholder": placeholder.render, "proxy": proxy.render}[tier]

        def render(job):
            counts["whole"] += 1
            return real(job)
        return render

    monkeypatch.setattr(ShotFrames, "frame", counted_frame)
    monkeypatch.setattr(_Shot, "paint", counted_paint)
    monkeypatch.setattr(render_module, "renderer_for", counting)
    return counts


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]


def _resolve_profile(production: Path) -> None:
    """DNxHR in .mov with PCM sound, at a size DNxHR takes (not the fallback)."""
    config = tomllib.loads((production / "soloreel.toml").read_text())
    config["encode"] = {"profile": "resolve"}
    for tier in ("placeholder", "proxy"):
        config["tiers"][tier] = {"width": 256, "height": 144}
    (production / "soloreel.toml").write_text(tomli_w.dumps(config))


@pytest.mark.parametrize(("tier", "profile", "dialog", "head"), [
    ("placeholder", "web", False, False), ("proxy", "web", False, False),
    ("placeholder", "web", True, False), ("proxy", "resolve", True, False),
    ("placeholder", "web", False, True), ("proxy", "web", True, True)])
def test_an_extended_piece_renders_only_its_missing_frames(
        tiny_production, tmp_path, monkeypatch, tier, profile, dialog, head) -> None:
    if profile == "resolve":
        _resolve_profile(tiny_production)
    edit = _edit(tiny_production, tier, dialog)
    parent_clip = otio.adapters.read_from_file(str(edit)).find_clips()[1]
    parent_clip.active_media_reference_key = tier
    parent_media = media_path(parent_clip)
    parent_range = parent_clip.media_reference.available_range
    base_first = round(parent_range.start_time.value)
    base_end = base_first + round(parent_range.duration.value)
    back = _split_and_extend(tiny_production, edit, tmp_path, tier, monkeypatch, head)

    counts = _count_frames(monkeypatch)
    master = tmp_path / "master.otio"
    assert main(["-q", "import", str(back), "-o", str(master), "--tier", tier,
                 "--production", str(tiny_production)]) == 0
    assert counts == {"frames": EXTRA, "whole": 0}  # the missing frames, nothing else

    clips = otio.adapters.read_from_file(str(master)).find_clips()
    assert [read_spec(c).shot.id for c in clips] == ["s-1", "s-2.1", "s-2.2"]
    piece = clips[1] if head else clips[2]
    piece.active_media_reference_key = tier
    joined = media_path(piece)
    first, end = (base_first - EXTRA, base_end) if head else (base_first, base_end + EXTRA)
    # content-addressed under the parent's hash, next to the parent's render
    assert joined.parent.parent == parent_media.parent.parent
    assert joined.parent.name == f"f{first}_{end}"
    manifest = json.loads((joined.parent / "manifest.json").read_text())
    assert manifest["frames_rendered"] == EXTRA and manifest["join"] == "copy"
    assert manifest["extended_from"] == [base_first, base_end]
    reference = piece.media_reference.available_range
    assert round(reference.start_time.value) == first
    assert round(reference.duration.value) == end - first

    old, new = _frames(parent_media), _frames(joined)
    assert len(new) == len(old) + EXTRA
    # the parent's frames are the parent's packets, decoded the same
    count, at = len(old), (EXTRA if head else len(old))
    kept = new[EXTRA:] if head else new[:count]
    assert all(np.array_equal(a, b) for a, b in zip(old, kept, strict=True))
    steps = [np.abs(old[i + 1] - old[i]).mean() for i in range(count - 1)]
    near = steps[:3] if head else steps[-3:]  # the parent's own steps next to the join
    join = np.abs(new[at] - new[at - 1]).mean()
    # no jump: the join steps no more than the parent's frames do, and next to the parent's
    # own neighbouring steps by no more than a fresh keyframe's coding noise (160x90, QP 20)
    assert join <= max(steps) and join <= max(near) + 2.5, (join, near)
    if dialog:  # the dialog is mixed again over the whole range, as long as the picture
        with av.open(str(joined)) as container:
            stream = container.streams.audio[0]
            samples = sum(f.samples for f in container.decode(stream))
        assert abs(samples / 48000 - len(new) / 24) < 2048 / 48000
        assert joined.suffix == (".mov" if profile == "resolve" else ".mp4")
    if tier == "proxy":  # the pose control movie and pose.json cover the whole range too
        assert len(_frames(joined.parent / "pose.mp4")) == count + EXTRA
        assert len(json.loads((joined.parent / "pose.json").read_text())) == count + EXTRA

    counts.update(frames=0, whole=0)  # cached like any render: nothing renders again
    assert main(["-q", "import", str(back), "-o", str(master), "--tier", tier,
                 "--production", str(tiny_production)]) == 0
    assert counts == {"frames": 0, "whole": 0}


def test_the_tail_continues_the_parents_move(tiny_production, tmp_path, monkeypatch) -> None:
    """The new frames are the frames a render of the parent with longer handles has."""
    edit = _edit(tiny_production, "proxy")
    back = _split_and_extend(tiny_production, edit, tmp_path, "proxy", monkeypatch)
    master = tmp_path / "master.otio"
    assert main(["-q", "import", str(back), "-o", str(master), "--tier", "proxy",
                 "--production", str(tiny_production)]) == 0
    second = otio.adapters.read_from_file(str(master)).find_clips()[2]
    second.active_media_reference_key = "proxy"
    joined = media_path(second)
    manifest = json.loads((joined.parent / "manifest.json").read_text())
    first, end = manifest["frames"]
    from render_engine.bible import load_production

    production = load_production(tiny_production)
    spec = read_spec(otio.adapters.read_from_file(str(edit)).find_clips()[1])
    settings = production.settings.tier("proxy")
    shot = ShotFrames(spec, production, settings.width, settings.height, 24, first,
                      tuple(manifest["move"]))
    new = _frames(joined)
    for index in (end - first - EXTRA, end - first - 1):
        expected = shot.frame(index).rgb.astype(np.int16)
        assert np.abs(new[index] - expected).mean() < 3.0  # encoding noise only


_DYING_IMPORT = """
import sys, time
from pathlib import Path
from render_engine.cli import main
from render_engine.placeholder import _Shot
paint = _Shot.paint
def slow(self, index):
    if index >= 32 + 3:  # three missing frames in: tell the test, then crawl
        Path(sys.argv[1]).write_text("go")
        time.sleep(0.5)
    return paint(self, index)
_Shot.paint = slow
sys.exit(main(["-q", "import", sys.argv[2], "-o", sys.argv[3], "--production", sys.argv[4]]))
"""


def test_a_killed_extension_leaves_no_entry(tiny_production, tmp_path, monkeypatch) -> None:
    """SIGKILL halfway through the missing frames: no entry, no file at the entry's place;
    the next import clears the staging and renders the extension."""
    edit = _edit(tiny_production, "placeholder")
    back = _split_and_extend(tiny_production, edit, tmp_path, "placeholder", monkeypatch)
    flag, master = tmp_path / "flag", tmp_path / "master.otio"
    child = subprocess.Popen([sys.executable, "-c", _DYING_IMPORT, str(flag), str(back),
                              str(master), str(tiny_production)], cwd=REPO)
    deadline = time.monotonic() + 120
    while not flag.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert flag.exists(), "the child never reached the missing frames"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    cache = RenderCache(tiny_production / "renders")
    hashes = [h.name for h in (tiny_production / "renders" / "placeholder").iterdir()
              if h.is_dir()]

    def extended() -> int:
        return sum(e.end - e.first == 32 + EXTRA
                   for h in hashes for e in cache.entries("placeholder", h))

    assert extended() == 0 and all(  # the parents' renders only
        e.end - e.first == 32 for h in hashes for e in cache.entries("placeholder", h))
    assert not list((tiny_production / "renders").glob("placeholder/*/f*_*/s-2.mp4.*"))
    assert not master.exists()
    assert main(["-q", "import", str(back), "-o", str(master), "--production",
                 str(tiny_production)]) == 0
    assert extended() == 1
    assert not list((tiny_production / "renders").glob("placeholder/*/.tmp-*"))


def test_dry_run_cells_say_what_an_extension_renders() -> None:
    """The import table prices an extension at its missing frames, and says why a final
    extension renders whole."""
    from render_engine.cli.nle_import import _tier_cell
    from render_engine.nle.extend import FINAL_WHOLE_REASON, Extension
    from render_engine.render import ShotPlan
    from render_engine.spec import ShotSpec
    from render_engine.timeline_io import ShotRef

    clip = make_clip(spec_dict("s-2.2", dialog=[]), "SHOT 2", 22)
    spec = ShotSpec.model_validate(spec_dict("s-2", dialog=[]))
    ref = ShotRef(number=3, clip=clip, track=otio.schema.Track(), record_start=RT(0, 24),
                  rate=24)
    plan = ShotPlan(ref=ref, tier="proxy", spec=spec, first=86396, end=86438,
                    extra={"extension": Extension((86396, 86428), (86400, 86424), 86396,
                                                  86438)})
    assert _tier_cell(plan, False, "proxy") == ("renders 10 missing frames of s-2", 10)
    final = ShotPlan(ref=ref, tier="final", spec=spec, first=86404, end=86434,
                     extra={"extends": FINAL_WHOLE_REASON})
    text, frames = _tier_cell(final, True, "final")
    assert text.startswith("queued: render 30 fr whole (final renders whole") and frames == 30
