"""Final-tier correctness on tiny random Wan models (issue 18, items 6 and 7): long takes
without seams, the same pixels in any batch order, a full final that a later draft does not
replace, centre crops instead of stretches, the dry run's step count, VACE's
conditioning_scale. The models are built locally (tests/final_fixtures.py), never downloaded.
"""

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
pytest.importorskip("peft")

from render_engine.bible import Production, load_production  # noqa: E402
from render_engine.cache import RenderCache  # noqa: E402
from render_engine.final import shot as shot_module  # noqa: E402
from render_engine.final.plan import plan_final  # noqa: E402
from render_engine.final.registry import ModelRegistry, drop_shared  # noqa: E402
from render_engine.final.retime import to_uint8  # noqa: E402
from render_engine.render import RenderJob, ShotPlan, link_plan, plan_shot  # noqa: E402
from render_engine.timeline_io import iter_shots, read_timeline, write_timeline  # noqa: E402
from tests.conftest import make_clip, make_timeline, spec_dict  # noqa: E402
from tests.final_fixtures import build_lora, build_t2v, build_vace  # noqa: E402

pytestmark = pytest.mark.ml
SIZE = 32


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-wan-long")
    built = {"t2v": build_t2v(root / "t2v"), "vace": build_vace(root / "vace")}
    built["distill"] = build_lora(root / "t2v", root / "lora" / "distill.safetensors", seed=3,
                                  scale=0.3)
    return built


@pytest.fixture(autouse=True)
def _fresh_registry():
    drop_shared()
    yield
    drop_shared()


def _production(root: Path, models: dict[str, Path], dtype: str = "float32",
                width: int = SIZE, height: int = SIZE, **vace: Any) -> Path:
    settings = tomllib.loads((root / "soloreel.toml").read_text())
    settings["tiers"]["final"] = {"width": width, "height": height, "steps": 2,
                                  "model": "tiny-vace"}
    settings["tiers"]["proxy"] = {"width": SIZE, "height": SIZE}
    (root / "models").mkdir(exist_ok=True)
    shutil.copy(models["distill"], root / "models" / "distill.safetensors")
    settings["models"] = {
        "tiny-t2v": {"source": str(models["t2v"]), "kind": "t2v", "dtype": dtype,
                     "draft_lora": "models/distill.safetensors"},
        "tiny-vace": {"source": str(models["vace"]), "kind": "vace", "dtype": dtype, **vace},
    }
    (root / "soloreel.toml").write_text(tomli_w.dumps(settings))
    return root


def _plans(root: Path, specs: list[dict[str, Any]], tier: str = "final", frames: int = 12
           ) -> tuple[Production, RenderCache, list[ShotPlan]]:
    production = load_production(root)
    timeline = make_timeline([make_clip(s, s["shot"]["id"], frames) for s in specs])
    cache = RenderCache(production.renders_dir())
    return production, cache, [plan_shot(r, production, cache, tier) for r in iter_shots(timeline)]


def _job(plan: ShotPlan, production: Production, folder: Path) -> RenderJob:
    tier = production.settings.tier(plan.tier)
    assert plan.spec is not None and plan.problem is None, plan.problem
    return RenderJob(spec=plan.spec, production=production, tier=plan.tier, first=plan.first,
                     end=plan.end, fps=24, width=tier.width, height=tier.height,
                     out_path=folder / "out.mp4", label=plan.ref.label, shown=plan.shown)


def _render_proxies(root: Path, specs: list[dict[str, Any]], frames: int = 12) -> None:
    production, cache, plans = _plans(root, specs, "proxy", frames)
    for plan in plans:
        link_plan(plan, production, cache, render=True)
        assert plan.result is not None, plan.error


def _spy_segments(monkeypatch) -> tuple[list[Any], list[np.ndarray], list[np.ndarray]]:
    """Record the next final render's segment inputs, segment outputs and joined frames."""
    seen: list[Any] = []
    outputs: list[np.ndarray] = []
    joined: list[np.ndarray] = []
    real_segment, real_join = shot_module.render_segment, shot_module.join_segments

    def segment(model, plan, inputs, embeds):
        seen.append(inputs)
        outputs.append(real_segment(model, plan, inputs, embeds))
        return outputs[-1]

    def join(segments, overlaps, *args, **kwargs):
        joined.append(real_join(segments, overlaps, *args, **kwargs))
        return joined[-1]

    monkeypatch.setattr(shot_module, "render_segment", segment)
    monkeypatch.setattr(shot_module, "join_segments", join)
    return seen, outputs, joined


def _join_steps(frames: np.ndarray, segments: list[tuple[int, int]]
                ) -> tuple[np.ndarray, list[int], list[float]]:
    """Mean frame-to-frame steps (/255), the steps at the segment joins (from the one before
    the shared frames to the one after) and the steps inside segments."""
    diffs = np.abs(np.diff(frames.astype(np.float64), axis=0)).mean(axis=(1, 2, 3)) * 255
    at_joins: set[int] = set()
    for (_start, before_end), (start, _end) in itertools.pairwise(segments):
        at_joins |= set(range(start - 1, min(before_end + 1, len(diffs))))
    inside = [d for i, d in enumerate(diffs) if i not in at_joins]
    return diffs, sorted(at_joins), inside


def test_long_take_segments_continue_from_the_one_before(tiny_production, models, tmp_path,
                                                         monkeypatch) -> None:
    root = _production(tiny_production, models)
    spec = spec_dict("long", dialog=[], render={"final": {"mode": "vace_inpaint"}})
    production, _cache, plans = _plans(root, [spec], frames=24)
    job = _job(plans[0], production, tmp_path)
    seen, outputs, joined = _spy_segments(monkeypatch)
    result = shot_module.render_frames(job, plan_final(job.spec, production),
                                       ModelRegistry(production), max_frames=13,
                                       retime_method="blend")
    segments = result.details["segments"]
    assert len(segments) == 3 and result.details["continuation"] == "vace_extend"
    for index in range(1, len(segments)):  # VACE frame extension: the previous tail, kept
        overlap = segments[index - 1][1] - segments[index][0]
        tail = to_uint8(outputs[index - 1][-overlap:])
        inputs = seen[index]
        assert all(np.array_equal(c, t) for c, t in zip(inputs.control[:overlap], tail,
                                                         strict=True))
        assert all(not m.any() for m in inputs.mask[:overlap])  # black: keep these frames
        assert any(m.any() for m in inputs.mask[overlap:])
    diffs, at_joins, inside = _join_steps(joined[0], segments)
    assert len(inside) >= 6
    print(f"joins {at_joins}: mean {np.mean(diffs[at_joins]):.2f}, max "
          f"{diffs[at_joins].max():.2f}; inside: mean {np.mean(inside):.2f}, max "
          f"{max(inside):.2f} (/255)")
    # cutting from each segment's last frame straight to the next one's first new frame
    hard = [np.abs(outputs[i][end - start] - outputs[i - 1][-1]).mean() * 255
            for i, ((_s, end), (start, _e)) in enumerate(itertools.pairwise(segments), 1)]
    print(f"hard cuts instead: {np.round(hard, 2)}")
    assert diffs[at_joins].max() <= 1.25 * np.median(inside)
    assert np.mean(diffs[at_joins]) <= np.mean(inside)


def test_the_same_shot_gives_the_same_pixels_in_any_batch_order(tiny_production, models,
                                                                tmp_path) -> None:
    root = _production(tiny_production, models, dtype="bfloat16")
    t2v = spec_dict("t-1", dialog=[], render={"final": {"model": "tiny-t2v"}})
    v2v = spec_dict("r-1", dialog=[], render={"final": {"model": "tiny-t2v",
                                                        "mode": "v2v_refine"}})
    _render_proxies(root, [v2v])
    production, _cache, plans = _plans(root, [t2v, v2v])
    jobs = [_job(p, production, tmp_path) for p in plans]
    finals = [plan_final(j.spec, production) for j in jobs]

    def render(order: list[int]) -> dict[int, np.ndarray]:
        registry = ModelRegistry(production)
        return {i: shot_module.render_frames(jobs[i], finals[i], registry,
                                             retime_method="blend").frames for i in order}

    v2v_then_t2v, t2v_then_v2v = render([1, 0]), render([0, 1])
    assert registry_dtype(production) == torch.bfloat16
    diff = np.abs(v2v_then_t2v[0].astype(int) - t2v_then_v2v[0].astype(int)).mean()
    assert np.array_equal(v2v_then_t2v[0], t2v_then_v2v[0]), diff
    assert np.array_equal(v2v_then_t2v[1], t2v_then_v2v[1])


def registry_dtype(production: Production) -> Any:
    """The transformer's dtype after a v2v render on a fresh registry (from_pipe cast it)."""
    registry = ModelRegistry(production)
    model = registry.get("tiny-t2v")
    from render_engine.final.modes import _v2v_pipe

    _v2v_pipe(model)
    return model.pipe.transformer.dtype


def test_a_draft_after_the_full_final_does_not_replace_it(tiny_production, models, capsys
                                                          ) -> None:
    from render_engine.cli import main
    from render_engine.cli.status import shot_states

    root = _production(tiny_production, models)
    edit = root / "timelines" / "edit.otio"
    spec = spec_dict("d-1", dialog=[], render={"final": {"model": "tiny-t2v"}})
    write_timeline(make_timeline([make_clip(spec, "D 1", 12)]), edit)
    args = ["-q", "render", str(edit), "--tier", "final", "--production", str(root)]
    assert main(args) == 0
    full = next(iter(read_timeline(edit).find_clips())).media_references()["final"]
    assert main([*args, "--quality", "draft"]) == 0
    clip = next(iter(read_timeline(edit).find_clips()))
    meta = clip.media_references()["final"].metadata["soloreel"]
    assert meta["hash"] == full.metadata["soloreel"]["hash"] and "quality" not in meta
    assert clip.media_references()["final"].target_url == full.target_url
    assert [row["final"] for row in shot_states(edit, load_production(root))] == ["fresh"]
    # both are in the cache: the draft was rendered, it just does not win
    qualities = sorted(e.manifest["quality"] for e in RenderCache(root / "renders").all_entries()
                       if e.tier == "final")
    assert qualities == ["draft", "full"]


def test_a_size_not_divisible_by_16_is_cropped_not_stretched(tiny_production, models,
                                                             tmp_path, monkeypatch) -> None:
    from render_engine.tiers import final as final_tier

    root = _production(tiny_production, models, width=40, height=24)
    spec = spec_dict("c-1", dialog=[], render={"final": {"model": "tiny-t2v"}})
    production, _cache, plans = _plans(root, [spec])
    job = _job(plans[0], production, tmp_path)
    plan = plan_final(job.spec, production)
    assert (plan.width, plan.height) == (48, 32)  # rounded up: the tier's frame fits inside
    rendered: list[np.ndarray] = []
    written: list[np.ndarray] = []
    real_render = final_tier.render_frames

    def spy_render(*args, **kwargs):
        result = real_render(*args, **kwargs)
        rendered.append(result.frames.copy())
        return result

    monkeypatch.setattr(final_tier, "render_frames", spy_render)
    monkeypatch.setattr(final_tier, "write_shot_movie",
                        lambda job, frames, tier, audio: written.append(frames) or len(frames))
    final_tier.render(job)
    assert written[0].shape == (job.frame_count, 24, 40, 3)
    assert np.array_equal(written[0], rendered[0][:, 4:28, 4:44])  # the centre, unscaled


def test_the_dry_run_counts_the_steps_v2v_runs(tiny_production, models, monkeypatch) -> None:
    from diffusers import WanTransformer3DModel

    from render_engine.final.cost import shot_estimate

    root = _production(tiny_production, models)
    spec = spec_dict("r-1", dialog=[], render={"final": {"model": "tiny-t2v", "steps": 7,
                                                         "mode": "v2v_refine",
                                                         "strength": 0.6}})
    _render_proxies(root, [spec])
    production, cache, plans = _plans(root, [spec])
    estimate = shot_estimate(plans[0], production, [], gpu="rtx4090")
    calls = []
    real_forward = WanTransformer3DModel.forward

    def forward(self, *args, **kwargs):
        calls.append(1)
        return real_forward(self, *args, **kwargs)

    monkeypatch.setattr(WanTransformer3DModel, "forward", forward)
    link_plan(plans[0], production, cache, render=True)
    manifest = plans[0].result.manifest
    assert estimate.steps == manifest["steps"] == 4  # int(7 × 0.6), as diffusers runs it
    assert manifest["schedule_steps"] == 7
    assert len(calls) == 2 * 4 == estimate.forwards == manifest["cost"]["forwards"]


def test_vace_gets_the_conditioning_scale_of_its_model(tiny_production, models, tmp_path,
                                                       monkeypatch) -> None:
    from diffusers import WanVACEPipeline

    root = _production(tiny_production, models, conditioning_scale=0.6)
    production, _cache, plans = _plans(root, [spec_dict("v-1", dialog=[])])
    scales: list[Any] = []
    real_call = WanVACEPipeline.__call__

    def call(self, *args, **kwargs):
        scales.append(kwargs.get("conditioning_scale"))
        return real_call(self, *args, **kwargs)

    monkeypatch.setattr(WanVACEPipeline, "__call__", call)
    job = _job(plans[0], production, tmp_path)
    shot_module.render_frames(job, plan_final(job.spec, production), ModelRegistry(production),
                              retime_method="blend")
    assert scales == [0.6]  # one layer (jane), at the model's scale
