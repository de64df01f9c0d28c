"""One review row per shot of an edit: what it is, where it sits, which tiers exist, what it costs.

Every review output (storyboard page, contact sheet, preview movie, status plot) is drawn from
this model, and the model from the two functions `soloreel status` and `render --dry-run` use:
each tier's state and media from `render_engine.freshness.Freshness.state` (the render cache,
else media the clip already links: an edit linked on another machine, or read without its
production), and the final tier's GPU minutes from `render_engine.final.cost.final_estimates`.
So they agree with one another by construction.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import opentimelineio as otio

from render_engine.bible import Production, load_production
from render_engine.final.cost import FinalEstimates, final_estimates
from render_engine.freshness import Freshness, TierState, file_path
from render_engine.render import BEST_FIRST, source_frames
from render_engine.spec import ShotSpec, spec_or_error
from render_engine.timeline_io import iter_shots, timeline_rate

STATIC_MOVES = frozenset({"static"})


@dataclass(frozen=True)
class TierMedia:
    """A movie holding one tier of a shot; `offset` frames of it come before the cut's first
    (negative when the movie starts after the cut does: a stale, short render)."""

    tier: str
    path: Path
    offset: int
    frames: int
    """Frames the movie holds from `offset` on that belong to the cut (at most the cut's)."""
    short: int = 0
    """Frames of the cut the movie cannot show (0 for fresh media)."""
    stale: bool = False
    """True for the media of a stale render (shown only as a marked last resort)."""


def tier_media(state: TierState, frames: int) -> TierMedia | None:
    """The media of a tier state as the cut uses it (None when there is nothing to show)."""
    if state.media is None:
        return None
    offset = state.shown[0] - state.media_first
    held = frames if state.media_frames is None else state.media_frames - max(0, offset)
    return TierMedia(state.tier, state.media, offset, max(0, min(frames, held)), state.short,
                     state.state == "stale")


@dataclass
class ReviewShot:
    """Everything a reviewer sees about one shot."""

    number: int
    name: str
    record_start: int
    """First frame on the edit's timeline, counted from the edit's start (production fps)."""
    frames: int
    """Frames the edit shows (the cut, without handles)."""
    fps: float
    scene: str = ""
    spec: ShotSpec | None = None
    problem: str | None = None
    states: dict[str, str] = field(default_factory=dict)
    """tier → fresh | draft | stale | missing | invalid (`freshness.STATES`)."""
    tier_states: dict[str, TierState] = field(default_factory=dict)
    """tier → the full `freshness.TierState` (reason, plan, media)."""
    media: dict[str, TierMedia] = field(default_factory=dict)
    """Present media per tier (fresh, or a draft final)."""
    stale_media: dict[str, TierMedia] = field(default_factory=dict)
    """Media of stale renders per tier (the preview's marked last resort)."""
    active: str | None = None
    """The tier the edit shows: the clip's active reference if present, else the best present."""
    render_frames: int = 0
    """Frames a render of this shot covers (handles included): what a final would cost."""
    final_minutes: float | None = None
    """Estimated GPU minutes for the final tier still to spend (0 when it is cached; None when
    it cannot be estimated: no production, or no model — `Review.final_problem` says why)."""

    @property
    def shot_id(self) -> str:
        return self.spec.shot.id if self.spec else f"clip{self.number}"

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    @property
    def best(self) -> str | None:
        """The best tier with fresh media."""
        return next((t for t in BEST_FIRST if t in self.media), None)

    @property
    def best_any(self) -> tuple[str | None, bool]:
        """The best tier rendered at all, and whether that render is stale (for the plot)."""
        for tier in BEST_FIRST:
            if self.states.get(tier) in ("fresh", "draft"):
                return tier, False
            if self.states.get(tier) == "stale":
                return tier, True
        return None, False

    def stale_notes(self) -> list[str]:
        """"proxy stale: why" for every stale tier."""
        return [f"{tier} stale: {state.reason}" for tier, state in self.tier_states.items()
                if state.state == "stale"]

    @property
    def moving(self) -> bool:
        """Whether the picture changes a lot over the shot (camera move or walking)."""
        if self.spec is None:
            return False
        return (self.spec.camera.move not in STATIC_MOVES
                or any(c.action == "walk" for c in self.spec.characters))

    def shown(self) -> TierMedia | None:
        """The media the edit shows for this shot (active tier), if any."""
        return self.media.get(self.active) if self.active else None

    def pick(self, wanted: str) -> TierMedia | None:
        """Media at `wanted` if present, else at the best tier present (preview's fallback),
        else a stale render's (wanted first, then best first; `TierMedia.stale` says so)."""
        if wanted in self.media:
            return self.media[wanted]
        best = self.best
        if best:
            return self.media[best]
        for tier in (wanted, *BEST_FIRST):
            if tier in self.stale_media:
                return self.stale_media[tier]
        return None


@dataclass
class Review:
    """An edit ready for review: its shots in timeline order and its totals."""

    title: str
    fps: float
    frames: int
    """The edit's exact duration in frames."""
    shots: list[ReviewShot]
    production: Production | None = None
    final: FinalEstimates | None = None
    """The final tier's GPU estimate (None without a production or when not asked for)."""

    @property
    def final_minutes(self) -> float | None:
        """GPU minutes of finals still to render (None when nothing could be estimated)."""
        if self.final is None or self.final.problem:
            return None
        return self.final.total_minutes

    @property
    def final_problem(self) -> str | None:
        """Why there is no GPU estimate (no production, or the key to set)."""
        if self.final is None:
            return "no GPU estimate without the production"
        return self.final.problem

    def final_total_text(self) -> str:
        """The edit's final GPU total as every review output prints it (the same figure
        `render --tier final --dry-run` totals)."""
        if self.final is None:
            return "finals: no GPU estimate (no production)"
        if self.final.problem:
            return "finals: no GPU estimate (set [tiers.final] model in soloreel.toml)"
        left_out = len(self.final.unestimated)
        return (f"finals still to render ≈ {self.final.total_minutes:.1f} GPU-min"
                + (f" (+{left_out} shot(s) not estimated)" if left_out else ""))

    def final_source(self) -> str:
        """Where the GPU figures come from (or why there are none), in one line."""
        if self.final is None or self.final.problem:
            return self.final_problem or ""
        return f"est. on {self.final.gpu}"

    def scenes(self) -> list[tuple[str, list[ReviewShot]]]:
        """Consecutive shots grouped by scene, in order."""
        groups: list[tuple[str, list[ReviewShot]]] = []
        for shot in self.shots:
            if not groups or groups[-1][0] != shot.scene:
                groups.append((shot.scene, []))
            groups[-1][1].append(shot)
        return groups


def find_production_for(timeline: otio.schema.Timeline,
                        hint: Path | str | None = None) -> Path | None:
    """The production folder: `hint`, $SOLOREEL_PRODUCTION, or the folder above linked media
    (or above `hint` when it is a file, e.g. the timeline) holding soloreel.toml."""
    starts: list[Path] = []
    if hint:
        hint = Path(hint)
        if hint.is_dir() and (hint / "soloreel.toml").is_file():
            return hint
        starts.append(hint.resolve())
    if os.environ.get("SOLOREEL_PRODUCTION"):
        return Path(os.environ["SOLOREEL_PRODUCTION"])
    for clip in timeline.find_clips():
        for reference in clip.media_references().values():
            path = file_path(getattr(reference, "target_url", "") or "")
            if path is not None:
                starts.append(path)
                break
        if len(starts) > 1:
            break
    for start in starts:
        for folder in start.parents:
            if (folder / "soloreel.toml").is_file():
                return folder
    return None


def _scene_marks(timeline: otio.schema.Timeline, fps: float) -> list[tuple[int, str]]:
    """(first frame, scene name) of every marker on the video tracks, in order."""
    marks = []
    for track in timeline.video_tracks():
        for marker in track.markers:
            start = round(marker.marked_range.start_time.rescaled_to(fps).value)
            marks.append((start, marker.name))
    return sorted(marks)


def _scene_at(marks: list[tuple[int, str]], frame: int, fallback: str) -> str:
    name = fallback
    for start, mark in marks:
        if start <= frame:
            name = mark
    return name


def collect(timeline: otio.schema.Timeline, production: Production | None,
            costs: bool = True) -> Review:
    """The review model of an edit (with or without its production); `costs`: also estimate
    the finals' GPU minutes (the preview has no use for them)."""
    fps = float(production.settings.production.fps) if production else timeline_rate(timeline)
    freshness = Freshness(production)
    start = timeline.global_start_time or otio.opentime.RationalTime(0, timeline_rate(timeline))
    marks = _scene_marks(timeline, fps)
    default_scene = timeline.name or "Edit"
    handles = production.settings.production.handles if production else 0
    shots = []
    for ref in iter_shots(timeline):
        if not ref.has_spec:
            continue
        record = round((ref.record_start - start).rescaled_to(fps).value)
        shot = ReviewShot(number=ref.number, name=ref.clip.name, record_start=record,
                          frames=0, fps=fps, scene=_scene_at(marks, record, default_scene))
        try:
            shot.spec = spec_or_error(ref.clip)
            shown = source_frames(ref.clip, fps, ref.label)
        except Exception as exc:  # a broken clip still gets a panel saying why
            shot.problem = f"{ref.label} {exc}"
            if ref.clip.source_range is not None:
                shot.frames = max(1, round(ref.clip.source_range.duration.rescaled_to(fps).value))
            shots.append(shot)
            continue
        shot.frames = shown[1] - shown[0]
        shot.render_frames = shot.frames + 2 * handles
        shot.tier_states = freshness.states(ref)
        for tier, state in shot.tier_states.items():
            shot.states[tier] = state.state
            if state.state == "invalid":
                shot.problem = shot.problem or state.reason
            media = tier_media(state, shot.frames)
            if media is not None and state.present:
                shot.media[tier] = media
            elif media is not None and state.state == "stale":
                shot.stale_media[tier] = media
        key = ref.clip.active_media_reference_key
        shot.active = key if key in shot.media else shot.best
        shots.append(shot)
    estimates = None
    if costs and production is not None and freshness.cache is not None:
        priced = [s for s in shots if "final" in s.tier_states]
        estimates = final_estimates([s.tier_states["final"] for s in priced], production,
                                    freshness.cache)
        for shot, row in zip(priced, estimates.rows, strict=True):
            if row.cost is not None or not row.state.to_render:
                shot.final_minutes = row.minutes
    total = round(timeline.duration().rescaled_to(fps).value)
    return Review(title=timeline.name or "Edit", fps=fps, frames=total, shots=shots,
                  production=production, final=estimates)


def load_review(timeline: otio.schema.Timeline,
                production: Production | Path | str | None = None,
                hint: Path | str | None = None, costs: bool = True) -> Review:
    """`collect` with the production given, or found (see find_production_for), or none."""
    if production is None or isinstance(production, Path | str):
        folder = Path(production) if production else find_production_for(timeline, hint)
        production = load_production(folder, strict=True) if folder else None
    return collect(timeline, production, costs)


def timecode(frames: int, fps: float) -> str:
    """HH:MM:SS:FF of a frame count (non-drop)."""
    rate = max(1, round(fps))
    seconds, ff = divmod(int(frames), rate)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}:{ff:02d}"
