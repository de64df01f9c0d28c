"""Renderer versions per tier: bump one when that renderer's output changes for the same input,
so every cached render of that tier becomes stale (and only that tier)."""

RENDERER_VERSIONS: dict[str, str] = {
    "placeholder": "placeholder-1",
    "proxy": "proxy-3",
    "final": "final-2",
}
