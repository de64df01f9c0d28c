"""Turning clips into cached media and hanging every tier's media on the clip.

This is the one place that decides, per clip: which frames to render (the clip's source range
plus handles), whether the cache already holds them, how to render them safely (lock, staging
folder, atomic publish), and which media references the clip gets. The media linker, the
`render`/`switch`/`status` commands and the bench all go through here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import opentimelineio as otio

from render_engine.bible import TIERS, Production
from render_engine.cache import CacheEntry, RenderCache
from render_engine.errors import SoloreelError
from render_engine.hashing import hash_inputs, inputs_hash, shot_hash
from render_engine.spec import (
    MAX_SHOT_SECONDS,
    NAMESPACE,
    ShotSpec,
    max_shot_seconds,
    spec_or_error,
)
from render_engine.timeline_io import ShotRef
from render_engine.validate import check_spec, duration_problem

log = logging.getLogger(__name__)

BEST_FIRST = ("final", "proxy", "placeholder")
ProgressFn = Callable[[int], None]


@dataclass
class RenderJob:
    """Everything a tier renderer needs to write one shot's media file."""

    spec: ShotSpec
    production: Production
    tier: str
    first: int
    """First source frame to render (handles included), at the production's fps."""
    end: int
    fps: float
    width: int
    height: int
    out_path: Path
    label: str
    shown: tuple[int, int]
    """The frames the edit shows now, [first, end) in source frames (the rest are handles)."""
    progress: ProgressFn = lambda _frames: None

    @property
    def frame_count(self) -> int:
        return self.end - self.first

    def shot_seconds(self, frame_index: int) -> float:
        """Shot time (seconds from the spec's origin) of the n-th rendered frame."""
        return (self.first + frame_index) / self.fps - self.spec.shot.origin


Renderer = Callable[[RenderJob], dict[str, Any]]


def renderer_for(tier: str) -> Renderer:
    """The function that renders a tier (imported lazily: the final tier pulls in torch)."""
    if tier == "placeholder":
        from render_engine.tiers.placeholder import render as placeholder

        return placeholder
    if tier == "proxy":
        from render_engine.tiers.proxy import render as proxy

        return proxy
    if tier == "final":
        from render_engine.tiers.final import render as final

        return final
    raise SoloreelError(
        f'the "{tier}" tier has no renderer installed in this version; render "placeholder"')


@dataclass
class ShotPlan:
    """What linking/rendering one clip at one tier involves."""

    ref: ShotRef
    tier: str
    spec: ShotSpec | None = None
    problem: str | None = None
    content_hash: str = ""
    shown: tuple[int, int] = (0, 0)
    first: int = 0
    end: int = 0
    cached: CacheEntry | None = None
    result: CacheEntry | None = None
    error: str | None = None
    seconds: float = 0.0
    inputs: dict[str, Any] | None = None
    """What `content_hash` was made of (`hashing.hash_inputs`), when planned for this spec."""
    extra: dict[str, Any] = field(default_factory=dict)
    rendered_elsewhere: bool = False
    """True when another process rendered this shot while this one waited for its lock (the
    result is then that process's render: counted as cached, not rendered)."""
    clip_spec: ShotSpec | None = None
    """The clip's own spec when `spec` is the shot it is a piece of (`reuse_identity`): a
    split piece or a duplicate that links its parent's render; None otherwise."""

    @property
    def frames(self) -> int:
        return self.end - self.first

    @property
    def own_spec(self) -> ShotSpec | None:
        """The clip's own spec (its own shot id), whatever render it links."""
        return self.clip_spec or self.spec


def source_frames(clip: otio.schema.Clip, fps: float, label: str) -> tuple[int, int]:
    """The clip's source range as [first, end) frames at the production's frame rate."""
    if clip.source_range is None:
        raise SoloreelError(f"{label} source_range: the clip has no source range; give it a "
                            "duration in the editor or the timeline file")
    problem = duration_problem(label, clip, fps)
    if problem is not None:
        raise SoloreelError(problem.line())
    start = clip.source_range.start_time.rescaled_to(fps).value
    duration = clip.source_range.duration.rescaled_to(fps).value
    first = round(start)
    end = first + round(duration)
    return first, end


def plan_shot(ref: ShotRef, production: Production, cache: RenderCache, tier: str) -> ShotPlan:
    """Parse, check and address one clip at one tier; problems are recorded, not raised."""
    plan = ShotPlan(ref=ref, tier=tier)
    try:
        plan.spec = spec_or_error(ref.clip)
    except SoloreelError as exc:
        plan.problem = f"{ref.label} {exc}"
        return plan
    if plan.spec is None:
        return plan
    problems = check_spec(ref.label, plan.spec, production)
    if problems:
        plan.problem = problems[0].line() + (
            f" (+{len(problems) - 1} more; run soloreel validate)" if len(problems) > 1 else "")
        return plan
    fps = production.settings.production.fps
    handles = production.settings.production.handles
    try:
        plan.shown = source_frames(ref.clip, fps, ref.label)
    except SoloreelError as exc:
        plan.problem = str(exc)
        return plan
    plan.first, plan.end = plan.shown[0] - handles, plan.shown[1] + handles
    try:  # reads every file the shot uses: one may have vanished since validation
        plan.inputs = hash_inputs(plan.spec, production, tier)
        plan.content_hash = inputs_hash(plan.inputs)
    except SoloreelError as exc:
        plan.problem = f"{ref.label} {exc}"
        return plan
    plan.cached = cache.lookup(tier, plan.content_hash, *plan.shown)
    if plan.cached is None:
        _reuse_parent(plan, production, cache)
    return plan


PIECE_KEY = "soloreel_nle"
"""Clip metadata an import writes on a split piece or a duplicate: `render_as`, the shot whose
renders it is a trim of (see `render_engine.nle.reattach`)."""


def piece_digest(spec: ShotSpec) -> str:
    """A short digest of a spec's content: an import records it for the parent's spec, so a
    piece whose spec changed since (a retake, a fix) no longer plans the parent's render."""
    text = json.dumps(spec.to_metadata(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def piece_info(clip: otio.schema.Clip) -> tuple[str | None, tuple[int, int] | None]:
    """(render_as, render_range) an import recorded on a split piece or duplicate; the range
    only while the clip's spec is still the one recorded with it (`render_digest`)."""
    info = clip.metadata.get(PIECE_KEY)
    if info is None:
        return None, None
    render_as = info.get("render_as")
    window = info.get("render_range")
    digest = info.get("render_digest")
    if window is not None and isinstance(render_as, str) and render_as:
        try:
            spec = spec_or_error(clip)
            variant = spec.model_copy(update={"shot": spec.shot.model_copy(
                update={"id": render_as})}) if spec is not None else None
        except (SoloreelError, ValueError):
            variant = None
        if variant is None or digest != piece_digest(variant):
            window = None
    try:
        span = (int(window[0]), int(window[1])) if window is not None else None
    except (TypeError, ValueError, IndexError):
        span = None
    return (render_as if isinstance(render_as, str) and render_as else None), span


def reuse_identity(clip: otio.schema.Clip, spec: ShotSpec) -> ShotSpec | None:
    """The spec of the shot this clip is a piece of, or None.

    An editor's razor split or duplicate is the same shot: same spec, same source media, only
    the source range differs (OTIO's model of a trim). The import gives each piece its own id
    for the edit and records the parent as `render_as`; the piece's spec under the parent's id
    addresses the parent's renders (the content hash covers the spec, id included), so a piece
    within the parent's render and handles links those frames instead of rendering new ones."""
    render_as, _span = piece_info(clip)
    if render_as is None or render_as == spec.shot.id:
        return None
    try:
        shot = spec.shot.model_copy(update={"id": render_as})
    except ValueError:
        return None
    return spec.model_copy(update={"shot": shot})


def _reuse_parent(plan: ShotPlan, production: Production, cache: RenderCache) -> None:
    """Address a piece's plan at its parent's render when one covers the piece's frames (the
    piece then renders nothing and keeps the parent's motion, frame for frame). With no such
    render yet, a piece inside the parent's cut plus handles (`render_range`, the parent's
    exported source frames) plans the parent's own render — the same frames and camera move
    the parent would have had, rendered once for all its pieces. Otherwise (a piece that
    outgrew the parent, a spec changed by a retake or a fix) the piece is its own shot."""
    assert plan.spec is not None
    parent = reuse_identity(plan.ref.clip, plan.spec)
    if parent is None:
        return
    try:
        content_hash = shot_hash(parent, production, plan.tier)
    except SoloreelError:
        return
    found = cache.lookup(plan.tier, content_hash, *plan.shown)
    if found is None:
        _render_as, span = piece_info(plan.ref.clip)
        handles = production.settings.production.handles
        if span is None or not (span[0] - handles <= plan.shown[0]
                                and plan.shown[1] <= span[1] + handles):
            _extend_parent(plan, parent, content_hash, span, production, cache)
            return
        found = cache.lookup(plan.tier, content_hash, *span)
        plan.extra["piece_shown"] = plan.shown
        plan.shown = span
        plan.first, plan.end = span[0] - handles, span[1] + handles
    plan.clip_spec, plan.spec = plan.spec, parent
    plan.content_hash, plan.cached, plan.inputs = content_hash, found, None


def _extend_parent(plan: ShotPlan, parent: ShotSpec, content_hash: str,
                   span: tuple[int, int] | None, production: Production,
                   cache: RenderCache) -> None:
    """A piece that outgrew its parent's render and handles: when a render of the parent
    overlaps or touches the piece's frames (CPU tiers), plan a render of the extended range
    that renders only the missing frames on the parent's camera-move clock and joins them to
    the parent's (`render_engine.nle.extend`). The final tier (and a piece far from any
    render) stays a shot of its own; `extra["extends"]` says why for the dry run."""
    from render_engine.nle.extend import FINAL_WHOLE_REASON, find_extension

    handles = production.settings.production.handles
    need = (plan.shown[0] - handles, plan.shown[1] + handles)
    extension = find_extension(cache, plan.tier, content_hash, need, span, handles)
    if extension is None:
        if plan.tier == "final" and cache.entries(plan.tier, content_hash):
            plan.extra["extends"] = FINAL_WHOLE_REASON
        return
    plan.clip_spec, plan.spec = plan.spec, parent
    plan.content_hash, plan.cached, plan.inputs = content_hash, None, None
    plan.first, plan.end = extension.first, extension.end
    plan.extra["extension"] = extension


@dataclass(frozen=True)
class ShotWork:
    """What rendering one planned shot needs, without the edit it came from: picklable, so a
    worker process can render it (`render_engine.render_pool`)."""

    spec: ShotSpec
    tier: str
    content_hash: str
    first: int
    end: int
    shown: tuple[int, int]
    label: str
    inputs: dict[str, Any] | None = None
    """What the content hash was made of (`hashing.hash_inputs`), when the plan kept it: the
    manifest records it without hashing the shot again."""
    extension: Any = None
    """A `render_engine.nle.extend.Extension` when the work extends a cached render of the
    same content (only the missing frames render); None: render [first, end) whole."""

    @classmethod
    def of(cls, plan: ShotPlan) -> ShotWork:
        """The work of a plan that has a spec."""
        assert plan.spec is not None
        return cls(plan.spec, plan.tier, plan.content_hash, plan.first, plan.end, plan.shown,
                   plan.ref.label, plan.inputs, plan.extra.get("extension"))


def render_shot(plan: ShotPlan, production: Production, cache: RenderCache,
                progress: ProgressFn | None = None) -> CacheEntry:
    """Render one planned shot into the cache (or find it there after waiting for the lock:
    `plan.rendered_elsewhere` says so)."""
    entry, plan.rendered_elsewhere = render_work(ShotWork.of(plan), production, cache, progress)
    return entry


def render_work(work: ShotWork, production: Production, cache: RenderCache,
                progress: ProgressFn | None = None) -> tuple[CacheEntry, bool]:
    """Render one shot's work into the cache; (the entry, whether another process rendered it
    while this one waited for its lock). Holds the production's render lock (gc refuses to
    delete meanwhile) and clears staging a killed render of the same content left behind."""
    renderer = renderer_for(work.tier)
    with cache.rendering(), cache.lock(work.tier, work.content_hash):
        found = cache.lookup(work.tier, work.content_hash, *work.shown)
        if found is not None:  # another process rendered it while we waited
            return found, True
        cache.clear_staging(work.tier, work.content_hash)
        settings = production.settings.tier(work.tier)
        suffix = ".mov" if production.settings.encode.profile == "resolve" else ".mp4"
        media_name = f"{work.spec.shot.id}{suffix}"
        started = time.perf_counter()
        extension = work.extension
        base = None
        if extension is not None:
            from render_engine.nle.extend import base_entry

            base = base_entry(cache, work.tier, work.content_hash, extension.base)
        with cache.staging(work.tier, work.content_hash, work.first, work.end) as staged:
            job = RenderJob(
                spec=work.spec, production=production, tier=work.tier, first=work.first,
                end=work.end, fps=production.settings.production.fps, width=settings.width,
                height=settings.height, out_path=staged / media_name,
                label=(base.manifest.get("label", work.label) if base else work.label),
                shown=extension.move if extension is not None else work.shown,
                progress=progress or (lambda _n: None))
            if base is not None:  # only the frames the parent's render lacks
                from render_engine.nle.extend import render_extended

                details = render_extended(job, base, extension)
            else:
                details = renderer(job)
            seconds = time.perf_counter() - started
            manifest = {
                "shot_id": work.spec.shot.id,
                "spec": work.spec.to_metadata(),
                "inputs": work.inputs or hash_inputs(work.spec, production, work.tier),
                "fps": job.fps,
                "size": [job.width, job.height],
                "encode_profile": production.settings.encode.profile,
                "label": job.label,
                "move": list(job.shown),
                "timings": {"seconds": round(seconds, 3),
                            "seconds_per_frame": round(seconds / max(1, job.frame_count), 5)},
                **details,
            }
            return cache.commit(work.tier, work.content_hash, work.first, work.end, staged,
                                media_name, manifest), False


def media_reference(entry: CacheEntry) -> otio.schema.ExternalReference:
    """An ExternalReference to a cache entry with the media's true available range."""
    fps = float(entry.manifest["fps"])
    frames = int(entry.manifest.get("media_frames", entry.end - entry.first))
    reference = otio.schema.ExternalReference(
        target_url=entry.media.resolve().as_uri(),
        available_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(entry.first, fps), otio.opentime.RationalTime(frames, fps)),
    )
    reference.name = entry.media.name
    reference.metadata[NAMESPACE] = {"tier": entry.tier, "hash": entry.hash,
                                     "shot_id": entry.manifest.get("shot_id", "")}
    return reference


def error_reference(path: Path, tier: str, reason: str, first: int, frames: int,
                    fps: float) -> otio.schema.ExternalReference:
    """A reference to an error slate (not a cache entry: the next run retries the shot)."""
    reference = otio.schema.ExternalReference(
        target_url=path.resolve().as_uri(),
        available_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(first, fps), otio.opentime.RationalTime(frames, fps)))
    reference.name = path.name
    reference.metadata[NAMESPACE] = {"tier": tier, "error": reason}
    return reference


def attach_references(clip: otio.schema.Clip, spec: ShotSpec, production: Production,
                      cache: RenderCache, wanted: str, shown: tuple[int, int],
                      extra: dict[str, otio.schema.ExternalReference] | None = None,
                      known: dict[str, str] | None = None) -> str | None:
    """Hang every tier the cache holds for this spec and range on the clip (a cached draft
    final when there is no full one); activate `wanted` if present, else the best tier
    present. `known`: content hashes already computed for this spec, by tier. Returns the
    active tier (None if nothing exists)."""
    from render_engine.final.quality import full_view

    references: dict[str, otio.core.MediaReference] = {}
    for tier in TIERS:
        try:  # a full final wins over a draft, even in a draft run
            seen = full_view(production) if tier == "final" else production
            content_hash = (known or {}).get(tier) or shot_hash(spec, seen, tier)
            entry = cache.lookup(tier, content_hash, *shown)
        except SoloreelError:
            entry = None
        if entry is not None:
            references[tier] = media_reference(entry)
    if "final" not in references:  # a draft (or keyframe) stands in until the full final
        from render_engine.final.quality import cached_stand_in

        draft = cached_stand_in(spec, production, cache, shown)
        if draft is not None:
            references["final"] = media_reference(draft)
            references["final"].metadata[NAMESPACE]["quality"] = draft.manifest.get(
                "quality", "draft")
    for tier, reference in (extra or {}).items():
        references.setdefault(tier, reference)
    if not references:
        return None
    active = wanted if wanted in references else next(t for t in BEST_FIRST if t in references)
    clip.set_media_references(references, active)
    return active


ERROR_REASON_CHARS = 2000
"""The most of a failure's reason an error slate draws (the full text is in the log)."""


def error_slate_frames(plan: ShotPlan, production: Production) -> int:
    """Frames of a failed shot's error slate: the planned range (handles included), never
    fewer than 1 nor more than the longest shot allowed plus its handles, whatever the plan
    says — the slate is a courtesy and must not become an unbounded render of its own."""
    production_info = production.settings.production
    try:
        seconds = max_shot_seconds()
    except SoloreelError:
        seconds = MAX_SHOT_SECONDS
    limit = math.ceil(seconds * production_info.fps) + 2 * production_info.handles
    return min(max(1, plan.frames), limit)


def render_error_slate(plan: ShotPlan, production: Production, reason: str) -> Path | None:
    """Write a clearly marked error slate for a failed shot (`error_slate_frames` long);
    None if even that fails."""
    from render_engine.tiers.placeholder import write_error_slate

    settings = production.settings.tier(plan.tier)
    shot_id = plan.spec.shot.id if plan.spec else f"clip{plan.ref.number}"
    path = production.renders_dir() / "errors" / plan.tier / f"{shot_id}.mp4"
    try:
        write_error_slate(path, settings.width, settings.height,
                          error_slate_frames(plan, production),
                          production.settings.production.fps, plan.ref.label,
                          reason[:ERROR_REASON_CHARS])
    except Exception:  # the slate is a courtesy; the error itself is already reported
        log.debug("error slate failed", exc_info=True)
        return None
    return path


def link_plan(plan: ShotPlan, production: Production, cache: RenderCache, render: bool,
              progress: ProgressFn | None = None) -> ShotPlan:
    """Render (if asked and missing) and attach references for one planned shot."""
    if plan.spec is None or plan.problem:
        return plan
    started = time.perf_counter()
    if plan.cached is None and render:
        try:
            plan.result = render_shot(plan, production, cache, progress)
        except Exception as exc:  # a backend failure must not stop the other shots
            plan.error = failure_text(exc)
    return attach_plan(plan, production, cache, time.perf_counter() - started)


def failure_text(exc: Exception) -> str:
    """What a failed render says on its error slate and in the summary: a SoloreelError's own
    words, any other exception's type and message (its traceback goes to the debug log)."""
    if isinstance(exc, SoloreelError):
        return str(exc)
    log.debug("render failed:\n%s", "".join(traceback.format_exception(exc)))
    return f"{type(exc).__name__}: {exc}"


def attach_plan(plan: ShotPlan, production: Production, cache: RenderCache,
                seconds: float) -> ShotPlan:
    """After a plan's render (or none): an error slate for a failure, then every cached tier
    hung on the clip (`attach_references`)."""
    assert plan.spec is not None
    extra: dict[str, otio.schema.ExternalReference] = {}
    slate = render_error_slate(plan, production, plan.error) if plan.error else None
    if plan.error and slate is not None:
        extra[plan.tier] = error_reference(
            slate, plan.tier, plan.error, plan.first, error_slate_frames(plan, production),
            production.settings.production.fps)
    plan.seconds = seconds
    known = ({plan.tier: plan.content_hash}
             if plan.content_hash and plan.tier != "final" else None)
    active = attach_references(plan.ref.clip, plan.spec, production, cache, plan.tier,
                               plan.shown, extra, known)
    plan.extra["active"] = active
    return plan
