"""One shot's final frames: inputs, segments, Wan renders, joins and retiming.

`render_frames` turns a RenderJob into exactly `job.frame_count` float frames at the job's
fps and the render size, plus the manifest details of how they were made. A shot longer than
one Wan render is split into overlapping segments; each later segment is conditioned on the
end of the one before (VACE keeps the previous frames via its mask, i2v starts from the
previous last frame, t2v and v2v pin their leading latents to it: `modes.pin_overlap`), and
the joins are colour-matched and cross-faded. `animate` hands the whole take to
WanAnimatePipeline, which segments it itself (`retime.animate_segments`).
CUDA out-of-memory becomes a SoloreelError that names the next memory profile to try.
`vace_layers` renders one such VACE pass per character (or touching group) on a key matte
and composites the keyed layers over the plate with the proxy's compositor
(`render_engine.final.layers`); the manifest's `layers` lists them. A draft (`plan.quality`)
is the same render with the step-distilled LoRA active, fewer steps and guidance 1.
A keyframe (`plan.quality == "keyframe"`) is the same render for one Wan frame (one latent
frame), returned as one frame without retiming. A shot with an approved keyframe
(`plan.anchor`, `final.keyframes`) starts from it: i2v's image, VACE's first control frame
kept by mask 0 (in every layer of vace_layers, inside the layer's region), t2v / v2v's first
latent frame pinned to its VAE latent; and Wan frame 0 *is* the approved image, so the
final's first frame is what was approved.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from render_engine.errors import SoloreelError
from render_engine.final import inputs as conditioning
from render_engine.final import layers
from render_engine.final.adapters import order_layers
from render_engine.final.conditioning import (
    ANIMATE_PREV_FRAMES,
    CONTINUATION,
    SEGMENT_OVERLAP,
    max_frames_setting,
    retime_setting,
    segment_overlap,
)
from render_engine.final.cost import cost_record, model_class
from render_engine.final.latents import WAN_FPS, latent_shape
from render_engine.final.modes import (
    SegmentInputs,
    encode_prompts,
    render_segment,
    use_loras,
)
from render_engine.final.plan import FinalPlan
from render_engine.final.registry import (
    LoadedModel,
    ModelRegistry,
    oom_fix,
    set_flow_shift,
)
from render_engine.final.retime import (
    Segment,
    animate_segments,
    join_segments,
    plan_segments,
    retime,
    to_uint8,
)
from render_engine.render import RenderJob

__all__ = ["SEGMENT_OVERLAP", "ShotFrames", "render_frames"]


@dataclass
class ShotFrames:
    """A shot's final frames (uint8, timeline rate, render size) and how they were made."""

    frames: np.ndarray
    details: dict[str, Any] = field(default_factory=dict)


def _gpu_name(device: str) -> str:
    if device == "cpu":
        return "cpu"
    import torch

    from render_engine.final.cost import GPU_NAMES

    name = torch.cuda.get_device_name()
    return next((key for marker, key in GPU_NAMES.items() if marker in name), name.lower())


def _oom_message(model: LoadedModel, plan: FinalPlan, frames: int) -> str:
    profile = model.profile or model.source.entry.memory_profile
    return (f'CUDA out of memory rendering with model "{model.source.name}" at the {profile} '
            f"memory profile; {oom_fix(model, plan.width, plan.height, frames)}")


@dataclass
class _Conditioning:
    """What every segment of one Wan render is conditioned on (whole-render arrays)."""

    control: list[np.ndarray] | None = None
    mask: list[np.ndarray] | None = None
    references: list = field(default_factory=list)
    keyframe: np.ndarray | None = None
    source: list[np.ndarray] | None = None
    image: Any = None
    faces: list[np.ndarray] | None = None
    anchor: np.ndarray | None = None
    """The approved keyframe (render size, uint8) the render starts from."""


def _animate(model: LoadedModel, plan: FinalPlan, registry: ModelRegistry, segments: list,
             total: int, inputs: _Conditioning, embeds: dict[str, Any]
             ) -> tuple[np.ndarray, int, int]:
    """animate: one WanAnimatePipeline call over the whole take (the pipeline segments it,
    `retime.animate_segments` says how): (float frames at 16 fps, max tokens, forwards)."""
    import torch

    length = segments[0].frames
    seg = SegmentInputs(frames=total, seed=plan.seed, control=inputs.control,
                        image=inputs.image, faces=inputs.faces, segment_frames=length,
                        background=inputs.source, mask=inputs.mask,
                        prev_frames=ANIMATE_PREV_FRAMES if len(segments) > 1 else 1)
    try:
        frames = render_segment(model, plan, seg, embeds)
    except torch.cuda.OutOfMemoryError as exc:
        registry.release(plan.model)
        raise SoloreelError(_oom_message(model, plan, length)) from exc
    shape = latent_shape(plan.width, plan.height, length, reference_images=1)
    tokens = shape[2] * (shape[3] // 2) * (shape[4] // 2)
    forwards = len(segments) * plan.denoise_steps * (2 if plan.guidance > 1.0 else 1)
    return frames[:total], tokens, forwards


def _denoise(model: LoadedModel, plan: FinalPlan, registry: ModelRegistry, segments: list,
             inputs: _Conditioning, embeds: dict[str, Any]) -> tuple[np.ndarray, int, int]:
    """Render every segment and join them: (float frames at 16 fps, max tokens, forwards)."""
    import torch

    control, mask, source = inputs.control, inputs.mask, inputs.source
    rendered: list[np.ndarray] = []
    tokens = forwards = 0
    for index, segment in enumerate(segments):
        window = slice(segment.start, segment.end)
        seg = SegmentInputs(frames=segment.frames, seed=plan.seed + 7919 * index,
                            references=inputs.references, keyframe=inputs.keyframe)
        if control is not None:
            seg.control = list(control[window])
            seg.mask = list(mask[window]) if mask is not None else None
            if index and segment.overlap:  # keep the previous segment's frames (black mask)
                tail = to_uint8(rendered[-1][-segment.overlap:])
                seg.control[:segment.overlap] = list(tail)
                full = seg.mask or [np.full(tail.shape[1:3], 255, np.uint8)] * segment.frames
                seg.mask = [np.zeros_like(full[0])] * segment.overlap + list(
                    full[segment.overlap:])
        if source is not None:
            seg.source = list(source[window])
        if index and segment.overlap and plan.mode in ("t2v", "v2v_refine"):
            tail = list(to_uint8(rendered[-1][-segment.overlap:]))
            seg.overlap = tail  # continue from these frames (modes.pin_overlap)
            if seg.source is not None:
                seg.source[:segment.overlap] = tail
        if inputs.keyframe is not None and index:
            seg.keyframe = to_uint8(rendered[-1][-segment.overlap])
        if not index and inputs.anchor is not None and plan.mode in ("t2v", "v2v_refine"):
            seg.overlap = [inputs.anchor]  # pin the first latent frame (modes.pin_overlap)
            if seg.source is not None:
                seg.source[0] = inputs.anchor
        try:
            frames = render_segment(model, plan, seg, embeds)
        except torch.cuda.OutOfMemoryError as exc:
            registry.release(plan.model)
            raise SoloreelError(_oom_message(model, plan, segment.frames)) from exc
        rendered.append(frames)
        shape = latent_shape(plan.width, plan.height, segment.frames,
                             reference_images=len(inputs.references) if control is not None
                             else 0)
        tokens = max(tokens, shape[2] * (shape[3] // 2) * (shape[4] // 2))
        forwards += plan.denoise_steps * (2 if plan.guidance > 1.0 else 1)
    joined = join_segments(rendered, [s.overlap for s in segments])
    if inputs.anchor is not None:  # Wan frame 0 is the approved keyframe, exactly
        joined[0] = inputs.anchor.astype(np.float32) / 255.0
    return joined, tokens, forwards


def _anchor_layer(layer: Any, anchor: np.ndarray) -> None:
    """vace_layers with an approved keyframe: the layer's first control frame is the
    approved image inside the layer's region (the key colour outside), kept by mask 0."""
    key = np.array(layers.KEY_COLOUR, np.uint8)
    region = layer.mask[0] > 0
    layer.control = [np.where(region[..., None], anchor, key), *layer.control[1:]]
    layer.mask = [np.zeros_like(layer.mask[0]), *layer.mask[1:]]


def _render_layers(job: RenderJob, plan: FinalPlan, model: LoadedModel,
                   registry: ModelRegistry, segments: list, total: int, proxy: Any,
                   method: str, count: int | None = None, anchor: np.ndarray | None = None
                   ) -> tuple[np.ndarray, dict[str, Any], int, int, list]:
    """vace_layers: one VACE render per character (or touching group), keyed and composited
    over the plate by the proxy compositor (see `render_engine.final.layers`). Returns the
    timeline-rate uint8 frames, the manifest's layer details, tokens, forwards and the LoRA
    entries used. `count`: timeline frames to composite (a keyframe: 1); `anchor`: the
    approved keyframe each layer starts from."""
    from render_engine.audio.dialog import spoken_lines

    count = count or job.frame_count
    from render_engine.proxy.shot import ShotFrames as ProxyFrames

    track = layers.character_people(job, plan, total, proxy)
    source = track.source
    built = layers.build_layers(job, plan, track)
    if anchor is not None:
        for layer in built:
            _anchor_layer(layer, anchor)
    tokens = forwards = 0
    keyed_layers: list[np.ndarray] = [np.empty(0)] * len(built)
    records: list[dict[str, Any]] = [{}] * len(built)
    loras: list[dict[str, Any]] = []
    plans = [layers.layer_plan(plan, layer) for layer in built]
    # layers with the adapters already loaded first, equal LoRA sets adjacent; the result
    # does not depend on the order (each layer has its own seed; composited in spec order)
    for index in order_layers([p.lora_key for p in plans], model.adapters):
        layer, narrowed = built[index], plans[index]
        marker = time.perf_counter()
        entries = use_loras(model, narrowed)
        loras += [e for e in entries if e not in loras]
        embeds = encode_prompts(model, layer.prompt, layer.negative, plan.guidance)
        inputs = _Conditioning(control=layer.control, mask=layer.mask,
                               references=layer.references)
        joined, seg_tokens, seg_forwards = _denoise(model, narrowed, registry, segments, inputs,
                                                    embeds)
        tokens, forwards = max(tokens, seg_tokens), forwards + seg_forwards
        frames = to_uint8(retime(joined, WAN_FPS, job.fps, count,
                                 method=method))  # type: ignore[arg-type]
        region = retime(np.stack(layer.mask)[..., None].astype(np.float32) / 255.0, WAN_FPS,
                        job.fps, count, method="blend")[..., 0]
        keyed_layers[index] = np.stack([layers.keyed(f, r) for f, r in zip(frames, region,
                                                                            strict=True)])
        records[index] = {"characters": layer.names, "seed": layer.seed,
                          "loras": [u.name for u in narrowed.adapters],
                          "reference_images": len(layer.references), "prompt": layer.prompt,
                          "seconds": round(time.perf_counter() - marker, 4)}
    shot = ProxyFrames(job.spec, job.production, plan.width, plan.height, job.fps, job.first,
                      job.shown, spoken_lines(job.spec, job.production, job.label))
    if built:
        frames = layers.composite_layers(shot, built, keyed_layers)
    else:  # nobody in frame: the plate alone
        frames = np.stack([shot.frame(i).rgb for i in range(count)])
    if anchor is not None:  # the composite opens on the approved keyframe, exactly
        frames[0] = anchor
    details = {"layers": records, "control_video": source, "key_colour": list(layers.KEY_COLOUR)}
    return frames, details, tokens, forwards, loras


def render_frames(job: RenderJob, plan: FinalPlan, registry: ModelRegistry,
                  max_frames: int | None = None, retime_method: str | None = None) -> ShotFrames:
    """Render one shot's final frames through the registry's pipeline for `plan.model`."""
    max_frames = max_frames or max_frames_setting()
    method = retime_method or retime_setting()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    loads_before = registry.loads[plan.model]
    lora_loads_before = sum(registry.lora_loads.values())
    model = registry.get(plan.model)
    set_flow_shift(model.pipe, plan.width, plan.height)
    timings["load"] = (model.load_seconds if registry.loads[plan.model] > loads_before else 0.0)
    marker = time.perf_counter()
    layered = plan.mode == "vace_layers"
    loras = [] if layered else use_loras(model, plan)
    timings["loras"] = time.perf_counter() - marker

    marker = time.perf_counter()
    total = plan.wan_frames(job.frame_count, job.fps)
    overlap = segment_overlap(max_frames)
    keyframe = plan.quality == "keyframe"
    if keyframe:  # one Wan frame: one latent frame, the video model as an image model
        segments, total = [Segment(0, 1, 0)], 1
    elif plan.mode.startswith("animate"):  # the pipeline segments a long take itself
        segments = animate_segments(total, max_frames, ANIMATE_PREV_FRAMES)
        total = max(5, total)
    else:
        segments = plan_segments(total, max_frames, overlap)
        total = segments[-1].end
    proxy = conditioning.proxy_entry(job)
    prompt, negative = conditioning.build_prompt(job, plan)
    inputs = _Conditioning()
    if plan.anchor is not None:
        from render_engine.final.keyframes import anchor_image

        inputs.anchor = anchor_image(job.production, plan.anchor, plan.width, plan.height,
                                     job.label)
    control_source = key_source = None
    extra: dict[str, Any] = {}
    if layered:
        timings["conditioning"] = time.perf_counter() - marker
        marker = time.perf_counter()
        frames, extra, tokens, forwards, loras = _render_layers(
            job, plan, model, registry, segments, total, proxy, method,
            count=1 if keyframe else None, anchor=inputs.anchor)
        control_source = extra.pop("control_video")
        reference_count = sum(r["reference_images"] for r in extra["layers"])
        timings["denoise"] = time.perf_counter() - marker
    else:
        if plan.mode.startswith("vace"):
            pose = conditioning.control_video(job, plan, total, proxy)
            inputs.control, control_source = pose.frames, pose.source
            inputs.references = conditioning.reference_images(job, plan)
            if plan.mode == "vace_inpaint":
                inputs.mask = conditioning.pose_masks(inputs.control)
                context = (conditioning.source_video(job, plan, total, proxy)
                           if proxy is not None
                           else [conditioning.plate_image(job, plan.width, plan.height)] * total)
                grey = np.full_like(context[0], 127)
                inputs.control = [np.where(m[..., None] > 0, grey, c)
                                  for c, m in zip(context, inputs.mask, strict=True)]
            if inputs.anchor is not None:  # start from the approved frame: mask 0 keeps it
                full = inputs.mask or [np.full(inputs.control[0].shape[:2], 255, np.uint8)
                                       ] * len(inputs.control)
                inputs.control = [inputs.anchor, *inputs.control[1:]]
                inputs.mask = [np.zeros_like(full[0]), *full[1:]]
        elif plan.mode == "i2v":
            inputs.keyframe, key_source = conditioning.keyframe(job, plan, proxy)
            if inputs.anchor is not None:
                inputs.keyframe, key_source = inputs.anchor, f"approved:{plan.anchor}"
        elif plan.mode == "v2v_refine":
            inputs.source = conditioning.source_video(job, plan, total, proxy)
        elif plan.mode.startswith("animate"):
            size = int(model.pipe.transformer.config.motion_encoder_size)
            animate = conditioning.animate_inputs(job, plan, total, proxy, size)
            inputs.control, inputs.faces, inputs.image = animate.pose, animate.faces, animate.image
            inputs.references = [animate.image]
            inputs.source, inputs.mask = animate.background, animate.mask
            control_source = animate.source
            extra["animate"] = {"lead": animate.lead, "face_video": animate.face_source,
                                "face_size": size,
                                "prev_segment_frames": ANIMATE_PREV_FRAMES}
        embeds = encode_prompts(model, prompt, negative, plan.guidance)
        timings["conditioning"] = time.perf_counter() - marker

        marker = time.perf_counter()
        if plan.mode.startswith("animate"):
            joined, tokens, forwards = _animate(model, plan, registry, segments, total, inputs,
                                                embeds)
        else:
            joined, tokens, forwards = _denoise(model, plan, registry, segments, inputs,
                                                embeds)
        timings["denoise"] = time.perf_counter() - marker
        marker = time.perf_counter()
        frames = to_uint8(joined[:1] if keyframe else retime(
            joined, WAN_FPS, job.fps, job.frame_count, method=method))  # type: ignore[arg-type]
        timings["retime"] = time.perf_counter() - marker
        reference_count = len(inputs.references)
    timings["total"] = time.perf_counter() - started
    gpu = _gpu_name(model.device)
    details = {
        "model": {"name": plan.model, "source": model.source.location,
                  "kind": model.source.entry.kind, "dtype": model.dtype,
                  "memory_profile": model.profile or model.source.entry.memory_profile,
                  "peak_gib_estimate": model.peak_gib, "commit": model.commit,
                  "placement": model.placement, "options": model.options,
                  "device": model.device, "gpu": gpu},
        "quality": plan.quality, "mode": plan.mode, "seed": plan.seed,
        "steps": plan.denoise_steps, "schedule_steps": plan.steps,
        "guidance": plan.guidance,
        "strength": plan.strength if plan.mode == "v2v_refine" else None,
        "loras": loras, "lora_loads": sum(registry.lora_loads.values()) - lora_loads_before,
        "prompt": prompt, "negative_prompt": negative if plan.guidance > 1.0 else None,
        "render_size": [plan.width, plan.height], "wan_fps": WAN_FPS, "wan_frames": total,
        "segments": [[s.start, s.end] for s in segments], "retime": method,
        "continuation": CONTINUATION[plan.mode] if len(segments) > 1 else None,
        "control_video": control_source, "keyframe": key_source,
        "approved_keyframe": plan.anchor,
        "reference_images": reference_count, "proxy": proxy.hash if proxy else None,
        **extra,
        "stage_seconds": {k: round(v, 4) for k, v in timings.items()},
        "cost": cost_record(plan, model_class(plan.entry, job.production), gpu, tokens,
                            forwards, timings["denoise"]),
    }
    return ShotFrames(frames, details)
