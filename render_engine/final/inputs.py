"""Everything a final render is conditioned on, at Wan's 16 fps and the render size.

The final follows what the creator approved in the proxy: when the proxy tier's cache holds
this shot (the render `final.conditioning` picks — the one the final's content hash names),
the pose control video is drawn from its `pose.json` (the OpenPose track of the proxy's
blocking, exact keypoints rather than the 4:2:0-coded `pose.mp4`), the i2v keyframe is its
first frame, the v2v source and the VACE inpainting context its movie. Without a proxy the
skeletons are drawn here from the spec's blocking, and the keyframe is the set's plate. Every
skeleton whose face is seen gets DWPose's 68 face landmarks with the mouth in the dialog's
mouth shape at that moment (`render_engine.pose.face`), so the final's lips follow the lines.
Frames are uint8 RGB arrays; proxy frames are sampled at 16 fps and fitted to the render size
(scaled to cover, centre-cropped) so every input lines up.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from render_engine.cache import CacheEntry
from render_engine.errors import SoloreelError
from render_engine.final.conditioning import (
    member_references,
    pick_proxy,
    proxy_hash,
    proxy_renders,
    reference_files,
)
from render_engine.final.latents import WAN_FPS
from render_engine.final.plan import FinalPlan, shot_characters
from render_engine.final.retime import sample_frames
from render_engine.media.encode import read_frames
from render_engine.pose.face import face_keypoints
from render_engine.pose.openpose import draw_poses, standing_pose
from render_engine.render import RenderJob
from render_engine.spec import CharacterSpec

NEGATIVE_PROMPT = ("blurry, low quality, distorted anatomy, extra limbs, deformed face, "
                   "flicker, static frame, watermark, subtitles, text")
MASK_GROW = 0.08
"""Mask dilation around a skeleton, as a fraction of the frame height (vace_inpaint)."""


# --------------------------------------------------------------------------- prompt


GERUNDS = {"stand": "", "sit": "sitting", "walk": "walking", "talk": "talking",
           "gesture": "gesturing", "turn": "turning", "lie": "lying down",
           "sit_down": "sitting down", "stand_up": "standing up"}
"""How a spec action reads in a prompt ("sit" + "ing" is not a word)."""


def describe(member: Any, action: str) -> str:
    """A character as a prompt phrase: the sheet's description (else its name) and what it
    is doing."""
    who = member.description or member.label
    doing = GERUNDS.get(action, action)
    return f"{who}, {doing}" if doing else who


def described(spec: Any, production: Any) -> list[tuple[Any, Any]]:
    """(member, spec character) the shot's prompt describes: the framed subjects when the
    shot names them (a single describes its one subject, not everyone in the scene), else
    every known character, in spec order."""
    subjects = {s.strip().lower() for s in spec.shot.subjects}
    pairs = []
    for char in spec.characters:
        try:
            member = production.member(char.name)
        except SoloreelError:
            continue
        if not subjects or member.name.lower() in subjects or char.name.lower() in subjects:
            pairs.append((member, char))
    return pairs


def build_prompt(job: RenderJob, plan: FinalPlan) -> tuple[str, str]:
    """(prompt, negative prompt): the described characters' trigger words first (they only
    work when present), then the spec's prompt, the characters the shot frames (`described`),
    the set and its lighting."""
    spec, production = job.spec, job.production
    pairs = described(spec, production)
    parts = [m.trigger for m, _c in pairs if m.trigger]
    parts = list(dict.fromkeys(parts))
    if spec.prompt.strip():
        parts.append(spec.prompt.strip())
    for member, char in pairs:
        parts.append(describe(member, char.action))
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
    """The proxy render of this shot the final reads (None: not rendered): the one the
    final's content hash names (`final.conditioning.pick_proxy`)."""
    entries = proxy_renders(job.production, proxy_hash(job.spec, job.production))
    return pick_proxy(entries, job.first, job.end)


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
    wanted = [min(max(i, 0), available - 1) for i in wanted]
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


Person = np.ndarray | None
"""One character's COCO-18 keypoints (18, 3) in render pixels, or None when not seen."""


@dataclass
class PoseTrack:
    """The skeletons and faces a VACE render follows, per Wan frame."""

    people: list[list[Person]]
    """Per frame, one entry per spec character (spec order) when `identified`, else the
    people the proxy drew in its order."""
    faces: list[list[np.ndarray | None]]
    """Per frame, the face landmarks (68, 3) of each entry of `people` (None: not seen)."""
    source: str
    """"proxy:<hash>/pose.json" or "drawn"."""
    identified: bool = True
    """Whether `people[i][k]` is spec character k (the proxy drew everyone)."""


@dataclass
class Control:
    """The pose control video of a render and where it came from."""

    frames: list[np.ndarray]
    source: str
    track: PoseTrack | None = None


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


def _fit_points(points: np.ndarray, src: tuple[int, int], dst: tuple[int, int]) -> np.ndarray:
    """Keypoints of a src-size frame in a dst-size frame fitted like `fit_frame` (scale to
    cover, centre-crop)."""
    (sw, sh), (dw, dh) = src, dst
    scale = max(dw / sw, dh / sh)
    new_w, new_h = max(dw, round(sw * scale)), max(dh, round(sh * scale))
    out = np.array(points, np.float64)
    out[:, 0] = out[:, 0] * new_w / sw - (new_w - dw) // 2
    out[:, 1] = out[:, 1] * new_h / sh - (new_h - dh) // 2
    return out


def _proxy_people(entry: CacheEntry, job: RenderJob, count: int, width: int, height: int
                  ) -> tuple[list[list[Person]], bool] | None:
    """Per Wan frame the people of the proxy's pose.json fitted to the render size, and
    whether every frame has one person per spec character (then in spec order); None when
    the proxy has no usable pose.json."""
    path: Path = entry.folder / str(entry.manifest.get("pose_json") or "pose.json")
    if not path.is_file():
        return None
    try:
        frames = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(frames, list) or not frames:
        return None
    characters = len(job.spec.characters)
    offset, available = job.first - entry.first, entry.end - entry.first
    people: list[list[Person]] = []
    identified = True
    for index in sample_frames(count, job.fps, WAN_FPS, job.frame_count):
        frame = frames[min(max(offset + index, 0), available - 1, len(frames) - 1)]
        found = frame.get("people") or []
        identified = identified and len(found) == characters
        size = (int(frame.get("canvas_width", width)), int(frame.get("canvas_height", height)))
        row: list[Person] = []
        for person in found:
            points = np.asarray(person["pose_keypoints_2d"], np.float64).reshape(18, 3)
            row.append(_fit_points(points, size, (width, height)) if points[:, 2].any()
                       else None)
        people.append(row)
    return people, identified


def _faces(job: RenderJob, people: list[list[Person]], identified: bool, wanted: bool = True
           ) -> list[list[Any]]:
    """Each person's face landmarks per Wan frame, the mouth in the speaker's Rhubarb shape
    at that moment (closed when silent, or when the proxy's people cannot be told apart);
    all None unless `wanted`."""
    from render_engine.audio.dialog import mouth_shape, spoken_lines
    from render_engine.capture.store import expression_at, line_captures

    if not wanted:
        return [[None] * len(row) for row in people]

    lines = spoken_lines(job.spec, job.production, job.label) if (
        identified and job.spec.dialog) else []
    names = [c.name for c in job.spec.characters]
    start = job.shot_seconds(0)
    captures = line_captures(job.spec, job.production) if lines else []  # acted lines
    faces = []
    for index, row in enumerate(people):
        t = start + index / WAN_FPS
        faces.append([face_keypoints(person, mouth_shape(lines, names[k], t) if (
            lines and k < len(names)) else "X", expression_at(captures, names[k], t) if (
            captures and k < len(names)) else None) for k, person in enumerate(row)])
    return faces


def pose_track(job: RenderJob, plan: FinalPlan, count: int, entry: CacheEntry | None,
               need_identity: bool = False, faces: bool = True) -> PoseTrack:
    """The skeletons (and faces) of `count` Wan frames: the proxy's pose.json when the proxy
    is rendered (with `need_identity`, only when it drew one person per spec character, so
    each can be told apart — vace_layers), else skeletons drawn from the spec. Without
    `faces` (the dry run's layer count) no face is made and no line is spoken."""
    if entry is not None:
        found = _proxy_people(entry, job, count, plan.width, plan.height)
        if found is not None and (found[1] or not need_identity):
            people, identified = found
            return PoseTrack(people, _faces(job, people, identified and faces, faces),
                             f"proxy:{entry.hash[:12]}/pose.json", identified)
    start = job.shot_seconds(0)
    people = [[_drawn_person(job, char, plan.width, plan.height, start + i / WAN_FPS)
               for char in job.spec.characters] for i in range(count)]
    return PoseTrack(people, _faces(job, people, faces, faces), "drawn")


def draw_track(width: int, height: int, people: Sequence[Person],
               faces: Sequence[np.ndarray | None]) -> np.ndarray:
    """One control frame: the people's skeletons and faces as the annotators draw them."""
    shown = [(p, f) for p, f in zip(people, faces, strict=True) if p is not None]
    return draw_poses(width, height, [p for p, _f in shown],
                      faces=[f for _p, f in shown if f is not None])


def control_video(job: RenderJob, plan: FinalPlan, count: int,
                  entry: CacheEntry | None) -> Control:
    """The OpenPose control video (count frames at 16 fps): bodies and faces from the proxy's
    pose track when the proxy is rendered, else drawn from the spec (`pose_track`)."""
    track = pose_track(job, plan, count, entry)
    frames = [draw_track(plan.width, plan.height, people, faces)
              for people, faces in zip(track.people, track.faces, strict=True)]
    return Control(frames, track.source, track)


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
    """VACE reference images of a one-pass VACE render (vace_inpaint): for every character
    whose LoRA does not carry them, the first reference image (or first view) on white
    (`final.conditioning.reference_files`, which the content hash lists too)."""
    images = []
    for name, files in reference_files(job.spec, job.production, plan):
        images += member_images(job, name, files)
    return images


def member_images(job: RenderJob, name: str, files: list[str] | None = None
                  ) -> list[Image.Image]:
    """A cast member's reference images on white (`files`, else `member_references`); an
    unreadable one is a SoloreelError naming the character and the file."""
    member = job.production.member(name)
    images = []
    for file in member_references(member) if files is None else files:
        try:
            images.append(on_white(job.production.cast_file(member, file)))
        except OSError as exc:
            raise SoloreelError(f"reference image of {member.name} ({file}) cannot be read "
                                f"({exc}); fix it or reference_images / views in "
                                f"cast/{member.name}.toml") from exc
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


# --------------------------------------------------------------------------- animate


FACE_MARGIN = 1.6
"""animate: a face crop's side as a multiple of the face landmarks' extent (forehead and
chin included, as Wan-Animate's preprocessing crops it)."""


@dataclass
class AnimateInputs:
    """What WanAnimatePipeline is given for one shot (16 fps, render size)."""

    image: Image.Image
    """The lead's sheet image on white (`image`)."""
    pose: list[np.ndarray]
    """The lead's skeleton and face landmarks per frame (`pose_video`)."""
    faces: list[np.ndarray]
    """Square crops of the lead's face, `face_size` pixels (`face_video`)."""
    source: str
    """Where the skeletons came from ("proxy:<hash>/pose.json" or "drawn")."""
    face_source: str
    """Where the face crops were cut from ("proxy:<hash>" or "control")."""
    lead: str
    background: list[np.ndarray] | None = None
    """animate_replace: the approved proxy animatic (else the plate) the lead is put into."""
    mask: list[np.ndarray] | None = None
    """animate_replace: where the lead goes (white), its skeleton dilated (`pose_masks`)."""


def _lead_person(row: list[Person], index: int, identified: bool) -> Person:
    """The lead's keypoints in one frame: spec character `index` when the track tells people
    apart, else the tallest person drawn."""
    if identified:
        return row[index] if index < len(row) else None
    seen = [p for p in row if p is not None]
    if not seen:
        return None

    def tall(p: np.ndarray) -> float:
        ys = p[p[:, 2] > 0, 1]
        return float(ys.max() - ys.min()) if len(ys) else 0.0

    return max(seen, key=tall)


def face_box(person: Person, face: np.ndarray | None, width: int, height: int
             ) -> tuple[float, float, float] | None:
    """(centre x, centre y, side) of a square around a face: the visible landmarks' extent ×
    FACE_MARGIN, else from the body (nose and neck: a head is about twice the nose–neck
    distance tall), else None."""
    if face is not None and (face[:, 2] > 0).sum() >= 4:
        points = face[face[:, 2] > 0, :2]
        low, high = points.min(axis=0), points.max(axis=0)
        side = max(float((high - low).max()) * FACE_MARGIN, 8.0)
        centre = (low + high) / 2
        return float(centre[0]), float(centre[1]), side
    if person is not None and person[0, 2] > 0 and person[1, 2] > 0:
        nose, neck = person[0, :2], person[1, :2]
        side = max(2.4 * float(np.hypot(*(nose - neck))), 8.0)
        return float(nose[0]), float(nose[1]), side
    return None


def face_crops(frames: list[np.ndarray], boxes: list[tuple[float, float, float] | None],
               size: int) -> list[np.ndarray]:
    """`size`² crops of `frames` around `boxes` (a frame without a box re-uses the nearest
    earlier box, else the first one found, else the top-centre third); outside the frame is
    padded with its edge pixels."""
    known = [b for b in boxes if b is not None]
    h, w = frames[0].shape[:2]
    last = known[0] if known else (w / 2, h / 4, min(w, h) / 3)
    crops = []
    for frame, box in zip(frames, boxes, strict=True):
        last = box or last
        cx, cy, side = last
        half = side / 2
        x0, y0 = round(cx - half), round(cy - half)
        x1, y1 = x0 + max(2, round(side)), y0 + max(2, round(side))
        pad = max(0, -x0, -y0, x1 - w, y1 - h)
        padded = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad \
            else frame
        crop = padded[y0 + pad:y1 + pad, x0 + pad:x1 + pad]
        interpolation = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_CUBIC
        crops.append(cv2.resize(np.ascontiguousarray(crop), (size, size),
                                interpolation=interpolation))
    return crops


def letterbox(image: Image.Image, width: int, height: int) -> Image.Image:
    """`image` scaled to fit inside width × height and centred on white: the pipeline resizes
    its `image` to the render size, which would squash a portrait sheet."""
    scale = min(width / image.width, height / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    canvas.paste(image.convert("RGB").resize(size, Image.Resampling.LANCZOS),
                 ((width - size[0]) // 2, (height - size[1]) // 2))
    return canvas


def animate_inputs(job: RenderJob, plan: FinalPlan, count: int, entry: CacheEntry | None,
                   face_size: int) -> AnimateInputs:
    """animate's inputs for `count` frames: the lead (the shot's first known character)'s
    sheet image, its skeleton with DWPose face (mouth on the viseme track) as the pose video
    — from the proxy's pose track when rendered, else drawn from the spec — and square crops
    of its face from the approved proxy movie (else from that pose video, whose face
    landmarks carry the dialog's mouth shapes) as the face video. animate_replace adds the
    background (the proxy movie, else the plate) and the lead's mask."""
    members = shot_characters(job.spec, job.production)
    lead = members[0]
    names = [c.name.lower() for c in job.spec.characters]
    index = names.index(lead.name.lower()) if lead.name.lower() in names else 0
    track = pose_track(job, plan, count, entry)
    people = [_lead_person(row, index, track.identified) for row in track.people]
    faces: list[np.ndarray | None] = []
    for row, person in zip(track.faces, track.people, strict=True):
        lead_person = _lead_person(person, index, track.identified)
        found = None
        for face, someone in zip(row, person, strict=True):
            if someone is lead_person and face is not None:
                found = face
        faces.append(found)
    pose = [draw_track(plan.width, plan.height, [p], [f]) for p, f in
            zip(people, faces, strict=True)]
    boxes = [face_box(p, f, plan.width, plan.height) for p, f in zip(people, faces, strict=True)]
    if entry is not None and entry.media.is_file():
        frames = sampled_media(entry.media, entry, job, count, plan.width, plan.height)
        face_source = f"proxy:{entry.hash[:12]}"
    else:
        frames, face_source = pose, "control"
    image = letterbox(member_images(job, lead.name, member_references(lead)[:1])[0],
                      plan.width, plan.height)
    crops = face_crops(frames, boxes, face_size)
    from render_engine.capture.store import line_captures, take_face_crops

    taken = take_face_crops(line_captures(job.spec, job.production), lead.name,
                            [job.shot_seconds(0) + i / WAN_FPS for i in range(count)],
                            face_size, FACE_MARGIN)  # the creator's own acted face
    for position, crop in taken.items():
        crops[position] = crop
    inputs = AnimateInputs(image, pose, crops, track.source,
                           face_source + ("+take" if taken else ""), lead.name)
    if plan.mode == "animate_replace":
        inputs.background = (frames if face_source != "control"
                             else [plate_image(job, plan.width, plan.height)] * count)
        inputs.mask = pose_masks(pose)
    return inputs
