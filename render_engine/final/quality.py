"""Final-tier quality: `full` renders, `draft` renders with a step-distilled LoRA, and
`keyframe` renders one frame per shot.

A draft is the full final made cheap: the model's `draft_lora` (a lightx2v / CausVid style
step-distilled LoRA, `[models.NAME] draft_lora = "…safetensors"`) is loaded as one more
adapter beside the characters' LoRAs, and the shot renders in `draft_steps` (4–8) steps at
guidance 1 — one transformer forward per step, no negative prompt — instead of 30 steps with
classifier-free guidance (two forwards): 10–25× less GPU time. The size, the frame count, the
seeds and the CPU-drawn initial noise are the full final's, so a draft shows the composition
the final will have (noise is shape-bound; cutting steps keeps the shape).

Keying: `with_quality(production, "draft")` gives a view of the production whose model
entries are `DraftModelEntry`s; their dump (which the final tier's content hash covers) adds
the quality, the draft steps, guidance 1 and the SHA-256 of the LoRA file's bytes. So a draft
never answers for a full final (or the other way round), a new distilled LoRA re-renders the
drafts, and a full final's key does not depend on any draft setting.

Linking: a draft lives in the cache as a `final` tier entry under its own key and is linked
as the clip's `final` media (its reference's metadata says `"quality": "draft"`; its manifest
records `quality`), so `switch --tier final`, previews and exports show the draft until a full
final exists. Rendering the full final replaces it; whatever links a clip's tiers from the
cache (`render`, `relink`, `import`, the OTIO media linker: `render.attach_references`) hangs
the cached draft as its `final` media while it has no full final (`cached_draft`).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import opentimelineio as otio

from render_engine.bible import ModelEntry, Production
from render_engine.cache import CacheEntry, RenderCache
from render_engine.errors import SoloreelError
from render_engine.hashing import file_digest, shot_hash
from render_engine.spec import NAMESPACE, ShotSpec

QUALITIES = ("full", "draft", "keyframe")
DRAFT_ADAPTER = "_distill"
"""Adapter name of the draft LoRA (bible names cannot start with "_", so no character's)."""
DRAFT_GUIDANCE = 1.0
"""Step-distilled LoRAs are trained without classifier-free guidance."""


class DraftModelEntry(ModelEntry):
    """A model entry as a draft run sees it: the entry plus what keys its drafts (made by
    `with_quality`, never read from soloreel.toml)."""

    draft: dict[str, Any]


class KeyframeModelEntry(ModelEntry):
    """A model entry as a keyframe run sees it (made by `with_quality`, never read from
    soloreel.toml): its dump adds what keys keyframes apart from full finals."""

    keyframe: dict[str, Any]


KEYFRAME_INPUTS: dict[str, Any] = {"quality": "keyframe", "wan_frames": 1}
"""What a keyframe render depends on beyond the full final's inputs."""


def draft_lora_path(production: Production, entry: ModelEntry) -> Path | None:
    """The model's draft LoRA file (relative to the production, or absolute), if set."""
    if not entry.draft_lora:
        return None
    path = Path(entry.draft_lora).expanduser()
    return path if path.is_absolute() else production.root / path


def draft_inputs(production: Production, entry: ModelEntry) -> dict[str, Any]:
    """What a draft of this model depends on beyond the full final's inputs."""
    info: dict[str, Any] = {"quality": "draft", "steps": entry.draft_steps,
                            "guidance": DRAFT_GUIDANCE, "lora": entry.draft_lora}
    path = draft_lora_path(production, entry)
    if path is not None:
        info["lora_sha256"] = file_digest(path) if path.is_file() else None
    return info


def with_quality(production: Production, quality: str) -> Production:
    """The production as a render of `quality` sees it: itself for "full"; for "draft"
    (or "keyframe") a shallow copy whose models are DraftModelEntry (KeyframeModelEntry);
    see the module docstring."""
    if quality == "full":
        return production
    if quality not in QUALITIES:
        raise SoloreelError(f'unknown quality "{quality}"; choose one of {", ".join(QUALITIES)}')
    production = full_view(production)
    derived = copy.copy(production)
    _FULL[id(derived)] = (derived, production)
    models: dict[str, ModelEntry] = {
        name: (DraftModelEntry(**entry.options(), draft=draft_inputs(production, entry))
               if quality == "draft" else
               KeyframeModelEntry(**entry.options(), keyframe=dict(KEYFRAME_INPUTS)))
        for name, entry in production.settings.models.items()}
    derived.settings = production.settings.model_copy(update={"models": models})
    return derived


_FULL: dict[int, tuple[Production, Production]] = {}
"""id(draft view) → (the view, the full-quality production it was made from)."""


def full_view(production: Production) -> Production:
    """The full-quality production a draft view was made from (itself when not a view): what
    a clip's `final` media is looked up with first, so a full final always wins over a
    draft."""
    found = _FULL.get(id(production))
    return found[1] if found is not None and found[0] is production else production


def quality_of(entry: ModelEntry) -> str:
    """"draft" / "keyframe" for entries seen through `with_quality(…, "draft" / "keyframe")`,
    else "full"."""
    if isinstance(entry, KeyframeModelEntry):
        return "keyframe"
    return "draft" if isinstance(entry, DraftModelEntry) else "full"


def production_quality(production: Production) -> str:
    """The quality a (view of a) production renders finals at."""
    return next((quality_of(e) for e in production.settings.models.values()), "full")


def mark_draft(clip: otio.schema.Clip) -> None:
    """Say on the clip's `final` media reference that it is a draft (or a keyframe) — only
    when the media it links is one (its manifest says so): after a draft run a clip whose full
    final exists keeps showing, and calling, the full final."""
    reference = clip.media_references().get("final")
    if reference is None or NAMESPACE not in reference.metadata:
        return
    from render_engine.cache import MANIFEST
    from render_engine.freshness import file_path

    path = file_path(getattr(reference, "target_url", "") or "")
    try:
        manifest = json.loads((path.parent / MANIFEST).read_text()) if path else {}
    except (OSError, ValueError):
        manifest = {}
    if manifest.get("quality") in ("draft", "keyframe"):
        reference.metadata[NAMESPACE]["quality"] = manifest["quality"]


def draft_view(production: Production) -> Production | None:
    """The draft view of a full-quality production when some model has a draft LoRA (what
    linking and `status` look up cached drafts with), else None (also for a draft view)."""
    models = production.settings.models.values()
    if any(quality_of(e) != "full" for e in models) or not any(e.draft_lora for e in models):
        return None
    return with_quality(production, "draft")


def cached_draft(spec: ShotSpec, production: Production, cache: RenderCache,
                 shown: tuple[int, int]) -> CacheEntry | None:
    """The cached draft final of a shot, for linking when it has no full final (`production`
    may be the full production or its draft view): None when no model has a draft LoRA or
    nothing is cached."""
    drafts = draft_view(full_view(production))
    if drafts is None:
        return None
    try:
        return cache.lookup("final", shot_hash(spec, drafts, "final"), *shown)
    except SoloreelError:
        return None


def keyframe_view(production: Production) -> Production:
    """The keyframe view of a production (or of any view of it), made once per production
    (linking and `status` ask for it per clip)."""
    full = full_view(production)
    found = _KEYFRAME_VIEWS.get(id(full))
    if found is None or found[0] is not full:
        if len(_KEYFRAME_VIEWS) > 64:
            _KEYFRAME_VIEWS.clear()
        found = _KEYFRAME_VIEWS[id(full)] = (full, with_quality(full, "keyframe"))
    return found[1]


_KEYFRAME_VIEWS: dict[int, tuple[Production, Production]] = {}
"""id(full production) → (it, its keyframe view)."""


def cached_keyframe(spec: ShotSpec, production: Production, cache: RenderCache,
                    shown: tuple[int, int]) -> CacheEntry | None:
    """The cached keyframe of a shot covering `shown` (None when none is, or the shot
    cannot be keyed)."""
    try:
        return cache.lookup("final", shot_hash(spec, keyframe_view(production), "final"),
                            *shown)
    except SoloreelError:
        return None


def cached_stand_in(spec: ShotSpec, production: Production, cache: RenderCache,
                    shown: tuple[int, int]) -> CacheEntry | None:
    """What stands in as a clip's `final` media while it has no full final: its cached
    draft, else its cached keyframe (its manifest's `quality` says which)."""
    return (cached_draft(spec, production, cache, shown)
            or cached_keyframe(spec, production, cache, shown))
