"""One shot of the animatic, frame by frame: camera, plate, cut-outs, lip flap, light, poses.

`ShotFrames` sets a shot up once (base camera, plate renderer, cut-outs, lighting, the plate's
living regions, pose tracks) and then makes any frame on demand, so the tier can stream frames
into the encoder and a bench or a test can pull single frames. Frame i is source frame
`first + i`; its shot time is `(first + i) / fps - origin` and its camera progress runs 0..1
over the frames the edit shows (handles hold the first/last camera).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from render_engine.audio.dialog import SpokenLine, mouth_shape
from render_engine.bible import Production
from render_engine.proxy import cutouts, lipflap
from render_engine.proxy.camera import Camera
from render_engine.proxy.compositor import compose
from render_engine.proxy.lighting import ShotLighting, shot_lighting
from render_engine.proxy.living import LivingPlate
from render_engine.proxy.poses import PoseTrack, pose_keypoints
from render_engine.proxy.shading import AmbientMatch
from render_engine.spec import CharacterSpec, ShotSpec

CameraFn = Callable[[float, float], Camera]
"""(progress 0..1, shot seconds) → the camera of that frame."""
FloorFn = Callable[[CharacterSpec, float], tuple[float, float, float, bool]]


@dataclass
class Frame:
    """One rendered frame and what went into it."""

    rgb: np.ndarray
    people: list[np.ndarray]
    """COCO-18 keypoints (18, 3) of every character in frame pixels."""
    camera: Camera
    sprites: list[cutouts.Sprite]
    shapes: dict[str, str]
    """Mouth shape per character."""


@dataclass
class StageTimes:
    """Seconds spent per stage, summed over frames."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, started: float) -> float:
        """Add the time since `started` to a stage; returns now."""
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - started
        return now


def default_camera(spec: ShotSpec, production: Production, width: int, height: int) -> CameraFn:
    """The framing + camera-move camera of the shot (items 1-3 of the proxy tier)."""
    from render_engine.proxy import framing

    return moving_camera(framing.frame_shot(spec, production, width, height), spec, production)


def moving_camera(base: Camera, spec: ShotSpec, production: Production) -> CameraFn:
    """The shot's camera move applied to its framed start `base` (for callers that already
    framed the shot, such as lint)."""
    from render_engine.proxy import moves

    def camera(progress: float, seconds: float) -> Camera:
        return moves.camera_at(base, spec, production, progress, seconds)

    return camera


def parallax_for(spec: ShotSpec, production: Production) -> Literal["sharp", "fast"]:
    """How the shot's plate is warped under a moved camera (`[tiers.proxy] parallax`): by
    default a camera that holds still renders its plate once, so it affords the sharp warp
    (thin props stay whole), and a moving one re-warps every frame, where only the fast one
    keeps the tier at 4x real time."""
    wanted = production.settings.tier("proxy").parallax or "auto"
    if wanted != "auto":
        return wanted
    still = spec.camera.move == "static" and not spec.camera.handheld
    return "sharp" if still else "fast"


def default_floor() -> FloorFn:
    """Where characters stand at a moment (the shared blocking)."""
    from render_engine.proxy.blocking import character_floor

    return character_floor


class ShotFrames:
    """Makes the frames of one shot (see the module docstring)."""

    def __init__(self, spec: ShotSpec, production: Production, width: int, height: int,
                 fps: float, first: int, shown: tuple[int, int],
                 lines: list[SpokenLine] | None = None, camera: CameraFn | None = None,
                 plates: object | None = None, floor: FloorFn | None = None):
        """Set the shot up; `camera`, `plates` and `floor` replace the framing/moves, the
        plate renderer and the blocking (tests and benches use stand-ins)."""
        self.spec, self.production = spec, production
        self.width, self.height, self.fps = width, height, fps
        self.first, self.shown = first, shown
        self.lines = lines or []
        self.camera = camera or default_camera(spec, production, width, height)
        if plates is None:
            from render_engine.proxy.plates import PlateRenderer

            plates = PlateRenderer(production, spec, parallax=parallax_for(spec, production))
        self.plates = plates
        self.floor = floor or default_floor()
        self.lighting: ShotLighting = shot_lighting(production, spec)
        self.living = LivingPlate(production, spec, plates, self.lighting)
        self.ambient = AmbientMatch()
        self.cast = {c.name: cutouts.CastCutouts(production, production.member(c.name))
                     for c in spec.characters}
        self.idle = {c.name: cutouts.Idle.for_character(spec.seed, c.name)
                     for c in spec.characters}
        self.tracks = {c.name: PoseTrack(production, c.pose_track, width, height)
                       for c in spec.characters if c.pose_track}
        self.times = StageTimes()

    def seconds(self, index: int) -> float:
        """Shot time of rendered frame `index`."""
        return (self.first + index) / self.fps - self.spec.shot.origin

    def progress(self, index: int) -> float:
        """Camera-move progress of rendered frame `index`: 0..1 over the shown frames."""
        lo, hi = self.shown
        span = max(1, hi - lo - 1)
        return min(1.0, max(0.0, (self.first + index - lo) / span))

    def speaking(self, name: str, seconds: float) -> bool:
        """Whether the character is saying an on-screen line at that moment."""
        return any(line.speaker == name and not line.audio_only
                   and 0 <= seconds - line.start < line.duration for line in self.lines)

    def _foregrounds(self, cam: Camera, sprites: list[cutouts.Sprite]) -> list:
        """The plate's foreground masks when some character stands behind one (a mask only
        ever hides, or shades the floor under, something farther than itself)."""
        farthest = max((s.depth for s in sprites), default=-np.inf)
        depths = getattr(self.plates, "foreground_depths", None)
        if depths is not None and not any(d < farthest for d in depths(cam)):
            return []
        planes = getattr(self.plates, "foreground_planes", None)
        return (planes or self.plates.foreground)(cam)  # type: ignore[attr-defined]

    def place_character(self, char: CharacterSpec, cam: Camera, t: float
                        ) -> tuple[cutouts.Posture, cutouts.Sprite | None]:
        """A character at shot time t seen by `cam`: its posture, and its sprite (None when
        out of frame) lit by the scene's light at its place and moment — computed before
        placing, so the cut-out is matched to the set around the character, not to whatever
        the frame shows round it. The final tier's and the NLE's layer renders place
        characters through this too, so their cut-outs are lit like the animatic's."""
        x, z, facing, walking = self.floor(char, t)
        posture = cutouts.posture_of(char.action, x, z, facing, walking)
        light = self.lighting.for_character(
            cam, cutouts.body_centre(posture, self.cast[char.name].member.height_m), t,
            posture.facing_deg)
        self.ambient.target = light.scene
        self.ambient.strength_l, self.ambient.strength_ab = light.match_l, light.match_ab
        sprite = cutouts.place(self.cast[char.name], cam, posture, t, self.idle[char.name],
                               self.ambient)
        if sprite is not None:
            sprite.light = light
        return posture, sprite

    def frame(self, index: int) -> Frame:
        """Render frame `index` (0 = the first frame, handles included)."""
        t = self.seconds(index)
        started = time.perf_counter()
        cam = self.camera(self.progress(index), t)
        started = self.times.add("camera", started)
        planes = getattr(self.plates, "background_planes", None)  # stand-ins may lack it
        background, depth = (planes or self.plates.background)(cam)  # type: ignore[attr-defined]
        background = self.living.apply(background, cam, t)  # fire, water, foliage move
        started = self.times.add("plate", started)
        self.ambient.background = background
        sprites: list[cutouts.Sprite] = []
        people: list[np.ndarray] = []
        shapes: dict[str, str] = {}
        postures = []
        for char in self.spec.characters:
            posture, sprite = self.place_character(char, cam, t)
            postures.append((char, posture))
            shape = mouth_shape(self.lines, char.name, t)
            shapes[char.name] = shape
            if sprite is None:
                continue
            if shape != "X":
                lipflap.draw_mouth(sprite, shape)
            sprites.append(sprite)
        started = self.times.add("characters", started)
        foregrounds = self._foregrounds(cam, sprites)
        started = self.times.add("plate", started)
        unsupported = getattr(self.plates, "unsupported", None)  # stretched-fill mask
        rgb = compose(background, depth, foregrounds, sprites, cam,
                      unsupported(cam) if unsupported is not None else None)
        started = self.times.add("composite", started)
        for char, posture in postures:
            if char.name in self.tracks:
                people.append(self.tracks[char.name].at(index))
                continue
            cast = self.cast[char.name]
            keypoints = pose_keypoints(cam, posture, cast.member.height_m, t,
                                       self.speaking(char.name, t), cast.seated_eye_m)
            if keypoints is not None:
                people.append(keypoints)
        self.times.add("poses", started)
        return Frame(rgb, people, cam, sprites, shapes)
