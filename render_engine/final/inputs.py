"""Everything a final render is conditioned on, at Wan's 16 fps and the render size.

The final follows what the creator approved in the proxy: when the proxy tier's cache holds
this shot, the pose control video is its `pose.mp4` (the OpenPose track of the proxy's
blocking), the i2v keyframe its first frame, the v2v source and the VACE inpainting context its
movie. Without a proxy the control video is drawn here from the spec's blocking with the
annotators' OpenPose drawing, and the keyframe is the set's plate. Frames are uint8 RGB
arrays; proxy frames are sampled at 16 fps and fitted to the render size (scaled to cover,
centre-cropped) so every input lines up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from render_engine.cache import CacheEntry, RenderCache
from render_engine.errors import SoloreelError
from render_engine.final.latents import WAN_FPS
from render_engine.final.plan import FinalPlan, shot_characters
from render_engine.final.retime import sample_frames
from render_engine.hashing import shot_hash
from render_engine.media.encode import read_frames
from render_engine.pose.openpose import draw_poses, standing_pose
from render_engine.render import RenderJob
from render_engine.spec import CharacterSpec

NEGATIVE_PROMPT = ("blurry, low quality, distorted anatomy, extra limbs, deformed face, "
                   "flicker, static frame, watermark, subtitles, text")
POSE_VIDEO = "pose.mp4"
MASK_GROW = 0.08
"""Mask dilation around a skeleton, as a fraction of the frame height (vace_inpaint)."""


# --------------------------------------------------------------------------- prompt


def build_prompt(job: RenderJob, plan: FinalPlan) -> tuple[str, str]:
    """(prompt, negative prompt): LoRA trigger words first (they only work when present),
    then the spec's prompt, the characters, the set and its lighting."""
    spec, production = job.spec, job.production
    parts = list(plan.triggers)
    if spec.prompt.strip():
        parts.append(spec.prompt.strip())
    for member, char in zip(shot_characters(spec, production), spec.characters, strict=False):
        who = member.description or member.label
        parts.append(f"{who}, {char.action}ing" if char.action != "stand" else who)
    try:
        set_spec = production.set(spec.set)
        if set_spec.description:
            parts.append(set_spec.description)
        lighting = set_spec.lighting_name(spec.lighting)
        if lighting:
            parts.append(f"{lighting.replace('_', ' ')} lighting")
    except SoloreelError:
        pass
    parts.append(f"{spec.shot.size} shot, {spec.shot.angle} angle, cinematic")
    return ", ".join(p for p in parts if p), NEGATIVE_PROMPT


# --------------------------------------------------------------------------- the proxy


def proxy_entry(job: RenderJob) -> CacheEntry | None:
    """The proxy tier's cache entry of this shot covering the job's frames, if rendered."""
    try:
        content = shot_hash(job.spec, job.production, "proxy")
    except SoloreelError:
        return None
    cache = RenderCache(job.production.renders_dir())
    return cache.lookup("proxy", content, job.first, job.end)


def fit_frame(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale to cover width × height, centre-crop: no distortion whatever the aspect."""
    h, w = frame.shape[:2]
    if (w, h) == (width, height):
        return frame
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(frame, (new_w, new_h), interpolation=interpolation)
    left, top = (new_w - width) // 2, (new_h - height) // 2
    return np.ascontiguousarray(resized[top:top + height, left:left + width])


def sampled_media(path: Path, entry: CacheEntry, job: RenderJob, count: int, width: int,
                  height: int) -> list[np.ndarray]:
    """`count` frames of a proxy movie at 16 fps from the job's first frame, fitted to the
    render size (the movie is decoded once, keeping only the frames used)."""
    offset = job.first - entry.first
    available = entry.end - entry.first
    wanted = [offset + i for i in sample_frames(count, job.fps, WAN_FPS, job.frame_count)]
    wanted = [min(i, available - 1) for i in wanted]
    keep = set(wanted)
    found: dict[int, np.ndarray] = {}
    last = max(wanted)
    for index, frame in enumerate(read_frames(path)):
        if index in keep:
            found[index] = fit_frame(frame, width, height)
        if index >= last:
            break
    if not found:
        raise SoloreelError(f"proxy media {path} has no frames; re-render the proxy")
    final = max(found)
    return [found.get(i, found[final]) for i in wanted]


# --------------------------------------------------------------------------- poses


@dataclass
class Control:
    """The pose control video of a render and where it came from."""

    frames: list[np.ndarray]
    source: str


def _drawn_person(job: RenderJob, char: CharacterSpec, width: int, height: int,
                  seconds: float) -> np.ndarray | None:
    """One spec character's skeleton at shot time `seconds` at its starting floor position,
    seen by a level pinhole camera from the plate's height and field of view (None when at
    or behind the camera) — a stand-in for the proxy's blocking when no proxy exists (walk
    paths and camera moves are the proxy's job; render the proxy first for those)."""
    try:
        set_spec = job.production.set(job.spec.set)
        camera_height, hfov = set_spec.plate.camera_height_m, set_spec.plate.hfov_deg
    except SoloreelError:
        camera_height, hfov = 1.5, 70.0
    focal = width / 2 / np.tan(np.radians(min(hfov, 120.0)) / 2)
    horizon = 0.45 * height
    x, z = char.position
    if z <= 0.3:
        return None
    members = {m.name: m for m in shot_characters(job.spec, job.production)}
    member = members.get(char.name.lower())
    height_m = member.height_m if member else 1.75
    feet = (width / 2 + focal * x / z, horizon + focal * camera_height / z)
    return standing_pose(feet, focal * height_m / z, char.facing, seconds, char.action,
                         distance=z / height_m, camera_up=camera_height / height_m)


def _drawn_people(job: RenderJob, width: int, height: int, seconds: float) -> list[np.ndarray]:
    """Skeletons of every spec character (see `_drawn_person`)."""
    people = [_drawn_person(job, char, width, height, seconds) for char in job.spec.characters]
    return [p for p in people if p is not None]


def control_video(job: RenderJob, plan: FinalPlan, count: int,
                  entry: CacheEntry | None) -> Control:
    """The OpenPose control video (count frames at 16 fps): the proxy's pose track when the
    proxy is cached, else skeletons drawn from the spec."""
    if entry is not None:
        name = str(entry.manifest.get("pose_video") or POSE_VIDEO)
        path = entry.folder / name
        if path.is_file():
            frames = sampled_media(path, entry, job, count, plan.width, plan.height)
            return Control(frames, f"proxy:{entry.hash[:12]}/{name}")
    start = job.shot_seconds(0)
    frames = [draw_poses(plan.width, plan.height,
                         _drawn_people(job, plan.width, plan.height, start + i / WAN_FPS))
              for i in range(count)]
    return Control(frames, "drawn")


def pose_masks(control: list[np.ndarray], grow: float = MASK_GROW) -> list[np.ndarray]:
    """Where characters go (white = generate) for vace_inpaint: each skeleton dilated."""
    masks = []
    for frame in control:
        height = frame.shape[0]
        radius = max(1, round(grow * height))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        drawn = (frame.max(axis=2) > 8).astype(np.uint8) * 255
        masks.append(cv2.dilate(drawn, kernel))
    return masks


# --------------------------------------------------------------------------- images


def plate_image(job: RenderJob, width: int, height: int) -> np.ndarray:
    """The shot's plate (its own or the set's), fitted to the render size."""
    spec, production = job.spec, job.production
    set_spec = production.set(spec.set)
    path = (production.resolve(spec.plate) if spec.plate
            else production.set_file(set_spec, set_spec.plate.image))
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
    except OSError as exc:
        raise SoloreelError(f"plate {path.name} cannot be read ({exc})") from exc
    return fit_frame(pixels, width, height)


def on_white(path: Path) -> Image.Image:
    """A cut-out (RGBA) over a white canvas — how VACE letterboxes its reference images."""
    with Image.open(path) as image:
        rgba = image.convert("RGBA")
    canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    canvas.alpha_composite(rgba)
    return canvas.convert("RGB")


def reference_images(job: RenderJob, plan: FinalPlan) -> list[Image.Image]:
    """VACE reference images: extras, and leads without a LoRA, by their first reference
    image (or first view) on white. Leads with a LoRA are carried by the LoRA."""
    with_lora = {use.name for use in plan.loras}
    images = []
    for member in shot_characters(job.spec, job.production):
        if member.name in with_lora:
            continue
        files = list(member.reference_images) or [v.image for v in member.views.values()]
        if not files:
            continue
        path = job.production.cast_file(member, files[0])
        try:
            images.append(on_white(path))
        except OSError as exc:
            raise SoloreelError(f"reference image of {member.name} ({files[0]}) cannot be "
                                f"read ({exc})") from exc
    return images


def keyframe(job: RenderJob, plan: FinalPlan, entry: CacheEntry | None) -> tuple[np.ndarray, str]:
    """The i2v start frame: the proxy's first frame when cached, else the plate."""
    if entry is not None and entry.media.is_file():
        first = sampled_media(entry.media, entry, job, 1, plan.width, plan.height)[0]
        return first, f"proxy:{entry.hash[:12]}"
    return plate_image(job, plan.width, plan.height), "plate"


def source_video(job: RenderJob, plan: FinalPlan, count: int,
                 entry: CacheEntry | None) -> list[np.ndarray]:
    """The approved proxy animatic at 16 fps (v2v_refine / vace_inpaint context)."""
    if entry is None:
        raise SoloreelError(f"{plan.mode} refines the proxy, which is not rendered for these "
                            "frames; run `soloreel render --tier proxy` first")
    return sampled_media(entry.media, entry, job, count, plan.width, plan.height)
