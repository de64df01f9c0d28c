"""`soloreel cast export`: LoRAs for ComfyUI (its Wan key names) and for diffusers.

ComfyUI has no wheel here, so its side is written down from its source and checked against
a second upstream: `comfy/ldm/wan/model.py` (comfyanonymous/ComfyUI) builds WanModel with
`blocks.N.self_attn.{q,k,v,o,norm_q,norm_k}`, `blocks.N.cross_attn.…` (+ `k_img`, `v_img`,
`norm_k_img` for i2v), `norm3` (the cross-attention norm), `ffn.0`/`ffn.2`, `modulation`,
`head.head`, `head.modulation`, the embeddings, `img_emb.proj.*` and VACE's `before_proj` /
`after_proj`; `comfy_wan_names` lists that state dict for a config, and the test first proves
it is right by running diffusers' own converter (`convert_wan_transformer_to_diffusers`)
over it and getting exactly the diffusers model's state dict. ComfyUI's `model_lora_keys_unet`
(comfy/lora.py) maps `diffusion_model.<module>` to the weight `diffusion_model.<module>.weight`
for every weight of the model, and `load_lora` reads `<key>.lora_up.weight`,
`<key>.lora_down.weight` and `<key>.alpha`, warning "lora key not loaded" for anything else.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest
import tomli_w

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")

from render_engine.bible import load_production  # noqa: E402
from render_engine.cast.lora_io import key_format, to_comfyui  # noqa: E402
from render_engine.cli import main  # noqa: E402
from tests.final_fixtures import TRANSFORMER, build_lora, build_t2v  # noqa: E402

pytestmark = pytest.mark.ml
I2V = {**TRANSFORMER, "in_channels": 36, "image_dim": 4, "added_kv_proj_dim": 24}
VACE = {**TRANSFORMER, "num_layers": 3, "vace_layers": [0, 2], "vace_in_channels": 96}


def _linear(prefix: str) -> list[str]:
    return [f"{prefix}.weight", f"{prefix}.bias"]


def _block(prefix: str, i2v: bool) -> list[str]:
    names = []
    for attn in ("self_attn", "cross_attn"):
        for layer in ("q", "k", "v", "o"):
            names += _linear(f"{prefix}.{attn}.{layer}")
        names += [f"{prefix}.{attn}.norm_q.weight", f"{prefix}.{attn}.norm_k.weight"]
    if i2v:
        names += (_linear(f"{prefix}.cross_attn.k_img") + _linear(f"{prefix}.cross_attn.v_img")
                  + [f"{prefix}.cross_attn.norm_k_img.weight"])
    names += _linear(f"{prefix}.norm3") + _linear(f"{prefix}.ffn.0") + _linear(f"{prefix}.ffn.2")
    return [*names, f"{prefix}.modulation"]


def comfy_wan_names(config: dict) -> list[str]:
    """The state dict names of ComfyUI's WanModel (comfy/ldm/wan/model.py) for a config."""
    i2v = bool(config.get("image_dim"))
    names = (_linear("patch_embedding") + _linear("text_embedding.0")
             + _linear("text_embedding.2") + _linear("time_embedding.0")
             + _linear("time_embedding.2") + _linear("time_projection.1")
             + _linear("head.head") + ["head.modulation"])
    for index in range(config["num_layers"]):
        names += _block(f"blocks.{index}", i2v)
    if i2v:
        names += (_linear("img_emb.proj.0") + _linear("img_emb.proj.1")
                  + _linear("img_emb.proj.3") + _linear("img_emb.proj.4"))
    for index, _layer in enumerate(config.get("vace_layers") or []):
        names += _block(f"vace_blocks.{index}", i2v) + _linear(f"vace_blocks.{index}.after_proj")
        if index == 0:
            names += _linear("vace_blocks.0.before_proj")
    if config.get("vace_layers"):
        names += _linear("vace_patch_embedding")
    return names


def _diffusers_model(config: dict):
    from diffusers import WanTransformer3DModel, WanVACETransformer3DModel

    cls = WanVACETransformer3DModel if "vace_layers" in config else WanTransformer3DModel
    torch.manual_seed(0)
    return cls(**config)


@pytest.mark.parametrize("config", [TRANSFORMER, I2V, VACE], ids=["t2v", "i2v", "vace"])
def test_comfy_names_are_what_diffusers_converts_from(config) -> None:
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    names = comfy_wan_names(config)
    converted = convert_wan_transformer_to_diffusers({n: torch.zeros(1) for n in names})
    assert set(converted) == set(_diffusers_model(config).state_dict())


def _peft_lora(config: dict, targets: list[str]) -> dict:
    """A random rank-4 LoRA on the tiny transformer (diffusers keys, lora_B non-zero)."""
    from diffusers import WanPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    model = _diffusers_model(config)
    model.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=targets))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_()
    state = get_peft_model_state_dict(model)
    return dict(WanPipeline.lora_state_dict({f"transformer.{k}": v for k, v in state.items()}))


def _comfy_load(lora: dict, model_names: list[str]) -> tuple[dict, set]:
    """ComfyUI's model_lora_keys_unet generic entries + load_lora's key reading: (patches by
    model weight, keys it did not load)."""
    key_map = {f"diffusion_model.{n[:-len('.weight')]}": f"diffusion_model.{n}"
               for n in model_names if n.endswith(".weight")}
    patches, loaded = {}, set()
    for prefix, weight in key_map.items():
        up, down, alpha = (f"{prefix}.lora_up.weight", f"{prefix}.lora_down.weight",
                           f"{prefix}.alpha")
        if up in lora:
            patches[weight] = (lora[up], lora[down], float(lora[alpha]))
            loaded |= {up, down, alpha}
    return patches, set(lora) - loaded


@pytest.mark.parametrize("config, targets", [
    (TRANSFORMER, ["to_q", "to_k", "to_v", "to_out.0"]),
    (I2V, ["to_q", "to_out.0", "add_k_proj", "add_v_proj", "ffn.net.0.proj", "ffn.net.2"]),
    (VACE, ["to_q", "to_v", "proj_in", "proj_out"]),
], ids=["t2v", "i2v", "vace"])
def test_every_exported_key_maps_to_a_comfyui_wan_weight(config, targets) -> None:
    state = _peft_lora(config, targets)
    comfy = to_comfyui(state)
    assert key_format(comfy) == "comfyui"
    names = comfy_wan_names(config)
    patches, not_loaded = _comfy_load(comfy, names)
    assert not_loaded == set()  # ComfyUI would log "lora key not loaded" for these
    assert len(patches) == sum(1 for k in state if ".lora_A." in k)  # every module made it
    # each patch fits the weight it lands on (shapes through diffusers' converter)
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    weights = _diffusers_model(config).state_dict()
    for target, (up, down, alpha) in patches.items():
        name = target.removeprefix("diffusion_model.")
        diffusers_name = next(iter(convert_wan_transformer_to_diffusers({name: 0})))
        assert (up.shape[0], down.shape[1]) == tuple(weights[diffusers_name].shape), target
        assert alpha == down.shape[0]  # alpha = rank: ComfyUI's scale is 1
    if config is TRANSFORMER:
        assert "diffusion_model.blocks.1.self_attn.q.lora_down.weight" in comfy
        assert "diffusion_model.blocks.0.cross_attn.o.lora_up.weight" in comfy


def _production(root: Path, model: Path, lora: Path | None) -> Path:
    settings = tomllib.loads((root / "soloreel.toml").read_text())
    settings["models"] = {"tiny": {"source": str(model), "kind": "t2v", "dtype": "float32"}}
    (root / "soloreel.toml").write_text(tomli_w.dumps(settings))
    if lora is not None:
        (root / "cast" / "jane" / "lora").mkdir(parents=True, exist_ok=True)
        shutil.copy(lora, root / "cast" / "jane" / "lora" / "v3.safetensors")
        cast = tomllib.loads((root / "cast" / "jane.toml").read_text())
        cast["lora"] = {"path": "jane/lora/v3.safetensors", "weight": 1.0}
        (root / "cast" / "jane.toml").write_text(tomli_w.dumps(cast))
    return root


def _lora_weights(pipe) -> dict:
    return {k: v.detach().clone() for k, v in pipe.transformer.state_dict().items()
            if "lora_" in k}


def test_cli_exports_both_formats_and_both_load_through_diffusers(tiny_production, tmp_path,
                                                                 capsys) -> None:
    from diffusers import WanPipeline
    from safetensors.torch import load_file

    model = build_t2v(tmp_path / "t2v")
    original = build_lora(model, tmp_path / "jane.safetensors")
    root = _production(tiny_production, model, original)
    assert main(["cast", "export", "jane", "-p", str(root)]) == 0
    out = capsys.readouterr().out
    comfy = root / "cast" / "jane" / "lora" / "jane_v3_comfyui.safetensors"
    assert comfy.is_file() and "comfyui keys, 48 tensors" in out and "ComfyUI/models/loras" in out
    mine = tmp_path / "out" / "jane_diffusers.safetensors"
    assert main(["cast", "export", "jane", "--format", "diffusers", "-o", str(mine),
                 "-p", str(root)]) == 0
    assert set(load_file(str(mine))) == set(load_file(str(original)))

    weights = {}
    outputs = {}
    for name, path in (("original", original), ("comfyui", comfy), ("diffusers", mine)):
        pipe = WanPipeline.from_pretrained(model, use_safetensors=True, dtype=torch.float32)
        pipe.load_lora_weights(str(path), adapter_name="jane")
        weights[name] = _lora_weights(pipe)
        torch.manual_seed(0)
        latents = torch.randn(1, 16, 2, 4, 4)
        with torch.no_grad():
            outputs[name] = pipe.transformer(hidden_states=latents, timestep=torch.tensor([500]),
                                             encoder_hidden_states=torch.randn(1, 4, 32),
                                             return_dict=False)[0]
    for name in ("comfyui", "diffusers"):
        assert weights[name].keys() == weights["original"].keys()
        for key, value in weights["original"].items():
            torch.testing.assert_close(weights[name][key], value)
        torch.testing.assert_close(outputs[name], outputs["original"])


def test_export_errors_name_the_character_and_the_fix(tiny_production, tmp_path,
                                                      capsys) -> None:
    model = build_t2v(tmp_path / "t2v")
    root = _production(tiny_production, model, None)
    assert main(["cast", "export", "jane", "-p", str(root)]) == 1
    err = capsys.readouterr().err
    assert "jane has no LoRA to export" in err and "soloreel cast train jane" in err
    assert "Traceback" not in err
    root = _production(tiny_production, model, build_lora(model, tmp_path / "j.safetensors"))
    (root / "cast" / "jane" / "lora" / "v3.safetensors").write_bytes(b"not safetensors")
    assert main(["cast", "export", "jane", "-p", str(root)]) == 1
    err = capsys.readouterr().err
    assert "LoRA of jane" in err and "cannot be read" in err and "lora.path" in err
    assert main(["cast", "export", "jane", "-o", str(tmp_path / "x.pt"), "-p", str(root)]) == 1
    assert "name it x.safetensors" in capsys.readouterr().err
    assert load_production(root).member("jane").lora is not None
