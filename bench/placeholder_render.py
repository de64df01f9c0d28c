"""Placeholders at feature scale, from a generated ~120-scene screenplay (`bench.screenplay`)
blocked out by `script2edit --stubs` (stub cast, stand-in plates):

1. a 100-shot edit (the film's first 100 shots, dialog spoken beforehand: speech is not the
   placeholder's cost) rendered and linked from a cold cache by the render pool (one worker
   process per core, as `soloreel render` does), in frames per second counting handles,
   printed beside the encode-only figure measured in the same run with as many processes: the
   same movies (frame counts, sizes, dialog audio, one file per shot) made of one still picture
   each, through the placeholder's writer, i.e. the encoder's own floor with nothing to draw;
   and through the writer as placeholders used it before (every frame converted whole, the web
   profile's CRF settings) for comparison;
2. the whole film's placeholders from a cold cache, end to end: speaking every line (TTS,
   cached per line) and rendering every shot, against the 3-minute target.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import resource
import shutil
import tempfile
import time
from pathlib import Path

import opentimelineio as otio
import tomli_w

from bench.screenplay import write_feature_script
from render_engine.audio.dialog import RATE, mix_dialog, spoken_lines
from render_engine.bible import Production, load_production
from render_engine.cache import RenderCache
from render_engine.media.encode import VideoWriter
from render_engine.placeholder import render_placeholder_frames
from render_engine.render import ShotPlan, plan_shot
from render_engine.render_pool import default_jobs, link_plans
from render_engine.timeline_io import iter_shots, read_timeline, write_timeline

FEATURE_MINUTES_TARGET = 3.0
FPS_TARGET = 2000
JOBS = default_jobs("placeholder")
"""Worker processes, as `soloreel render` uses them (one per core, or $SOLOREEL_JOBS)."""


def make_feature(root: Path, scenes: int) -> tuple[Path, float]:
    """A production with a generated screenplay blocked out into `timelines/feature.otio`
    (script2edit --stubs: cast and set stubs, stand-in plates); (the edit, seconds taken)."""
    from render_engine.cli import main as soloreel

    (root / "timelines").mkdir(parents=True)
    (root / "soloreel.toml").write_text(tomli_w.dumps(
        {"production": {"name": "feature", "fps": 24, "handles": 12}}))
    script = write_feature_script(root / "scripts" / "feature.fountain", scenes)
    edit = root / "timelines" / "feature.otio"
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        soloreel(["-q", "script2edit", str(script), "-p", str(root), "--stubs", "-o", str(edit)])
    seconds = time.perf_counter() - started
    if not edit.is_file():
        raise RuntimeError("script2edit wrote no edit")
    return edit, seconds


def first_shots(edit: Path, count: int) -> Path:
    """A copy of the edit holding only its first `count` shots (video track V1)."""
    timeline = read_timeline(edit)
    track = timeline.video_tracks()[0]
    clips = [item for item in track if isinstance(item, otio.schema.Clip)][:count]
    short = otio.schema.Timeline(name=f"first {count}",
                                 global_start_time=timeline.global_start_time)
    short_track = otio.schema.Track(name=track.name)
    short.tracks.append(short_track)
    for clip in clips:
        short_track.append(clip.deepcopy())
    path = edit.with_name(f"first{count}.otio")
    write_timeline(short, path)
    return path


def _plans(edit: Path, production: Production) -> tuple[RenderCache, list[ShotPlan]]:
    cache = RenderCache(production.renders_dir())
    refs = [ref for ref in iter_shots(read_timeline(edit)) if ref.has_spec]
    return cache, [plan_shot(ref, production, cache, "placeholder") for ref in refs]


def speak(plans: list[ShotPlan], production: Production) -> tuple[float, int]:
    """Speak every line of the plans (cached); (seconds, lines)."""
    started = time.perf_counter()
    lines = sum(len(spoken_lines(p.spec, production, p.ref.label)) for p in plans if p.spec)
    return time.perf_counter() - started, lines


def render_all(edit: Path, root: Path) -> tuple[float, int, float]:
    """Plan, render and link every shot's placeholder from a cold cache; (seconds, frames
    rendered counting handles, CPU seconds of this process and its threads)."""
    shutil.rmtree(root / "renders" / "placeholder", ignore_errors=True)
    production = load_production(root)
    cache, plans = _plans(edit, production)
    before = _cpu_seconds()
    started = time.perf_counter()
    link_plans(plans, production, cache, JOBS, progress=lambda _n: None)
    seconds = time.perf_counter() - started
    frames = 0
    for plan in plans:
        if plan.error or plan.problem or plan.result is None:
            raise RuntimeError(plan.error or plan.problem or "nothing rendered")
        frames += plan.frames
    return seconds, frames, _cpu_seconds() - before


def _cpu_seconds() -> float:
    """CPU seconds of this process, its threads and its finished worker processes."""
    mine = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + workers.ru_utime + workers.ru_stime


def encode_only(edit: Path, root: Path, out: Path, before: bool) -> tuple[float, int]:
    """Seconds to write the edit's placeholder movies (same frame counts, size, dialog audio,
    one file each) of one still picture per shot, nothing drawn in the timing: through the
    placeholder's writer (still-picture settings, unchanged frames not converted again), or
    `before`: every frame converted whole and encoded with the profile's usual settings."""
    production = load_production(root)
    _cache, plans = _plans(edit, production)
    tier = production.settings.tier("placeholder")
    fps = production.settings.production.fps
    profile = production.settings.encode.profile
    jobs = []
    for plan in plans:
        assert plan.spec is not None
        first = plan.first / fps - plan.spec.shot.origin
        lines = spoken_lines(plan.spec, production, plan.ref.label)
        audio = (mix_dialog(lines, first, plan.frames / fps), RATE) if lines else None
        picture = next(render_placeholder_frames(plan.spec, production, tier.width,
                                                 tier.height, 1, fps, plan.ref.label))
        jobs.append((plan.frames, audio, picture))
    _MOVIES[:] = [(out.with_name(f"{out.stem}{index}{out.suffix}"), tier.width, tier.height,
                   fps, profile, before, *job) for index, job in enumerate(jobs)]
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(JOBS) as pool:  # as the render pool does
        pool.map(_encode_movie, range(len(_MOVIES)), chunksize=1)
    return time.perf_counter() - started, sum(frames for frames, _a, _p in jobs)


_MOVIES: list[tuple] = []
"""The encode-only movies (path, size, rate, profile, before, frames, audio, picture), for
the forked workers."""


def _encode_movie(index: int) -> None:
    path, width, height, fps, profile, before, frames, audio, picture = _MOVIES[index]
    with VideoWriter(path, width, height, fps, profile=profile, audio=audio,
                     still=not before, frames=None if before else frames) as writer:
        for frame in range(frames):
            writer.write(picture, changed=None if before or frame == 0 else [])


def main(quick: bool = False) -> None:
    """Print the 100-shot figures beside encode-only, then the feature end to end."""
    scenes, short = (12, 20) if quick else (120, 100)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "feature"
        edit, blocking = make_feature(root, scenes)
        production = load_production(root)
        _cache, plans = _plans(edit, production)
        tier = production.settings.tier("placeholder")
        total = sum(p.frames for p in plans)
        print(f"placeholders: a generated {scenes}-scene screenplay, {len(plans)} shots, "
              f"{total} frames with handles ({total / 24 / 60:.0f} min at 24 fps), "
              f"{tier.width}x{tier.height}, {production.settings.encode.profile} profile, "
              f"{JOBS} worker process(es); script2edit --stubs {blocking:.1f} s")

        head = first_shots(edit, short)
        speak(_plans(head, production)[1], production)
        seconds, frames, cpu = render_all(head, root)
        still, _n = encode_only(head, root, Path(tmp) / "still.mp4", before=False)
        whole, _n = encode_only(head, root, Path(tmp) / "whole.mp4", before=True)
        again, _frames, _cpu = render_all(head, root)  # interleaved: a busy moment shows
        best = min(seconds, again)
        print(f"  {short}-shot edit: {frames} frames rendered + encoded + linked in {best:.1f} s "
              f"= {frames / best:.0f} frames/s (target {FPS_TARGET}; runs {seconds:.1f} s, "
              f"{again:.1f} s; {cpu / frames * 1000:.2f} ms CPU a frame)")
        print(f"    encode-only, same movies of one still picture each: {still:.1f} s = "
              f"{frames / still:.0f} frames/s with the placeholder's writer; {whole:.1f} s = "
              f"{frames / whole:.0f} frames/s converting every frame whole with the profile's "
              f"usual settings (as placeholders were encoded before); placeholders / "
              f"encode-only = {best / still:.2f}")

        shutil.rmtree(root / "renders" / "audio", ignore_errors=True)
        spoken, lines = speak(plans, production)
        seconds, frames, cpu = render_all(edit, root)
        end_to_end = spoken + seconds
        verdict = "under" if end_to_end < FEATURE_MINUTES_TARGET * 60 else "over"
        print(f"  the whole film: speaking {lines} lines {spoken:.1f} s + placeholders "
              f"{seconds:.1f} s ({frames / seconds:.0f} frames/s, {cpu / frames * 1000:.2f} ms "
              f"CPU a frame) = {end_to_end:.1f} s, {verdict} the {FEATURE_MINUTES_TARGET:g}-"
              f"minute target ({blocking:.1f} s more for script2edit)")


if __name__ == "__main__":
    main()

