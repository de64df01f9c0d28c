"""Mode `animate` (issue 18): diffusers' WanAnimatePipeline on a tiny random Wan 2.2 Animate
model built and saved here, loaded from its folder by the registry as a user's would be. The
character's sheet image, its pose video and its face crops go in; the final's frames come
out at the final's size and count, the same from the same seed; long takes are segmented
by the pipeline; the dry run costs it; the cache key follows its inputs."""

from __future__ import annotations

import itertools
import shutil
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from render_engine.bible import Production, load_production  # noqa: E402
from render_engine.cache import RenderCache  # noqa: E402
from render_engine.final import shot as shot_module  # noqa: E402
from render_engine.final.plan import FinalSpecProblem, plan_final  # noqa: E402
from render_engine.final.registry import ModelRegistry, drop_shared  # noqa: E402
from render_engine.render import RenderJob, ShotPlan, plan_shot  # noqa: E402
from render_engine.timeline_io import iter_shots  # noqa: E402
from tests.conftest import make_clip, make_timeline, spec_dict  # noqa: E402
from tests.final_fixtures import ANIMATE_FACE_SIZE, build_animate  # noqa: E402

pytestmark = pytest.mark.ml
SIZE = 32


@pytest.fixture(scope="module")
def animate_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_animate(tmp_path_factory.mktemp("tiny-animate") / "animate")


@pytest.fixture(autouse=True)
def _fresh_registry():
    drop_shared()
    yield
    drop_shared()


def _production(root: Path, model: Path) -> Path:
    settings = tomllib.loads((root / "soloreel.toml").read_text())
    settings["tiers"]["final"] = {"width": SIZE, "height": SIZE, "steps": 2,
                                  "model": "tiny-animate"}
    settings["tiers"]["proxy"] = {"width": SIZE, "height": SIZE}
    local = root / "models" / "animate"  # inside the production, as a user keeps it
    shutil.copytree(model, local)
    settings["models"] = {"tiny-animate": {"source": "./models/animate", "kind": "animate",
                                           "dtype": "float32"}}
    (root / "soloreel.toml").write_text(tomli_w.dumps(settings))
    return root


def _plan(root: Path, spec: dict[str, Any], frames: int) -> tuple[Production, ShotPlan]:
    production = load_production(root)
    timeline = make_timeline([make_clip(spec, spec["shot"]["id"], frames)])
    cache = RenderCache(production.renders_dir())
    return production, plan_shot(next(iter(iter_shots(timeline))), production, cache, "final")


def _job(plan: ShotPlan, production: Production, folder: Path) -> RenderJob:
    tier = production.settings.tier("final")
    assert plan.spec is not None and plan.problem is None, plan.problem
    return RenderJob(spec=plan.spec, production=production, tier="final", first=plan.first,
                     end=plan.end, fps=24, width=tier.width, height=tier.height,
                     out_path=folder / "out.mp4", label=plan.ref.label, shown=plan.shown)


def _spy(monkeypatch) -> list[dict[str, Any]]:
    from diffusers import WanAnimatePipeline

    calls: list[dict[str, Any]] = []
    real = WanAnimatePipeline.__call__

    def call(self, *args, **kwargs):
        calls.append(kwargs)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(WanAnimatePipeline, "__call__", call)
    return calls


def test_animate_renders_the_final_from_the_sheet_pose_and_face(tiny_production, animate_model,
                                                                tmp_path, monkeypatch) -> None:
    root = _production(tiny_production, animate_model)
    production, shot = _plan(root, spec_dict("a-1"), frames=12)
    job = _job(shot, production, tmp_path)
    plan = plan_final(job.spec, production)
    assert plan.mode == "animate" and plan.guidance == 1.0  # Wan Animate runs without CFG
    calls = _spy(monkeypatch)
    registry = ModelRegistry(production)
    first = shot_module.render_frames(job, plan, registry, retime_method="blend")
    again = shot_module.render_frames(job, plan, registry, retime_method="blend")
    assert registry.loads["tiny-animate"] == 1
    assert first.frames.shape == (job.frame_count, SIZE, SIZE, 3)
    assert first.frames.dtype == np.uint8 and first.frames.std() > 0
    assert np.array_equal(first.frames, again.frames)  # the seed decides every pixel
    kwargs = calls[0]
    wan = first.details["wan_frames"]
    assert len(kwargs["pose_video"]) == len(kwargs["face_video"]) == wan == 17
    assert kwargs["mode"] == "animate" and kwargs["segment_frame_length"] == wan
    assert {f.size for f in kwargs["face_video"]} == {(ANIMATE_FACE_SIZE, ANIMATE_FACE_SIZE)}
    assert kwargs["image"].size == (SIZE, SIZE) and "prompt_embeds" in kwargs  # letterboxed
    pose = np.stack([np.asarray(f) for f in kwargs["pose_video"]])
    assert pose.max() > 0  # jane's skeleton is drawn
    faces = np.stack([np.asarray(f) for f in kwargs["face_video"]])
    assert faces.max() > 0  # the crops hold her face landmarks (no proxy: the control video)
    assert first.details["animate"]["lead"] == "jane"
    assert first.details["animate"]["face_video"] == "control"
    assert first.details["reference_images"] == 1
    # another seed, other pixels
    other = plan_final(job.spec.model_copy(update={"seed": 7}), production)
    changed = shot_module.render_frames(job, other, registry, retime_method="blend")
    assert not np.array_equal(changed.frames, first.frames)


def test_a_long_animate_take_is_segmented_by_the_pipeline(tiny_production, animate_model,
                                                          tmp_path, monkeypatch) -> None:
    from render_engine.final.cost import shot_estimate

    root = _production(tiny_production, animate_model)
    production, shot = _plan(root, spec_dict("a-2", dialog=[]), frames=24)
    job = _job(shot, production, tmp_path)
    calls = _spy(monkeypatch)
    monkeypatch.setenv("SOLOREEL_WAN_MAX_FRAMES", "13")
    result = shot_module.render_frames(job, plan_final(job.spec, production),
                                       ModelRegistry(production), retime_method="blend")
    assert result.frames.shape == (job.frame_count, SIZE, SIZE, 3)
    segments = result.details["segments"]
    wan = result.details["wan_frames"]
    assert len(segments) >= 2 and segments[0] == [0, 13]
    assert all(b[0] - a[0] == 13 - 5 for a, b in itertools.pairwise(segments))
    assert segments[-1][1] >= wan > segments[-2][1]  # the pipeline pads the last one
    assert result.details["continuation"] == "animate_prev_frames"
    assert len(calls) == 1 and calls[0]["segment_frame_length"] == 13
    assert calls[0]["prev_segment_conditioning_frames"] == 5
    forwards = len(segments) * 2  # segments × two steps, no CFG
    assert result.details["cost"]["forwards"] == forwards
    estimate = shot_estimate(shot, production, [], gpu="rtx4090")
    assert (estimate.segments, estimate.forwards, estimate.mode) == (
        len(segments), forwards, "animate")


def test_animate_needs_a_character_with_a_sheet(tiny_production, animate_model) -> None:
    root = _production(tiny_production, animate_model)
    production = load_production(root)
    from render_engine.spec import ShotSpec

    empty = ShotSpec.model_validate(spec_dict("a-3", characters=[], dialog=[]))
    with pytest.raises(FinalSpecProblem, match="no known character"):
        plan_final(empty, production)


def test_the_animate_key_names_its_lead_and_face_video(tiny_production, animate_model) -> None:
    from render_engine.final.conditioning import final_conditioning
    from render_engine.spec import ShotSpec

    root = _production(tiny_production, animate_model)
    production = load_production(root)
    info = final_conditioning(ShotSpec.model_validate(spec_dict("a-4")), production)
    assert info["mode"] == "animate" and info["proxy"]["rendered"] is False
    assert info["control"]["lead"] == "jane"
    assert info["control"]["face_video"].startswith("control:")
    assert info["references"][0][0] == "jane" and info["references"][0][1]
    assert info["weights"]["files"]  # the local folder's bytes


def test_animate_replace_puts_the_lead_into_the_approved_proxy(tiny_production, animate_model,
                                                               tmp_path, monkeypatch) -> None:
    from render_engine.render import link_plan

    root = _production(tiny_production, animate_model)
    spec = spec_dict("a-5", render={"final": {"mode": "animate_replace"}})
    production = load_production(root)
    timeline = make_timeline([make_clip(spec, "A 5", 12)])
    cache = RenderCache(production.renders_dir())
    proxy = plan_shot(next(iter(iter_shots(timeline))), production, cache, "proxy")
    link_plan(proxy, production, cache, render=True)
    assert proxy.result is not None, proxy.error
    production, shot = _plan(root, spec, frames=12)
    job = _job(shot, production, tmp_path)
    calls = _spy(monkeypatch)
    plan = plan_final(job.spec, production)
    result = shot_module.render_frames(job, plan, ModelRegistry(production),
                                       retime_method="blend")
    assert result.frames.shape == (job.frame_count, SIZE, SIZE, 3)
    kwargs = calls[0]
    assert kwargs["mode"] == "replace"
    wan = result.details["wan_frames"]
    assert len(kwargs["background_video"]) == len(kwargs["mask_video"]) == wan
    background = np.stack([np.asarray(f) for f in kwargs["background_video"]])
    mask = np.stack([np.asarray(f) for f in kwargs["mask_video"]])
    assert background.std() > 0  # the animatic, not a blank
    assert mask.ndim == 3 and 0 < (mask > 0).mean() < 1  # the lead's region only
    assert result.details["animate"]["face_video"].startswith("proxy:")  # cut from the proxy
    assert result.details["control_video"].startswith("proxy:")
    again = shot_module.render_frames(job, plan, ModelRegistry(production),
                                      retime_method="blend")
    assert np.array_equal(result.frames, again.frames)
    # the key follows the approved proxy
    from render_engine.final.conditioning import final_conditioning

    info = final_conditioning(job.spec, production)
    assert info["proxy"]["rendered"] and info["control"]["background"] == "proxy"


def test_animate_takes_the_lead_s_lora(tiny_production, animate_model, tmp_path) -> None:
    import dataclasses

    from tests.final_fixtures import build_lora

    root = _production(tiny_production, animate_model)
    lora = build_lora(root / "models" / "animate", root / "cast" / "jane" / "lora.safetensors")
    cast = tomllib.loads((root / "cast" / "jane.toml").read_text())
    cast["lora"] = {"path": f"jane/{lora.name}", "weight": 1.0}
    (root / "cast" / "jane.toml").write_text(tomli_w.dumps(cast))
    production, shot = _plan(root, spec_dict("a-6", dialog=[]), frames=12)
    job = _job(shot, production, tmp_path)
    with_lora = plan_final(job.spec, production)
    assert [u.name for u in with_lora.loras] == ["jane"]
    registry = ModelRegistry(production)
    styled = shot_module.render_frames(job, with_lora, registry, retime_method="blend")
    plain = shot_module.render_frames(job, dataclasses.replace(with_lora, loras=()), registry,
                                      retime_method="blend")
    assert not np.array_equal(styled.frames, plain.frames)
    assert [e["name"] for e in styled.details["loras"]] == ["jane"]
    assert registry.get("tiny-animate").pipe.get_list_adapters()["transformer"] == ["jane"]


def test_animate_through_the_cli_renders_once_and_caches(tiny_production, animate_model,
                                                         capsys) -> None:
    from render_engine.cli import main
    from render_engine.timeline_io import read_timeline, write_timeline

    root = _production(tiny_production, animate_model)
    edit = root / "timelines" / "edit.otio"
    write_timeline(make_timeline([make_clip(spec_dict("a-7"), "A 7", 12)]), edit)
    args = ["-q", "render", str(edit), "--tier", "final", "--production", str(root)]
    assert main([*args[1:], "--dry-run"]) == 0
    printed = capsys.readouterr()
    assert "animate" in printed.out + printed.err
    assert main(args) == 0
    finals = [e for e in RenderCache(root / "renders").all_entries() if e.tier == "final"]
    assert len(finals) == 1 and finals[0].manifest["mode"] == "animate"
    assert finals[0].manifest["animate"]["lead"] == "jane"
    clip = next(iter(read_timeline(edit).find_clips()))
    assert "final" in clip.media_references()
    assert main(args) == 0  # cached: nothing renders again
    assert len([e for e in RenderCache(root / "renders").all_entries()
                if e.tier == "final"]) == 1
