"""Named models from soloreel.toml → loaded diffusers pipelines, each loaded once per batch.

`[models.NAME]` gives a `source` (a local folder, relative to the production or absolute,
needing no network; or a hub id with an optional `revision`, fetched through the normal HF
cache), a `kind` (t2v | i2v | v2v | vace: which pipeline class), a `dtype` and a memory
profile for the GPU at hand:

- `80gb`: everything resident on the GPU;
- `24gb`: every component group-offloaded block by block with CUDA streams
  (`enable_group_offload(offload_type="block_level", use_stream=True)`: the next block is
  prefetched while one computes), transformers of 8B+ parameters stored in fp8 — Wan 14B and
  VACE-14B on a 24 GB card;
- `12gb`: fp8 storage for the transformer, leaf-level group offload with streams, VAE tiling
  and slicing;
- `auto`: the fastest of those whose estimated peak (`render_engine.final.memory`) fits the
  card's free memory (`torch.cuda.mem_get_info`) at the final tier's size.

fp8 storage is diffusers' layerwise casting (weights stored as float8_e4m3fn, each layer
up-cast to the compute dtype for its forward). Each cast layer also carries `compute_dtype`,
the attribute peft reads when it sizes new adapter weights, so LoRAs loaded later (characters,
the draft LoRA) are created in the compute dtype instead of fp8 — every profile takes LoRAs.
The VAE and the CLIP image encoder load in float32, as the Wan examples in diffusers' docs do;
the scheduler's flow shift is set per render resolution (3.0 at 480p, 5.0 at 720p).

On a machine without CUDA (the tests, a laptop) the pipeline stays on the CPU and the profile
is recorded as not applied (`place_pipeline` applies one with a CPU onload device for tests).
Safetensors only (`use_safetensors=True`).

Optional speed-ups, per model in soloreel.toml (all off by default):

- `attention_backend = "flash"` — a diffusers attention backend for the transformer
  (`native`, `flash`, `_flash_3`, `sage`, `xformers`, `_native_cudnn`, …; the package behind
  it must be installed). `*_hub` backends download kernels at run time and are refused when
  the settings are read.
- `first_block_cache = 0.05` — diffusers' first-block cache: when the first transformer
  block's output changes less than this (relative) from the previous step, the remaining
  blocks are skipped and their last residual re-used (≈1.5–2× at 0.05–0.1, slightly
  different pixels: part of the content hash).
- `compile_blocks = true` — regional compile: `compile_repeated_blocks(fullgraph=True)`
  compiles the one repeated transformer block once instead of the whole model (a short
  warm-up per load; not part of the content hash, it is the same maths).

The environment overrides them for every model, on top of the toml (for experiments; the
override is applied when the bible is read, so cache keys follow it):
`SOLOREEL_ATTENTION_BACKEND=sage`, `SOLOREEL_FIRST_BLOCK_CACHE=0.08` (0 turns it off),
`SOLOREEL_COMPILE=1` (0 turns it off).

A model may also name a step-distilled LoRA for draft finals (`draft_lora`, `draft_steps`;
see `render_engine.final.quality`).
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from render_engine.bible import HUB_SUFFIX, ModelEntry, Production
from render_engine.errors import SoloreelError
from render_engine.final.adapters import AdapterState
from render_engine.final.weights import hub_snapshot

log = logging.getLogger(__name__)

PIPELINE_CLASSES = {
    "t2v": "WanPipeline",
    "v2v": "WanVideoToVideoPipeline",
    "i2v": "WanImageToVideoPipeline",
    "vace": "WanVACEPipeline",
    "animate": "WanAnimatePipeline",
}
NEXT_PROFILE = {"80gb": "24gb", "24gb": "12gb", "12gb": None}


class ModelError(SoloreelError):
    """A model that cannot be found or loaded; the message names the model and the fix."""


@dataclass(frozen=True)
class ModelSource:
    """Where a named model's weights come from."""

    name: str
    entry: ModelEntry
    folder: Path | None
    """The local folder, when the source is one."""
    hub_id: str | None

    @property
    def location(self) -> str:
        return str(self.folder) if self.folder is not None else f"{self.hub_id}" + (
            f"@{self.entry.revision}" if self.entry.revision else "")


def _looks_local(source: str, root: Path) -> bool:
    """A hub id is exactly "owner/name"; anything else, or a path whose first folder exists in
    the production, is a local folder (write ./models/x to be unambiguous)."""
    return (source.startswith((".", "/", "~")) or "\\" in source or source.count("/") != 1
            or (root / source.split("/")[0]).is_dir())


def resolve_source(production: Production, name: str) -> ModelSource:
    """The weights location of a registered model; raises ModelError for an unknown name or a
    missing local folder (checked before anything is loaded, so the message is clear)."""
    entry = production.settings.models.get(name)
    if entry is None:
        known = ", ".join(sorted(production.settings.models)) or "none"
        raise ModelError(f'model "{name}" is not in [models] of soloreel.toml; known: {known}')
    if entry.backend == "comfyui":  # rendered by render_engine.comfyui, never loaded here
        raise ModelError(f'model "{name}" renders on ComfyUI ({entry.url}); it has no diffusers '
                         f"weights to load: give models.{name} a source, or use a diffusers model")
    source = entry.source
    candidate = Path(source).expanduser()
    if not candidate.is_absolute():
        candidate = production.root / candidate
    if candidate.exists() or _looks_local(source, production.root):
        if not candidate.is_dir() or not (candidate / "model_index.json").is_file():
            what = "does not exist" if not candidate.exists() else (
                "is not a diffusers pipeline folder (no model_index.json)")
            raise ModelError(
                f'model "{name}": folder {candidate} {what}; download or convert the weights '
                f"there (diffusers format, safetensors), or fix models.{name}.source")
        return ModelSource(name, entry, candidate, None)
    if _offline() and not _in_hf_cache(source, entry.revision) and (
            hub_snapshot(source, entry.revision) is None):
        raise ModelError(
            f'model "{name}": folder {candidate} does not exist, and the hub id "{source}" is '
            "not in the HF cache (offline); put the weights in that folder (diffusers format, "
            f"safetensors), fetch them once online, or fix models.{name}.source")
    return ModelSource(name, entry, None, source)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _in_hf_cache(repo_id: str, revision: str | None) -> bool:
    """Whether a hub pipeline's model_index.json is in the local HF cache (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - comes with diffusers
        return False
    try:
        found = try_to_load_from_cache(repo_id, "model_index.json", revision=revision)
    except ValueError:  # not a valid repo id at all
        return False
    return isinstance(found, str)


@dataclass
class LoadOptions:
    """Speed options applied after loading (see the module docstring)."""

    attention_backend: str | None = None
    first_block_cache: float | None = None
    compile_blocks: bool = False

    @classmethod
    def of(cls, entry: ModelEntry) -> LoadOptions:
        """A model entry's options (the environment is already applied to it when the
        production was loaded: `bible.model_environment`)."""
        return cls(entry.attention_backend, entry.first_block_cache, entry.compile_blocks)


def torch_dtype(name: str, device: str) -> Any:
    """The torch dtype of a model entry; half precision on the CPU becomes float32 (CPU
    kernels for fp16 video convolutions are missing or very slow)."""
    import torch

    if device == "cpu" and name == "float16":
        return torch.float32
    return {"bfloat16": torch.bfloat16, "float16": torch.float16,
            "float32": torch.float32}[name]


def default_device() -> str:
    """"cuda" when a GPU is visible, else "cpu"."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def enable_fp8_storage(module: Any, compute_dtype: Any) -> int:
    """Store `module`'s weights in float8_e4m3fn and up-cast each layer to `compute_dtype`
    for its forward (diffusers' `ModelMixin.enable_layerwise_casting`, with the model's own
    skip patterns: patch embeddings, the condition embedder, norms and peft layers stay in
    the compute dtype). Returns how many layers were cast.

    Every cast layer also gets a `compute_dtype` attribute: peft's
    `BaseTunerLayer._get_base_layer_device_and_dtype` (peft/tuners/tuners_utils.py) takes a
    base layer's `compute_dtype` over its weight's dtype when it creates adapter weights, so
    a LoRA loaded afterwards is created in the compute dtype — without it peft copies the
    fp8 dtype onto lora_A/lora_B, and their matmul fails (no fp8 GEMM on CPU or CUDA)."""
    import torch
    from diffusers.hooks.layerwise_casting import _LAYERWISE_CASTING_HOOK

    module.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn,
                                    compute_dtype=compute_dtype)
    cast = 0
    for layer in module.modules():
        registry = getattr(layer, "_diffusers_hook", None)
        if registry is not None and registry.get_hook(_LAYERWISE_CASTING_HOOK) is not None:
            layer.compute_dtype = compute_dtype
            cast += 1
    return cast


def _transformers(pipe: Any) -> list[tuple[str, Any]]:
    return [(attr, getattr(pipe, attr)) for attr in ("transformer", "transformer_2")
            if getattr(pipe, attr, None) is not None]


def place_pipeline(pipe: Any, profile: str, onload: str, dtype: Any, use_stream: bool,
                   fp8: bool | None = None) -> str:
    """Apply a memory profile (80gb | 24gb | 12gb, see the module docstring) with `onload`
    as the compute device; returns what was applied, e.g.
    "transformer:fp8_storage+group_offload:block_level+streams".

    `fp8` None follows the profile (12gb always, 24gb for 8B+ parameter transformers).
    Runs on the CPU too (onload "cpu", no streams): the tests check the hooks it installs."""
    import torch

    from render_engine.final.memory import FP8_IN_24GB_PARAMS

    applied: list[str] = []
    if profile == "80gb":
        pipe.to(onload)
        return "resident"
    if fp8 is None:
        fp8 = profile == "12gb" or any(
            sum(p.numel() for p in module.parameters()) >= FP8_IN_24GB_PARAMS
            for _attr, module in _transformers(pipe))
    if fp8:
        for attr, module in _transformers(pipe):
            if hasattr(module, "enable_layerwise_casting"):
                enable_fp8_storage(module, dtype)
                applied.append(f"{attr}:fp8_storage")
    level = "block_level" if profile == "24gb" else "leaf_level"
    kwargs: dict[str, Any] = {"num_blocks_per_group": 1} if level == "block_level" else {}
    pipe.enable_group_offload(onload_device=torch.device(onload),
                              offload_device=torch.device("cpu"), offload_type=level,
                              use_stream=use_stream, **kwargs)
    applied.append(f"group_offload:{level}" + ("+streams" if use_stream else ""))
    if profile == "12gb" and getattr(pipe, "vae", None) is not None:
        pipe.vae.enable_tiling()
        pipe.vae.enable_slicing()
        applied.append("vae_tiling+slicing")
    return "+".join(applied)


def free_memory(device: str) -> int | None:
    """Free bytes on a CUDA device (`torch.cuda.mem_get_info`); None on the CPU."""
    if device == "cpu":
        return None
    import torch

    return int(torch.cuda.mem_get_info(torch.device(device))[0])


def resolved_profile(entry: ModelEntry, size: Any, workload: Any, free_bytes: int | None
                     ) -> tuple[str, Any]:
    """(profile, its estimated Peak) of a model entry: `auto` picks from `free_bytes`."""
    from render_engine.final.memory import resolve_profile

    return resolve_profile(entry.memory_profile, size, workload, free_bytes, entry.dtype)


def apply_memory_profile(pipe: Any, profile: str, device: str, dtype: Any) -> str:
    """Place a loaded pipeline for a (resolved) memory profile; returns what was applied.
    On the CPU nothing is applied (tests and laptops run the model as loaded)."""
    if device == "cpu" or not profile:
        pipe.to("cpu")
        return "none (cpu)"
    return place_pipeline(pipe, profile, device, dtype, use_stream=True)


def offload_12gb(pipe: Any, device: str, dtype: Any, use_stream: bool) -> str:
    """The 12gb profile (fp8 storage, leaf-level group offload, VAE tiling) on `device`."""
    return place_pipeline(pipe, "12gb", device, dtype, use_stream)


def flow_shift_for(width: int, height: int) -> float:
    """Wan 2.1's flow shift for a render size: 5.0 from 720p up, 3.0 below (the values
    diffusers' Wan docs and the Wan 2.1 repository use for 720p and 480p)."""
    return 5.0 if min(width, height) >= 720 else 3.0


def set_flow_shift(pipe: Any, width: int, height: int) -> float:
    """Set the pipeline's scheduler to the flow shift of a render size, in place (pipelines
    made with `from_pipe` share the scheduler object): `set_shift` of a flow-matching Euler
    scheduler, `flow_shift` of UniPC / DPM-Solver. Returns the shift."""
    shift = flow_shift_for(width, height)
    scheduler = pipe.scheduler
    if hasattr(scheduler, "set_shift"):
        scheduler.set_shift(shift)
    elif "flow_shift" in scheduler.config:
        scheduler.register_to_config(flow_shift=shift)
    return shift


def apply_options(pipe: Any, options: LoadOptions, name: str = "") -> list[str]:
    """Attention backend, first-block cache and regional compile, as asked; what was done.
    A backend diffusers does not know, or whose package is missing, is a ModelError naming
    the model and the field."""
    done = []
    transformer = pipe.transformer
    where = f'model "{name}": ' if name else ""
    if options.attention_backend:
        backend = options.attention_backend
        if backend.endswith(HUB_SUFFIX):
            raise ModelError(f"{where}attention backend {backend} downloads kernels at run "
                             "time; pick a local one (native, flash, sage…)")
        try:
            transformer.set_attention_backend(backend)
        except (ValueError, RuntimeError, ImportError) as exc:
            raise ModelError(
                f"{where}attention_backend \"{backend}\" cannot be used here "
                f"({str(exc).splitlines()[0][:200]}); install its package or fix "
                f"models.{name or 'NAME'}.attention_backend in soloreel.toml") from exc
        done.append(f"attention:{backend}")
    if options.first_block_cache:
        from diffusers.hooks import FirstBlockCacheConfig

        transformer.enable_cache(FirstBlockCacheConfig(threshold=options.first_block_cache))
        done.append(f"first_block_cache:{options.first_block_cache}")
    if options.compile_blocks:
        transformer.compile_repeated_blocks(fullgraph=True)
        done.append("compile_repeated_blocks")
    return done


@dataclass
class LoadedModel:
    """A pipeline in memory with what it took to get there."""

    source: ModelSource
    pipe: Any
    device: str
    dtype: str
    placement: str
    options: list[str]
    load_seconds: float
    profile: str = ""
    """The memory profile applied (`auto` resolved); empty when none was (the CPU)."""
    peak_gib: float | None = None
    """The profile's estimated peak GPU memory at the final tier's size."""
    commit: str | None = None
    """The hub snapshot's commit the weights came from (hub models; None for folders)."""
    lora_key: tuple = ()
    """The adapter set now active in the pipeline (by `modes.use_loras`)."""
    adapters: AdapterState = field(default_factory=AdapterState)
    """The adapters loaded into the pipeline, least recently used first."""
    lora_enabled: bool = True
    """False while the loaded adapters are switched off (a render without LoRAs)."""
    lora_loads: Counter[str] = field(default_factory=Counter)
    """Adapter loads by name (shared with the registry, which counts per batch)."""
    lora_unloads: Counter[str] = field(default_factory=Counter)
    derived: dict[str, Any] = field(default_factory=dict)
    """Other pipeline classes made from this one's components (`from_pipe`), by kind."""


def _pipeline_class(kind: str) -> Any:
    import diffusers

    return getattr(diffusers, PIPELINE_CLASSES[kind])


def component_dtypes(dtype: Any) -> dict[str, Any]:
    """`from_pretrained`'s per-component dtypes: the model's dtype, with the VAE and the CLIP
    image encoder in float32 (diffusers' Wan docs load both in float32: bf16 VAE decoding
    bands and shifts colour)."""
    import torch

    return {"default": dtype, "vae": torch.float32, "image_encoder": torch.float32}


def hub_commit(source: ModelSource) -> str | None:
    """The commit of a hub model's snapshot in the HF cache (its folder name), if cached:
    the one `final.weights.hub_snapshot` resolves (and the final's content hash names)."""
    if source.hub_id is None:
        return None
    found_here = hub_snapshot(source.hub_id, source.entry.revision)
    if found_here is not None:
        return found_here[0]
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(source.hub_id, "model_index.json",
                                       revision=source.entry.revision)
    except (ImportError, ValueError):
        return None
    return Path(found).parent.name if isinstance(found, str) else None


def model_warnings(production: Production) -> list[str]:
    """Warnings about registered models that `soloreel validate` prints: a hub model without
    a pinned `revision` follows the hub's main branch, so a re-upload changes its finals
    while their cache keys stay the same."""
    out = []
    for name, entry in sorted(production.settings.models.items()):
        candidate = Path(entry.source).expanduser()
        local = (candidate if candidate.is_absolute() else production.root / candidate)
        if entry.revision or local.exists() or _looks_local(entry.source, production.root):
            continue
        out.append(f'soloreel.toml models.{name}.revision: hub model "{entry.source}" has no '
                   "pinned revision, so its weights can change under cached finals; fix: set "
                   f'models.{name}.revision = "<commit sha>" (the commit of the snapshot in '
                   "your HF cache)")
    return out


def load_pipeline(source: ModelSource, device: str, options: LoadOptions | None = None,
                  workload: Any = None, free_bytes: Any = free_memory,
                  profile_on_cpu: bool = False) -> LoadedModel:
    """Load a model's pipeline from its folder or hub id (safetensors only) and place it for
    its memory profile (`auto` resolved for `workload`, a memory.Workload, against the card's
    free memory; `free_bytes(device)` is the function asked, injectable for tests). On the
    CPU the profile is applied only with `profile_on_cpu` (tests of the hooks it installs)."""
    from render_engine.final.memory import Workload, pipeline_size

    started = time.perf_counter()
    dtype = torch_dtype(source.entry.dtype, device)
    cls = _pipeline_class(source.entry.kind)
    where: Any = source.folder if source.folder is not None else source.hub_id
    kwargs: dict[str, Any] = {"use_safetensors": True, "dtype": component_dtypes(dtype)}
    snapshot = None
    if source.hub_id is not None:  # load the snapshot the cache key names, when cached
        snapshot = hub_snapshot(source.hub_id, source.entry.revision)
    if snapshot is not None:
        where = snapshot[1]
    elif source.folder is None and source.entry.revision:
        kwargs["revision"] = source.entry.revision
    try:
        pipe = cls.from_pretrained(where, **kwargs)
    except (OSError, ValueError) as exc:
        hint = ("the folder holds no safetensors weights or is incomplete" if source.folder
                else "the hub id is wrong, the revision missing, or it is not in the HF cache "
                     "and the network is off")
        raise ModelError(f'model "{source.name}" ({source.location}) cannot be loaded: {hint} '
                         f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from exc
    pipe.set_progress_bar_config(disable=True)
    commit = hub_commit(source)
    if source.hub_id is not None and not source.entry.revision:
        log.warning('model "%s": hub id %s without a pinned revision; loaded commit %s — set '
                    "models.%s.revision to keep finals reproducible", source.name,
                    source.hub_id, commit or "unknown", source.name)
    profile, peak_gib = "", None
    if device != "cpu" or profile_on_cpu:
        size = pipeline_size(source.entry.source, source.entry.kind, source.folder,
                             source.entry.revision)
        profile, peak = resolved_profile(source.entry, size, workload or Workload(),
                                         free_bytes(device))
        peak_gib = round(peak.gib, 2)
        if source.entry.memory_profile == "auto":
            log.info('model "%s": auto memory profile → %s (expected peak %.1f GiB)',
                     source.name, profile, peak.gib)
    placement = (place_pipeline(pipe, profile, device, dtype, use_stream=device != "cpu")
                 if profile else apply_memory_profile(pipe, profile, device, dtype))
    done = apply_options(pipe, options or LoadOptions.of(source.entry), source.name)
    return LoadedModel(source, pipe, device, str(dtype).replace("torch.", ""), placement, done,
                       time.perf_counter() - started, profile, peak_gib, commit)


def card_memory(device: str) -> int | None:
    """Total bytes of the CUDA card `device` (None on the CPU)."""
    if device == "cpu":
        return None
    import torch

    return int(torch.cuda.get_device_properties(torch.device(device)).total_memory)


def oom_fix(model: LoadedModel, width: int, height: int, frames: int) -> str:
    """What to change after a CUDA out-of-memory: the fastest smaller profile whose
    estimated peak fits this card at this render size (naming the peak), else a smaller
    render — never a profile that cannot hold the model (memory.oom_advice)."""
    from render_engine.final.memory import Workload, oom_advice, pipeline_size

    entry = model.source.entry
    size = pipeline_size(entry.source, entry.kind, model.source.folder, entry.revision)
    profile = model.profile or entry.memory_profile
    return oom_advice(model.source.name, profile, size, Workload(width, height, frames),
                      card_memory(model.device), entry.dtype)


def _load_fields(entry: ModelEntry) -> dict[str, Any]:
    """The fields of an entry that shape the loaded pipeline (not the draft settings, so a
    draft run re-uses a model a full run loaded)."""
    fields = entry.options()
    fields.pop("draft_lora")
    fields.pop("draft_steps")
    return fields


class ModelRegistry:
    """Loads each named model once and keeps at most `keep` resident (the GPU holds one Wan
    model comfortably; shots are ordered by model so each loads once per batch)."""

    def __init__(self, production: Production, device: str | None = None, keep: int = 1,
                 options: LoadOptions | None = None, free_bytes: Any = free_memory,
                 profile_on_cpu: bool = False):
        self.production = production
        self.free_bytes = free_bytes
        """`free_bytes(device)`: the card's free memory for `auto` (injectable for tests)."""
        self.profile_on_cpu = profile_on_cpu
        """Apply memory profiles on the CPU too (tests of the hooks they install)."""
        self.device = device
        self.keep = keep
        self.options = options
        """Options for every model; None: each model's own (soloreel.toml + environment)."""
        self.loaded: dict[str, LoadedModel] = {}
        self.loads: Counter[str] = Counter()
        """How many times each model was loaded from disk (tests assert once per batch)."""
        self.lora_loads: Counter[str] = Counter()
        """How many times each adapter was loaded into a model (`modes.use_loras`)."""
        self.lora_unloads: Counter[str] = Counter()

    def get(self, name: str) -> LoadedModel:
        """The loaded model `name`, loading it (and evicting the oldest beyond `keep`)."""
        current = self.production.settings.models.get(name)
        if name in self.loaded and (current is None or _load_fields(
                self.loaded[name].source.entry) != _load_fields(current)):
            self.release(name)  # the bible changed under us: reload
        if name in self.loaded:
            model = self.loaded.pop(name)
            self.loaded[name] = model  # most recently used last
            return model
        source = resolve_source(self.production, name)
        while len(self.loaded) >= max(1, self.keep):
            self.release(next(iter(self.loaded)))
        device = self.device or default_device()
        model = load_pipeline(source, device, self.options, self.workload(), self.free_bytes,
                              self.profile_on_cpu)
        model.lora_loads, model.lora_unloads = self.lora_loads, self.lora_unloads
        self.loads[name] += 1
        self.loaded[name] = model
        log.info("loaded model %s from %s in %.1f s (%s)", name, source.location,
                 model.load_seconds, model.placement)
        return model

    def workload(self) -> Any:
        """The render an `auto` profile is sized for: the final tier's size, 81 frames."""
        from render_engine.final.latents import WAN_MAX_FRAMES, render_size
        from render_engine.final.memory import Workload

        tier = self.production.settings.tier("final")
        width, height = render_size(tier.width, tier.height)
        return Workload(width, height, WAN_MAX_FRAMES)

    def release(self, name: str) -> None:
        """Drop a loaded model and free its GPU memory."""
        model = self.loaded.pop(name, None)
        if model is None:
            return
        del model
        try:
            import gc

            import torch

            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover - torch is there if a model was loaded
            pass

    def clear(self) -> None:
        """Release every model (end of a batch)."""
        for name in list(self.loaded):
            self.release(name)


_SHARED: dict[Path, ModelRegistry] = {}


def shared_registry(production: Production) -> ModelRegistry:
    """The process-wide registry of a production (the tier renderer's per-shot calls share
    it, so consecutive shots with one model load it once)."""
    registry = _SHARED.get(production.root)
    if registry is None or registry.production is not production:
        if registry is not None:
            registry.production = production  # same folder, reloaded bible
        else:
            registry = _SHARED[production.root] = ModelRegistry(production)
    return registry


def drop_shared(production: Production | None = None) -> None:
    """Release the shared registry of one production (or of all)."""
    for root in [production.root] if production else list(_SHARED):
        registry = _SHARED.pop(root, None)
        if registry is not None:
            registry.clear()
