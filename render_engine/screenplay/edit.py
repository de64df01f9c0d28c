"""A planned screenplay → an OTIO timeline: shots on V1, dialog lines on DIALOG audio tracks,
one marker per scene named after its heading.

Every shot clip carries a full ShotSpec (`metadata["soloreel"]`) and, beside it, what the
script said (`metadata["soloreel_script"]`: scene, kind of shot, the script text around it,
each character's screen side) so the writer can give the script back. Each dialog clip
carries `metadata["soloreel_dialog"]` (speaker, text, parenthetical, shot id). The timeline
carries `metadata["soloreel_script"]`: title page, warnings and suggested bible entries.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import opentimelineio as otio
from pydantic import ValidationError

from render_engine.bible import Production
from render_engine.screenplay.casting import Casting
from render_engine.screenplay.coverage import plan_screenplay
from render_engine.screenplay.errors import FountainError
from render_engine.screenplay.model import ParseWarning, Screenplay
from render_engine.screenplay.parser import parse_fountain
from render_engine.screenplay.plan import Plan, PlannedScene, PlannedShot
from render_engine.spec import SHOT_ORIGIN_SECONDS, ShotSpec, write_spec

SCRIPT_KEY = "soloreel_script"
DIALOG_KEY = "soloreel_dialog"
SCENE_KEY = "soloreel_scene"
DIALOG_TRACK = "DIALOG"
DEFAULT_FPS = 24.0


def shot_spec(shot: PlannedShot, scene: PlannedScene) -> ShotSpec:
    """The ShotSpec of a planned shot (FountainError naming the script line if it can't be)."""
    raw = {
        "shot": {"id": shot.shot_id, "size": shot.size, "angle": shot.angle,
                 "subjects": shot.subjects, "origin": SHOT_ORIGIN_SECONDS,
                 "line": list(scene.line)},
        "set": scene.set,
        "lighting": scene.lighting,
        "camera": {"move": shot.move, "amount": round(shot.amount, 4),
                   "handheld": shot.handheld, "target": shot.target},
        "characters": shot.characters,
        "dialog": [{"speaker": line.speaker, "text": line.text, "start": line.start,
                    "parenthetical": line.parenthetical, "audio_only": line.audio_only}
                   for line in shot.dialog],
        "prompt": shot.prompt,
        "seed": shot.seed,
    }
    try:
        return ShotSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise FountainError(f"shot {shot.shot_id} cannot be made: {field}: {first['msg']}",
                            shot.line) from None


def _frames(shot: PlannedShot, fps: float) -> int:
    return shot.frames or max(1, round(shot.seconds * fps))


def _shot_clip(shot: PlannedShot, scene: PlannedScene, fps: float,
               sides: dict[str, str] | None = None) -> otio.schema.Clip:
    """The V1 clip of a shot; `sides` is the scene's screen sides (worked out once a scene:
    `scene.sides` builds them anew on every call)."""
    clip = otio.schema.Clip(
        name=shot.name,
        source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(SHOT_ORIGIN_SECONDS * fps, fps),
            otio.opentime.RationalTime(_frames(shot, fps), fps)))
    write_spec(clip, shot_spec(shot, scene))
    sides = scene.sides if sides is None else sides
    clip.metadata[SCRIPT_KEY] = {
        "scene": scene.scene.index, "kind": shot.kind, "line": shot.line,
        "before": list(shot.before), "blocks": shot.blocks, "inner": shot.inner,
        "note": shot.note,
        "screen_sides": {c["name"]: sides.get(c["name"], "center") for c in shot.characters},
    }
    return clip


class _DialogTracks:
    """Places dialog clips on DIALOG, DIALOG 2… so lines that overlap (dual dialogue) fit."""

    def __init__(self, timeline: otio.schema.Timeline, fps: float) -> None:
        self.timeline = timeline
        self.fps = fps
        self.tracks: list[tuple[otio.schema.Track, list[int]]] = []

    def add(self, start: int, frames: int, name: str, meta: dict[str, Any]) -> None:
        free = [pair for pair in self.tracks if pair[1][0] <= start]
        if free:
            track, end = free[0]
        else:
            label = DIALOG_TRACK if not self.tracks else f"{DIALOG_TRACK} {len(self.tracks) + 1}"
            track = otio.schema.Track(name=label, kind=otio.schema.TrackKind.Audio)
            self.timeline.tracks.append(track)
            end = [0]
            self.tracks.append((track, end))
        if start > end[0]:
            track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
                duration=otio.opentime.RationalTime(start - end[0], self.fps))))
        clip = otio.schema.Clip(name=name, source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(SHOT_ORIGIN_SECONDS * self.fps, self.fps),
            otio.opentime.RationalTime(frames, self.fps)))
        clip.metadata[DIALOG_KEY] = meta
        track.append(clip)
        end[0] = start + frames


def _scene_record(scene: PlannedScene, start: int, frames: int) -> dict[str, Any]:
    return {"index": scene.scene.index, "number": scene.scene.number,
            "heading": scene.scene.heading.text, "forced": scene.scene.heading.forced,
            "location": scene.scene.location, "time": scene.time, "set": scene.set,
            "lighting": scene.lighting, "line": scene.scene.line, "first_frame": start,
            "frames": frames, "screen_sides": scene.sides, "after": scene.after}


def build_timeline(plan: Plan, play: Screenplay, casting: Casting, fps: float,
                   name: str) -> otio.schema.Timeline:
    """The timeline of a planned screenplay (see the module docstring for its layout)."""
    timeline = otio.schema.Timeline(
        name=name, global_start_time=otio.opentime.RationalTime(SHOT_ORIGIN_SECONDS * fps, fps))
    video = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(video)
    dialog = _DialogTracks(timeline, fps)
    cursor = 0
    scenes = []
    for scene in plan.scenes:
        first = cursor
        sides = scene.sides
        for shot in scene.shots:
            clip = _shot_clip(shot, scene, fps, sides)
            video.append(clip)
            frames = _frames(shot, fps)
            for line in shot.dialog:
                start = min(cursor + round(line.start * fps), cursor + frames - 1)
                length = max(1, min(round(line.seconds * fps), cursor + frames - start))
                label = f"{casting.label(line.speaker)}: {line.text}"
                dialog.add(start, length, label[:60], {
                    "speaker": line.speaker, "text": line.text, "shot": shot.shot_id,
                    "parenthetical": line.parenthetical, "audio_only": line.audio_only,
                    "start": line.start})
            cursor += frames
        record = _scene_record(scene, first, cursor - first)
        scenes.append(record)
        marker = otio.schema.Marker(
            name=scene.scene.heading.plain,
            marked_range=otio.opentime.TimeRange(otio.opentime.RationalTime(first, fps),
                                                 otio.opentime.RationalTime(cursor - first, fps)),
            color=otio.schema.MarkerColor.GREEN)
        marker.metadata[SCENE_KEY] = record
        video.markers.append(marker)
    timeline.metadata[SCRIPT_KEY] = {
        "format": "fountain",
        "title": play.title,
        "title_page": [[key, value] for key, value in play.title_page.items()],
        "coverage": "manual" if plan.manual else "auto",
        "fps": fps,
        "prologue": plan.prologue,
        "warnings": [{"line": w.line, "message": w.message} for w in plan.warnings],
        "suggestions": {"cast": casting.suggested_cast, "sets": casting.suggested_sets},
        "sets_matched": casting.sets_matched,
        "labels": {name: casting.label(name) for name in sorted(
            {c["name"] for s in plan.scenes for shot in s.shots for c in shot.characters}
            | {line.speaker for s in plan.scenes for shot in s.shots for line in shot.dialog})},
        "counts": {"scenes": len(play.scenes), "shots": sum(len(s.shots) for s in plan.scenes),
                   "dialogue_blocks": len(play.blocks())},
    }
    return timeline


def fit_coverage_to_sets(plan: Plan, casting: Casting, production: Production) -> None:
    """Fit each scene's coverage to its set, saying so in the plan's warnings: the blocking
    steps back until the plate shows everyone's feet, and an over-the-shoulder whose view the
    plate cannot give (the proxy's own framing decides, so plan and picture agree) becomes a
    two-shot of the pair the first time, then singles of the speaker."""
    from render_engine.errors import SoloreelError
    from render_engine.proxy.framing import plan_framing
    from render_engine.screenplay.blocking import point_planned_scene, seat_planned_scene

    tier = production.settings.tier("proxy")
    for scene in plan.scenes:
        _step_into_view(scene, production)
        if scene.set in production.sets:  # sitters onto the set's seats, pointing
            seat_planned_scene(scene, production.sets[scene.set])
            point_planned_scene(scene, production.sets[scene.set])
        previous: PlannedShot | None = None
        for shot in scene.shots:
            if shot.size == "OTS" and len(shot.subjects) == 2:
                try:
                    framing = plan_framing(shot_spec(shot, scene), production, tier.width,
                                           tier.height)
                except (SoloreelError, OSError, KeyError):
                    framing = None  # no plate yet (or names the bible lacks): validate says
                if framing is not None and framing.reason:
                    _replace_over_the_shoulder(shot, scene, previous, casting, framing.reason,
                                               plan.warnings)
            previous = shot
    plan.warnings.sort(key=lambda w: (w.line is None, w.line or 0))


def _replace_over_the_shoulder(shot: PlannedShot, scene: PlannedScene,
                               previous: PlannedShot | None, casting: Casting, why: str,
                               warnings: list[ParseWarning]) -> None:
    """An OTS the set cannot frame → a two-shot of the pair (unless the shot before already
    was one), else a single of the speaker."""
    listener, speaker = shot.subjects
    pair = sorted(shot.subjects, key=lambda n: scene.line.index(n) if n in scene.line else 2)
    if previous is not None and previous.size == "TWO" and set(previous.subjects) == set(pair):
        shot.size, shot.subjects = "MCU", [speaker]
        shot.name = f"{casting.label(speaker)} MCU"
        instead = f"a {casting.label(speaker)} MCU single"
    else:
        shot.size, shot.subjects = "TWO", pair
        shot.name = " ".join(casting.label(n) for n in pair) + " TWO"
        instead = "a two-shot"
    warnings.append(ParseWarning(shot.line, f"{shot.shot_id}: an over-the-shoulder of "
                                 f"{casting.label(speaker)} past {casting.label(listener)} "
                                 f"cannot be framed on set {scene.set} ({why}); planned as "
                                 f"{instead}"))


FLOOR_MARGIN = 0.06
"""Share of the plate's height kept below the lowest feet a scene's blocking puts on it."""
MAX_STEP_BACK_M = 4.0


def _step_into_view(scene: PlannedScene, production: Production) -> None:
    """Move a scene's blocking back (away from the set camera) until the set's plate shows the
    floor under everyone's feet: a plate that starts its floor further away than the
    screenplay's default seats would cut every wide at the knees."""
    from render_engine.errors import SoloreelError
    from render_engine.proxy.projection import plate_source

    try:
        probe = ShotSpec.model_validate({"shot": {"id": "probe"}, "set": scene.set})
        model = plate_source(probe, production).model
    except (SoloreelError, OSError, ValueError, KeyError):
        return  # no plate yet: validate says so
    spots = [p.entry_path[-1] if p.entry_path else p.position for p in scene.placements.values()]
    if not spots or model.kind == "360":
        return

    def shown(step: float) -> bool:
        for x, z in spots:
            _, v = model.pixels(np.array(x), np.array(-model.camera_height_m),
                                np.array(z + step))
            if not float(v) < (1 - FLOOR_MARGIN) * model.height:
                return False
        return True

    step = 0.0
    while not shown(step) and step < MAX_STEP_BACK_M:
        step = round(step + 0.1, 2)
    if not step or not shown(step):
        return
    for shot in scene.shots:
        for entry in shot.characters:
            entry["position"] = [entry["position"][0], round(entry["position"][1] + step, 2)]
            if entry.get("path"):
                entry["path"] = [[x, round(z + step, 2)] for x, z in entry["path"]]
    scene.placements = {name: replace(p, position=(p.position[0], round(p.position[1] + step, 2)),
                                      entry_path=tuple((x, round(z + step, 2))
                                                       for x, z in p.entry_path))
                        for name, p in scene.placements.items()}


def screenplay_to_timeline(text: str, production: Production | None = None,
                           fps: float | None = None, name: str = "", *,
                           max_speakers: int | None = None) -> otio.schema.Timeline:
    """Parse Fountain text and block it out into an edit (the whole read path in one call).

    `production` matches names to its bible and gives the frame rate (unless `fps` is given);
    without one, sets are the slugified locations and cast names the slugified speakers.
    `max_speakers` raises (or lowers) the bound on different speakers in one scene
    (`parser.MAX_SPEAKERS_PER_SCENE`). Raises FountainError only.
    """
    play = parse_fountain(text, max_speakers=max_speakers)
    if fps is None:
        fps = float(production.settings.production.fps) if production else DEFAULT_FPS
    if not fps > 0:
        raise FountainError(f"the frame rate must be positive, got {fps}")
    casting = Casting(production, play)
    plan = plan_screenplay(play, casting)
    if production is not None:
        fit_coverage_to_sets(plan, casting, production)
    return build_timeline(plan, play, casting, fps, play.title or name or "Screenplay")
