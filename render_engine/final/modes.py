"""One function per render mode, each a single explicit diffusers pipeline call, plus LoRAs.

Modes: t2v (WanPipeline), i2v (WanImageToVideoPipeline), v2v_refine (WanVideoToVideoPipeline),
vace_layers / vace_inpaint (WanVACEPipeline) and animate (WanAnimatePipeline, Wan 2.2
Animate: a character image, its pose video and face crops).

Every mode gets precomputed prompt embeddings (encoded by WanPipeline's own T5 routine, which
works without `ftfy`, unlike the v2v and VACE copies of it in diffusers 0.42), CPU-seeded noise
at the final latent shape (`latents=`; v2v, whose pipeline mixes its own noise into the source
latents, gets a CPU generator instead) and returns float frames (F, H, W, 3) in [0, 1].
Character LoRAs load by name (`load_lora_weights(..., adapter_name=character)` then
`set_adapters`), a draft's step-distilled LoRA beside them as adapter `_distill`; loaded
adapters stay resident between renders and are switched on and off (`final.adapters` decides
which to keep), and the batch ends by releasing the model.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from render_engine.errors import SoloreelError
from render_engine.final.latents import cpu_generator, initial_latents, latent_shape
from render_engine.final.plan import FinalPlan
from render_engine.final.registry import LoadedModel

MAX_SEQUENCE_LENGTH = 512


@dataclass
class SegmentInputs:
    """What one Wan render of a shot (or of one segment of a long shot) is conditioned on."""

    frames: int
    seed: int
    control: list[np.ndarray] | None = None
    mask: list[np.ndarray] | None = None
    references: list[Image.Image] = field(default_factory=list)
    keyframe: np.ndarray | None = None
    source: list[np.ndarray] | None = None
    image: Image.Image | None = None
    """animate: the character's sheet image."""
    faces: list[np.ndarray] | None = None
    """animate: face crops at the model's motion-encoder size, one per frame."""
    background: list[np.ndarray] | None = None
    """animate_replace: the video the character is put into."""
    segment_frames: int = 0
    """animate: frames per pipeline segment (0: `frames`, one segment)."""
    prev_frames: int = 1
    """animate: frames of the previous segment each later one is conditioned on."""
    overlap: list[np.ndarray] | None = None
    """t2v / v2v_refine continuation: the previous segment's last frames, which this
    segment's first frames must be (`pin_overlap`)."""


def _pil(frames: list[np.ndarray], mode: str = "RGB") -> list[Image.Image]:
    return [Image.fromarray(np.asarray(f, np.uint8)).convert(mode) for f in frames]


def encode_prompts(model: LoadedModel, prompt: str, negative: str,
                   guidance: float) -> dict[str, Any]:
    """Prompt (and, with CFG, negative) embeddings as pipeline keyword arguments."""
    from diffusers import WanPipeline

    cache: dict[str, Any] = model.derived.setdefault("embeds", {})

    def embed(text: str) -> Any:
        if text not in cache:  # the negative prompt, at least, repeats for every shot
            if len(cache) > 64:
                cache.clear()
            cache[text] = WanPipeline._get_t5_prompt_embeds(model.pipe, text, 1,
                                                            MAX_SEQUENCE_LENGTH)
        return cache[text]

    result: dict[str, Any] = {"prompt_embeds": embed(prompt)}
    if guidance > 1.0:
        result["negative_prompt_embeds"] = embed(negative)
    return result


# --------------------------------------------------------------------------- LoRAs


def unload_loras(model: LoadedModel) -> None:
    """Remove every adapter from the model's pipeline."""
    if model.adapters.resident:
        model.pipe.unload_lora_weights()
        model.lora_unloads.update(model.adapters.resident.keys())
    model.adapters.reset()
    model.lora_enabled = True
    model.lora_key = ()


def _load_adapter(model: LoadedModel, name: str, path: Path) -> None:
    """Load one LoRA file as adapter `name`; a missing or corrupt file raises a
    SoloreelError naming whose LoRA it is."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from render_engine.final.quality import DRAFT_ADAPTER

    owner = (f'the draft LoRA of model "{model.source.name}"' if name == DRAFT_ADAPTER
             else f"LoRA of {name}")
    fix = (f"models.{model.source.name}.draft_lora in soloreel.toml" if name == DRAFT_ADAPTER
           else f"lora.path in cast/{name}.toml")
    if path.suffix != ".safetensors":
        raise SoloreelError(f"{owner} ({path.name}) is not a .safetensors file; soloreel loads "
                            f"safetensors only (convert it, then fix {fix})")
    try:
        state = load_file(str(path))
        with warnings.catch_warnings():  # several adapters on one model is what we want
            warnings.filterwarnings("ignore", message="Already found a `peft_config`")
            model.pipe.load_lora_weights(state, adapter_name=name)
    except (OSError, SafetensorError, ValueError, KeyError, RuntimeError) as exc:
        unload_quietly(model)
        raise SoloreelError(
            f"{owner} ({path.name}) cannot be loaded: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}; re-export it as a "
            f"Wan LoRA in safetensors (diffusers/peft keys) or fix {fix}") from exc
    model.lora_loads[name] += 1


def use_loras(model: LoadedModel, plan: FinalPlan) -> list[dict[str, Any]]:
    """Make the model's active adapters exactly the plan's (its characters' LoRAs and, for a
    draft, the step-distilled LoRA); returns their manifest entries.

    Adapters stay loaded between renders (up to `adapters.MAX_RESIDENT`, least recently used
    deleted first) and are only re-activated when needed again; a render without LoRAs
    disables them, which gives exactly the base model's output. A missing or corrupt file
    raises a SoloreelError naming the character (or the model, for a draft LoRA)."""
    entries = [{"name": u.name, "path": u.path, "weight": u.weight} for u in plan.adapters]
    wanted = plan.lora_key
    state = model.adapters
    switch = state.plan(wanted)
    if not switch.changes:
        return entries
    pipe = model.pipe
    if switch.evict:
        pipe.delete_adapters(switch.evict)
        model.lora_unloads.update(switch.evict)
    for name, path in switch.load:  # a failed load unloads everything and resets the state
        _load_adapter(model, name, Path(path))
    state.apply(wanted, switch)
    if wanted:
        if not model.lora_enabled:
            pipe.enable_lora()
            model.lora_enabled = True
        pipe.set_adapters([u.name for u in plan.adapters], [u.weight for u in plan.adapters])
    elif state.resident and model.lora_enabled:
        pipe.disable_lora()
        model.lora_enabled = False
    model.lora_key = wanted
    return entries


def unload_quietly(model: LoadedModel) -> None:
    """Unload adapters after a failed load (whatever state it left)."""
    with contextlib.suppress(Exception):  # best effort on a pipeline already in trouble
        model.pipe.unload_lora_weights()
    model.adapters.reset()
    model.lora_enabled = True
    model.lora_key = ()


# --------------------------------------------------------------------------- modes


def _latents(model: LoadedModel, plan: FinalPlan, inputs: SegmentInputs, references: int = 0
             ) -> Any:
    pipe = model.pipe
    shape = latent_shape(plan.width, plan.height, inputs.frames, pipe.vae.config.z_dim,
                         references, pipe.vae_scale_factor_temporal,
                         pipe.vae_scale_factor_spatial)
    return initial_latents(inputs.seed, shape)


def _common(plan: FinalPlan, inputs: SegmentInputs) -> dict[str, Any]:
    return {"height": plan.height, "width": plan.width, "num_inference_steps": plan.steps,
            "guidance_scale": plan.guidance, "output_type": "np"}


def encode_frames(pipe: Any, frames: list[np.ndarray]) -> Any:
    """uint8 frames → the pipeline's normalised latents (VAE posterior mode, then
    `(z - latents_mean) / latents_std` as diffusers' WanVideoToVideoPipeline.prepare_latents
    does), shape (1, C, (F - 1) // 4 + 1, h, w)."""
    import torch

    video = torch.from_numpy(np.stack(frames).astype(np.float32) / 127.5 - 1.0)
    video = video.permute(3, 0, 1, 2).unsqueeze(0)  # (1, 3, F, H, W)
    vae = pipe.vae
    device = getattr(pipe, "_execution_device", None) or next(vae.parameters()).device
    with torch.no_grad():
        posterior = vae.encode(video.to(device, vae.dtype)).latent_dist
    z = posterior.mode().float()
    config = vae.config
    mean = torch.tensor(config.latents_mean).view(1, config.z_dim, 1, 1, 1).to(z.device)
    std = torch.tensor(config.latents_std).view(1, config.z_dim, 1, 1, 1).to(z.device)
    return (z - mean) / std


def pin_overlap(pipe: Any, plan: FinalPlan, inputs: SegmentInputs) -> dict[str, Any]:
    """Pipeline keyword arguments that make a segment continue from the previous one (t2v and
    v2v_refine, which have no frame conditioning): the previous segment's last frames (the
    first 4k+1 of the overlap: whole latent frames of Wan's causal VAE) are VAE-encoded, and
    after every denoising step the segment's leading latent frames are replaced by them,
    re-noised to the scheduler's current noise level, x_σ = (1 − σ)·z₀ + σ·ε (the flow-matching
    forward process) — the RePaint / SDEdit-style latent replacement used for video
    extension. At σ = 0 the first frames are the previous tail; the model denoises the rest
    attending to them, so motion and content continue instead of cross-fading two unrelated
    clips. ε is fixed per segment from its seed. Empty when there is nothing to continue."""
    if not inputs.overlap:
        return {}
    keep = 4 * ((len(inputs.overlap) - 1) // 4) + 1
    z0 = encode_frames(pipe, inputs.overlap[:keep])
    noise = initial_latents(inputs.seed + 1, tuple(z0.shape))
    count = z0.shape[2]

    def callback(pipeline: Any, _step: int, _t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        latents = tensors["latents"]
        scheduler = pipeline.scheduler
        sigma = float(scheduler.sigmas[min(scheduler.step_index, len(scheduler.sigmas) - 1)])
        pinned = (1.0 - sigma) * z0 + sigma * noise
        latents[:, :, :count] = pinned.to(latents.device, latents.dtype)
        return {"latents": latents}

    return {"callback_on_step_end": callback, "callback_on_step_end_tensor_inputs": ["latents"]}


def render_t2v(model: LoadedModel, plan: FinalPlan, inputs: SegmentInputs,
               embeds: dict[str, Any]) -> np.ndarray:
    """WanPipeline: text (and seed) only; a long take's later segments continue from the
    previous one's last frames (`pin_overlap`)."""
    out = model.pipe(**embeds, **_common(plan, inputs), num_frames=inputs.frames,
                     latents=_latents(model, plan, inputs),
                     **pin_overlap(model.pipe, plan, inputs))
    return np.asarray(out.frames[0], np.float32)


def render_i2v(model: LoadedModel, plan: FinalPlan, inputs: SegmentInputs,
               embeds: dict[str, Any]) -> np.ndarray:
    """WanImageToVideoPipeline from a keyframe (the proxy's first frame, or the plate)."""
    if inputs.keyframe is None:
        raise SoloreelError("i2v needs a keyframe")
    out = model.pipe(image=_pil([inputs.keyframe])[0], **embeds, **_common(plan, inputs),
                     num_frames=inputs.frames, latents=_latents(model, plan, inputs))
    return np.asarray(out.frames[0], np.float32)


def _derived(model: LoadedModel, kind: str, cls: Any) -> Any:
    """The model's components as another Wan pipeline class, made once per loaded model.

    Built with the class's constructor over the *same* modules and scheduler (no second
    load; the scheduler's flow shift, set per render size, is shared; every call resets its
    step and begin index in `set_timesteps`) — not `DiffusionPipeline.from_pipe`, which moves
    the shared modules to its `torch_dtype` (float32 unless told otherwise: diffusers'
    pipeline_utils.from_pipe), so a bf16 model would silently render every later shot of the
    batch in fp32 and the same content hash would give other pixels depending on the batch
    order."""
    if isinstance(model.pipe, cls):
        return model.pipe
    if kind not in model.derived:
        pipe = model.pipe
        derived = cls(tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder,
                      transformer=pipe.transformer, vae=pipe.vae, scheduler=pipe.scheduler)
        derived.set_progress_bar_config(disable=True)
        model.derived[kind] = derived
    return model.derived[kind]


def _v2v_pipe(model: LoadedModel) -> Any:
    """The model as a WanVideoToVideoPipeline (the same components, no second load)."""
    from diffusers import WanVideoToVideoPipeline

    return _derived(model, "v2v", WanVideoToVideoPipeline)


def _t2v_pipe(model: LoadedModel) -> Any:
    """The model as a WanPipeline (a v2v model asked for t2v)."""
    from diffusers import WanPipeline

    return _derived(model, "t2v", WanPipeline)


def render_v2v(model: LoadedModel, plan: FinalPlan, inputs: SegmentInputs,
               embeds: dict[str, Any]) -> np.ndarray:
    """WanVideoToVideoPipeline over the proxy animatic at `strength` (≈0.3–0.6); a long
    take's later segments get the previous segment's last frames as the start of their
    source video and pinned in latent space (`pin_overlap`)."""
    if not inputs.source:
        raise SoloreelError("v2v_refine needs the proxy animatic")
    common = _common(plan, inputs)
    pipe = _v2v_pipe(model)
    out = pipe(video=_pil(inputs.source), **embeds, **common, strength=plan.strength,
               generator=cpu_generator(inputs.seed), **pin_overlap(pipe, plan, inputs))
    return np.asarray(out.frames[0], np.float32)


def render_vace(model: LoadedModel, plan: FinalPlan, inputs: SegmentInputs,
                embeds: dict[str, Any]) -> np.ndarray:
    """WanVACEPipeline: control/context video, mask (white = generate), reference images and
    `conditioning_scale` (the model entry's, else 1.0: `plan.conditioning_scale`)."""
    if inputs.control is None:
        raise SoloreelError(f"{plan.mode} needs a control video")
    mask = inputs.mask or [np.full(f.shape[:2], 255, np.uint8) for f in inputs.control]
    references = inputs.references or None
    with _reference_mask_padding(model.pipe, inputs.frames, len(inputs.references)):
        out = model.pipe(video=_pil(inputs.control), mask=_pil(mask, "L"),
                         reference_images=references,
                         conditioning_scale=plan.conditioning_scale,
                         **embeds, **_common(plan, inputs),
                         num_frames=inputs.frames,
                         latents=_latents(model, plan, inputs, len(inputs.references)))
    return np.asarray(out.frames[0], np.float32)


@contextlib.contextmanager
def _reference_mask_padding(pipe: Any, frames: int, references: int) -> Any:
    """Pad VACE's mask with one zero frame per reference image even when the video has fewer
    latent frames than there are references (a keyframe: one latent frame, two references).

    diffusers 0.42's WanVACEPipeline.prepare_masks pads with `zeros_like(mask_[:, :n])`,
    which has only as many frames as the mask has (pipeline_wan_vace.py), so one latent frame
    and two references give a 2-frame mask against 3 conditioning frames and torch.cat
    fails. For that case only, the pipeline's own prepare_masks runs without references and
    the n zero frames are prepended here (what it does for longer videos)."""
    latent_frames = (frames - 1) // 4 + 1
    if references <= latent_frames or not hasattr(pipe, "prepare_masks"):
        yield
        return
    import torch

    original = type(pipe).prepare_masks

    def prepare_masks(mask: Any, reference_images: Any = None, generator: Any = None) -> Any:
        if not reference_images:
            return original(pipe, mask, reference_images, generator)
        bare = original(pipe, mask, [[] for _ in reference_images], generator)
        count = len(reference_images[0])
        pad = torch.zeros_like(bare[:, :, :1]).repeat(1, 1, count, 1, 1)
        return torch.cat([pad, bare], dim=2)

    pipe.prepare_masks = prepare_masks
    try:
        yield
    finally:
        del pipe.prepare_masks


def render_animate(model: LoadedModel, plan: FinalPlan, inputs: SegmentInputs,
                   embeds: dict[str, Any]) -> np.ndarray:
    """WanAnimatePipeline (Wan 2.2 Animate, `mode="animate"`): the character's sheet image
    as `image`, its skeleton as `pose_video`, its face crops as `face_video`; animate_replace
    (`mode="replace"`) also puts it into `background_video` where `mask_video` is white,
    relit to the scene. A long take is
    one call: the pipeline renders `segment_frame_length` frames at a time, each later
    segment conditioned on the previous one's last `prev_segment_conditioning_frames`
    (diffusers' pipeline_wan_animate.py). The first segment starts from the CPU-seeded
    `latents` (one latent frame more than the segment: the reference slot), later segments'
    noise comes from the CPU generator of the same seed, so every GPU renders the same."""
    if inputs.image is None or inputs.control is None or inputs.faces is None:
        raise SoloreelError("animate needs the character's image, pose video and face video")
    pipe = model.pipe
    length = inputs.segment_frames or inputs.frames
    shape = latent_shape(plan.width, plan.height, length, pipe.vae.config.z_dim, 1,
                         pipe.vae_scale_factor_temporal, pipe.vae_scale_factor_spatial)
    replace: dict[str, Any] = {}
    if plan.mode == "animate_replace":
        if inputs.background is None or inputs.mask is None:
            raise SoloreelError("animate_replace needs a background video and a mask")
        replace = {"background_video": _pil(inputs.background),
                   "mask_video": _pil(inputs.mask, "L")}
    out = pipe(image=inputs.image, pose_video=_pil(inputs.control),
               face_video=_pil(inputs.faces), **embeds, height=plan.height, width=plan.width,
               segment_frame_length=length, num_inference_steps=plan.steps,
               mode="replace" if replace else "animate", **replace,
               prev_segment_conditioning_frames=inputs.prev_frames,
               guidance_scale=plan.guidance, generator=cpu_generator(inputs.seed),
               latents=initial_latents(inputs.seed, shape), output_type="np")
    return np.asarray(out.frames[0], np.float32)


def render_segment(model: LoadedModel, plan: FinalPlan, inputs: SegmentInputs,
                   embeds: dict[str, Any]) -> np.ndarray:
    """Dispatch one segment to its mode."""
    if plan.mode.startswith("animate"):
        return render_animate(model, plan, inputs, embeds)
    if plan.mode == "t2v":
        if model.source.entry.kind == "v2v":
            t2v = LoadedModel(model.source, _t2v_pipe(model), model.device, model.dtype,
                              model.placement, model.options, 0.0)
            return render_t2v(t2v, plan, inputs, embeds)
        return render_t2v(model, plan, inputs, embeds)
    if plan.mode == "i2v":
        return render_i2v(model, plan, inputs, embeds)
    if plan.mode == "v2v_refine":
        return render_v2v(model, plan, inputs, embeds)
    return render_vace(model, plan, inputs, embeds)
