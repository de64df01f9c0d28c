"""Render many shots at the final tier with each model loaded once and few LoRA loads.

Shots are grouped by model (models in order of first appearance), so a model loads once per
batch. Inside a model the order follows the LoRA adapters: each render pass needs a set of
adapters active (a shot's characters' LoRAs, one set per layer for vace_layers — each layer
carries only its own character's LoRA — plus a draft's step-distilled LoRA), a loaded model
keeps a few adapters resident, and `final.adapters.order_renders` picks, greedily, the next
shot that needs the fewest new adapter loads, then the fewest switches (ties: timeline
order), so renders with the same LoRA set are adjacent. Each shot goes through the normal
cache path (`render.link_plan`: lock, staging, atomic publish, error slate), so a missing
model folder, a corrupt LoRA or CUDA out-of-memory fails that shot with a clear message and
the others carry on. The models are released at the end of the batch; the report counts
model and adapter loads.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from render_engine.bible import Production
from render_engine.cache import RenderCache
from render_engine.errors import SoloreelError
from render_engine.final.adapters import AdapterSet, order_renders
from render_engine.final.plan import FinalPlan, plan_final
from render_engine.final.registry import shared_registry
from render_engine.render import ProgressFn, ShotPlan, link_plan

UNPLANNED = "~"
"""Batch key of shots that render nothing here (cached, invalid, unplannable): last."""


def render_sets(plan: FinalPlan) -> list[AdapterSet]:
    """The adapter set of each Wan render a shot's final takes: one for most modes; one per
    character for vace_layers (its own LoRA if it is a lead with one; touching characters
    that end up sharing a layer only make this an over-count), a draft's LoRA in every set."""
    if plan.mode != "vace_layers":
        return [plan.lora_key]
    by_name = {u.name: u for u in plan.loras}
    draft = (plan.draft_lora,) if plan.draft_lora else ()
    sets = []
    for name in plan.characters:
        own = (by_name[name],) if name in by_name else ()
        sets.append(tuple((u.name, u.path, u.weight) for u in own + draft))
    return sets


def batch_item(plan: ShotPlan, production: Production) -> tuple[str, list[AdapterSet]]:
    """(model, adapter sets of its renders) of a planned shot; (UNPLANNED, []) for shots that
    will not render."""
    if plan.spec is None or plan.problem or plan.cached is not None:
        return (UNPLANNED, [])
    try:
        final = plan_final(plan.spec, production)
    except SoloreelError:
        return (UNPLANNED, [])
    return (final.model, render_sets(final))


def order_plans(plans: list[ShotPlan], production: Production) -> list[ShotPlan]:
    """Plans in render order: by model (first appearance), then fewest adapter loads and
    switches (see the module docstring); shots that will not render last, in timeline
    order."""
    items = [batch_item(p, production) for p in plans]
    rendering = [i for i, item in enumerate(items) if item[0] != UNPLANNED]
    order, _states = order_renders([items[i] for i in rendering])
    chosen = [rendering[i] for i in order]
    rest = [i for i in range(len(plans)) if i not in set(chosen)]
    return [plans[i] for i in chosen + rest]


@dataclass
class BatchReport:
    """What a batch did: shots rendered, already cached, failed (label → message), model
    loads and LoRA adapter loads/unloads (by model or adapter name)."""

    rendered: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    loads: Counter[str] = field(default_factory=Counter)
    lora_loads: Counter[str] = field(default_factory=Counter)
    lora_unloads: Counter[str] = field(default_factory=Counter)
    order: list[str] = field(default_factory=list)
    """Labels in the order the shots were rendered (or linked)."""


def render_batch(plans: list[ShotPlan], production: Production, cache: RenderCache,
                 progress: ProgressFn | None = None) -> BatchReport:
    """Render every plan (final tier) grouped by model and LoRA set; never raises per shot."""
    registry = shared_registry(production)
    before = Counter(registry.loads)
    lora_before, unload_before = Counter(registry.lora_loads), Counter(registry.lora_unloads)
    report = BatchReport()
    try:
        for plan in order_plans(plans, production):
            label = plan.ref.label
            report.order.append(label)
            if plan.cached is not None:
                report.cached.append(label)
            link_plan(plan, production, cache, render=True, progress=progress)
            if plan.problem or plan.error:
                report.failed[label] = plan.problem or str(plan.error)
            elif plan.result is not None:
                report.rendered.append(label)
    finally:
        report.loads = registry.loads - before
        report.lora_loads = registry.lora_loads - lora_before
        report.lora_unloads = registry.lora_unloads - unload_before
        registry.clear()
    return report
