"""The proxy tier end to end: frames, fps, dialog audio, the pose control video, flat memory."""

from __future__ import annotations

import gc
import json
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from render_engine.bible import load_production
from render_engine.cli import main
from render_engine.media.encode import probe, read_frames
from render_engine.render import RenderJob, renderer_for
from render_engine.spec import SHOT_ORIGIN_SECONDS, ShotSpec
from render_engine.timeline_io import read_timeline, write_timeline
from tests.conftest import make_clip, make_timeline, spec_dict
from tests.proxy_fixtures import make_cutout_production

FPS = 24


@pytest.fixture(scope="module")
def production_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_cutout_production(tmp_path_factory.mktemp("tier") / "prod", 160, 90)


def _spec(shot_id: str = "p-001", dialog: bool = True, **extra: object) -> ShotSpec:
    data: dict = {
        "shot": {"id": shot_id, "size": "MS", "subjects": ["ana"]},
        "set": "yard",
        "characters": [{"name": "ana", "position": [0.4, 3.5], "facing": 220, "action": "talk"},
                       {"name": "bo", "position": [-0.9, 4.5], "facing": 140,
                        "action": "walk", "path": [[-0.3, 4.0]]}],
        "dialog": [{"speaker": "ana", "text": "Pass the marshmallows.", "start": 0.1}]
        if dialog else [],
        "seed": 9,
    }
    data.update(extra)
    return ShotSpec.model_validate(data)


def _job(root: Path, spec: ShotSpec, frames: int, out: Path, handles: int = 2,
         size: tuple[int, int] = (160, 90)) -> RenderJob:
    production = load_production(root)
    start = round(SHOT_ORIGIN_SECONDS * FPS)
    return RenderJob(spec=spec, production=production, tier="proxy", first=start - handles,
                     end=start + frames + handles, fps=FPS, width=size[0], height=size[1],
                     out_path=out, label=spec.shot.id, shown=(start, start + frames))


def test_renders_frames_audio_and_the_pose_control(production_dir: Path, tmp_path: Path) -> None:
    job = _job(production_dir, _spec(), 20, tmp_path / "shot" / "p-001.mp4")
    result = renderer_for("proxy")(job)
    assert result["media_frames"] == job.frame_count == 24
    info = probe(job.out_path)
    assert info.frame_count == 24 and info.fps == FPS and (info.width, info.height) == (160, 90)
    assert info.audio_codec is not None and info.audio_duration == pytest.approx(1.0, abs=0.05)
    pose = probe(job.out_path.parent / result["pose_video"])
    assert pose.frame_count == 24
    frames = json.loads((job.out_path.parent / result["pose_json"]).read_text())
    assert len(frames) == 24
    assert all(len(f["people"]) == 2 and f["canvas_width"] == 160 for f in frames)
    assert set(result["stage_seconds"]) >= {"plate", "characters", "composite", "encode"}
    movie = list(read_frames(job.out_path))
    assert len(movie) == 24
    assert not np.array_equal(movie[4], movie[14])   # the walker walks, the talker talks
    control = list(read_frames(job.out_path.parent / result["pose_video"]))
    assert (control[10].max(axis=2) < 30).mean() > 0.7  # mostly black
    assert control[10].max() > 150                       # with coloured limbs


def test_the_tiny_production_renders_with_its_bare_sheets(tiny_production: Path,
                                                           tmp_path: Path) -> None:
    spec = ShotSpec.model_validate(spec_dict("t-001", characters=[
        {"name": "jane", "position": [0.5, 3.0], "action": "talk"},
        {"name": "john", "position": [-0.6, 3.4], "facing": 120}]))
    job = _job(tiny_production, spec, 8, tmp_path / "tiny" / "t.mp4")
    result = renderer_for("proxy")(job)
    assert result["media_frames"] == 12 and probe(job.out_path).audio_codec is not None
    frame = next(iter(read_frames(job.out_path)))
    assert frame.shape == (90, 160, 3)


def test_no_dialog_means_no_audio_track(production_dir: Path, tmp_path: Path) -> None:
    job = _job(production_dir, _spec(dialog=False), 6, tmp_path / "quiet" / "q.mp4", handles=0)
    result = renderer_for("proxy")(job)
    assert result["dialog_lines"] == 0
    assert probe(job.out_path).audio_codec is None


def test_the_render_command_caches_the_proxy_with_its_pose_files(production_dir: Path,
                                                                 tmp_path: Path) -> None:
    root = tmp_path / "prod"
    make_cutout_production(root, 160, 90)
    clip = make_clip(_spec("p-cli", dialog=False).to_metadata(), "SHOT 1", 12)
    edit = root / "timelines" / "edit.otio"
    write_timeline(make_timeline([clip]), edit)
    assert main(["-q", "render", str(edit), "--production", str(root), "--tier", "proxy"]) == 0
    linked = read_timeline(edit).find_clips()[0]
    media = Path(linked.media_references()["proxy"].target_url.removeprefix("file://"))
    assert media.is_file() and (media.parent / "pose.mp4").is_file()
    assert (media.parent / "pose.json").is_file()
    manifest = json.loads((media.parent / "manifest.json").read_text())
    assert manifest["media_frames"] == 12 + 2 * 2 and manifest["pose_video"] == "pose.mp4"


def _peak_bytes(root: Path, frames: int, out: Path) -> int:
    job = _job(root, _spec(f"m-{frames}", dialog=False), frames, out / f"m-{frames}.mp4",
               handles=0, size=(320, 180))
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    renderer_for("proxy")(job)
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    return peak


def test_memory_does_not_grow_with_shot_length(production_dir: Path, tmp_path: Path) -> None:
    started = time.perf_counter()
    _peak_bytes(production_dir, 4, tmp_path / "warm")     # loads caches (plate, cut-outs)
    short = _peak_bytes(production_dir, 24, tmp_path / "short")
    long = _peak_bytes(production_dir, 240, tmp_path / "long")
    assert long <= short * 1.10, (short, long)
    assert time.perf_counter() - started < 60
