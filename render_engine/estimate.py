"""Render-time estimates of the CPU tiers: defaults measured on a 2-core laptop, refined by this
production's own past renders (every cache manifest records its seconds per frame).

The final tier is not estimated per frame here: its GPU minutes come from one place,
`render_engine.final.cost.final_estimates` (model, steps, size, layers, recorded runs), which
`render --dry-run`, the storyboard, the contact sheet and the status plot all print."""

from __future__ import annotations

from statistics import median

from render_engine.cache import RenderCache

DEFAULT_SECONDS_PER_FRAME = {
    "placeholder": 0.004,  # measured: ~250 frames/s at 640x360 incl. encode (bench/)
    "proxy": 0.06,
}


def seconds_per_frame(cache: RenderCache) -> dict[str, tuple[float, str]]:
    """Per CPU tier: (seconds per frame, where the figure comes from)."""
    samples: dict[str, list[float]] = {}
    for entry in cache.all_entries():
        value = entry.manifest.get("timings", {}).get("seconds_per_frame")
        if isinstance(value, int | float) and value > 0:
            samples.setdefault(entry.tier, []).append(float(value))
    result = {}
    for tier, default in DEFAULT_SECONDS_PER_FRAME.items():
        found = samples.get(tier)
        if found:
            result[tier] = (median(found), f"median of {len(found)} past render(s)")
        else:
            result[tier] = (default, "built-in default")
    return result


def final_manifests(cache: RenderCache) -> list[dict]:
    """Manifests of past final renders (their `cost` blocks refine the GPU estimates)."""
    return [entry.manifest for entry in cache.all_entries() if entry.tier == "final"]
