"""LoRAs trained elsewhere: import (ComfyUI / musubi-tuner / diffusion-pipe / diffusers keys)
and export to ComfyUI's key format.

Import goes through diffusers' own converters (`WanPipeline.lora_state_dict` recognises
`diffusion_model.*` keys — ComfyUI, diffusion-pipe, original Wan — and `lora_unet_*` keys —
musubi-tuner — and folds their `.alpha` into the weights), then the converted weights are saved
as the character's next `vN.safetensors` in diffusers keys and registered in the cast file, so
the final tier loads every LoRA the same way.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from render_engine.atomic import atomic_path, write_text_atomic
from render_engine.bible import Production
from render_engine.cast.workspace import Workspace, next_lora_path, register_lora
from render_engine.errors import SoloreelError

DIFFUSERS_TO_WAN = (
    ("condition_embedder.time_embedder.linear_1", "time_embedding.0"),
    ("condition_embedder.time_embedder.linear_2", "time_embedding.2"),
    ("condition_embedder.text_embedder.linear_1", "text_embedding.0"),
    ("condition_embedder.text_embedder.linear_2", "text_embedding.2"),
    ("condition_embedder.time_proj", "time_projection.1"),
    ("condition_embedder.image_embedder.ff.net.0.proj", "img_emb.proj.1"),
    ("condition_embedder.image_embedder.ff.net.2", "img_emb.proj.3"),
    ("attn1", "self_attn"), ("attn2", "cross_attn"),
    ("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "o"),
    ("add_k_proj", "k_img"), ("add_v_proj", "v_img"),
    ("ffn.net.0.proj", "ffn.0"), ("ffn.net.2", "ffn.2"),
)
"""diffusers → original Wan (= ComfyUI) module names: the inverse of the rename table of
diffusers' `convert_wan_transformer_to_diffusers` (diffusers/loaders/single_file_utils.py),
matched on whole dotted segments. `proj_out` depends on where it is (`wan_module_name`)."""
COMFYUI_PREFIX = "diffusion_model."
"""ComfyUI's `model_lora_keys_unet` (comfy/lora.py) maps `diffusion_model.<module>` to the
weight `diffusion_model.<module>.weight` of the loaded model; `load_lora` then reads
`<that>.lora_up.weight`, `.lora_down.weight` and `.alpha`."""


def wan_module_name(module: str) -> str:
    """A diffusers WanTransformer3DModel module path → the original Wan / ComfyUI one
    (`blocks.0.attn1.to_q` → `blocks.0.self_attn.q`; `proj_out` → `head.head`; a VACE
    block's `proj_in`/`proj_out` → `before_proj`/`after_proj`)."""
    if module == "proj_out":
        return "head.head"
    if module.startswith("vace_blocks."):
        module = re.sub(r"\.proj_in$", ".before_proj", module)
        module = re.sub(r"\.proj_out$", ".after_proj", module)
    for source, target in DIFFUSERS_TO_WAN:
        module = re.sub(rf"(^|\.){re.escape(source)}(?=\.|$)", rf"\g<1>{target}", module)
    return module


def key_format(state: dict[str, Any]) -> str:
    """"comfyui" (diffusion_model.*), "musubi" (lora_unet_*), "diffusers" (transformer.*) or
    "peft" (bare blocks.*)."""
    keys = list(state)
    if any(k.startswith("diffusion_model.") for k in keys):
        return "comfyui"
    if any(k.startswith("lora_unet_") for k in keys):
        return "musubi"
    if any(k.startswith("transformer.") for k in keys):
        return "diffusers"
    if any(k.startswith("blocks.") for k in keys):
        return "peft"
    raise SoloreelError("unrecognised LoRA keys (e.g. "
                        f"{', '.join(keys[:3]) or 'none'}); expected a Wan LoRA")


def to_diffusers(state: dict[str, Any]) -> dict[str, Any]:
    """Any supported Wan LoRA state dict → diffusers keys (`transformer.blocks.…lora_A…`)."""
    from diffusers import WanPipeline

    kind = key_format(state)
    if kind == "peft":
        state = {f"transformer.{k}": v for k, v in state.items()}
    converted = WanPipeline.lora_state_dict(dict(state))
    out = {(k if k.startswith("transformer.") else f"transformer.{k}"): v.contiguous()
           for k, v in converted.items()}
    if not any("lora_A" in k for k in out):
        raise SoloreelError("the LoRA holds no lora_A/lora_B weights after conversion")
    return out


def to_comfyui(state: dict[str, Any], alpha: float | None = None) -> dict[str, Any]:
    """diffusers-keyed Wan LoRA → ComfyUI keys (`diffusion_model.blocks.0.self_attn.q.
    lora_down.weight`, `lora_up`, and `.alpha` = rank unless given, so ComfyUI's scale
    alpha/rank is 1: soloreel's LoRAs carry their alpha/rank folded into lora_B)."""
    import torch

    out: dict[str, Any] = {}
    for key, value in state.items():
        body = key.removeprefix("transformer.")
        for part in ("lora_A", "lora_B"):
            marker = f".{part}.weight"
            if not body.endswith(marker):
                continue
            module = COMFYUI_PREFIX + wan_module_name(body[: -len(marker)])
            name = "lora_down" if part == "lora_A" else "lora_up"
            out[f"{module}.{name}.weight"] = value.contiguous()
            if part == "lora_A":
                out[f"{module}.alpha"] = torch.tensor(float(alpha or value.shape[0]))
    if not out:
        raise SoloreelError("the LoRA holds no lora_A/lora_B weights to export")
    return out


EXPORT_FORMATS = ("comfyui", "diffusers")


def export_state(state: dict[str, Any], fmt: str) -> dict[str, Any]:
    """Any supported Wan LoRA state dict in `fmt`: "comfyui" (ComfyUI's LoraLoader and Wan
    loaders) or "diffusers" (`WanPipeline.load_lora_weights`)."""
    if fmt not in EXPORT_FORMATS:
        raise SoloreelError(f"unknown LoRA format {fmt}; {' or '.join(EXPORT_FORMATS)}")
    converted = to_diffusers(state) if key_format(state) != "diffusers" else dict(state)
    return to_comfyui(converted) if fmt == "comfyui" else converted


def save_export(state: dict[str, Any], target: Path, fmt: str) -> Path:
    """Write `state` converted to `fmt` to `target` (safetensors, atomically)."""
    from safetensors.torch import save_file

    converted = export_state(state, fmt)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        save_file({k: v.contiguous() for k, v in converted.items()}, str(tmp),
                  metadata={"format": "pt", "soloreel_format": fmt})
    return target


def export_path(lora: Path, character: str, fmt: str) -> Path:
    """Default name of an export beside the LoRA: cast/NAME/lora/NAME_vN_<fmt>.safetensors
    (the character in the name: ComfyUI lists every LoRA in one folder)."""
    return lora.with_name(f"{character}_{lora.stem}_{fmt}.safetensors")


def export_lora(production: Production, name: str, fmt: str, target: Path | None = None
                ) -> tuple[Path, int]:
    """Export the character's registered LoRA (cast/NAME.toml `lora.path`) in `fmt`;
    returns (written file, tensor count). A character without a LoRA, or a LoRA file that is
    missing or unreadable, is a SoloreelError naming the character and the fix."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    member = production.member(name)
    if member.lora is None:
        raise SoloreelError(f"{member.name} has no LoRA to export; train one (`soloreel cast "
                            f"train {member.name}`) or import one (`soloreel cast lora "
                            f"{member.name} FILE`)")
    source = production.cast_file(member, member.lora.path)
    try:
        state = load_file(str(source))
    except (OSError, SafetensorError) as exc:
        raise SoloreelError(f"LoRA of {member.name} ({source}) cannot be read ({exc}); fix "
                            f"lora.path in cast/{member.name}.toml") from exc
    target = target or export_path(source, member.name, fmt)
    save_export(state, target, fmt)
    return target, len(export_state(state, fmt))


def import_lora(production: Production, name: str, path: Path, weight: float = 1.0
                ) -> tuple[Path, str]:
    """Convert a LoRA file to diffusers keys, save it as the character's next version and
    register it; returns (saved path, detected format)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save_file

    member = production.member(name)
    if Path(path).suffix != ".safetensors":
        raise SoloreelError(f"{path}: soloreel imports .safetensors LoRAs only (a .pt/.ckpt "
                            "can run code when loaded); convert it first")
    try:
        state = load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise SoloreelError(f"{path}: not a readable safetensors file ({exc})") from exc
    kind = key_format(state)
    try:
        converted = to_diffusers(state)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise SoloreelError(f"{path}: {kind} LoRA cannot be converted: {type(exc).__name__}: "
                            f"{str(exc).splitlines()[0][:160]}") from exc
    workspace = Workspace(production, member.name)
    target = next_lora_path(workspace)
    with atomic_path(target) as tmp:
        save_file(converted, str(tmp), metadata={"format": "pt"})
    write_text_atomic(target.with_suffix(".json"), json.dumps(
        {"character": member.name, "imported_from": str(path), "format": kind,
         "tensors": len(converted)}, indent=2) + "\n")
    register_lora(workspace, target, weight)
    return target, kind
