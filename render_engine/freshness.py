"""One answer, per shot and tier, to "is this render up to date?".

`status`, `status --plot`, the storyboard page, the contact sheet, `preview`, `render --dry-run`
and `export --tier best` all ask `Freshness.state`, so they agree by construction. A tier of a
shot is

- `fresh`: the cache holds a render of the shot's current content (`render.plan_shot`'s
  hash) covering every frame the cut shows, or the clip links such media (rendered on another
  machine, or the user's own file, which carries no soloreel hash) and it covers the cut;
- `draft`: final tier only — no full final, but a fresh `--quality draft` final is cached;
- `keyframe`: final tier only — no full final nor draft, but a fresh `--quality keyframe`
  still of the shot is cached (`final.quality.cached_keyframe`);
- `stale`: something was rendered for this shot at this tier, but for other content (the spec
  or the bible changed since; for a final, also the proxy it follows or anything else it is
  conditioned on: `final.conditioning`) or for fewer frames than the cut now shows (a trim or
  `dialog` lengthened the shot past its handles);
- `missing`: nothing was ever rendered; `invalid`: the clip cannot be planned (`reason` says
  why).

`media` is the file to show for a fresh, draft or stale state, with the source frames it holds,
so a viewer can say how many frames of the cut it lacks (`TierState.short`) instead of
freezing them silently.

Frame counts are labelled the same way everywhere: `frames` is the cut as edited, `frames+handles`
what a render covers (the production's `handles` frames on each side).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import opentimelineio as otio

from render_engine.bible import TIERS, Production
from render_engine.cache import CacheEntry, RenderCache
from render_engine.errors import SoloreelError
from render_engine.render import BEST_FIRST, ShotPlan, plan_shot, source_frames
from render_engine.spec import NAMESPACE
from render_engine.timeline_io import ShotRef

STATES = ("fresh", "draft", "stale", "missing", "invalid")
PRESENT = frozenset({"fresh", "draft"})
"""States whose media shows the shot's current content for every frame of the cut."""

CUT_FRAMES = "frames"
"""Column label: frames of the cut as edited (no handles)."""
RENDER_FRAMES = "frames+handles"
"""Column label: frames a render covers (the cut plus `handles` frames on each side)."""


def frames_note(handles: int) -> str:
    """The caption line that explains the two frame columns."""
    return (f"{CUT_FRAMES}: the cut as edited; {RENDER_FRAMES}: what a render covers "
            f"({handles} handle frame(s) each side)")


def file_path(url: str) -> Path | None:
    """A local path for a media reference's target URL (file:// or a plain path)."""
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path) if parsed.scheme else url)
    return None


@dataclass(frozen=True)
class LinkedMedia:
    """A tier's media the clip links: the file, the source frames it holds (None: unknown,
    taken as covering) and the content hash soloreel rendered it from ("": not soloreel's)."""

    path: Path
    first: int | None
    frames: int | None
    content_hash: str


def linked_media(clip: otio.schema.Clip, tier: str, fps: float) -> LinkedMedia | None:
    """The clip's media for `tier` when it is a readable local file and not an error slate."""
    reference = clip.media_references().get(tier)
    if reference is None:
        return None
    meta = reference.metadata.get(NAMESPACE, {}) if reference.metadata else {}
    if meta and "error" in meta:
        return None
    path = file_path(getattr(reference, "target_url", "") or "")
    if path is None or not path.is_file():
        return None
    first = frames = None
    if reference.available_range is not None:
        first = round(reference.available_range.start_time.rescaled_to(fps).value)
        frames = round(reference.available_range.duration.rescaled_to(fps).value)
    return LinkedMedia(path, first, frames, str(meta.get("hash", "")) if meta else "")


def latest_by_shot(cache: RenderCache) -> dict[tuple[str, str], CacheEntry]:
    """The newest cache entry per (shot id, tier), to tell stale renders from none."""
    latest: dict[tuple[str, str], CacheEntry] = {}
    for entry in cache.all_entries():
        key = (str(entry.manifest.get("shot_id", "")), entry.tier)
        if key not in latest or entry.manifest.get("created", 0) > latest[key].manifest.get(
                "created", 0):
            latest[key] = entry
    return latest


@dataclass
class TierState:
    """Where one shot stands at one tier (see the module docstring)."""

    tier: str
    state: str
    shown: tuple[int, int] = (0, 0)
    """The source frames the cut shows, [first, end)."""
    plan: ShotPlan | None = None
    """The render plan at this tier (None without a production, or for an unreadable clip)."""
    entry: CacheEntry | None = None
    """The cached render behind a fresh or draft state."""
    previous: CacheEntry | None = None
    """The newest render of this shot id at this tier, whatever its content."""
    media: Path | None = None
    """The file to show for a fresh, draft or stale state (None: nothing to show)."""
    media_first: int = 0
    """Source frame of the media's first frame."""
    media_frames: int | None = None
    """Frames the media holds (None: unknown, taken as covering the cut)."""
    reason: str = ""
    """Why a state is stale or invalid, in a few words."""

    @property
    def present(self) -> bool:
        """True when the media shows the current content for every frame of the cut."""
        return self.state in PRESENT

    @property
    def short(self) -> int:
        """Frames of the cut the media cannot show (0 when it covers the cut or is unknown)."""
        if self.media is None or self.media_frames is None:
            return 0
        first, end = self.shown
        return (max(0, min(end, self.media_first) - first)
                + max(0, end - max(first, self.media_first + self.media_frames)))

    @property
    def to_render(self) -> bool:
        """True when `soloreel render` at this tier would render the shot (a valid plan with
        nothing in the cache): what the GPU and CPU estimates count."""
        return self.plan is not None and not self.plan.problem and self.plan.cached is None

    @property
    def last_render(self) -> float | None:
        """When the shown render (else the newest render of the shot) was made."""
        entry = self.entry or self.previous
        if entry is None:
            return None
        return float(entry.manifest.get("created", 0)) or None


def _entry_media(state: TierState, entry: CacheEntry) -> None:
    state.media = entry.media
    state.media_first = entry.first
    state.media_frames = int(entry.manifest.get("media_frames", entry.end - entry.first))


def _covers(linked: LinkedMedia, shown: tuple[int, int]) -> bool:
    if linked.first is None or linked.frames is None:
        return True
    return linked.first <= shown[0] and shown[1] <= linked.first + linked.frames


def _short_reason(state: TierState) -> str:
    return (f"the cut runs {state.short} frame(s) past its render (handles included); "
            "render it again")


class Freshness:
    """Shot states of one production (or of an edit read without one: linked media only).

    Build one per command: it reads the cache's manifests once (for stale renders) and looks
    up cached drafts through `final.quality.draft_view`."""

    def __init__(self, production: Production | None, cache: RenderCache | None = None):
        self.production = production
        self.cache = cache if cache is not None or production is None else RenderCache(
            production.renders_dir())
        self._latest: dict[tuple[str, str], CacheEntry] | None = None
        self._drafts: Production | None = None
        self._drafts_known = False

    def latest(self) -> dict[tuple[str, str], CacheEntry]:
        """`latest_by_shot` of this production's cache (read once)."""
        if self._latest is None:
            self._latest = latest_by_shot(self.cache) if self.cache is not None else {}
        return self._latest

    def drafts(self) -> Production | None:
        """The production's draft view when some model has a draft LoRA (see `draft_view`)."""
        if not self._drafts_known:
            from render_engine.final.quality import draft_view

            self._drafts = draft_view(self.production) if self.production else None
            self._drafts_known = True
        return self._drafts

    def state(self, ref: ShotRef, tier: str, plan: ShotPlan | None = None) -> TierState:
        """The state of one clip at one tier (`plan`: a `plan_shot` of it already made)."""
        if self.production is None or self.cache is None:
            return self._linked_only(ref, tier)
        if plan is None:
            plan = plan_shot(ref, self.production, self.cache, tier)
        state = TierState(tier, "invalid", plan.shown, plan)
        if plan.problem or plan.spec is None:
            state.reason = plan.problem or f"{ref.label}: the clip has no readable shot spec"
            return state
        if plan.cached is not None:
            state.state, state.entry = "fresh", plan.cached
            _entry_media(state, plan.cached)
            return state
        drafts = self.drafts() if tier == "final" else None
        if drafts is not None:
            draft = plan_shot(ref, drafts, self.cache, tier)
            if draft.cached is not None:
                state.state, state.entry = "draft", draft.cached
                _entry_media(state, draft.cached)
                return state
        if tier == "final":  # a keyframe stands in after that (final.quality)
            from render_engine.final.quality import cached_keyframe

            key = cached_keyframe(plan.spec, self.production, self.cache, plan.shown)
            if key is not None:
                state.state, state.entry = "keyframe", key
                _entry_media(state, key)
                return state
        linked = linked_media(ref.clip, tier, self.production.settings.production.fps)
        same = linked is not None and linked.content_hash in ("", plan.content_hash)
        if linked is not None and same and _covers(linked, plan.shown):
            state.state = "fresh"  # this content, linked from elsewhere, or the user's own
            state.media, state.media_frames = linked.path, linked.frames
            state.media_first = plan.shown[0] if linked.first is None else linked.first
            return state
        state.previous = self.latest().get((plan.spec.shot.id, tier))
        if linked is not None:  # what the edit shows now
            state.media, state.media_frames = linked.path, linked.frames
            state.media_first = plan.shown[0] if linked.first is None else linked.first
            rendered_from = linked.content_hash or plan.content_hash
        elif state.previous is not None:
            _entry_media(state, state.previous)
            rendered_from = state.previous.hash
        else:
            state.state = "missing"
            return state
        state.state = "stale"
        if rendered_from == plan.content_hash and state.short:
            state.reason = _short_reason(state)
        else:
            state.reason = (self._conditioning_reason(state, rendered_from)
                            or "the shot changed since its render (spec, bible or settings)")
        return state

    def _conditioning_reason(self, state: TierState, rendered_from: str) -> str | None:
        """For a stale final whose spec, bible and settings are unchanged: which of the
        inputs it is conditioned on changed (the approved proxy, its control video,
        references or segmenting: `final.conditioning`), from the render's manifest."""
        previous, plan = state.previous, state.plan
        if (state.tier != "final" or previous is None or previous.hash != rendered_from
                or plan is None or plan.spec is None or self.production is None):
            return None
        import json

        from render_engine.hashing import canonical_json, hash_inputs

        old = previous.manifest.get("inputs") or {}
        try:  # as the manifest stored it (JSON)
            new = json.loads(canonical_json(hash_inputs(plan.spec, self.production, "final")))
        except SoloreelError:
            return None
        if any(old.get(k) != v for k, v in new.items() if k != "conditioning"):
            return None
        before, now = old.get("conditioning") or {}, new.get("conditioning") or {}
        if before.get("proxy") != now.get("proxy"):
            return ("the proxy it follows changed since its render (the animatic, or a proxy "
                    "rendered after it); render the final again to follow the approved proxy")
        return ("what it is conditioned on changed since its render (control video, "
                "reference images or long-take segments)")

    def _linked_only(self, ref: ShotRef, tier: str) -> TierState:
        """An edit without its production: what the clip links is all there is to go by."""
        fps = float(ref.rate) or 24.0
        try:
            shown = source_frames(ref.clip, fps, ref.label)
        except SoloreelError as exc:
            return TierState(tier, "invalid", reason=str(exc))
        linked = linked_media(ref.clip, tier, fps)
        if linked is None:
            return TierState(tier, "missing", shown)
        state = TierState(tier, "fresh", shown, media=linked.path,
                          media_first=shown[0] if linked.first is None else linked.first,
                          media_frames=linked.frames)
        if state.short:
            state.state, state.reason = "stale", _short_reason(state)
        return state

    def states(self, ref: ShotRef) -> dict[str, TierState]:
        """Every tier's state of one clip, in `TIERS` order."""
        return {tier: self.state(ref, tier) for tier in TIERS}


def best_present(states: dict[str, TierState]) -> str | None:
    """The best tier whose media is present (fresh or draft), final first."""
    return next((t for t in BEST_FIRST if t in states and states[t].present), None)
