"""A cast member's voice with its files found: the reference WAV and a coqui model folder.

`VoiceSettings` stores paths as the user wrote them (the reference relative to cast/, a model
folder relative to the production or absolute), so a production can move between machines.
Engines need real paths; `voice_for` resolves them once, here, for every caller (dialog cache,
CLI, voice conversion).
"""

from __future__ import annotations

from pathlib import Path

from render_engine.audio.voice import VoiceError
from render_engine.bible import CastMember, Production, VoiceSettings
from render_engine.errors import SoloreelError
from render_engine.paths import resolve_inside

MODEL_NAME_PREFIXES = ("tts_models/", "voice_conversion_models/")
"""Coqui's released models are named type/language/dataset/model."""


def is_model_name(variant: str) -> bool:
    """True for a coqui release name (`tts_models/en/vctk/vits`), not a path on disk."""
    return variant.strip().startswith(MODEL_NAME_PREFIXES)


def model_path(variant: str, production: Production | None) -> Path:
    """A coqui model folder or checkpoint: absolute as written, else inside the production.

    Why both: a downloaded model lives in the user's model cache (absolute path); one the user
    ships with the film lives in the production (relative, moves with it).
    """
    candidate = Path(variant).expanduser()
    if candidate.is_absolute():
        return candidate
    if production is None:
        return candidate.resolve()
    return resolve_inside(production.root, production.root, variant)


def reference_path(member: CastMember, production: Production) -> Path | None:
    """The member's reference WAV (relative to cast/), checked to exist; None if not set."""
    if not member.voice.reference:
        return None
    path = production.cast_file(member, member.voice.reference)
    if not path.is_file():
        raise VoiceError(
            f"{member.name}'s voice.reference {member.voice.reference} does not exist (looked "
            f"in {path.parent}); record a few seconds of the character or remove the field"
        )
    return path


def voice_for(member: CastMember, production: Production) -> VoiceSettings:
    """The member's voice with the reference and a coqui model path made absolute."""
    try:
        updates: dict[str, str] = {}
        reference = reference_path(member, production)
        if reference is not None:
            updates["reference"] = str(reference)
        variant = member.voice.variant.strip()
        if member.voice.engine == "coqui" and variant and not is_model_name(variant):
            updates["variant"] = str(model_path(variant, production))
    except SoloreelError as error:
        if isinstance(error, VoiceError):
            raise
        raise VoiceError(f"{member.name}'s voice: {error}") from error
    return member.voice.model_copy(update=updates)


def style_reference(voice: VoiceSettings, parenthetical: str) -> Path | None:
    """A take of the character in the mood a parenthetical names, if the user recorded one.

    Beside the reference `jane/voice.wav`, a file `jane/voice-whispering.wav` is the reference
    for lines marked (whispering): cloning models copy delivery as well as timbre, so this is
    how emotion and style reach coqui models that have no emotion control of their own.
    """
    if not voice.reference or not parenthetical.strip():
        return None
    reference = Path(voice.reference)
    slug = "-".join("".join(c if c.isalnum() else " " for c in parenthetical.lower()).split())
    if not slug:
        return None
    candidate = reference.with_name(f"{reference.stem}-{slug}{reference.suffix}")
    return candidate if candidate.is_file() else None
