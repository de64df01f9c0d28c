"""Layered shots for the NLE: the plate, one alpha layer per character, the foreground on top.

`soloreel export --layers` hands the editor a shot as stacked tracks so one character can be
nudged, scaled or graded on its own. The layers are cut from the proxy compositor itself
(`ShotFrames`' camera, plate renderer, cut-outs, lighting and occlusion), so stacking them in
order gives back the flat proxy frame:

- the plate: the set's background with the camera move (the production's encode profile,
  dialog muxed, so the shot's sound stays on the bottom clip);
- one ProRes 4444 layer per character, ordered far to near: the lit, occluded sprite and its
  contact shadow, cut out by compositing the character onto a black and onto a white canvas
  (difference matting: alpha = 1 - (white - black) / 255, colour = black / alpha), which reuses
  the compositor's own blending exactly instead of re-deriving it;
- the foreground: the plate's pixels under the set's foreground masks that are nearer than
  every character in the frame, so a nudged character still passes behind them;
- a character leaning on a surface that a mask draws (a table top) is split where the proxy
  splits it (`ShotFrames.place_character(..., layered=True)`): its forearms and hands, drawn
  just in front of the table's mask, are a layer of their own, `<name>.forearms`
  (`part_layer`), cut the same way and stacked above the foreground, while the character's
  own layer holds the rest of the figure (legs behind the table).

Layers are cached like any render, under their own cache tier name ("layers"), each layer under
its own content address (`part_hashes`: a character's layers by that character's inputs and the
shot's camera, the plate by the shot without characters), so changing one character re-renders
its layers only.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import opentimelineio as otio

from render_engine.audio.dialog import RATE, mix_dialog, mouth_shape, spoken_lines
from render_engine.bible import Production
from render_engine.cache import CacheEntry, RenderCache
from render_engine.capture.store import expression_at
from render_engine.hashing import canonical_json, hash_inputs
from render_engine.media.encode import VideoWriter, probe, timecode_at
from render_engine.pose.acting import acting_for
from render_engine.proxy import cutouts, lipflap
from render_engine.proxy.compositor import composite_sprite
from render_engine.proxy.shot import ShotFrames
from render_engine.render import RenderJob, ShotPlan

LAYERS_TIER = "layers"
"""The cache tier name of layered renders."""
LAYERS_VERSION = 2
"""Bumped when the layer cutting changes (it invalidates cached layers). 2: forearms resting
on a masked surface are cut out of the character's layer into a layer of their own."""
LAYER_PROFILE = "prores4444"
FOREGROUND = "foreground"
FOREARMS = "forearms"
"""The part of a character that rests on a masked surface (`rig_pose.FOREARMS`: lower arms
and hands) and is exported as a layer of its own, named `part_layer(name)`."""


def part_layer(name: str, part: str = FOREARMS) -> str:
    """The layer (and track) name of one part of a character: `<name>.<part>`. Character
    names never hold a dot (`bible.NAME_PATTERN`), so the name splits back unambiguously."""
    return f"{name}.{part}"


def layer_owner(layer: str) -> str:
    """The character a character or part layer belongs to (`part_layer`'s inverse)."""
    return layer.partition(".")[0]


def split_characters(acting: dict[str, Any], names: list[str]) -> list[str]:
    """Those of `names` (in their order) whose forearms the proxy draws as a layer of their
    own: a character whose acting leans on a surface drawn by a foreground mask (as
    `ShotFrames.place_character` splits them)."""
    return [name for name in names
            if getattr(getattr(acting.get(name), "surface", None), "mask", None)]


@dataclass
class LayerFrame:
    """One frame cut into layers: the plate (RGB) and RGBA layers bottom to top."""

    plate: np.ndarray
    layers: dict[str, np.ndarray]
    """Layer name → H x W x 4 uint8 RGBA, in stacking order (characters far to near, the
    foreground, then the forearms resting on a masked table)."""


def over(below: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """Composite an RGBA uint8 layer over an RGB uint8 picture ("over", straight alpha)."""
    alpha = layer[..., 3:4].astype(np.float32) / 255.0
    mixed = below.astype(np.float32) * (1.0 - alpha) + layer[..., :3].astype(np.float32) * alpha
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def _unmatte(black: np.ndarray, white: np.ndarray) -> np.ndarray:
    """RGBA from the same element composited over black and over white (difference matting)."""
    diff = white.astype(np.float32) - black.astype(np.float32)
    alpha = np.clip(1.0 - diff.mean(axis=2) / 255.0, 0.0, 1.0)
    safe = np.where(alpha > 1e-3, alpha, 1.0)[..., None]
    colour = np.clip(black.astype(np.float32) / safe + 0.5, 0, 255)
    out = np.zeros((*black.shape[:2], 4), np.uint8)
    out[..., :3] = colour.astype(np.uint8)
    out[..., 3] = (alpha * 255.0 + 0.5).astype(np.uint8)
    out[alpha <= 1e-3] = 0
    return out


class ShotLayers:
    """Cuts the frames of one `ShotFrames` shot into layers (see the module docstring)."""

    def __init__(self, shot: ShotFrames, order: list[str] | None = None):
        """`order`: character names bottom to top (default: the spec's order)."""
        self.shot = shot
        self.order = order if order is not None else [c.name for c in shot.spec.characters]
        self.split = split_characters(shot.acting, self.order)
        """Characters whose forearms are a layer of their own (`part_layer`)."""
        self.cut: set[str] | None = None
        """Character and part layers to cut (None: all); the others are placed, for the
        foreground's depth test, but never composited."""

    def _sprites(self, index: int, place: set[str] | None = None
                 ) -> tuple[Any, np.ndarray, np.ndarray, list, dict, dict]:
        """Camera, plate RGB and depth, foreground masks, the lit sprite of each character
        in `place` (None: every character) as the proxy splits it (forearms on a masked
        table excluded), and those split parts' sprites by part layer name."""
        shot = self.shot
        t = shot.seconds(index)
        cam = shot.camera(shot.progress(index), t)
        background, depth = shot.plates.background(cam)  # type: ignore[attr-defined]
        foregrounds = shot.plates.foreground(cam)  # type: ignore[attr-defined]
        shot.ambient.background = background
        sprites: dict[str, cutouts.Sprite] = {}
        parts: dict[str, list[cutouts.Sprite]] = {}
        for char in shot.spec.characters:
            if place is not None and char.name not in place:
                continue
            # lit and split as the proxy's own frames are
            _posture, sprite = shot.place_character(char, cam, t, layered=True)
            if sprite is None:
                continue
            shape = mouth_shape(shot.lines, char.name, t)
            captured = expression_at(shot.captures, char.name, t) if shot.captures else None
            if captured is not None:  # a line the creator acted (render_engine.capture)
                lipflap.draw_captured(sprite, captured)
            elif shape != "X":
                lipflap.draw_mouth(sprite, shape)
            sprites[char.name] = sprite
            parts[part_layer(char.name)] = list(sprite.extra.get("layers", ()))
        return cam, background, depth, foregrounds, sprites, parts

    @property
    def names(self) -> list[str]:
        """Layer names above the plate, bottom to top: characters far to near, the
        foreground, then the forearms resting on a table (in front of its mask)."""
        return [*self.order, FOREGROUND, *(part_layer(name) for name in self.split)]

    def _wanted(self, name: str, place: set[str] | None) -> bool:
        """Whether character or part layer `name` is cut in this pass."""
        return ((place is None or layer_owner(name) in place)
                and (self.cut is None or name in self.cut))

    def frame(self, index: int, place: set[str] | None = None) -> LayerFrame:
        """Cut rendered frame `index` (0 = the first frame, handles included) into layers:
        the characters in `place` (None: all of them, and then the foreground) and their
        split parts. A character or part not in frame is a transparent layer."""
        cam, background, depth, foregrounds, sprites, parts = self._sprites(index, place)
        height, width = background.shape[:2]
        layers: dict[str, np.ndarray] = {}
        for name in self.names:
            if name == FOREGROUND or not self._wanted(name, place):
                continue
            own = parts.get(name, []) if name not in sprites else [sprites[name]]
            layers[name] = _cut(background, own, depth, foregrounds, cam)
        if place is not None:
            return LayerFrame(background, layers)
        nearest = min((s.depth for s in sprites.values()), default=math.inf)
        alpha = np.zeros((height, width), np.float32)
        for mask, mask_depth in foregrounds:
            if mask_depth < nearest:
                alpha = np.maximum(alpha, mask)
        front = np.zeros((height, width, 4), np.uint8)
        front[..., :3] = background
        front[..., 3] = (np.clip(alpha, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        layers[FOREGROUND] = front
        ordered = {name: layers[name] for name in self.names if name in layers}
        return LayerFrame(background, ordered)


def _cut(background: np.ndarray, sprites: list[cutouts.Sprite], depth: np.ndarray,
         foregrounds: list, cam: Any) -> np.ndarray:
    """RGBA of `sprites` composited (lit, occluded by the plate and every foreground mask
    nearer than them, with their contact shadows) as the proxy composites them, by
    difference matting over a black and a white canvas (the two-backing "triangulation
    matting" of Smith and Blinn, "Blue Screen Matting", SIGGRAPH 1996); transparent when
    there are none."""
    if not sprites:
        return np.zeros((*background.shape[:2], 4), np.uint8)
    black = np.zeros_like(background)
    white = np.full_like(background, 255)
    for canvas in (black, white):
        for sprite in sprites:
            composite_sprite(canvas, background, sprite, depth, foregrounds, cam)
    return _unmatte(black, white)


PLATE = "plate"


def _variant(spec: Any, characters: list[Any], dialog: list[Any]) -> Any:
    """The spec with only some characters and lines: what one layer is made of."""
    return spec.model_copy(update={"characters": characters, "dialog": dialog})


def _framed(spec: Any, production: Production, size: tuple[int, int]) -> Any:
    """The shot's framed start camera (framing reads every character: who is in the shot
    moves the camera, and so every layer)."""
    from render_engine.proxy import framing

    return framing.frame_shot(spec, production, *size)


def _size(production: Production, size: tuple[int, int] | None) -> tuple[int, int]:
    proxy = production.settings.tier("proxy")
    return (int(size[0]), int(size[1])) if size is not None else (proxy.width, proxy.height)


def _address(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(inputs).encode("utf-8")).hexdigest()


def part_hashes(spec: Any, production: Production,
                size: tuple[int, int] | None = None) -> dict[str, str]:
    """The content address of each layer of a shot, by layer name ("plate", each character,
    "foreground", each split part such as "john.forearms"), so a change re-renders only the
    layers it touches:

    - a character's layer: the proxy inputs of the shot with only that character and only
      its own lines (its cut-out files, blocking, lighting, lip flap), and the framed camera;
    - a character's forearms on a masked table (`split_characters`): the same inputs and the
      part's name, so changing the character re-renders both its layers and nothing else;
    - the plate: the shot without characters (set, lighting, move, the dialog muxed under
      it) and the framed camera;
    - the foreground: the plate's inputs without dialog, and where every character stands
      (it holds the masks nearer than the nearest character).

    The framed camera stands for the other characters wherever they change the framing."""
    width, height = _size(production, size)
    camera = repr(_framed(spec, production, (width, height)))
    common = {"layers": LAYERS_VERSION, "size": [width, height], "camera": camera}
    hashes = {PLATE: _address({**common, "part": PLATE, "proxy": hash_inputs(
        _variant(spec, [], list(spec.dialog)), production, "proxy")})}
    split = split_characters(acting_for(spec, production), [c.name for c in spec.characters])
    for char in spec.characters:
        own = [line for line in spec.dialog
               if line.speaker.strip().lower() == char.name.strip().lower()]
        proxy = hash_inputs(_variant(spec, [char], own), production, "proxy")
        hashes[char.name] = _address({**common, "part": "character", "proxy": proxy})
        if char.name in split:
            hashes[part_layer(char.name)] = _address({**common, "part": FOREARMS,
                                                      "proxy": proxy})
    blocking = [{**c.model_dump(mode="json", include={"name", "position", "action",
                                                      "path"}),
                 "height_m": production.member(c.name).height_m} for c in spec.characters]
    hashes[FOREGROUND] = _address({**common, "part": FOREGROUND, "blocking": blocking,
                                   "proxy": hash_inputs(_variant(spec, [], []), production,
                                                        "proxy")})
    return hashes


def layers_hash(spec: Any, production: Production,
                size: tuple[int, int] | None = None) -> str:
    """One address for all of a shot's layers (the parts' addresses together)."""
    return _address({"parts": part_hashes(spec, production, size)})


def layer_hashes(spec: Any, production: Production,
                 size: tuple[int, int] | None = None) -> list[str]:
    """Every cache address a shot's layers live under (gc keeps these)."""
    return sorted(set(part_hashes(spec, production, size).values()))


def layer_file(shot_id: str, name: str) -> str:
    """The file name of one layer of a shot (the shot id leads, for identity by path)."""
    return f"{shot_id}.layer.{name}.mov"


def depth_order(spec: Any, production: Production, camera: Any, shown: tuple[int, int],
                fps: float) -> list[str]:
    """Character names far to near at the middle of the shown frames (the camera there, each
    character's floor point): fixed for the shot, as an NLE track cannot change its place
    in the stack mid-clip. Computed from the blocking, not from rendered frames, so a stack
    of cached layers is ordered without rendering anything."""
    from render_engine.proxy import moves
    from render_engine.proxy.blocking import character_floor

    lo, hi = shown
    middle = (lo + hi) // 2
    t = middle / fps - spec.shot.origin
    progress = min(1.0, max(0.0, (middle - lo) / max(1, hi - lo - 1)))
    cam = moves.camera_at(camera, spec, production, progress, t)

    def far_first(char: Any) -> float:
        x, z, _facing, _walking = character_floor(char, t)
        depth = float(cam.to_camera(np.array([x, 0.0, z]))[2])
        return -depth if depth > 0 and math.isfinite(depth) else 0.0

    return [c.name for c in sorted(spec.characters, key=far_first)]


def _render_parts(job: RenderJob, wanted: list[str], outputs: dict[str, Path]
                  ) -> dict[str, int]:
    """Render only the `wanted` layers of `job` (plate, characters, their parts, foreground)
    into `outputs`; the frames each one got. Characters none of whose layers are wanted are
    not even placed unless the foreground needs their depth."""
    lines = spoken_lines(job.spec, job.production, job.label)
    shot = ShotFrames(job.spec, job.production, job.width, job.height, job.fps, job.first,
                      job.shown, lines)
    cutter = ShotLayers(shot, order=[c.name for c in job.spec.characters])
    cutter.cut = {name for name in wanted if name not in (PLATE, FOREGROUND)}
    timecode = timecode_at(job.first, job.fps)
    shot_id = job.spec.shot.id
    writers: dict[str, VideoWriter] = {}
    for name in wanted:
        if name == PLATE:
            audio = (mix_dialog(lines, job.shot_seconds(0), job.frame_count / job.fps)
                     if lines else None)
            writers[name] = VideoWriter(
                outputs[name], job.width, job.height, job.fps,
                profile=job.production.settings.encode.profile,
                audio=(audio, RATE) if audio is not None else None, timecode=timecode,
                metadata={"comment": f"soloreel shot {shot_id} layer plate", "title": shot_id})
        else:
            writers[name] = VideoWriter(
                outputs[name], job.width, job.height, job.fps, profile=LAYER_PROFILE,
                timecode=timecode, metadata={"comment": f"soloreel shot {shot_id} layer {name}",
                                             "title": f"{shot_id} {name}"})
    place = None if FOREGROUND in wanted else {layer_owner(n) for n in wanted if n != PLATE}
    opened: list[VideoWriter] = []
    try:
        for writer in writers.values():
            opened.append(writer.__enter__())
        for index in range(job.frame_count):
            cut = cutter.frame(index, place)
            for name, writer in writers.items():
                writer.write(cut.plate if name == PLATE else cut.layers[name])
            job.progress(1)
    except BaseException as exc:
        for writer in reversed(opened):
            writer.__exit__(type(exc), exc, exc.__traceback__)
        raise
    for writer in reversed(opened):
        writer.__exit__(None, None, None)
    counts = {}
    for name in wanted:
        counts[name] = probe(outputs[name]).frame_count
        if counts[name] != job.frame_count:
            raise RuntimeError(f"{outputs[name].name}: {counts[name]} frames, expected "
                               f"{job.frame_count}")
    return counts


def layer_paths(entry: CacheEntry) -> list[tuple[str, Path]]:
    """(layer name, file) of a cached layered render, bottom to top above the plate."""
    return [(layer["name"], entry.folder / layer["media"]) for layer in entry.manifest["layers"]]


def layer_source_note(tier: str) -> str | None:
    """What an editor should know about where a tier's layers come from (None for proxy).

    Layers are always cut from the proxy compositor (the 2.5D animatic), at the exported
    tier's frame size; the final tier's own per-character passes (`vace_layers`) are not
    exported as layers yet, so a final's layers are the animatic's, not the final's pixels."""
    if tier == "proxy":
        return None
    if tier == "final":
        return ("layers come from the proxy tier's compositor (the 2.5D animatic) at the "
                "final's frame size, not from the final's own vace_layers passes; the plate "
                "clip under them is the proxy plate too")
    return (f"layers come from the proxy tier's compositor (the 2.5D animatic) at the "
            f"{tier}'s frame size")


def render_shot_layers(plan: ShotPlan, production: Production, cache: RenderCache,
                       render: bool = True, size: tuple[int, int] | None = None
                       ) -> CacheEntry | None:
    """The layers of a planned shot as one stack (the plate's entry, its manifest listing
    every layer's file bottom to top), rendering first the layers not cached when `render`.

    Each layer is its own cache entry under its own address (`part_hashes`): changing one
    character re-renders that character's layers (its own and its forearms' where they are
    split; the foreground too when the character moved), never the others. `plan` gives the
    spec, shown range and handles; `size` the frame size (default: the proxy tier's; an
    export passes its tier's). None when something is missing and rendering was not asked.
    `manifest["rendered_layers"]` names the layers this call rendered."""
    assert plan.spec is not None
    width, height = _size(production, size)
    hashes = part_hashes(plan.spec, production, (width, height))
    found = {name: cache.lookup(LAYERS_TIER, h, *plan.shown) for name, h in hashes.items()}
    missing = sorted(name for name, entry in found.items() if entry is None)
    if missing and not render:
        return None
    if missing:
        found.update(_render_missing(plan, production, cache, hashes, missing,
                                     (width, height)))
    fps = production.settings.production.fps
    order = depth_order(plan.spec, production, _framed(plan.spec, production, (width, height)),
                        plan.shown, fps)
    plate = found[PLATE]
    assert plate is not None
    layers = []
    parts = [part_layer(name) for name in order if part_layer(name) in hashes]
    for name in [*order, FOREGROUND, *parts]:
        entry = found[name]
        assert entry is not None
        layers.append({"name": name, **_layer_kind(name),
                       "media": str(entry.media.resolve())})
    manifest = {**plate.manifest, "layers": layers, "rendered_layers": missing,
                "layer_profile": LAYER_PROFILE}
    return replace(plate, manifest=manifest)


def _layer_kind(name: str) -> dict[str, str]:
    """A manifest layer's kind ("character", "foreground" or "part") and, for a part, its
    character ("of") and part name ("part")."""
    if name == FOREGROUND:
        return {"kind": "foreground"}
    owner, _dot, part = name.partition(".")
    return {"kind": "part", "of": owner, "part": part} if part else {"kind": "character"}


def _render_missing(plan: ShotPlan, production: Production, cache: RenderCache,
                    hashes: dict[str, str], missing: list[str], size: tuple[int, int]
                    ) -> dict[str, CacheEntry]:
    """Render the `missing` layers in one pass, each into its own staging folder under its
    own lock (taken in address order), and publish each as its own entry."""
    assert plan.spec is not None
    fps = production.settings.production.fps
    suffix = ".mov" if production.settings.encode.profile == "resolve" else ".mp4"
    shot_id = plan.spec.shot.id
    names = {name: (f"{shot_id}.layer.plate{suffix}" if name == PLATE
                    else layer_file(shot_id, name)) for name in missing}
    with contextlib.ExitStack() as stack:
        for name in sorted(missing, key=lambda n: hashes[n]):
            stack.enter_context(cache.lock(LAYERS_TIER, hashes[name]))
        done = {name: cache.lookup(LAYERS_TIER, hashes[name], *plan.shown) for name in missing}
        todo = [name for name in missing if done[name] is None]
        if not todo:
            return {name: entry for name, entry in done.items() if entry is not None}
        staged = {name: stack.enter_context(cache.staging(LAYERS_TIER, hashes[name],
                                                          plan.first, plan.end))
                  for name in todo}
        job = RenderJob(spec=plan.spec, production=production, tier=LAYERS_TIER,
                        first=plan.first, end=plan.end, fps=fps, width=size[0],
                        height=size[1], out_path=staged[todo[0]] / names[todo[0]],
                        label=plan.ref.label, shown=plan.shown)
        started = time.perf_counter()
        counts = _render_parts(job, todo, {n: staged[n] / names[n] for n in todo})
        seconds = round(time.perf_counter() - started, 3)
        for name in todo:
            manifest = {"shot_id": shot_id, "spec": plan.spec.to_metadata(), "fps": fps,
                        "size": list(size), "part": name,
                        "encode_profile": production.settings.encode.profile,
                        "profile": (production.settings.encode.profile if name == PLATE
                                    else LAYER_PROFILE),
                        "media_frames": counts[name], "timecode": timecode_at(plan.first, fps),
                        "seconds": seconds, "rendered_with": todo}
            done[name] = cache.commit(LAYERS_TIER, hashes[name], plan.first, plan.end,
                                      staged[name], names[name], manifest)
        return {name: entry for name, entry in done.items() if entry is not None}


def _kinds(entry: CacheEntry) -> list[tuple[str, str]]:
    """(layer name, kind) of a layered render's manifest, bottom to top (`_layer_kind`)."""
    return [(layer["name"], layer.get("kind") or _layer_kind(layer["name"])["kind"])
            for layer in entry.manifest.get("layers", [])]


def _track_order(stacks: list[tuple[otio.schema.Clip, CacheEntry]]) -> list[str]:
    """Character names bottom to top for the whole timeline: by their mean stacking rank over
    the shots they appear in (far characters low), ties by first appearance."""
    ranks: dict[str, list[float]] = {}
    for _clip, entry in stacks:
        names = [name for name, kind in _kinds(entry) if kind == "character"]
        for rank, name in enumerate(names):
            ranks.setdefault(name, []).append(rank / max(1, len(names) - 1))
    first = list(ranks)
    return sorted(ranks, key=lambda n: (sum(ranks[n]) / len(ranks[n]), first.index(n)))


def _part_tracks(stacks: list[tuple[otio.schema.Clip, CacheEntry]], order: list[str]
                 ) -> list[str]:
    """Part layer names (`part_layer`) bottom to top for the whole timeline, above the
    foreground: in their characters' track order, ties by first appearance."""
    parts = list(dict.fromkeys(name for _clip, entry in stacks
                               for name, kind in _kinds(entry) if kind == "part"))

    def rank(name: str) -> tuple[int, int]:
        owner = layer_owner(name)
        return (order.index(owner) if owner in order else len(order), parts.index(name))

    return sorted(parts, key=rank)


def add_layer_tracks(timeline: otio.schema.Timeline,
                     stacks: list[tuple[otio.schema.Clip, CacheEntry]]) -> list[str]:
    """Stack each layered shot's layers on video tracks above the edit; returns warnings.

    One track per character across the whole timeline, named after the character (an editor
    grades or nudges "jane" on one track from shot to shot), ordered far to near by their
    usual depth, a `foreground` track above them, and on top one track per split part
    (`jane.forearms`: forearms resting on a table, in front of its mask). Each layer clip
    sits at its shot clip's record range, trimmed like the clip (same source range; every
    layer starts at the plate's timecode). A shot whose depth order differs from the tracks'
    order is exported all the same, with a warning naming who stacks wrongly where they
    overlap. A shot whose record range overlaps an already stacked one keeps only its plate,
    with a warning.
    """
    warnings: list[str] = []
    placed: list[tuple[otio.opentime.TimeRange, otio.schema.Clip, CacheEntry]] = []
    for clip, entry in stacks:
        placed.append((clip.trimmed_range_in_parent(), clip, entry))
    placed.sort(key=lambda item: item[0].start_time.to_seconds())
    order = _track_order(stacks)
    names = [*order, FOREGROUND, *_part_tracks(stacks, order)] if stacks else []
    tracks = {name: otio.schema.Track(name=name, kind=otio.schema.TrackKind.Video)
              for name in names}
    ends = dict.fromkeys(names, 0.0)
    stacked: list[tuple[float, float]] = []
    for record, clip, entry in placed:
        start = record.start_time
        shot_id = entry.manifest.get("shot_id", clip.name)
        if any(start.to_seconds() < end - 1e-9 and record.end_time_exclusive().to_seconds()
               > begin + 1e-9 for begin, end in stacked):
            warnings.append(f"{shot_id}: overlaps another layered shot; exported its plate "
                            "only")
            continue
        stacked.append((start.to_seconds(), record.end_time_exclusive().to_seconds()))
        own = [name for name, kind in _kinds(entry) if kind == "character"]
        if own != sorted(own, key=order.index):
            warnings.append(f"{shot_id}: depth order here is {', '.join(own)} (far to near) "
                            f"but the character tracks stack {', '.join(order)}; where they "
                            "overlap, move a track or key the nearer layer")
        for name, path in layer_paths(entry):
            track = tracks[name]
            gap = start - otio.opentime.RationalTime(ends[name] * start.rate, start.rate)
            if gap.value > 0:
                track.append(otio.schema.Gap(
                    source_range=otio.opentime.TimeRange(duration=gap)))
            reference = otio.schema.ExternalReference(
                target_url=path.resolve().as_uri(),
                available_range=clip.media_reference.available_range)
            reference.name = path.name
            track.append(otio.schema.Clip(
                name=f"{shot_id} {name}", media_reference=reference,
                source_range=clip.source_range))
            ends[name] = record.end_time_exclusive().to_seconds()
    timeline.tracks.extend(tracks.values())
    return warnings
