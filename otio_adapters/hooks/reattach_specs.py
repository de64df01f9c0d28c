"""post_adapter_read hook: give clips an NLE stripped their ShotSpecs back.

Hooks run on every OTIO read in the user's environment, so this decides in one cheap pass
(`otio_adapters.hooks._scan`, shared with the upgrade hook: media URLs and marker text only, no
metadata, no copies, no production) whether any clip can be ours, and returns at once when
none can, without importing any of soloreel. A clip that still carries its spec needs nothing.
Set SOLOREEL_HOOKS=0 to switch it off. The production comes from the hook argument
`production`, $SOLOREEL_PRODUCTION, or the cache paths themselves.
"""

import os

from otio_adapters.hooks import _scan

OFF = ("0", "off", "no", "false")


def hook_function(in_timeline, argument_map=None):
    """Re-attach specs by media path, file name, marker, then position; returns the timeline."""
    try:
        if os.environ.get("SOLOREEL_HOOKS", "1").lower() in OFF:
            return in_timeline
        found = [(clip, why) for clip, why in _scan.candidates(
            in_timeline, _scan.thorough(argument_map)) if why != "nomedia"]
    finally:
        _scan.forget()
    if not found or all("soloreel" in clip.metadata for clip, _why in found):
        return in_timeline
    from render_engine.nle.identity import cache_parts, media_path, production_of

    args = dict(argument_map or {})
    production = args.get("production") or os.environ.get("SOLOREEL_PRODUCTION")
    if not production:
        for clip, why in found:
            path = media_path(clip) if why == "cache" else None
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
