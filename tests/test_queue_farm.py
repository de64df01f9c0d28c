"""The render queue on a Ray farm (a local cluster the module starts: 2 CPUs, one fake GPU
with 24 GiB declared as soloreel_vram_gib): proxies through Ray actors byte-identical to a
local render (on a shared filesystem and streamed back as bytes), an actor killed mid-job
leaves no partial cache entry and the job completes on retry, a job needing more VRAM than
any card waits with a reason, and tiny-model finals render end to end with one model load
per actor."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from render_engine.cli import main
from render_engine.queue.farm import VRAM_RESOURCE, run_farm
from render_engine.queue.records import DONE, PENDING, RUNNING, Job
from render_engine.queue.store import JobQueue, Worker
from render_engine.timeline_io import write_timeline
from tests.conftest import make_clip, make_timeline, spec_dict
from tests.proxy_fixtures import make_cutout_production
from tests.test_queue_store import _media_hashes

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    """One small local Ray cluster for the module (starting one takes seconds)."""
    ray.init(num_cpus=2, num_gpus=1, resources={VRAM_RESOURCE: 24},
             include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _proxy_production(root: Path, frames: list[int]) -> Path:
    make_cutout_production(root, 160, 90)
    clips = [make_clip(spec_dict(f"p-{i}", shot={"id": f"p-{i}", "size": size,
                                                  "subjects": ["ana"]},
                                 characters=[{"name": "ana", "position": [0.4, 3.5],
                                              "facing": 220}], dialog=[], seed=3 + i),
                       f"P{i}", count)
             for i, (size, count) in enumerate(zip(["MS", "WS", "MCU"], frames, strict=False))]
    write_timeline(make_timeline(clips), root / "timelines" / "edit.otio")
    return root


def _local_copy(root: Path, dest: Path, tier: str) -> Path:
    shutil.copytree(root, dest)
    assert main(["-q", "render", str(dest / "timelines" / "edit.otio"), "--tier", tier,
                 "-j", "1", "--production", str(dest)]) == 0
    return dest


def _queue(root: Path, tier: str) -> None:
    assert main(["-q", "queue", "add", str(root / "timelines" / "edit.otio"), "--tier", tier,
                 "--production", str(root)]) == 0


@pytest.mark.parametrize("ship", [False, True], ids=["shared-fs", "streamed-back"])
def test_proxies_through_ray_actors_are_the_files_a_local_render_makes(
        cluster, tmp_path: Path, ship: bool) -> None:
    root = _proxy_production(tmp_path / "farm", [20, 16, 24])
    local = _local_copy(root, tmp_path / "local", "proxy")
    _queue(root, "proxy")
    report = run_farm(root, tiers=("proxy",), ship=ship, lease_s=5)
    assert sorted(report.rendered) == sorted(j.label for j in JobQueue.of(root).jobs())
    assert not report.failed and not report.waiting and len(report.workers) == 2
    assert report.streamed == (3 if ship else 0)  # bytes through Ray, published by the head
    expected = _media_hashes(local, "proxy")
    assert len(expected) >= 3 and _media_hashes(root, "proxy") == expected
    assert {j.state for j in JobQueue.of(root).jobs()} == {DONE}


def test_an_actor_killed_mid_job_leaves_no_partial_entry_and_the_job_completes(
        cluster, tmp_path: Path) -> None:
    root = _proxy_production(tmp_path / "farm", [360])
    local = _local_copy(root, tmp_path / "local", "proxy")
    _queue(root, "proxy")
    queue = JobQueue.of(root)
    killed: list[int] = []
    entries_when_killed: list[int] = []
    finished = threading.Event()

    def killer() -> None:
        while not finished.is_set():
            for job in queue.jobs((RUNNING,)):
                if job.progress_done > 0 and job.attempts == 0:
                    pid = int(job.worker.rsplit(":", 1)[1])
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    entries_when_killed.append(len(_media_hashes(root, "proxy")))
                    return
            time.sleep(0.05)

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        report = run_farm(root, tiers=("proxy",), lease_s=1.0, cpu_workers=1)
    finally:
        finished.set()
        thread.join()
    assert killed and entries_when_killed == [0]  # killed mid-render: nothing published yet
    (job,) = queue.jobs()
    assert job.state == DONE and job.attempts == 1 and "died mid-render" in job.error
    assert report.restarts == 1 and report.rendered == [job.label] and not report.failed
    assert _media_hashes(root, "proxy") == _media_hashes(local, "proxy")
    assert not list((root / "renders" / "proxy").glob("*/.tmp-*"))  # staging cleared


def test_a_job_needing_more_vram_than_any_card_stays_pending_with_a_reason(
        cluster, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = _proxy_production(tmp_path / "farm", [12])
    queue = JobQueue.of(root)
    queue.add([Job(tier="final", shot_id="big", label="BIG (clip 1)", content_hash="0" * 64,
                   first=0, end=12, shown=(2, 10), spec={}, model="wan-14b", vram_gib=61.5)])
    capsys.readouterr()
    assert main(["queue", "run", "--ray", "--tier", "final", "--production", str(root)]) == 0
    out = capsys.readouterr().out
    (job,) = queue.jobs()
    assert job.state == PENDING and job.attempts == 0
    assert "61.5 GiB" in job.reason and "24 GiB" in job.reason
    assert f"BIG (clip 1): waiting: {job.reason}" in out
    assert "rendered 0, failed 0, waiting 1 on 1 Ray worker(s)" in out
    assert main(["queue", "list", "--production", str(root)]) == 0
    assert "needs 61.5 GiB" in capsys.readouterr().out


@pytest.mark.ml
@pytest.mark.slow  # 25-40 s on the 2-core machine (tiny model built, 3 finals twice)
def test_tiny_finals_render_through_ray_with_one_model_load_per_actor(
        cluster, tiny_production: Path, tmp_path: Path) -> None:
    from tests.final_fixtures import build_t2v
    from tests.test_final_tier import _production

    models = {"t2v": build_t2v(tmp_path / "models" / "t2v"), "vace": Path("unused"),
              "i2v": Path("unused")}
    root = _production(tiny_production, models)
    clips = [make_clip(spec_dict(f"f-{i}", seed=40 + i), f"F{i}", 12) for i in range(3)]
    write_timeline(make_timeline(clips), root / "timelines" / "edit.otio")
    local = _local_copy(root, tmp_path / "local", "final")
    _queue(root, "final")
    jobs = JobQueue.of(root).jobs()
    assert {j.model for j in jobs} == {"tiny-t2v"} and all(j.estimate_s > 0 for j in jobs)
    report = run_farm(root, tiers=("final",), lease_s=30)
    assert len(report.rendered) == 3 and not report.failed, report.lines()
    assert list(report.loads.values()) == [{"tiny-t2v": 1}]  # one actor, one load, 3 shots
    done = JobQueue.of(root).jobs()
    assert all(j.progress_done == j.progress_total == j.steps == 4 for j in done)
    assert _media_hashes(root, "final") == _media_hashes(local, "final")


def test_a_lost_head_s_jobs_are_rendered_by_the_next_farm_run(cluster, tmp_path: Path) -> None:
    root = _proxy_production(tmp_path / "farm", [12, 14])
    local = _local_copy(root, tmp_path / "local", "proxy")
    _queue(root, "proxy")
    lost = JobQueue.of(root, lease_s=1.0)
    orphan = lost.claim(Worker("ray:old-head:4242"))  # the head died holding this lease
    assert orphan is not None and orphan.state == RUNNING
    report = run_farm(root, tiers=("proxy",), lease_s=1.0)
    jobs = {j.id: j for j in JobQueue.of(root).jobs()}
    assert {j.state for j in jobs.values()} == {DONE} and len(report.rendered) == 2
    assert jobs[orphan.id].attempts == 1 and "old-head" in jobs[orphan.id].error
    assert _media_hashes(root, "proxy") == _media_hashes(local, "proxy")


def test_the_shipped_production_leaves_out_weights_renders_and_the_queue(
        tmp_path: Path) -> None:
    import io
    import tarfile
    import tomllib

    import tomli_w

    from render_engine.queue.farm import model_folders, pack_production

    root = _proxy_production(tmp_path / "p", [12])
    settings = tomllib.loads((root / "soloreel.toml").read_text())
    settings["models"] = {"local": {"source": "models/wan", "kind": "t2v"},
                          "hub": {"source": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "kind": "t2v"}}
    (root / "soloreel.toml").write_text(tomli_w.dumps(settings))
    (root / "models" / "wan").mkdir(parents=True)
    (root / "models" / "wan" / "model_index.json").write_text("{}")
    (root / "models" / "draft.safetensors").write_bytes(b"lora")
    (root / "renders" / "placeholder" / "h").mkdir(parents=True)
    (root / "renders" / "placeholder" / "h" / "x.mp4").write_bytes(b"x")
    (root / "renders" / "proxy" / "h" / ".tmp-f0_1-1").mkdir(parents=True)
    (root / "renders" / "proxy" / "h" / "f0_12").mkdir(parents=True)
    (root / "renders" / "proxy" / "h" / "f0_12" / "p.mp4").write_bytes(b"p")
    JobQueue.of(root)
    assert model_folders(root) == ["models/wan"]
    with tarfile.open(fileobj=io.BytesIO(pack_production(root, ("final",))), mode="r:gz") as tar:
        names = set(tar.getnames())
    assert "models/draft.safetensors" in names and "soloreel.toml" in names
    assert "cast/ana.toml" in names and "timelines/edit.otio" in names
    assert "renders/proxy/h/f0_12/p.mp4" in names
    assert not {n for n in names if n.startswith(("models/wan", "renders/placeholder",
                                                  "queue.sqlite")) or "/.tmp-" in n}
