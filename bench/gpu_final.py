"""Finals on a lent GPU: s/step and peak VRAM per memory profile and mode, against the
published figures and soloreel's own peak estimate.

    python -m bench.gpu_final --model models/Wan2.1-T2V-1.3B-Diffusers
    python -m bench.gpu_final --random 1.3b           # real config, random weights, no files
    python -m bench.gpu_final --model A --model B --profiles 24gb,12gb --steps 10

Each model (a local diffusers folder; or `--random 1.3b`, built from the published config on
the card, since weights are never downloaded) is loaded once per profile through the final
tier's registry (`place_pipeline`: fp8 storage, group offload with CUDA streams, VAE tiling),
then renders one 832×480 shot of 81 frames per mode its kind supports (t2v: t2v and
v2v_refine; vace: vace with a pose control video and a reference; i2v: i2v), from noise
drawn on the CPU. It prints per run: seconds per denoising step, the whole call, the peak
`torch.cuda.max_memory_allocated`, `final.memory`'s estimate and their ratio, and for the
1.3B model the ratio to the Wan 2.1 README's RTX 4090 figure (≈4 min per 5 s clip at 50
steps with CFG ⇒ 4.8 s/step, scaled to this card by dense bf16 TFLOP/s; 8.19 GB peak).
A profile whose estimate does not fit the card's free memory is skipped and said so.
Without a CUDA GPU it says so and exits 0. Not part of `make bench` (bench/__main__.py): it
needs a GPU.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

WIDTH, HEIGHT, FRAMES = 832, 480, 81
PUBLISHED_STEP_4090 = 240.0 / 50
"""Wan 2.1 README: T2V-1.3B, 5 s of 480p in ≈4 min on an RTX 4090 (50 steps, CFG)."""
PUBLISHED_PEAK_GB = 8.19
MODES = {"t2v": ("t2v", "v2v_refine"), "v2v": ("v2v_refine",), "vace": ("vace",),
         "i2v": ("i2v",), "animate": ("animate",)}


def _kind(folder: Path) -> str:
    name = json.loads((folder / "model_index.json").read_text()).get("_class_name", "")
    return {"WanVACEPipeline": "vace", "WanImageToVideoPipeline": "i2v",
            "WanVideoToVideoPipeline": "v2v", "WanAnimatePipeline": "animate"}.get(name, "t2v")


def _random_pipeline(dtype: Any) -> Any:
    """Wan 2.1 T2V-1.3B at its published config with random weights (UMT5-XXL too)."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline
    from diffusers import WanTransformer3DModel as Transformer
    from transformers import AutoTokenizer, UMT5Config, UMT5EncoderModel

    from render_engine.final.memory import UMT5_XXL, WAN_13B

    try:
        tokenizer = AutoTokenizer.from_pretrained("google/umt5-xxl", local_files_only=True)
    except OSError:  # no tokenizer cached on the card's machine: a 3-token stand-in
        from tokenizers import Tokenizer, models, pre_tokenizers
        from transformers import PreTrainedTokenizerFast

        backend = Tokenizer(models.WordLevel({"<pad>": 0, "</s>": 1, "<unk>": 2},
                                             unk_token="<unk>"))
        backend.pre_tokenizer = pre_tokenizers.Whitespace()
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>",
                                            eos_token="</s>", unk_token="<unk>")
    torch.set_default_dtype(dtype)
    try:
        transformer = Transformer(**WAN_13B, eps=1e-6, rope_max_seq_len=1024)
        encoder = UMT5EncoderModel(UMT5Config(**UMT5_XXL))
    finally:
        torch.set_default_dtype(torch.float32)
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction",
                                        use_flow_sigmas=True, flow_shift=3.0)
    return WanPipeline(transformer=transformer, vae=AutoencoderKLWan(), text_encoder=encoder,
                       tokenizer=tokenizer, scheduler=scheduler)


def _load(model: str, dtype: Any) -> tuple[Any, str, Any]:
    """(pipeline on the CPU, kind, memory.PipelineSize)."""
    import torch

    from render_engine.final import memory
    from render_engine.final.registry import _pipeline_class, component_dtypes

    if model == "random-1.3b":
        pipe = _random_pipeline(dtype)
        pipe.vae.to(torch.float32)
        return pipe, "t2v", memory.pipeline_size("Wan2.1-T2V-1.3B", "t2v")
    folder = Path(model)
    kind = _kind(folder)
    pipe = _pipeline_class(kind).from_pretrained(folder, use_safetensors=True,
                                                 dtype=component_dtypes(dtype))
    return pipe, kind, memory.pipeline_size(str(folder), kind, folder)


def _inputs(mode: str, pipe: Any, seed: int) -> dict[str, Any]:
    from PIL import Image

    from render_engine.final.latents import initial_latents, latent_shape
    from render_engine.pose.openpose import draw_poses, standing_pose

    z = pipe.vae.config.z_dim
    if mode == "v2v_refine":
        frames = [Image.new("RGB", (WIDTH, HEIGHT), (90 + i, 110, 140)) for i in range(FRAMES)]
        return {"video": frames, "strength": 0.5}
    refs = 1 if mode in ("vace", "animate") else 0
    out: dict[str, Any] = {"num_frames": FRAMES, "latents": initial_latents(
        seed, latent_shape(WIDTH, HEIGHT, FRAMES, z, refs))}
    if mode == "animate":  # Wan 2.2 Animate: one 81-frame segment, 512² face crops
        poses = [standing_pose((WIDTH / 2, HEIGHT * 0.95), HEIGHT * 0.85, 180.0, i / 16)
                 for i in range(FRAMES)]
        size = int(pipe.transformer.config.motion_encoder_size)
        out.pop("num_frames")
        return out | {"image": Image.new("RGB", (WIDTH, HEIGHT), "white"),
                      "pose_video": [Image.fromarray(draw_poses(WIDTH, HEIGHT, [p]))
                                     for p in poses],
                      "face_video": [Image.new("RGB", (size, size), (200, 160, 140))] * FRAMES,
                      "segment_frame_length": FRAMES}
    if mode == "vace":
        poses = [standing_pose((WIDTH / 2, HEIGHT * 0.95), HEIGHT * 0.85, 180.0, i / 16)
                 for i in range(FRAMES)]
        out |= {"video": [Image.fromarray(draw_poses(WIDTH, HEIGHT, [p])) for p in poses],
                "mask": [Image.new("L", (WIDTH, HEIGHT), 255)] * FRAMES,
                "reference_images": [Image.new("RGB", (WIDTH, HEIGHT), "white")]}
    elif mode == "i2v":
        out["image"] = Image.new("RGB", (WIDTH, HEIGHT), (120, 100, 80))
    return out


def _run(pipe: Any, kind: str, mode: str, steps: int, device: str = "cuda"
         ) -> dict[str, float]:
    """One render; seconds per step (mean of all but the first), total, peak GiB (0 on
    the CPU, where the tests run it)."""
    import torch
    from diffusers import WanVideoToVideoPipeline

    from render_engine.final.latents import cpu_generator

    call = pipe if mode != "v2v_refine" or kind == "v2v" else \
        WanVideoToVideoPipeline.from_pipe(pipe)
    marks: list[float] = []

    cuda = device == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def step_end(_pipe: Any, _step: int, _t: Any, kwargs: dict) -> dict:
        sync()
        marks.append(time.perf_counter())
        return kwargs

    from diffusers import WanPipeline

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    sync()
    started = time.perf_counter()
    # the text through WanPipeline's routine, as the final tier does (the other pipelines'
    # prompt cleaning needs ftfy)
    embeds, negative = (WanPipeline._get_t5_prompt_embeds(pipe, text, 1, 512,
                                                          device=torch.device(device))
                        for text in ("a woman sits by a campfire at night, cinematic",
                                     "blurry"))
    call(prompt_embeds=embeds, negative_prompt_embeds=negative, height=HEIGHT, width=WIDTH,
         num_inference_steps=steps, guidance_scale=5.0, generator=cpu_generator(7),
         output_type="np", callback_on_step_end=step_end,
         **_inputs(mode, pipe, 7))
    sync()
    total = time.perf_counter() - started
    gaps = [b - a for a, b in itertools.pairwise(marks)]
    return {"s_per_step": sum(gaps) / len(gaps) if gaps else total, "seconds": total,
            "steps": len(marks),
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0}


def _gpu_key() -> str:
    import torch

    from render_engine.final.cost import GPU_NAMES

    name = torch.cuda.get_device_name()
    return next((key for marker, key in GPU_NAMES.items() if marker in name), name)


def main(argv: list[str] | None = None) -> int:
    """Run the grid (models × profiles × modes) and print one line per run."""
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_final", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], metavar="FOLDER",
                        help="a local diffusers Wan 2.1 folder (repeatable: 1.3B, 14B…)")
    parser.add_argument("--random", choices=("1.3b",), help="also run Wan 1.3B at its real "
                        "config with random weights (no files needed)")
    parser.add_argument("--profiles", default="80gb,24gb,12gb")
    parser.add_argument("--steps", type=int, default=8, help="denoising steps per render "
                        "(s/step is what is compared; 50 makes a real clip)")
    parser.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float16"))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("bench.gpu_final: torch is not installed (pip install -e .[ml]); nothing run")
        return 0
    if not torch.cuda.is_available():
        print("bench.gpu_final: no CUDA GPU visible; it measures finals on a GPU — run it on "
              "a machine with one (nothing run)")
        return 0
    models = list(args.model) + (["random-1.3b"] if args.random else [])
    if not models:
        parser.error("give --model FOLDER (a local diffusers Wan 2.1 folder) or --random 1.3b")
    from render_engine.final import memory
    from render_engine.final.cost import GPU_TFLOPS
    from render_engine.final.registry import place_pipeline, set_flow_shift

    dtype = getattr(torch, args.dtype)
    gpu = _gpu_key()
    scale = GPU_TFLOPS["rtx4090"] / GPU_TFLOPS.get(gpu, GPU_TFLOPS["rtx4090"])
    print(f"bench.gpu_final on {torch.cuda.get_device_name()} ({gpu}), {WIDTH}x{HEIGHT}x"
          f"{FRAMES}, {args.steps} steps, guidance 5, {args.dtype}")
    results = []
    for model in models:
        for profile in [p.strip() for p in args.profiles.split(",") if p.strip()]:
            pipe, kind, size = _load(model, dtype)
            free = torch.cuda.mem_get_info()[0]
            estimate = memory.estimate_peak(size, memory.Workload(WIDTH, HEIGHT, FRAMES),
                                            profile, args.dtype)
            label = f"{Path(model).name} {profile}"
            if estimate.bytes > free:
                print(f"{label}: skipped (estimate {estimate.gib:.1f} GiB > "
                      f"{free / 2**30:.1f} GiB free)")
                del pipe
                continue
            placed = place_pipeline(pipe, profile, "cuda", dtype, use_stream=True)
            pipe.set_progress_bar_config(disable=True)
            set_flow_shift(pipe, WIDTH, HEIGHT)
            small = size.transformer.params < 2e9
            for mode in MODES[kind]:
                try:
                    run = _run(pipe, kind, mode, args.steps)
                except torch.cuda.OutOfMemoryError:
                    print(f"{label} {mode}: out of memory (estimate {estimate.gib:.1f} GiB)")
                    torch.cuda.empty_cache()
                    continue
                run |= {"model": model, "profile": profile, "mode": mode, "placed": placed,
                        "estimate_gib": estimate.gib,
                        "measured_over_estimate": run["peak_gib"] / estimate.gib}
                line = (f"{label} {mode}: {run['s_per_step']:.2f} s/step, "
                        f"{run['seconds']:.0f} s, peak {run['peak_gib']:.2f} GiB (estimate "
                        f"{estimate.gib:.2f}, ×{run['measured_over_estimate']:.2f})")
                if small and mode == "t2v":
                    published = PUBLISHED_STEP_4090 * scale
                    run |= {"step_over_published": run["s_per_step"] / published,
                            "peak_over_published": run["peak_gib"] * 2**30 / 1e9
                            / PUBLISHED_PEAK_GB}
                    line += (f"; ×{run['step_over_published']:.2f} the published s/step "
                             f"({published:.2f} scaled from the 4090), peak "
                             f"×{run['peak_over_published']:.2f} of 8.19 GB")
                print(line, flush=True)
                results.append(run)
            del pipe
            import gc

            gc.collect()
            torch.cuda.empty_cache()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
