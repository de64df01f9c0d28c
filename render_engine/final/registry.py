"""Named models from soloreel.toml → loaded diffusers pipelines, each loaded once per batch.

`[models.NAME]` gives a `source` (a local folder, relative to the production or absolute,
needing no network; or a hub id with an optional `revision`, fetched through the normal HF
cache), a `kind` (t2v | i2v | v2v | vace: which pipeline class), a `dtype` and a memory
profile for the GPU at hand:

- `12gb`: the transformer's weights stored in fp8 and up-cast layer by layer
  (`enable_layerwise_casting`), every component group-offloaded block by block with CUDA
  streams (`enable_group_offload`) — Wan 14B on a 12 GB card;
- `24gb`: model CPU offload (`enable_model_cpu_offload`): one component on the GPU at a time;
- `80gb`: everything resident on the GPU.

On a machine without CUDA (the tests, a laptop) the pipeline stays on the CPU and the profile
is recorded as not applied. Safetensors only (`use_safetensors=True`).

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

log = logging.getLogger(__name__)

PIPELINE_CLASSES = {
    "t2v": "WanPipeline",
    "v2v": "WanVideoToVideoPipeline",
    "i2v": "WanImageToVideoPipeline",
    "vace": "WanVACEPipeline",
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
    if _offline() and not _in_hf_cache(source, entry.revision):
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


def apply_memory_profile(pipe: Any, profile: str, device: str, dtype: Any) -> str:
    """Place a loaded pipeline for a memory profile; returns what was applied."""
    if device == "cpu":
        pipe.to("cpu")
        return "none (cpu)"
    if profile == "80gb":
        pipe.to(device)
        return "resident"
    if profile == "24gb":
        pipe.enable_model_cpu_offload(device=device)
        return "model_cpu_offload"
    return offload_12gb(pipe, device, dtype, use_stream=True)


def offload_12gb(pipe: Any, device: str, dtype: Any, use_stream: bool) -> str:
    """The 12gb profile: transformer weights stored as fp8 and up-cast to `dtype` layer by
    layer, every component group-offloaded to the CPU block by block (CUDA streams prefetch
    the next block while one computes). Also runs on the CPU without streams (tests)."""
    import torch

    applied = []
    for attr in ("transformer", "transformer_2"):
        module = getattr(pipe, attr, None)
        if module is not None and hasattr(module, "enable_layerwise_casting"):
            module.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn,
                                            compute_dtype=dtype)
            applied.append(f"{attr}:fp8_storage")
    pipe.enable_group_offload(onload_device=torch.device(device),
                              offload_device=torch.device("cpu"), offload_type="block_level",
                              num_blocks_per_group=1, use_stream=use_stream)
    applied.append("group_offload" + ("+streams" if use_stream else ""))
    return "+".join(applied)


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


def load_pipeline(source: ModelSource, device: str, options: LoadOptions | None = None
                  ) -> LoadedModel:
    """Load a model's pipeline from its folder or hub id (safetensors only) and place it."""
    started = time.perf_counter()
    dtype = torch_dtype(source.entry.dtype, device)
    cls = _pipeline_class(source.entry.kind)
    where: Any = source.folder if source.folder is not None else source.hub_id
    kwargs: dict[str, Any] = {"use_safetensors": True, "dtype": dtype}
    if source.folder is None and source.entry.revision:
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
    placement = apply_memory_profile(pipe, source.entry.memory_profile, device, dtype)
    done = apply_options(pipe, options or LoadOptions.of(source.entry), source.name)
    return LoadedModel(source, pipe, device, str(dtype).replace("torch.", ""), placement, done,
                       time.perf_counter() - started)


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
                 options: LoadOptions | None = None):
        self.production = production
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
        model = load_pipeline(source, device, self.options)
        model.lora_loads, model.lora_unloads = self.lora_loads, self.lora_unloads
        self.loads[name] += 1
        self.loaded[name] = model
        log.info("loaded model %s from %s in %.1f s (%s)", name, source.location,
                 model.load_seconds, model.placement)
        return model

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
