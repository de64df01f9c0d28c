"""Tiny random Wan pipelines for the final tier's tests (built locally, never downloaded).

The component configs are diffusers' own test configs (REFERENCE.md); the text encoder is a
UMT5 built from a config and the tokenizer a WordLevel vocabulary made with `tokenizers`.
Everything is saved with `save_pretrained` (safetensors) so the registry loads it the way it
loads real weights.
"""

from __future__ import annotations

from pathlib import Path

WORDS = (
    "<pad>", "</s>", "<unk>", "a", "the", "of", "and", "in", "on", "at", "with", "man", "woman",
    "yard", "day", "night", "sits", "stands", "walks", "talks", "cinematic", "shot", "angle",
    "eye", "lighting", "ms", "mcu", "ws", "JaneTrigger", "JohnTrigger",
)
TRANSFORMER = {"patch_size": (1, 2, 2), "num_attention_heads": 2, "attention_head_dim": 12,
               "in_channels": 16, "out_channels": 16, "text_dim": 32, "freq_dim": 256,
               "ffn_dim": 32, "num_layers": 2, "cross_attn_norm": True,
               "qk_norm": "rms_norm_across_heads", "rope_max_seq_len": 32}


def _shared(seed: int):
    import torch
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, UMT5Config, UMT5EncoderModel

    torch.manual_seed(seed)
    vocab = {word: index for index, word in enumerate(WORDS)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>",
                                        eos_token="</s>", unk_token="<unk>")
    text_encoder = UMT5EncoderModel(UMT5Config(
        vocab_size=len(WORDS), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=16))
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    scheduler = FlowMatchEulerDiscreteScheduler(shift=7.0)
    return {"tokenizer": tokenizer, "text_encoder": text_encoder, "vae": vae,
            "scheduler": scheduler}


def build_t2v(folder: Path, seed: int = 0) -> Path:
    """A tiny WanPipeline saved into `folder`."""
    from diffusers import WanPipeline, WanTransformer3DModel

    parts = _shared(seed)
    WanPipeline(transformer=WanTransformer3DModel(**TRANSFORMER), **parts).save_pretrained(
        folder, safe_serialization=True)
    return folder


def build_vace(folder: Path, seed: int = 0) -> Path:
    """A tiny WanVACEPipeline saved into `folder`."""
    from diffusers import WanVACEPipeline, WanVACETransformer3DModel

    parts = _shared(seed)
    config = {**TRANSFORMER, "num_layers": 3, "vace_layers": [0, 2], "vace_in_channels": 96}
    WanVACEPipeline(transformer=WanVACETransformer3DModel(**config), **parts).save_pretrained(
        folder, safe_serialization=True)
    return folder


def build_i2v(folder: Path, seed: int = 0) -> Path:
    """A tiny Wan 2.1 WanImageToVideoPipeline (CLIP image encoder) saved into `folder`."""
    from diffusers import WanImageToVideoPipeline, WanTransformer3DModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    parts = _shared(seed)
    transformer = WanTransformer3DModel(**{**TRANSFORMER, "in_channels": 36, "image_dim": 4})
    encoder = CLIPVisionModel(CLIPVisionConfig(
        hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2,
        image_size=32, intermediate_size=16, patch_size=1))
    WanImageToVideoPipeline(transformer=transformer, image_encoder=encoder,
                            image_processor=CLIPImageProcessor(crop_size=32, size=32),
                            **parts).save_pretrained(folder, safe_serialization=True)
    return folder


def build_lora(model_folder: Path, path: Path, seed: int = 1, scale: float = 0.5) -> Path:
    """A peft LoRA (rank 4 on to_q/to_k/to_v/to_out.0) on a tiny transformer, with random
    non-zero B matrices so it changes the output, saved as diffusers-format safetensors."""
    import json

    import diffusers
    import torch
    from diffusers import WanPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    config = json.loads((model_folder / "transformer" / "config.json").read_text())
    cls = getattr(diffusers, config["_class_name"])  # Wan, VACE or Animate transformer
    transformer = cls.from_pretrained(model_folder / "transformer", use_safetensors=True)
    transformer.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=True,
                                       target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in transformer.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)
    state = get_peft_model_state_dict(transformer)
    path.parent.mkdir(parents=True, exist_ok=True)
    WanPipeline.save_lora_weights(path.parent, transformer_lora_layers=state,
                                  weight_name=path.name, safe_serialization=True)
    return path


ANIMATE_FACE_SIZE = 16
"""The tiny animate transformer's motion-encoder input size (the real model's is 512)."""


def build_animate(folder: Path, seed: int = 0) -> Path:
    """A tiny Wan 2.2 Animate pipeline (WanAnimatePipeline: CLIP image encoder, motion and
    face encoders at a 16 px face size) saved into `folder`. Sizes follow diffusers'
    tests/pipelines/wan/test_wan_animate.py, with the motion encoder's channels shrunk."""
    from diffusers import WanAnimatePipeline, WanAnimateTransformer3DModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    parts = _shared(seed)
    channels = {str(2 ** i): 8 for i in range(2, 11)}
    transformer = WanAnimateTransformer3DModel(
        **{**TRANSFORMER, "in_channels": 36, "image_dim": 4},
        motion_encoder_channel_sizes=channels, motion_encoder_size=ANIMATE_FACE_SIZE,
        motion_style_dim=16, motion_dim=4, motion_encoder_dim=16, face_encoder_hidden_dim=16,
        face_encoder_num_heads=2, inject_face_latents_blocks=1, motion_encoder_batch_size=4)
    encoder = CLIPVisionModel(CLIPVisionConfig(
        hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2,
        image_size=32, intermediate_size=16, patch_size=1))
    WanAnimatePipeline(transformer=transformer, image_encoder=encoder,
                       image_processor=CLIPImageProcessor(crop_size=32, size=32),
                       **parts).save_pretrained(folder, safe_serialization=True)
    return folder
