"""One review row per shot of an edit: what it is, where it sits, which tiers exist, what it costs.

Every review output (storyboard page, contact sheet, preview movie, status plot) is drawn from
this model so they agree with one another and with `soloreel status`. Tier media comes from
the render cache (fresh entries for the clip's current spec and range), else from media the
clip already links (an edit linked on another machine, or read without its production).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import opentimelineio as otio

from render_engine.bible import TIERS, Production, load_production
from render_engine.cache import RenderCache
from render_engine.cli.status import latest_by_shot
from render_engine.estimate import DEFAULT_SECONDS_PER_FRAME, seconds_per_frame
from render_engine.render import BEST_FIRST, plan_shot, source_frames
from render_engine.spec import NAMESPACE, ShotSpec, spec_or_error
from render_engine.timeline_io import iter_shots, timeline_rate

STATIC_MOVES = frozenset({"static"})


@dataclass(frozen=True)
class TierMedia:
    """A movie holding one tier of a shot; `offset` frames of it come before the cut's first."""

    tier: str
    path: Path
    offset: int
    frames: int
    """Frames the movie holds from `offset` on that belong to the cut (at most the cut's)."""


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
    """tier → fresh | stale | missing | invalid."""
    media: dict[str, TierMedia] = field(default_factory=dict)
    """Fresh media per tier present."""
    active: str | None = None
    """The tier the edit shows: the clip's active reference if present, else the best present."""
    render_frames: int = 0
    """Frames a render of this shot covers (handles included): what a final would cost."""
    final_seconds: float = 0.0
    """Estimated GPU seconds for the final tier still to spend (0 when the final is fresh)."""

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
            if self.states.get(tier) == "fresh":
                return tier, False
            if self.states.get(tier) == "stale":
                return tier, True
        return None, False

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
        """Media at `wanted` if present, else at the best tier present (preview's fallback)."""
        if wanted in self.media:
            return self.media[wanted]
        best = self.best
        return self.media[best] if best else None


@dataclass
class Review:
    """An edit ready for review: its shots in timeline order and its totals."""

    title: str
    fps: float
    frames: int
    """The edit's exact duration in frames."""
    shots: list[ReviewShot]
    final_rate: tuple[float, str]
    """(GPU seconds per final frame, where the figure comes from)."""
    production: Production | None = None

    @property
    def final_seconds(self) -> float:
        return sum(s.final_seconds for s in self.shots)

    def scenes(self) -> list[tuple[str, list[ReviewShot]]]:
        """Consecutive shots grouped by scene, in order."""
        groups: list[tuple[str, list[ReviewShot]]] = []
        for shot in self.shots:
            if not groups or groups[-1][0] != shot.scene:
                groups.append((shot.scene, []))
            groups[-1][1].append(shot)
        return groups


def final_cost_seconds(frames: int, rate: float) -> float:
    """Estimated GPU seconds to render `frames` final frames.

    The one place final cost is estimated for review: today it is estimate.py's seconds per
    frame (built-in default or this production's past renders). A finer per-shot model (the
    final tier's cost table: mode, steps, resolution, LoRAs) plugs in here.
    """
    return frames * rate


def file_path(url: str) -> Path | None:
    """A local path for a media reference's target URL (file:// or a plain path)."""
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path) if parsed.scheme else url)
    return None


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


def _linked_hash(clip: otio.schema.Clip, tier: str) -> str:
    """The content hash a linked tier's media was rendered from ("" for media soloreel did
    not render, which is taken as it is)."""
    reference = clip.media_references().get(tier)
    meta = reference.metadata.get(NAMESPACE, {}) if reference is not None else {}
    return str(meta.get("hash", "")) if meta else ""


def _linked_media(clip: otio.schema.Clip, fps: float, shown: tuple[int, int]
                  ) -> dict[str, TierMedia]:
    """Tier media the clip already links (existing local files that are not error slates)."""
    found: dict[str, TierMedia] = {}
    for key, reference in clip.media_references().items():
        meta = reference.metadata.get(NAMESPACE, {}) if reference.metadata else {}
        if key not in TIERS or (meta and "error" in meta):
            continue
        path = file_path(getattr(reference, "target_url", "") or "")
        if path is None or not path.is_file():
            continue
        start = shown[0]
        if reference.available_range is not None:
            start = round(reference.available_range.start_time.rescaled_to(fps).value)
        found[key] = TierMedia(key, path, max(0, shown[0] - start), shown[1] - shown[0])
    return found


def collect(timeline: otio.schema.Timeline, production: Production | None) -> Review:
    """The review model of an edit (with or without its production)."""
    fps = float(production.settings.production.fps) if production else timeline_rate(timeline)
    cache = RenderCache(production.renders_dir()) if production else None
    rates = seconds_per_frame(cache) if cache else {
        t: (v, "built-in default") for t, v in DEFAULT_SECONDS_PER_FRAME.items()}
    latest = latest_by_shot(cache) if cache else {}
    start = timeline.global_start_time or otio.opentime.RationalTime(0, timeline_rate(timeline))
    marks = _scene_marks(timeline, fps)
    default_scene = timeline.name or "Edit"
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
        handles = production.settings.production.handles if production else 0
        shot.render_frames = shot.frames + 2 * handles
        linked = _linked_media(ref.clip, fps, shown)
        for tier in TIERS:
            if production is None or cache is None:
                shot.states[tier] = "fresh" if tier in linked else "missing"
                if tier in linked:
                    shot.media[tier] = linked[tier]
                continue
            plan = plan_shot(ref, production, cache, tier)
            if plan.problem or plan.spec is None:
                shot.states[tier] = "invalid"
                shot.problem = shot.problem or plan.problem
                continue
            if plan.cached is not None:
                entry = plan.cached
                shot.states[tier] = "fresh"
                shot.media[tier] = TierMedia(tier, entry.media, plan.shown[0] - entry.first,
                                             shot.frames)
            elif tier in linked and _linked_hash(ref.clip, tier) in ("", plan.content_hash):
                shot.states[tier] = "fresh"  # linked media of this content, or the user's own
                shot.media[tier] = linked[tier]
            else:
                old = latest.get((plan.spec.shot.id, tier))
                shot.states[tier] = "stale" if old or tier in linked else "missing"
        key = ref.clip.active_media_reference_key
        shot.active = key if key in shot.media else shot.best
        if shot.states.get("final") != "fresh":
            shot.final_seconds = final_cost_seconds(shot.render_frames, rates["final"][0])
        shots.append(shot)
    total = round(timeline.duration().rescaled_to(fps).value)
    return Review(title=timeline.name or "Edit", fps=fps, frames=total, shots=shots,
                  final_rate=rates["final"], production=production)


def load_review(timeline: otio.schema.Timeline,
                production: Production | Path | str | None = None,
                hint: Path | str | None = None) -> Review:
    """`collect` with the production given, or found (see find_production_for), or none."""
    if production is None or isinstance(production, Path | str):
        folder = Path(production) if production else find_production_for(timeline, hint)
        production = load_production(folder, strict=True) if folder else None
    return collect(timeline, production)


def timecode(frames: int, fps: float) -> str:
    """HH:MM:SS:FF of a frame count (non-drop)."""
    rate = max(1, round(fps))
    seconds, ff = divmod(int(frames), rate)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}:{ff:02d}"
