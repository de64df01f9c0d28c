"""OTIO media linker `soloreel`: render each clip's ShotSpec at a tier (if not cached) and link
every cached tier side by side on the clip, the asked tier active; link every dialog clip to
its line's spoken WAV.

    otioconvert -i edit.otio -o linked.otio -m soloreel -M tier=proxy -M production=DIR

Arguments (`-M key=value`): `production` (folder; default $SOLOREEL_PRODUCTION), `tier`
(placeholder | proxy | final; default placeholder), `render` (yes/no; default yes: with no, only
media already in the cache is linked; dialog lines are always spoken, which is cheap and
cached). Dialog clips are the screenplay's (`metadata["soloreel_dialog"]`, on DIALOG tracks)
and `soloreel dialog`'s (per-character tracks, room tone included); other clips without a
ShotSpec are returned untouched.

OTIO loads this module by file path: imports of our code are absolute.
"""

import os


def _production_dir(media_linker_argument_map):
    """The production folder from -M production=DIR or $SOLOREEL_PRODUCTION."""
    from render_engine.errors import SoloreelError

    args = dict(media_linker_argument_map or {})
    production = args.get("production") or os.environ.get("SOLOREEL_PRODUCTION")
    if not production:
        raise SoloreelError("the soloreel media linker needs a production: pass "
                            "-M production=DIR (or set SOLOREEL_PRODUCTION)")
    return production


def _is_audio_clip(in_clip):
    """A clip `soloreel dialog` or the screenplay adapter wrote on an audio track."""
    from render_engine.audio.tracks import METADATA_KEY, SCRIPT_DIALOG_KEY

    return METADATA_KEY in in_clip.metadata or SCRIPT_DIALOG_KEY in in_clip.metadata


def link_media_reference(in_clip, media_linker_argument_map):
    """Link one clip; returns its active media reference, or None to leave the clip alone."""
    if "soloreel" in in_clip.metadata:
        from render_engine.linking import link_clip

        args = dict(media_linker_argument_map or {})
        render = str(args.get("render", "yes")).lower() not in ("no", "false", "0", "off")
        link_clip(in_clip, _production_dir(args), str(args.get("tier", "placeholder")),
                  render)
        return in_clip.media_reference if in_clip.media_references() else None
    if _is_audio_clip(in_clip):
        from render_engine.linking import link_audio_clip

        if link_audio_clip(in_clip, _production_dir(media_linker_argument_map)):
            return in_clip.media_reference
    return None
