"""The NLE's orders as queue jobs: a `final` marker queues the shot's final; a `retake` or
`fix:` on a shot whose final was asked for queues the new take's final (its spec changed, so
it is a new render). Called by `soloreel import` after it applies the orders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import opentimelineio as otio

from render_engine.bible import Production
from render_engine.cache import RenderCache
from render_engine.errors import SoloreelError
from render_engine.queue.enqueue import enqueue_plans
from render_engine.queue.store import JobQueue
from render_engine.render import plan_shot
from render_engine.timeline_io import iter_shots


def queue_orders(timeline: otio.schema.Timeline, production: Production,
                 orders: Sequence[Any], final_queue: Sequence[str]) -> list[str]:
    """Add final-tier jobs for the shots these orders (`nle.orders.Order`) ask for; lines to
    print (what was queued, and shots that could not be, with the fix). Never raises: the
    import itself has succeeded whatever the queue says."""
    queued = set(final_queue)
    wanted = {o.shot_id for o in orders
              if o.kind == "final" or (o.kind in ("retake", "fix") and o.shot_id in queued)}
    if not wanted:
        return []
    try:
        cache = RenderCache(production.renders_dir())
        plans = [plan_shot(ref, production, cache, "final") for ref in iter_shots(timeline)
                 if ref.has_spec]
        plans = [p for p in plans if p.own_spec is not None and p.own_spec.shot.id in wanted]
        done = enqueue_plans(plans, production, JobQueue.of(production.root))
    except SoloreelError as exc:
        return [f"render queue: the orders' finals were not queued: {exc}"]
    lines = [f"{r.job.shot_id}: final {r.action} in the render queue (job {r.job.id})"
             for r in done.results]
    lines += [f"{label}: final not queued: {problem}" for label, problem in
              done.problems.items()]
    return lines
