"""post_adapter_read hook: bring every clip's ShotSpec up to the current version on read.

Hooks run on every OTIO read in the user's environment, so this returns at once (and imports
nothing heavy) for timelines that cannot be ours: one cheap pass (`otio_adapters.hooks._scan`)
keeps only the clips that can carry a spec, and only those are read closely.
"""

from otio_adapters.hooks import _scan

NAMESPACE = "soloreel"


def hook_function(in_timeline, argument_map=None):
    """Upgrade old-version or JSON-string ShotSpecs in place; leave everything else untouched."""
    found = _scan.candidates(in_timeline, _scan.thorough(argument_map))
    if not found:
        return in_timeline
    ours = [clip for clip, _why in found if NAMESPACE in clip.metadata]
    if not ours:
        return in_timeline
    from render_engine.spec import CURRENT_VERSION, SpecError, raw_metadata, upgrade

    for clip in ours:
        try:
            raw = raw_metadata(clip)
            if raw is not None and raw.get("version", 1) != CURRENT_VERSION:
                clip.metadata[NAMESPACE] = upgrade(raw)
            elif isinstance(clip.metadata[NAMESPACE], str):
                clip.metadata[NAMESPACE] = raw
        except SpecError:
            continue  # left as is: `soloreel validate` reports it with the clip's name
    return in_timeline
