"""Same hash, same bytes: the demo's proxy animatic (pictures, pose control, dialog) rendered
cold in two shot orders, and rendered through SIGKILLs and resumed, gives byte-identical media
in every cache entry."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import tomli_w

from render_engine.cache import RenderCache
from render_engine.timeline_io import read_timeline, write_timeline
from tests.conftest import REPO

CLI = "import sys; from render_engine.cli import main; sys.exit(main(sys.argv[1:]))"


def _small_demo(demo_production: Path, dest: Path) -> Path:
    """A copy of the demo production rendering its proxy at 320x180 (same pixels logic)."""
    import tomllib

    shutil.copytree(demo_production, dest)
    settings = tomllib.loads((dest / "soloreel.toml").read_text())
    settings["tiers"]["proxy"].update({"width": 320, "height": 180})
    (dest / "soloreel.toml").write_text(tomli_w.dumps(settings))
    shutil.rmtree(dest / "renders", ignore_errors=True)
    return dest


def _render(production: Path, edit: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CLI, "-q", "render", str(edit), "--tier", "proxy",
         "--production", str(production)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _media(production: Path) -> dict[str, dict[str, bytes]]:
    """Every complete proxy entry's files (all but the manifest, which records timings)."""
    found = {}
    renders = production / "renders"
    for entry in RenderCache(renders).all_entries():
        files = sorted(p for p in entry.folder.iterdir()
                       if p.is_file() and p.name != "manifest.json")
        found[str(entry.folder.relative_to(renders))] = {p.name: p.read_bytes() for p in files}
    return found


def test_two_orders_and_a_killed_render_give_the_same_bytes(demo_production: Path,
                                                            tmp_path: Path) -> None:
    clean = _small_demo(demo_production, tmp_path / "clean")
    edit = clean / "timelines" / "campfire.otio"
    done = _render(clean, edit)
    assert done.wait(timeout=600) == 0, done.stderr.read().decode()
    reference = _media(clean)
    assert len(reference) == len(read_timeline(edit).video_tracks()[0].find_clips())

    reordered = _small_demo(demo_production, tmp_path / "reordered")
    timeline = read_timeline(reordered / "timelines" / "campfire.otio")
    track = timeline.video_tracks()[0]
    clips = list(track)
    track.clear()  # the same shots, cut in the opposite order
    for clip in reversed(clips):
        track.append(clip)
    reversed_edit = reordered / "timelines" / "reversed.otio"
    write_timeline(timeline, reversed_edit)
    done = _render(reordered, reversed_edit)
    assert done.wait(timeout=600) == 0, done.stderr.read().decode()
    assert _media(reordered) == reference

    killed = _small_demo(demo_production, tmp_path / "killed")
    killed_edit = killed / "timelines" / "campfire.otio"
    chance = random.Random(15)
    for _ in range(3):
        worker = _render(killed, killed_edit)
        time.sleep(chance.uniform(1.0, 4.0))
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    done = _render(killed, killed_edit)
    assert done.wait(timeout=600) == 0, done.stderr.read().decode()
    assert _media(killed) == reference
