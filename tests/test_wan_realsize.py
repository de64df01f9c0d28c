"""Wan 2.1 1.3B at its real size (random weights) on the CPU: LoRA keys, fp8 storage and
every memory profile's CPU-runnable part.

Tiny test configs hide bugs that only real shapes and dtypes show, so this builds the 1.3B
transformer at its published config (1536 wide, 30 blocks of 12×128 heads, ffn 8960,
text_dim 4096; 1.42 B parameters, in bf16 as the weights ship) and diffusers' default
AutoencoderKLWan (the real Wan VAE config), from configs — nothing is downloaded — and a
one-layer UMT5 with the real hidden size 4096 (the XXL body changes no shape the
transformer sees). On it:

- a rank-4 LoRA on all 240 attention projections loads through diffusers' own loader into
  the real module names, its ComfyUI export maps every key onto the real-size ComfyUI Wan
  state dict, and after fp8 storage a LoRA still loads in the compute dtype;
- each memory profile (80gb / 24gb / 12gb, with a CPU onload device: only the CUDA streams
  are left out) runs the real pipeline call — text encoder, transformer, scheduler, VAE in
  fp32 — with a character LoRA and the draft LoRA active, 1 step at 32×32 px × 5 frames.

A full 30-block forward takes ~0.5 s on an idle 2-core machine but over a minute when the
machine is shared, so the pipeline runs use the real model cut to its first block (the real
weights of that block, the embeddings and the head): every width, dtype and key is real,
only the depth is not. Marked slow: 70 s of CPU time in all (the build is most of it), so
about 1.2 min on an idle 2-core machine — 4.6 min measured with the dev machine's two cores
shared four ways (load 9); 5.7 GB peak RSS.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")

from render_engine.cast.lora_io import to_comfyui  # noqa: E402
from render_engine.final import memory  # noqa: E402
from render_engine.final.registry import (  # noqa: E402
    enable_fp8_storage,
    place_pipeline,
    set_flow_shift,
)
from tests.final_fixtures import WORDS  # noqa: E402
from tests.test_cast_export import _comfy_load, comfy_wan_names  # noqa: E402

pytestmark = [pytest.mark.ml, pytest.mark.slow]
RANK = 4
TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
FP8 = torch.float8_e4m3fn


def _transformer(layers: int) -> Any:
    from diffusers import WanTransformer3DModel

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # built at half the memory, as the weights ship
    try:
        return WanTransformer3DModel(**{**memory.WAN_13B, "num_layers": layers}, eps=1e-6,
                                     rope_max_seq_len=1024)
    finally:
        torch.set_default_dtype(previous)


def _lora(layers: int, seed: int, scale: float) -> dict[str, Any]:
    """A rank-4 LoRA on every attention projection, diffusers keys (`transformer.blocks…`)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for index in range(layers):
        for attention in ("attn1", "attn2"):
            for target in TARGETS:
                key = f"transformer.blocks.{index}.{attention}.{target}"
                state[f"{key}.lora_A.weight"] = torch.randn(RANK, 1536, generator=generator) / 40
                state[f"{key}.lora_B.weight"] = torch.randn(1536, RANK,
                                                            generator=generator) * scale
    return state


@pytest.fixture(scope="module")
def real() -> dict[str, Any]:
    """The full 1.3B transformer, its first block cut out (weights copied), the VAE and a
    text encoder/tokenizer with the real hidden size."""
    from diffusers import AutoencoderKLWan
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, UMT5Config, UMT5EncoderModel

    started = time.perf_counter()
    torch.manual_seed(0)
    full = _transformer(30)
    cut = _transformer(1)
    wanted = cut.state_dict()
    cut.load_state_dict({k: v for k, v in full.state_dict().items() if k in wanted})
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)},
                                        unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>",
                                        eos_token="</s>", unk_token="<unk>")
    encoder = UMT5EncoderModel(UMT5Config(
        vocab_size=len(WORDS), d_model=4096, d_kv=64, d_ff=256, num_layers=1, num_heads=4,
        relative_attention_num_buckets=32)).to(torch.bfloat16)
    print(f"real-size components built in {time.perf_counter() - started:.1f} s")
    return {"full": full, "cut": cut, "vae": AutoencoderKLWan(), "encoder": encoder,
            "tokenizer": tokenizer}


def test_real_size_parameters_and_estimates(real) -> None:
    full = real["full"]
    assert sum(p.numel() for p in full.parameters()) == 1_418_996_800
    assert memory.transformer_size(memory.WAN_13B).params == 1_418_996_800
    assert sum(p.numel() for p in real["vae"].parameters()) == memory.vae_size({})
    peak = memory.estimate_peak(memory.pipeline_size("x/Wan2.1-T2V-1.3B", "t2v"),
                                memory.Workload(), "24gb")
    assert 2 < peak.gib < 8.19 + 1  # below the README's 8.19 GB model-offload figure + 1


def test_real_size_lora_loads_exports_to_comfyui_and_survives_fp8(real) -> None:
    full = real["full"]
    state = _lora(30, seed=1, scale=0.05)
    full.load_lora_adapter({k.removeprefix("transformer."): v for k, v in state.items()},
                           adapter_name="jane", prefix=None)
    injected = {n for n, _ in full.named_parameters() if ".lora_A.jane." in n}
    assert len(injected) == 240  # every projection of every block found its module
    comfy = to_comfyui(state)
    patches, not_loaded = _comfy_load(comfy, comfy_wan_names(memory.WAN_13B))
    assert not_loaded == set() and len(patches) == 240
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    weights = full.state_dict()
    for target, (up, down, _alpha) in patches.items():
        name = next(iter(convert_wan_transformer_to_diffusers(
            {target.removeprefix("diffusion_model."): 0})))
        base = name.replace(".weight", ".base_layer.weight")
        assert (up.shape[0], down.shape[1]) == tuple(weights[base].shape), target
    full.delete_adapters("jane")
    # fp8 storage of the real model: the 10 linears of each block (patch embedding,
    # condition embedder, norms and proj_out stay bf16), then a LoRA in bf16 beside them
    assert enable_fp8_storage(full, torch.bfloat16) == 30 * 10
    assert full.blocks[7].ffn.net[2].weight.dtype == FP8
    assert full.patch_embedding.weight.dtype == torch.bfloat16
    full.load_lora_adapter({k.removeprefix("transformer."): v for k, v in state.items()},
                           adapter_name="again", prefix=None)
    assert {p.dtype for n, p in full.named_parameters() if ".again." in n} == {torch.bfloat16}


@pytest.mark.filterwarnings("ignore:Already found a `peft_config`")
@pytest.mark.parametrize("profile", ["80gb", "24gb", "12gb"])
def test_real_size_pipeline_call_per_profile(real, profile) -> None:
    from diffusers import UniPCMultistepScheduler, WanPipeline

    started = time.perf_counter()
    transformer = copy.deepcopy(real["cut"])
    pipe = WanPipeline(transformer=transformer, vae=copy.deepcopy(real["vae"]),
                       text_encoder=copy.deepcopy(real["encoder"]), tokenizer=real["tokenizer"],
                       scheduler=UniPCMultistepScheduler(prediction_type="flow_prediction",
                                                         use_flow_sigmas=True, flow_shift=3.0))
    pipe.set_progress_bar_config(disable=True)
    placed = place_pipeline(pipe, profile, "cpu", torch.bfloat16, use_stream=False,
                            fp8=profile != "80gb")
    assert placed.startswith("resident" if profile == "80gb" else "transformer:fp8_storage")
    for name, seed, scale in (("jane", 1, 0.05), ("_distill", 2, 0.02)):
        pipe.load_lora_weights(_lora(1, seed, scale), adapter_name=name)
    pipe.set_adapters(["jane", "_distill"], [1.0, 1.0])
    lora = {p.dtype for n, p in transformer.named_parameters() if "lora_" in n}
    assert lora == {torch.bfloat16}
    base = transformer.blocks[0].attn2.to_out[0].base_layer.weight.dtype
    assert base == (torch.bfloat16 if profile == "80gb" else FP8)
    assert pipe.vae.dtype == torch.float32
    set_flow_shift(pipe, 32, 32)
    decode = profile == "12gb"  # the VAE (tiled here) decodes once; the others stop at latents
    with torch.no_grad():
        out = pipe(prompt="a woman sits at night", negative_prompt="day", height=32, width=32,
                   num_frames=5, num_inference_steps=1, guidance_scale=5.0,
                   generator=torch.Generator().manual_seed(3),
                   output_type="np" if decode else "latent")
    frames = np.asarray(out.frames)
    if decode:
        assert frames.shape == (1, 5, 32, 32, 3) and pipe.vae.use_tiling
    else:
        assert frames.shape == (1, 16, 2, 4, 4)
    assert np.isfinite(frames).all() and frames.std() > 0
    print(f"{profile}: {placed}, 1-step call in {time.perf_counter() - started:.1f} s")
