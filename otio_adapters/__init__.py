"""soloreel's OpenTimelineIO plugins (adapters, media linkers, hooks).

OpenTimelineIO finds them through the `opentimelineio.plugins` entry point, which names this
package; the plugins themselves are listed in `plugin_manifest.json` beside this file.
"""
