"""Rendering and linking: only what changed renders, tiers side by side, safe under kill/race."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import opentimelineio as otio
import pytest

import render_engine.render as render_module
from render_engine.bible import load_production
from render_engine.cache import RenderCache
from render_engine.cli import main
from render_engine.media.encode import probe
from render_engine.spec import NAMESPACE
from render_engine.tiers import placeholder
from render_engine.timeline_io import read_timeline, write_timeline
from tests.conftest import REPO, make_clip, make_timeline, spec_dict


def _edit(production: Path, shots: int = 3, frames: int = 24) -> Path:
    clips = [make_clip(spec_dict(f"s-{i}", dialog=[]), f"SHOT {i}", frames)
             for i in range(1, shots + 1)]
    clips[0] = make_clip(spec_dict("s-1"), "SHOT 1", frames)  # one shot with dialog audio
    path = production / "timelines" / "edit.otio"
    write_timeline(make_timeline(clips), path)
    return path


class RenderCounter:
    """Counts renderer calls in this process (wraps the real placeholder renderer)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.calls: list[str] = []
        monkeypatch.setattr(render_module, "renderer_for", lambda tier: self._render)

    def _render(self, job):
        self.calls.append(f"{job.tier}:{job.spec.shot.id}")
        return placeholder.render(job)


def _render(edit: Path, production: Path, *extra: str) -> int:
    return main(["-q", "render", str(edit), "--production", str(production), *extra])


def test_relinking_an_unchanged_timeline_renders_nothing(tiny_production, monkeypatch) -> None:
    counter = RenderCounter(monkeypatch)
    edit = _edit(tiny_production)
    assert _render(edit, tiny_production) == 0
    assert sorted(counter.calls) == ["placeholder:s-1", "placeholder:s-2", "placeholder:s-3"]
    first = {c.name: c.media_reference.target_url for c in read_timeline(edit).find_clips()}
    assert _render(edit, tiny_production) == 0
    assert len(counter.calls) == 3
    again = {c.name: c.media_reference.target_url for c in read_timeline(edit).find_clips()}
    assert again == first


def test_changing_one_dialog_rerenders_exactly_that_shot(tiny_production, monkeypatch) -> None:
    counter = RenderCounter(monkeypatch)
    edit = _edit(tiny_production)
    _render(edit, tiny_production)
    timeline = read_timeline(edit)
    clip = timeline.find_clips()[1]
    meta = dict(clip.metadata[NAMESPACE])
    meta["dialog"] = [{"speaker": "jane", "text": "A new line for shot two."}]
    clip.metadata[NAMESPACE] = meta
    clip.name = "renamed too"  # cosmetic: changes nothing by itself
    write_timeline(timeline, edit)
    counter.calls.clear()
    assert _render(edit, tiny_production) == 0
    assert counter.calls == ["placeholder:s-2"]


def test_trims_inside_handles_reuse_and_beyond_rerender_only_that_shot(
        tiny_production, monkeypatch) -> None:
    counter = RenderCounter(monkeypatch)
    edit = _edit(tiny_production)  # handles = 4 frames in the tiny production
    _render(edit, tiny_production)
    timeline = read_timeline(edit)
    clip = timeline.find_clips()[0]
    before = clip.media_reference.target_url
    sr = clip.source_range
    clip.source_range = otio.opentime.TimeRange(
        sr.start_time - otio.opentime.RationalTime(3, 24),
        sr.duration + otio.opentime.RationalTime(6, 24))  # 3 frames into each handle
    write_timeline(timeline, edit)
    counter.calls.clear()
    _render(edit, tiny_production)
    assert counter.calls == []
    linked = read_timeline(edit).find_clips()[0]
    assert linked.media_reference.target_url == before
    assert linked.media_reference.available_range.contains(linked.source_range)

    timeline = read_timeline(edit)
    clip = timeline.find_clips()[0]
    clip.source_range = otio.opentime.TimeRange(
        clip.source_range.start_time, clip.source_range.duration + otio.opentime.RationalTime(
            10, 24))  # past the tail handle
    write_timeline(timeline, edit)
    _render(edit, tiny_production)
    assert counter.calls == ["placeholder:s-1"]
    linked = read_timeline(edit).find_clips()[0]
    assert linked.media_reference.available_range.contains(linked.source_range)
    assert linked.media_reference.target_url != before


def test_tiers_side_by_side_and_switch_changes_only_the_active_key(
        tiny_production, monkeypatch) -> None:
    RenderCounter(monkeypatch)  # lets the "proxy" tier render with the placeholder painter
    edit = _edit(tiny_production, shots=2)
    _render(edit, tiny_production, "--tier", "placeholder", "--shots", "1-2")
    _render(edit, tiny_production, "--tier", "proxy", "--shots", "1")
    timeline = read_timeline(edit)
    first, second = timeline.find_clips()
    assert set(first.media_references()) == {"placeholder", "proxy"}
    assert first.active_media_reference_key == "proxy"
    assert set(second.media_references()) == {"placeholder"}
    before = otio.adapters.write_to_string(timeline, "otio_json")

    out = tiny_production / "timelines" / "switched.otio"
    assert main(["switch", str(edit), "--tier", "placeholder", "-o", str(out)]) == 0
    after = otio.adapters.write_to_string(read_timeline(out), "otio_json")
    assert after.count('"active_media_reference_key": "placeholder"') == 2
    assert after.replace('"active_media_reference_key": "placeholder"', "X") == before.replace(
        '"active_media_reference_key": "proxy"', "X").replace(
        '"active_media_reference_key": "placeholder"', "X")
    assert main(["switch", str(edit), "--tier", "proxy", "-o", str(out)]) == 1  # shot 2 lacks it


def test_linked_timeline_round_trips_with_true_ranges(tiny_production) -> None:
    edit = _edit(tiny_production)
    assert _render(edit, tiny_production) == 0
    text = otio.adapters.write_to_string(read_timeline(edit), "otio_json")
    timeline = otio.adapters.read_from_string(text, "otio_json")
    fps = 24
    for clip in timeline.find_clips():
        reference = clip.media_reference
        path = Path(reference.target_url.removeprefix("file://"))
        assert path.is_file()
        info = probe(path)
        assert info.frame_count == reference.available_range.duration.value
        assert info.frame_count == clip.source_range.duration.value + 2 * 4  # handles
        assert reference.available_range.contains(clip.source_range)
        assert info.fps == fps and (info.width, info.height) == (160, 90)
    with_audio = probe(Path(timeline.find_clips()[0].media_reference.target_url[7:]))
    assert with_audio.audio_codec == "aac"
    assert abs(with_audio.audio_duration - with_audio.duration) < 0.03


def test_a_failing_shot_gets_an_error_slate_and_the_rest_render(tiny_production, capsys) -> None:
    edit = _edit(tiny_production)
    timeline = read_timeline(edit)
    bad = dict(timeline.find_clips()[1].metadata[NAMESPACE])
    bad["plate"] = "sets/yard/broken.png"
    (tiny_production / "sets" / "yard" / "broken.png").write_bytes(b"not a png at all")
    timeline.find_clips()[1].metadata[NAMESPACE] = bad
    write_timeline(timeline, edit)
    assert _render(edit, tiny_production) == 1
    err = capsys.readouterr()
    assert 'shot 2 "SHOT 2"' in err.out + err.err
    clips = read_timeline(edit).find_clips()
    assert "/errors/placeholder/" in clips[1].media_reference.target_url
    assert clips[1].media_reference.metadata[NAMESPACE]["error"]
    assert "/errors/" not in clips[0].media_reference.target_url
    assert "/errors/" not in clips[2].media_reference.target_url
    cache = RenderCache(tiny_production / "renders")
    assert len(list(cache.all_entries())) == 2  # the failure is not cached


def _worker(log: Path, delay: float, edit: Path, production: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.render_worker", str(log), str(delay), "--", "-q",
         "render", str(edit), "--production", str(production)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_sigkill_mid_render_leaves_nothing_complete_and_resume_finishes(tiny_production) -> None:
    edit = _edit(tiny_production, shots=4, frames=24)
    log = tiny_production / "renders.log"
    worker = _worker(log, 0.02, edit, tiny_production)
    deadline = time.time() + 60
    while time.time() < deadline:  # wait until shot 2 or later is mid-render
        if log.exists() and len(log.read_text().splitlines()) >= 2:
            break
        time.sleep(0.02)
    time.sleep(0.15)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    cache = RenderCache(tiny_production / "renders")
    complete = list(cache.all_entries())
    started = len(log.read_text().splitlines())
    assert len(complete) < 4 and started >= 2
    for entry in complete:  # everything that looks complete is complete
        assert probe(entry.media).frame_count == entry.end - entry.first
    assert list((tiny_production / "renders").glob("*/*/.tmp-*")), "killed render left staging"

    log.write_text("")
    resumed = _worker(log, 0.0, edit, tiny_production)
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read().decode()
    redone = {line.split()[1] for line in log.read_text().splitlines()}
    done_before = {e.manifest["shot_id"] for e in complete}
    assert redone == {"s-1", "s-2", "s-3", "s-4"} - done_before
    assert len(list(cache.all_entries())) == 4
    assert main(["gc", str(tiny_production)]) == 0  # dry run lists the abandoned staging
    assert main(["gc", str(tiny_production), "--delete"]) == 0
    assert not list((tiny_production / "renders").glob("*/*/.tmp-*"))
    assert len(list(cache.all_entries())) == 4  # referenced renders are kept


def test_two_concurrent_renders_render_each_shot_once(tiny_production) -> None:
    edit = _edit(tiny_production, shots=4, frames=16)
    log = tiny_production / "renders.log"
    workers = [_worker(log, 0.01, edit, tiny_production) for _ in range(2)]
    for worker in workers:
        assert worker.wait(timeout=180) == 0, worker.stderr.read().decode()
    shots = sorted(line.split()[1] for line in log.read_text().splitlines())
    assert shots == ["s-1", "s-2", "s-3", "s-4"]


def test_media_linker_through_otioconvert(tiny_production) -> None:
    edit = _edit(tiny_production, shots=2)
    foreign = read_timeline(edit)
    foreign.tracks[0].append(make_clip(None, "not ours"))
    write_timeline(foreign, edit)
    linked = tiny_production / "linked.otio"
    otioconvert = Path(sys.executable).parent / "otioconvert"
    subprocess.run([str(otioconvert), "-i", str(edit), "-o", str(linked), "-m", "soloreel",
                    "-M", "tier=placeholder", "-M", f"production={tiny_production}"],
                   check=True, env={**os.environ})
    clips = otio.adapters.read_from_file(str(linked)).find_clips()
    assert all(c.active_media_reference_key == "placeholder" for c in clips[:2])
    assert all(Path(c.media_reference.target_url[7:]).is_file() for c in clips[:2])
    assert isinstance(clips[2].media_reference, otio.schema.MissingReference)
    assert list(clips[2].media_references()) == ["DEFAULT_MEDIA"]


def test_dry_run_lists_cached_and_estimates(tiny_production, capsys) -> None:
    edit = _edit(tiny_production, shots=2)
    _render(edit, tiny_production, "--shots", "1")
    capsys.readouterr()
    assert main(["render", str(edit), "--production", str(tiny_production), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "cached" in out and "render" in out and "past render" in out
    assert main(["status", str(edit), "--production", str(tiny_production)]) == 0
    status = capsys.readouterr().out
    assert "fresh" in status and "missing" in status


def test_production_used_from_subfolder_default(tiny_production) -> None:
    production = load_production(tiny_production)
    assert production.settings.production.handles == 4


def test_tables_piped_to_a_file_keep_their_columns(demo_production, capsys,
                                                   monkeypatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert main(["plan", str(demo_production / "timelines" / "campfire.otio")]) == 0
    out = capsys.readouterr().out
    assert "s01-001" in out and "placeholder" in out and "…" not in out
    monkeypatch.setenv("COLUMNS", "80")  # an explicit width is obeyed
    assert main(["plan", str(demo_production / "timelines" / "campfire.otio")]) == 0
    assert "…" in capsys.readouterr().out
