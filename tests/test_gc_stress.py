"""`render` and `gc --delete --grace 0` racing for about a minute on an edit outside
`timelines/`: gc deletes what no edit uses any more, and no linked media ever goes missing
(the render lock keeps gc out while a render's new or re-used renders are in no edit yet)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import opentimelineio as otio

from render_engine.spec import NAMESPACE
from render_engine.timeline_io import read_timeline, write_timeline
from tests.conftest import REPO, make_clip, make_timeline, spec_dict

CLI = "import sys; from render_engine.cli import main; sys.exit(main(sys.argv[1:]))"
RACE_SECONDS = 45.0


def _soloreel(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLI, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})


def _missing(edit: Path) -> list[str]:
    """Every media reference of every clip (active or not) whose file is gone."""
    gone = []
    for clip in read_timeline(edit).find_clips():
        if not isinstance(clip.media_reference, otio.schema.ExternalReference):
            gone.append(f"{clip.name}: nothing linked")
        for key, reference in clip.media_references().items():
            path = Path(unquote(urlparse(getattr(reference, "target_url", "")).path))
            if not path.is_file():
                gone.append(f"{clip.name}:{key} {path}")
    return gone


def _reseed(edit: Path, seed: int) -> None:
    """The editor asks for new takes of every shot: the next render is new content, and the
    renders the edit linked so far are referenced by no edit (gc may delete them)."""
    timeline = read_timeline(edit)
    for clip in timeline.find_clips():
        meta = dict(clip.metadata[NAMESPACE])
        meta["seed"] = seed
        clip.metadata[NAMESPACE] = meta
    write_timeline(timeline, edit)


def test_render_and_gc_delete_race_without_losing_linked_media(tiny_production: Path,
                                                              tmp_path: Path) -> None:
    # the cut arrives from outside (an NLE export) and is rendered into the production as
    # ep.otio (outside timelines/, as `script2edit … -o ep.otio` places it): while a render
    # runs, the edit on disk does not reference its new renders yet
    incoming = tmp_path / "from_the_nle.otio"
    edit = tiny_production / "ep.otio"
    clips = [make_clip(spec_dict(f"s-{i}", dialog=[]), f"SHOT {i}", 8) for i in (1, 2, 3)]
    write_timeline(make_timeline(clips), incoming)
    write_timeline(make_timeline(clips), edit)  # not rendered yet
    stop = threading.Event()
    gc_runs = {"removed": 0, "refused": 0, "ran": 0, "errors": []}

    def collect_garbage() -> None:
        while not stop.is_set():
            done = _soloreel("gc", str(tiny_production), "--delete", "--grace", "0")
            gc_runs["ran"] += 1
            if done.returncode == 0:
                gc_runs["removed"] += sum(line.startswith("removing renders/")
                                          for line in done.stdout.splitlines())
            elif "a render is running" in done.stderr:
                gc_runs["refused"] += 1
            else:
                gc_runs["errors"].append(done.stderr)

    collector = threading.Thread(target=collect_garbage, daemon=True)
    collector.start()
    renders, missing = 0, []
    started = time.monotonic()
    try:
        while time.monotonic() - started < RACE_SECONDS:
            _reseed(incoming, renders % 3)  # old takes come back: cached or gc'd meanwhile
            done = _soloreel("-q", "render", str(incoming), "-o", str(edit), "--production",
                             str(tiny_production))
            assert done.returncode == 0, done.stderr
            renders += 1
            missing += _missing(edit)
            time.sleep(0.2)  # a window for gc between renders
    finally:
        stop.set()
        collector.join(timeout=120)
    missing += _missing(edit)
    assert missing == [], missing
    assert gc_runs["errors"] == [], gc_runs["errors"]
    assert renders >= 3 and gc_runs["ran"] >= 3, (renders, gc_runs)
    assert gc_runs["removed"] > 0, gc_runs  # gc did delete the takes no edit used any more
