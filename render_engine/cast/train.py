"""LoRA training with peft on the production's Wan transformer (flow matching).

Each dataset image becomes a one-frame video, resized and centre-cropped to the resolution
bucket nearest its aspect ratio, encoded once by the model's own VAE and normalised with the
VAE config's `latents_mean` / `latents_std` (the inverse of what the pipeline does before
decoding). Its caption is embedded once with the pipeline's own T5 routine. A step draws
σ ~ sigmoid(N(0, 1)) (logit-normal, the usual choice for rectified-flow fine-tuning) and noise
ε, builds x_t = (1 − σ)·x0 + σ·ε, asks the transformer at timestep σ·1000 and regresses its
output on the velocity ε − x0 (REFERENCE.md). Only LoRA matrices on to_q/to_k/to_v/to_out.0
train; the base stays frozen.

Every random draw of step k comes from a generator seeded with (seed, k), so a run resumed
from a checkpoint (LoRA weights, optimiser state, step count) continues exactly as the
uninterrupted run would. The result is saved with `WanPipeline.save_lora_weights` (diffusers
keys, safetensors) with alpha/rank folded into the B matrices, so any loader that assumes
alpha = rank (diffusers, ComfyUI) applies it at the trained strength; a copy with ComfyUI's
keys is saved beside it (`lora_io.to_comfyui`).

`--base-dtype bfloat16` loads the frozen transformer in bf16 (diffusers keeps its
`_keep_in_fp32_modules` in fp32); `fp8` also stores its linears in fp8 and up-casts each per
forward (layerwise casting, as the 12gb render profile does); the LoRA trains in fp32.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from rich.console import Console

from render_engine.atomic import atomic_path, write_text_atomic
from render_engine.bible import Production
from render_engine.cast.dataset import check_dataset, dataset_images, flatten
from render_engine.cast.workspace import Workspace, next_lora_path, register_lora
from render_engine.errors import SoloreelError

TARGET_MODULES = ("to_q", "to_k", "to_v", "to_out.0")
ASPECTS = (1.0, 4 / 5, 2 / 3, 9 / 16, 5 / 4, 3 / 2, 16 / 9)
"""Width/height ratios of the resolution buckets."""
CHECKPOINTS_KEPT = 2


@dataclass
class TrainOptions:
    """Hyper-parameters and bookkeeping of one training run."""

    steps: int = 1000
    rank: int = 16
    alpha: float = 16.0
    learning_rate: float = 1e-4
    resolution: int = 512
    """Bucket area ≈ resolution²; sides are multiples of 16."""
    batch_size: int = 1
    gradient_checkpointing: bool = False
    base_dtype: str = "float32"
    """float32 | bfloat16 | fp8 (the frozen linears stored in fp8, bf16 compute)."""
    seed: int = 0
    sample_every: int = 0
    """Render a sample image every N steps (0: never)."""
    sample_steps: int = 8
    checkpoint_every: int = 0
    """Save a resumable checkpoint every N steps (0: only at the end)."""
    fixed_batch: bool = False
    """Every step sees the same images, σ and noise: an overfitting sanity check."""
    max_sequence_length: int = 512
    min_side: int = 256
    """Dataset check: the smallest short side accepted (see dataset.check_dataset)."""
    model: str | None = None


@dataclass
class TrainResult:
    """What a run produced."""

    lora: Path
    version: str
    first_step: int
    steps: int
    losses: list[float] = field(default_factory=list)
    """Loss of each step run in this invocation (step first_step+1 … steps)."""
    seconds: float = 0.0
    samples: list[Path] = field(default_factory=list)
    checkpoints: list[Path] = field(default_factory=list)
    device: str = "cpu"
    comfyui: Path | None = None
    """The same LoRA with ComfyUI's keys (cast/NAME/lora/NAME_vN_comfyui.safetensors)."""


# --------------------------------------------------------------------------- data


def bucket_for(width: int, height: int, resolution: int) -> tuple[int, int]:
    """The (width, height) bucket whose aspect ratio is nearest the image's."""
    ratio = math.log(width / height)
    aspect = min(ASPECTS, key=lambda a: abs(math.log(a) - ratio))
    w = max(16, round(resolution * math.sqrt(aspect) / 16) * 16)
    h = max(16, round(resolution / math.sqrt(aspect) / 16) * 16)
    return w, h


def load_image(path: Path, size: tuple[int, int]) -> np.ndarray:
    """RGB float32 in [-1, 1], (3, H, W): flattened on white, scaled to cover, centre-cropped."""
    with Image.open(path) as opened:
        image = flatten(opened)
    w, h = size
    scale = max(w / image.width, h / image.height)
    resized = image.resize((max(w, round(image.width * scale)),
                            max(h, round(image.height * scale))), Image.Resampling.LANCZOS)
    left, top = (resized.width - w) // 2, (resized.height - h) // 2
    array = np.asarray(resized.crop((left, top, left + w, top + h)), np.float32)
    return (array / 127.5 - 1.0).transpose(2, 0, 1)


@dataclass
class Item:
    """One encoded dataset image."""

    name: str
    bucket: tuple[int, int]
    latent: Any
    """(16, 1, h, w) normalised latent."""
    embeds: Any
    """(L, D) caption embedding."""


def dataset_fingerprint(images: list[Path]) -> str:
    """sha256 over image and caption bytes (a resumed run must train on the same data)."""
    sha = hashlib.sha256()
    for path in images:
        sha.update(path.name.encode())
        sha.update(path.read_bytes())
        caption = path.with_suffix(".txt")
        sha.update(caption.read_bytes() if caption.is_file() else b"")
    return sha.hexdigest()[:16]


def encode_dataset(pipe: Any, images: list[Path], resolution: int, max_length: int,
                   device: Any) -> list[Item]:
    """VAE latents (normalised) and caption embeddings of every image, computed once."""
    import torch
    from diffusers import WanPipeline

    vae = pipe.vae
    z = vae.config.z_dim
    mean = torch.tensor(vae.config.latents_mean, dtype=torch.float32).view(z, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std, dtype=torch.float32).view(z, 1, 1, 1)
    items = []
    with torch.no_grad():
        for path in images:
            with Image.open(path) as opened:
                bucket = bucket_for(opened.width, opened.height, resolution)
            pixels = torch.from_numpy(load_image(path, bucket))[None, :, None].to(
                device, vae.dtype)
            latent = vae.encode(pixels).latent_dist.mode()[0].float().cpu()
            latent = (latent - mean) / std
            caption_path = path.with_suffix(".txt")
            caption = caption_path.read_text(encoding="utf-8").strip() \
                if caption_path.is_file() else ""
            embeds = WanPipeline._get_t5_prompt_embeds(pipe, caption, 1, max_length,
                                                       device=device)[0].float().cpu()
            items.append(Item(path.name, bucket, latent, embeds))
    return items


def draw_batch(items: list[Item], step: int, options: TrainOptions) -> tuple[Any, ...]:
    """(x0, embeds, σ, ε) of a step, every draw seeded by (seed, step) — or by (seed, 0)
    for every step with `fixed_batch`."""
    import torch

    generator = torch.Generator().manual_seed(
        options.seed * 1_000_003 + (0 if options.fixed_batch else step))
    buckets: dict[tuple[int, int], list[Item]] = {}
    for item in items:
        buckets.setdefault(item.bucket, []).append(item)
    keys = sorted(buckets)
    weights = torch.tensor([len(buckets[k]) for k in keys], dtype=torch.float32)
    key = keys[int(torch.multinomial(weights, 1, generator=generator))]
    group = buckets[key]
    order = torch.randperm(len(group), generator=generator)[:options.batch_size].tolist()
    chosen = [group[i] for i in order]
    x0 = torch.stack([c.latent for c in chosen])
    embeds = torch.stack([c.embeds for c in chosen])
    sigma = torch.sigmoid(torch.randn(len(chosen), generator=generator))
    noise = torch.randn(x0.shape, generator=generator)
    return x0, embeds, sigma, noise


def compute_dtype(transformer: Any) -> Any:
    """The dtype a transformer computes in: its patch embedding's (never stored in fp8 by
    layerwise casting, and cast with the rest of the base otherwise)."""
    return transformer.patch_embedding.weight.dtype


def flow_matching_loss(transformer: Any, x0: Any, embeds: Any, sigma: Any, noise: Any) -> Any:
    """MSE between the transformer's prediction at x_t and the velocity ε − x0."""
    import torch

    s = sigma.view(-1, 1, 1, 1, 1)
    x_t = (1 - s) * x0 + s * noise
    dtype = compute_dtype(transformer)
    prediction = transformer(hidden_states=x_t.to(dtype), timestep=sigma * 1000,
                             encoder_hidden_states=embeds.to(dtype), return_dict=False)[0]
    return torch.nn.functional.mse_loss(prediction.float(), (noise - x0).float())


# --------------------------------------------------------------------------- model


def training_model(production: Production, wanted: str | None) -> str:
    """The model to train on: `wanted`, else the final tier's model, else the first t2v/v2v
    model (a t2v LoRA also loads into i2v/VACE models of the same size)."""
    models = production.settings.models
    name = wanted or production.settings.tier("final").model
    if name and name in models and (wanted or models[name].kind in ("t2v", "v2v")):
        entry = models[name]
    else:
        if wanted:
            raise SoloreelError(f'model "{wanted}" is not in [models]; known: '
                                f"{', '.join(sorted(models)) or 'none'}")
        name = next((n for n, e in models.items() if e.kind in ("t2v", "v2v")), None)
        if name is None:
            raise SoloreelError("no t2v model in [models] of soloreel.toml to train on; add "
                                "the Wan T2V model the final tier uses")
        entry = models[name]
    if entry.kind not in ("t2v", "v2v"):
        raise SoloreelError(f'model "{name}" is of kind {entry.kind}; train on the t2v model '
                            "of the same family (its LoRA loads into i2v and VACE models too)")
    return name


def load_training_pipe(production: Production, name: str, device: str, base_dtype: str
                       ) -> Any:
    """The model's WanPipeline in float32 (VAE, text encoder) with the transformer in the
    base dtype; nothing trainable yet."""
    import torch
    from diffusers import WanPipeline

    from render_engine.final.registry import ModelError, resolve_source

    source = resolve_source(production, name)
    where: Any = source.folder if source.folder is not None else source.hub_id
    if base_dtype not in ("float32", "bfloat16", "fp8"):
        raise SoloreelError(f"unknown base dtype {base_dtype}; float32, bfloat16 or fp8")
    # a bf16 base loads as bf16 (diffusers keeps the model's `_keep_in_fp32_modules` —
    # time embedder, modulation tables, norms — in fp32, as the Wan weights expect)
    base = torch.float32 if base_dtype == "float32" else torch.bfloat16
    kwargs: dict[str, Any] = {"use_safetensors": True,
                              "dtype": {"default": torch.float32, "transformer": base}}
    if source.folder is None and source.entry.revision:
        kwargs["revision"] = source.entry.revision
    try:
        pipe = WanPipeline.from_pretrained(where, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelError(f'model "{name}" ({source.location}) cannot be loaded for training: '
                         f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc
    pipe.set_progress_bar_config(disable=True)
    pipe.to(device)
    transformer = pipe.transformer
    transformer.requires_grad_(False)
    pipe.vae.requires_grad_(False)
    pipe.text_encoder.requires_grad_(False)
    if base_dtype == "fp8":
        # the frozen base's linears stored in fp8 and up-cast per layer; what layerwise
        # casting skips (patch embedding, condition embedder, norms) is bf16 like the
        # compute, so activations and weights agree (fp32 leftovers crashed at step 1)
        from render_engine.final.registry import enable_fp8_storage

        enable_fp8_storage(transformer, torch.bfloat16)
    return pipe


def add_lora(transformer: Any, options: TrainOptions) -> list[Any]:
    """Add a peft LoRA adapter (kept in float32) and return its trainable parameters."""
    import torch
    from peft import LoraConfig

    transformer.add_adapter(LoraConfig(r=options.rank, lora_alpha=options.alpha,
                                       init_lora_weights=True,
                                       target_modules=list(TARGET_MODULES)))
    params = [p for n, p in transformer.named_parameters() if "lora_" in n]
    for p in params:
        p.data = p.data.to(torch.float32)
        p.requires_grad_(True)
    return params


def lora_state(transformer: Any, options: TrainOptions, bake: bool) -> dict[str, Any]:
    """The adapter's weights (peft names); with `bake`, alpha/rank folded into lora_B."""
    from peft.utils import get_peft_model_state_dict

    state = {k: v.detach().float().cpu().contiguous()
             for k, v in get_peft_model_state_dict(transformer).items()}
    if bake:
        scale = options.alpha / options.rank
        state = {k: (v * scale if "lora_B" in k else v) for k, v in state.items()}
    return state


# --------------------------------------------------------------------------- checkpoints


def checkpoints_dir(workspace: Workspace) -> Path:
    return workspace.folder("lora") / "checkpoints"


def latest_checkpoint(workspace: Workspace) -> Path | None:
    """The newest complete checkpoint folder (step-NNNNNN with state.json), if any."""
    folder = checkpoints_dir(workspace)
    found = sorted(p for p in folder.glob("step-*") if (p / "state.json").is_file()) \
        if folder.is_dir() else []
    return found[-1] if found else None


def save_checkpoint(workspace: Workspace, transformer: Any, optimizer: Any, step: int,
                    options: TrainOptions, fingerprint: str, losses: list[float]) -> Path:
    """Write step-NNNNNN/ (adapter, optimiser, state.json) via a temp folder and a rename,
    then drop all but the newest CHECKPOINTS_KEPT."""
    import torch
    from safetensors.torch import save_file

    folder = checkpoints_dir(workspace)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"step-{step:06d}"
    tmp = Path(tempfile.mkdtemp(prefix=".step-", dir=folder))
    try:
        save_file(lora_state(transformer, options, bake=False), str(tmp / "adapter.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps(
            {"step": step, "options": asdict(options), "dataset": fingerprint,
             "losses": losses}, indent=2))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in sorted(folder.glob("step-*"))[:-CHECKPOINTS_KEPT]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def load_checkpoint(path: Path, transformer: Any, optimizer: Any, options: TrainOptions,
                    fingerprint: str) -> tuple[int, list[float]]:
    """Restore adapter and optimiser; returns (step reached, losses so far)."""
    import torch
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    state = json.loads((path / "state.json").read_text())
    saved = state["options"]
    for key in ("rank", "alpha", "seed", "resolution", "batch_size"):
        if saved.get(key) != getattr(options, key):
            raise SoloreelError(f"checkpoint {path.name} was trained with {key}="
                                f"{saved.get(key)}, not {getattr(options, key)}; pass the same "
                                "options or start over with --restart")
    if state["dataset"] != fingerprint:
        raise SoloreelError(f"the dataset changed since checkpoint {path.name}; start over with "
                            "--restart (or restore the dataset)")
    set_peft_model_state_dict(transformer, load_file(str(path / "adapter.safetensors")))
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
    return int(state["step"]), list(state.get("losses", []))


# --------------------------------------------------------------------------- samples


def render_sample(pipe: Any, embeds: Any, bucket: tuple[int, int], steps: int, seed: int,
                  target: Path) -> Path:
    """One still (a 1-frame video) from the current weights, saved as PNG."""
    import torch

    from render_engine.final.latents import initial_latents, latent_shape

    transformer = pipe.transformer
    was_training = transformer.training
    transformer.eval()
    width, height = bucket
    shape = latent_shape(width, height, 1, pipe.vae.config.z_dim, 0,
                         pipe.vae_scale_factor_temporal, pipe.vae_scale_factor_spatial)
    try:
        with torch.no_grad():
            out = pipe(prompt_embeds=embeds[None], height=height, width=width, num_frames=1,
                       num_inference_steps=steps, guidance_scale=1.0,
                       latents=initial_latents(seed, shape), output_type="np")
    finally:
        transformer.train(was_training)
    frame = (np.clip(np.asarray(out.frames[0][0]), 0, 1) * 255).round().astype(np.uint8)
    with atomic_path(target) as tmp:
        Image.fromarray(frame).save(tmp, format="PNG")
    return target


# --------------------------------------------------------------------------- the run


def train_lora(production: Production, name: str, options: TrainOptions,
               console: Console | None = None, resume: bool = True,
               register: bool = True) -> TrainResult:
    """Train (or resume training) the LoRA of character `name`; save it as the next vN and
    register it in cast/NAME.toml. Refuses a dataset that fails its checks."""
    import torch
    from diffusers import WanPipeline
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = console or Console(quiet=True)
    started = time.perf_counter()
    member = production.member(name)
    workspace = Workspace(production, member.name)
    report = check_dataset(workspace.folder("dataset"), min_side=options.min_side,
                           recommended_side=max(options.min_side, options.resolution))
    for warning in report.warnings:
        console.print(f"warning: {warning}", markup=False)
    if not report.ok:
        raise SoloreelError(f"dataset of {member.name} cannot be trained on: "
                            + "; ".join(report.errors))
    images = dataset_images(workspace.folder("dataset"))
    fingerprint = dataset_fingerprint(images)
    model_name = training_model(production, options.model)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(options.seed)
    pipe = load_training_pipe(production, model_name, device, options.base_dtype)
    items = encode_dataset(pipe, images, options.resolution, options.max_sequence_length,
                           device)
    sample_embeds = WanPipeline._get_t5_prompt_embeds(
        pipe, f"{member.trigger}, front view", 1, options.max_sequence_length,
        device=device)[0] if options.sample_every else None
    if device == "cuda":
        pipe.text_encoder.to("cpu")  # embeddings are cached: free the GPU for training
    transformer = pipe.transformer
    params = add_lora(transformer, options)
    if options.gradient_checkpointing:
        transformer.enable_gradient_checkpointing()
    transformer.train()
    optimizer = torch.optim.AdamW(params, lr=options.learning_rate, weight_decay=1e-4)

    first_step, history = 0, []
    checkpoint = latest_checkpoint(workspace) if resume else None
    if checkpoint is not None:
        first_step, history = load_checkpoint(checkpoint, transformer, optimizer, options,
                                              fingerprint)
        console.print(f"resuming from {checkpoint.name} (step {first_step})", markup=False)
    if first_step >= options.steps:
        raise SoloreelError(f"checkpoint {checkpoint.name if checkpoint else ''} is at step "
                            f"{first_step}, at or past --steps {options.steps}; raise --steps "
                            "or start over with --restart")
    result = TrainResult(lora=Path(), version="", first_step=first_step, steps=options.steps,
                         device=device)
    samples_dir = workspace.folder("lora") / "samples"
    columns = (TextColumn(f"training {member.name}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("train", total=options.steps, completed=first_step,
                                 loss="—")
        for step in range(first_step + 1, options.steps + 1):
            x0, embeds, sigma, noise = (t.to(device) for t in draw_batch(items, step, options))
            loss = flow_matching_loss(transformer, x0, embeds, sigma, noise)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise SoloreelError(f"loss became {value} at step {step}; lower --lr")
            result.losses.append(value)
            history.append(value)
            progress.update(task, advance=1, loss=f"{value:.4f}")
            if options.sample_every and step % options.sample_every == 0:
                result.samples.append(render_sample(
                    pipe, sample_embeds, items[0].bucket, options.sample_steps, options.seed,
                    samples_dir / f"step-{step:06d}.png"))
            if (options.checkpoint_every and step % options.checkpoint_every == 0) \
                    or step == options.steps:
                result.checkpoints.append(save_checkpoint(
                    workspace, transformer, optimizer, step, options, fingerprint, history))

    target = next_lora_path(workspace)
    state = lora_state(transformer, options, bake=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=".save-", dir=target.parent))
    try:
        WanPipeline.save_lora_weights(tmp_dir, transformer_lora_layers=state,
                                      weight_name=target.name, safe_serialization=True)
        os.replace(tmp_dir / target.name, target)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    result.lora, result.version = target, target.stem
    from safetensors.torch import load_file

    from render_engine.cast.lora_io import export_path, save_export

    result.comfyui = save_export(load_file(str(target)),
                                 export_path(target, member.name, "comfyui"), "comfyui")
    result.seconds = time.perf_counter() - started
    write_text_atomic(target.with_suffix(".json"), json.dumps({
        "character": member.name, "trigger": member.trigger, "model": model_name,
        "steps": options.steps, "options": asdict(options), "dataset": fingerprint,
        "images": [p.name for p in images], "buckets": sorted({list(i.bucket).__repr__()
                                                               for i in items}),
        "loss_first": history[0] if history else None, "loss_last": history[-1],
        "seconds": round(result.seconds, 2), "device": device,
        "comfyui": result.comfyui.name}, indent=2) + "\n")
    if register:
        register_lora(workspace, target)
    return result
