"""Working the queue: one loop per worker — claim a job, render it through the cache's
normal path (`render.render_work`: lock, staging folder, atomic publish), heartbeat while it
renders, record done / failed — run in this process or in N worker processes
(`queue run --workers N`); Ray actors (`queue.farm`) render jobs with the same `JobRenderer`.

A job carries its spec and frames, not the edit: the worker re-hashes the spec against the
production as it is now and refuses (parks) a job whose inputs changed since it was queued,
so nothing is ever published under a content hash it does not match."""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from render_engine.bible import Production, load_production
from render_engine.cache import CacheEntry, RenderCache
from render_engine.errors import SoloreelError
from render_engine.queue.records import DEFAULT_LEASE_S, Job
from render_engine.queue.store import JobQueue, Worker

CPU_TIERS = ("placeholder", "proxy")
ALL_TIERS = ("placeholder", "proxy", "final")
POLL_S = 0.5
"""How often an idle worker looks for work while other workers' jobs are still open."""


class JobCancelled(Exception):
    """Raised inside a render whose job was cancelled or lost its lease (stops it between
    frames; the staging folder is removed, nothing is published)."""


class StaleJob(SoloreelError):
    """A job whose shot no longer hashes to the content hash it was queued under."""


def worker_name() -> str:
    """host:pid, unique per worker process (shown by `queue list`)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class JobRenderer:
    """Renders jobs of one production folder in one process, keeping the production (and,
    through `final.registry.shared_registry`, the final tier's loaded models) across jobs."""

    def __init__(self, root: Path | str, cache_root: Path | None = None):
        self.root = Path(root)
        self._productions: dict[str, Production] = {}
        self.cache = RenderCache(cache_root or self.production("full").renders_dir())

    def production(self, quality: str) -> Production:
        """The production as a render of `quality` sees it (loaded once)."""
        if quality not in self._productions:
            base = self._productions.get("full") or load_production(self.root, strict=True)
            self._productions["full"] = base
            if quality != "full":
                from render_engine.final.quality import with_quality

                self._productions[quality] = with_quality(base, quality)
        return self._productions[quality]

    def work_of(self, job: Job):
        """The job as `render.ShotWork`, its inputs hashed afresh (StaleJob on a change)."""
        from render_engine.hashing import hash_inputs, inputs_hash
        from render_engine.render import ShotWork
        from render_engine.spec import ShotSpec

        production = self.production(job.quality)
        spec = ShotSpec.model_validate(job.spec)
        inputs = hash_inputs(spec, production, job.tier)
        if inputs_hash(inputs) != job.content_hash:
            raise StaleJob(f"{job.label} ({job.shot_id}): its files or settings changed since "
                           "it was queued, so this job's render would no longer match its "
                           "content hash; add the edit to the queue again (`soloreel queue "
                           "add EDIT`)")
        return ShotWork(spec, job.tier, job.content_hash, job.first, job.end,
                        tuple(job.shown), job.label, inputs)

    def render(self, job: Job, progress: Callable[[int], None] | None = None
               ) -> tuple[CacheEntry, bool]:
        """Render one job into this renderer's cache: (entry, rendered by someone else).
        `progress` is told the job's work units as they are done: frames for the CPU tiers,
        transformer forwards (denoising steps) for a final — counted by a forward hook on the
        loaded pipeline's transformer (torch.nn.Module.register_forward_hook, the per-step
        signal diffusers' callback_on_step_end also gives) — and is called with 0 per written
        frame of a final (a cancelled job stops there)."""
        from render_engine.render import render_work

        work = self.work_of(job)
        report = progress or (lambda _n: None)
        production = self.production(job.quality)
        if job.tier != "final":
            return render_work(work, production, self.cache, report)
        self._step = report
        self._hook_transformers(production)
        try:
            return render_work(work, production, self.cache, lambda _n: report(0))
        finally:
            self._step = None

    _step: Callable[[int], None] | None = None

    def _forward_done(self, *_args: object) -> None:
        if self._step is not None:
            self._step(1)

    def _hook_transformers(self, production: Production) -> None:
        """Count the forwards of every transformer the shared registry hands out (the
        registry keeps its models loaded across jobs; each is hooked once)."""
        from render_engine.final.registry import shared_registry

        registry = shared_registry(production)
        if getattr(registry, "_queue_hooked", False):
            return
        original = registry.get

        def get(name: str):  # type: ignore[no-untyped-def]
            model = original(name)
            transformer = getattr(model.pipe, "transformer", None)
            if transformer is not None and not getattr(transformer, "_queue_hooked", False):
                transformer.register_forward_hook(self._forward_done)
                transformer._queue_hooked = True
            return model

        registry.get = get  # type: ignore[method-assign]
        registry._queue_hooked = True  # type: ignore[attr-defined]

    def model_loads(self) -> dict[str, int]:
        """Model loads this process has made (one per model while it stays loaded)."""
        from render_engine.final.registry import shared_registry

        return dict(shared_registry(self.production("full")).loads)


@dataclass
class WorkerReport:
    """What one worker did."""

    name: str
    rendered: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def run_job(queue: JobQueue, renderer: JobRenderer, job: Job, name: str,
            report: WorkerReport) -> None:
    """Render one leased job with a heartbeat thread (lease + frame progress); record the
    outcome in the queue. Never raises for the job's own failure."""
    from render_engine.render import failure_text

    done, stop, lost = [0], threading.Event(), threading.Event()

    def beat() -> None:
        while not stop.wait(max(0.05, queue.lease_s / 4)):
            if not queue.heartbeat(job.id, name, done[0], job.work_units):
                lost.set()
                return

    def progress(frames: int) -> None:
        done[0] += frames
        if lost.is_set():
            raise JobCancelled(f"job {job.id} was cancelled or reassigned")

    thread = threading.Thread(target=beat, daemon=True, name=f"heartbeat-{job.id}")
    thread.start()
    try:
        entry, elsewhere = renderer.render(job, progress)
    except JobCancelled:
        return
    except StaleJob as exc:
        queue.fail(job.id, name, str(exc))
        queue.park(job.id, str(exc))
        report.failed[job.label] = str(exc)
        return
    except Exception as exc:  # one shot's failure must not stop the worker
        queue.fail(job.id, name, failure_text(exc))
        report.failed[job.label] = failure_text(exc)
        return
    finally:
        stop.set()
        thread.join()
    queue.complete(job.id, name, str(entry.folder))
    (report.cached if elsewhere else report.rendered).append(job.label)


def worker_loop(root: Path | str, tiers: Sequence[str] = ALL_TIERS,
                lease_s: float = DEFAULT_LEASE_S, poll_s: float = POLL_S,
                name: str | None = None, until_empty: bool = True) -> WorkerReport:
    """Claim and render jobs of these tiers until none is open (or forever)."""
    from render_engine.media import encode

    queue = JobQueue.of(root, lease_s)
    name = name or worker_name()
    worker = Worker(name, tuple(tiers))
    renderer = JobRenderer(root)
    report = WorkerReport(name)
    cache = renderer.cache
    audio_thread, encode.AUDIO_THREAD = encode.AUDIO_THREAD, False  # a core per job
    try:
        with cache.rendering():  # gc --delete waits while a worker may publish
            while True:
                job = queue.claim(worker)
                if job is None:
                    if until_empty and queue.open_jobs(tiers) == 0:
                        break
                    time.sleep(poll_s)
                    continue
                run_job(queue, renderer, job, name, report)
    finally:
        encode.AUDIO_THREAD = audio_thread
    return report


def _process_main(root: str, tiers: tuple[str, ...], lease_s: float, poll_s: float,
                  results: object) -> None:
    report = worker_loop(root, tiers, lease_s, poll_s)
    results.put(report)  # type: ignore[attr-defined]


def run_local(root: Path | str, workers: int = 1, tiers: Sequence[str] = ALL_TIERS,
              lease_s: float = DEFAULT_LEASE_S, poll_s: float = POLL_S) -> list[WorkerReport]:
    """`soloreel queue run`: work the queue here until nothing of these tiers is open — in
    this process (1 worker) or in `workers` processes (CPU tiers; the final tier holds one
    GPU and runs one worker). Forked on Linux unless torch is loaded (see render_pool)."""
    if workers <= 1:
        return [worker_loop(root, tiers, lease_s, poll_s)]
    if "final" in tiers:
        raise SoloreelError("queue run --workers N renders the CPU tiers (placeholder, proxy) "
                            f"in {workers} processes; the final tier takes one GPU per worker: "
                            "run it with --tier final and one worker per GPU, or on a Ray farm "
                            "(--ray)")
    method = ("fork" if sys.platform.startswith("linux") and "torch" not in sys.modules
              else "spawn")
    context = multiprocessing.get_context(method)
    results = context.Queue()
    processes = [context.Process(target=_process_main,
                                 args=(str(root), tuple(tiers), lease_s, poll_s, results))
                 for _ in range(workers)]
    for process in processes:
        process.start()
    reports: list[WorkerReport] = []
    try:
        while len(reports) < len(processes):
            try:
                reports.append(results.get(timeout=1.0))
            except queue_module.Empty:
                if not any(p.is_alive() for p in processes) and results.empty():
                    break  # a worker died: its job's lease runs out, the next run redoes it
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
    return reports


def summary(reports: Sequence[WorkerReport]) -> Counter[str]:
    """Jobs rendered / cached / failed over every worker."""
    counts: Counter[str] = Counter()
    for report in reports:
        counts["rendered"] += len(report.rendered)
        counts["cached"] += len(report.cached)
        counts["failed"] += len(report.failed)
    return counts
