"""OTIO media linker `soloreel`: render each clip's ShotSpec at a tier (if not cached) and link
every cached tier side by side on the clip, the asked tier active.

    otioconvert -i edit.otio -o linked.otio -m soloreel -M tier=proxy -M production=DIR

Arguments (`-M key=value`): `production` (folder; default $SOLOREEL_PRODUCTION), `tier`
(placeholder | proxy | final; default placeholder), `render` (yes/no; default yes: with no, only
media already in the cache is linked). Clips without a ShotSpec are returned untouched.

OTIO loads this module by file path: imports of our code are absolute.
"""

import os


def link_media_reference(in_clip, media_linker_argument_map):
    """Link one clip; returns its active media reference, or None to leave the clip alone."""
    if "soloreel" not in in_clip.metadata:
        return None
    from render_engine.errors import SoloreelError
    from render_engine.linking import link_clip

    args = dict(media_linker_argument_map or {})
    production = args.get("production") or os.environ.get("SOLOREEL_PRODUCTION")
    if not production:
        raise SoloreelError("the soloreel media linker needs a production: pass "
                            "-M production=DIR (or set SOLOREEL_PRODUCTION)")
    render = str(args.get("render", "yes")).lower() not in ("no", "false", "0", "off")
    link_clip(in_clip, production, str(args.get("tier", "placeholder")), render)
    return in_clip.media_reference if in_clip.media_references() else None
