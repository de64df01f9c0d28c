"""Render many shots at the final tier with each model loaded once.

Shots are grouped by (model, LoRA set) — timeline order kept inside a group, groups in order
of first appearance — so a model loads once per batch and adapters are swapped only between
groups. Each shot goes through the normal cache path (`render.link_plan`: lock, staging,
atomic publish, error slate), so a missing model folder, a corrupt LoRA or CUDA out-of-memory
fails that shot with a clear message and the others carry on. The models are released at
the end of the batch.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from render_engine.bible import Production
from render_engine.cache import RenderCache
from render_engine.errors import SoloreelError
from render_engine.final.plan import plan_final
from render_engine.final.registry import shared_registry
from render_engine.render import ProgressFn, ShotPlan, link_plan

BatchKey = tuple[str, tuple]


def batch_key(plan: ShotPlan, production: Production) -> BatchKey:
    """(model, LoRA set) of a planned shot; shots that cannot be planned sort last."""
    if plan.spec is None or plan.problem:
        return ("~", ())
    try:
        final = plan_final(plan.spec, production)
    except SoloreelError:
        return ("~", ())
    return (final.model, final.lora_key)


def order_plans(plans: list[ShotPlan], production: Production) -> list[ShotPlan]:
    """Plans grouped by batch key, groups in order of first appearance, stable inside."""
    keys = [batch_key(p, production) for p in plans]
    first_seen: dict[BatchKey, int] = {}
    for index, key in enumerate(keys):
        first_seen.setdefault(key, index)
    order = sorted(range(len(plans)), key=lambda i: (keys[i][0] == "~", first_seen[keys[i]], i))
    return [plans[i] for i in order]


@dataclass
class BatchReport:
    """What a batch did: shots rendered, already cached, failed (label → message), loads."""

    rendered: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    loads: Counter[str] = field(default_factory=Counter)


def render_batch(plans: list[ShotPlan], production: Production, cache: RenderCache,
                 progress: ProgressFn | None = None) -> BatchReport:
    """Render every plan (final tier) grouped by model and LoRA set; never raises per shot."""
    registry = shared_registry(production)
    before = Counter(registry.loads)
    report = BatchReport()
    try:
        for plan in order_plans(plans, production):
            label = plan.ref.label
            if plan.cached is not None:
                report.cached.append(label)
            link_plan(plan, production, cache, render=True, progress=progress)
            if plan.problem or plan.error:
                report.failed[label] = plan.problem or str(plan.error)
            elif plan.result is not None:
                report.rendered.append(label)
    finally:
        report.loads = registry.loads - before
        registry.clear()
    return report
