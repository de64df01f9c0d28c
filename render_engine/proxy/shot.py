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
from render_engine.capture.store import expression_at, line_captures
from render_engine.proxy import cutouts, lipflap, rig_pose
from render_engine.proxy.camera import Camera
from render_engine.proxy.compositor import compose
from render_engine.proxy.lighting import ShotLighting, shot_lighting
from render_engine.proxy.living import LivingPlate
from render_engine.proxy.poses import (
    PoseTrack,
    acting_for,
    pose_action,
    pose_keypoints,
    rest_keypoints,
    seat_cutouts,
)
from render_engine.proxy.prop_shift import PropShifter, shifter_for
from render_engine.proxy.shading import AmbientMatch
from render_engine.spec import CharacterSpec, ShotSpec

CameraFn = Callable[[float, float], Camera]
"""(progress 0..1, shot seconds) → the camera of that frame."""
RIGGED = True
"""Rigged cut-outs follow the frame's skeleton; False keeps them rigid."""
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
        self.captures = line_captures(spec, production)  # lines acted by the creator
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
        self.acting = acting_for(spec, production, self.lines)  # seats, surfaces, gestures
        seat_cutouts(self.cast, spec, production)  # seated cut-outs on their seat's height
        self.times = StageTimes()
        self.rigged = RIGGED
        """Whether cut-outs are posed by their skeletons (`proxy.rig`); False: rigid."""
        self._posed: dict[str, tuple[float, Camera, np.ndarray | None]] = {}
        self.prop_shifter: PropShifter | None = None
        """Props moved off faces (`proxy.prop_shift`), planned on the first frame made."""

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

    def place_character(self, char: CharacterSpec, cam: Camera, t: float,
                        layered: bool = False
                        ) -> tuple[cutouts.Posture, cutouts.Sprite | None]:
        """A character at shot time t seen by `cam`: its posture, and its sprite (None when
        out of frame) lit by the scene's light at its place and moment — computed before
        placing, so the cut-out is matched to the set around the character, not to whatever
        the frame shows round it. The final tier's and the NLE's layer renders place
        characters through this too, so their cut-outs are lit like the animatic's. The
        cut-out is posed by the character's skeleton when it acts (`acts`); `layered` (the
        animatic's own frames) puts forearms resting on a masked surface into a sprite of
        their own in `sprite.extra["layers"]`, drawn in front of that surface's mask; other
        callers get the whole figure in one sprite."""
        x, z, facing, walking = self.floor(char, t)
        posture = cutouts.posture_of(char.action, x, z, facing, walking)
        light = self.lighting.for_character(
            cam, cutouts.body_centre(posture, self.cast[char.name].member.height_m), t,
            posture.facing_deg)
        self.ambient.target = light.scene
        self.ambient.strength_l, self.ambient.strength_ab = light.match_l, light.match_ab
        skeleton = neutral = None
        surface = getattr(self.acting.get(char.name), "surface", None)
        split: frozenset[str] = frozenset()
        if layered and surface is not None and surface.mask:
            split = rig_pose.FOREARMS
        if self.rigged and self.acts(char, posture, t):
            skeleton = self.skeleton(char, cam, posture, t)
            self._posed[char.name] = (t, cam, skeleton)  # the frame's people reuse it
            neutral = self.neutral_skeleton(char, cam, posture, t)
        sprite = cutouts.place(self.cast[char.name], cam, posture, t, self.idle[char.name],
                               self.ambient, skeleton, neutral, split)
        if sprite is not None:
            sprite.light = light
            if split:  # forearms on the table top: in front of the table's mask
                sprite.extra["layers"] = rig_pose.split_sprites(
                    sprite, self._mask_depth(cam, surface.mask))
        return posture, sprite

    def _mask_depth(self, cam: Camera, name: str) -> float:
        """A little nearer than the set's foreground mask `name` (inf when unknown)."""
        masks = [m.name for m in self.production.set(self.spec.set).masks]
        depths = getattr(self.plates, "foreground_depths", None)
        if name not in masks or depths is None:
            return float("inf")
        return float(depths(cam)[masks.index(name)]) - rig_pose.IN_FRONT_M

    def acts(self, char: CharacterSpec, posture: cutouts.Posture, t: float) -> bool:
        """Whether the character's skeleton may differ from its figure at rest (a pose
        track, a walk, talking, a gesture, pointing, leaning) or its cut-out is painted in
        another pose than it sits in (on a seat of another height, a standing view seated:
        `CharacterActing.bends`): only then is the rigged cut-out posed; a character sitting
        or standing still keeps the unrigged one."""
        if char.name in self.tracks:
            return True
        acting = self.acting.get(char.name)
        if posture.seated and acting is not None and acting.bends():
            return True  # a seat of another height, or a standing view seated
        if pose_action(posture, self.speaking(char.name, t)) not in ("stand", "sit"):
            return True
        if acting is None:
            return False
        return any(getattr(acting, field, None) is not None
                   for field in ("walk_total_m", "surface", "target", "energy"))

    def neutral_skeleton(self, char: CharacterSpec, cam: Camera, posture: cutouts.Posture,
                         t: float) -> np.ndarray | None:
        """The character's figure at rest in the pose its cut-out view is painted in, where
        the unrigged cut-out is (`poses.rest_keypoints`: standing; seated on the seat the
        sheet paints, moved onto its real seat; a standing view lowered onto the seat),
        breathing at shot time t: the rigged cut-out's parts turn from it as far as
        `skeleton`'s bones do. A character doing nothing more than that keeps its unrigged
        cut-out, where framing put it."""
        cast = self.cast[char.name]
        return rest_keypoints(cam, posture, cast.member.height_m, t, cast.seated_eye_m,
                              self.acting.get(char.name), cast.available())

    def skeleton(self, char: CharacterSpec, cam: Camera, posture: cutouts.Posture, t: float
                 ) -> np.ndarray | None:
        """The character's COCO-18 skeleton (18, 3) in frame pixels at shot time t: its pose
        track's frame, else the blocking's figure — what the control video draws and what
        the rigged cut-out follows (`proxy.rig_pose`). None when behind the camera."""
        if char.name in self.tracks:
            index = round((t + self.spec.shot.origin) * self.fps) - self.first
            return self.tracks[char.name].at(index)
        cast = self.cast[char.name]
        return pose_keypoints(cam, posture, cast.member.height_m, t,
                              self.speaking(char.name, t), cast.seated_eye_m,
                              self.acting.get(char.name))

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
            posture, sprite = self.place_character(char, cam, t, layered=True)
            postures.append((char, posture))
            shape = mouth_shape(self.lines, char.name, t)
            shapes[char.name] = shape
            if sprite is None:
                continue
            captured = expression_at(self.captures, char.name, t) if self.captures else None
            if captured is not None:
                lipflap.draw_captured(sprite, captured)
            elif shape != "X":
                lipflap.draw_mouth(sprite, shape)
            sprites.append(sprite)
            sprites.extend(sprite.extra.get("layers", ()))  # parts at depths of their own
        started = self.times.add("characters", started)
        foregrounds = self._foregrounds(cam, sprites)
        if self.prop_shifter is None:
            self.prop_shifter = shifter_for(self)
        if self.prop_shifter.shifts:
            background, depth, foregrounds = self.prop_shifter.apply(
                background, depth, self.plates.foreground(cam), cam)  # type: ignore[attr-defined]
        started = self.times.add("plate", started)
        unsupported = getattr(self.plates, "unsupported", None)  # stretched-fill mask
        rgb = compose(background, depth, foregrounds, sprites, cam,
                      unsupported(cam) if unsupported is not None else None)
        started = self.times.add("composite", started)
        for char, posture in postures:
            kept = self._posed.pop(char.name, None)
            if kept is not None and kept[0] == t and kept[1] == cam:
                keypoints = kept[2]
            else:
                keypoints = self.skeleton(char, cam, posture, t)
            if keypoints is not None:
                people.append(keypoints)
        self.times.add("poses", started)
        return Frame(rgb, people, cam, sprites, shapes)
