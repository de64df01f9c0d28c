"""`python -m bench queue`: the render queue's throughput and overhead.

1. Proxies of a 40-shot edit (`bench.production`) worked by `queue run --workers 2` against
   `--workers 1`, in the same run, each on its own copy of the production (nothing cached):
   the wall-clock ratio shows what a second worker process buys on this machine.
2. Queue overhead per job for a cached render: `queue add` of an edit whose renders are in
   the cache (read the edit, plan + hash each shot, one SQLite transaction: every job is
   done at once), per job, and a worker's
   claim → done of a job whose render appeared in the cache after it was queued (claim,
   re-hash, cache lookup, complete). Target: under 50 ms per job.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np
import tomli_w
from PIL import Image

from bench.production import make_edit, make_production
from render_engine.bible import load_production
from render_engine.cache import RenderCache
from render_engine.queue.enqueue import enqueue_edit, enqueue_plans, plan_edit
from render_engine.queue.runner import JobRenderer, WorkerReport, run_job, run_local
from render_engine.queue.store import JobQueue, Worker

TARGET_MS = 50.0
WIDTH, HEIGHT = 320, 180


def _production(root: Path) -> Path:
    make_production(root, WIDTH, HEIGHT)
    settings = tomllib.loads((root / "soloreel.toml").read_text())
    settings["tiers"]["proxy"] = {"width": WIDTH, "height": HEIGHT}
    (root / "soloreel.toml").write_text(tomli_w.dumps(settings))
    for index, name in enumerate(("ann", "bob")):  # cut-outs: a body and a head
        figure = np.zeros((256, 96, 4), np.uint8)
        figure[60:250, 20:76] = (180 - 60 * index, 90, 60 + 90 * index, 255)
        figure[8:60, 30:66] = (220, 180, 150, 255)
        (root / "cast" / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(figure).save(root / "cast" / name / "front.png")
        (root / "cast" / f"{name}.toml").write_text(tomli_w.dumps({
            "name": name, "height_m": 1.7 + 0.1 * index,
            "views": {"front": {"image": f"{name}/front.png", "feet": [48, 250],
                                "eyes": [48, 30], "head_top": [48, 8]}}}))
    return root


def _timed_run(root: Path, edit: Path, workers: int) -> float:
    enqueue_edit(edit, root, "proxy")
    started = time.perf_counter()
    reports = run_local(root, workers, ("proxy",))
    seconds = time.perf_counter() - started
    failed = {k: v for r in reports for k, v in r.failed.items()}
    if failed:
        raise SystemExit(f"bench queue: renders failed: {failed}")
    return seconds


def overhead(root: Path, edit: Path, rounds: int = 3) -> tuple[float, float]:
    """(ms per job of `queue add` of an edit whose renders are all cached, ms per claim →
    done of a job whose render appeared in the cache after it was queued): medians; each
    `queue add` round starts from a fresh queue file."""
    production = load_production(root, strict=True)
    plans = plan_edit(edit, production, "proxy")
    add_ms = []
    for _round in range(rounds):
        for path in root.glob("queue.sqlite*"):
            path.unlink()
        started = time.perf_counter()
        done = enqueue_edit(edit, root, "proxy")
        add_ms.append(1000 * (time.perf_counter() - started) / len(plans))
        assert done.count("done") == len(plans), done.results
    queue = JobQueue(root / "overhead-claims.sqlite")
    for plan in plans:  # queued as if before their renders existed
        plan.cached = None
    enqueue_plans(plans, production, queue)
    renderer, worker, report = JobRenderer(root), Worker("bench", ("proxy",)), WorkerReport("b")
    claim_ms = []
    with RenderCache(root / "renders").rendering():
        while True:
            started = time.perf_counter()
            job = queue.claim(worker)
            if job is None:
                break
            run_job(queue, renderer, job, worker.name, report)
            claim_ms.append(1000 * (time.perf_counter() - started))
    assert len(report.cached) == len(plans), report
    return statistics.median(add_ms), statistics.median(claim_ms)


def main(quick: bool = False) -> dict[str, float]:
    """Print the 2-worker / 1-worker ratio and the per-job queue overhead."""
    shots, frames = (8, 12) if quick else (40, 24)
    with tempfile.TemporaryDirectory() as tmp:
        one = _production(Path(tmp) / "one")
        edit_one = make_edit(one, shots, frames)
        two = Path(tmp) / "two"
        shutil.copytree(one, two)
        edit_two = two / "timelines" / edit_one.name
        single = _timed_run(one, edit_one, 1)
        double = _timed_run(two, edit_two, 2)
        add_ms, claim_ms = overhead(one, edit_one)
    handles = 12
    print(f"queue: proxies of a {shots}-shot edit ({frames} frames + {handles}+{handles} "
          f"handles each, {WIDTH}x{HEIGHT})")
    print(f"  queue run --workers 1  {single:7.2f} s")
    print(f"  queue run --workers 2  {double:7.2f} s   speed-up 2 vs 1 workers = "
          f"{single / double:.2f}x")
    verdict = "ok" if max(add_ms, claim_ms) < TARGET_MS else "OVER TARGET"
    print(f"  overhead per cached job: add → done {add_ms:.1f} ms, claim → done "
          f"{claim_ms:.1f} ms (target < {TARGET_MS:.0f} ms: {verdict})")
    return {"ratio": single / double, "add_ms": add_ms, "claim_ms": claim_ms}
