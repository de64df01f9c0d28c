"""The edit as lint sees it: each shot's spec, its place in the edit, its scene and the cameras
the proxy tier would use at the start and the end of the shown frames.

Cameras come from the proxy tier's own camera function (`render_engine.proxy.shot.
default_camera`: `framing.frame_shot` then `moves.camera_at`; here through
`framing.plan_framing`, which also says the setup it chose), and bodies from its blocking
(`render_engine.proxy.blocking`), so lint judges exactly the frames the animatic renders and
the final tier follows — there is no second copy of the framing math here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import opentimelineio as otio

from render_engine.bible import Production
from render_engine.errors import SoloreelError
from render_engine.proxy import framing
from render_engine.proxy.blocking import (
    character_floor,
    eye_height,
    find_character,
    head_top,
    height_of,
    walk_seconds,
)
from render_engine.proxy.camera import Camera
from render_engine.proxy.shot import CameraFn, moving_camera
from render_engine.render import source_frames
from render_engine.spec import CharacterSpec, ShotSpec, spec_or_error
from render_engine.timeline_io import ShotRef, iter_shots
from render_engine.validate import check_spec

SCRIPT_KEY = "soloreel_script"
"""Clip metadata `script2edit` writes beside the spec; its `scene` groups shots into scenes."""
TIER = "proxy"
"""The tier whose cameras lint checks (the only one that plans cameras)."""


@dataclass(frozen=True)
class Figure:
    """A character's body at one moment of a shot, from the proxy tier's blocking (metres)."""

    name: str
    floor: tuple[float, float]
    facing_deg: float
    eye: float
    top: float
    height: float
    walking: bool

    @property
    def eye_point(self) -> np.ndarray:
        """World position of the eyes."""
        return np.array([self.floor[0], self.eye, self.floor[1]])

    @property
    def top_point(self) -> np.ndarray:
        """World position of the top of the head."""
        return np.array([self.floor[0], self.top, self.floor[1]])

    @property
    def floor_point(self) -> np.ndarray:
        """World position of the floor under the character (their feet)."""
        return np.array([self.floor[0], 0.0, self.floor[1]])

    @property
    def facing(self) -> np.ndarray:
        """Unit floor vector (x, z) the character faces."""
        rad = math.radians(self.facing_deg)
        return np.array([math.sin(rad), math.cos(rad)])


@dataclass
class ShotView:
    """One shot of the edit with everything the checks read (see the module docstring)."""

    ref: ShotRef
    spec: ShotSpec
    production: Production
    scene: tuple[int, tuple[str, str]]
    """(track index, scene key): equal for consecutive shots of one scene."""
    width: int
    height: int
    t0: float
    """Shot time (seconds from the spec's origin) of the first frame the edit shows."""
    t1: float
    """Shot time of the last frame the edit shows."""
    camera: CameraFn
    start: Camera
    end: Camera
    setup: str
    """The size framing really used (an OTS the plate cannot cover is framed as an MCU)."""

    @property
    def shot_id(self) -> str:
        return self.spec.shot.id

    @property
    def clip_name(self) -> str:
        return self.ref.clip.name

    @property
    def time(self) -> str:
        """Where the shot starts in the edit (timecode, or seconds at non-SMPTE rates)."""
        return self.ref.timecode

    @property
    def seconds(self) -> float:
        """Record time of the shot's first frame in seconds."""
        return float(self.ref.record_start.to_seconds())

    def subjects(self) -> list[CharacterSpec]:
        """The characters the shot frames (the framing's own choice)."""
        return framing.subjects_of(self.spec)

    def subject_names(self) -> frozenset[str]:
        """Lower-cased names of the framed characters."""
        return frozenset(c.name.strip().lower() for c in self.subjects())

    def figure(self, character: CharacterSpec | str, t: float) -> Figure:
        """A character's body at shot time `t`."""
        if isinstance(character, str):
            character = find_character(self.spec, character)
        production = self.production
        height = height_of(production, character.name)
        x, z, facing, walking = character_floor(character, t)
        return Figure(character.name, (x, z), facing,
                      eye_height(character, height, production, self.spec),
                      head_top(character, height, production, self.spec), height, walking)

    def has(self, name: str) -> bool:
        """Whether a character of that name is in the shot."""
        key = name.strip().lower()
        return any(c.name.strip().lower() == key for c in self.spec.characters)

    def camera_at_time(self, t: float) -> Camera:
        """The camera at shot time `t` (the move's progress runs 0..1 over t0..t1)."""
        span = self.t1 - self.t0
        progress = 0.0 if span <= 1e-9 else min(1.0, max(0.0, (t - self.t0) / span))
        return self.camera(progress, t)

    def walk_window(self, character: CharacterSpec) -> tuple[float, float] | None:
        """The shown shot times during which a walker walks (None: not walking on screen)."""
        if character.action != "walk" or not character.path:
            return None
        lo, hi = max(self.t0, 0.0), min(self.t1, walk_seconds(character))
        return (lo, hi) if hi - lo > 1e-3 else None


@dataclass
class Gathered:
    """The shots lint can check, and the clips it had to skip (with why)."""

    views: list[ShotView]
    skipped: list[tuple[str, str]]
    """(clip label, reason) of shot clips whose spec does not validate: `soloreel validate`
    says what to fix; lint only judges shots that render."""


def _scene_key(clip: otio.schema.Clip, spec: ShotSpec) -> tuple[str, str]:
    """The scene a clip belongs to: script2edit's scene number, else its set."""
    script = clip.metadata.get(SCRIPT_KEY)
    scene = script.get("scene") if hasattr(script, "get") else None
    if isinstance(scene, (str, int, float)) and not isinstance(scene, bool):
        return ("scene", str(scene))
    return ("set", spec.set.strip().lower())


def _times(ref: ShotRef, spec: ShotSpec, fps: float) -> tuple[float, float]:
    """Shot times of the first and last shown frame (as the proxy tier computes them)."""
    try:
        first, end = source_frames(ref.clip, fps, ref.label)
    except SoloreelError:
        return 0.0, 0.0
    origin = spec.shot.origin
    return first / fps - origin, (end - 1) / fps - origin


def iter_views(timeline: otio.schema.Timeline, production: Production
               ) -> Iterator[ShotView | tuple[str, str]]:
    """Every shot clip of the timeline's video tracks in edit order: a ShotView, or (label,
    reason) for a clip whose spec is not valid against the bible."""
    settings = production.settings.tier(TIER)
    width, height = settings.width, settings.height
    fps = float(production.settings.production.fps)
    tracks = {id(track): index for index, track in enumerate(timeline.video_tracks())}
    for ref in iter_shots(timeline):
        if not ref.has_spec:
            continue
        try:
            spec = spec_or_error(ref.clip)
        except SoloreelError as exc:
            yield ref.label, str(exc)
            continue
        if spec is None:
            continue
        problems = check_spec(ref.label, spec, production)
        if problems:
            first = problems[0]
            reason = f"{first.field}: {first.message}" if first.field else first.message
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            yield ref.label, reason + more
            continue
        t0, t1 = _times(ref, spec, fps)
        try:
            framed = framing.plan_framing(spec, production, width, height)
            camera = moving_camera(framed.camera, spec, production)
            start, end = camera(0.0, t0), camera(1.0, t1)
            setup = framed.setup
        except (SoloreelError, KeyError) as exc:
            yield ref.label, f"cannot plan its camera: {exc}"
            continue
        scene = (tracks.get(id(ref.track), 0), _scene_key(ref.clip, spec))
        yield ShotView(ref, spec, production, scene, width, height, t0, t1, camera, start, end,
                       setup)


def gather(timeline: otio.schema.Timeline, production: Production) -> Gathered:
    """The checkable shots of a timeline and the skipped clips (see `iter_views`)."""
    views: list[ShotView] = []
    skipped: list[tuple[str, str]] = []
    for item in iter_views(timeline, production):
        if isinstance(item, ShotView):
            views.append(item)
        else:
            skipped.append(item)
    return Gathered(views, skipped)


def scenes(views: list[ShotView]) -> list[list[ShotView]]:
    """Runs of consecutive shots with the same scene key (see `ShotView.scene`). Any other
    clip between two shots (one without a spec, or one lint skipped) ends the run: what the
    audience sees in between is not known here (and a cutaway is how a jump cut is fixed)."""
    runs: list[list[ShotView]] = []
    for view in views:
        last = runs[-1][-1] if runs else None
        if (last is not None and last.scene == view.scene
                and view.ref.number == last.ref.number + 1):
            runs[-1].append(view)
        else:
            runs.append([view])
    return runs
