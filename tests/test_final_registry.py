"""Model registry resolution and final-tier planning (no torch: nothing is loaded here)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomli_w

from render_engine.bible import load_production
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
    with pytest.raises(SoloreelError, match="mode i2v needs a model of kind i2v"):
        plan_final(wrong, production)
