"""Editor orders: markers the editor drops on a clip in the NLE become render jobs on import.

- `retake`: a new seed (derived from the shot id, old seed and take number); the old take is
  kept on the registry record and comes back as an alternate reference `take<n>` on the clip.
- `fix: <note>`: the note is appended to the shot's prompt, so the shot re-renders.
- `final`: the shot is queued for its final render (`registry/final_queue.json`).
- `approve`: the shot's cached keyframe is pinned into its spec (`final.keyframes.approve`);
  a `retake` also keeps the shot's keyframe as an alternate (`final.keyframes.retake`).

An order marker is applied once: the registry remembers it (shot, order, marker position), and
the marker on the master edit is renamed `done: <order>`.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from typing import Any

import opentimelineio as otio

from render_engine.errors import SoloreelError
from render_engine.nle.identity import MARKER_RE, marker_texts, media_path
from render_engine.nle.registry import ShotRegistry
from render_engine.spec import NAMESPACE, ShotSpec, spec_or_error, write_spec
from render_engine.timeline_io import iter_shots

TAKE_PREFIX = "take"


@dataclass
class Order:
    """One applied order."""

    shot_id: str
    kind: str
    note: str = ""
    detail: str = ""


def parse_order(text: str) -> tuple[str, str] | None:
    """`retake` / `fix: note` / `final` (any case, surrounding spaces ignored) → (kind, note)."""
    cleaned = text.strip()
    lower = cleaned.lower()
    if lower in ("retake", "final", "approve"):
        return lower, ""
    if lower.startswith("fix:") and cleaned[4:].strip():
        return "fix", cleaned[4:].strip()
    return None


def _marker_order(marker: otio.schema.Marker) -> tuple[str, str] | None:
    for text in marker_texts(marker):
        if MARKER_RE.search(text) or text.lower().startswith("done:"):
            return None
        found = parse_order(text)
        if found:
            return found
    return None


def new_seed(shot_id: str, seed: int, take: int) -> int:
    """A different, reproducible seed for take `take` of a shot."""
    digest = hashlib.sha256(f"{shot_id}:{seed}:{take}".encode()).hexdigest()
    value = int(digest[:8], 16)
    return value if value != seed else (value + 1) % 2**32


def _take_reference(clip: otio.schema.Clip) -> dict[str, Any] | None:
    """The clip's current media as a plain record (the alternate take)."""
    path = media_path(clip)
    if path is None:
        return None
    available = clip.media_reference.available_range
    return {"url": path.resolve().as_uri(),
            "range": [available.start_time.value, available.duration.value,
                      available.duration.rate] if available else None}


def add_alternates(clip: otio.schema.Clip, record: dict[str, Any] | None) -> None:
    """Hang the record's earlier takes on the clip as extra references `take1`, `take2`…"""
    if not record or not record.get("takes"):
        return
    references = dict(clip.media_references())
    active = clip.active_media_reference_key
    for number, take in enumerate(record["takes"], start=1):
        media = take.get("media")
        if not media:
            continue
        reference = otio.schema.ExternalReference(target_url=media["url"])
        if media.get("range"):
            start, duration, rate = media["range"]
            reference.available_range = otio.opentime.TimeRange(
                otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(duration, rate))
        reference.metadata[NAMESPACE] = {"take": number, "seed": take["spec"]["seed"]}
        references[f"{TAKE_PREFIX}{number}"] = reference
    clip.set_media_references(references, active)


def _apply(kind: str, note: str, spec: ShotSpec, record: dict[str, Any],
           clip: otio.schema.Clip, registry: ShotRegistry | None = None
           ) -> tuple[ShotSpec | None, str]:
    from render_engine.nle.registry import DryRegistry

    root = registry.root.parent if registry is not None else None
    store = not isinstance(registry, DryRegistry)  # a dry run writes nothing
    if kind == "retake":
        take = len(record.get("takes", [])) + 1
        record.setdefault("takes", []).append(
            {"spec": spec.to_metadata(), "media": _take_reference(clip)})
        seed = new_seed(spec.shot.id, spec.seed, take)
        detail = f"seed {spec.seed} → {seed}"
        if root is not None:  # the keyframe of the old seed stays as an alternate
            from render_engine.final import keyframes

            with contextlib.suppress(SoloreelError):
                return keyframes.retake(spec, *keyframes.clip_context(root, clip), seed=seed,
                                        store=store).spec, detail
        return spec.model_copy(update={"seed": seed}), detail
    if kind == "approve":
        from render_engine.final import keyframes

        try:
            if root is None:
                raise SoloreelError("no production to approve against")
            done = keyframes.approve(spec, *keyframes.clip_context(root, clip),
                                     label=clip.name, store=store)
        except SoloreelError as exc:
            return spec, f"failed: {exc}"
        return done.spec, done.detail
    if kind == "fix":
        prompt = f"{spec.prompt.rstrip()} {note}".strip()
        return spec.model_copy(update={"prompt": prompt}), f"prompt += {note!r}"
    return None, "queued for the final tier"


def apply_orders(timeline: otio.schema.Timeline, registry: ShotRegistry) -> list[Order]:
    """Apply every new order marker on the edit's shot clips; returns what was done."""
    done: list[Order] = []
    for ref in iter_shots(timeline):
        spec = spec_or_error(ref.clip) if ref.has_spec else None
        if spec is None:
            continue
        for marker in ref.clip.markers:
            found = _marker_order(marker)
            if found is None:
                continue
            kind, note = found
            key = f"{kind}:{note}@{marker.marked_range.start_time.value}"
            record = registry.record(spec, reason="import")
            if key in record.get("orders_done", []):
                marker.name = f"done: {marker.name}"
                continue
            changed, detail = _apply(kind, note, spec, record, ref.clip, registry)
            record.setdefault("orders_done", []).append(key)
            registry.save(record)
            if changed is not None:
                registry.record(changed, reason=kind)
                write_spec(ref.clip, changed)
                spec = changed
            else:
                registry.queue_final(spec.shot.id)
            marker.name = f"done: {kind}" + (f": {note}" if note else "")
            done.append(Order(spec.shot.id, kind, note, detail))
    return done


def queued_plans(plans: list[Any], production_root: Any, tier: str) -> list[Any]:
    """The plans of shots a `final` marker queued (`registry/final_queue.json`), for `soloreel
    render EDIT --tier final --queued`: what the editor's markers asked for, nothing else.

    Raises a SoloreelError naming the fix when the tier is not final (the markers ask for
    finals) or nothing is queued."""
    from render_engine.errors import SoloreelError

    if tier != "final":
        raise SoloreelError(f"--queued renders the finals that `final` markers asked for; use "
                            f"--tier final (not {tier})")
    queue = ShotRegistry(production_root).final_queue()
    if not queue:
        raise SoloreelError("--queued: no shot is queued; drop a `final` marker on a clip in "
                            "the NLE and `soloreel import` the edit")
    wanted = set(queue)
    return [plan for plan in plans
            if (plan.own_spec.shot.id if plan.own_spec is not None else None) in wanted]
