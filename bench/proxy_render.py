"""Proxy tier on the demo scene: real-time factor at 640x360 and 1280x720 in one process and
the way `soloreel render` renders (one shot per core, `render_pool.link_plans`), the ratio to
an encode-only bound (the same frames through the same encoder, same run), and the peak memory
of a 10x longer shot against a short one (each in its own process)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tomli_w

from render_engine.audio.dialog import spoken_lines
from render_engine.bible import Production, load_production
from render_engine.cache import RenderCache
from render_engine.demo.production import EDIT_FILE, build_demo
from render_engine.media.encode import VideoWriter
from render_engine.render import link_plan, plan_shot
from render_engine.render_pool import default_jobs, link_plans
from render_engine.timeline_io import iter_shots, read_timeline

SIZES = ((640, 360), (1280, 720))
REPEATS = 5


def _resize_proxy(root: Path, width: int, height: int) -> None:
    import tomllib

    settings = tomllib.loads((root / "soloreel.toml").read_text())
    settings["tiers"]["proxy"] = {"width": width, "height": height}
    (root / "soloreel.toml").write_text(tomli_w.dumps(settings))
    shutil.rmtree(root / "renders" / "proxy", ignore_errors=True)


def _demo_plans(root: Path, shots: int | None) -> tuple[Production, RenderCache, list]:
    """The demo production, its cache and the proxy plans of its first `shots` shots."""
    production = load_production(root)
    cache = RenderCache(production.renders_dir())
    refs = [r for r in iter_shots(read_timeline(root / EDIT_FILE)) if r.has_spec][:shots]
    return production, cache, [plan_shot(ref, production, cache, "proxy") for ref in refs]


COMPOSITING_STAGES = ("camera", "plate", "characters", "composite", "poses")


def render_edit(root: Path, shots: int | None = None
                ) -> tuple[float, int, dict[str, float]]:
    """Render the demo edit's proxies; (seconds, frames rendered incl. handles, the renders'
    stage seconds summed over shots)."""
    production, cache, plans = _demo_plans(root, shots)
    for plan in plans:  # speak the dialog first: TTS is not the compositor's cost
        spoken_lines(plan.spec, production, plan.ref.label)
    started = time.perf_counter()
    stages: dict[str, float] = {}
    for plan in plans:
        link_plan(plan, production, cache, render=True)
        if plan.error or plan.problem or plan.result is None:
            raise RuntimeError(plan.error or plan.problem or "no render")
        for stage, seconds in plan.result.manifest["stage_seconds"].items():
            stages[stage] = stages.get(stage, 0.0) + seconds
    return time.perf_counter() - started, sum(p.frames for p in plans), stages


def render_edit_pooled(root: Path, shots: int | None = None) -> tuple[float, int, int]:
    """Render the demo edit's proxies as `soloreel render` does: missing shots on one worker
    process per usable core (`render_pool.link_plans`, `default_jobs`); (seconds, frames
    rendered incl. handles, worker processes). Renders already cached are cleared first so
    every shot renders; the dialog is spoken beforehand, as in `render_edit`."""
    shutil.rmtree(root / "renders" / "proxy", ignore_errors=True)
    production, cache, plans = _demo_plans(root, shots)
    for plan in plans:
        spoken_lines(plan.spec, production, plan.ref.label)
    jobs = default_jobs("proxy")
    started = time.perf_counter()
    link_plans(plans, production, cache, jobs, progress=lambda _frames: None)
    seconds = time.perf_counter() - started
    failed = [p for p in plans if p.error or p.problem or p.result is None]
    if failed:
        raise RuntimeError(failed[0].error or failed[0].problem or "no render")
    return seconds, sum(p.frames for p in plans), jobs


def composite_only(root: Path, shots: int | None = None) -> tuple[float, float]:
    """Seconds to make every frame of the demo edit's proxies without encoding anything:
    (pictures: camera, plate, cut-outs, light, occlusion; pose keypoints for the control
    video)."""
    from render_engine.proxy.shot import ShotFrames

    production, _cache, plans = _demo_plans(root, shots)
    tier = production.settings.tier("proxy")
    width, height = tier.width, tier.height
    fps = production.settings.production.fps
    pictures = poses = 0.0
    for plan in plans:
        lines = spoken_lines(plan.spec, production, plan.ref.label)
        started = time.perf_counter()
        frames = ShotFrames(plan.spec, production, width, height, fps, plan.first, plan.shown,
                            lines)
        for index in range(plan.frames):
            frames.frame(index)
        total = time.perf_counter() - started
        pose = frames.times.seconds.get("poses", 0.0)
        pictures += total - pose
        poses += pose
    return pictures, poses


def encode_only(frames: int, width: int, height: int, fps: float, out: Path,
                profile: str = "web", blank: bool = False) -> float:
    """Seconds to push `frames` varied frames through a profile's encoder (`blank`: mostly
    black frames, like a pose control video)."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    base = (base // 4 + 40).astype(np.uint8)
    if blank:  # black with thin coloured strokes, like skeletons
        strokes = base.copy()
        base[:] = 0
        base[::29] = strokes[::29]
        base[:, ::31] = strokes[:, ::31]
    started = time.perf_counter()
    with VideoWriter(out, width, height, fps, profile=profile) as writer:
        for index in range(frames):
            writer.write(np.roll(base, index * 3, axis=1))
    return time.perf_counter() - started


MEMORY_CHILD = r"""
import json, resource, sys
from pathlib import Path
import opentimelineio as otio
from render_engine.audio.dialog import spoken_lines
from render_engine.bible import Production, load_production
from render_engine.cache import RenderCache
from render_engine.render import plan_shot, link_plan
from render_engine.timeline_io import iter_shots, read_timeline
root, frames = Path(sys.argv[1]), int(sys.argv[2])
timeline = read_timeline(root / "timelines" / "campfire.otio")
ref = [r for r in iter_shots(timeline) if r.has_spec][0]
ref.clip.source_range = otio.opentime.TimeRange(ref.clip.source_range.start_time,
                                                otio.opentime.RationalTime(frames, 24))
production = load_production(root)
plan = link_plan(plan_shot(ref, production, RenderCache(production.renders_dir()), "proxy"),
                 production, RenderCache(production.renders_dir()), render=True)
assert plan.result is not None, plan.error
print(json.dumps({"peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def peak_memory(root: Path, frames: int) -> int:
    """Peak RSS (kB) of a process that renders the first shot at `frames` frames."""
    out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(root), str(frames)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_kb"]


def main(quick: bool = False) -> None:
    """Print real-time factors, compositing-vs-encode ratios and the memory ratio."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "campfire"
        build_demo(root)
        fps = load_production(root).settings.production.fps
        shots = 2 if quick else None
        print("proxy tier on the demo scene (dialog pre-spoken; H.264 web profile)")
        for width, height in SIZES:
            _resize_proxy(root, width, height)
            seconds, frames, stages = render_edit(root, shots)
            encode = encode_only(frames, width, height, fps, Path(tmp) / "enc.mp4")
            controls = encode_only(frames, width, height, fps, Path(tmp) / "pose.mp4",
                                   profile="control", blank=True)
            print(f"  {width}x{height}: {frames} frames in {seconds:6.1f} s = "
                  f"{frames / fps / seconds:4.2f}x real time; encode-only bound "
                  f"{encode:5.1f} s (+{controls:4.1f} s for the pose control video); "
                  f"proxy / encode-only = {seconds / encode:4.2f} "
                  f"({seconds / (encode + controls):4.2f} counting both outputs)")
            pooled, pooled_frames, jobs = render_edit_pooled(root, shots)
            print(f"    as `soloreel render` does it ({jobs} worker process"
                  f"{'es' if jobs != 1 else ''}, a shot each): {pooled_frames} frames in "
                  f"{pooled:6.1f} s = {pooled_frames / fps / pooled:4.2f}x real time "
                  f"(one process: {frames / fps / seconds:4.2f}x)")
            # the ratio of two short timings: best of REPEATS each, interleaved, so a busy
            # moment on the machine does not decide it
            best_enc, best_pictures, best_poses = encode, float("inf"), 0.0
            for _ in range(REPEATS):
                pictures, poses = composite_only(root, shots)
                if pictures < best_pictures:
                    best_pictures, best_poses = pictures, poses
                best_enc = min(best_enc, encode_only(frames, width, height, fps,
                                                     Path(tmp) / "enc.mp4"))
            detail = ", ".join(f"{k} {stages.get(k, 0.0):.1f}" for k in COMPOSITING_STAGES)
            print(f"    compositing alone (best of {REPEATS}, no encoder running): "
                  f"{best_pictures:5.1f} s for the pictures (+{best_poses:4.1f} s of pose "
                  f"keypoints) vs {best_enc:4.1f} s to encode the movie = "
                  f"{best_pictures / best_enc:4.2f}x the encode-only bound (target <= 1), "
                  f"{best_pictures / (best_enc + controls):4.2f}x counting the pose video's "
                  f"encode; inside the threaded render: {detail} s")
        _resize_proxy(root, 640, 360)
        short, long = (24, 240) if quick else (48, 480)
        small, big = peak_memory(root, short), peak_memory(root, long)
        print(f"  peak memory: {short}-frame shot {small / 1024:.0f} MB, {long}-frame shot "
              f"{big / 1024:.0f} MB, ratio {big / small:.3f} (target <= 1.10)")
