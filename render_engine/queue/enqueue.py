"""Turning an edit's shots into queue jobs: the render each shot needs, its estimate, its
batch key — planned exactly as `soloreel render` plans it (`render.plan_shot`), so a job's
content hash is the cache address the render will be published under."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from render_engine.bible import Production, load_production
from render_engine.cache import RenderCache
from render_engine.errors import SoloreelError
from render_engine.queue.records import DONE, Job
from render_engine.queue.store import AddResult, JobQueue
from render_engine.render import ShotPlan, plan_shot
from render_engine.timeline_io import iter_shots, read_timeline


@dataclass
class Enqueued:
    """What adding an edit did: the add results, and the shots that could not be queued
    (label → why)."""

    results: list[AddResult] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)

    def count(self, action: str) -> int:
        return sum(1 for r in self.results if r.action == action)


def job_of(plan: ShotPlan, production: Production, quality: str = "full",
           priority: int = 0) -> Job:
    """The job of one valid plan: spec and frames, the final tier's model, adapter sets and
    peak VRAM (`final.batch.batch_item`, `final.cost.shot_estimate`), the estimate in seconds
    (the dry run's figures), and `done` at once when the render is cached. A final that
    cannot be planned (no model, a missing model folder) raises the SoloreelError naming the
    fix, unless it is cached."""
    assert plan.spec is not None and not plan.problem
    job = Job(tier=plan.tier, shot_id=plan.spec.shot.id, label=plan.ref.label,
              content_hash=plan.content_hash, first=plan.first, end=plan.end,
              shown=plan.shown, spec=plan.spec.to_metadata(), quality=quality,
              priority=priority)
    if plan.cached is not None:
        job.state, job.result = DONE, str(plan.cached.folder)
    if plan.tier == "final":
        from render_engine.estimate import final_manifests
        from render_engine.final.batch import render_sets
        from render_engine.final.cost import shot_estimate
        from render_engine.final.plan import plan_final

        try:  # a final that cannot be planned would only fail on the GPU: refuse it now
            final = plan_final(plan.spec, production)
            cost = shot_estimate(plan, production,
                                 final_manifests(RenderCache(production.renders_dir())))
        except SoloreelError:
            if plan.cached is None:
                raise
        else:
            job.model = final.model
            job.adapters = [[list(adapter) for adapter in s] for s in render_sets(final)]
            job.estimate_s, job.vram_gib = cost.seconds, float(cost.peak_gib or 0.0)
            job.steps = cost.forwards
    else:
        from render_engine.estimate import seconds_per_frame

        rate, _source = seconds_per_frame(RenderCache(production.renders_dir()))[plan.tier]
        job.estimate_s = rate * plan.frames
    return job


def plan_edit(edit: Path, production: Production, tier: str,
              shots: set[int] | None = None) -> list[ShotPlan]:
    """Plan the selected shots of an edit at a tier (`render.plan_shot`)."""
    cache = RenderCache(production.renders_dir())
    timeline = read_timeline(edit)
    return [plan_shot(ref, production, cache, tier) for ref in iter_shots(timeline)
            if ref.has_spec and (shots is None or ref.number in shots)]


def enqueue_plans(plans: Sequence[ShotPlan], production: Production, queue: JobQueue,
                  quality: str = "full", priority: int = 0) -> Enqueued:
    """Add a job per valid plan (invalid ones are listed in `problems`, not queued)."""
    done = Enqueued()
    jobs = []
    for plan in plans:
        if plan.problem or plan.spec is None:
            done.problems[plan.ref.label] = plan.problem or "no shot spec"
            continue
        try:
            jobs.append(job_of(plan, production, quality, priority))
        except SoloreelError as exc:
            done.problems[plan.ref.label] = str(exc)
    done.results = queue.add(jobs)
    return done


def enqueue_edit(edit: Path, production_root: Path, tier: str, shots: set[int] | None = None,
                 quality: str = "full", priority: int = 0) -> Enqueued:
    """`soloreel queue add`: queue the shots of an edit at a tier (drafts: the final tier's
    `quality`)."""
    from render_engine.final.quality import with_quality

    if quality != "full" and tier != "final":
        raise SoloreelError(f"--quality {quality} is a final-tier option; add --tier final "
                            "(or leave --quality out)")
    production = with_quality(load_production(production_root, strict=True), quality)
    plans = plan_edit(edit, production, tier, shots)
    return enqueue_plans(plans, production, JobQueue.of(production.root), quality, priority)
