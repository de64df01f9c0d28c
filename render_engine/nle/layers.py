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
  every character in the frame, so a nudged character still passes behind them.

Layers are cached like any render, under their own cache tier name ("layers") and a content
hash of the proxy tier's inputs.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import opentimelineio as otio

from render_engine.audio.dialog import RATE, mix_dialog, mouth_shape, spoken_lines
from render_engine.bible import Production
from render_engine.cache import CacheEntry, RenderCache
from render_engine.hashing import canonical_json, hash_inputs
from render_engine.media.encode import VideoWriter, probe, timecode_at
from render_engine.proxy import cutouts, lipflap
from render_engine.proxy.compositor import composite_sprite
from render_engine.proxy.shot import ShotFrames
from render_engine.render import RenderJob, ShotPlan

LAYERS_TIER = "layers"
"""The cache tier name of layered renders."""
LAYERS_VERSION = 1
"""Bumped when the layer cutting changes (it invalidates cached layers)."""
LAYER_PROFILE = "prores4444"
FOREGROUND = "foreground"


@dataclass
class LayerFrame:
    """One frame cut into layers: the plate (RGB) and RGBA layers bottom to top."""

    plate: np.ndarray
    layers: dict[str, np.ndarray]
    """Layer name → H x W x 4 uint8 RGBA, in stacking order (characters far to near, then the
    foreground)."""


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

    def __init__(self, shot: ShotFrames):
        self.shot = shot
        self.order = self._depth_order()
        """Character names far to near (at the middle of the shown frames), fixed for the shot:
        an NLE track cannot change its place in the stack mid-clip."""

    def _sprites(self, index: int) -> tuple[Any, np.ndarray, np.ndarray, list, dict]:
        """Camera, plate RGB and depth, foreground masks and each character's lit sprite."""
        shot = self.shot
        t = shot.seconds(index)
        cam = shot.camera(shot.progress(index), t)
        background, depth = shot.plates.background(cam)  # type: ignore[attr-defined]
        foregrounds = shot.plates.foreground(cam)  # type: ignore[attr-defined]
        shot.ambient.background = background
        sprites: dict[str, cutouts.Sprite] = {}
        for char in shot.spec.characters:
            _posture, sprite = shot.place_character(char, cam, t)  # lit as the proxy lights it
            if sprite is None:
                continue
            shape = mouth_shape(shot.lines, char.name, t)
            if shape != "X":
                lipflap.draw_mouth(sprite, shape)
            sprites[char.name] = sprite
        return cam, background, depth, foregrounds, sprites

    def _depth_order(self) -> list[str]:
        lo, hi = self.shot.shown
        middle = max(0, (lo + hi) // 2 - self.shot.first)
        sprites = self._sprites(middle)[4]

        def far_first(name: str) -> float:
            sprite = sprites.get(name)
            return -sprite.depth if sprite is not None and math.isfinite(sprite.depth) else 0.0

        return sorted((c.name for c in self.shot.spec.characters), key=far_first)

    @property
    def names(self) -> list[str]:
        """Layer names above the plate, bottom to top."""
        return [*self.order, FOREGROUND]

    def frame(self, index: int) -> LayerFrame:
        """Cut rendered frame `index` (0 = the first frame, handles included) into layers."""
        cam, background, depth, foregrounds, sprites = self._sprites(index)
        height, width = background.shape[:2]
        layers: dict[str, np.ndarray] = {}
        for name in self.order:
            sprite = sprites.get(name)
            if sprite is None:
                layers[name] = np.zeros((height, width, 4), np.uint8)
                continue
            black = np.zeros_like(background)
            white = np.full_like(background, 255)
            for canvas in (black, white):
                composite_sprite(canvas, background, sprite, depth, foregrounds, cam)
            layers[name] = _unmatte(black, white)
        nearest = min((s.depth for s in sprites.values()), default=math.inf)
        alpha = np.zeros((height, width), np.float32)
        for mask, mask_depth in foregrounds:
            if mask_depth < nearest:
                alpha = np.maximum(alpha, mask)
        front = np.zeros((height, width, 4), np.uint8)
        front[..., :3] = background
        front[..., 3] = (np.clip(alpha, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        layers[FOREGROUND] = front
        return LayerFrame(background, layers)


def layers_hash(spec: Any, production: Production,
                size: tuple[int, int] | None = None) -> str:
    """The content address of a shot's layers: the proxy tier's inputs, the layer version and
    the frame size they are cut at (the exported tier's)."""
    inputs: dict[str, Any] = {"layers": LAYERS_VERSION,
                              "proxy": hash_inputs(spec, production, "proxy")}
    proxy = production.settings.tier("proxy")
    if size is not None and tuple(size) != (proxy.width, proxy.height):
        inputs["size"] = list(size)  # proxy-size layers keep the address they always had
    return hashlib.sha256(canonical_json(inputs).encode("utf-8")).hexdigest()


def layer_file(shot_id: str, name: str) -> str:
    """The file name of one layer of a shot (the shot id leads, for identity by path)."""
    return f"{shot_id}.layer.{name}.mov"


def render_layers(job: RenderJob) -> dict[str, Any]:
    """Write the plate to `job.out_path` and each layer beside it; manifest details."""
    started = time.perf_counter()
    lines = spoken_lines(job.spec, job.production, job.label)
    audio = (mix_dialog(lines, job.shot_seconds(0), job.frame_count / job.fps)
             if lines else None)
    shot = ShotFrames(job.spec, job.production, job.width, job.height, job.fps, job.first,
                      job.shown, lines)
    cutter = ShotLayers(shot)
    timecode = timecode_at(job.first, job.fps)
    shot_id = job.spec.shot.id
    folder = job.out_path.parent
    files = {name: layer_file(shot_id, name) for name in cutter.names}
    plate = VideoWriter(job.out_path, job.width, job.height, job.fps,
                        profile=job.production.settings.encode.profile,
                        audio=(audio, RATE) if audio is not None else None, timecode=timecode,
                        metadata={"comment": f"soloreel shot {shot_id} layer plate",
                                  "title": shot_id})
    writers = {name: VideoWriter(folder / files[name], job.width, job.height, job.fps,
                                 profile=LAYER_PROFILE, timecode=timecode,
                                 metadata={"comment": f"soloreel shot {shot_id} layer {name}",
                                           "title": f"{shot_id} {name}"})
               for name in cutter.names}
    opened: list[VideoWriter] = []
    try:
        for writer in (plate, *writers.values()):
            opened.append(writer.__enter__())
        for index in range(job.frame_count):
            cut = cutter.frame(index)
            plate.write(cut.plate)
            for name, layer in cut.layers.items():
                writers[name].write(layer)
            job.progress(1)
    except BaseException as exc:
        for writer in reversed(opened):
            writer.__exit__(type(exc), exc, exc.__traceback__)
        raise
    for writer in reversed(opened):
        writer.__exit__(None, None, None)
    for path in (job.out_path, *(folder / f for f in files.values())):
        count = probe(path).frame_count
        if count != job.frame_count:
            raise RuntimeError(f"{path.name}: {count} frames, expected {job.frame_count}")
    return {
        "media_frames": job.frame_count,
        "layers": [{"name": name, "kind": "foreground" if name == FOREGROUND else "character",
                    "media": files[name]} for name in cutter.names],
        "layer_profile": LAYER_PROFILE,
        "timecode": timecode,
        "seconds": round(time.perf_counter() - started, 3),
    }


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
    """The cached layers of a planned shot, rendered first when missing and `render` is set.

    `plan` gives the spec, shown range and handles; `size` the frame size (default: the
    proxy tier's; an export passes its tier's). None when nothing is cached and rendering
    was not asked.
    """
    assert plan.spec is not None
    proxy = production.settings.tier("proxy")
    width, height = size or (proxy.width, proxy.height)
    content_hash = layers_hash(plan.spec, production, (width, height))
    found = cache.lookup(LAYERS_TIER, content_hash, *plan.shown)
    if found is not None or not render:
        return found
    with cache.lock(LAYERS_TIER, content_hash):
        found = cache.lookup(LAYERS_TIER, content_hash, *plan.shown)
        if found is not None:
            return found
        suffix = ".mov" if production.settings.encode.profile == "resolve" else ".mp4"
        media_name = f"{plan.spec.shot.id}.layer.plate{suffix}"
        fps = production.settings.production.fps
        with cache.staging(LAYERS_TIER, content_hash, plan.first, plan.end) as staged:
            job = RenderJob(spec=plan.spec, production=production, tier=LAYERS_TIER,
                            first=plan.first, end=plan.end, fps=fps, width=width,
                            height=height, out_path=staged / media_name,
                            label=plan.ref.label, shown=plan.shown)
            details = render_layers(job)
            manifest = {"shot_id": plan.spec.shot.id, "spec": plan.spec.to_metadata(),
                        "fps": fps, "size": [job.width, job.height],
                        "encode_profile": production.settings.encode.profile, **details}
            return cache.commit(LAYERS_TIER, content_hash, plan.first, plan.end, staged,
                                media_name, manifest)


def _track_order(stacks: list[tuple[otio.schema.Clip, CacheEntry]]) -> list[str]:
    """Character names bottom to top for the whole timeline: by their mean stacking rank over
    the shots they appear in (far characters low), ties by first appearance."""
    ranks: dict[str, list[float]] = {}
    for _clip, entry in stacks:
        names = [layer["name"] for layer in entry.manifest.get("layers", [])
                 if layer.get("kind") != "foreground"]
        for rank, name in enumerate(names):
            ranks.setdefault(name, []).append(rank / max(1, len(names) - 1))
    first = list(ranks)
    return sorted(ranks, key=lambda n: (sum(ranks[n]) / len(ranks[n]), first.index(n)))


def add_layer_tracks(timeline: otio.schema.Timeline,
                     stacks: list[tuple[otio.schema.Clip, CacheEntry]]) -> list[str]:
    """Stack each layered shot's layers on video tracks above the edit; returns warnings.

    One track per character across the whole timeline, named after the character (an editor
    grades or nudges "jane" on one track from shot to shot), ordered far to near by their
    usual depth, and a `foreground` track on top. Each layer clip sits at its shot clip's
    record range, trimmed like the clip (same source range; every layer starts at the plate's
    timecode). A shot whose depth order differs from the tracks' order is exported all the
    same, with a warning naming who stacks wrongly where they overlap. A shot whose record
    range overlaps an already stacked one keeps only its plate, with a warning.
    """
    warnings: list[str] = []
    placed: list[tuple[otio.opentime.TimeRange, otio.schema.Clip, CacheEntry]] = []
    for clip, entry in stacks:
        placed.append((clip.trimmed_range_in_parent(), clip, entry))
    placed.sort(key=lambda item: item[0].start_time.to_seconds())
    order = _track_order(stacks)
    names = [*order, FOREGROUND] if stacks else []
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
        own = [name for name, _path in layer_paths(entry) if name != FOREGROUND]
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
