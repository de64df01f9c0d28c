"""The render queue: one job per render (content hash), cached renders done at once, leases
that run out, parking after N failures, exclusive claims across processes, batching by model
and LoRA set, and CPU tiers through `queue run --workers 2` byte-identical to `render`."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from render_engine.cli import main
from render_engine.queue.records import DONE, PARKED, PENDING, RUNNING, Job
from render_engine.queue.store import JobQueue, Worker, pick
from render_engine.timeline_io import write_timeline
from tests.conftest import make_clip, make_timeline, spec_dict
from tests.proxy_fixtures import make_cutout_production


def _edit(root: Path, count: int, frames: int = 24) -> Path:
    clips = [make_clip(spec_dict(f"s-{i}", seed=i), f"SHOT {i}", frames + 2 * i)
             for i in range(1, count + 1)]
    edit = root / "timelines" / "edit.otio"
    write_timeline(make_timeline(clips), edit)
    return edit


def _add(edit: Path, root: Path, tier: str = "placeholder", *extra: str) -> int:
    return main(["-q", "queue", "add", str(edit), "--tier", tier, "--production", str(root),
                 *extra])


def _job(key: str, model: str = "", adapters: list | None = None, priority: int = 0,
         vram: float = 0.0) -> Job:
    return Job(tier="final", shot_id=key, label=key, content_hash=key * 4, first=0, end=10,
               shown=(2, 8), spec={}, model=model, adapters=adapters or [], priority=priority,
               vram_gib=vram)


def test_adding_twice_is_one_job_and_cached_renders_are_done_at_once(
        tiny_production: Path) -> None:
    edit = _edit(tiny_production, 3)
    assert _add(edit, tiny_production) == 0
    assert _add(edit, tiny_production, "placeholder", "--priority", "5") == 0
    queue = JobQueue.of(tiny_production)
    jobs = queue.jobs()
    assert len(jobs) == 3 and {j.state for j in jobs} == {PENDING}
    assert {j.priority for j in jobs} == {5}  # re-adding raised the priority, no new job
    assert len({j.content_hash for j in jobs}) == 3
    # render one shot the ordinary way: a new job for it is done without any worker
    assert main(["-q", "render", str(edit), "--tier", "proxy", "--shots", "1",
                 "--production", str(tiny_production)]) == 0
    assert _add(edit, tiny_production, "proxy", "--shots", "1-2") == 0
    proxies = {j.shot_id: j for j in queue.jobs() if j.tier == "proxy"}
    assert proxies["s-1"].state == DONE and Path(proxies["s-1"].result).is_dir()
    assert proxies["s-2"].state == PENDING
    assert queue.path == tiny_production / "queue.sqlite"
    code = main(["queue", "list", "--all", "--production", str(tiny_production)])
    assert code == 0


def test_a_lost_worker_s_job_is_pending_again_and_parked_after_n_failures(
        tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "q.sqlite", lease_s=10)
    (job,) = [r.job for r in queue.add([_job("a")], now=0)]
    first = queue.claim(Worker("w1"), now=100)
    assert first is not None and first.id == job.id and first.state == RUNNING
    assert queue.claim(Worker("w2"), now=105) is None  # leased to w1
    assert queue.heartbeat(job.id, "w1", 3, 10, now=108)  # lease now ends at 118
    assert queue.claim(Worker("w2"), now=115) is None
    again = queue.claim(Worker("w2"), now=119)  # w1 went silent: back, then to w2
    assert again is not None and again.worker == "w2" and again.attempts == 1
    assert "stopped answering" in again.error
    assert not queue.heartbeat(job.id, "w1", now=120)  # w1 is told it lost the job
    queue.fail(job.id, "w2", "RuntimeError: out of ideas", now=121)
    assert queue.get(job.id).state == PENDING
    queue.claim(Worker("w3"), now=122)
    parked = queue.fail(job.id, "w3", "RuntimeError: still out of ideas", now=123)
    assert parked.state == PARKED and parked.attempts == 3
    assert queue.get(job.id).error == "RuntimeError: still out of ideas"
    assert queue.claim(Worker("w4"), now=124) is None
    assert [j.id for j in queue.retry()] == [job.id]
    assert queue.get(job.id).state == PENDING and queue.get(job.id).attempts == 0


def test_pause_resume_cancel(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "q.sqlite")
    ids = [r.job.id for r in queue.add([_job("a"), _job("b")])]
    assert len(queue.pause([ids[0]])) == 1
    claimed = queue.claim(Worker("w"))
    assert claimed is not None and claimed.id == ids[1]  # the paused one is left alone
    assert queue.claim(Worker("w")) is None
    queue.resume()
    assert queue.cancel([ids[1]]) and not queue.heartbeat(ids[1], "w")  # stops the render
    assert queue.claim(Worker("w")).id == ids[0]
    with pytest.raises(Exception, match="no job 99"):
        queue.cancel([99])


def test_claims_batch_by_loaded_model_and_lora_set(tmp_path: Path) -> None:
    jane = [["jane", "loras/jane.safetensors", 1.0]]
    john = [["john", "loras/john.safetensors", 1.0]]
    queue = JobQueue(tmp_path / "q.sqlite")
    queue.add([_job("a", "vace", [jane]), _job("b", "t2v", [[]]), _job("c", "vace", [john]),
               _job("d", "vace", [jane]), _job("e", "t2v", [[]]), _job("f", "vace", [jane])])
    worker = Worker("gpu0")
    order = []
    while (job := queue.claim(worker)) is not None:
        order.append(job.shot_id)
    # the vace model's jobs first (oldest job's model), jane's LoRA jobs together, then t2v
    assert order == ["a", "d", "f", "c", "b", "e"]
    # a higher priority wins over the loaded model
    worker = Worker("gpu1", model="vace")
    assert pick([_job("x", "vace"), _job("y", "t2v", priority=3)], worker).shot_id == "y"


def test_jobs_needing_more_vram_than_the_worker_has_wait(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "q.sqlite")
    queue.add([_job("big", "wan14b", vram=60.0), _job("small", "wan13b", vram=9.0)])
    assert queue.claim(Worker("gpu24", vram_gib=24.0)).shot_id == "small"
    assert queue.claim(Worker("gpu24", vram_gib=24.0)) is None
    assert queue.claim(Worker("gpu80", vram_gib=80.0)).shot_id == "big"


def test_threads_never_claim_one_job_twice(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "q.sqlite")
    queue.add([_job(f"j{i}") for i in range(40)])
    taken: list[int] = []

    def work(name: str) -> None:
        own = JobQueue(tmp_path / "q.sqlite")
        while (job := own.claim(Worker(name))) is not None:
            taken.append(job.id)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == sorted(set(taken)) and len(taken) == 40


def _media_hashes(root: Path, tier: str) -> dict[str, str]:
    found = {}
    for manifest in sorted((root / "renders" / tier).glob("*/f*/manifest.json")):
        folder = manifest.parent
        for path in sorted(folder.iterdir()):
            if path.suffix in (".mp4", ".mov", ".json") and path.name != "manifest.json":
                found[f"{folder.parent.name}/{folder.name}/{path.name}"] = hashlib.sha256(
                    path.read_bytes()).hexdigest()
    return found


def test_two_runner_processes_render_each_job_once(tiny_production: Path) -> None:
    edit = _edit(tiny_production, 8, 12)
    assert _add(edit, tiny_production) == 0
    command = [sys.executable, "-c", "from render_engine.cli import main; import sys; "
               "sys.exit(main(sys.argv[1:]))", "queue", "run", "--tier", "placeholder",
               "--production", str(tiny_production)]
    runners = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]
    outputs = [runner.communicate(timeout=300) for runner in runners]
    assert all(r.returncode == 0 for r in runners), outputs
    rendered = [int(out.split("rendered ")[1].split(",")[0]) for out, _err in outputs]
    cached = [int(out.split("cached ")[1].split(",")[0]) for out, _err in outputs]
    assert sum(rendered) == 8 and cached == [0, 0], outputs  # nobody waited on another's job
    jobs = JobQueue.of(tiny_production).jobs()
    assert {j.state for j in jobs} == {DONE} and len(jobs) == 8
    assert len(list((tiny_production / "renders" / "placeholder").glob("*/f*/manifest.json"))) \
        == 8


def test_proxies_through_two_queue_workers_are_the_files_render_makes(
        tmp_path: Path) -> None:
    root = make_cutout_production(tmp_path / "a", 160, 90)
    specs = [spec_dict(f"p-{i}", shot={"id": f"p-{i}", "size": size, "subjects": ["ana"]},
                       characters=[{"name": "ana", "position": [0.4, 3.5], "facing": 220}],
                       dialog=[], seed=9 + i)
             for i, size in enumerate(["MS", "WS", "MCU", "MS"])]
    clips = [make_clip(spec, f"P{i}", 20 + 4 * i) for i, spec in enumerate(specs)]
    edit = root / "timelines" / "edit.otio"
    write_timeline(make_timeline(clips), edit)
    local = tmp_path / "b"
    shutil.copytree(root, local)
    assert main(["-q", "render", str(local / "timelines" / "edit.otio"), "--tier", "proxy",
                 "-j", "1", "--production", str(local)]) == 0
    assert _add(edit, root, "proxy") == 0
    assert main(["-q", "queue", "run", "--tier", "proxy", "--workers", "2",
                 "--production", str(root)]) == 0
    expected = _media_hashes(local, "proxy")
    assert len(expected) >= 4 and _media_hashes(root, "proxy") == expected
    assert {j.state for j in JobQueue.of(root).jobs()} == {DONE}


def test_the_status_plot_shows_what_the_queue_does(tiny_production: Path,
                                                   tmp_path: Path) -> None:
    from render_engine.queue.store import queue_notes

    edit = _edit(tiny_production, 3)
    assert queue_notes(tiny_production) == {}
    assert not (tiny_production / "queue.sqlite").exists()  # reading creates nothing
    assert _add(edit, tiny_production, "proxy", "--shots", "1-2") == 0
    queue = JobQueue.of(tiny_production)
    job = queue.claim(Worker("w"))
    queue.heartbeat(job.id, "w", 7, job.frames)
    other = next(j for j in queue.jobs() if j.id != job.id)
    queue.pause([other.id])
    notes = queue_notes(tiny_production)
    assert notes == {job.shot_id: f"proxy rendering 7/{job.frames}",
                     other.shot_id: "proxy paused"}
    plot = tmp_path / "status.png"
    assert main(["-q", "status", str(edit), "--plot", str(plot),
                 "--production", str(tiny_production)]) in (0, 1)
    assert plot.stat().st_size > 1000


def test_queue_commands_change_states_and_name_bad_ids(
        tiny_production: Path, capsys: pytest.CaptureFixture) -> None:
    edit = _edit(tiny_production, 2)
    assert _add(edit, tiny_production) == 0
    where = ["--production", str(tiny_production)]
    assert main(["queue", "pause", "1", *where]) == 0
    assert "pause: 1 job(s) (1)" in capsys.readouterr().out
    assert main(["queue", "run", "--tier", "placeholder", *where]) == 0  # job 1 is left alone
    states = {j.id: j.state for j in JobQueue.of(tiny_production).jobs()}
    assert states == {1: "paused", 2: DONE}
    assert main(["queue", "cancel", *where]) == 0 and main(["queue", "retry", "1", *where]) == 0
    assert JobQueue.of(tiny_production).get(1).state == PENDING
    assert main(["queue", "resume", "x1", *where]) == 1
    assert '"x1" is not a job id' in capsys.readouterr().err
    assert main(["queue", "add", str(edit), "--tier", "proxy", "--quality", "draft",
                 *where]) == 1
    assert "--quality draft is a final-tier option" in capsys.readouterr().err
