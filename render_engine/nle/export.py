"""`export`: a flattened copy of a master edit for one NLE, with identity markers.

NLEs read only a clip's active reference, so the copy keeps exactly one reference per clip (the
asked tier, rendered first when missing, in the NLE's media profile); the master keeps all tiers.
The tier `best` (the default) exports each clip at the best tier that is fresh for it
(`render_engine.freshness`, what `status` says) — a final only when its render already exists in
the NLE's media profile (no GPU render is started by an export), else the best CPU tier, rendered
in that profile when missing; a clip with nothing yet gets a placeholder. Each row records the
tier exported.
Each shot clip gets a `soloreel:shot=<id>` marker, and the registry learns every exported spec,
media path and position so `import` can find the shots again.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import opentimelineio as otio

from render_engine.bible import TIERS, Production
from render_engine.cache import RenderCache
from render_engine.errors import SoloreelError
from render_engine.freshness import Freshness
from render_engine.nle.identity import MARKER_RE, marker_texts, media_path, shot_marker
from render_engine.nle.layers import add_layer_tracks, layer_source_note, render_shot_layers
from render_engine.nle.registry import ShotRegistry, spec_digest
from render_engine.render import (
    BEST_FIRST,
    PIECE_KEY,
    link_plan,
    media_reference,
    piece_info,
    plan_shot,
)
from render_engine.timeline_io import ShotRef, iter_shots

NLE_TARGETS: dict[str, tuple[str, str, str]] = {
    "resolve": ("otio_json", ".otio", "resolve"),
    "kdenlive": ("otio_json", ".otio", "kdenlive"),
    "fcp7": ("fcp_xml", ".xml", "resolve"),
    "mlt": ("soloreel_mlt", ".mlt", "kdenlive"),
}
"""NLE → (OTIO adapter, file suffix, default media profile). FCP7 XML serves older Resolve,
whose free Linux build cannot decode H.264/AAC; MLT is Kdenlive's engine."""

EXPORT_LAYOUT = "last-export"
EXPORT_TIERS = (*TIERS, "best")
"""What `export --tier` accepts: a tier, or `best` (per clip, see the module docstring)."""


@dataclass
class ExportResult:
    """The flattened timeline, what the user should know, and where each shot sits."""

    timeline: otio.schema.Timeline
    adapter: str
    warnings: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Things worth knowing that are not failures (a final left out for its media profile)."""

    def tier_counts(self) -> dict[str, int]:
        """Exported shots per tier, best tier first."""
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row["tier"]] = counts.get(row["tier"], 0) + 1
        order = [*BEST_FIRST, "layers"]
        return dict(sorted(counts.items(), key=lambda kv: order.index(kv[0])
                           if kv[0] in order else len(order)))


def best_tier(ref: ShotRef, own: Freshness, exported: Freshness, profile: str
              ) -> tuple[str, str | None]:
    """`--tier best` for one clip: (the tier to export, a note when a final is passed over).

    `own` sees the production's own media profile (what `status` reports), `exported` the
    NLE's. The best fresh tier wins; a final only when its render exists in the NLE's profile
    (an export never starts a GPU render); nothing fresh → placeholder (rendered in seconds)."""
    states = own.states(ref)
    note = None
    for tier in BEST_FIRST:
        if not states[tier].present:
            continue
        if tier != "final":
            return tier, note
        there = exported.state(ref, "final")
        if there.plan is not None and there.plan.cached is not None:  # a full final, cached
            return tier, None
        if states[tier].state == "fresh":
            note = (f"{ref.label}: its final is rendered in another media profile only; "
                    f"exported its best CPU tier (export --tier final renders it in the "
                    f"{profile} profile on the GPU)")
    return "placeholder", note


def with_profile(production: Production, profile: str | None) -> Production:
    """The production with another encode profile (renders then land under their own hashes)."""
    if not profile or profile == production.settings.encode.profile:
        return production
    changed = copy.copy(production)
    encode = production.settings.encode.model_copy(update={"profile": profile})
    changed.settings = production.settings.model_copy(update={"encode": encode})
    return changed


def flatten(clip: otio.schema.Clip) -> None:
    """Keep only the active reference, under the default key every reader understands."""
    key = otio.schema.Clip.DEFAULT_MEDIA_KEY
    clip.set_media_references({key: clip.media_reference.clone()}, key)


def _drop_identity_markers(clip: otio.schema.Clip) -> None:
    keep = [m for m in clip.markers if not any(MARKER_RE.search(t) for t in marker_texts(m))]
    clip.markers[:] = keep  # type: ignore[index]


def export_edit(master: otio.schema.Timeline, production: Production, nle: str,
                tier: str = "best", profile: str | None = None,
                render: bool = True, layers: bool = False) -> ExportResult:
    """Render what the export needs, flatten, mark and register; the master is untouched.

    `tier`: a tier, or `best` (per clip: `best_tier`); each row's `tier` is what was exported.

    With `layers`, each shot's clip carries its plate and its character and foreground
    layers go on tracks above (see `render_engine.nle.layers`); shots without layers (not
    rendered and `render` off, or failed) are exported flat with a warning.
    """
    if nle not in NLE_TARGETS:
        raise SoloreelError(f'unknown NLE "{nle}"; choose one of {", ".join(NLE_TARGETS)}')
    if tier not in EXPORT_TIERS:
        raise SoloreelError(f'unknown tier "{tier}"; choose one of {", ".join(EXPORT_TIERS)}')
    adapter, _suffix, default_profile = NLE_TARGETS[nle]
    own = Freshness(production)
    production = with_profile(production, profile or default_profile)
    cache = RenderCache(production.renders_dir())
    exported = own if production is own.production else Freshness(production, cache)
    media_profile = production.settings.encode.profile
    registry = ShotRegistry(production.root)
    timeline = master.deepcopy()
    timeline.name = timeline.name or "soloreel edit"
    result = ExportResult(timeline=timeline, adapter=adapter)
    tracks = list(timeline.video_tracks())
    stacks: list[tuple[otio.schema.Clip, Any]] = []
    for ref in iter_shots(timeline):
        clip = ref.clip
        if not ref.has_spec:
            if clip.media_references() and len(clip.media_references()) > 1:
                flatten(clip)
            continue
        wanted = tier
        if tier == "best":
            wanted, note = best_tier(ref, own, exported, media_profile)
            if note:
                result.notes.append(note)
        plan = plan_shot(ref, production, cache, wanted)
        if plan.problem or plan.spec is None:
            result.warnings.append(f"{plan.problem or ref.label}: skipped (run soloreel "
                                   "validate)")
            continue
        entry = _layers(plan, production, cache, render, result) if layers else None
        if layers and entry is not None:
            note = layer_source_note(wanted)
            if note and note not in result.notes:
                result.notes.append(note)
        if entry is not None:
            key = otio.schema.Clip.DEFAULT_MEDIA_KEY
            clip.set_media_references({key: media_reference(entry)}, key)
            stacks.append((clip, entry))
            active = wanted
        else:
            link_plan(plan, production, cache, render)
            active = plan.extra.get("active")
        if plan.error:
            result.warnings.append(f"{ref.label}: render failed ({plan.error}); exported the "
                                   "error slate")
        elif active is None:
            result.warnings.append(f"{ref.label}: no media at any tier yet; render it first")
            continue
        elif active != wanted:
            result.warnings.append(f"{ref.label}: no {wanted} media yet; exported its {active}")
        flatten(clip)
        _drop_identity_markers(clip)
        shot_spec = plan.own_spec
        assert shot_spec is not None
        clip.markers.append(shot_marker(shot_spec.shot.id, clip.source_range.start_time, nle))
        path = media_path(clip)
        media = [str(path.resolve())] if path is not None and path.exists() else []
        record = registry.record(shot_spec, reason="edit", media=media)
        if plan.clip_spec is not None:  # a piece: found again by its parent's file
            span = piece_info(clip)[1]
            info = clip.metadata.get(PIECE_KEY) or {}
            piece = (plan.spec.shot.id, list(span) if span else None,
                     info.get("render_digest") if span else None)
            if (record.get("render_as"), record.get("render_range"),
                    record.get("render_digest")) != piece:
                record["render_as"], record["render_range"], record["render_digest"] = piece
                registry.save(record)
        shown = plan.extra.get("piece_shown", plan.shown)
        result.rows.append({
            "shot_id": shot_spec.shot.id, "track": tracks.index(ref.track),
            "record": round(clip.trimmed_range_in_parent().start_time.value),
            "source": [shown[0], shown[1]], "media": media[0] if media else "",
            "tier": active or wanted, "spec": spec_digest(shot_spec), "name": clip.name,
        })
    if stacks:
        result.warnings += add_layer_tracks(timeline, stacks)
    _gap_text_only_audio(timeline)
    registry.save_layout(EXPORT_LAYOUT, result.rows)
    return result


def _gap_text_only_audio(timeline: otio.schema.Timeline) -> None:
    """Audio clips with no media (a screenplay's dialog lines: text for the editor, the sound
    is in each shot's media) become gaps: NLEs skip or complain about missing media."""
    for track in timeline.audio_tracks():
        for index, item in enumerate(list(track)):
            if isinstance(item, otio.schema.Clip) and isinstance(
                    item.media_reference, otio.schema.MissingReference):
                track[index] = otio.schema.Gap(source_range=item.source_range)


def _layers(plan: Any, production: Production, cache: RenderCache, render: bool,
            result: ExportResult) -> Any:
    """The shot's cached layers (rendered if asked), or None with a warning: flat export."""
    settings = production.settings.tier(plan.tier)
    try:  # cut at the exported tier's frame size
        entry = render_shot_layers(plan, production, cache, render,
                                   (settings.width, settings.height))
    except Exception as exc:  # one shot's layers failing must not stop the export
        result.warnings.append(f"{plan.ref.label}: layers failed ({type(exc).__name__}: {exc});"
                               " exported it flat")
        return None
    if entry is None:
        result.warnings.append(f"{plan.ref.label}: no layers rendered yet; exported it flat")
    return entry


def default_suffix(nle: str) -> str:
    """The file suffix an export for `nle` is written with."""
    return NLE_TARGETS[nle][1]


def check_output(path: Path, nle: str) -> None:
    """Refuse a suffix the NLE's adapter would not write."""
    if path.suffix.lower() != default_suffix(nle):
        raise SoloreelError(f"{path.name}: a {nle} export is written as {default_suffix(nle)}")
