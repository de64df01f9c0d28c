"""How much GPU memory a Wan render needs per memory profile, and which profile fits a card.

No torch here (the dry run runs on a laptop without the ml extra): sizes come from the
components' `config.json` files (a local diffusers folder, or a hub id already in the HF
cache), else from the published Wan 2.1 configs matched by name (1.3B / 14B).

The profiles (applied by `render_engine.final.registry.place_pipeline`):

- `80gb`: every component resident on the GPU in the model's dtype.
- `24gb`: every component group-offloaded block by block with CUDA streams (diffusers'
  `enable_group_offload(offload_type="block_level", use_stream=True)`): the GPU holds the
  block computing and the one being prefetched; transformers of 8B+ parameters are stored in
  fp8 (layerwise casting) so the host copy and the PCIe traffic halve.
- `12gb`: fp8 storage for every transformer, leaf-level group offload with streams (one layer
  on the GPU at a time), VAE tiling and slicing.
- `auto`: the fastest of those whose estimated peak fits the card's free memory.

The peak is what `torch.cuda.max_memory_allocated` would report (the ~0.5 GiB CUDA context
is not in it): the weights on the GPU during the largest phase plus that phase's
activations. The phases are the text encoder (once per prompt), the transformer (per step:
its activations at the render's token count, cond and uncond run one after the other in
diffusers' Wan pipelines, so batch 1) and the VAE (decode, and encode of conditioning
video). Activation sizes are modelled from the tensors diffusers' Wan block keeps alive
(fp32 residual copies, q/k/v, the GELU MLP at `ffn_dim`); `bench/gpu_final.py` prints the
measured peak beside this estimate so the model can be checked on a real card.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

GIB = 1024**3
PROFILES = ("80gb", "24gb", "12gb")
"""Fastest first: the order `auto` tries them in."""
NEXT_PROFILE = {"80gb": "24gb", "24gb": "12gb", "12gb": None}
FP8_IN_24GB_PARAMS = 8e9
"""Transformers at least this big are stored in fp8 in the 24gb profile (Wan 14B, VACE-14B)."""
HEADROOM = 0.92
"""Share of a card's free memory a profile's estimated peak may use (fragmentation)."""
VAE_TILE = 256
"""diffusers' AutoencoderKLWan tile size in pixels (`tile_sample_min_height/width`)."""
VAE_LIVE_TENSORS = 6
"""Full-resolution decoder feature maps alive at once (causal conv caches, residuals)."""

CARD_GB = {"h100": 80, "h200": 141, "a100": 80, "l40s": 48, "rtx5090": 32, "rtx4090": 24,
           "rtx3090": 24, "rtx4080": 16, "a6000": 48}
"""Memory of the cards `final.cost` knows, for a dry run that cannot ask the card."""


@dataclass(frozen=True)
class TransformerSize:
    """The numbers of a Wan transformer config that decide its weights and activations."""

    params: int
    dim: int
    ffn_dim: int
    layers: int
    largest_block: int
    """Parameters of the biggest repeated block (a VACE block with its projections)."""
    largest_leaf: int
    """Parameters of the biggest single layer (the FFN's up projection)."""
    fp8_params: int
    """Parameters layerwise casting stores in fp8 (all but embeddings and norms)."""


@dataclass(frozen=True)
class PipelineSize:
    """Parameter counts of a Wan pipeline's components."""

    transformer: TransformerSize
    text_encoder: int
    text_embedding: int
    """The text encoder's token embedding (one leaf: the biggest thing it onloads)."""
    text_block: int
    vae: int
    vae_base_dim: int
    image_encoder: int = 0
    source: str = "config"

    @property
    def total(self) -> int:
        """Parameters of every component."""
        return (self.transformer.params + self.text_encoder + self.vae + self.image_encoder)


# --------------------------------------------------------------------------- configs


def _prod(values: Any) -> int:
    return int(math.prod(values)) if isinstance(values, (list, tuple)) else int(values) ** 3


def transformer_size(config: dict[str, Any]) -> TransformerSize:
    """Parameter counts of a `WanTransformer3DModel` / `WanVACETransformer3DModel` config,
    counted layer by layer as diffusers' transformer_wan.py and transformer_wan_vace.py build
    them (tests check it against the modules built on the meta device)."""
    heads, head_dim = int(config.get("num_attention_heads", 40)), int(
        config.get("attention_head_dim", 128))
    d = heads * head_dim
    ffn = int(config.get("ffn_dim", 13824))
    layers = int(config.get("num_layers", 40))
    patch = _prod(config.get("patch_size", (1, 2, 2)))
    text_dim, freq = int(config.get("text_dim", 4096)), int(config.get("freq_dim", 256))
    image_dim = config.get("image_dim")
    added = config.get("added_kv_proj_dim")
    cross_norm = bool(config.get("cross_attn_norm", True))
    qk_norm = config.get("qk_norm", "rms_norm_across_heads")

    def linear(i: int, o: int) -> int:
        return i * o + o

    norms = 2 * d if qk_norm else 0
    attention = 4 * linear(d, d) + norms
    cross = attention + (2 * linear(int(added), d) + d if added else 0)
    block = (attention + cross + (2 * d if cross_norm else 0) + linear(d, ffn) + linear(ffn, d)
             + 6 * d)
    embed = (linear(int(config.get("in_channels", 16)) * patch, d) + linear(freq, d)
             + linear(d, d) + linear(d, 6 * d) + linear(text_dim, d) + linear(d, d))
    if image_dim:
        image_dim = int(image_dim)
        embed += 2 * image_dim + linear(image_dim, image_dim) + linear(image_dim, d) + 2 * d
    head = linear(d, int(config.get("out_channels", 16)) * patch) + 2 * d
    total = embed + layers * block + head
    largest_block = block
    vace_layers = config.get("vace_layers")
    if vace_layers:
        vace_block = block + linear(d, d)  # proj_out (the first block also has proj_in)
        total += (len(vace_layers) * vace_block + linear(d, d)
                  + linear(int(config.get("vace_in_channels", 96)) * patch, d))
        largest_block = vace_block + linear(d, d)
    # fp8 storage skips patch embeddings, the condition embedder and norms
    # (`_skip_layerwise_casting_patterns` of the Wan transformers)
    # and proj_out; parameters outside layers (scale_shift_table) are never cast either
    unhooked = (norms * 2) + (2 * d if cross_norm else 0) + (d if added else 0) + 6 * d
    skipped = embed + head + layers * unhooked
    if vace_layers:
        skipped += (linear(int(config.get("vace_in_channels", 96)) * patch, d)
                    + len(vace_layers) * unhooked)
    return TransformerSize(total, d, ffn, layers, largest_block, max(linear(d, ffn),
                                                                     linear(ffn, d)),
                           total - skipped)


def umt5_size(config: dict[str, Any]) -> tuple[int, int, int]:
    """(all parameters, token embedding, one block) of a UMT5 / T5 encoder config (gated
    GELU feed-forward, a relative attention bias in every UMT5 layer)."""
    d, d_ff = int(config.get("d_model", 4096)), int(config.get("d_ff", 10240))
    heads, d_kv = int(config.get("num_heads", 64)), int(config.get("d_kv", 64))
    layers = int(config.get("num_layers", 24))
    vocab = int(config.get("vocab_size", 256384))
    buckets = int(config.get("relative_attention_num_buckets", 32))
    gated = str(config.get("feed_forward_proj", "gated-gelu")).startswith("gated")
    block = 4 * d * heads * d_kv + buckets * heads + (3 if gated else 2) * d * d_ff + 2 * d
    return vocab * d + layers * block + d, vocab * d, block


def clip_vision_size(config: dict[str, Any]) -> int:
    """Parameters of a CLIP vision tower config (ViT: patch + position embeddings, layers of
    attention and MLP, pre/post layer norms)."""
    h, inner = int(config.get("hidden_size", 1280)), int(config.get("intermediate_size", 5120))
    layers, patch = int(config.get("num_hidden_layers", 32)), int(config.get("patch_size", 14))
    image = int(config.get("image_size", 224))
    positions = (image // patch) ** 2 + 1
    layer = 4 * (h * h + h) + 2 * h + (h * inner + inner) + (inner * h + h) + 2 * h
    return 3 * patch * patch * h + h + positions * h + 4 * h + layers * layer


def vae_size(config: dict[str, Any]) -> int:
    """Parameters of an AutoencoderKLWan config: 127 M at diffusers' defaults (base_dim 96),
    scaling with base_dim² and the number of res blocks."""
    base = int(config.get("base_dim", 96))
    res = int(config.get("num_res_blocks", 2))
    return int(126_892_531 * (base / 96) ** 2 * (res + 1) / 3)


WAN_13B = {"num_attention_heads": 12, "attention_head_dim": 128, "ffn_dim": 8960,
           "num_layers": 30, "text_dim": 4096, "freq_dim": 256, "in_channels": 16,
           "out_channels": 16, "patch_size": [1, 2, 2], "cross_attn_norm": True,
           "qk_norm": "rms_norm_across_heads"}
"""Wan2.1-T2V-1.3B-Diffusers transformer/config.json (the values that size it)."""
WAN_14B = {**WAN_13B, "num_attention_heads": 40, "ffn_dim": 13824, "num_layers": 40}
UMT5_XXL = {"d_model": 4096, "d_ff": 10240, "num_heads": 64, "d_kv": 64, "num_layers": 24,
            "vocab_size": 256384, "relative_attention_num_buckets": 32,
            "feed_forward_proj": "gated-gelu"}
CLIP_VIT_H = {"hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32,
              "patch_size": 14, "image_size": 224}


def _named_configs(source: str, kind: str) -> dict[str, dict[str, Any]]:
    """Published configs for a model known by name (…1.3B…, …14B…); 14B when unsure (the
    larger estimate is the safe one)."""
    text = source.lower().replace("_", ".")
    small = bool(re.search(r"1\.3b", text))
    transformer = dict(WAN_13B if small else WAN_14B)
    if kind == "vace":
        transformer |= {"vace_layers": list(range(0, 30, 2)) if small
                        else list(range(0, 40, 5)), "vace_in_channels": 96}
    configs = {"transformer": transformer, "text_encoder": UMT5_XXL, "vae": {}}
    if kind in ("i2v", "animate"):  # Wan2.2-Animate-14B: the i2v transformer + CLIP, plus
        # motion/face encoders (≈0.3B, within the 14B estimate's margin)
        transformer |= {"in_channels": 36, "image_dim": 1280,
                        "added_kv_proj_dim": transformer["num_attention_heads"] * 128}
        configs["image_encoder"] = CLIP_VIT_H
    return configs


def _read_config(folder: Path | None, hub: tuple[str, str | None] | None, part: str
                 ) -> dict[str, Any] | None:
    path: Path | None = None
    if folder is not None:
        path = folder / part / "config.json"
    elif hub is not None:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:  # pragma: no cover - comes with diffusers
            return None
        try:
            found = try_to_load_from_cache(hub[0], f"{part}/config.json", revision=hub[1])
        except ValueError:
            return None
        path = Path(found) if isinstance(found, str) else None
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def pipeline_size(source: str, kind: str, folder: Path | None = None,
                  revision: str | None = None) -> PipelineSize:
    """Component sizes of a model: from its config files (a local folder, or a hub id's files
    in the HF cache), else the published Wan 2.1 configs matched by name."""
    hub = None if folder is not None else (source, revision)
    named = _named_configs(source, kind)
    found = {part: _read_config(folder, hub, part)
             for part in ("transformer", "text_encoder", "vae", "image_encoder")}
    how = "config" if found["transformer"] is not None else "name"
    transformer = transformer_size(found["transformer"] or named["transformer"])
    text_all, text_embedding, text_block = umt5_size(found["text_encoder"]
                                                     or named["text_encoder"])
    image = found["image_encoder"] or named.get("image_encoder")
    image_params = clip_vision_size(image) if image and kind in ("i2v", "animate") else 0
    vae_config = found["vae"] if found["vae"] is not None else named["vae"]
    return PipelineSize(transformer, text_all, text_embedding, text_block,
                        vae_size(vae_config), int(vae_config.get("base_dim", 96)),
                        image_params, how)


# --------------------------------------------------------------------------- the estimate


@dataclass(frozen=True)
class Workload:
    """One Wan render: its size in pixels and frames, and the VACE reference images."""

    width: int = 832
    height: int = 480
    frames: int = 81
    references: int = 0

    @property
    def tokens(self) -> int:
        """Transformer tokens: latent frames (+ references) × (h/16) × (w/16)."""
        latent_frames = (self.frames - 1) // 4 + 1 + self.references
        return latent_frames * (self.height // 16) * (self.width // 16)


@dataclass(frozen=True)
class Peak:
    """The estimated peak of one profile, by phase (bytes)."""

    profile: str
    text: int
    transformer: int
    vae: int
    fp8: bool

    @property
    def bytes(self) -> int:
        """The peak: the largest phase."""
        return max(self.text, self.transformer, self.vae)

    @property
    def gib(self) -> float:
        """The peak in GiB."""
        return self.bytes / GIB


def dtype_bytes(dtype: str) -> int:
    """Bytes per element of a model entry's dtype name."""
    return 4 if dtype == "float32" else 2


def fp8_in(profile: str, size: PipelineSize) -> bool:
    """Whether a profile stores the transformer in fp8 (12gb always; 24gb for 8B+ models)."""
    return profile == "12gb" or (profile == "24gb"
                                 and size.transformer.params >= FP8_IN_24GB_PARAMS)


def transformer_activations(t: TransformerSize, tokens: int, act: int) -> int:
    """Bytes alive inside one Wan block at its widest point: the fp32 residual and its
    modulated copy, q/k/v and attention output, and the GELU MLP's two `ffn_dim` tensors;
    plus the rotary table and the block's input kept by the caller."""
    return int(tokens * (2 * t.ffn_dim * act + 6 * t.dim * act + 3 * t.dim * 4))


def vae_activations(width: int, height: int, base_dim: int, tiled: bool) -> int:
    """Bytes of the Wan VAE decoder at its widest point (fp32): four output frames per
    latent frame at full resolution × `base_dim` channels × the live feature maps; with
    tiling, one 256-pixel tile (plus its overlap) instead of the whole frame."""
    pixels = min(width * height, (VAE_TILE + 64) ** 2) if tiled else width * height
    return int(4 * pixels * base_dim * 4 * VAE_LIVE_TENSORS)


def estimate_peak(size: PipelineSize, workload: Workload, profile: str,
                  dtype: str = "bfloat16") -> Peak:
    """Estimated peak allocated GPU memory of one render at `profile` (one of PROFILES)."""
    act = dtype_bytes(dtype)
    t = size.transformer
    fp8 = fp8_in(profile, size)
    weight = 1 if fp8 else act
    t_weights = t.fp8_params * weight + (t.params - t.fp8_params) * act
    video = 3 * workload.frames * workload.width * workload.height * 4  # the decoded frames
    vae_weights = size.vae * 4 + size.image_encoder * 4  # kept in fp32
    tiled = profile == "12gb"
    vae_work = vae_activations(workload.width, workload.height, size.vae_base_dim, tiled)
    latents = 4 * 16 * workload.tokens * 4 * 3  # latents, noise prediction, scheduler state
    activations = transformer_activations(t, workload.tokens, act) + latents
    if profile == "80gb":
        resident = t_weights + size.text_encoder * act + vae_weights
        return Peak(profile, resident, resident + activations,
                    resident + vae_work + video, fp8)
    if profile == "24gb":  # block-level group offload: the computing block + the prefetched
        on_gpu = 2 * t.largest_block * act + (t.params - t.fp8_params) * act
        text = size.text_embedding * act + 2 * size.text_block * act
        return Peak(profile, text, on_gpu + activations, vae_weights + vae_work + video, fp8)
    # 12gb: leaf-level offload — one layer (and the prefetched one) at a time
    on_gpu = 2 * t.largest_leaf * act + (t.params - t.fp8_params) * act
    text = size.text_embedding * act + 2 * size.text_block // 4 * act
    return Peak(profile, text, on_gpu + activations, size.vae * 4 + vae_work + video, fp8)


def choose_profile(size: PipelineSize, workload: Workload, free_bytes: int,
                   dtype: str = "bfloat16") -> tuple[str, Peak]:
    """The fastest profile whose estimated peak fits `HEADROOM` of `free_bytes`; the
    smallest (12gb) when none does (the caller warns)."""
    peaks = [estimate_peak(size, workload, p, dtype) for p in PROFILES]
    for peak in peaks:
        if peak.bytes <= free_bytes * HEADROOM:
            return peak.profile, peak
    return peaks[-1].profile, peaks[-1]


def card_bytes(gpu: str) -> int | None:
    """Memory of a known card key (`final.cost.GPU_NAMES` values), None for others."""
    gb = CARD_GB.get(gpu)
    return int(gb * 1e9) if gb else None


def resolve_profile(profile: str, size: PipelineSize, workload: Workload,
                    free_bytes: int | None, dtype: str = "bfloat16") -> tuple[str, Peak]:
    """`profile` as given, or for `auto` the one `choose_profile` picks for `free_bytes`
    (None: nothing known about the card → 24gb, the design's target desktop)."""
    if profile != "auto":
        return profile, estimate_peak(size, workload, profile, dtype)
    if free_bytes is None:
        return "24gb", estimate_peak(size, workload, "24gb", dtype)
    return choose_profile(size, workload, free_bytes, dtype)


def oom_advice(name: str, profile: str, size: PipelineSize, workload: Workload,
               card: int | None, dtype: str = "bfloat16") -> str:
    """The fix for a CUDA out-of-memory at `profile`: the fastest smaller profile whose
    estimate fits the card (naming its expected peak), else a smaller render."""
    current = estimate_peak(size, workload, profile, dtype)
    order = list(PROFILES)
    smaller = order[order.index(profile) + 1:] if profile in order else order
    for candidate in smaller:
        peak = estimate_peak(size, workload, candidate, dtype)
        if card is None or peak.bytes <= card * HEADROOM:
            return (f'set models.{name}.memory_profile = "{candidate}" in soloreel.toml '
                    f"(expected peak {peak.gib:.1f} GiB, was {current.gib:.1f} GiB at "
                    f"{profile})")
    wanted = replace(workload, frames=min(workload.frames, 33))
    return (f"even the 12gb profile expects {estimate_peak(size, workload, '12gb', dtype).gib:.1f}"
            f" GiB for {workload.width}x{workload.height}x{workload.frames}; lower "
            "tiers.final width/height or set SOLOREEL_WAN_MAX_FRAMES=33 (expected "
            f"{estimate_peak(size, wanted, '12gb', dtype).gib:.1f} GiB)")


def entry_size(entry: Any, root: Path | None = None) -> PipelineSize:
    """Component sizes of a `[models.NAME]` entry: its local folder's configs (relative to
    the production `root`), a hub id's cached configs, else the published ones by name."""
    folder = Path(entry.source).expanduser()
    if not folder.is_absolute() and root is not None:
        folder = root / folder
    local = folder if (folder / "model_index.json").is_file() else None
    return pipeline_size(entry.source, entry.kind, local, entry.revision)


def planned_peak(entry: Any, workload: Workload, gpu: str, root: Path | None = None
                 ) -> Peak:
    """The profile a dry run expects a model to render with on card `gpu` (a cost.GPU_NAMES
    key; `auto` resolved against that card's memory) and its estimated peak."""
    size = entry_size(entry, root)
    return resolve_profile(entry.memory_profile, size, workload, card_bytes(gpu),
                           entry.dtype)[1]
