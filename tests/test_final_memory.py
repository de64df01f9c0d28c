"""Memory profiles on the CPU with tiny random Wan pipelines, and the peak-memory model.

The profiles' storage and offload hooks are installed on the CPU (onload device "cpu", no
streams) exactly as on a GPU, so what a test sees here — which hooks, which dtypes, whether
a LoRA or a draft renders — is what a card gets; only the CUDA streams are left out. The
estimates are checked against parameter counts of the modules built on the meta device.
"""

from __future__ import annotations

import dataclasses
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest
import tomli_w

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")

from render_engine.bible import ModelEntry, load_production  # noqa: E402
from render_engine.cache import RenderCache  # noqa: E402
from render_engine.final import memory  # noqa: E402
from render_engine.final import shot as shot_module  # noqa: E402
from render_engine.final.plan import plan_final  # noqa: E402
from render_engine.final.quality import with_quality  # noqa: E402
from render_engine.final.registry import (  # noqa: E402
    ModelRegistry,
    drop_shared,
    flow_shift_for,
    place_pipeline,
)
from render_engine.render import RenderJob, plan_shot  # noqa: E402
from render_engine.timeline_io import iter_shots  # noqa: E402
from tests.conftest import make_clip, make_timeline, spec_dict  # noqa: E402
from tests.final_fixtures import TRANSFORMER, build_lora, build_t2v  # noqa: E402

pytestmark = pytest.mark.ml
SIZE = 32
FP8 = torch.float8_e4m3fn


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-wan-memory")
    built = {"t2v": build_t2v(root / "t2v")}
    built["lora"] = build_lora(root / "t2v", root / "lora" / "jane.safetensors")
    built["distill"] = build_lora(root / "t2v", root / "lora" / "distill.safetensors", seed=3,
                                  scale=0.3)
    return built


@pytest.fixture(autouse=True)
def _fresh_registry():
    drop_shared()
    yield
    drop_shared()


def _production(root: Path, models: dict[str, Path], profile: str, dtype: str = "float32"
                ) -> Path:
    settings = tomllib.loads((root / "soloreel.toml").read_text())
    settings["tiers"]["final"] = {"width": SIZE, "height": SIZE, "steps": 2, "model": "wan"}
    (root / "models").mkdir(exist_ok=True)
    shutil.copy(models["distill"], root / "models" / "distill.safetensors")
    settings["models"] = {"wan": {"source": str(models["t2v"]), "kind": "t2v", "dtype": dtype,
                                  "memory_profile": profile,
                                  "draft_lora": "models/distill.safetensors"}}
    (root / "soloreel.toml").write_text(tomli_w.dumps(settings))
    shutil.copy(models["lora"], root / "cast" / "jane" / "lora.safetensors")
    cast = tomllib.loads((root / "cast" / "jane.toml").read_text())
    cast["lora"] = {"path": "jane/lora.safetensors", "weight": 1.0}
    (root / "cast" / "jane.toml").write_text(tomli_w.dumps(cast))
    return root


def _render(root: Path, registry: ModelRegistry, quality: str = "full",
            loras: bool = True) -> np.ndarray:
    production = with_quality(load_production(root), quality)
    assert not production.problems, production.problems
    timeline = make_timeline([make_clip(spec_dict("m-1", dialog=[]), "SHOT", 8)])
    cache = RenderCache(production.renders_dir())
    plan = plan_shot(next(iter(iter_shots(timeline))), production, cache, "final")
    settings = production.settings.tier("final")
    job = RenderJob(spec=plan.spec, production=production, tier="final", first=plan.first,
                    end=plan.end, fps=24, width=settings.width, height=settings.height,
                    out_path=root / "out.mp4", label=plan.ref.label, shown=plan.shown)
    final = plan_final(job.spec, production)
    if not loras:
        final = dataclasses.replace(final, loras=())
    registry.production = production
    return shot_module.render_frames(job, final, registry, retime_method="blend").frames


def _lora_dtypes(transformer) -> set:
    return {p.dtype for n, p in transformer.named_parameters() if "lora_" in n}


@pytest.mark.parametrize("profile", ["12gb", "24gb"])
def test_fp8_storage_takes_character_loras_and_drafts(tiny_production, models, profile,
                                                      monkeypatch) -> None:
    """The issue's crash: fp8 storage, then a LoRA → peft made the LoRA weights fp8 and the
    matmul failed (`mul_cpu_reduced_float` not implemented for Float8_e4m3fn). 24gb stores
    8B+ models in fp8: the tiny model counts as one here."""
    monkeypatch.setattr(memory, "FP8_IN_24GB_PARAMS", 1)
    root = _production(tiny_production, models, "80gb")
    plain = _render(root, ModelRegistry(load_production(root)), loras=False)
    styled = _render(root, ModelRegistry(load_production(root)))
    root = _production(tiny_production, models, profile)
    registry = ModelRegistry(load_production(root), profile_on_cpu=True)
    stored = _render(root, registry)
    transformer = registry.get("wan").pipe.transformer
    assert registry.get("wan").profile == profile
    # the base weights are fp8 in storage, the adapters in the compute dtype
    assert transformer.blocks[0].attn1.to_q.base_layer.weight.dtype == FP8
    assert _lora_dtypes(transformer) == {torch.float32}
    assert stored.shape == styled.shape
    # the LoRA is applied: the fp8 render is much nearer the LoRA render than the plain one
    near = np.abs(stored.astype(int) - styled.astype(int)).mean()
    far = np.abs(stored.astype(int) - plain.astype(int)).mean()
    assert near < far, (near, far)
    draft = _render(root, registry, quality="draft")  # the distilled LoRA beside jane's
    assert draft.shape == stored.shape and not np.array_equal(draft, stored)
    assert _lora_dtypes(transformer) == {torch.float32}


def test_bf16_compute_keeps_loras_in_bf16_under_fp8_storage(tiny_production, models) -> None:
    root = _production(tiny_production, models, "12gb", dtype="bfloat16")
    registry = ModelRegistry(load_production(root), profile_on_cpu=True)
    frames = _render(root, registry)
    model = registry.get("wan")
    assert frames.shape[1:] == (SIZE, SIZE, 3) and frames.std() > 0
    assert _lora_dtypes(model.pipe.transformer) == {torch.bfloat16}
    assert model.pipe.vae.dtype == torch.float32  # the VAE decodes in fp32 (Wan examples)
    assert model.pipe.text_encoder.dtype == torch.bfloat16


def _hooks(module) -> set[str]:
    found = set()
    for layer in module.modules():
        registry = getattr(layer, "_diffusers_hook", None)
        if registry is not None:
            found |= set(registry.hooks)
    return found


def test_each_profile_installs_its_hooks(models) -> None:
    from diffusers import WanPipeline

    seen = {}
    for profile in ("80gb", "24gb", "12gb"):
        pipe = WanPipeline.from_pretrained(models["t2v"], use_safetensors=True,
                                           dtype=torch.float32)
        seen[profile] = place_pipeline(pipe, profile, "cpu", torch.float32, use_stream=False)
        hooks = _hooks(pipe.transformer)
        fp8 = {p.dtype for p in pipe.transformer.parameters()} & {FP8}
        if profile == "80gb":
            assert hooks == set() and not fp8 and not pipe.vae.use_tiling
        elif profile == "24gb":  # a tiny model: group offload, no fp8 (that is for 8B+)
            assert any("group_offloading" in h for h in hooks), hooks
            assert "layerwise_casting" not in hooks and not fp8
            assert not pipe.vae.use_tiling
        else:
            assert "layerwise_casting" in hooks and fp8
            assert any("group_offloading" in h for h in hooks), hooks
            assert pipe.vae.use_tiling and pipe.vae.use_slicing
            # norms and embeddings stay in the compute dtype (diffusers' skip patterns)
            assert pipe.transformer.patch_embedding.weight.dtype == torch.float32
            assert pipe.transformer.blocks[0].ffn.net[2].weight.dtype == FP8
        assert _hooks(pipe.text_encoder) == (set() if profile == "80gb" else _hooks(
            pipe.text_encoder))
    assert seen == {"80gb": "resident", "24gb": "group_offload:block_level",
                    "12gb": "transformer:fp8_storage+group_offload:leaf_level"
                            "+vae_tiling+slicing"}
    pipe = WanPipeline.from_pretrained(models["t2v"], use_safetensors=True, dtype=torch.float32)
    forced = place_pipeline(pipe, "24gb", "cpu", torch.float32, use_stream=False, fp8=True)
    assert forced.startswith("transformer:fp8_storage+group_offload:block_level")


def test_auto_picks_the_profile_from_the_free_memory(tiny_production, models) -> None:
    root = _production(tiny_production, models, "auto")
    asked: list[str] = []

    def free(device: str) -> int:
        asked.append(device)
        return 10**12

    registry = ModelRegistry(load_production(root), profile_on_cpu=True, free_bytes=free)
    assert registry.get("wan").profile == "80gb" and asked == ["cpu"]
    tight = ModelRegistry(load_production(root), profile_on_cpu=True,
                          free_bytes=lambda device: 1000)
    model = tight.get("wan")
    assert model.profile == "12gb" and "fp8_storage" in model.placement
    frames = _render(root, tight)  # the smallest profile still renders with jane's LoRA
    assert frames.std() > 0


# --------------------------------------------------------------------------- estimates


def _meta_count(config: dict) -> tuple[int, int]:
    from diffusers import WanTransformer3DModel, WanVACETransformer3DModel

    cls = WanVACETransformer3DModel if "vace_layers" in config else WanTransformer3DModel
    with torch.device("meta"):
        module = cls(**config)
    return sum(p.numel() for p in module.parameters()), max(
        sum(p.numel() for p in b.parameters()) for b in module.blocks)


@pytest.mark.parametrize("config", [
    TRANSFORMER, {**TRANSFORMER, "num_layers": 3, "vace_layers": [0, 2], "vace_in_channels": 96},
    {**TRANSFORMER, "in_channels": 36, "image_dim": 4}, memory.WAN_13B, memory.WAN_14B,
    {**memory.WAN_14B, "vace_layers": list(range(0, 40, 5)), "vace_in_channels": 96},
    {**memory.WAN_14B, "in_channels": 36, "image_dim": 1280, "added_kv_proj_dim": 5120}])
def test_parameter_counts_from_configs_match_the_modules(config) -> None:
    params, block = _meta_count(config)
    size = memory.transformer_size(config)
    assert size.params == params
    assert size.largest_block >= block


def test_text_and_image_encoder_counts_match_the_modules() -> None:
    from diffusers import AutoencoderKLWan
    from transformers import CLIPVisionConfig, CLIPVisionModel, UMT5Config, UMT5EncoderModel

    with torch.device("meta"):
        umt5 = UMT5EncoderModel(UMT5Config(**memory.UMT5_XXL))
        clip = CLIPVisionModel(CLIPVisionConfig(**memory.CLIP_VIT_H, num_attention_heads=16))
        vae = AutoencoderKLWan()
    assert memory.umt5_size(memory.UMT5_XXL)[0] == sum(p.numel() for p in umt5.parameters())
    assert memory.clip_vision_size(memory.CLIP_VIT_H) == sum(
        p.numel() for p in clip.parameters())
    assert memory.vae_size({}) == sum(p.numel() for p in vae.parameters())


def _size(name: str, kind: str = "t2v") -> memory.PipelineSize:
    return memory.pipeline_size(f"Wan-AI/{name}", kind)


def test_peaks_of_the_published_models_per_profile() -> None:
    small, big = _size("Wan2.1-T2V-1.3B-Diffusers"), _size("Wan2.1-T2V-14B-Diffusers")
    vace = _size("Wan2.1-VACE-14B-diffusers", "vace")
    assert round(small.transformer.params / 1e9, 2) == 1.42
    assert round(big.transformer.params / 1e9, 1) == 14.3
    assert round(vace.transformer.params / 1e9, 1) == 17.3  # "VACE-14B ≈ 17B params"
    p480, p720 = memory.Workload(), memory.Workload(1280, 720, 81)
    for size in (small, big, vace):
        for work in (p480, p720):
            peaks = [memory.estimate_peak(size, work, p).bytes for p in memory.PROFILES]
            assert peaks[0] > peaks[1] > peaks[2]  # 80gb > 24gb > 12gb
    # 14B in bf16 alone (26.6 GiB) is more than a 24 GB card: resident never fits there...
    assert memory.estimate_peak(big, p480, "80gb").gib > 24
    # ...group offload with fp8 storage does, at 480p and 720p, VACE-14B included
    for size in (big, vace):
        for work in (p480, p720):
            peak = memory.estimate_peak(size, work, "24gb")
            assert peak.fp8 and peak.gib < 22, (work, peak)
    assert not memory.estimate_peak(small, p480, "24gb").fp8
    # 12gb: 14B at 480p fits a 12 GB card; 1.3B fits even at 720p
    assert memory.estimate_peak(big, p480, "12gb").gib < 11
    assert memory.estimate_peak(small, p720, "12gb").gib < 11
    # more frames, more memory
    assert memory.estimate_peak(big, memory.Workload(frames=33), "24gb").bytes < \
        memory.estimate_peak(big, p480, "24gb").bytes


def test_auto_choice_and_oom_advice_on_real_cards() -> None:
    small, big = _size("Wan2.1-T2V-1.3B-Diffusers"), _size("Wan2.1-T2V-14B-Diffusers")
    p480 = memory.Workload()
    gib = memory.GIB
    assert memory.choose_profile(small, p480, 23 * gib)[0] == "80gb"  # 1.3B on a 4090
    assert memory.choose_profile(big, p480, 23 * gib)[0] == "24gb"  # 14B on a 4090
    assert memory.choose_profile(big, p480, 79 * gib)[0] == "80gb"  # 14B on an H100
    # block offload of fp8 blocks holds 14B at 480p even in 11 GiB; 720p needs leaf level
    assert memory.choose_profile(big, p480, 11 * gib)[0] == "24gb"
    assert memory.choose_profile(big, memory.Workload(1280, 720, 81), 16 * 10**9)[0] == "12gb"
    # an OOM of 14B at 24gb on a 12 GB card: 12gb, with its expected peak
    advice = memory.oom_advice("wan", "24gb", big, p480, 12 * gib)
    assert 'memory_profile = "12gb"' in advice and "expected peak" in advice
    # 720p 14B does not fit 12 GB at any profile: say so, never recommend a profile
    advice = memory.oom_advice("wan", "24gb", big, memory.Workload(1280, 720, 81), 12 * gib)
    assert "memory_profile" not in advice and "tiers.final width/height" in advice
    # 80gb on a 24 GB card: the next profile that fits
    assert 'memory_profile = "24gb"' in memory.oom_advice("wan", "80gb", big, p480, 24 * gib)


def test_dry_run_costs_auto_for_the_card(monkeypatch) -> None:
    from render_engine.final.cost import estimate
    from render_engine.final.plan import FinalPlan

    entry = ModelEntry(source="x/Wan2.1-VACE-14B", kind="vace", memory_profile="auto")
    plan = FinalPlan(model="m", entry=entry, mode="vace_inpaint", steps=30, guidance=5.0,
                     strength=0.5, seed=1, width=832, height=480)
    on_4090 = estimate(plan, 121, 24, gpu="rtx4090")
    on_h100 = estimate(plan, 121, 24, gpu="h100")
    assert (on_4090.profile, on_h100.profile) == ("24gb", "80gb")
    assert on_4090.peak_gib < 22 < on_h100.peak_gib < 75
    assert any("24gb profile" in s for s in on_4090.sources)


def test_flow_shift_follows_the_resolution(models) -> None:
    from diffusers import UniPCMultistepScheduler, WanPipeline

    from render_engine.final.registry import set_flow_shift

    assert (flow_shift_for(832, 480), flow_shift_for(1280, 720), flow_shift_for(720, 1280)) == (
        3.0, 5.0, 5.0)
    pipe = WanPipeline.from_pretrained(models["t2v"], use_safetensors=True, dtype=torch.float32)
    assert set_flow_shift(pipe, 1280, 720) == 5.0 and pipe.scheduler.shift == 5.0
    pipe.scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction",
                                             use_flow_sigmas=True, flow_shift=1.0)
    set_flow_shift(pipe, 832, 480)
    assert pipe.scheduler.config.flow_shift == 3.0
    pipe.scheduler.set_timesteps(10)
    sigmas = pipe.scheduler.sigmas[:-1].numpy()
    raw = np.linspace(1, 0, 11)[:-1]  # the shift bends the schedule toward high noise
    assert (sigmas[1:-1] >= raw[1:-1] - 1e-6).all() and sigmas[5] > raw[5] + 0.1


def test_every_pipeline_runs_a_bf16_model_with_its_vae_and_image_encoder_in_fp32(
        tiny_production, tmp_path) -> None:
    """The Wan examples keep the VAE (and the CLIP image encoder) in fp32 under a bf16
    transformer; every pipeline class must take that mix (latents cross dtypes twice)."""
    from diffusers import WanPipeline, WanVideoToVideoPipeline
    from PIL import Image

    from tests.final_fixtures import build_i2v, build_vace

    folders = {"t2v": build_t2v(tmp_path / "t2v"), "vace": build_vace(tmp_path / "vace"),
               "i2v": build_i2v(tmp_path / "i2v")}
    settings = tomllib.loads((tiny_production / "soloreel.toml").read_text())
    settings["models"] = {kind: {"source": str(folder), "kind": kind, "dtype": "bfloat16"}
                          for kind, folder in folders.items()}
    (tiny_production / "soloreel.toml").write_text(tomli_w.dumps(settings))
    registry = ModelRegistry(load_production(tiny_production), keep=3)
    frame = Image.new("RGB", (SIZE, SIZE), (120, 90, 60))
    outputs = {}
    for kind in folders:
        pipe = registry.get(kind).pipe
        # text through WanPipeline's own routine (as modes.encode_prompts does: the VACE and
        # v2v pipelines' prompt cleaning needs ftfy, which soloreel does not install)
        embeds, negative = (WanPipeline._get_t5_prompt_embeds(pipe, text, 1, 16)
                             for text in ("a woman", ""))
        common = {"prompt_embeds": embeds, "negative_prompt_embeds": negative, "height": SIZE,
                  "width": SIZE, "num_inference_steps": 1, "guidance_scale": 5.0,
                  "output_type": "np", "generator": torch.Generator().manual_seed(0)}
        assert pipe.transformer.dtype == torch.bfloat16 and pipe.vae.dtype == torch.float32
        if kind == "i2v":
            assert pipe.image_encoder.dtype == torch.float32
            outputs[kind] = pipe(image=frame, num_frames=5, **common).frames
        elif kind == "vace":
            outputs[kind] = pipe(video=[frame] * 5, mask=[Image.new("L", (SIZE, SIZE), 255)] * 5,
                                 reference_images=[frame], num_frames=5, **common).frames
        else:
            outputs[kind] = pipe(num_frames=5, **common).frames
            refine = WanVideoToVideoPipeline.from_pipe(pipe)
            common["num_inference_steps"] = 2  # strength 0.5 of 2 steps: one denoising step
            outputs["v2v"] = refine(video=[frame] * 5, strength=0.5, **common).frames
    for kind, frames in outputs.items():
        frames = np.asarray(frames)
        assert frames.shape[-3:] == (SIZE, SIZE, 3), kind
        assert np.isfinite(frames).all() and frames.std() > 0, kind


def test_the_dry_run_prints_the_expected_peak_per_shot(tiny_production, capsys,
                                                       monkeypatch) -> None:
    from render_engine.cli import main
    from render_engine.timeline_io import write_timeline

    monkeypatch.setenv("SOLOREEL_GPU", "rtx4090")
    monkeypatch.setenv("COLUMNS", "250")
    settings = tomllib.loads((tiny_production / "soloreel.toml").read_text())
    settings["tiers"]["final"] = {"width": 832, "height": 480, "steps": 30, "model": "vace"}
    settings["models"] = {"vace": {"source": "x/Wan2.1-VACE-14B", "kind": "vace",
                                   "memory_profile": "auto"}}
    (tiny_production / "soloreel.toml").write_text(tomli_w.dumps(settings))
    edit = tiny_production / "timelines" / "edit.otio"
    write_timeline(make_timeline([make_clip(spec_dict("solo", dialog=[]), "SOLO", 48)]), edit)
    assert main(["render", str(edit), "--tier", "final", "--dry-run", "--production",
                 str(tiny_production)]) == 0
    out = capsys.readouterr().out
    rows = [[c.strip() for c in line.replace("┃", "│").split("│")[1:-1]]
            for line in out.splitlines() if line.replace("┃", "│").count("│") > 8]
    header, solo = rows[0], rows[1]
    assert header[-2:] == ["peak GiB", "GPU min"]
    peak, profile = solo[-2].split()
    assert profile == "(24gb)" and 3 < float(peak) < 22  # VACE-14B on a 24 GB card


def test_hub_models_record_the_commit_they_loaded(tmp_path, monkeypatch) -> None:
    from render_engine.final.registry import ModelSource, hub_commit

    sha = "0fad78036ad2ba06c1b3bbb0b2f1fa2c3d4e5f60"
    repo = tmp_path / "hub" / "models--Wan-AI--Wan2.1-T2V-1.3B-Diffusers"
    (repo / "snapshots" / sha).mkdir(parents=True)
    (repo / "snapshots" / sha / "model_index.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    entry = ModelEntry(source="Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    assert hub_commit(ModelSource("wan", entry, None, entry.source)) == sha
    assert hub_commit(ModelSource("wan", entry, tmp_path, None)) is None


def test_gpu_bench_says_so_without_a_gpu_and_its_runs_work(models, monkeypatch,
                                                           capsys) -> None:
    from bench import gpu_final

    assert gpu_final.main(["--random", "1.3b"]) == 0
    assert "no CUDA GPU visible" in capsys.readouterr().out
    # each mode's call, on the CPU at a tiny size (the GPU run only adds streams and sizes)
    monkeypatch.setattr(gpu_final, "WIDTH", SIZE)
    monkeypatch.setattr(gpu_final, "HEIGHT", SIZE)
    monkeypatch.setattr(gpu_final, "FRAMES", 5)
    pipe, kind, size = gpu_final._load(str(models["t2v"]), torch.float32)
    assert kind == "t2v" and size.source == "config"
    for mode in gpu_final.MODES[kind]:
        run = gpu_final._run(pipe, kind, mode, 3, device="cpu")
        assert run["steps"] >= 1 and run["s_per_step"] > 0, mode
