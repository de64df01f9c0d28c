"""`relink`: after an import, render only shots whose spec or range changed; diff the edit
against the last render (added, removed, changed, retimed and reordered shots)."""

from __future__ import annotations

from dataclasses import dataclass, field

import opentimelineio as otio

from render_engine.bible import Production
from render_engine.cache import RenderCache
from render_engine.nle.orders import add_alternates
from render_engine.nle.registry import ShotRegistry, spec_digest
from render_engine.render import ShotPlan, link_plan, plan_shot
from render_engine.timeline_io import iter_shots

RENDER_LAYOUT = "last-render"


@dataclass
class RelinkReport:
    """What relinking did and how the edit differs from the previous render."""

    plans: list[ShotPlan] = field(default_factory=list)
    rendered: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    retimed: list[str] = field(default_factory=list)
    reordered: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """One line per non-empty category."""
        names = ("rendered", "failed", "added", "removed", "changed", "retimed", "reordered")
        return [f"{name}: {', '.join(getattr(self, name))}" for name in names
                if getattr(self, name)]


def _diff(report: RelinkReport, before: list[dict], after: list[dict]) -> None:
    old = {row["shot_id"]: row for row in before}
    new = {row["shot_id"]: row for row in after}
    report.added = [i for i in new if i not in old]
    report.removed = [i for i in old if i not in new]
    common_old = [row["shot_id"] for row in before if row["shot_id"] in new]
    common_new = [row["shot_id"] for row in after if row["shot_id"] in old]
    for shot_id in common_new:
        key = "spec" if "spec" in old[shot_id] and "spec" in new[shot_id] else "hash"
        if old[shot_id].get(key) != new[shot_id].get(key):
            report.changed.append(shot_id)
        if old[shot_id]["source"] != new[shot_id]["source"]:
            report.retimed.append(shot_id)
        if common_old.index(shot_id) != common_new.index(shot_id):
            report.reordered.append(shot_id)


def relink(timeline: otio.schema.Timeline, production: Production, tier: str = "placeholder",
           render: bool = True, registry: ShotRegistry | None = None,
           baseline: str = RENDER_LAYOUT) -> RelinkReport:
    """Link every shot at `tier` (rendering only what the cache lacks) and report the diff
    against the `baseline` layout (the last render; an import passes the last export, what
    the editor started from), falling back to the last render when it was never saved."""
    cache = RenderCache(production.renders_dir())
    registry = registry or ShotRegistry(production.root)
    report = RelinkReport()
    rows = []
    for ref in iter_shots(timeline):
        if not ref.has_spec:
            continue
        plan = plan_shot(ref, production, cache, tier)
        report.plans.append(plan)
        if plan.problem or plan.spec is None:
            report.failed.append(plan.problem or ref.label)
            continue
        link_plan(plan, production, cache, render)
        own = plan.own_spec
        assert own is not None
        shot_id = own.shot.id
        if plan.result is not None:
            report.rendered.append(shot_id)
        if plan.error:
            report.failed.append(f"{ref.label}: {plan.error}")
        add_alternates(ref.clip, registry.get(shot_id))
        registry.record(own, reason="edit")
        rows.append({"shot_id": shot_id, "hash": plan.content_hash, "spec": spec_digest(own),
                     "source": list(plan.extra.get("piece_shown", plan.shown))})
    _diff(report, registry.layout(baseline) or registry.layout(RENDER_LAYOUT), rows)
    registry.save_layout(RENDER_LAYOUT, rows)
    return report

