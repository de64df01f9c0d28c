"""GPU-minute estimates: published anchors, scaling, recorded runs, the dry-run table."""

from __future__ import annotations

import pytest

from render_engine.bible import ModelEntry
from render_engine.cli import main
from render_engine.final.cost import REFERENCE_TOKENS, estimate, recorded_runs, token_factor
from render_engine.final.plan import FinalPlan


def _plan(source: str, steps: int = 50, width: int = 832, height: int = 480,
          profile: str = "80gb", mode: str = "t2v", kind: str = "t2v") -> FinalPlan:
    entry = ModelEntry(source=source, kind=kind, memory_profile=profile)
    return FinalPlan(model="m", entry=entry, mode=mode, steps=steps, guidance=5.0,
                     strength=0.5, seed=1, width=width, height=height)


def test_published_anchors_reproduce_their_figures() -> None:
    big = estimate(_plan("Wan-AI/Wan2.1-T2V-14B-Diffusers"), 121, 24, gpu="h100")
    assert big.wan_frames == 81 and big.forwards == 100
    assert 6.0 <= big.minutes <= 8.5  # "≈6–8 min per 50-step clip with CFG"
    small = estimate(_plan("Wan-AI/Wan2.1-T2V-1.3B-Diffusers"), 121, 24, gpu="rtx4090")
    assert 3.5 <= small.minutes <= 4.6  # "≈4 min for 5 s at 480p on an RTX 4090"
    assert any("README" in s for s in small.sources)


def test_cost_scales_with_steps_pixels_and_gpu() -> None:
    base = estimate(_plan("x/Wan2.1-T2V-14B"), 121, 24, gpu="h100")
    half_steps = estimate(_plan("x/Wan2.1-T2V-14B", steps=25), 121, 24, gpu="h100")
    assert half_steps.seconds == pytest.approx(base.seconds / 2, rel=0.1)
    big = estimate(_plan("x/Wan2.1-T2V-14B", width=1280, height=720), 121, 24, gpu="h100")
    assert big.seconds > 2.25 * base.seconds * 0.9  # more than linear in pixels
    assert token_factor(2 * REFERENCE_TOKENS, 0.5) == pytest.approx(3.0)
    slow = estimate(_plan("x/Wan2.1-T2V-14B"), 121, 24, gpu="rtx4090")
    assert slow.seconds > 4 * base.seconds and any("TFLOP" in s for s in slow.sources)
    offload = estimate(_plan("x/Wan2.1-T2V-14B", profile="12gb"), 121, 24, gpu="h100")
    assert offload.seconds > base.seconds


def test_recorded_runs_replace_the_published_figure() -> None:
    manifest = {"cost": {"model_class": "14b", "alpha": 0.51, "gpu": "h100",
                         "tokens": REFERENCE_TOKENS, "forwards": 100, "denoise_seconds": 300.0,
                         "mode": "t2v"}}
    assert recorded_runs([manifest], "14b", "h100") == [pytest.approx(3.0)]
    cost = estimate(_plan("x/Wan2.1-T2V-14B"), 121, 24, manifests=[manifest], gpu="h100")
    assert "recorded" in cost.sources[0]
    assert cost.minutes < estimate(_plan("x/Wan2.1-T2V-14B"), 121, 24, gpu="h100").minutes


def test_dry_run_prints_gpu_minutes_and_sources(demo_copy, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SOLOREEL_GPU", "rtx4090")
    monkeypatch.setenv("COLUMNS", "200")
    edit = demo_copy / "timelines" / "campfire.otio"
    code = main(["render", str(edit), "--tier", "final", "--dry-run",
                 "--production", str(demo_copy)])
    out = capsys.readouterr().out
    assert code == 0
    assert "GPU min" in out and "total GPU time to render" in out
    assert "832x480" in out and "README" in out
    total = float(out.split("total GPU time to render:")[1].split("min")[0])
    # the demo's finals follow its proxy (VACE, one pass per character layer): a few hours
    # of a 4090 for the whole scene, not minutes, not days
    assert "vace_layers" in out and "t2v" not in out
    assert 5 < total < 400


def _vace(characters: tuple[str, ...], steps: int = 30, guidance: float = 5.0,
          quality: str = "full") -> FinalPlan:
    entry = ModelEntry(source="x/Wan2.1-VACE-14B", kind="vace", memory_profile="80gb")
    return FinalPlan(model="m", entry=entry, mode="vace_layers", steps=steps, guidance=guidance,
                     strength=0.5, seed=1, width=832, height=480, characters=characters,
                     quality=quality)


def test_vace_layers_cost_one_pass_per_layer() -> None:
    one = estimate(_vace(("jane",)), 121, 24, gpu="h100")
    two = estimate(_vace(("jane", "john")), 121, 24, gpu="h100")
    assert (one.layers, two.layers) == (1, 2)
    assert two.forwards == 2 * one.forwards == 2 * 30 * 2
    assert two.seconds == pytest.approx(2 * one.seconds)
    three = estimate(_vace(("jane", "john")), 121, 24, gpu="h100", layers=[0, 1, 2])
    assert three.layers == 3 and three.forwards == 3 * one.forwards
    nobody = estimate(_vace(()), 121, 24, gpu="h100")
    assert nobody.layers == 0 and nobody.seconds == 0  # the plate alone, no VACE pass
    assert any("one VACE pass per layer" in s for s in two.sources)


def test_a_draft_costs_its_steps_without_cfg_doubling() -> None:
    full = estimate(_vace(("jane",)), 121, 24, gpu="h100")
    draft = estimate(_vace(("jane",), steps=4, guidance=1.0, quality="draft"), 121, 24,
                     gpu="h100")
    assert (draft.steps, draft.forwards, draft.quality) == (4, 4, "draft")
    assert full.forwards / draft.forwards == 15
    assert 8 < full.seconds / draft.seconds < 15  # text encoding + VAE decode are not cut
    assert any("guidance 1" in s for s in draft.sources)


def _dry_run_production(root, draft_lora: bool) -> None:
    import tomllib

    import tomli_w

    settings = tomllib.loads((root / "soloreel.toml").read_text())
    settings["tiers"]["final"] = {"width": 832, "height": 480, "steps": 30, "model": "vace"}
    entry = {"source": "x/Wan2.1-VACE-14B", "kind": "vace", "memory_profile": "80gb"}
    if draft_lora:
        (root / "models").mkdir(exist_ok=True)
        (root / "models" / "distill.safetensors").write_bytes(b"distilled")
        entry["draft_lora"] = "models/distill.safetensors"
    settings["models"] = {"vace": entry}
    (root / "soloreel.toml").write_text(tomli_w.dumps(settings))


def _dry_run(root, capsys, *extra: str) -> tuple[int, list[list[str]], str]:
    from render_engine.timeline_io import write_timeline
    from tests.conftest import make_clip, make_timeline, spec_dict

    apart = spec_dict("two-apart", dialog=[], shot={"id": "two-apart", "size": "WS"},
                      characters=[{"name": "jane", "position": [-1.6, 5.0]},
                                  {"name": "john", "position": [1.6, 5.0]}])
    close = spec_dict("two-close", dialog=[], shot={"id": "two-close", "size": "WS"},
                      characters=[{"name": "jane", "position": [-0.1, 5.0]},
                                  {"name": "john", "position": [0.1, 5.0]}])
    solo = spec_dict("solo", dialog=[])
    edit = root / "timelines" / "edit.otio"
    write_timeline(make_timeline([make_clip(s, s["shot"]["id"], 48)
                                  for s in (apart, close, solo)]), edit)
    code = main(["render", str(edit), "--tier", "final", "--dry-run", "--production",
                 str(root), *extra])
    out = capsys.readouterr().out
    rows = [[c.strip() for c in line.replace("┃", "│").split("│")[1:-1]]
            for line in out.splitlines() if line.replace("┃", "│").count("│") > 8]
    return code, rows, out


def test_dry_run_shows_layers_and_the_draft_cost(tiny_production, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SOLOREEL_GPU", "h100")
    monkeypatch.setenv("COLUMNS", "250")
    _dry_run_production(tiny_production, draft_lora=True)
    code, rows, out = _dry_run(tiny_production, capsys)
    assert code == 0
    header, *shots = rows
    assert header[:10] == ["#", "shot", "frames", "frames+handles", "wan", "steps", "cfg",
                           "layers", "size", "mode"]
    by_id = {r[1]: r for r in shots}
    assert by_id["two-apart"][2:4] == ["48", "56"]  # the cut, and with 4 handles each side
    assert by_id["two-apart"][7] == "2" and by_id["two-close"][7] == "1"  # touching: 1 layer
    assert by_id["solo"][7] == "1"
    assert by_id["two-apart"][5:7] == ["30", "5"]
    apart, solo = float(by_id["two-apart"][-1]), float(by_id["solo"][-1])
    assert apart == pytest.approx(2 * solo, rel=0.1)
    full_total = float(out.split("total GPU time to render:")[1].split("min")[0])

    code, rows, out = _dry_run(tiny_production, capsys, "--quality", "draft")
    assert code == 0 and "final draft render plan" in out
    by_id = {r[1]: r for r in rows[1:]}
    assert by_id["two-apart"][5:8] == ["4", "1", "2"]  # draft steps, no CFG, still 2 layers
    draft_total = float(out.split("total GPU time to render:")[1].split("min")[0])
    assert 8 < full_total / draft_total < 15


def test_dry_run_draft_without_a_lora_names_the_key(tiny_production, capsys,
                                                   monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    _dry_run_production(tiny_production, draft_lora=False)
    code, rows, _out = _dry_run(tiny_production, capsys, "--quality", "draft")
    assert code == 0 and len(rows) == 4  # errors are rows of the plan, not a failure
    assert all("models.vace.draft_lora" in row[10] for row in rows[1:])
    assert main(["render", str(tiny_production / "timelines" / "edit.otio"), "--tier",
                 "proxy", "--quality", "draft", "--production", str(tiny_production)]) == 1
    assert "--quality draft is a final-tier option" in capsys.readouterr().err
