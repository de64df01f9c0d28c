"""post_adapter_read hook: give clips an NLE stripped their ShotSpecs back.

Hooks run on every OTIO read in the user's environment, so this returns at once for timelines
that are not ours: a clip that already carries a spec needs nothing, and a timeline with no
render-cache media path and no `soloreel:shot=` marker is left untouched without importing any
of soloreel. Set SOLOREEL_HOOKS=0 to switch it off. The production comes from the hook
argument `production`, $SOLOREEL_PRODUCTION, or the cache paths themselves.
"""

import os

OFF = ("0", "off", "no", "false")


def hook_function(in_timeline, argument_map=None):
    """Re-attach specs by media path, marker, then position; returns the timeline."""
    if os.environ.get("SOLOREEL_HOOKS", "1").lower() in OFF:
        return in_timeline
    find_clips = getattr(in_timeline, "find_clips", None)
    if find_clips is None or all("soloreel" in c.metadata for c in find_clips()):
        return in_timeline
    from render_engine.nle.identity import cache_parts, looks_ours, media_path, production_of

    if not looks_ours(in_timeline):
        return in_timeline
    args = dict(argument_map or {})
    production = args.get("production") or os.environ.get("SOLOREEL_PRODUCTION")
    if not production:
        for clip in find_clips():
            path = media_path(clip)
            if cache_parts(path) is not None:
                production = production_of(path)
                if production:
                    break
    if not production:
        return in_timeline
    from render_engine.nle.reattach import reattach
    from render_engine.nle.registry import ShotRegistry

    report = reattach(in_timeline, ShotRegistry(production))
    in_timeline.metadata["soloreel_import"] = {
        "production": str(production), "unknown": report.unknown, "deleted": report.deleted}
    return in_timeline
