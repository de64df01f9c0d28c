"""Render the shots of an edit on every core: one worker process per core, one shot each.

The CPU tiers (placeholder, proxy) render a shot in one thread, most of it in Python, so a
machine with N cores renders about N shots at once in N processes. Workers render into the
cache exactly as `render.render_work` does in-process (the same per-shot lock, staging folder
and atomic publish, so a killed run resumes and two runs never render one shot twice); the
edit itself stays in the calling process, which links each shot as its render comes back.
Frame progress flows back through a queue so the progress bar moves within long shots.

On Linux the workers are forked from the caller (started before any progress-bar thread, so
nothing is copied mid-operation) and inherit the loaded production, unless torch is loaded
(its thread pools do not survive a fork); otherwise they are spawned and load the production
from its folder.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from render_engine.bible import Production, load_production
from render_engine.cache import CacheEntry, RenderCache
from render_engine.errors import SoloreelError
from render_engine.render import (
    ShotPlan,
    ShotWork,
    attach_plan,
    failure_text,
    link_plan,
    render_work,
)

CPU_TIERS = frozenset({"placeholder", "proxy"})
"""Tiers rendered on the CPU, a shot per core; the final tier holds one GPU and renders in
line (its batch order keeps each model loaded)."""
MAX_JOBS = 8
PROGRESS_EVERY_S = 0.2
"""How often a worker reports the frames it rendered since its last report."""

_WORKER: dict[str, Any] = {}
"""In a worker: its production, cache and progress queue."""


JOBS_VARIABLE = "SOLOREEL_JOBS"
"""Environment variable with the CPU tiers' default number of worker processes."""


def default_jobs(tier: str) -> int:
    """Worker processes for a tier when the command line does not say: $SOLOREEL_JOBS, else
    one per usable core (at most MAX_JOBS), for the CPU tiers; 1 for the final tier."""
    if tier not in CPU_TIERS:
        return 1
    text = os.environ.get(JOBS_VARIABLE, "").strip()
    if text:
        if not text.isdigit() or int(text) < 1:
            raise SoloreelError(f'{JOBS_VARIABLE}="{text}" is not a number of processes; set '
                                "it to 1 or more, or unset it for one per CPU core")
        return int(text)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_JOBS, cores))


def _start_worker(root: str, inherited: Production | None, progress: Any) -> None:
    from render_engine.media import encode

    encode.AUDIO_THREAD = False  # every core renders a shot: no spare one for the audio
    production = inherited if inherited is not None else load_production(root)
    _WORKER.update(production=production, cache=RenderCache(production.renders_dir()),
                   progress=progress)


_Result = tuple[CacheEntry | None, bool, str, float]
"""What a worker hands back for one shot: the entry, whether another process rendered it,
the error text ("" when it rendered) and the seconds it took."""


def _render_in_worker(work: ShotWork) -> _Result:
    """Render one shot in a worker."""
    progress, pending, last = _WORKER["progress"], [0], [time.monotonic()]
    started = time.perf_counter()

    def report(frames: int) -> None:
        pending[0] += frames
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S:
            progress.put(pending[0])
            pending[0], last[0] = 0, now

    try:
        entry, elsewhere = render_work(work, _WORKER["production"], _WORKER["cache"], report)
    except Exception as exc:  # handed back as text: the caller makes the error slate
        return None, False, failure_text(exc), time.perf_counter() - started
    finally:
        if pending[0]:
            progress.put(pending[0])
    return entry, elsewhere, "", time.perf_counter() - started


def _start_method() -> str:
    """"fork" on Linux while this process has not loaded torch (a forked child inherits the
    loaded production and starts at once); "spawn" otherwise: a child forked from a process
    whose OpenMP or intra-op thread pools ran can hang in them (a coqui voice, a final)."""
    if sys.platform.startswith("linux") and "torch" not in sys.modules:
        return "fork"
    return "spawn"


@contextmanager
def _pool(production: Production, jobs: int) -> Iterator[tuple[Any, Any]]:
    """A pool of `jobs` started workers and their progress queue."""
    method = _start_method()
    fork = method == "fork"
    context = multiprocessing.get_context(method)
    progress = context.Queue()
    pool = context.Pool(jobs, initializer=_start_worker,
                        initargs=(str(production.root), production if fork else None, progress))
    try:
        yield pool, progress
    except BaseException:
        pool.terminate()  # Ctrl-C: staged renders are cleared by the next run
        raise
    else:
        pool.close()
    finally:
        pool.join()


def link_plans(plans: list[ShotPlan], production: Production, cache: RenderCache,
               jobs: int, progress: Callable[[int], None],
               on_start: Callable[[ShotPlan], None] = lambda _plan: None,
               ready: Callable[[], None] = lambda: None) -> None:
    """Render what is missing and link every plan, `jobs` shots at once (in line when 1, or
    when there is at most one shot to render). `progress` is told the frames rendered as they
    are; `on_start` is called with each plan as its work begins (in line) or as it is linked;
    `ready` once the workers exist (start progress-bar threads then, not before)."""
    todo = [plan for plan in plans
            if plan.spec is not None and not plan.problem and plan.cached is None]
    if jobs <= 1 or len(todo) <= 1:
        ready()
        for plan in plans:
            on_start(plan)
            link_plan(plan, production, cache, render=True, progress=progress)
        return
    with _pool(production, min(jobs, len(todo))) as (pool, frames):
        ready()
        results = [pool.apply_async(_render_in_worker, (ShotWork.of(plan),)) for plan in todo]
        for plan in plans:  # cached and invalid shots are linked at once
            if plan not in todo:
                on_start(plan)
                link_plan(plan, production, cache, render=False)
        waiting = dict(enumerate(results))
        while waiting:
            _drain(frames, progress, timeout=0.05)
            for index, result in list(waiting.items()):
                if result.ready():
                    del waiting[index]
                    _link_result(todo[index], result.get(), production, cache, on_start)
        _drain(frames, progress, timeout=0.0)


def _drain(frames: Any, progress: Callable[[int], None], timeout: float) -> None:
    """Hand every frame count the workers reported to `progress`."""
    try:
        count = frames.get(timeout=timeout) if timeout else frames.get_nowait()
        while True:
            progress(count)
            count = frames.get_nowait()
    except queue.Empty:
        return


def _link_result(plan: ShotPlan, result: _Result, production: Production,
                 cache: RenderCache, on_start: Callable[[ShotPlan], None]) -> None:
    entry, elsewhere, error, seconds = result
    on_start(plan)
    plan.result, plan.rendered_elsewhere, plan.error = entry, elsewhere, error or None
    attach_plan(plan, production, cache, seconds)
