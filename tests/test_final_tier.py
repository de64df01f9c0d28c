"""The final tier end to end on the CPU with tiny random Wan pipelines built locally.

The models are built once per module (diffusers' own test configs, a UMT5 from a config, a
WordLevel tokenizer), saved with `save_pretrained`, registered in a tiny production's
soloreel.toml and rendered through the registry, the modes, retiming, the encoder and the
cache exactly as a real render would be — only smaller.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import opentimelineio as otio
import pytest
import tomli_w

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")

from render_engine.bible import Production, load_production  # noqa: E402
from render_engine.cache import RenderCache  # noqa: E402
from render_engine.errors import SoloreelError  # noqa: E402
from render_engine.final import shot as shot_module  # noqa: E402
from render_engine.final.batch import render_batch  # noqa: E402
from render_engine.final.latents import initial_latents  # noqa: E402
from render_engine.final.layers import KEY_COLOUR, LAYER_GROW  # noqa: E402
from render_engine.final.modes import use_loras  # noqa: E402
from render_engine.final.plan import plan_final  # noqa: E402
from render_engine.final.registry import ModelRegistry, drop_shared  # noqa: E402
from render_engine.final.retime import sample_frames  # noqa: E402
from render_engine.media.encode import probe, read_frames  # noqa: E402
from render_engine.pose.face import face_keypoints  # noqa: E402
from render_engine.pose.openpose import draw_poses  # noqa: E402
from render_engine.render import RenderJob, ShotPlan, link_plan, plan_shot  # noqa: E402
from render_engine.timeline_io import iter_shots  # noqa: E402
from tests.conftest import make_clip, make_timeline, spec_dict  # noqa: E402
from tests.final_fixtures import build_i2v, build_lora, build_t2v, build_vace  # noqa: E402

pytestmark = pytest.mark.ml
SIZE = 32
HANDLES = 4


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny t2v, VACE and i2v pipelines and a LoRA for the t2v transformer, built once."""
    root = tmp_path_factory.mktemp("tiny-wan")
    started = time.perf_counter()
    built = {"t2v": build_t2v(root / "t2v"), "vace": build_vace(root / "vace"),
             "i2v": build_i2v(root / "i2v")}
    built["lora"] = build_lora(root / "t2v", root / "lora" / "jane.safetensors")
    built["john_lora"] = build_lora(root / "t2v", root / "lora" / "john.safetensors", seed=2)
    built["distill"] = build_lora(root / "t2v", root / "lora" / "distill.safetensors", seed=3,
                                  scale=0.3)
    print(f"tiny models built in {time.perf_counter() - started:.1f} s")
    return built


@pytest.fixture(autouse=True)
def _fresh_registry():
    """Each test starts without models loaded by another test."""
    drop_shared()
    yield
    drop_shared()


def _production(root: Path, models: dict[str, Path], model: str = "tiny-t2v",
                jane_lora: bool = False, extra_models: dict[str, Any] | None = None,
                john_lora: bool = False, draft: bool = False) -> Path:
    settings = tomllib.loads((root / "soloreel.toml").read_text())
    settings["tiers"]["final"] = {"width": SIZE, "height": SIZE, "steps": 2, "model": model}
    settings["tiers"]["proxy"] = {"width": SIZE, "height": SIZE}
    settings["models"] = {
        "tiny-t2v": {"source": str(models["t2v"]), "kind": "t2v", "dtype": "float32"},
        "tiny-vace": {"source": str(models["vace"]), "kind": "vace", "dtype": "float32"},
        "tiny-i2v": {"source": str(models["i2v"]), "kind": "i2v", "dtype": "float32"},
        **(extra_models or {}),
    }
    if draft:
        (root / "models").mkdir(exist_ok=True)
        shutil.copy(models["distill"], root / "models" / "distill.safetensors")
        for entry in settings["models"].values():
            entry["draft_lora"] = "models/distill.safetensors"
    (root / "soloreel.toml").write_text(tomli_w.dumps(settings))
    for name, wanted in (("jane", jane_lora), ("john", john_lora)):
        if not wanted:
            continue
        shutil.copy(models["lora" if name == "jane" else "john_lora"],
                    root / "cast" / name / "lora.safetensors")
        cast = tomllib.loads((root / "cast" / f"{name}.toml").read_text())
        cast["lora"] = {"path": f"{name}/lora.safetensors", "weight": 1.0}
        (root / "cast" / f"{name}.toml").write_text(tomli_w.dumps(cast))
    return root


def _plans(root: Path, specs: list[dict[str, Any]], tier: str = "final",
           frames: int = 12) -> tuple[Production, RenderCache, list[ShotPlan]]:
    production = load_production(root)
    assert not production.problems, production.problems
    timeline = make_timeline([make_clip(s, f"SHOT {i}", frames) for i, s in enumerate(specs)])
    cache = RenderCache(production.renders_dir())
    return production, cache, [plan_shot(ref, production, cache, tier)
                               for ref in iter_shots(timeline)]


def _job(plan: ShotPlan, production: Production, folder: Path) -> RenderJob:
    settings = production.settings.tier(plan.tier)
    assert plan.spec is not None
    return RenderJob(spec=plan.spec, production=production, tier=plan.tier, first=plan.first,
                     end=plan.end, fps=production.settings.production.fps,
                     width=settings.width, height=settings.height,
                     out_path=folder / "out.mp4", label=plan.ref.label, shown=plan.shown)


def _proxy_pose_frames(entry, count: int) -> list[list[np.ndarray]]:
    """Per 16 fps frame of a render, each character's skeleton (and face) alone, drawn from
    the proxy's pose.json (one person per character, spec order)."""
    frames = json.loads((entry.folder / entry.manifest["pose_json"]).read_text())
    out = []
    for index in sample_frames(count, 24, 16, len(frames)):
        frame = frames[index]
        people = [np.asarray(p["pose_keypoints_2d"], float).reshape(18, 3)
                  for p in frame["people"]]
        out.append([draw_poses(frame["canvas_width"], frame["canvas_height"], [p],
                               faces=[f] if (f := face_keypoints(p)) is not None else None)
                    for p in people])  # silent shots: closed mouths
    return out


def test_initial_noise_is_seeded_on_the_cpu_and_shape_bound() -> None:
    a = initial_latents(42, (1, 16, 3, 4, 4))
    assert torch.equal(a, initial_latents(42, (1, 16, 3, 4, 4)))
    assert not torch.equal(a, initial_latents(43, (1, 16, 3, 4, 4)))
    bigger = initial_latents(42, (1, 16, 5, 4, 4))
    assert not torch.equal(bigger[:, :, :3], a)  # other shape, other noise: drafts keep shape


def test_t2v_shot_renders_into_the_cache(tiny_production: Path, models) -> None:
    root = _production(tiny_production, models)
    production, cache, plans = _plans(root, [spec_dict("s-1")])
    started = time.perf_counter()
    link_plan(plans[0], production, cache, render=True)
    seconds = time.perf_counter() - started
    assert plans[0].error is None, plans[0].error
    entry = plans[0].result
    assert entry is not None and entry.tier == "final"
    info = probe(entry.media)
    assert info.frame_count == 12 + 2 * HANDLES
    assert float(info.fps) == 24 and (info.width, info.height) == (SIZE, SIZE)
    assert info.audio_codec and info.audio_duration == pytest.approx(20 / 24, abs=0.05)
    manifest = entry.manifest
    assert manifest["model"]["name"] == "tiny-t2v" and manifest["model"]["device"] == "cpu"
    assert manifest["seed"] == 42 and manifest["steps"] == 2 and manifest["mode"] == "t2v"
    assert manifest["wan_frames"] == 17 and manifest["segments"] == [[0, 17]]
    assert manifest["cost"]["forwards"] == 4 and manifest["cost"]["gpu"] == "cpu"
    assert set(manifest["stage_seconds"]) >= {"load", "denoise", "retime", "encode"}
    again = _plans(root, [spec_dict("s-1")])[2][0]
    assert again.cached is not None and again.cached.folder == entry.folder
    print(f"tiny t2v shot (20 frames, 2 steps, CPU) rendered in {seconds:.2f} s")


def test_lora_loads_by_character_name_and_changes_the_output(tiny_production, models,
                                                               tmp_path) -> None:
    root = _production(tiny_production, models, jane_lora=True)
    production, _cache, plans = _plans(root, [spec_dict("s-1")])
    job = _job(plans[0], production, tmp_path)
    with_lora = plan_final(job.spec, production)
    assert [u.name for u in with_lora.loras] == ["jane"]
    without = dataclasses.replace(with_lora, loras=())
    registry = ModelRegistry(production)
    plain = shot_module.render_frames(job, without, registry, retime_method="blend")
    plain_again = shot_module.render_frames(job, without, registry, retime_method="blend")
    assert np.array_equal(plain.frames, plain_again.frames)  # seeded: reproducible
    styled = shot_module.render_frames(job, with_lora, registry, retime_method="blend")
    assert not np.array_equal(plain.frames, styled.frames)
    assert styled.details["loras"] == [{"name": "jane", "path": with_lora.loras[0].path,
                                        "weight": 1.0}]
    assert styled.details["prompt"].startswith("JaneTrigger")
    model = registry.get("tiny-t2v")
    assert model.pipe.get_active_adapters() == ["jane"]
    use_loras(model, without)
    # the adapter stays loaded but switched off: exactly the base model again, and back on
    # without a second load
    assert model.lora_key == () and model.pipe.get_list_adapters()["transformer"] == ["jane"]
    plain_after = shot_module.render_frames(job, without, registry, retime_method="blend")
    assert np.array_equal(plain_after.frames, plain.frames)
    styled_again = shot_module.render_frames(job, with_lora, registry, retime_method="blend")
    assert np.array_equal(styled_again.frames, styled.frames)
    assert styled_again.details["lora_loads"] == 0 and styled.details["lora_loads"] == 1
    assert registry.loads["tiny-t2v"] == 1 and registry.lora_loads == {"jane": 1}


def test_a_batch_with_two_models_loads_each_once(tiny_production, models) -> None:
    root = _production(tiny_production, models)
    vace = {"final": {"model": "tiny-vace"}}
    specs = [spec_dict("a-1"), spec_dict("b-1", render=vace), spec_dict("a-2", dialog=[]),
             spec_dict("b-2", render=vace, dialog=[])]
    production, cache, plans = _plans(root, specs)
    report = render_batch(plans, production, cache)
    assert report.failed == {}
    assert len(report.rendered) == 4
    assert dict(report.loads) == {"tiny-t2v": 1, "tiny-vace": 1}
    names = [p.result.manifest["model"]["name"] for p in plans if p.result]
    assert names == ["tiny-t2v", "tiny-vace", "tiny-t2v", "tiny-vace"]


def test_modes_that_follow_the_proxy(tiny_production, models, monkeypatch) -> None:
    root = _production(tiny_production, models, model="tiny-vace")
    shots = {"vace_layers": ("tiny-vace", "v-1"), "vace_inpaint": ("tiny-vace", "v-2"),
             "i2v": ("tiny-i2v", "i-1"), "v2v_refine": ("tiny-t2v", "r-1")}
    specs = [spec_dict(shot_id, dialog=[], render={"final": {"mode": mode, "model": model}})
             for mode, (model, shot_id) in shots.items()]
    production, cache, proxies = _plans(root, specs, tier="proxy")
    for plan in proxies:
        link_plan(plan, production, cache, render=True)
        assert plan.result is not None, plan.error
    seen: dict[str, Any] = {}
    real = shot_module.render_segment

    def spy(model, plan, inputs, embeds):
        seen[plan.mode] = inputs
        return real(model, plan, inputs, embeds)

    monkeypatch.setattr(shot_module, "render_segment", spy)
    _, _, finals = _plans(root, specs)
    report = render_batch(finals, production, cache)
    assert report.failed == {}
    layers = finals[0].result.manifest
    proxy_entry = proxies[0].result
    assert layers["control_video"] == f"proxy:{proxy_entry.hash[:12]}/pose.json"
    assert [r["characters"] for r in layers["layers"]] == [["jane"]]
    pose = list(read_frames(proxy_entry.folder / proxy_entry.manifest["pose_video"]))
    count = layers["wan_frames"]
    expected = [pose[i] for i in sample_frames(count, 24, 16, len(pose))]
    drawn = _proxy_pose_frames(proxy_entry, count)
    control, mask = seen["vace_layers"].control, seen["vace_layers"].mask
    assert len(control) == count
    for frame, region, track, decoded in zip(control, mask, drawn, expected, strict=True):
        inside = region > 0
        assert np.array_equal(frame[inside], track[0][inside])  # the proxy's pose, drawn
        # ... which is what pose.mp4 shows (up to its 4:2:0 coding of 1-px lines at 32 px)
        # but for the face the final adds (white dots: pose.mp4 has no face)
        body = inside & ~(frame == 255).all(axis=2)
        assert np.abs(frame[body].astype(int) - decoded[body].astype(int)).mean() < 30
        assert (frame[~inside] == KEY_COLOUR).all()  # the flat matte around it
    assert seen["vace_inpaint"].mask is not None and any(m.any() for m in seen["vace_inpaint"].mask)
    assert finals[2].result.manifest["keyframe"].startswith("proxy:")
    first_proxy = next(read_frames(proxies[2].result.media))
    assert np.array_equal(seen["i2v"].keyframe, first_proxy)
    assert finals[3].result.manifest["strength"] == 0.5
    assert len(seen["v2v_refine"].source) == finals[3].result.manifest["wan_frames"]
    for plan in finals:
        assert probe(plan.result.media).frame_count == 12 + 2 * HANDLES


def test_long_shots_render_as_segments(tiny_production, models, tmp_path) -> None:
    root = _production(tiny_production, models, model="tiny-vace")
    production, _cache, plans = _plans(root, [spec_dict("long", dialog=[])], frames=36)
    job = _job(plans[0], production, tmp_path)
    plan = plan_final(job.spec, production)
    result = shot_module.render_frames(job, plan, ModelRegistry(production), max_frames=9,
                                       retime_method="flow")
    assert len(result.details["segments"]) > 1
    assert result.frames.shape == (36 + 2 * HANDLES, SIZE, SIZE, 3)
    assert result.details["control_video"] == "drawn"


def test_missing_model_and_corrupt_lora_fail_only_their_shots(tiny_production, models) -> None:
    root = _production(tiny_production, models, jane_lora=True, extra_models={
        "gone": {"source": "models/gone", "kind": "t2v", "dtype": "float32"}})
    (root / "cast" / "jane" / "lora.safetensors").write_bytes(b"not a safetensors file")
    specs = [spec_dict("gone-1", render={"final": {"model": "gone"}}, dialog=[]),
             spec_dict("jane-1", dialog=[]),
             spec_dict("john-1", dialog=[], characters=[{"name": "john"}])]
    production, cache, plans = _plans(root, specs)
    report = render_batch(plans, production, cache)
    assert len(report.rendered) == 1 and plans[2].result is not None
    gone, jane = plans[0].error or "", plans[1].error or ""
    assert 'model "gone": folder' in gone and "does not exist" in gone
    assert "LoRA of jane (lora.safetensors) cannot be loaded" in jane
    assert (production.renders_dir() / "errors" / "final" / "gone-1.mp4").is_file()


def test_out_of_memory_suggests_the_next_profile(tiny_production, models, monkeypatch) -> None:
    root = _production(tiny_production, models)
    real = shot_module.render_segment

    def oom(model, plan, inputs, embeds):
        if plan.seed == 666:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20 GiB")
        return real(model, plan, inputs, embeds)

    monkeypatch.setattr(shot_module, "render_segment", oom)
    specs = [spec_dict("big", seed=666, dialog=[]), spec_dict("small", dialog=[])]
    production, cache, plans = _plans(root, specs)
    report = render_batch(plans, production, cache)
    assert 'memory_profile = "12gb"' in report.failed[plans[0].ref.label]
    assert "CUDA out of memory" in report.failed[plans[0].ref.label]
    assert plans[1].result is not None


def test_unknown_model_names_the_known_ones(tiny_production, models) -> None:
    root = _production(tiny_production, models)
    production, _cache, plans = _plans(root, [spec_dict(render={"final": {"model": "nope"}})])
    with pytest.raises(SoloreelError, match="known: tiny-i2v, tiny-t2v, tiny-vace"):
        plan_final(plans[0].spec, production)


def test_12gb_profile_fp8_storage_and_group_offload_still_renders(tiny_production, models,
                                                                  tmp_path) -> None:
    from render_engine.final.registry import offload_12gb

    root = _production(tiny_production, models)
    production, _cache, plans = _plans(root, [spec_dict("s-1", dialog=[])])
    job = _job(plans[0], production, tmp_path)
    plan = plan_final(job.spec, production)
    registry = ModelRegistry(production)
    plain = shot_module.render_frames(job, plan, registry, retime_method="blend")
    model = registry.get("tiny-t2v")
    applied = offload_12gb(model.pipe, "cpu", torch.float32, use_stream=False)
    assert applied == "transformer:fp8_storage+group_offload:leaf_level+vae_tiling+slicing"
    dtypes = {p.dtype for p in model.pipe.transformer.parameters()}
    assert torch.float8_e4m3fn in dtypes
    stored = shot_module.render_frames(job, plan, registry, retime_method="blend")
    assert stored.frames.shape == plain.frames.shape
    assert np.abs(stored.frames.astype(int) - plain.frames.astype(int)).mean() < 40


def test_cli_renders_and_links_the_final_tier(tiny_production, models) -> None:
    from render_engine.cli import main
    from render_engine.timeline_io import read_timeline, write_timeline

    root = _production(tiny_production, models)
    edit = root / "timelines" / "edit.otio"
    write_timeline(make_timeline([make_clip(spec_dict("cli-1", dialog=[]), "CLI 1", 12)]), edit)
    assert main(["-q", "render", str(edit), "--tier", "final", "--production", str(root)]) == 0
    clip = next(iter(read_timeline(edit).find_clips()))
    assert clip.active_media_reference_key == "final"
    assert clip.media_reference.metadata["soloreel"]["tier"] == "final"
    assert probe(Path(clip.media_reference.target_url.removeprefix("file://"))).frame_count == 20


def test_vace_layers_renders_one_keyed_layer_per_character_over_the_plate(
        tiny_production, models, monkeypatch, tmp_path) -> None:
    import cv2

    from render_engine.proxy.shot import ShotFrames

    root = _production(tiny_production, models, model="tiny-vace", jane_lora=True)
    two = spec_dict("two-1", dialog=[], shot={"id": "two-1", "size": "WS"},
                    characters=[{"name": "jane", "position": [-1.6, 5.0]},
                                {"name": "john", "position": [1.6, 5.0]}])
    production, cache, proxies = _plans(root, [two], tier="proxy")
    link_plan(proxies[0], production, cache, render=True)
    proxy = proxies[0].result
    assert proxy is not None, proxies[0].error
    calls: list[Any] = []
    real = shot_module.render_segment

    def spy(model, plan, inputs, embeds):
        calls.append((plan, inputs))
        return real(model, plan, inputs, embeds)

    monkeypatch.setattr(shot_module, "render_segment", spy)
    _, _, finals = _plans(root, [two])
    job = _job(finals[0], production, tmp_path)
    plan = plan_final(job.spec, production)
    assert plan.mode == "vace_layers"
    result = shot_module.render_frames(job, plan, ModelRegistry(production),
                                       retime_method="blend")
    assert len(calls) == 2  # one VACE render per character
    records = result.details["layers"]
    assert [r["characters"] for r in records] == [["jane"], ["john"]]
    assert [r["loras"] for r in records] == [["jane"], []]  # the lead's LoRA only on her layer
    assert records[0]["prompt"].startswith("JaneTrigger")
    assert len({r["seed"] for r in records}) == 2
    count = result.details["wan_frames"]
    drawn = _proxy_pose_frames(proxy, count)
    seeds = [r["seed"] for r in records]
    # john's layer (no LoRA: the base model as loaded) renders before jane's (one load)
    assert [layer_plan.seed for layer_plan, _inputs in calls] == seeds[::-1]
    for layer_plan, inputs in calls:
        index = seeds.index(layer_plan.seed)
        assert len(inputs.control) == count
        for frame, region, people in zip(inputs.control, inputs.mask, drawn, strict=True):
            inside = region > 0
            assert np.array_equal(frame[inside], people[index][inside])  # its own pose ...
            own = people[index].max(axis=2) > 8
            other = (people[1 - index].max(axis=2) > 8) & ~own
            assert own.any() and other.any()
            assert not (frame[other] == people[1 - index][other]).all(axis=1).any()
    assert result.frames.shape == (12 + 2 * HANDLES, SIZE, SIZE, 3)

    # outside the characters the final is the plate
    shot = ShotFrames(job.spec, production, SIZE, SIZE, job.fps, job.first, job.shown)
    frames = json.loads((proxy.folder / proxy.manifest["pose_json"]).read_text())
    radius = round((LAYER_GROW + 0.08) * SIZE)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    outside_pixels = changed = 0
    for index, final in enumerate(result.frames):
        cam = shot.camera(shot.progress(index), shot.seconds(index))
        plate, _depth = shot.plates.background(cam)
        people = [np.asarray(p["pose_keypoints_2d"], float).reshape(18, 3)
                  for p in frames[index]["people"]]
        near = cv2.dilate((draw_poses(SIZE, SIZE, people).max(axis=2) > 8).astype(np.uint8),
                          kernel) > 0
        outside = ~near
        outside_pixels += int(outside.sum())
        diff = np.abs(final[outside].astype(int) - plate[outside].astype(int))
        assert diff.mean() < 4, (index, diff.mean())
        changed += int((np.abs(final.astype(int) - plate.astype(int)).max(axis=2) > 16).sum())
    assert outside_pixels > 0.2 * SIZE * SIZE * len(result.frames)
    assert changed > 0  # the layers are there


def test_touching_characters_share_a_layer() -> None:
    from render_engine.final.layers import touching_groups

    def person(x: float) -> np.ndarray:
        points = np.zeros((18, 3))
        points[:, 0], points[:, 1], points[:, 2] = x, np.linspace(10, 90, 18), 1.0
        return points

    apart = [[person(10), person(50), person(90)]]
    assert touching_groups(apart, 100) == [[0], [1], [2]]
    hug = [*apart, [person(10), person(88), person(90)], [None, person(50), None]]
    assert touching_groups(hug, 100) == [[0], [1, 2]]  # touching in any frame: one layer


# --------------------------------------------------------------------------- speed options


def test_speed_options_in_the_toml_are_applied(tiny_production, models, tmp_path,
                                               monkeypatch) -> None:
    from diffusers import WanTransformer3DModel

    from render_engine.final.registry import ModelError

    compiled: list[dict[str, Any]] = []
    monkeypatch.setattr(WanTransformer3DModel, "compile_repeated_blocks",
                        lambda self, **kw: compiled.append(kw))  # the real one: slow test
    t2v = {"source": str(models["t2v"]), "kind": "t2v", "dtype": "float32"}
    root = _production(tiny_production, models, extra_models={
        "native": {**t2v, "attention_backend": "native"},
        "fast": {**t2v, "attention_backend": "native", "first_block_cache": 0.5,
                 "compile_blocks": True},
        "odd": {**t2v, "attention_backend": "nonsense"}})
    specs = [spec_dict(f"s-{name}", dialog=[], render={"final": {"steps": 6, "model": name}})
             for name in ("tiny-t2v", "native", "fast")]
    production, _cache, plans = _plans(root, specs)
    registry = ModelRegistry(production, keep=3)
    results = [shot_module.render_frames(_job(p, production, tmp_path),
                                         plan_final(p.spec, production), registry,
                                         retime_method="blend") for p in plans]
    plain, native, fast = results
    assert native.details["model"]["options"] == ["attention:native"]
    assert fast.details["model"]["options"] == [
        "attention:native", "first_block_cache:0.5", "compile_repeated_blocks"]
    assert compiled == [{"fullgraph": True}]
    assert np.array_equal(plain.frames, native.frames)  # native is diffusers' default maths
    assert not np.array_equal(plain.frames, fast.frames)  # cached steps: other pixels
    with pytest.raises(ModelError, match=r'model "odd": attention_backend "nonsense" cannot be '
                                         r"used .*models\.odd\.attention_backend"):
        registry.get("odd")


@pytest.mark.slow
def test_regional_compile_renders_like_eager_with_a_lora(tiny_production, models, tmp_path,
                                                         request) -> None:
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("torch.compile on the CPU takes ~15-30 s: run with -m slow (make test-all)")
    t2v = {"source": str(models["t2v"]), "kind": "t2v", "dtype": "float32"}
    root = _production(tiny_production, models, jane_lora=True,
                       extra_models={"compiled": {**t2v, "compile_blocks": True}})
    specs = [spec_dict("eager", dialog=[]),
             spec_dict("compiled", dialog=[], render={"final": {"model": "compiled"}})]
    production, _cache, plans = _plans(root, specs)
    registry = ModelRegistry(production, keep=2)
    eager, compiled = (shot_module.render_frames(_job(p, production, tmp_path),
                                                 plan_final(p.spec, production), registry,
                                                 retime_method="blend") for p in plans)
    assert compiled.details["model"]["options"] == ["compile_repeated_blocks"]
    assert compiled.details["loras"][0]["name"] == "jane"
    assert np.abs(eager.frames.astype(int) - compiled.frames.astype(int)).max() <= 2


# --------------------------------------------------------------------------- drafts


def test_draft_renders_with_the_distilled_lora_in_few_steps(tiny_production, models,
                                                            monkeypatch) -> None:
    from render_engine.bible import load_production
    from render_engine.cli import main
    from render_engine.cli.status import shot_states
    from render_engine.final import modes
    from render_engine.final.registry import shared_registry
    from render_engine.hashing import file_digest
    from render_engine.timeline_io import read_timeline, write_timeline

    root = _production(tiny_production, models, jane_lora=True, draft=True)
    edit = root / "timelines" / "edit.otio"
    write_timeline(make_timeline([make_clip(spec_dict("d-1", dialog=[]), "D 1", 12)]), edit)
    seen: list[tuple] = []
    noise: list[Any] = []
    real_segment, real_latents = shot_module.render_segment, modes.initial_latents

    def segment(model, plan, inputs, embeds):
        seen.append((plan.quality, plan.steps, plan.guidance, sorted(embeds),
                     sorted(model.pipe.get_active_adapters())))
        return real_segment(model, plan, inputs, embeds)

    def latents(seed, shape):
        noise.append(real_latents(seed, shape))
        return noise[-1]

    monkeypatch.setattr(shot_module, "render_segment", segment)
    monkeypatch.setattr(modes, "initial_latents", latents)

    def final_reference() -> tuple[str, dict]:
        clip = next(iter(read_timeline(edit).find_clips()))
        return clip.active_media_reference_key, dict(
            clip.media_references()["final"].metadata["soloreel"])

    args = ["-q", "render", str(edit), "--tier", "final", "--production", str(root)]
    assert main([*args, "--quality", "draft"]) == 0
    active, meta = final_reference()
    assert active == "final" and meta["quality"] == "draft"
    draft_hash = meta["hash"]
    # linking another tier keeps the draft as the clip's final media ...
    assert main(["-q", "render", str(edit), "--tier", "placeholder", "--production",
                 str(root)]) == 0
    active, meta = final_reference()
    assert active == "placeholder" and (meta["hash"], meta["quality"]) == (draft_hash, "draft")
    # the OTIO media linker (and relink / import: all link through attach_references) too
    from render_engine.linking import link_clip

    bare = otio.schema.Clip(name="D 1", source_range=next(iter(
        read_timeline(edit).find_clips())).source_range,
        metadata={"soloreel": spec_dict("d-1", dialog=[])})
    link_clip(bare, root, "placeholder", render=False)
    linked = bare.media_references()["final"].metadata["soloreel"]
    assert (linked["hash"], linked["quality"]) == (draft_hash, "draft")
    # status tells a cached draft from a stale or missing final
    assert [row["final"] for row in shot_states(edit, load_production(root))] == ["draft"]
    # ... until a full final replaces it
    assert main(args) == 0
    active, meta = final_reference()
    assert active == "final" and meta["hash"] != draft_hash and "quality" not in meta
    assert [row["final"] for row in shot_states(edit, load_production(root))] == ["fresh"]
    draft, full = seen
    assert full == ("full", 2, 5.0, ["negative_prompt_embeds", "prompt_embeds"], ["jane"])
    assert draft == ("draft", 4, 1.0, ["prompt_embeds"], ["_distill", "jane"])  # no CFG
    assert torch.equal(noise[0], noise[1])  # the final's noise: the draft shows its layout
    assert shared_registry(load_production(root)).loads["tiny-t2v"] == 1  # model re-used

    entries = {e.manifest["quality"]: e for e in RenderCache(root / "renders").all_entries()
               if e.tier == "final"}
    assert set(entries) == {"full", "draft"} and entries["full"].hash != entries["draft"].hash
    manifest = entries["draft"].manifest
    assert (manifest["steps"], manifest["guidance"], manifest["negative_prompt"]) == (4, 1.0,
                                                                                      None)
    assert [u["name"] for u in manifest["loras"]] == ["jane", "_distill"]
    assert manifest["cost"]["forwards"] == 4 and manifest["cost"]["quality"] == "draft"
    assert manifest["inputs"]["model"]["draft"]["lora_sha256"] == file_digest(
        root / "models" / "distill.safetensors")
    assert "draft" not in entries["full"].manifest["inputs"]["model"]
    full_frames, draft_frames = (np.stack(list(read_frames(entries[q].media)))
                                 for q in ("full", "draft"))
    assert full_frames.shape == draft_frames.shape
    assert not np.array_equal(full_frames, draft_frames)
    assert (entries["draft"].hash, entries["full"].hash) == (draft_hash, meta["hash"])


def test_a_draft_without_a_distilled_lora_fails_each_shot(tiny_production, models,
                                                          capsys) -> None:
    from render_engine.cli import main
    from render_engine.timeline_io import read_timeline, write_timeline

    root = _production(tiny_production, models)
    edit = root / "timelines" / "edit.otio"
    specs = [spec_dict("n-1", dialog=[]), spec_dict("n-2", dialog=[])]
    write_timeline(make_timeline([make_clip(s, s["shot"]["id"], 12) for s in specs]), edit)
    assert main(["-q", "render", str(edit), "--tier", "final", "--quality", "draft",
                 "--production", str(root)]) == 1
    err = capsys.readouterr().err
    assert err.count('set models.tiny-t2v.draft_lora = "models/') == 2
    for clip in read_timeline(edit).find_clips():
        assert "draft_lora" in clip.media_references()["final"].metadata["soloreel"]["error"]
    assert (root / "renders" / "errors" / "final" / "n-1.mp4").is_file()


# --------------------------------------------------------------------------- LoRA swaps


def test_a_layered_batch_loads_each_lora_once_in_any_layer_order(
        tiny_production, models, monkeypatch, tmp_path) -> None:
    from render_engine.final.adapters import loads_in_order
    from render_engine.final.batch import batch_item

    monkeypatch.setattr("render_engine.final.adapters.MAX_RESIDENT", 1)
    root = _production(tiny_production, models, model="tiny-vace", jane_lora=True,
                       john_lora=True)
    two = spec_dict("two", dialog=[], shot={"id": "two", "size": "WS"},
                    characters=[{"name": "jane", "position": [-1.6, 5.0]},
                                {"name": "john", "position": [1.6, 5.0]}])
    john = spec_dict("john", dialog=[], characters=[{"name": "john", "position": [0.5, 3.0]}])
    production, cache, plans = _plans(root, [two, john, spec_dict("jane", dialog=[])])
    items = [batch_item(p, production) for p in plans]
    assert loads_in_order(items, [0, 1, 2]) == 3  # the timeline's order: jane twice
    report = render_batch(plans, production, cache)
    assert report.failed == {}
    ids = {p.ref.label: p.spec.shot.id for p in plans}
    assert [ids[label] for label in report.order] == ["john", "two", "jane"]
    assert report.lora_loads == {"jane": 1, "john": 1}
    assert report.lora_unloads == {"john": 1}  # room for jane (one resident adapter)
    assert [p.result.manifest["lora_loads"] for p in plans] == [1, 1, 0]

    # the two-shot after john's shot (john's layer first, no load) is the two-shot alone
    # (jane's layer first): layer order never shows in the pixels
    job = _job(plans[0], production, tmp_path)
    plan = plan_final(job.spec, production)
    registry = ModelRegistry(production)
    shot_module.render_frames(_job(plans[1], production, tmp_path),
                              plan_final(plans[1].spec, production), registry,
                              retime_method="blend")
    after_john = shot_module.render_frames(job, plan, registry, retime_method="blend")
    alone = shot_module.render_frames(job, plan, ModelRegistry(production),
                                      retime_method="blend")
    assert (after_john.details["lora_loads"], alone.details["lora_loads"]) == (1, 2)
    assert np.array_equal(after_john.frames, alone.frames)
