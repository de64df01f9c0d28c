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
from pathlib import Path
from typing import Any

from render_engine.atomic import atomic_path, write_text_atomic
from render_engine.bible import Production
from render_engine.cast.workspace import Workspace, next_lora_path, register_lora
from render_engine.errors import SoloreelError

DIFFUSERS_TO_WAN = {"attn1": "self_attn", "attn2": "cross_attn", "to_q": "q", "to_k": "k",
                    "to_v": "v", "to_out.0": "o", "ffn.net.0.proj": "ffn.0",
                    "ffn.net.2": "ffn.2"}


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
    lora_down.weight`, `lora_up`, and `.alpha` = rank unless given)."""
    import torch

    out: dict[str, Any] = {}
    for key, value in state.items():
        body = key.removeprefix("transformer.")
        for part in ("lora_A", "lora_B"):
            marker = f".{part}.weight"
            if not body.endswith(marker):
                continue
            module = body[: -len(marker)]
            for source, target in DIFFUSERS_TO_WAN.items():
                module = module.replace(f".{source}", f".{target}")
            name = "lora_down" if part == "lora_A" else "lora_up"
            out[f"diffusion_model.{module}.{name}.weight"] = value
            if part == "lora_A":
                rank = value.shape[0]
                out[f"diffusion_model.{module}.alpha"] = torch.tensor(float(alpha or rank))
    return out


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
