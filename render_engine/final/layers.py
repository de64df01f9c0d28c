"""`vace_layers`: one VACE render per character (or touching pair), keyed and composited
over the plate like the proxy's cut-outs.

Each layer is driven by its own characters' poses only (the proxy's `pose.json`, one person per
character in spec order, or skeletons drawn from the spec without a proxy) with their faces
speaking their lines (`render_engine.pose.face`), their reference images on white and, for
leads, their LoRA and trigger word; its prompt describes its characters only (with the
clauses of the shot's prompt that name them). The layer is rendered on a flat
key-green matte (asked for in the prompt and given as VACE's kept context outside the pose
region), keyed against that known colour with the proxy's colour-difference keyer, limited
to the dilated pose region (so a stray key can never replace plate pixels far from the
character) and then handed to the proxy compositor as the character's sprite — same placement
depth, contact shadow, occlusion by the plate's foreground masks and lighting as the proxy, so
the final matches the animatic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import cv2
import numpy as np
from PIL import Image

from render_engine.bible import normalise_name
from render_engine.cache import CacheEntry
from render_engine.final.inputs import (
    NEGATIVE_PROMPT,
    Person,
    PoseTrack,
    describe,
    draw_track,
    member_images,
    pose_track,
)
from render_engine.final.plan import FinalPlan, LoraUse
from render_engine.proxy import cutouts
from render_engine.proxy.compositor import compose
from render_engine.proxy.keying import key_screen
from render_engine.proxy.shot import ShotFrames
from render_engine.render import RenderJob

KEY_COLOUR = (0, 177, 64)
"""The matte the layers are rendered on (chroma green, what the keyer expects)."""
LAYER_GROW = 0.12
"""Layer region around a skeleton, as a fraction of the frame height."""
TOUCH_PAD = 0.03
"""Skeleton boxes grown by this fraction of the frame height before testing for contact."""
SEED_STRIDE = 104_729
"""Per-layer seed = shot seed + SEED_STRIDE × (layer index + 1): deterministic, distinct."""

@dataclass
class Layer:
    """One VACE render: which characters (spec indices) it shows and what drives it."""

    members: list[int]
    names: list[str]
    seed: int
    control: list[np.ndarray]
    """Wan-rate control video: the members' skeletons where they are, the key colour around."""
    mask: list[np.ndarray]
    """Wan-rate region to generate (white): the members' dilated skeletons."""
    references: list[Image.Image]
    loras: tuple[LoraUse, ...]
    prompt: str
    negative: str


# --------------------------------------------------------------------------- poses


def character_people(job: RenderJob, plan: FinalPlan, count: int,
                     entry: CacheEntry | None) -> PoseTrack:
    """Per Wan frame each spec character's keypoints (or None) and face, from the proxy's
    pose.json when it drew one person per character, else drawn (`inputs.pose_track`)."""
    return pose_track(job, plan, count, entry, need_identity=True)


def _box(points: np.ndarray, pad: float) -> tuple[float, float, float, float] | None:
    seen = points[points[:, 2] > 0]
    if not len(seen):
        return None
    return (seen[:, 0].min() - pad, seen[:, 1].min() - pad, seen[:, 0].max() + pad,
            seen[:, 1].max() + pad)


def touching_groups(people: list[list[Person]], height: int) -> list[list[int]]:
    """Characters whose (padded) skeleton boxes overlap in any frame share a layer (a hug, a
    hand-off); groups are in spec order of their first member."""
    count = len(people[0]) if people else 0
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    pad = TOUCH_PAD * height
    for row in people:
        boxes = [_box(p, pad) if p is not None else None for p in row]
        for a in range(count):
            for b in range(a + 1, count):
                ba, bb = boxes[a], boxes[b]
                if ba and bb and ba[0] < bb[2] and bb[0] < ba[2] and ba[1] < bb[3] \
                        and bb[1] < ba[3]:
                    parent[root(b)] = root(a)
    groups: dict[int, list[int]] = {}
    for index in range(count):
        groups.setdefault(root(index), []).append(index)
    return sorted(groups.values(), key=lambda g: g[0])


def region_mask(control: np.ndarray, grow: float = LAYER_GROW) -> np.ndarray:
    """The drawn skeletons of a control frame dilated into the layer's region (uint8 0/255)."""
    radius = max(1, round(grow * control.shape[0]))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate((control.max(axis=2) > 8).astype(np.uint8) * 255, kernel)


# --------------------------------------------------------------------------- layers


def _clauses(text: str) -> list[str]:
    """A prompt split into its clauses (at . ; and newlines), stripped, empties dropped."""
    return [c.strip() for c in re.split(r"[.;\n]+", text) if c.strip()]


def _names_of(member) -> set[str]:
    words = {member.name, member.label, member.display_name or "", member.trigger or ""}
    return {w.lower() for w in words if w}


def layer_prompt(job: RenderJob, group: list[int]) -> tuple[str, str]:
    """The layer's prompt: its characters' trigger words first, the clauses of the spec's
    prompt that name one of them (a clause about the scene or someone else belongs to another
    layer or to the plate), its characters' descriptions, and the flat key-green backdrop the
    keyer needs."""
    spec = job.spec
    chars = [spec.characters[i] for i in group]
    members = [job.production.member(c.name) for c in chars]
    parts = list(dict.fromkeys(m.trigger for m in members if m.trigger))
    own = set().union(*(_names_of(m) for m in members)) if members else set()
    for clause in _clauses(spec.prompt):
        words = set(re.findall(r"[\w'-]+", clause.lower()))
        if words & own:
            parts.append(clause)
    for member, char in zip(members, chars, strict=True):
        parts.append(describe(member, char.action))
    parts.append("full body, isolated on a plain flat uniform chroma green screen background, "
                 "even studio light, no shadows on the backdrop")
    return ", ".join(p for p in parts if p), (NEGATIVE_PROMPT + ", scenery, background objects, "
                                              "props, floor, gradient backdrop")


def build_layers(job: RenderJob, plan: FinalPlan, track: PoseTrack) -> list[Layer]:
    """One Layer per touching group: its own skeletons and faces only, its references and
    LoRAs."""
    names = [c.name for c in job.spec.characters]
    key = np.array(KEY_COLOUR, np.uint8)
    by_name = {u.name: u for u in plan.loras}
    layers = []
    for index, group in enumerate(touching_groups(track.people, plan.height)):
        pose = [draw_track(plan.width, plan.height, [row[i] for i in group],
                           [faces[i] for i in group])
                for row, faces in zip(track.people, track.faces, strict=True)]
        mask = [region_mask(p) for p in pose]
        control = [np.where(m[..., None] > 0, p, key) for p, m in zip(pose, mask, strict=True)]
        members = [names[i] for i in group]
        leads = [normalise_name(job.production.member(n).name) for n in members]
        loras = tuple(by_name[n] for n in leads if n in by_name)
        prompt, negative = layer_prompt(job, group)
        references = [image for name in members for image in member_images(job, name)]
        layers.append(Layer(group, members, plan.seed + SEED_STRIDE * (index + 1), control,
                            mask, references, loras, prompt, negative))
    return layers


def layer_groups(job: RenderJob, plan: FinalPlan, entry: CacheEntry | None
                 ) -> list[list[str]]:
    """The characters of each layer a vace_layers render of the job will have (one per
    character or touching group, from the proxy's poses or the drawn ones): the dry run's
    count of VACE passes. No torch, no model."""
    from render_engine.final.latents import native_frames_for

    count = native_frames_for(job.frame_count, job.fps)
    track = pose_track(job, plan, count, entry, need_identity=True, faces=False)
    names = [c.name for c in job.spec.characters]
    return [[names[i] for i in group] for group in touching_groups(track.people, plan.height)]


def layer_plan(plan: FinalPlan, layer: Layer) -> FinalPlan:
    """The shot's plan narrowed to one layer: its seed and its leads' LoRAs (a draft keeps
    its step-distilled LoRA on every layer)."""
    return replace(plan, seed=layer.seed, loras=layer.loras)


def keyed(frame: np.ndarray, region: np.ndarray) -> np.ndarray:
    """A rendered layer frame (uint8 RGB on the key colour) as straight RGBA, its alpha
    limited to the layer region (a soft 0..1 map). Keyed against the known KEY_COLOUR, not a
    colour guessed from the frame's border: a close-up figure may fill the border."""
    rgba = key_screen(frame, screen=KEY_COLOUR)
    alpha = rgba[..., 3].astype(np.float32) * np.clip(region, 0.0, 1.0)
    rgba[..., 3] = np.clip(alpha + 0.5, 0, 255).astype(np.uint8)
    return rgba


# --------------------------------------------------------------------------- compositing


def _layer_sprite(base: cutouts.Sprite, rgba: np.ndarray) -> cutouts.Sprite | None:
    """The proxy sprite `base` (placement, depth, shadow, light) wearing the keyed layer."""
    ys, xs = np.nonzero(rgba[..., 3])
    if not len(xs):
        return None
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    patch = np.ascontiguousarray(rgba[y0:y1, x0:x1])
    return replace(base, rgb=np.ascontiguousarray(patch[..., :3]),
                   coverage=np.ascontiguousarray(patch[..., 3]), x0=x0, y0=y0, lab=None,
                   matched=False, mouth=None, extra={})


def composite_layers(shot: ShotFrames, layers: list[Layer], rgba: list[np.ndarray]
                     ) -> np.ndarray:
    """Timeline-rate frames: the plate with each layer (frames × H × W × 4, straight alpha)
    composited by the proxy compositor as its nearest member's sprite."""
    out = []
    spec = shot.spec
    for index in range(len(rgba[0]) if rgba else 0):
        t = shot.seconds(index)
        cam = shot.camera(shot.progress(index), t)
        background, depth = shot.plates.background(cam)  # type: ignore[attr-defined]
        foregrounds = shot.plates.foreground(cam)  # type: ignore[attr-defined]
        shot.ambient.background = background
        placed: dict[int, cutouts.Sprite] = {}
        for number, char in enumerate(spec.characters):
            _posture, sprite = shot.place_character(char, cam, t)  # lit as the proxy lights it
            if sprite is not None:
                placed[number] = sprite
        sprites = []
        for layer, frames in zip(layers, rgba, strict=True):
            bases = [placed[i] for i in layer.members if i in placed]
            if not bases:
                continue
            sprite = _layer_sprite(min(bases, key=lambda s: s.depth), frames[index])
            if sprite is not None:
                sprites.append(sprite)
        out.append(compose(background, depth, foregrounds, sprites, cam))
    return np.stack(out)
