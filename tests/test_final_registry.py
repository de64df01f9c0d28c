"""Model registry resolution and final-tier planning (no torch: nothing is loaded here)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomli_w

from render_engine.bible import ModelEntry, load_production
from render_engine.errors import SoloreelError
from render_engine.final.plan import plan_final
from render_engine.final.registry import ModelError, resolve_source
from render_engine.spec import ShotSpec
from tests.conftest import spec_dict


def _models(root: Path, models: dict, final_model: str | None = None) -> None:
    settings = tomllib.loads((root / "soloreel.toml").read_text())
    settings["models"] = models
    if final_model:
        settings["tiers"]["final"]["model"] = final_model
    (root / "soloreel.toml").write_text(tomli_w.dumps(settings))


def _pipeline_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text('{"_class_name": "WanPipeline"}')
    return folder


def test_local_folders_resolve_relative_or_absolute(tiny_production: Path, tmp_path) -> None:
    _pipeline_folder(tiny_production / "models" / "wan")
    outside = _pipeline_folder(tmp_path / "elsewhere" / "vace")
    _models(tiny_production, {"rel": {"source": "models/wan"},
                              "abs": {"source": str(outside), "kind": "vace"}})
    production = load_production(tiny_production)
    assert resolve_source(production, "rel").folder == tiny_production / "models" / "wan"
    assert resolve_source(production, "abs").folder == outside


def test_missing_or_wrong_folders_say_what_to_do(tiny_production: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tiny_production / "models" / "empty").mkdir(parents=True)
    _models(tiny_production, {"gone": {"source": "./models/gone"},
                              "empty": {"source": "models/empty"},
                              "hub": {"source": "Nobody/NotCached-Wan"}})
    production = load_production(tiny_production)
    with pytest.raises(ModelError, match=r'model "gone": folder .*models/gone does not exist'):
        resolve_source(production, "gone")
    with pytest.raises(ModelError, match="not a diffusers pipeline folder"):
        resolve_source(production, "empty")
    with pytest.raises(ModelError, match='"Nobody/NotCached-Wan" is not in the HF cache'):
        resolve_source(production, "hub")
    with pytest.raises(ModelError, match="known: empty, gone, hub"):
        resolve_source(production, "other")


def test_hub_ids_are_left_to_the_hf_cache_when_online(tiny_production, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    _models(tiny_production, {"hub": {"source": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
                                      "revision": "main"}})
    source = resolve_source(load_production(tiny_production), "hub")
    assert source.folder is None and source.location.endswith("@main")


def test_plan_defaults_and_mode_checks(tiny_production: Path) -> None:
    _models(tiny_production, {"t2v": {"source": "a/b"}, "vace": {"source": "c/d", "kind": "vace"}},
            final_model="vace")
    production = load_production(tiny_production)
    plan = plan_final(ShotSpec.model_validate(spec_dict()), production)
    assert (plan.model, plan.mode, plan.steps, plan.guidance) == ("vace", "vace_layers", 2, 5.0)
    assert (plan.width, plan.height) == (64, 48) and plan.triggers == ("JaneTrigger",)
    refine = ShotSpec.model_validate(spec_dict(render={"final": {"mode": "v2v_refine",
                                                                  "model": "t2v"}}))
    assert plan_final(refine, production).strength == 0.5
    wrong = ShotSpec.model_validate(spec_dict(render={"final": {"mode": "i2v"}}))
    with pytest.raises(SoloreelError, match="i2v needs a model of kind i2v"):
        plan_final(wrong, production)


# --------------------------------------------------------------------------- speed options


def _final_hash(root: Path, spec: ShotSpec | None = None, quality: str = "full",
                tier: str = "final") -> str:
    from render_engine.final.quality import with_quality
    from render_engine.hashing import shot_hash

    production = with_quality(load_production(root), quality)
    assert not production.problems, production.problems
    return shot_hash(spec or ShotSpec.model_validate(spec_dict()), production, tier)


def test_speed_options_come_from_soloreel_toml(tiny_production: Path) -> None:
    from render_engine.final.registry import LoadOptions

    _models(tiny_production, {"wan": {"source": "a/b", "attention_backend": "Flash",
                                      "first_block_cache": 0.08, "compile_blocks": True}},
            final_model="wan")
    production = load_production(tiny_production)
    assert not production.problems
    entry = production.settings.models["wan"]
    assert LoadOptions.of(entry) == LoadOptions("flash", 0.08, True)
    assert LoadOptions.of(ModelEntry(source="a/b")) == LoadOptions(None, None, False)


def test_hub_attention_backends_are_refused_when_the_settings_are_read(
        tiny_production: Path, monkeypatch) -> None:
    _models(tiny_production, {"wan": {"source": "a/b", "attention_backend": "flash_hub"}})
    problems = load_production(tiny_production).problems
    assert len(problems) == 1
    line = problems[0].line()
    assert line.startswith("soloreel.toml models.wan.attention_backend:")
    assert "downloads its attention kernels from the Hub" in line and "native" in line
    _models(tiny_production, {"wan": {"source": "a/b", "first_block_cache": 1.5}})
    assert load_production(tiny_production).problems[0].field == "models.wan.first_block_cache"
    # the environment override is checked the same way, naming the variable
    _models(tiny_production, {"wan": {"source": "a/b"}})
    monkeypatch.setenv("SOLOREEL_ATTENTION_BACKEND", "sage_hub")
    problems = load_production(tiny_production).problems
    assert [(p.where, p.field) for p in problems] == [("environment",
                                                       "SOLOREEL_ATTENTION_BACKEND")]
    assert "Hub" in problems[0].message and "unset SOLOREEL_ATTENTION_BACKEND" in problems[0].fix


def test_environment_overrides_the_toml_and_the_cache_key(tiny_production, monkeypatch) -> None:
    _models(tiny_production, {"wan": {"source": "a/b", "attention_backend": "native",
                                      "first_block_cache": 0.1}}, final_model="wan")
    before = _final_hash(tiny_production)
    monkeypatch.setenv("SOLOREEL_ATTENTION_BACKEND", "sage")
    monkeypatch.setenv("SOLOREEL_FIRST_BLOCK_CACHE", "0")
    monkeypatch.setenv("SOLOREEL_COMPILE", "1")
    entry = load_production(tiny_production).settings.models["wan"]
    assert (entry.attention_backend, entry.first_block_cache, entry.compile_blocks) == (
        "sage", None, True)
    assert _final_hash(tiny_production) != before  # what renders is what is keyed
    monkeypatch.setenv("SOLOREEL_ATTENTION_BACKEND", "")  # empty: no override
    assert load_production(tiny_production).settings.models["wan"].attention_backend == "native"


def test_only_pixel_changing_options_enter_the_full_final_key(tiny_production: Path) -> None:
    _models(tiny_production, {"wan": {"source": "a/b"}}, final_model="wan")
    base = _final_hash(tiny_production)
    proxy = _final_hash(tiny_production, tier="proxy")
    _models(tiny_production, {"wan": {"source": "a/b", "compile_blocks": True,
                                      "draft_lora": "models/distill.safetensors",
                                      "draft_steps": 6}}, final_model="wan")
    assert _final_hash(tiny_production) == base  # same maths; draft-only settings
    _models(tiny_production, {"wan": {"source": "a/b", "first_block_cache": 0.05}},
            final_model="wan")
    assert _final_hash(tiny_production) != base
    _models(tiny_production, {"wan": {"source": "a/b", "attention_backend": "sage"}},
            final_model="wan")
    assert _final_hash(tiny_production) != base
    assert _final_hash(tiny_production, tier="proxy") == proxy


# --------------------------------------------------------------------------- drafts


def _draft_models(root: Path, lora: bytes | None = b"distilled weights", steps: int = 4) -> Path:
    path = root / "models" / "distill.safetensors"
    entry: dict = {"source": "a/b", "kind": "vace", "draft_steps": steps}
    if lora is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(lora)
        entry["draft_lora"] = "models/distill.safetensors"
    _models(root, {"wan": entry}, final_model="wan")
    return path


def test_draft_plans_few_steps_guidance_1_and_the_distilled_lora(tiny_production) -> None:
    from render_engine.final.quality import DRAFT_ADAPTER, with_quality

    path = _draft_models(tiny_production, steps=6)
    production = load_production(tiny_production)
    spec = ShotSpec.model_validate(spec_dict(render={"final": {"steps": 40, "guidance": 6}}))
    full = plan_final(spec, production)
    assert (full.quality, full.steps, full.guidance, full.draft_lora) == ("full", 40, 6.0, None)
    draft = plan_final(spec, with_quality(production, "draft"))
    assert (draft.quality, draft.steps, draft.guidance) == ("draft", 6, 1.0)
    assert draft.draft_lora is not None and draft.draft_lora.path == str(path)
    assert [u.name for u in draft.adapters] == [DRAFT_ADAPTER]
    # same size, seed and mode: a draft starts from the final's noise
    assert (draft.width, draft.height, draft.seed, draft.mode) == (
        full.width, full.height, full.seed, full.mode)
    assert draft.characters == ("jane",)


def test_draft_keys_differ_from_finals_and_follow_the_lora_bytes(tiny_production) -> None:
    path = _draft_models(tiny_production)
    full, draft = _final_hash(tiny_production), _final_hash(tiny_production, quality="draft")
    assert draft != full
    for tier in ("placeholder", "proxy"):  # a draft view changes nothing else
        assert _final_hash(tiny_production, quality="draft", tier=tier) == _final_hash(
            tiny_production, tier=tier)
    path.write_bytes(b"another distillation")
    assert _final_hash(tiny_production) == full
    redrawn = _final_hash(tiny_production, quality="draft")
    assert redrawn != draft
    _draft_models(tiny_production, lora=b"another distillation", steps=8)
    assert _final_hash(tiny_production, quality="draft") != redrawn
    assert _final_hash(tiny_production) == full
    _draft_models(tiny_production, lora=None)  # no LoRA: still never a full final's key
    assert _final_hash(tiny_production, quality="draft") != full


def test_a_draft_without_a_distilled_lora_names_the_model_and_the_key(tiny_production) -> None:
    from render_engine.final.quality import with_quality

    path = _draft_models(tiny_production, lora=None)
    spec = ShotSpec.model_validate(spec_dict())
    drafts = with_quality(load_production(tiny_production), "draft")
    with pytest.raises(SoloreelError, match=r'model "wan": set models\.wan\.draft_lora = '):
        plan_final(spec, drafts)
    _draft_models(tiny_production)
    path.unlink()
    drafts = with_quality(load_production(tiny_production), "draft")
    with pytest.raises(SoloreelError, match=r"distill\.safetensors\) does not exist; .*"
                                            r"models\.wan\.draft_lora"):
        plan_final(spec, drafts)


def test_draft_settings_are_checked(tiny_production: Path) -> None:
    _models(tiny_production, {"wan": {"source": "a/b", "draft_lora": "models/x.ckpt",
                                      "draft_steps": 12}})
    fields = {p.field for p in load_production(tiny_production).problems}
    assert fields == {"models.wan.draft_lora", "models.wan.draft_steps"}


def test_hub_models_without_a_revision_are_warned_about(tiny_production: Path) -> None:
    from render_engine.final.registry import model_warnings
    from render_engine.validate import validate_report
    from tests.conftest import make_clip, make_timeline

    _pipeline_folder(tiny_production / "models" / "wan")
    _models(tiny_production, {"pinned": {"source": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
                                         "revision": "0fad780"},
                              "local": {"source": "models/wan"},
                              "drifting": {"source": "Wan-AI/Wan2.1-VACE-14B-diffusers",
                                           "kind": "vace", "memory_profile": "auto"}})
    production = load_production(tiny_production)
    assert not production.problems  # "auto" is a valid memory profile
    warnings = model_warnings(production)
    assert len(warnings) == 1
    assert warnings[0].startswith("soloreel.toml models.drifting.revision: hub model "
                                  '"Wan-AI/Wan2.1-VACE-14B-diffusers" has no pinned revision')
    assert 'set models.drifting.revision = "<commit sha>"' in warnings[0]
    report = validate_report(make_timeline([make_clip(spec_dict(), "A", 24)]), production)
    assert warnings[0] in report.warnings
