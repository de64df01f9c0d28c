"""Renderer versions per tier: bump one when that renderer's output changes for the same input,
so every cached render of that tier becomes stale (and only that tier). Voice engines have
their own versions (`voice_engine_version`): they key the spoken-line cache and the renders
of shots in which that engine speaks, so a voice change re-renders only those shots."""

from __future__ import annotations

from functools import cache
from importlib import metadata

RENDERER_VERSIONS: dict[str, str] = {
    "placeholder": "placeholder-3",  # -3: skeletons with planted walks, stress-driven gestures
    "proxy": "proxy-8",  # -7: skeletons on seats/surfaces, planted walks;
    # -8: rigged cut-outs posed by those skeletons, forearms over table masks
    "final": "final-2",
}

VOICE_ENGINE_PACKAGES: dict[str, str] = {
    "espeak": "espeakng-loader",
    "piper": "piper-tts",
    "coqui": "coqui-tts",
}
"""The package whose version each speech engine's output follows."""

VOICE_ENGINE_REVISIONS: dict[str, str] = {
    "espeak": "-fresh1",
    "piper": "-noise0-1thread",
}
"""Our own changes to how an engine is driven, appended to its package version. Bump one when
the same text, voice and settings come out as different samples: espeak "-fresh1" speaks
every line in a freshly loaded, seeded library; piper "-noise0" draws no noise and
"-1thread" runs the model on one thread (the sums' order, so the samples, followed the
thread count)."""


@cache
def voice_engine_version(engine: str) -> str:
    """A version string that changes when the engine's output may change (memoised: package
    metadata does not change while a process runs, and hashing asks for it per shot)."""
    revision = VOICE_ENGINE_REVISIONS.get(engine, "")
    try:
        return f"{engine}-{metadata.version(VOICE_ENGINE_PACKAGES.get(engine, engine))}{revision}"
    except metadata.PackageNotFoundError:
        return f"{engine}-unknown{revision}"
