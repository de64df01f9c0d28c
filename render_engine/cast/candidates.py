"""Turnaround and expression candidates from the source image, with the final tier's models.

One render per (view, expression, index): an i2v model animates the source image with an
orbit/turn prompt and the last frame is kept (the camera has come round to the view asked
for); a VACE model gets the source as a reference image (letterboxed on white) and an OpenPose
control video of a figure in the asked view (front, three-quarter, side, back, sitting,
close-up) with a full mask; a v2v model re-imagines the source frame (strength 0.7); a t2v
model works from the prompt alone. i2v and v2v start from the source fitted into the square
render (`fit_square`: scaled without distortion, padded with its own background). Seeds are derived
from (character, view, expression, index, base seed) with sha256, so a re-run renders the
same candidates; each candidate's json records model, mode, prompt, seed, steps, size and
the source's hash.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from render_engine.bible import Production
from render_engine.cast.dataset import VIEW_PHRASES, add_candidate, flatten
from render_engine.cast.workspace import Workspace
from render_engine.errors import SoloreelError

TURN_PROMPTS = {
    "front": "facing the camera, full body, standing still",
    "three_quarter": "the camera orbits slowly to a three-quarter view, full body",
    "side": "the camera orbits to a side profile view, full body",
    "back": "the camera orbits around to show the back, full body",
    "sitting": "sits down on a stool, full body",
    "closeup": "the camera pushes in to a close-up of the face",
}
FRAMES = 17
"""Frames per i2v/VACE render: enough motion for the orbit, 4k+1."""
V2V_STRENGTH = 0.7
"""How much of the source a v2v model re-imagines (1 = everything)."""

VIEW_POSES = {  # view → (floor facing, action, figure height in frame heights, feet row)
    "front": (180.0, "stand", 0.86, 0.94),
    "three_quarter": (225.0, "stand", 0.86, 0.94),
    "side": (270.0, "stand", 0.86, 0.94),
    "back": (0.0, "stand", 0.86, 0.94),
    "sitting": (180.0, "sit", 0.86, 0.94),
    "closeup": (180.0, "stand", 3.2, 2.95),
}


def pose_controls(view: str, side: int, count: int) -> list[Image.Image]:
    """The VACE control video for one view: a COCO-18 skeleton in that view, breathing."""
    from render_engine.pose.openpose import draw_poses, standing_pose

    facing, action, height, feet = VIEW_POSES.get(view, VIEW_POSES["front"])
    frames = []
    for index in range(count):
        pose = standing_pose((side / 2, feet * side), height * side, facing, index / 16.0,
                             action=action)
        frames.append(Image.fromarray(draw_poses(side, side, [pose])))
    return frames


def fit_square(image: Image.Image, side: int) -> Image.Image:
    """`image` scaled to fit a `side`×`side` square without distortion, centred on its own
    background (the median colour of its border pixels: white for a flattened cut-out, the
    studio grey of a photo on grey) — i2v and v2v start from this frame, so a squashed
    source would give squashed candidates."""
    array = np.asarray(image.convert("RGB"))
    border = np.concatenate([array[0], array[-1], array[:, 0], array[:, -1]])
    colour = tuple(int(c) for c in np.median(border, axis=0))
    scale = side / max(image.width, image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    canvas = Image.new("RGB", (side, side), colour)
    canvas.paste(image.convert("RGB").resize(size, Image.Resampling.LANCZOS),
                 ((side - size[0]) // 2, (side - size[1]) // 2))
    return canvas


def candidate_seed(name: str, view: str, expression: str, index: int, base: int) -> int:
    """A stable 31-bit seed for one candidate."""
    digest = hashlib.sha256(f"{name}|{view}|{expression}|{index}|{base}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def turnaround_prompt(trigger: str, description: str, view: str, expression: str) -> str:
    """The prompt of one candidate: who, how they turn, the view and the expression."""
    turn = TURN_PROMPTS.get(view, VIEW_PHRASES.get(view, view))
    parts = [trigger, description, turn, f"{VIEW_PHRASES.get(view, view)}",
             f"{expression} expression", "plain light grey studio background, even lighting"]
    return ", ".join(p for p in parts if p)


def generate_candidates(production: Production, name: str, model: str | None = None,
                        views: list[str] | None = None, expressions: list[str] | None = None,
                        per_view: int = 1, steps: int | None = None, size: int = 512,
                        seed: int = 0, frames: int = FRAMES) -> list[str]:
    """Render candidates for every view × expression × index; returns the new ids."""
    from render_engine.final.latents import (
        cpu_generator,
        initial_latents,
        latent_shape,
        round_size,
    )
    from render_engine.final.modes import encode_prompts
    from render_engine.final.registry import set_flow_shift, shared_registry

    member = production.member(name)
    workspace = Workspace(production, member.name)
    model_name = model or production.settings.tier("final").model
    if not model_name:
        raise SoloreelError("no model: pass --model or set tiers.final.model")
    if not member.reference_images:
        raise SoloreelError(f"{member.name} has no reference image to start from")
    source_path = production.cast_file(member, member.reference_images[0])
    with Image.open(source_path) as opened:
        source = flatten(opened)
    source_sha = hashlib.sha256(source_path.read_bytes()).hexdigest()[:16]
    loaded = shared_registry(production).get(model_name)
    kind = loaded.source.entry.kind
    pipe = loaded.pipe
    side = round_size(size)
    set_flow_shift(pipe, side, side)
    steps = steps or production.settings.tier("final").steps or 30
    description = member.description
    ids: list[str] = []
    for view in views or ["front", "three_quarter", "side", "back"]:
        for expression in expressions or ["neutral"]:
            for index in range(per_view):
                candidate = candidate_seed(member.name, view, expression, index, seed)
                prompt = turnaround_prompt(member.trigger, description, view, expression)
                embeds = encode_prompts(loaded, prompt, "", 1.0)
                count = 1 if kind in ("t2v", "v2v") else frames
                references = 1 if kind == "vace" else 0
                shape = latent_shape(side, side, count, pipe.vae.config.z_dim, references,
                                     pipe.vae_scale_factor_temporal,
                                     pipe.vae_scale_factor_spatial)
                common: dict[str, Any] = {
                    **embeds, "height": side, "width": side, "num_frames": count,
                    "num_inference_steps": steps, "guidance_scale": 1.0, "output_type": "np",
                    "latents": initial_latents(candidate, shape)}
                fitted = fit_square(source, side)
                if kind == "v2v":
                    # WanVideoToVideoPipeline takes the video (no num_frames) and draws its
                    # noise from the generator after encoding it: re-imagine the source
                    mode = "v2v-restyle"
                    common.pop("num_frames")
                    common.pop("latents")
                    out = pipe(video=[fitted], strength=V2V_STRENGTH,
                               generator=cpu_generator(candidate), **common)
                elif kind == "i2v":
                    mode = "i2v-turnaround"
                    out = pipe(image=fitted, **common)
                elif kind == "vace":
                    mode = "vace-reference-pose"
                    white = Image.new("L", (side, side), 255)
                    out = pipe(video=pose_controls(view, side, count), mask=[white] * count,
                               reference_images=[source], **common)
                else:
                    mode = "t2v-prompt"
                    out = pipe(**common)
                frame = np.asarray(out.frames[0][-1])
                image = Image.fromarray((np.clip(frame, 0, 1) * 255).round().astype(np.uint8))
                ids.append(add_candidate(workspace, image, {
                    "origin": "generated", "model": model_name, "kind": kind, "mode": mode,
                    "prompt": prompt, "seed": candidate, "base_seed": seed, "index": index,
                    "steps": steps, "size": [side, side], "frames": count,
                    "frame_kept": count - 1, "view": view, "expression": expression,
                    "source": str(Path(member.reference_images[0])), "source_sha256": source_sha}))
    return ids
